r"""CoGS analysis of trained networks: which algebraic construction each frequency uses.

The maths is in :mod:`groupcomp.theory.cogs` (Y. Tian, CoGS, arXiv 2410.01779; docs/theory.md
§5); this module applies it to networks and to run folders.

**Blocks.** Each hidden node ``j`` is assigned to the frequency pair ``{k, −k}`` where its input
coefficient ``|z_{akj}|`` is largest (over one representative per pair, the trivial character
included), if that maximum exceeds ``threshold`` (the paper's 0.05, on the same scale: ``z_a`` is
``(1/d) Σ_g W_a[j, g] χ̄_k(g)``, unaffected by the output normalisation). The nodes assigned to
``k`` form its *block*. The *order* of ``k`` is the paper's count, the number of nodes with
``|z_{akj}| > threshold`` (a node can count at several frequencies; the paper's ``sol_distri.py``
and Fig. 4): :func:`solution_orders` / :func:`order_histogram` count it **once per frequency
pair** (``k`` and ``−k`` have the same order for real weights).

**Factorisation.** A block of ``q = 2m`` nodes with coefficients ``(a_j, b_j, c_j)`` at ``k``
factorises as ``y * x`` (``y`` of order 2, ``x`` of order ``m``) when its nodes can be arranged
in a ``2 × m`` grid with node ``(l, i)`` equal to ``y_l * x_i``. The test is done on the ten
monomials of :data:`~groupcomp.theory.cogs.MONOMIALS` (``a b c``, ``a b̄ c``, …, ``|b|² c``),
which are invariant under the symmetries of a node (``(a, b, c) → (ta, tb, c/t²)``, ``t`` real,
sign flips included) and multiplicative under ``*``; their sums over the block are the block's
sum potentials. For every arrangement (3 for ``q = 4``, 60 for ``q = 6``, up to symmetry) each
monomial's ``2 × m`` matrix should have rank one; the **residual** is
``√(Σ_t σ_2(M_t)²) / √(Σ_t ‖M_t‖²)`` of the best arrangement (0 for an exact product, ≤ 1).
The rank-one factors give each factor's own sums, up to a scale per monomial, so whether a
factor *kills* a monomial (``|Σ| ≤ kill_tol · Σ|·|``) is well defined. Kinds:

* ``order-6`` — 6 nodes, residual ≤ ``tol``; ``factors = "z_nu*z_syn"`` when the order-3 factor
  kills R_c and R_n (``C1, C2, C3, Na, Nb``: ``z_syn``) and the product kills R_*;
  ``"z_nu=i*z_syn_ab"`` when the order-2 factor kills ``C1, C2, S1..S4`` (``z_{ν=i}``) and the
  order-3 one ``C3, Na, Nb`` (a ``z_syn`` with free phases on one row; the authors'
  ``factorize_sol.py`` names it too); ``"2x3"`` for another exact product;
* ``order-4`` — 4 nodes, residual ≤ ``tol``; ``factors = "z_nu*z_xi"`` when one factor kills
  ``C1, C2`` and ``S1..S4`` (``z_{ν=i}``) and the other ``C3`` (``z_ξ``), else ``"2x2"``;
* ``indecomposable`` — 4 or 6 nodes, residual > ``tol``;
* ``order-3`` — 3 nodes (``factors = "z_syn"`` when they kill R_c and R_n: the solution found
  without the R_* term); ``empty`` — no node; ``other`` — any other number of nodes.

The paper's table (``q = 512``, weight decay 5e-5; ``factorize_sol.py``) reports, over the blocks
of 4 or 6 nodes, the share that does not factorise, and over the factorisable ones the shares of
order 4 and order 6 and of the named types: :meth:`Factorisation.paper_shares`. Its error column
is a different quantity (the spread of ratios between the two halves of a block), so only the
shares are comparable. Tolerances: ``tol`` (:data:`RESIDUAL_TOL`) and ``kill_tol``
(:data:`KILL_TOL`, the 0.1 of the authors' component checks); trained networks are not exact
(weight decay shrinks ``r_kkk`` below 1), so a block can miss a named type by a few per cent.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from groupcomp.errors import ConfigError
from groupcomp.theory.cogs import (
    MONOMIALS,
    CogsNet,
    block_monomials,
    cyclic_shape,
    frequency_pairs,
    loss_decomposition,
    self_conjugate,
    sp_summary,
)

__all__ = [
    "FACTOR_TYPES",
    "KINDS",
    "KILL_TOL",
    "RESIDUAL_TOL",
    "THRESHOLD",
    "Block",
    "Factorisation",
    "factorize",
    "factorize_block",
    "factorize_run",
    "order_histogram",
    "run_networks",
    "solution_orders",
    "sp_dynamics",
]

#: the paper's activity threshold on ``|z_{akj}|`` (``sol_distri.py``)
THRESHOLD = 0.05
#: largest relative rank-one residual of a factorisable block
RESIDUAL_TOL = 0.05
#: a sum counts as zero when ``|Σ| <= KILL_TOL · Σ|·|`` (the paper's code checks its
#: components with the same 0.1)
KILL_TOL = 0.1
#: block kinds, in report order
KINDS: tuple[str, ...] = ("order-4", "order-6", "indecomposable", "order-3", "other", "empty")

_IDX = {name: i for i, name in enumerate(MONOMIALS)}
_RC = ("C1", "C2", "C3")
_RSTAR = ("S1", "S2", "S3", "S4")
_RN = ("Na", "Nb")
#: the named exact types: order 4, then the two order-6 ones
FACTOR_TYPES: tuple[str, ...] = ("z_nu*z_xi", "z_nu*z_syn", "z_nu=i*z_syn_ab")


def _check_threshold(threshold: float) -> float:
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not (math.isfinite(threshold) and threshold > 0)
    ):
        raise ConfigError(f"threshold: must be a number > 0, got {threshold!r}")
    return float(threshold)


def _check_tol(tol: float, key: str) -> float:
    if (
        isinstance(tol, bool)
        or not isinstance(tol, int | float)
        or not (math.isfinite(tol) and 0 < tol < 1)
    ):
        raise ConfigError(f"{key}: must be a number in (0, 1), got {tol!r}")
    return float(tol)


# =============================================================================================
# orders (the paper's histogram)
def _representatives(shape: tuple[int, ...]) -> np.ndarray:
    """Frequency pairs, then self-conjugate characters (ascending index)."""
    return np.sort(np.concatenate([frequency_pairs(shape), self_conjugate(shape)]))


def solution_orders(net: CogsNet, threshold: float = THRESHOLD) -> dict[int, int]:
    """The paper's per-frequency order: ``{k: number of nodes with |z_{akj}| > threshold}``, one
    entry per frequency pair ``{k, −k}`` (and per self-conjugate character), trivial one
    excluded."""
    threshold = _check_threshold(threshold)
    reps = _representatives(net.shape)
    counts = (np.abs(net.za[:, reps]) > threshold).sum(axis=0)
    return {int(k): int(c) for k, c in zip(reps, counts, strict=True)}


def order_histogram(nets: CogsNet | list[CogsNet], threshold: float = THRESHOLD) -> dict[int, int]:
    """``{order: number of frequency pairs with that order}`` pooled over ``nets`` (the
    paper's Fig. 4 counts each pair ``{k, −k}`` once)."""
    if isinstance(nets, CogsNet):
        nets = [nets]
    c: Counter[int] = Counter()
    for net in nets:
        c.update(solution_orders(net, threshold).values())
    return dict(sorted(c.items()))


# =============================================================================================
# factorisation of one block
def _grids(q: int) -> np.ndarray:
    """All ``2 × m`` arrangements of ``q = 2m`` nodes up to swapping the rows: ``(n, 2, m)``."""
    m = q // 2
    out = []
    for rest in itertools.combinations(range(1, q), m - 1):
        row0 = (0, *rest)
        row1 = [j for j in range(q) if j not in row0]
        for perm in itertools.permutations(row1):
            out.append((row0, perm))
    return np.asarray(out, dtype=np.int64)


def _killed(values: np.ndarray, kill_tol: float) -> bool:
    scale = float(np.abs(values).sum())
    return scale == 0.0 or abs(values.sum()) <= kill_tol * scale


def _kill_set(values: np.ndarray, kill_tol: float) -> frozenset[str]:
    """Monomials whose sum over the nodes vanishes; ``values``: ``(n, 10)``."""
    return frozenset(t for t, i in _IDX.items() if _killed(values[:, i], kill_tol))


@dataclass(frozen=True)
class _Fit:
    residual: float
    grid: np.ndarray  # (2, m) node positions in the block
    y: np.ndarray  # (2, 10) order-2 factor's monomials (scale per type arbitrary)
    x: np.ndarray  # (m, 10)


def _best_grid(mono: np.ndarray) -> _Fit:
    q = mono.shape[0]
    grids = _grids(q)
    M = mono[grids]  # (n, 2, m, 10)
    M = np.moveaxis(M, -1, 1)  # (n, 10, 2, m)
    s = np.linalg.svd(M, compute_uv=False)  # (n, 10, 2)
    total = float((np.abs(mono) ** 2).sum())
    res = np.sqrt((s[..., 1:] ** 2).sum(axis=(1, 2)) / total) if total > 0 else np.zeros(len(grids))
    best = int(np.argmin(res))
    u, sv, vh = np.linalg.svd(M[best])  # (10, 2, 2), (10, 2), (10, m, m)
    y = u[:, :, 0].T  # (2, 10)
    x = (sv[:, 0:1] * vh[:, 0, :]).T  # (m, 10)
    return _Fit(float(res[best]), grids[best], y, x)


def factorize_block(
    cols: np.ndarray, *, tol: float = RESIDUAL_TOL, kill_tol: float = KILL_TOL
) -> dict[str, Any]:
    """Classify one block (``cols``: ``(3, q)`` coefficients ``z_a, z_b, z_c`` at ``k``).

    Returns:
        ``kind`` (:data:`KINDS`), ``factors`` (``"z_nu*z_xi"``, ``"z_nu*z_syn"``, ``"z_syn"``,
        ``"2x2"``, ``"2x3"`` or ``""``), ``residual`` (relative rank-one residual of the best
        ``2 × q/2`` arrangement; NaN when ``q`` is not 4 or 6), ``grid`` (the arrangement, node
        positions in ``cols``), ``kills`` (monomials whose block sum vanishes) and
        ``factor_kills`` (per factor).
    """
    tol = _check_tol(tol, "tol")
    kill_tol = _check_tol(kill_tol, "kill_tol")
    cols = np.asarray(cols, dtype=np.complex128)
    q = cols.shape[1]
    mono = block_monomials(cols)
    out: dict[str, Any] = {
        "kind": "empty" if q == 0 else "other",
        "factors": "",
        "residual": float("nan"),
        "grid": None,
        "kills": sorted(_kill_set(mono, kill_tol), key=_IDX.get) if q else [],
        "factor_kills": [],
    }
    if q == 3:
        out["kind"] = "order-3"
        if set(_RC + _RN) <= set(out["kills"]):
            out["factors"] = "z_syn"
    if q not in (4, 6):
        return out
    fit = _best_grid(mono)
    ky, kx = _kill_set(fit.y, kill_tol), _kill_set(fit.x, kill_tol)
    out.update(
        residual=fit.residual,
        grid=fit.grid.tolist(),
        factor_kills=[sorted(ky, key=_IDX.get), sorted(kx, key=_IDX.get)],
    )
    if fit.residual > tol:
        out["kind"] = "indecomposable"
        return out
    nu_i = set(("C1", "C2") + _RSTAR)  # what z_{nu=i} kills
    if q == 6:
        out["kind"] = "order-6"
        if set(_RC + _RN) <= kx and set(_RSTAR) <= (kx | ky):
            out["factors"] = "z_nu*z_syn"
        elif nu_i <= ky and {"C3", *_RN} <= kx:
            out["factors"] = "z_nu=i*z_syn_ab"
        else:
            out["factors"] = "2x3"
    else:
        out["kind"] = "order-4"
        match = (nu_i <= ky and "C3" in kx) or (nu_i <= kx and "C3" in ky)
        out["factors"] = "z_nu*z_xi" if match else "2x2"
    return out


# =============================================================================================
# factorisation of a network
def _label(k: int, shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return str(k)
    return "(" + ",".join(str(int(i)) for i in np.unravel_index(k, shape)) + ")"


@dataclass(frozen=True)
class Block:
    """One frequency pair of a network (see the module docstring).

    Attributes:
        k: representative character index; label: ``"3"`` or ``"(0,1)"`` for products.
        self_conjugate: ``k = −k`` (a real character; no factorisation attempted).
        nodes: hidden nodes assigned to ``k``. order: the paper's count at ``k``.
        kind, factors, residual, kills, factor_kills: :func:`factorize_block` of ``nodes``.
        loss_k: ``|1 − r_kkk|² + E_c + E_n + E_*`` of the **whole** network at ``k`` (Theorem 1;
            the network's loss is ``(1/d) Σ_{k≠0} loss_k``, a pair counting twice).
    """

    k: int
    label: str
    self_conjugate: bool
    nodes: tuple[int, ...]
    order: int
    kind: str
    factors: str
    residual: float
    kills: tuple[str, ...]
    factor_kills: tuple[tuple[str, ...], ...]
    loss_k: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["nodes"] = " ".join(map(str, self.nodes))
        d["kills"] = " ".join(self.kills)
        d["factor_kills"] = " | ".join(" ".join(f) for f in self.factor_kills)
        return d


@dataclass(frozen=True)
class Factorisation:
    """All blocks of one network, with its Theorem-1 loss and constraint residuals."""

    d: int
    shape: tuple[int, ...]
    threshold: float
    tol: float
    loss: float
    residuals: dict[str, float]
    blocks: tuple[Block, ...]
    unassigned: int = 0  #: active nodes whose strongest input frequency is the trivial one
    inactive: int = 0  #: nodes below the threshold at every frequency
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def pairs(self) -> list[Block]:
        """The blocks of frequency pairs (``k ≠ −k``): the paper's frequencies for odd ``d``."""
        return [b for b in self.blocks if not b.self_conjugate]

    def shares(self) -> dict[str, float]:
        """Fraction of frequency pairs of each kind (:data:`KINDS`)."""
        pairs = self.pairs
        c = Counter(b.kind for b in pairs)
        n = max(len(pairs), 1)
        return {kind: c.get(kind, 0) / n for kind in KINDS}

    def paper_shares(self) -> dict[str, float]:
        """As the paper's table: ``indecomposable`` = share of the blocks of 4 or 6 nodes that do
        not factorise; among the factorisable ones the shares of ``order-4`` and ``order-6`` and
        of each named type (:data:`FACTOR_TYPES`; the paper finds only ``z_nu*z_xi`` for order 4
        and ``z_nu*z_syn`` for order 6); ``residual`` = their mean residual."""
        c46 = [b for b in self.pairs if b.kind in ("order-4", "order-6", "indecomposable")]
        fact = [b for b in c46 if b.kind != "indecomposable"]
        nf = len(fact)
        nan = float("nan")

        def share(pred) -> float:
            return sum(bool(pred(b)) for b in fact) / nf if nf else nan

        return {
            "indecomposable": (len(c46) - nf) / len(c46) if c46 else nan,
            "order-4": share(lambda b: b.kind == "order-4"),
            "order-6": share(lambda b: b.kind == "order-6"),
            **{name: share(lambda b, n=name: b.factors == n) for name in FACTOR_TYPES},
            "residual": float(np.mean([b.residual for b in fact])) if nf else nan,
        }

    def table(self) -> pd.DataFrame:
        """One row per block."""
        return pd.DataFrame([b.to_dict() for b in self.blocks])

    def to_dict(self) -> dict[str, Any]:
        return {
            "d": self.d,
            "shape": list(self.shape),
            "threshold": self.threshold,
            "tol": self.tol,
            "loss": self.loss,
            "residuals": self.residuals,
            "shares": self.shares(),
            "paper_shares": self.paper_shares(),
            "unassigned": self.unassigned,
            "inactive": self.inactive,
            **self.meta,
        }


def factorize(
    net: CogsNet,
    *,
    threshold: float = THRESHOLD,
    tol: float = RESIDUAL_TOL,
    kill_tol: float = KILL_TOL,
) -> Factorisation:
    """Assign nodes to frequencies and classify every frequency's block (module docstring)."""
    threshold = _check_threshold(threshold)
    tol = _check_tol(tol, "tol")
    shape = net.shape
    reps = _representatives(shape)
    cand = np.concatenate([[0], reps])
    mag = np.abs(net.za[:, cand])  # (q, n_cand)
    best = cand[np.argmax(mag, axis=1)] if net.order else np.zeros(0, dtype=np.int64)
    active = mag.max(axis=1) > threshold if net.order else np.zeros(0, dtype=bool)
    dec = loss_decomposition(net)
    per_k = dec.target + dec.r_c + dec.r_n + dec.r_star
    orders = solution_orders(net, threshold)
    sc = set(int(k) for k in self_conjugate(shape))
    blocks = []
    for k in reps:
        k = int(k)
        nodes = np.flatnonzero(active & (best == k))
        if k in sc:
            info = {"kind": "other" if len(nodes) else "empty", "factors": "", "residual": np.nan}
            info.update(kills=[], factor_kills=[])
        else:
            info = factorize_block(net.z[:, nodes, k], tol=tol, kill_tol=kill_tol)
        blocks.append(
            Block(
                k=k,
                label=_label(k, shape),
                self_conjugate=k in sc,
                nodes=tuple(int(j) for j in nodes),
                order=orders[k],
                kind=info["kind"],
                factors=info["factors"],
                residual=float(info["residual"]),
                kills=tuple(info["kills"]),
                factor_kills=tuple(tuple(f) for f in info["factor_kills"]),
                loss_k=float(per_k[k]),
            )
        )
    return Factorisation(
        d=net.d,
        shape=shape,
        threshold=threshold,
        tol=tol,
        loss=dec.loss,
        residuals=dec.residuals(),
        blocks=tuple(blocks),
        unassigned=int((active & (best == 0)).sum()),
        inactive=int((~active).sum()),
    )


# =============================================================================================
# run folders
def _check_run(run: Any) -> tuple[int, ...]:
    if getattr(run, "kind", None) != "arith":
        raise ConfigError(
            f"{getattr(run, 'path', run)}: CoGS analysis needs an arith run "
            f"(groupcomp arith), got kind {getattr(run, 'kind', None)!r}"
        )
    cfg = run.config
    m = cfg.model
    problems = []
    if int(cfg.task.k) != 2:
        problems.append(f"task.k={cfg.task.k} (needs 2)")
    if str(m.activation) not in ("square", "sqr", "ArithActivation.square"):
        problems.append(f"model.activation={m.activation} (needs square)")
    if str(m.embedding) not in ("onehot", "Embedding.onehot") or int(m.layers) != 1:
        problems.append("model.embedding=onehot and model.layers=1 needed")
    task = run.task
    op = getattr(task, "kind", "compose")
    if op == "mul_all" or getattr(task, "operand_group", None) is None:
        problems.append(f"task.op={op} has no operand group")
    if problems:
        raise ConfigError(f"{run.path}: not a CoGS network: " + "; ".join(problems))
    try:
        return cyclic_shape(task.operand_group)
    except ConfigError as exc:
        raise ConfigError(f"{run.path}: {exc}") from None


def run_networks(run: Any, step: int | None = None) -> list[tuple[int, CogsNet]]:
    """``[(seed, CogsNet), …]`` of the arith run ``run`` (a :class:`~groupcomp.runs.LoadedRun`)
    at checkpoint ``step`` (default: the last)."""
    shape = _check_run(run)
    model = run.model(step)
    seeds = [int(s) for s in run.config.train.seeds]
    return [(seed, CogsNet.from_model(model, i, shape)) for i, seed in enumerate(seeds)]


def _epoch_of(run: Any, step: int) -> float:
    m = run.metrics
    if "epoch" not in m.columns:
        return float(step)
    rows = m.loc[m["step"] == step, "epoch"]
    return float(rows.iloc[0]) if len(rows) else float("nan")


def factorize_run(
    run: Any,
    step: int | None = None,
    *,
    threshold: float = THRESHOLD,
    tol: float = RESIDUAL_TOL,
    kill_tol: float = KILL_TOL,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[int, Factorisation]]:
    """Factorise every seed of ``run`` at ``step`` (default: the last checkpoint).

    Returns:
        ``(blocks, seeds, factorisations)``: one row per (seed, frequency) with the block's
        kind, factors, residual and ``loss_k``; one row per seed with the Theorem-1 loss on all
        pairs, the constraint residuals and the shares of each kind (``share/<kind>``, over
        frequency pairs) and the paper-table shares (``paper/<key>``); the
        :class:`Factorisation` of each seed.
    """
    step = run.checkpoint_steps[-1] if step is None and run.checkpoint_steps else step
    nets = run_networks(run, step)
    epoch = _epoch_of(run, int(step))
    rows, seed_rows, facts = [], [], {}
    for seed, net in nets:
        f = factorize(net, threshold=threshold, tol=tol, kill_tol=kill_tol)
        facts[seed] = f
        for b in f.blocks:
            rows.append({"run": run.path.name, "seed": seed, "step": step, **b.to_dict()})
        row = {
            "run": run.path.name,
            "seed": seed,
            "step": step,
            "epoch": epoch,
            "d": f.d,
            "hidden": net.order,
            "loss_all_pairs": f.loss,
            **{f"residual/{k}": v for k, v in f.residuals.items()},
            **{f"share/{k}": v for k, v in f.shares().items()},
            **{f"paper/{k}": v for k, v in f.paper_shares().items()},
            "unassigned": f.unassigned,
            "inactive": f.inactive,
        }
        seed_rows.append(row)
    return pd.DataFrame(rows), pd.DataFrame(seed_rows), facts


def sp_dynamics(run: Any, steps: list[int] | None = None) -> pd.DataFrame:
    """The paper's Fig. 3 numbers at each checkpoint (default: all): one row per
    (step, seed) with ``epoch`` and the columns of :func:`groupcomp.theory.cogs.sp_summary`
    (``diag`` → d−1, ``offdiag`` → 0, family residuals, loss on all pairs)."""
    _check_run(run)
    steps = list(run.checkpoint_steps) if steps is None else [int(s) for s in steps]
    rows = []
    for step in steps:
        epoch = _epoch_of(run, step)
        for seed, net in run_networks(run, step):
            rows.append({"step": step, "epoch": epoch, "seed": seed, **sp_summary(net)})
    return pd.DataFrame(rows)
