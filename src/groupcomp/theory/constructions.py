r"""Exact constructions: two-layer, recurrent and tree networks that solve the task *exactly*.

Everything here is an explicit existence construction (P1 = Marchetti et al., "Sequential Group
Composition", arXiv 2602.03655, §5-type width/depth results; the formulas are derived in
docs/theory.md §3.2 and in this docstring). Weights are float64 and the returned models are the
library's own classes with ``num_models = 1``, so they can be evaluated, saved and trained
further like any other model.

Conventions (docs/architecture.md): ``x_g(h) = x(g·h)`` (``encoding = x[G.table]``), target
``x_{g_1⋯g_k}``, real Fourier coefficients ``x̂[π] = Σ_g x(g) π(g)^T`` over the real orthogonal
irreps π of ``G`` (real dimension ``D``, commutant dimension ``e ∈ {1, 2, 4}`` for types R, C, H),
inverse ``x(g) = Σ_π (D/(e n)) tr(π(g) x̂[π])`` and ``x̂_g[π] = x̂[π] π(g)``.

Step 1 — linear per-slot features (docs/theory.md §2.1). If ``x̂[π]`` is invertible, the matrix
``π(g) = x̂[π]^{-1} x̂_g[π]`` is a *linear* function of the input ``x_g``:
``π(g)_{ab} = ⟨F_{ab}, x_g⟩`` with ``F_{ab}(h) = (x̂[π]^{-1} π(h)^T)_{ab}``. (This is why P1's
assumption 2 — every ``x̂[π]`` invertible or zero — matters; a singular non-zero ``x̂[π]`` raises
:class:`~groupcomp.errors.ConfigError`.)

Step 2 — rank-one multilinear decomposition of the target. The π-part of the target is
``T_π(h) = (D/(e n)) tr(π(g_1)⋯π(g_k) π(h) x̂[π])``, a (k+1)-linear form (k input slots, one
output slot). We write it as ``Σ_t Π_j ⟨u_{t,j}, x_{g_j}⟩ · w_t`` ("rank-one terms"):

* **Type R** (real dim ``D``): index paths ``(b_0, …, b_k) ∈ [D]^{k+1}``,
  ``T_π = Σ_paths Π_{j=1}^k π(g_j)_{b_{j−1} b_j} · (D/(e n)) (π(h) x̂)_{b_k b_0}``:
  ``R_π = D^{k+1}`` terms (docs/theory.md §3.2). The trivial irrep (non-zero mean) is the case
  ``D = 1`` with the constant feature ``1/Σx``; it is handled like any other R-type irrep.
* **Types C and H** (real dim ``D = 2d``): the commutant of π contains an orthogonal ``J`` with
  ``J² = −I``; in an orthonormal basis ``(v_1, …, v_d, Jv_1, …, Jv_d)`` π is the realification of a
  complex unitary irrep ``ρ`` of degree ``d`` (``ρ`` or ``ρ̄`` for type C, ``ρ`` for type H), and
  ``(D/(e n)) tr(π(g) x̂[π]) = (2D/(e n)) Re tr(ρ(g) X)`` with ``X = Σ_g x(g) ρ(g)^†``
  (``tr R(Z) = 2 Re tr Z``). The complex features ``ρ(g)_{ab} = ⟨(X^{-1} ρ(·)^†)_{ab}, x_g⟩`` give
  complex index paths ``[d]^{k+1}``, each contributing ``Re(z_0 z_1 ⋯ z_k)`` with ``z_j`` the
  complex feature of slot ``j`` and ``z_0(h) = (2D/(e n)) (ρ(h) X)_{b_k b_0}``. Its real rank is at
  most ``N = k + 1`` by the identity [DERIVED+NUM, checked in the tests]

      Re(z_0 z_1 ⋯ z_{N−1}) = (2^{N−1}/N) Σ_{t=0}^{N−1} (−1)^t Π_j Re(e^{−iβ_t} z_j),  β_t = πt/N

  (write ``z_j = r_j e^{iθ_j}``; expanding each product of cosines, the all-plus term is
  ``(−1)^t cos(Σθ_j)`` and every mixed-sign term carries ``e^{2πi m t/N}``, ``1 ≤ m ≤ N−1``, which
  sums to zero over ``t``). So ``R_π = (k+1) d^{k+1}`` terms. For ``C_p`` (``d = 1``) and ``k = 2``
  this is 3 terms = 6 neurons per frequency pair, CoGS's ``z_F6`` (docs/theory.md §5.3); the
  earlier cos/sin expansion (docs/theory.md §3.2) used ``2^k`` terms per pair instead of ``k + 1``.

Step 3 — polarisation (docs/theory.md §3.2). With ``σ(z) = z^k``,
``k! Π_j z_j = 2^{−(k−1)} Σ_{ε ∈ {±1}^k, ε_1 = +1} (Π_j ε_j) (Σ_j ε_j z_j)^k`` exactly, so each
rank-one term costs ``2^{k−1}`` neurons (input weights ``ε_j u_{t,j}``, output
``(Π ε) w_t / (2^{k−1} k!)``) and every interference monomial ``f^{(+)}`` cancels. Hence

    two_layer_width(G, x, k) = 2^{k−1} · Σ_{π: x̂[π] ≠ 0} R_π(k),
    R_π(k) = D^{k+1} (type R),   (k+1)·(D/2)^{k+1} (types C and H).

Examples (generic templates, all non-trivial ``x̂[π]`` invertible, mean zero): D3 ``18, 68, 264``
for ``k = 2, 3, 4`` (docs/theory.md §3.2); ``C_p`` ``(p−1)/2 · 2^{k−1}(k+1)`` for odd ``p`` (C5:
``12, 32, 80``); Q8 ``2^{k−1}(3 + (k+1) 2^{k+1})`` (``54, 268``). Because a term's input weights
are scaled by ``ε_j`` and the network computes the multilinear form exactly (for *all* inputs, not
only translates), the block is a bilinear map ``(u, v) ↦ y`` with ``ŷ[π] = û[π] x̂[π]^{-1} v̂[π]``.

Binary block, RNN and tree (docs/theory.md §3.2). The ``k = 2`` network ``(A, B, C)`` with
``σ = z²`` (``A = W_in[:, :, 0]``, ``B = W_in[:, :, 1]``, ``C = W_out``, all ``(H_2, n)``) satisfies
``x_{gh} = C^T σ(A x_g + B x_h)``. By associativity

* :func:`rnn_exact`: ``QuadraticRNN`` with ``W_in = A``, ``W_drive = B``, ``W_out = C`` and
  ``W_mix = A C^T`` (``(H_2, H_2)``, acting as ``h ↦ W_mix h``) gives
  ``W_out^T h_t = x_{g_1⋯g_{t+1}}`` after every step: width ``H_2`` for every k, ``k − 1``
  nonlinear steps;
* :func:`tree_exact`: ``TreeNet`` with the block ``(A, B, C)`` shared across the
  ``⌈log₂ k⌉`` levels (padding with ``x_e = x``, and ``b(y, x_e) = y``).

Because ``ŷ[π] = û x̂^{-1} v̂`` maps a perturbation ``δ`` of the running product to
``δ̂[π] π(g)`` (norm preserving), rounding errors only add up over the ``k − 1`` steps.

Conditioning. The feature weights contain ``x̂[π]^{-1}``, so rounding errors of the two-layer net
grow with ``cond(x̂[π])`` (reported as :attr:`IrrepTerms.condition`); e.g. D3, k = 3 with
``x̂[rot1] = diag(1, c)``: mean-MSE ≈ 1e-20 at ``c = 1e-4``, 1e-12 at ``1e-6``, 1e-8 at ``1e-7``
(the RNN, which only uses ``k = 2`` blocks, stays below 1e-18). Coefficients with
``σ_min/σ_max ≤ SINGULAR_RTOL = 1e-8`` are rejected as singular.

Neuron order in the two-layer net: irreps in ``G.irreps()`` order, then rank-one terms (index
paths in lexicographic order; for C/H types the rotation ``t`` varies fastest), then the
``2^{k−1}`` sign patterns. Each term is balanced (all ``k`` input vectors and the output vector
have the same norm) before polarisation.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

from groupcomp import fourier
from groupcomp.errors import ConfigError
from groupcomp.groups.core import FiniteGroup
from groupcomp.models.rnn import QuadraticRNN
from groupcomp.models.tree import TreeNet
from groupcomp.models.two_layer import TwoLayerNet
from groupcomp.templates import check_template

__all__ = [
    "IrrepTerms",
    "exact_sizes",
    "irrep_terms",
    "rank_one_terms",
    "rnn_exact",
    "tree_exact",
    "two_layer_exact",
    "two_layer_width",
]

#: relative size below which a Fourier coefficient counts as zero: ``‖x̂[π]‖_F ≤ ZERO_RTOL·√n‖x‖``
ZERO_RTOL = 1e-10
#: ``σ_min(x̂[π]) / σ_max(x̂[π])`` below which a non-zero coefficient counts as singular
SINGULAR_RTOL = 1e-8


@dataclass(frozen=True)
class IrrepTerms:
    """How one real irrep enters the two-layer construction.

    Attributes:
        index: position in ``G.irreps()``.
        label: the irrep's label.
        type: ``"R"``, ``"C"`` or ``"H"``.
        dim: real dimension ``D``.
        zero: ``x̂[π] = 0`` (no neurons needed).
        terms: number ``R_π(k)`` of rank-one multilinear terms (0 when ``zero``).
        condition: ``σ_max/σ_min`` of ``x̂[π]`` (``inf`` when ``zero``).
    """

    index: int
    label: str
    type: str
    dim: int
    zero: bool
    terms: int
    condition: float


# --------------------------------------------------------------------------- validation
def _check_k(k: object, minimum: int, what: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or int(k) < minimum:
        raise ConfigError(f"{what}: k must be an integer >= {minimum}, got {k!r}")
    return int(k)


def _terms_per_irrep(type_: str, dim: int, k: int) -> int:
    if type_ == "R":
        return dim ** (k + 1)
    return (k + 1) * (dim // 2) ** (k + 1)


def irrep_terms(G: FiniteGroup, template: np.ndarray, k: int) -> list[IrrepTerms]:
    """Per real irrep: type, dimension, whether ``x̂[π] = 0``, the number of rank-one terms
    ``R_π(k)`` and the condition number of ``x̂[π]`` (see the module docstring).

    Raises:
        ConfigError: ``k < 1``, a malformed or zero template, or some ``x̂[π]`` is non-zero but
            singular (P1's assumption 2, docs/theory.md §1.1): no linear features ``π(g)``
            exist then.
    """
    k = _check_k(k, 1, "irrep_terms")
    x = check_template(G, template, nonzero=True)
    scale = math.sqrt(G.order) * float(np.linalg.norm(x))
    out = []
    for i, (r, xh) in enumerate(zip(G.irreps(), fourier.transform(G, x), strict=True)):
        s = np.linalg.svd(xh, compute_uv=False)
        if s[0] <= ZERO_RTOL * scale:
            out.append(IrrepTerms(i, r.label, r.type, r.dim, True, 0, math.inf))
            continue
        if s[-1] <= SINGULAR_RTOL * s[0]:
            raise ConfigError(
                f"template: the Fourier coefficient of irrep {r.label!r} (type {r.type}, "
                f"dim {r.dim}) of {G.name} is non-zero but singular (singular values "
                f"{np.array2string(s, precision=3)}); exact constructions need every x̂[π] "
                "invertible or zero (P1 assumption 2, docs/theory.md §1.1). Use e.g. a generic "
                "'gaussian' template or 'powers'"
            )
        out.append(
            IrrepTerms(
                i, r.label, r.type, r.dim, False, _terms_per_irrep(r.type, r.dim, k), s[0] / s[-1]
            )
        )
    return out


def two_layer_width(G: FiniteGroup, template: np.ndarray, k: int) -> int:
    """Hidden width of :func:`two_layer_exact`:
    ``2^{k−1} Σ_{π: x̂[π]≠0} R_π(k)`` with ``R_π = D^{k+1}`` (type R) and
    ``(k+1)(D/2)^{k+1}`` (types C, H); ``D`` the real dimension of π.

    Raises:
        ConfigError: as :func:`irrep_terms`.
    """
    k = _check_k(k, 1, "two_layer_width")
    return 2 ** (k - 1) * sum(t.terms for t in irrep_terms(G, template, k))


# --------------------------------------------------------------------------- complex structure
def _complex_form(mats: np.ndarray) -> np.ndarray:
    """A complex unitary irrep ``ρ`` (``(n, d, d)``) whose realification is equivalent to the
    real irrep ``mats`` (``(n, 2d, 2d)``, type C or H) via an orthogonal change of basis.

    ``J``: a non-zero antisymmetric element of the commutant (projection
    ``N ↦ (1/n) Σ_g π(g) N π(g)^T`` of a basis antisymmetric matrix), normalised to ``J² = −I``.
    Basis: ``v_1, …, v_d`` orthonormal with ``v_i ⟂ span{v_j, J v_j}_{j<i}``; then
    ``ρ(g) = V^T π(g) V + i (JV)^T π(g) V``.
    """
    n, D, _ = mats.shape
    best, best_norm = None, -1.0
    for a, b in itertools.combinations(range(D), 2):
        N = np.zeros((D, D))
        N[a, b], N[b, a] = 1.0, -1.0
        M = np.einsum("gij,jk,glk->il", mats, N, mats, optimize=True) / n
        nm = float(np.linalg.norm(M))
        if nm > best_norm:
            best, best_norm = M, nm
    J2 = best @ best
    c = -float(np.trace(J2)) / D
    J = best / math.sqrt(c)
    if np.abs(J @ J + np.eye(D)).max() > 1e-8:  # pragma: no cover - irreps are verified
        raise ConfigError("internal: could not find a complex structure for a C/H-type irrep")
    d = D // 2
    V = np.zeros((D, 0))
    for _ in range(d):
        basis = np.concatenate([V, J @ V], axis=1)
        resid = np.eye(D) - basis @ basis.T
        j = int(np.argmax(np.linalg.norm(resid, axis=0)))
        v = resid[:, j] / np.linalg.norm(resid[:, j])
        V = np.concatenate([V, v[:, None]], axis=1)
    JV = J @ V
    return np.einsum("ai,gab,bj->gij", V, mats, V) + 1j * np.einsum("ai,gab,bj->gij", JV, mats, V)


# --------------------------------------------------------------------------- rank-one terms
def _paths(d: int, k: int) -> np.ndarray:
    """All index paths ``(b_0, …, b_k) ∈ [d]^{k+1}``, lexicographic: ``(d^{k+1}, k+1)``."""
    return np.array(list(itertools.product(range(d), repeat=k + 1)), dtype=np.int64).reshape(
        -1, k + 1
    )


def _real_terms(
    mats: np.ndarray, xh: np.ndarray, weight: float, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Type R: ``F[a, b, h] = (x̂^{-1} π(h)^T)_{ab}``, ``W[a, b, h] = weight·(π(h) x̂)_{ab}``."""
    xinv = np.linalg.inv(xh)
    F = np.einsum("ac,hbc->abh", xinv, mats)
    W = weight * np.einsum("hac,cb->abh", mats, xh)
    p = _paths(mats.shape[-1], k)
    U = np.stack([F[p[:, j], p[:, j + 1]] for j in range(k)], axis=1)  # (T, k, n)
    return U, W[p[:, k], p[:, 0]]


def _complex_terms(
    mats: np.ndarray, x: np.ndarray, weight: float, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Types C and H: complex paths × the ``k + 1`` rotations of the real-part identity."""
    rho = _complex_form(mats)  # (n, d, d)
    X = np.einsum("h,hba->ab", x, rho.conj())  # Σ_h x(h) ρ(h)^†
    Xinv = np.linalg.inv(X)
    F = np.einsum("ac,hbc->abh", Xinv, rho.conj())  # (X^{-1} ρ(h)^†)_{ab}
    W = (2.0 * weight) * np.einsum("hac,cb->abh", rho, X)  # (2D/(e n)) (ρ(h) X)_{ab}
    p = _paths(rho.shape[-1], k)
    Fz = np.stack([F[p[:, j], p[:, j + 1]] for j in range(k)], axis=1)  # (P, k, n) complex
    Wz = W[p[:, k], p[:, 0]]  # (P, n) complex
    N = k + 1
    rot = np.exp(-1j * np.pi * np.arange(N) / N)  # e^{-iβ_t}
    sign = (-1.0) ** np.arange(N) * 2.0 ** (N - 1) / N
    U = np.real(Fz[:, None] * rot[None, :, None, None])  # (P, N, k, n)
    Wr = sign[None, :, None] * np.real(Wz[:, None] * rot[None, :, None])  # (P, N, n)
    return U.reshape(-1, k, mats.shape[0]), Wr.reshape(-1, mats.shape[0])


def rank_one_terms(G: FiniteGroup, template: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rank-one multilinear decomposition of the target (module docstring, step 2).

    Returns ``U: (T, k, n)`` and ``W: (T, n)`` (float64) with
    ``x_{g_1⋯g_k} = Σ_t Π_j ⟨U[t, j], x_{g_j}⟩ · W[t]`` for every sequence, ``T = Σ_π R_π(k)``.
    Each term is balanced: ``‖U[t, 1]‖ = … = ‖U[t, k]‖ = ‖W[t]‖``.

    Raises:
        ConfigError: as :func:`irrep_terms`.
    """
    info = irrep_terms(G, template, k)
    x = check_template(G, template, nonzero=True)
    coefs = fourier.transform(G, x)
    Us, Ws = [], []
    for t, r in zip(info, G.irreps(), strict=True):
        if t.zero:
            continue
        weight = r.plancherel_weight()  # D / (e n)
        if r.type == "R":
            U, W = _real_terms(r.matrices, coefs[t.index], weight, k)
        else:
            U, W = _complex_terms(r.matrices, x, weight, k)
        Us.append(U)
        Ws.append(W)
    U = np.concatenate(Us, axis=0)
    W = np.concatenate(Ws, axis=0)
    # balance: scale every factor to the geometric mean of the k + 1 norms (product unchanged)
    norms = np.concatenate([np.linalg.norm(U, axis=-1), np.linalg.norm(W, axis=-1)[:, None]], 1)
    norms = np.maximum(norms, np.finfo(np.float64).tiny)
    geo = np.exp(np.log(norms).mean(axis=1, keepdims=True))
    scale = geo / norms
    return U * scale[:, :k, None], W * scale[:, k:]


def _polarise(U: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Polarisation for ``σ = z^k``: ``U (T, k, n), W (T, n)`` → ``(M, k, n), (M, n)``,
    ``M = T·2^{k−1}``."""
    T, k, n = U.shape
    eps = np.array([(1,) + e for e in itertools.product((1, -1), repeat=k - 1)], dtype=np.float64)
    coef = eps.prod(axis=1) / (2 ** (k - 1) * math.factorial(k))  # (2^{k-1},)
    W_in = U[:, None, :, :] * eps[None, :, :, None]  # (T, 2^{k-1}, k, n)
    W_out = W[:, None, :] * coef[None, :, None]
    # rebalance: output carries 1/(2^{k-1} k!); spread it over the k + 1 factors of each neuron
    c = (2 ** (k - 1) * math.factorial(k)) ** (-1.0 / (k + 1))
    W_in = W_in * c
    W_out = W_out * c ** (-k)
    return W_in.reshape(T * 2 ** (k - 1), k, n), W_out.reshape(T * 2 ** (k - 1), n)


# --------------------------------------------------------------------------- models
def _encoding(G: FiniteGroup, x: np.ndarray, device: torch.device | str | None) -> torch.Tensor:
    return torch.tensor(x[np.asarray(G.table, dtype=np.int64)], dtype=torch.float64, device=device)


def _param(a: np.ndarray, device: torch.device | str | None) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, device=device)[None]


def two_layer_exact(
    G: FiniteGroup,
    template: np.ndarray,
    k: int,
    *,
    device: torch.device | str | None = None,
) -> TwoLayerNet:
    """A :class:`~groupcomp.models.TwoLayerNet` (``σ = z^k``, float64, ``num_models = 1``) that
    computes ``x_{g_1⋯g_k}`` exactly on every sequence; width :func:`two_layer_width`.

    Construction: per-slot linear irrep features × rank-one decomposition of the target
    (:func:`rank_one_terms`) × polarisation (``2^{k−1}`` neurons per term); see the module
    docstring and docs/theory.md §3.2.

    Raises:
        ConfigError: ``k < 1``, a malformed or zero template, or a singular non-zero ``x̂[π]``.
    """
    k = _check_k(k, 1, "two_layer_exact")
    x = check_template(G, template, nonzero=True)
    W_in, W_out = _polarise(*rank_one_terms(G, x, k))
    model = TwoLayerNet(
        _encoding(G, x, device),
        k,
        W_in.shape[0],
        num_models=1,
        init_scale=0.0,
        activation="power",
        dtype=torch.float64,
        device=device,
    )
    with torch.no_grad():
        model.W_in.copy_(_param(W_in, device))
        model.W_out.copy_(_param(W_out, device))
    return model


def _binary_block(G: FiniteGroup, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(A, B, C)``, each ``(H_2, n)``, with ``x_{gh} = C^T (A x_g + B x_h)²``."""
    W_in, W_out = _polarise(*rank_one_terms(G, x, 2))
    return W_in[:, 0], W_in[:, 1], W_out


def rnn_exact(
    G: FiniteGroup,
    template: np.ndarray,
    k: int,
    *,
    device: torch.device | str | None = None,
) -> QuadraticRNN:
    """A :class:`~groupcomp.models.QuadraticRNN` (quadratic transition, float64) that is exact for
    sequence length ``k``: ``W_in = A``, ``W_drive = B``, ``W_out = C``, ``W_mix = A C^T`` from the
    exact binary block (docs/theory.md §3.2). Width ``H_2 = two_layer_width(G, template, 2)`` for
    every ``k``; ``k − 1`` nonlinear steps; every intermediate output ``forward_steps`` is exact
    too.

    Raises:
        ConfigError: ``k < 2``, a malformed or zero template, or a singular non-zero ``x̂[π]``.
    """
    k = _check_k(k, 2, "rnn_exact")
    x = check_template(G, template, nonzero=True)
    A, B, C = _binary_block(G, x)
    model = QuadraticRNN(
        _encoding(G, x, device),
        k,
        A.shape[0],
        num_models=1,
        init_scale=0.0,
        transition="quadratic",
        dtype=torch.float64,
        device=device,
    )
    with torch.no_grad():
        model.W_in.copy_(_param(A, device))
        model.W_drive.copy_(_param(B, device))
        model.W_out.copy_(_param(C, device))
        model.W_mix.copy_(_param(A @ C.T, device))
    return model


def tree_exact(
    G: FiniteGroup,
    template: np.ndarray,
    k: int,
    *,
    device: torch.device | str | None = None,
) -> TreeNet:
    """A :class:`~groupcomp.models.TreeNet` (``σ = z²``, float64) whose shared binary block is the
    exact ``k = 2`` solution, hence exact for every ``k`` (``⌈log₂ k⌉`` levels; odd levels padded
    with ``x_e = x``, which the block treats as the identity). Width ``H_2``.

    Raises:
        ConfigError: ``k < 2``, a malformed or zero template, or a singular non-zero ``x̂[π]``.
    """
    k = _check_k(k, 2, "tree_exact")
    x = check_template(G, template, nonzero=True)
    A, B, C = _binary_block(G, x)
    model = TreeNet(
        _encoding(G, x, device),
        k,
        A.shape[0],
        num_models=1,
        init_scale=0.0,
        activation="square",
        dtype=torch.float64,
        device=device,
    )
    with torch.no_grad():
        model.A.copy_(_param(A, device))
        model.B.copy_(_param(B, device))
        model.C.copy_(_param(C, device))
    return model


def _tree_block_evals(k: int) -> tuple[int, int]:
    """``(number of block evaluations, largest number of blocks in one level)``."""
    m, total, widest = k, 0, 0
    while m > 1:
        b = (m + 1) // 2
        total += b
        widest = max(widest, b)
        m = b
    return total, widest


def exact_sizes(G: FiniteGroup, template: np.ndarray, k: int) -> dict[str, int]:
    """Sizes of the three exact constructions for sequence length ``k`` (nothing is built).

    Keys (all ints; ``n = |G|``, ``H_k = two_layer_width(G, template, k)``):

    * ``n``, ``k``;
    * ``two_layer_width`` ``H_k`` (exponential in k), ``two_layer_depth`` 1 (nonlinear layers),
      ``two_layer_params`` ``(k+1)·n·H_k``;
    * ``rnn_width`` ``H_2`` (independent of k), ``rnn_steps`` ``k − 1`` (nonlinear steps),
      ``rnn_params`` ``3·n·H_2 + H_2²``;
    * ``tree_width`` ``H_2`` (the shared block), ``tree_depth`` ``⌈log₂ k⌉``, ``tree_params``
      ``3·n·H_2``, ``tree_block_evals`` (block applications, padding included; ``k − 1`` for
      powers of two), ``tree_parallel_width`` ``⌈k/2⌉·H_2`` (hidden units of the widest level,
      the width of the equivalent un-shared feed-forward net).

    Raises:
        ConfigError: ``k < 2`` or as :func:`irrep_terms`.
    """
    k = _check_k(k, 2, "exact_sizes")
    hk = two_layer_width(G, template, k)
    h2 = hk if k == 2 else two_layer_width(G, template, 2)
    n = G.order
    evals, widest = _tree_block_evals(k)
    return {
        "n": n,
        "k": k,
        "two_layer_width": hk,
        "two_layer_depth": 1,
        "two_layer_params": (k + 1) * n * hk,
        "rnn_width": h2,
        "rnn_steps": k - 1,
        "rnn_params": 3 * n * h2 + h2 * h2,
        "tree_width": h2,
        "tree_depth": (k - 1).bit_length(),
        "tree_params": 3 * n * h2,
        "tree_block_evals": evals,
        "tree_parallel_width": widest * h2,
    }
