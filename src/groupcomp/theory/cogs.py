r"""CoGS: sum potentials, Theorem 1, the semi-ring of networks and its global solutions.

After Y. Tian, "Composing Global Solutions to Reasoning Tasks via Algebraic Objects in Neural
Nets" (CoGS, arXiv 2410.01779; docs/theory.md §5). Pure numpy maths, no I/O.

**Setting.** An abelian group ``G = Z_{n_1} × ⋯ × Z_{n_m}`` of order ``d`` (elements and
characters indexed ``0..d−1`` by ``np.ravel_multi_index`` with the first factor most significant,
as :func:`groupcomp.groups.product`; ``Z_d`` is the case ``m = 1``), characters
``χ_k(g) = exp(2πi Σ_i k_i g_i / n_i)``, ``k + k'`` and ``−k`` taken componentwise. A two-layer
network with ``q`` hidden nodes and quadratic activation, one-hot operands ``(a, b)``:

    o(a, b) = Σ_j W_out[j] (W_a[j, a] + W_b[j, b])²        (the library's ``ArithNet``)

(``W_a = W_in[s, :, 0]``, ``W_b = W_in[s, :, 1]``, ``W_out = W_out[s]``, all ``(q, d)``). Its loss
is the library's arithmetic ``mse`` over **all** ``d²`` pairs:

    ℓ = E_{(a,b)} ‖P^⊥ o(a, b) − P^⊥ e_{a·b}‖²,    P^⊥ = I − 11ᵀ/d          (ℓ = (d−1)/d at o = 0).

**Normalisation (the paper's).** Per node ``j`` and character ``k``

    z_{akj} = (1/d) Σ_g W_a[j, g] χ̄_k(g),   z_{bkj} likewise,   z_{ckj} = 2 Σ_g W_out[j, g] χ_k(g).

In the paper's own terms the network is ``(w_a, w_b, w_c)`` with output ``o/(2d)`` and
``z_{ckj} = (1/d) Σ_g w_{cj}[g] χ_k(g)``: the library's ``W_out`` is the paper's ``w_c / (2d)``
(the authors' code computes ``z_c`` from its raw output weights and multiplies every sum
potential by ``2d`` before plotting, "to fit our setup": the same convention). With this
normalisation the library's loss *is* the paper's ``ℓ`` — no extra factor — and every sum
potential below is the paper's (``r_kkk = 1`` at a global optimum).
:func:`groupcomp.analysis.arith.sum_potentials` keeps the code's raw normalisation: its values
are this module's divided by ``2d``.

**Sum potentials** (SPs): ``r_{k1 k2 k} = Σ_j z_{a k1 j} z_{b k2 j} z_{ckj}`` and
``r_{p k1 k2 k} = Σ_j z_{p k1 j} z_{p k2 j} z_{ckj}`` (``p ∈ {a, b}``); ``R_p[m, k] = Σ_{k'}
r_{p,k',m−k',k}`` (the Fourier coefficient ``m`` of ``w_p²`` against ``z_c``).

**Theorem 1** (loss decomposition; derived by expanding ``(w_a[a] + w_b[b])²`` in characters and
averaging over the ``d²`` pairs — the products ``χ_{k1}(a) χ_{k2}(b)`` are orthonormal)::

    ℓ = (d−1)/d + (1/d) Σ_{k≠0} ℓ_k,
    ℓ_k = −2 Re r_kkk + |r_kkk|² + E_c(k) + E_n(k) + E_*(k),
    E_c(k) = Σ_{k1,k2 ≠ 0, (k1,k2) ≠ (k,k)} |r_{k1k2k}|²                        (family R_c)
    E_n(k) = |r_{00k} + ½ Σ_p R_p[0, k]|²                                      (family R_n)
    E_*(k) = Σ_{m≠0} |r_{m0k} + ½ R_a[m, k]|² + |r_{0mk} + ½ R_b[m, k]|²         (family R_*)

so ``ℓ = (1/d) Σ_{k≠0} (|1 − r_kkk|² + E_c + E_n + E_*)``. The terms ``r_{00k}``, ``r_{m0k}``,
``r_{0mk}`` involve ``z_{a0j}``, ``z_{b0j}`` (the means of the input weights): for mean-zero
input weights they vanish and the formula is the paper's,
``ℓ_k = −2 Re r_kkk + Σ_{k1,k2≠0} |r_{k1k2k}|² + ¼|Σ_p Σ_{k'} r_{p,k',−k',k}|² +
¼ Σ_{m≠0} Σ_p |Σ_{k'} r_{p,k',m−k',k}|²``. Trained networks have input weights of non-zero mean,
so the general form is the one implemented (tested equal to the model's loss to 1e-10).
A global optimum (``ℓ = 0``) needs ``r_kkk = 1`` for every ``k ≠ 0`` and every ``E`` zero
(the paper's Lemma 1: ``r_kkk = 1``, R_c, R_n, R_*).

**The semi-ring** (the paper's Theorems 2–3): ``z_1 + z_2`` concatenates hidden nodes,
``z_1 * z_2`` has a node ``(j, l)`` with coefficients ``z^{(1)}_{pkj} z^{(2)}_{pkl}`` for every
``p ∈ {a, b, c}`` and ``k`` (node-wise Kronecker / Khatri–Rao product; in weight space a circular
convolution over ``G``). Every sum potential ``r`` is a ring homomorphism:
``r(z_1 + z_2) = r(z_1) + r(z_2)``, ``r(z_1 * z_2) = r(z_1) r(z_2)``. The unit is the one-node
network with all coefficients 1, the zero the empty network. A product of real networks is real.

**Constructions** (per *frequency pair* ``{k, −k}``, ``k ≠ −k``; the coefficients at ``−k`` are
the conjugates, so the weights are real; columns are nodes ``(z_a, z_b, z_c)`` at ``k``):

* :func:`z_syn`, order 3: ``(ω^j, ω^j, ω^j)``, ``j = 0, 1, 2``, ``ω = e^{2πi/3}``: ``r_kkk = 3``
  (returned scaled to 1); kills R_c and R_n, not R_* (``Σ_j z_a² z_c ≠ 0``). On every frequency
  pair its loss is ``(d−1)/(2d)`` for odd ``d`` (each pair leaves ``E_* = ½`` at ``k`` and ``−k``).
* :func:`z_nu`, order 2: ``(1, 1, 1), (ν, −ν, −ν^{−2})``: ``r_kkk = 2``; kills
  ``Σ z_a² z_c`` and ``Σ z_b² z_c`` for every ``ν``; ``ν = i`` (the paper's ``z_{ν=i}``) also kills
  ``Σ z̄_a² z_c``, ``Σ z̄_b² z_c`` (all of R_*) and ``Σ z_a z̄_b z_c``, ``Σ z̄_a z_b z_c``.
* :func:`z_xi`, order 2: ``(1, 1, 1), (ξ, −i/ξ, i)``: kills ``Σ z̄_a z̄_b z_c``.
* ``z_syn * z_nu`` (order 6) kills everything: an exact global solution on its pair, for every ν.
  ``z_{ν=i} * z_ξ`` (order 4) kills R_c and R_* but **not** R_n (the paper's Fig. 3 shows
  ``r_{a,k,−k,k}`` growing in order-4 blocks and vanishing in order-6 ones).
* :func:`z_f6`: ``z_syn * z_nu`` on every pair: ``3(d−1)`` nodes for odd ``d``, loss 0.
* :func:`z_f46`: ``z_{ν=i} * z_ξ`` on every pair but one, ``z_syn * z_nu`` on the remaining pair
  ``k0``, whose six nodes also get output coefficients at every other pair ``k``, chosen (one
  linear solve) to cancel that pair's R_n sum and nothing else — the cross-frequency SP
  cancellation of the paper: ``4(P−1) + 6 + 2R = 2d`` nodes, loss 0. (The six monomial vectors
  of the order-6 block span ``C^6``, while the eight R_c / R_* ones span only 5 dimensions, so the
  cancelling output vector exists; checked in the tests.)
* :func:`z_memorisation`: the product of two order-``d`` partial solutions, ``d²`` nodes: node
  ``(g, h)`` is the look-up ``W_a = e_g``, ``W_b = e_h``, ``W_out ∝ e_{g·h}`` (scaled); loss 0.

Self-conjugate characters (``2k = 0``: ``k = d/2`` for even ``d``, more for products such as
``Z_2 × Z_4``) need real coefficients; there :func:`z_polar` (order 2:
``(1, 1, ½), (1, −1, −½)``, i.e. ``4uv = (u+v)² − (u−v)²``) is an exact block, used by
:func:`z_f6` and :func:`z_f46`. With ``P`` frequency pairs and ``R`` non-trivial self-conjugate
characters (``d = 1 + 2P + R``): ``z_f6`` has ``6P + 2R = 3(d−1) − R`` nodes, ``z_f46`` has
``2d`` (``P ≥ 1``), ``z_memorisation`` ``d²``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from groupcomp.errors import ConfigError, ShapeError

__all__ = [
    "MONOMIALS",
    "CogsNet",
    "LossDecomposition",
    "block_monomials",
    "constraint_residuals",
    "cyclic_shape",
    "direct_loss",
    "frequency_pairs",
    "loss_decomposition",
    "one",
    "pair_potentials",
    "rstar_term",
    "self_conjugate",
    "single_frequency",
    "sp_summary",
    "square_sums",
    "sum_potentials",
    "z_f46",
    "z_f6",
    "z_memorisation",
    "z_nu",
    "z_polar",
    "z_syn",
    "z_xi",
]

#: the ten per-node monomials of a single-frequency block (coefficients ``(a, b, c)`` at ``k``):
#: their sums over the block's nodes are the sum potentials with output ``k`` and inputs in
#: ``{k, −k}``: ``T = r_kkk``; R_c: ``C1 = r_{k,−k,k}``, ``C2 = r_{−k,k,k}``,
#: ``C3 = r_{−k,−k,k}``; R_*: ``S1 = r_{a,k,k,k}``, ``S2 = r_{a,−k,−k,k}``, ``S3 = r_{b,k,k,k}``,
#: ``S4 = r_{b,−k,−k,k}``; R_n: ``Na = r_{a,k,−k,k}``, ``Nb = r_{b,k,−k,k}`` (R_n needs
#: ``Na + Nb = 0``).
MONOMIALS: tuple[str, ...] = ("T", "C1", "C2", "C3", "S1", "S2", "S3", "S4", "Na", "Nb")

_OMEGA3 = np.exp(2j * np.pi / 3)


# =============================================================================================
# groups: shapes, characters, Fourier transforms
def cyclic_shape(group: object) -> tuple[int, ...]:
    """The cyclic factors ``(n_1, …, n_m)`` of an abelian group given as an int ``d`` (``Z_d``), a
    sequence of ints, a spec string (``"Z7"``, ``"Z2xZ4"``) or a
    :class:`~groupcomp.groups.FiniteGroup` built by ``cyclic`` / ``product`` of cyclics.

    Raises:
        ConfigError: not a product of cyclic groups.
    """
    if isinstance(group, bool):
        raise ConfigError(
            f"group: must be a cyclic group or a product of cyclic groups, got {group!r}"
        )
    if isinstance(group, int | np.integer):
        shape: tuple[int, ...] = (int(group),)
    elif isinstance(group, str):
        from groupcomp.groups import parse

        return cyclic_shape(parse(group))
    elif isinstance(group, Sequence):
        shape = tuple(int(n) for n in group)
    else:
        structure = getattr(group, "structure", None)
        name = getattr(group, "name", type(group).__name__)
        if structure and structure[0] == "cyclic":
            shape = (int(structure[1]),)
        elif structure and structure[0] == "product":
            shape = tuple(n for g in structure[1] for n in cyclic_shape(g))
        else:
            raise ConfigError(
                f"group: CoGS needs a cyclic group or a product of cyclic groups "
                f"(e.g. Z23, Z2xZ4), got {name}"
            )
    if not shape or any(n < 1 for n in shape):
        raise ConfigError(f"group: cyclic factors must be integers >= 1, got {shape}")
    return shape


@functools.lru_cache(maxsize=64)
def _characters(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(add, neg)``: ``add[k1, k2]`` = index of ``k1 + k2``, ``neg[k]`` = index of ``−k``."""
    d = math.prod(shape)
    coords = np.stack(np.unravel_index(np.arange(d), shape), axis=-1)  # (d, m)
    n = np.asarray(shape)
    add = np.ravel_multi_index(
        tuple(((coords[:, None, :] + coords[None, :, :]) % n).transpose(2, 0, 1)), shape
    )
    neg = np.ravel_multi_index(tuple(((-coords) % n).T), shape)
    add.setflags(write=False)
    neg.setflags(write=False)
    return add, neg


