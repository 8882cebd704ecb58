"""Closed-form staircase prediction: which irreps are learned, in which order, and the loss
plateaus (docs/theory.md §2.2–2.4, P1 = Marchetti et al., arXiv 2602.03655, Theorem 4.1).

For a mean-zero template ``x`` on a group ``G`` of order ``n`` and sequence length ``k``, the
maximal AGF utility of a neuron supported on the real irrep ``π`` is (docs/theory.md §2.2)

    U*_π = k! · (k+1)^{-(k+1)/2} · (C_ρ d_ρ)^{-(k-1)/2} · (‖x̂[π]‖_op / √n)^{k+1},

with ``x̂[π] = Σ_g x(g) π(g)^T`` the real Fourier coefficient, ``d_ρ`` the degree of the complex
irrep ``ρ`` inside ``π`` and ``C_ρ d_ρ`` equal to the real dimension ``D`` of ``π`` in all three
Frobenius–Schur types:

* R (real type, ``D = d``): ``C = 1`` — [DERIVED+NUM] (docs/theory.md §2.2);
* C (complex type, ``π ≅ ρ ⊕ ρ̄``, ``D = 2d``): ``C = 2`` — [DERIVED+NUM] (docs/theory.md §2.2);
* H (quaternionic type, ``π ≅ ρ ⊕ ρ``, ``D = 2d``): effective ``C = 2``, i.e. ``C d = D = 2d``
  — [DERIVED+NUM], this module (docs/theory.md §2.2).

  Derivation. As ``ρ ≅ ρ̄``, ``U`` restricted to ``π`` has the single-irrep form of
  docs/theory.md §2.2, ``k! (d/n^{k+1}) Re tr(x̂^† ŵ û_1^† x̂ ⋯ û_k^† x̂)`` with
  ``‖u‖² = (d/n)‖û‖_F²``, exactly as for a real-type irrep of degree ``d``. The difference is the
  constraint: the complex coefficients of a *real* signal on a quaternionic ``ρ`` are
  quaternionic ``d × d`` matrices (they commute with ``ρ``'s antiunitary structure map ``J``,
  ``J² = −1``), so their singular values come in equal pairs and no coefficient has rank one.
  With ``σ = ‖x̂‖_op`` and the pairs ``t_{j,1} ≥ t_{j,2} ≥ …`` of the ``k+1`` free coefficients
  ``M_j``, von Neumann's trace inequality and Hölder give ``|tr(…)| ≤ σ^{k+1} Σ_i Π_j s_i(M_j)
  = 2 σ^{k+1} Σ_p Π_j t_{j,p} ≤ 2 σ^{k+1} Π_j ‖M_j‖_F/√2``, attained by aligned quaternionic
  rank-one coefficients (complex rank 2) with equal norms. Relative to the real-type bound
  ``σ^{k+1} Π_j ‖M_j‖_F`` this is a factor ``2^{-(k-1)/2}``: ``d → 2d = D``.

  Numerical check (``tests/unit/test_staircase.py``, ``tests/unit/test_utility.py``):
  brute-force projected gradient ascent (:func:`groupcomp.theory.maximize_utility`, 16–48
  restarts) on random templates concentrated on the 4-dim H-type irrep ``4a`` of ``Q8`` and of
  ``Dic3`` (SmallGroup(12,1)), ``k = 2, 3, 4``, reproduces the formula with ``C d = 4`` to
  ~1e-13 relative, while ``C d = d = 2`` would overestimate it by ``2^{(k-1)/2}``; on ``Q8``
  with powers ``(0, 1, 1, 1, 4)``, ``k = 3``, restarts end in both the 1-dim and the H basins,
  each at its closed-form value (ratio 1/4).

In short, ``C_ρ d_ρ = D`` (the real dimension) for every real irrep. The same brute-force check
confirms types R and C (D3 k=2,3; C5 k=2,3; C6 k=2,3 incl. the real Nyquist character; D4 k=3;
S4 k=2,3; A5 k=2; the C-type irrep of Dic3) to ≲1e-12.

Irreps are learned in decreasing order of ``U*_π`` (Theorem 4.1; not by power, cf.
docs/theory.md §2.3), irreps whose utilities agree to a relative gap below ``tie_rtol`` at the
same time (docs/theory.md §9). After the irreps ``I`` are learned the mean-MSE loss sits at
``(1/n) Σ_{π ∉ I} P(π)`` with ``P(π) = D ‖x̂[π]‖_F² / (e n)`` (docs/theory.md §2.4); the plateaus do
not depend on ``k``, only their order does. Complex-type irreps are learned together with their
conjugates automatically, as both live in the same real irrep.

The trivial irrep. The formula above needs a mean-zero template (P1's assumption 1). Its
trivial entry is reported as 0. For a template with a non-zero mean the non-trivial ``U*_π`` are
still the exact maxima over neurons supported on ``π`` (translation preserves isotypic components,
so such a neuron only sees the ``π``-component of ``x``), but a neuron can then mix the trivial
component with the others and the utility no longer splits over irreps (the lower-order terms of
``σ`` stop averaging out, docs/theory.md §1.2). [NUM] D3, ``fourier_template((0, 1, 1)) + 0.1``,
k=2: the brute-force maximum 0.3963 exceeds ``max_π U*_π = 0.3849`` and the best trivial-only
neuron, ``k^k (k+1)^{-(k+1)/2} (|Σ_g x(g)|/√n)^{k+1} = 0.0113``; for a large mean the
trivial-only neuron wins. :func:`predict_staircase` therefore refuses such
templates unless ``center=True``, which predicts the staircase of the mean-centred template
``x − mean(x)`` — a convenience, not a derived prediction for the uncentred task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from groupcomp import fourier
from groupcomp.errors import ConfigError
from groupcomp.groups.core import FiniteGroup
from groupcomp.groups.irreps import Irrep
from groupcomp.templates import check_template

__all__ = [
    "POWER_RTOL",
    "TIE_RTOL",
    "Staircase",
    "effective_dim",
    "irrep_utilities",
    "predict_staircase",
]

#: Relative utility gap below which two irreps count as learned simultaneously (docs/theory.md §9).
TIE_RTOL = 1e-6
#: An irrep whose power is at most ``POWER_RTOL · ‖x‖²`` counts as absent (never learned).
POWER_RTOL = 1e-12


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"k: expected an integer >= 1, got {k!r}")
    return int(k)


def _is_trivial(irrep: Irrep) -> bool:
    return irrep.dim == 1 and bool(np.all(irrep.matrices == 1.0))


def effective_dim(irrep: Irrep) -> int:
    """``C_ρ d_ρ`` of a real irrep: ``d`` (type R), ``2d`` (type C), ``2d`` (type H).

    Equals the real dimension ``D`` in all three cases; the H-type value is [DERIVED+NUM] (module
    docstring).
    """
    d = irrep.complex_dim
    return {"R": d, "C": 2 * d, "H": 2 * d}[irrep.type]


def _utilities_from_op_norms(
    irreps: list[Irrep], op_norms: np.ndarray, n: int, k: int
) -> np.ndarray:
    const = math.factorial(k) * (k + 1) ** (-(k + 1) / 2)
    cd = np.array([effective_dim(r) for r in irreps], dtype=np.float64)
    u = const * cd ** (-(k - 1) / 2) * (op_norms / math.sqrt(n)) ** (k + 1)
    for i, r in enumerate(irreps):
        if _is_trivial(r):
            u[i] = 0.0
    return u


def _op_norms(G: FiniteGroup, x: np.ndarray) -> np.ndarray:
    return np.array([np.linalg.norm(c, 2) for c in fourier.transform(G, x)], dtype=np.float64)


def irrep_utilities(G: FiniteGroup, template: np.ndarray, k: int) -> np.ndarray:
    """Closed-form maximal utility ``U*_π`` of every real irrep (``G.irreps()`` order).

    ``U*_π = k!·(k+1)^{-(k+1)/2}·(C_ρ d_ρ)^{-(k-1)/2}·(‖x̂[π]‖_op/√n)^{k+1}`` with ``C_ρ d_ρ = D``
    (types R, C and — [DERIVED+NUM] — H; see the module docstring). The utility is normalised as
    in docs/theory.md §1.3 (``U(θ) = (1/n^k) Σ_g ⟨f(x_g; θ), x_{g_1⋯g_k}⟩`` on ``‖θ‖ = 1``), so it
    equals ``max`` of :func:`groupcomp.theory.utility` over neurons supported on ``π``.

    The trivial irrep's entry is 0 (the formula assumes a mean-zero template; module docstring).

    Returns:
        ``(num_irreps,)`` float64.
    """
    k = _check_k(k)
    x = check_template(G, template)
    return _utilities_from_op_norms(G.irreps(), _op_norms(G, x), G.order, k)


@dataclass(frozen=True)
class Staircase:
    """Predicted learning staircase of a two-layer ``z^k`` network (docs/theory.md §2.3–2.4).

    Per-irrep arrays follow ``G.irreps()`` order; per-step lists follow ``order``.

    Attributes:
        group: group name.
        n: group order.
        k: sequence length.
        irrep_labels, dims, types, complex_dims: the real irreps' labels, real dimensions ``D``,
            Frobenius–Schur types (``"R"``, ``"C"``, ``"H"``) and complex degrees ``d``.
        powers: ``P(π) = D‖x̂[π]‖_F²/(e n)`` (sums to ``‖x‖²``).
        op_norms: ``‖x̂[π]‖_op``.
        utilities: ``U*_π`` (:func:`irrep_utilities`).
        order: the learning steps; step ``s`` is the list of irrep indices learned together
            (utilities within ``tie_rtol`` of the step's largest). Irreps with no power (and the
            trivial irrep) never appear.
        absent: indices of the irreps that are never learned (zero power, or trivial).
        ties: per step, ``True`` when several irreps are learned at once (a violation of P1's
            separation assumption).
        plateaus_mse: mean-MSE (``nn.MSELoss``) plateau levels, ``len(order) + 1`` values: the
            initial ``‖x‖²/n``, then after each step ``(1/n) Σ_{π not yet learned} P(π)``; the
            last is 0.
        plateaus_p1: the same in P1's normalisation ``L = (n/2) L_MSE``.
        drop_sizes_mse: per step, the mean-MSE drop ``(1/n) Σ_{π in step} P(π)``.
        tie_rtol: the tie threshold used.
        drop_times: reserved for the predicted drop times (docs/theory.md §2.5; not computed yet,
            always ``None``).
    """

    group: str
    n: int
    k: int
    irrep_labels: list[str]
    dims: list[int]
    types: list[str]
    complex_dims: list[int]
    powers: np.ndarray
    op_norms: np.ndarray
    utilities: np.ndarray
    order: list[list[int]]
    absent: list[int]
    ties: list[bool]
    plateaus_mse: list[float]
    plateaus_p1: list[float]
    drop_sizes_mse: list[float]
    tie_rtol: float = TIE_RTOL
    # Drop times (docs/theory.md §2.5: τ_s = c/((k+1) U*_s), optimiser-step versions) are a later
    # task.
    drop_times: list[float] | None = field(default=None)

    @property
    def num_steps(self) -> int:
        """Number of drops (learning steps)."""
        return len(self.order)

    @property
    def step_labels(self) -> list[list[str]]:
        """Irrep labels of each step."""
        return [[self.irrep_labels[i] for i in step] for step in self.order]

    @property
    def step_utilities(self) -> list[float]:
        """``U*`` of each step (the largest in the step)."""
        return [float(max(self.utilities[i] for i in step)) for step in self.order]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (plain Python ints, floats, strings, lists; ``None`` kept)."""
        return {
            "group": self.group,
            "n": self.n,
            "k": self.k,
            "irrep_labels": list(self.irrep_labels),
            "dims": [int(d) for d in self.dims],
            "types": list(self.types),
            "complex_dims": [int(d) for d in self.complex_dims],
            "powers": [float(p) for p in self.powers],
            "op_norms": [float(p) for p in self.op_norms],
            "utilities": [float(u) for u in self.utilities],
            "order": [[int(i) for i in step] for step in self.order],
            "order_labels": self.step_labels,
            "absent": [int(i) for i in self.absent],
            "ties": [bool(t) for t in self.ties],
            "plateaus_mse": [float(v) for v in self.plateaus_mse],
            "plateaus_p1": [float(v) for v in self.plateaus_p1],
            "drop_sizes_mse": [float(v) for v in self.drop_sizes_mse],
            "tie_rtol": float(self.tie_rtol),
            "drop_times": None if self.drop_times is None else [float(t) for t in self.drop_times],
        }

    def table(self) -> list[dict[str, Any]]:
        """One row per learning step, for printing (e.g. ``pandas.DataFrame(s.table())``).

        Keys: ``step`` (1-based), ``irreps`` (labels joined by ``"+"``), ``dims``, ``types``,
        ``utility`` (``U*`` of the step), ``utility_ratio`` (``U*_1 / U*``: how many times
        weaker than the first step; in the naive closed form this is also the drop-time ratio,
        docs/theory.md §2.5), ``power``, ``plateau_before_mse``, ``plateau_after_mse``,
        ``drop_mse``, ``tie``.
        """
        rows = []
        u_first = self.step_utilities[0] if self.order else 1.0
        for s, step in enumerate(self.order):
            u = self.step_utilities[s]
            rows.append(
                {
                    "step": s + 1,
                    "irreps": "+".join(self.irrep_labels[i] for i in step),
                    "dims": ",".join(str(self.dims[i]) for i in step),
                    "types": ",".join(self.types[i] for i in step),
                    "utility": u,
                    "utility_ratio": u_first / u,
                    "power": float(sum(self.powers[i] for i in step)),
                    "plateau_before_mse": self.plateaus_mse[s],
                    "plateau_after_mse": self.plateaus_mse[s + 1],
                    "drop_mse": self.drop_sizes_mse[s],
                    "tie": self.ties[s],
                }
            )
        return rows

    def __str__(self) -> str:
        head = f"Staircase({self.group}, k={self.k}): plateau {self.plateaus_mse[0]:.6g}"
        lines = [head]
        for r in self.table():
            tie = "  [tie]" if r["tie"] else ""
            lines.append(
                f"  {r['step']}. {r['irreps']} (D={r['dims']}, {r['types']}) "
                f"U*={r['utility']:.6g} (x1/{r['utility_ratio']:.4g}) "
                f"-> {r['plateau_after_mse']:.6g}{tie}"
            )
        return "\n".join(lines)