def self_conjugate(group: object) -> np.ndarray:
    """Indices of the non-trivial characters with ``2k = 0`` (real characters) of ``group``
    (anything :func:`cyclic_shape` accepts)."""
    shape = cyclic_shape(group)
    _, neg = _characters(shape)
    ks = np.arange(math.prod(shape))
    return ks[(neg == ks) & (ks != 0)]


def frequency_pairs(group: object) -> np.ndarray:
    """One representative ``k`` (the smaller index) of each pair ``{k, −k}`` with ``k ≠ −k``;
    for ``Z_d`` this is ``1..⌈d/2⌉−1``."""
    shape = cyclic_shape(group)
    _, neg = _characters(shape)
    ks = np.arange(math.prod(shape))
    return ks[ks < neg]


def _fft(w: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``(1/d) Σ_g w[..., g] χ̄_k(g)`` over the last axis."""
    d = math.prod(shape)
    x = np.asarray(w).reshape(w.shape[:-1] + shape)
    axes = tuple(range(-len(shape), 0))
    return (np.fft.fftn(x, axes=axes) / d).reshape(w.shape[:-1] + (d,))


def _synth(z: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``Σ_k z[..., k] χ_k(g)`` over the last axis (the inverse of :func:`_fft`)."""
    d = math.prod(shape)
    x = np.asarray(z).reshape(z.shape[:-1] + shape)
    axes = tuple(range(-len(shape), 0))
    return (np.fft.ifftn(x, axes=axes) * d).reshape(z.shape[:-1] + (d,))


# =============================================================================================
# networks in the Fourier domain
@dataclass(frozen=True, eq=False)
class CogsNet:
    """A two-layer quadratic network on ``G`` in the paper's Fourier coordinates.

    Attributes:
        z: ``(3, q, d)`` complex: ``z[0] = z_a``, ``z[1] = z_b``, ``z[2] = z_c`` (node ``j``,
            character ``k``), in the normalisation of the module docstring.
        shape: the cyclic factors of ``G`` (``(d,)`` for ``Z_d``).

    ``net1 + net2`` (concatenate nodes), ``net1 * net2`` (node-wise Kronecker product, node
    ``(j, l)`` at index ``j·q2 + l``), ``c * net`` / ``net.scaled(c)`` (multiply ``z_c`` by ``c``:
    every sum potential scales by ``c``). :meth:`from_weights` / :meth:`weights` convert from / to
    the library's real weights, :meth:`from_model` / :meth:`to_model` from / to an ``ArithNet``.
    """

    z: np.ndarray
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        z = np.asarray(self.z, dtype=np.complex128)
        shape = tuple(int(n) for n in self.shape)
        d = math.prod(shape)
        if z.ndim != 3 or z.shape[0] != 3 or z.shape[2] != d:
            raise ShapeError(f"CogsNet: z must have shape (3, q, {d}), got {z.shape}")
        object.__setattr__(self, "z", z)
        object.__setattr__(self, "shape", shape)

    # ---------------------------------------------------------------- basic properties
    @property
    def d(self) -> int:
        return math.prod(self.shape)

    @property
    def order(self) -> int:
        """Number of hidden nodes ``q`` (the paper's *order*)."""
        return int(self.z.shape[1])

    @property
    def za(self) -> np.ndarray:
        return self.z[0]

    @property
    def zb(self) -> np.ndarray:
        return self.z[1]

    @property
    def zc(self) -> np.ndarray:
        return self.z[2]

    def is_real(self, atol: float = 1e-9) -> bool:
        """Whether the coefficients are those of real weights (``z[..., −k] = conj z[..., k]``)."""
        _, neg = _characters(self.shape)
        scale = max(1.0, float(np.abs(self.z).max(initial=0.0)))
        return bool(np.allclose(self.z[..., neg], np.conj(self.z), atol=atol * scale, rtol=0))

    # ---------------------------------------------------------------- the semi-ring
    def _check_same_group(self, other: object, op: str) -> CogsNet:
        if not isinstance(other, CogsNet):
            raise TypeError(f"CogsNet {op}: expected a CogsNet, got {type(other).__name__}")
        if other.shape != self.shape:
            raise ShapeError(f"CogsNet {op}: groups differ ({self.shape} vs {other.shape})")
        return other

    def __add__(self, other: CogsNet) -> CogsNet:
        other = self._check_same_group(other, "+")
        return CogsNet(np.concatenate([self.z, other.z], axis=1), self.shape)

    def __mul__(self, other: CogsNet | complex) -> CogsNet:
        if isinstance(other, int | float | complex | np.number):
            return self.scaled(other)
        other = self._check_same_group(other, "*")
        q1, q2 = self.order, other.order
        z = (self.z[:, :, None, :] * other.z[:, None, :, :]).reshape(3, q1 * q2, self.d)
        return CogsNet(z, self.shape)

    def __rmul__(self, other: complex) -> CogsNet:
        if isinstance(other, int | float | complex | np.number):
            return self.scaled(other)
        return NotImplemented

    def scaled(self, c: complex) -> CogsNet:
        """``z_c`` multiplied by ``c`` (every sum potential times ``c``). For a real network
        ``c`` must be real, or the block single-frequency (see :func:`single_frequency`)."""
        z = self.z.copy()
        z[2] *= c
        return CogsNet(z, self.shape)

    # ---------------------------------------------------------------- weights and models
    @classmethod
    def from_weights(
        cls, W_a: np.ndarray, W_b: np.ndarray, W_out: np.ndarray, group: object
    ) -> CogsNet:
        """From the library's weights (each ``(q, d)``; ``W_out`` = ``ArithNet.W_out[s]``)."""
        shape = cyclic_shape(group)
        d = math.prod(shape)
        arrs = [np.asarray(w, dtype=np.float64) for w in (W_a, W_b, W_out)]
        for name, w in zip(("W_a", "W_b", "W_out"), arrs, strict=True):
            if w.ndim != 2 or w.shape[1] != d or w.shape[0] != arrs[0].shape[0]:
                raise ShapeError(
                    f"CogsNet.from_weights: {name} must have shape (q, {d}), got {w.shape}"
                )
        za = _fft(arrs[0], shape)
        zb = _fft(arrs[1], shape)
        zc = 2.0 * _synth(arrs[2], shape)  # 2 Σ_g W_out[g] χ_k(g)  (χ_k(g) = χ_g(k))
        return cls(np.stack([za, zb, zc]), shape)

    def weights(self, atol: float = 1e-9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The library's real weights ``(W_a, W_b, W_out)``, each ``(q, d)`` float64.

        Raises:
            ShapeError: the coefficients are not those of real weights (see :meth:`is_real`).
        """
        if not self.is_real(atol):
            raise ShapeError(
                "CogsNet.weights: coefficients are not conjugate-symmetric (z[-k] != conj z[k]); "
                "no real network has them"
            )
        w_a = _synth(self.za, self.shape).real
        w_b = _synth(self.zb, self.shape).real
        # W_out = w_c / (2d) with w_c[g] = Σ_k z_ck χ̄_k(g) = d · _fft(z_c)[g]
        W_out = (_fft(self.zc, self.shape) / 2).real
        return w_a, w_b, W_out

    @classmethod
    def from_model(cls, model: object, member: int = 0, group: object | None = None) -> CogsNet:
        """From ensemble member ``member`` of a one-hot two-operand ``ArithNet`` (quadratic
        activation, one layer); ``group`` defaults to ``Z_M``."""
        W_in = model.W_in.detach().cpu().double().numpy()  # type: ignore[attr-defined]
        W_out = model.W_out.detach().cpu().double().numpy()  # type: ignore[attr-defined]
        if W_in.ndim != 4 or W_in.shape[2] != 2:
            raise ShapeError(
                f"CogsNet.from_model: needs a two-operand ArithNet (W_in (S, H, 2, M)), got "
                f"W_in {W_in.shape}"
            )
        if (
            getattr(model, "embedding_kind", "onehot") != "onehot"
            or getattr(model, "layers", 1) != 1
        ):
            raise ConfigError(
                "CogsNet.from_model: CoGS needs model.embedding=onehot and model.layers=1"
            )
        act = getattr(getattr(model, "activation", None), "name", "square")
        if act != "square":
            raise ConfigError(
                f"CogsNet.from_model: CoGS needs model.activation=square (sqr), got {act!r}"
            )
        if not 0 <= member < W_in.shape[0]:
            raise ConfigError(
                f"member: must be in 0..{W_in.shape[0] - 1} (ensemble members), got {member}"
            )
        grp = W_in.shape[-1] if group is None else group
        return cls.from_weights(W_in[member, :, 0], W_in[member, :, 1], W_out[member], grp)

    def to_model(self, dtype: object = None) -> object:
        """An ``ArithNet`` (one member, ``hidden = order``, quadratic, float64 by default) holding
        these weights."""
        import torch

        from groupcomp.models.arith import ArithNet

        dt = torch.float64 if dtype is None else dtype
        W_a, W_b, W_out = self.weights()
        model = ArithNet(self.d, 2, max(self.order, 1), 1, activation="square", dtype=dt)
        with torch.no_grad():
            model.W_in.zero_()
            model.W_out.zero_()
            if self.order:
                model.W_in[0, :, 0] = torch.as_tensor(W_a, dtype=dt)
                model.W_in[0, :, 1] = torch.as_tensor(W_b, dtype=dt)
                model.W_out[0] = torch.as_tensor(W_out, dtype=dt)
        return model


def one(group: object) -> CogsNet:
    """The unit of ``*``: one node with every coefficient 1."""
    shape = cyclic_shape(group)
    return CogsNet(np.ones((3, 1, math.prod(shape)), dtype=np.complex128), shape)


def single_frequency(group: object, k: int, cols: np.ndarray) -> CogsNet:
    """A block on the character pair ``{k, −k}``: ``cols`` (``(3, q)`` complex, rows
    ``z_a, z_b, z_c``) are the coefficients at ``k``, their conjugates those at ``−k`` (for a
    self-conjugate ``k`` they must be real); all other coefficients are 0.

    Raises:
        ConfigError: ``k`` out of range or trivial, or complex columns at a real character.
    """
    shape = cyclic_shape(group)
    d = math.prod(shape)
    _, neg = _characters(shape)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 < int(k) < d:
        raise ConfigError(f"k: must be a character index in 1..{d - 1}, got {k!r}")
    cols = np.asarray(cols, dtype=np.complex128)
    if cols.ndim != 2 or cols.shape[0] != 3:
        raise ShapeError(f"single_frequency: cols must have shape (3, q), got {cols.shape}")
    k = int(k)
    z = np.zeros((3, cols.shape[1], d), dtype=np.complex128)
    if neg[k] == k:
        if np.abs(cols.imag).max(initial=0.0) > 1e-12 * max(1.0, np.abs(cols).max()):
            raise ConfigError(
                f"k: character {k} is self-conjugate (2k = 0); its coefficients must be real"
            )
        z[:, :, k] = cols.real
    else:
        z[:, :, k] = cols
        z[:, :, neg[k]] = np.conj(cols)
    return CogsNet(z, shape)


# =============================================================================================
# sum potentials and the loss decomposition
def sum_potentials(net: CogsNet, *, chunk: int = 16) -> np.ndarray:
    """``r[k1, k2, k] = Σ_j z_{a k1 j} z_{b k2 j} z_{ckj}``: ``(d, d, d)`` complex."""
    za, zb, zc = net.za.T, net.zb.T, net.zc.T  # (d, q)
    d = net.d
    r = np.empty((d, d, d), dtype=np.complex128)
    for s in range(0, d, chunk):
        e = min(d, s + chunk)
        # (k, k1, q) @ (q, k2) -> (k, k1, k2)
        block = (za[None, :, :] * zc[s:e, None, :]) @ zb.T
        r[:, :, s:e] = block.transpose(1, 2, 0)
    return r


def pair_potentials(net: CogsNet, p: str) -> np.ndarray:
    """``r_p[k1, k2, k] = Σ_j z_{p k1 j} z_{p k2 j} z_{ckj}`` for ``p`` = ``"a"`` or ``"b"``."""
    if p not in ("a", "b"):
        raise ConfigError(f"p: must be 'a' or 'b', got {p!r}")
    zp = net.za if p == "a" else net.zb
    return sum_potentials(CogsNet(np.stack([zp, zp, net.zc]), net.shape))


def _square_coeffs(zp: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``s[j, m] = Σ_{k'} z[j, k'] z[j, m − k']`` (coefficients of ``w_j²``): ``(q, d)``."""
    return _fft(_synth(zp, shape) ** 2, shape)


def square_sums(net: CogsNet) -> np.ndarray:
    """``R[p, m, k] = Σ_{k'} r_{p, k', m−k', k}`` for ``p = a, b``: ``(2, d, d)``."""
    out = []
    for zp in (net.za, net.zb):
        s = _square_coeffs(zp, net.shape)  # (q, m)
        out.append(s.T @ net.zc)  # (m, k)
    return np.stack(out)


@dataclass(frozen=True)
class LossDecomposition:
    """Theorem 1, term by term, per output character ``k`` (arrays ``(d,)``; entry 0 is 0).

    Attributes:
        d: group order.
        r_kkk: the diagonal sum potentials (complex).
        target: ``|1 − r_kkk|²``.
        r_c: ``E_c(k)``, the off-diagonal ``Σ |r_{k1k2k}|²`` (``k1, k2 ≠ 0``).
        r_n: ``E_n(k)``, the constant part of the output at ``k``.
        r_star: ``E_*(k)``, the parts that depend on one operand only.
    """

    d: int
    r_kkk: np.ndarray
    target: np.ndarray
    r_c: np.ndarray
    r_n: np.ndarray
    r_star: np.ndarray

    @property
    def per_frequency(self) -> np.ndarray:
        """``ℓ_k = target + E_c + E_n + E_* − 1`` (entry 0 is 0)."""
        ell = self.target + self.r_c + self.r_n + self.r_star - 1.0
        ell[0] = 0.0
        return ell

    @property
    def loss(self) -> float:
        """``ℓ = (d−1)/d + (1/d) Σ_{k≠0} ℓ_k``."""
        return (self.d - 1) / self.d + float(self.per_frequency.sum()) / self.d

    def residuals(self) -> dict[str, float]:
        """Root sums over ``k ≠ 0`` of each family (``ℓ = Σ residual² / d``): ``r_kkk``
        (``√Σ|1 − r_kkk|²``), ``R_c``, ``R_n``, ``R_*``."""
        return {
            "r_kkk": math.sqrt(float(self.target[1:].sum())),
            "R_c": math.sqrt(max(float(self.r_c[1:].sum()), 0.0)),
            "R_n": math.sqrt(float(self.r_n[1:].sum())),
            "R_*": math.sqrt(float(self.r_star[1:].sum())),
        }


def loss_decomposition(net: CogsNet) -> LossDecomposition:
    """The loss of ``net`` on all ``d²`` pairs, decomposed as in Theorem 1 (module docstring).

    Equals the library's arithmetic ``mse`` of :meth:`CogsNet.to_model` on all pairs (tested to
    1e-10). Cost ``O(d³ q)`` (the exact off-diagonal sum; ~1 s at ``d = 127, q = 512``).
    """
    d = net.d
    r = sum_potentials(net)
    ks = np.arange(d)
    r_kkk = r[ks, ks, ks].copy()
    target = np.abs(1.0 - r_kkk) ** 2
    sq = np.abs(r[1:, 1:, :]) ** 2
    r_c = sq.sum(axis=(0, 1)) - np.abs(r_kkk) ** 2
    # exact, without cancellation: subtract the diagonal entry itself
    r_c = sq.sum(axis=(0, 1))
    r_c[1:] -= np.abs(r_kkk[1:]) ** 2
    R = square_sums(net)
    r_n = np.abs(r[0, 0, :] + 0.5 * (R[0, 0, :] + R[1, 0, :])) ** 2
    star_a = np.abs(r[1:, 0, :] + 0.5 * R[0, 1:, :]) ** 2
    star_b = np.abs(r[0, 1:, :] + 0.5 * R[1, 1:, :]) ** 2
    r_star = star_a.sum(axis=0) + star_b.sum(axis=0)
    for arr in (target, r_c, r_n, r_star):
        arr[0] = 0.0
    return LossDecomposition(d, r_kkk, target, np.maximum(r_c, 0.0), r_n, r_star)


def rstar_term(W_in: Any, W_out: Any, shape: tuple[int, ...]) -> Any:
    """The R_* part of Theorem 1, ``(1/d) Σ_{k≠0} E_*(k)``, per ensemble member, in torch (so an
    objective can remove it and differentiate: P3's Fig. 2 "without R_*" variant).

    Args:
        W_in: ``(S, q, 2, d)`` input weights of a one-hot two-operand quadratic ``ArithNet``.
        W_out: ``(S, q, d)`` its output weights.
        shape: the cyclic factors of the group (:func:`cyclic_shape`), ``prod(shape) = d``.

    Returns: ``(S,)`` real tensor, equal to ``loss_decomposition(net).r_star.sum() / d`` of each
    member (tested to 1e-12), differentiable in both weights.
    """
    import torch

    d = math.prod(shape)
    dims = tuple(range(-len(shape), 0))

    def fft(w: Any) -> Any:  # (1/d) Σ_g w[..., g] χ̄_k(g)
        x = w.reshape(w.shape[:-1] + tuple(shape))
        return torch.fft.fftn(x, dim=dims).reshape(w.shape[:-1] + (d,)) / d

    def synth(w: Any) -> Any:  # Σ_g w[..., g] χ_k(g)
        x = w.reshape(w.shape[:-1] + tuple(shape))
        return torch.fft.ifftn(x, dim=dims).reshape(w.shape[:-1] + (d,)) * d

    w_a, w_b = W_in[:, :, 0], W_in[:, :, 1]
    za, zb, zc = fft(w_a), fft(w_b), 2.0 * synth(W_out)
    qa, qb = fft(w_a * w_a), fft(w_b * w_b)  # coefficients of w_p²: Σ_k' z_k' z_{m−k'}
    # r_{m0k} + ½ R_a[m, k] and r_{0mk} + ½ R_b[m, k], all (S, m, k)
    a = torch.einsum("sjm,sj,sjk->smk", za, zb[..., 0], zc) + 0.5 * torch.einsum(
        "sjm,sjk->smk", qa, zc
    )
    b = torch.einsum("sj,sjm,sjk->smk", za[..., 0], zb, zc) + 0.5 * torch.einsum(
        "sjm,sjk->smk", qb, zc
    )
    e_star = a[:, 1:, 1:].abs().pow(2).sum((1, 2)) + b[:, 1:, 1:].abs().pow(2).sum((1, 2))
    return e_star / d


def constraint_residuals(net: CogsNet) -> dict[str, float]:
    """Residual of each constraint family (Lemma 1): ``r_kkk`` (``√Σ_{k≠0}|1 − r_kkk|²``),
    ``R_c``, ``R_n``, ``R_*`` (root sums of ``E_c``, ``E_n``, ``E_*``); all 0 exactly at a global
    optimum, and ``loss = Σ residual² / d``."""
    return loss_decomposition(net).residuals()


def direct_loss(net: CogsNet) -> float:
    """The projected MSE over all ``d²`` pairs computed from the real weights (no Fourier
    algebra): ``mean_{a,b} ‖P^⊥ o(a, b) − (e_{a·b} − 1/d)‖²`` with the library's ``o``."""
    W_a, W_b, W_out = net.weights()
    d = net.d
    add, _ = _characters(net.shape)  # element addition = character addition (same indexing)
    h = (W_a[:, :, None] + W_b[:, None, :]) ** 2  # (q, a, b)
    o = np.einsum("jab,jg->abg", h, W_out)
    o -= o.mean(axis=-1, keepdims=True)
    t = np.eye(d)[add] - 1.0 / d  # (a, b, g)
    return float(((o - t) ** 2).sum(axis=-1).mean())


def sp_summary(net: CogsNet) -> dict[str, float]:
    """The numbers of the paper's Fig. 3 for one network: ``diag`` = ``Σ_{k≠0} Re r_kkk``
    (→ ``d − 1``), ``offdiag`` = ``Σ Re r_{k1k2k}`` over output ``k ≠ 0`` and
    ``(k1, k2) ≠ (k, k)`` (→ 0; the paper's signed sum), ``offdiag_norm`` =
    ``√Σ |r_{k1k2k}|²`` over the same set with ``k1, k2 ≠ 0`` (the R_c residual), plus the
    family residuals of :func:`constraint_residuals` and the loss."""
    dec = loss_decomposition(net)
    d = net.d
    # Σ_{k1,k2} r_{k1k2k} = Σ_j w_aj[0] w_bj[0] z_ckj  (characters at the identity are 1)
    col = (net.za.sum(axis=1) * net.zb.sum(axis=1)) @ net.zc  # (k,)
    offdiag = float((col[1:] - dec.r_kkk[1:]).real.sum())
    res = dec.residuals()
    return {
        "diag": float(dec.r_kkk[1:].real.sum()),
        "offdiag": offdiag,
        "offdiag_norm": res["R_c"],
        "r_kkk_residual": res["r_kkk"],
        "R_c": res["R_c"],
        "R_n": res["R_n"],
        "R_*": res["R_*"],
        "loss": dec.loss,
        "d": float(d),
    }


def block_monomials(cols: np.ndarray) -> np.ndarray:
    """The :data:`MONOMIALS` of each node of a block: ``cols`` ``(3, q)`` → ``(q, 10)``."""
    a, b, c = np.asarray(cols, dtype=np.complex128)
    ac, bc = np.conj(a), np.conj(b)
    return np.stack(
        [
            a * b * c,
            a * bc * c,
            ac * b * c,
            ac * bc * c,
            a * a * c,
            ac * ac * c,
            b * b * c,
            bc * bc * c,
            np.abs(a) ** 2 * c,
            np.abs(b) ** 2 * c,
        ],
        axis=-1,
    )


# =============================================================================================
# constructions
def _complex_pair(shape: tuple[int, ...], k: int) -> int:
    d = math.prod(shape)
    _, neg = _characters(shape)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 < int(k) < d:
        raise ConfigError(f"k: must be a character index in 1..{d - 1}, got {k!r}")
    if neg[int(k)] == int(k):
        raise ConfigError(
            f"k: character {k} is self-conjugate (2k = 0); this construction needs complex "
            f"coefficients (use z_polar there)"
        )
    return int(k)


def _normalised(cols: np.ndarray) -> np.ndarray:
    """Scale the ``c`` row so that ``r_kkk = Σ_j a_j b_j c_j = 1``."""
    cols = np.array(cols, dtype=np.complex128)
    T = (cols[0] * cols[1] * cols[2]).sum()
    cols[2] /= T
    return cols


def _syn_cols() -> np.ndarray:
    w = _OMEGA3 ** np.arange(3)
    return np.stack([w, w, w])


def _nu_cols(nu: complex) -> np.ndarray:
    nu = complex(nu)
    if nu == 0:
        raise ConfigError("nu: must be non-zero")
    return np.array([[1, nu], [1, -nu], [1, -(nu**-2)]], dtype=np.complex128)


def _xi_cols(xi: complex) -> np.ndarray:
    xi = complex(xi)
    if xi == 0:
        raise ConfigError("xi: must be non-zero")
    return np.array([[1, xi], [1, -1j / xi], [1, 1j]], dtype=np.complex128)


def _kr(Y: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Column-wise Kronecker product of two blocks (node ``(l, j)`` at ``l·m + j``)."""
    return (Y[:, :, None] * X[:, None, :]).reshape(3, -1)


def z_syn(group: object, k: int, *, normalise: bool = True) -> CogsNet:
    """The order-3 partial solution ``z_syn`` on the pair ``{k, −k}`` (``r_kkk = 1`` if
    ``normalise``, else 3): kills R_c and R_n, not R_*."""
    shape = cyclic_shape(group)
    cols = _syn_cols()
    return single_frequency(
        shape, _complex_pair(shape, k), _normalised(cols) if normalise else cols
    )


def z_nu(group: object, k: int, nu: complex = 1j, *, normalise: bool = True) -> CogsNet:
    """The order-2 partial solution ``z_ν``: nodes ``(1, 1, 1), (ν, −ν, −ν^{−2})`` at ``k``
    (``r_kkk = 2``, or 1 if ``normalise``)."""
    shape = cyclic_shape(group)
    cols = _nu_cols(nu)
    return single_frequency(
        shape, _complex_pair(shape, k), _normalised(cols) if normalise else cols
    )


def z_xi(
    group: object, k: int, xi: complex = np.exp(1j * np.pi / 4), *, normalise: bool = True
) -> CogsNet:
    """The order-2 partial solution ``z_ξ``: nodes ``(1, 1, 1), (ξ, −i/ξ, i)`` at ``k`` (kills
    ``Σ z̄_a z̄_b z_c``; ``r_kkk = 2``, or 1 if ``normalise``)."""
    shape = cyclic_shape(group)
    cols = _xi_cols(xi)
    return single_frequency(
        shape, _complex_pair(shape, k), _normalised(cols) if normalise else cols
    )


def z_polar(group: object, k: int) -> CogsNet:
    """Order 2 at a self-conjugate character ``k`` (``2k = 0``): nodes ``(1, 1, ½), (1, −1, −½)``,
    an exact block (``r_kkk = 1``, nothing else)."""
    shape = cyclic_shape(group)
    _, neg = _characters(shape)
    d = math.prod(shape)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 < int(k) < d:
        raise ConfigError(f"k: must be a character index in 1..{d - 1}, got {k!r}")
    if neg[int(k)] != int(k):
        raise ConfigError(f"k: z_polar needs a self-conjugate character (2k = 0), got {k}")
    return single_frequency(shape, int(k), np.array([[1, 1], [1, -1], [0.5, -0.5]]))


def _empty(shape: tuple[int, ...]) -> CogsNet:
    return CogsNet(np.zeros((3, 0, math.prod(shape)), dtype=np.complex128), shape)


def _f6_cols(nu: complex) -> np.ndarray:
    return _normalised(_kr(_nu_cols(nu), _syn_cols()))


def z_f6(group: object, nu: complex = 1j) -> CogsNet:
    """``z_F6 = Σ_k z_syn^{(k)} * z_ν^{(k)}`` on every frequency pair (6 nodes each) plus
    :func:`z_polar` on every self-conjugate character: an exact global solution with
    ``3(d−1)`` nodes for odd ``d`` (``3(d−1) − R`` with ``R`` self-conjugate characters)."""
    shape = cyclic_shape(group)
    net = _empty(shape)
    cols = _f6_cols(nu)
    for k in frequency_pairs(shape):
        net = net + single_frequency(shape, int(k), cols)
    for k in self_conjugate(shape):
        net = net + z_polar(shape, int(k))
    return net


def z_syn_all(group: object) -> CogsNet:
    """``z_syn`` on every frequency pair (no node at self-conjugate characters): loss
    ``(d−1)/(2d)`` for odd ``d``, ``(d−1+R)/(2d)`` with ``R`` self-conjugate characters."""
    shape = cyclic_shape(group)
    net = _empty(shape)
    for k in frequency_pairs(shape):
        net = net + z_syn(shape, int(k))
    return net


def z_f46(
    group: object,
    k0: int | None = None,
    *,
    xi: complex = np.exp(1j * np.pi / 4),
    nu: complex = 1j,
) -> CogsNet:
    """``z_F4/6``: ``z_{ν=i} * z_ξ`` (order 4) on every frequency pair but ``k0``, ``z_syn * z_ν``
    (order 6) on ``k0`` (default: the first pair), :func:`z_polar` on self-conjugate characters;
    the six order-6 nodes also carry output coefficients at the other pairs that cancel the R_n
    sums of the order-4 blocks. ``2d`` nodes, loss 0 (module docstring).

    Raises:
        ConfigError: the group has no frequency pair, or ``k0`` is not one.
    """
    shape = cyclic_shape(group)
    d = math.prod(shape)
    pairs = [int(k) for k in frequency_pairs(shape)]
    _, neg = _characters(shape)
    if not pairs:
        raise ConfigError(f"group: z_f46 needs a character with k != -k; {shape} has none")
    if k0 is None:
        k0 = pairs[0]
    k0 = _complex_pair(shape, k0)
    if k0 not in pairs:
        k0 = int(neg[k0])
    six = _f6_cols(nu)  # (3, 6) at k0
    four = _normalised(_kr(_nu_cols(1j), _xi_cols(xi)))  # (3, 4)
    # input parts of the order-6 nodes' monomials (output coefficient 1): an output vector x at
    # another pair k must make T, C1..C3, S1..S4 vanish there, and Na + Nb cancel the 4-block's
    m = block_monomials(np.stack([six[0], six[1], np.ones(6)]))  # (6, 10)
    A8 = m[:, :8].T  # (8, 6)
    _, s, vh = np.linalg.svd(A8)
    x = vh[-1].conj()  # A8 @ x = 0 (bilinear)
    nx = (m[:, 8] + m[:, 9]) @ x
    if np.abs(A8 @ x).max() > 1e-9 * s[0] or abs(nx) < 1e-9 * s[0]:
        raise ConfigError(f"nu: the order-6 block with nu={nu!r} cannot cancel R_n (degenerate)")
    n4 = (block_monomials(four)[:, 8] + block_monomials(four)[:, 9]).sum()  # R_n of a 4-block
    z = np.zeros((3, 6, d), dtype=np.complex128)
    z[:, :, k0] = six
    z[:, :, neg[k0]] = np.conj(six)
    net = _empty(shape)
    for k in pairs:
        if k == k0:
            continue
        corr = -n4 / nx * x  # output coefficients of the six nodes at k
        z[2, :, k] = corr
        z[2, :, neg[k]] = np.conj(corr)
        net = net + single_frequency(shape, k, four)
    net = CogsNet(z, shape) + net
    for k in self_conjugate(shape):
        net = net + z_polar(shape, int(k))
    return net


def z_memorisation(group: object) -> CogsNet:
    """Perfect memorisation ``z_M = y * x`` with the order-``d`` partial solutions
    ``y_g = (χ̄_k(g), 1, χ_k(g))`` and ``x_h = (1, χ̄_k(h), χ_k(h))`` (all ``k``), scaled to
    ``r_kkk = 1``: ``d²`` nodes, node ``(g, h)`` the look-up ``W_a ∝ e_g``, ``W_b ∝ e_h``,
    ``W_out ∝ e_{g·h}``; loss 0."""
    shape = cyclic_shape(group)
    d = math.prod(shape)
    # χ_k(g) for all g (rows) and k (columns): synthesis of the unit vectors
    chi = _synth(np.eye(d, dtype=np.complex128), shape).T  # chi[g, k] = χ_k(g)
    ones = np.ones((d, d), dtype=np.complex128)
    y = CogsNet(np.stack([np.conj(chi), ones, chi]), shape)
    x = CogsNet(np.stack([ones, np.conj(chi), chi]), shape)
    return (y * x).scaled(1.0 / d**2)