def _group_ties(idx_sorted: list[int], u: np.ndarray, rtol: float) -> list[list[int]]:
    groups: list[list[int]] = []
    for i in idx_sorted:
        if groups and u[groups[-1][0]] - u[i] <= rtol * u[groups[-1][0]]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def predict_staircase(
    G: FiniteGroup,
    template: np.ndarray,
    k: int,
    *,
    center: bool = False,
    tie_rtol: float = TIE_RTOL,
) -> Staircase:
    """Predict the order of learning and the loss plateaus (P1 Theorem 4.1; docs/theory.md
    §2.3–2.4).

    Irreps are ranked by the closed-form utility ``U*_π`` (:func:`irrep_utilities`), **not** by
    power (e.g. D3, k=2, powers (0, 1000, 3000): the sign irrep is learned first). Irreps whose
    ``U*`` is within ``tie_rtol`` (relative) of the step's largest are learned together.

    Args:
        G: the group.
        template: ``(n,)`` mean-zero template.
        k: sequence length (``≥ 1``; the task needs ``k ≥ 2``).
        center: predict for ``x − mean(x)`` when the template has a non-zero mean (otherwise such
            templates raise; see the module docstring).
        tie_rtol: relative tie threshold (default ``TIE_RTOL = 1e-6``).

    Raises:
        ConfigError: ``k < 1``; non-finite template; non-zero mean and ``center=False``.
        ShapeError: template of the wrong shape.

    P1's D3 setting: powers ``(0, 30, 3000)`` on (trivial, sign, rot1), ``k = 2``. The plateau
    before any drop is the template's energy over ``n`` (``3030 / 6 = 505``); learning rot1
    removes its share, then sign:

    >>> from groupcomp.groups import dihedral
    >>> from groupcomp.templates import fourier_template
    >>> G = dihedral(3)
    >>> s = predict_staircase(G, fourier_template(G, [0, 30, 3000]), k=2)
    >>> [[s.irrep_labels[i] for i in grp] for grp in s.order], s.plateaus_mse
    ([['rot1'], ['sign']], [505.0, 5.0, 0.0])
    >>> round(float(s.step_utilities[0] / s.step_utilities[1]), 2)  # U*_rot1 / U*_sign
    88.39
    """
    k = _check_k(k)
    x = check_template(G, template)
    n = G.order
    irreps = G.irreps()
    powers = np.asarray(fourier.power(G, x), dtype=np.float64)
    total = float(powers.sum())
    triv = [i for i, r in enumerate(irreps) if _is_trivial(r)]
    if triv and powers[triv[0]] > POWER_RTOL * total:
        if not center:
            raise ConfigError(
                f"template: has non-zero mean {x.mean():.6g}; the staircase theory assumes a "
                "mean-centred template (P1 assumption 1). Pass center=True to predict for "
                "x - mean(x), or centre the template."
            )
        x = x - x.mean()
        powers = np.asarray(fourier.power(G, x), dtype=np.float64)
        total = float(powers.sum())
    op = _op_norms(G, x)
    u = _utilities_from_op_norms(irreps, op, n, k)

    present = [
        i
        for i, r in enumerate(irreps)
        if not _is_trivial(r) and powers[i] > POWER_RTOL * total and u[i] > 0.0
    ]
    absent = [i for i in range(len(irreps)) if i not in present]
    ranked = sorted(present, key=lambda i: (-u[i], i))
    order = _group_ties(ranked, u, tie_rtol)

    remaining = float(sum(powers[i] for i in present))
    plateaus = [remaining / n]
    drops = []
    for step in order:
        p = float(sum(powers[i] for i in step))
        drops.append(p / n)
        remaining -= p
        plateaus.append(max(remaining, 0.0) / n)
    if order:
        plateaus[-1] = 0.0  # exact: everything with power has been learned

    return Staircase(
        group=G.name,
        n=n,
        k=k,
        irrep_labels=[r.label for r in irreps],
        dims=[r.dim for r in irreps],
        types=[r.type for r in irreps],
        complex_dims=[r.complex_dim for r in irreps],
        powers=powers,
        op_norms=op,
        utilities=u,
        order=order,
        absent=absent,
        ties=[len(step) > 1 for step in order],
        plateaus_mse=plateaus,
        plateaus_p1=[v * n / 2 for v in plateaus],
        drop_sizes_mse=drops,
        tie_rtol=float(tie_rtol),
    )
