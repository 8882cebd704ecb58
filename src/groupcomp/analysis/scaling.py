r"""Width/depth scaling with the sequence length k: exact constructions versus trained networks.

docs/theory.md §3 (P1 §5-type results): a two-layer network needs a hidden width *exponential* in k,
an RNN composes in ``k − 1`` nonlinear steps at a width independent of k, and a multilayer (tree)
network composes adjacent pairs in parallel in ``⌈log₂ k⌉`` levels. This module puts numbers on
that, two ways:

* :func:`scaling_table` — the sizes of the explicit exact constructions
  (:func:`groupcomp.theory.exact_sizes`) for each k, the per-k growth factor of the two-layer
  width and a least-squares fit ``log₂ width ≈ a + b·k`` (in ``df.attrs``);
* :func:`smallest_trained_width` — by training: the smallest two-layer width, among given
  candidates, whose trained network reaches a target loss *relative to its initial loss*, found
  with a doubling-then-bisection search (few runs), the seeds of a width trained together as one
  batched model (:func:`groupcomp.runs.execute` with ``train.seeds=[...]``);
* :func:`scaling_experiment` — both, for ``k = 2..K``, as a :class:`ScalingResult`
  (``to_dict()`` for JSON; :func:`groupcomp.viz.scaling_figure` draws it).

The trained widths answer a different question from the constructions: training only sees the
``n^k`` translated inputs and stops after a fixed number of steps, while the constructions are
exact multilinear maps on *all* inputs. Trained widths can therefore lie below the construction
widths, and they depend on the step budget (more steps let smaller widths reach the target).
The monotonicity in the width that the search assumes is not guaranteed; ``search="all"``
trains every candidate and reports whether success was monotone.

Losses are mean-MSE (``torch.nn.MSELoss``); the relative loss of a seed is its final loss over
its loss at initialisation (step 0).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from groupcomp.errors import ConfigError, DivergenceError
from groupcomp.groups.core import FiniteGroup
from groupcomp.runs.folder import jsonable as _jsonable
from groupcomp.runs.progress import Progress
from groupcomp.theory.constructions import exact_sizes, irrep_terms

__all__ = [
    "DEFAULT_TRAINING",
    "ScalingResult",
    "default_template_overrides",
    "default_widths",
    "scaling_experiment",
    "scaling_table",
    "smallest_trained_width",
]

#: Training defaults of the width search, checked on D3 and C5 with a unit-power template
#: (``template.powers = [0, 1, …, 1]``, seeds 0–2): at these settings the median relative loss
#: at the exact-construction width is ≤ 1e-2 for k = 2, 3, 4 (k = 2, 3: ≤ 1e-3; k = 4 only just:
#: D3 7e-3, C5 8e-3), so the search has a meaningful upper end. Adam is used (not P1's
#: per-neuron SGD) because it needs no per-group lr tuning and converges in ~10³ steps from a
#: moderate initialisation. At k ≥ 4 the step budget binds: D3 k = 4 needs width 264 at 1000
#: steps but ≈ 198 at 3000 steps; pass ``steps={k: …}`` to :func:`scaling_experiment`.
DEFAULT_TRAINING: dict[str, Any] = {
    "optimizer": "adam",
    "lr": 3e-3,
    "init_scale": 0.1,
    "steps": 1000,
    "seeds": (0, 1, 2),
    "target": 1e-2,
    "criterion": "median",
}

#: multiples of the exact two-layer width used as default search candidates
_WIDTH_FRACTIONS = (1 / 8, 1 / 4, 3 / 8, 1 / 2, 5 / 8, 3 / 4, 7 / 8, 1.0, 5 / 4, 3 / 2, 2.0)

_CRITERIA: dict[str, Callable[[np.ndarray], float]] = {
    "median": lambda r: float(np.median(r)),
    "min": lambda r: float(np.min(r)),
    "max": lambda r: float(np.max(r)),
    "mean": lambda r: float(np.mean(r)),
}
_SEARCHES = ("gallop", "bisect", "all")


# --------------------------------------------------------------------------- exact table
def _check_ks(ks: Sequence[int]) -> list[int]:
    ks = list(ks)
    if not ks:
        raise ConfigError("ks: expected at least one sequence length k >= 2, got none")
    if not all(isinstance(k, int | np.integer) and not isinstance(k, bool) for k in ks):
        raise ConfigError(f"ks: every k must be an integer >= 2, got {ks!r}")
    out = [int(k) for k in ks]
    from groupcomp.config.loader import MAX_K

    if min(out) < 2 or max(out) > MAX_K:
        raise ConfigError(f"ks: every k must be an integer in 2..{MAX_K}, got {out}")
    if sorted(set(out)) != out:
        raise ConfigError(f"ks: expected strictly increasing values, got {out}")
    return out


def _loglinear_fit(ks: np.ndarray, values: np.ndarray) -> dict[str, float | None]:
    """Least squares ``log₂ v ≈ intercept + slope·k``; ``base = 2^slope`` (growth per unit k)."""
    if ks.shape[0] < 2:
        return {"slope_log2": None, "intercept_log2": None, "base": None, "r2": None}
    y = np.log2(values.astype(np.float64))
    slope, intercept = np.polyfit(ks.astype(np.float64), y, 1)
    resid = y - (intercept + slope * ks)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return {
        "slope_log2": float(slope),
        "intercept_log2": float(intercept),
        "base": float(2.0**slope),
        "r2": r2,
    }


def _asymptotic_base(G: FiniteGroup, template: np.ndarray) -> float:
    """Limit of ``H_{k+1}/H_k`` for ``H_k = 2^{k−1} Σ_π R_π(k)``: ``2·max_π D_π`` over type-R
    irreps with ``x̂[π] ≠ 0`` and ``2·max D_π/2`` over types C/H (their ``(k+1)`` prefactor is
    sub-exponential). docs/theory.md §3.2 / :mod:`groupcomp.theory.constructions`."""
    dims = [
        t.dim if t.type == "R" else t.dim // 2 for t in irrep_terms(G, template, 2) if not t.zero
    ]
    return 2.0 * max(dims)


def scaling_table(
    G: FiniteGroup, template: np.ndarray | Sequence[float], ks: Sequence[int]
) -> pd.DataFrame:
    """Exact-construction sizes for each sequence length in ``ks`` (nothing is built).

    One row per k with every key of :func:`groupcomp.theory.exact_sizes` as a column
    (``k, n, two_layer_width, two_layer_depth, two_layer_params, rnn_width, rnn_steps,
    rnn_params, tree_width, tree_depth, tree_params, tree_block_evals, tree_parallel_width``)
    plus

    * ``two_layer_width_ratio``: growth factor per unit k from the previous row,
      ``(H_k / H_{k'})^{1/(k−k')}`` (NaN in the first row);
    * ``two_layer_params_ratio``: the same for ``two_layer_params``;
    * ``rnn_width_ratio``: the same for ``rnn_width`` (1: independent of k).

    ``df.attrs`` holds ``group``, ``n``, ``ks`` and

    * ``two_layer_width_fit`` / ``two_layer_params_fit``: least squares
      ``log₂ H ≈ intercept_log2 + slope_log2·k`` with ``base = 2^slope_log2`` (growth per unit k)
      and ``r2`` (``None`` entries with a single k);
    * ``two_layer_asymptotic_base``: the limit of the per-k width ratio implied by the width
      formula, ``2·max D`` (type R) / ``2·max D/2`` (types C, H) over the irreps the template
      uses — e.g. 4 for D3 (the 2-dim irrep), 2 for ``C_p``.

    Raises:
        ConfigError: ``ks`` empty, not increasing or containing k < 2; a malformed template or a
            singular non-zero Fourier coefficient (see :func:`~groupcomp.theory.exact_sizes`).
    """
    ks = _check_ks(ks)
    x = np.asarray(template, dtype=np.float64)
    rows = [exact_sizes(G, x, k) for k in ks]
    df = pd.DataFrame(rows)
    cols = ["k"] + [c for c in df.columns if c != "k"]
    df = df[cols]
    karr = df["k"].to_numpy(dtype=np.float64)
    dk = np.diff(karr)
    for col in ("two_layer_width", "two_layer_params", "rnn_width"):
        v = df[col].to_numpy(dtype=np.float64)
        ratio = np.full(v.shape, np.nan)
        ratio[1:] = (v[1:] / v[:-1]) ** (1.0 / dk)
        df[f"{col}_ratio"] = ratio
    df.attrs = {
        "group": G.name,
        "n": int(G.order),
        "ks": ks,
        "two_layer_width_fit": _loglinear_fit(karr, df["two_layer_width"].to_numpy()),
        "two_layer_params_fit": _loglinear_fit(karr, df["two_layer_params"].to_numpy()),
        "two_layer_asymptotic_base": _asymptotic_base(G, x),
    }
    return df


# --------------------------------------------------------------------------- trained widths
def default_template_overrides(G: FiniteGroup) -> list[str]:
    """A normalised class-function template: power 0 on the trivial irrep and 1 on every other
    real irrep (``x̂[π] = c_π I``, all invertible), i.e. ``‖x‖² = (#irreps − 1)``."""
    powers = [0.0 if r.label == "trivial" else 1.0 for r in G.irreps()]
    return ["template.kind=powers", "template.powers=[" + ",".join(f"{p:g}" for p in powers) + "]"]


def default_widths(exact_width: int) -> list[int]:
    """Search candidates around an exact-construction width ``H``: ``⌈f·H⌉`` for
    ``f ∈ {1/8, 1/4, 3/8, 1/2, 5/8, 3/4, 7/8, 1, 5/4, 3/2, 2}`` (deduplicated, ≥ 1)."""
    if int(exact_width) < 1:
        raise ConfigError(f"exact_width: expected an integer >= 1, got {exact_width!r}")
    return sorted({max(1, math.ceil(f * int(exact_width) - 1e-9)) for f in _WIDTH_FRACTIONS})


def _group_spec(group: str | FiniteGroup) -> str:
    if isinstance(group, FiniteGroup):
        return group.name
    if not isinstance(group, str) or not group:
        raise ConfigError(f"group: expected a group spec such as 'D3' or 'C5', got {group!r}")
    return group


def _check_widths(widths: Sequence[int]) -> list[int]:
    try:
        out = sorted({int(w) for w in widths})
    except (TypeError, ValueError):
        raise ConfigError(f"widths: expected a sequence of integers >= 1, got {widths!r}") from None
    if not out or out[0] < 1:
        raise ConfigError(f"widths: expected a non-empty sequence of integers >= 1, got {widths!r}")
    return out


def _run_config(
    group: str,
    template_overrides: Sequence[str],
    k: int,
    hidden: int,
    seeds: Sequence[int],
    *,
    steps: int,
    lr: float,
    init_scale: float,
    optimizer: str,
    preset: str | None,
    base_overrides: Sequence[str],
):
    from groupcomp.config import load_config

    defaults = [
        f"group={group}",
        "model.name=two_layer",
        "model.activation=power",
        f"model.init_scale={init_scale!r}",
        f"optim.name={optimizer}",
        f"optim.lr={lr!r}",
        f"train.steps={int(steps)}",
        "train.log_points=2",
        "train.checkpoints=1",
        "train.progress=false",
    ]
    forced = [
        f"task.k={int(k)}",
        f"model.hidden={int(hidden)}",
        "train.seeds=[" + ",".join(str(int(s)) for s in seeds) + "]",
    ]
    return load_config(preset, [*defaults, *template_overrides, *base_overrides, *forced])


def _exact_width_of(cfg) -> int | None:
    from groupcomp.groups import parse
    from groupcomp.runs import build_template
    from groupcomp.theory.constructions import two_layer_width

    G = parse(cfg.group)
    try:
        return two_layer_width(G, build_template(cfg, G), int(cfg.task.k))
    except ConfigError:
        return None


def smallest_trained_width(
    group: str | FiniteGroup,
    template_overrides: Sequence[str] | None,
    k: int,
    widths: Sequence[int] | None = None,
    *,
    target: float = DEFAULT_TRAINING["target"],
    seeds: Sequence[int] = DEFAULT_TRAINING["seeds"],
    steps: int = DEFAULT_TRAINING["steps"],
    lr: float = DEFAULT_TRAINING["lr"],
    init_scale: float = DEFAULT_TRAINING["init_scale"],
    optimizer: str = DEFAULT_TRAINING["optimizer"],
    criterion: str = DEFAULT_TRAINING["criterion"],
    search: str = "gallop",
    preset: str | None = None,
    base_overrides: Sequence[str] = (),
    on_run: Callable[[dict[str, Any]], None] | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Smallest two-layer width (among ``widths``) whose trained network reaches ``target``.

    Each tried width is one :func:`groupcomp.runs.execute` call (``out=None``) with all
    ``seeds`` batched as one ensemble; a seed's *relative loss* is its final mean-MSE over its
    mean-MSE at initialisation, and the width *succeeds* when ``criterion`` (``median``, ``min``,
    ``max`` or ``mean`` over seeds) of the relative losses is ``≤ target``. A diverged run fails
    (relative loss ``inf``).

    Config: schema defaults ← ``preset`` ← the search's defaults (``group``, two-layer network
    with ``σ = z^k``, ``init_scale``, ``optimizer``, ``lr``, ``steps``, no logging) ←
    ``template_overrides`` ← ``base_overrides`` ← the searched keys ``task.k``, ``model.hidden``,
    ``train.seeds`` (always set by the search).

    Search over the sorted candidates (success is assumed monotone in the width):

    * ``"gallop"`` (default): try candidate indices 0, 1, 3, 7, … (the last one clamped) until one
      succeeds, then bisect between the last failure and it — ``O(log m)`` runs, cheap ones
      first;
    * ``"bisect"``: try the largest candidate, then bisect;
    * ``"all"``: train every candidate; the answer is the smallest width from which on every
      candidate succeeds (``monotone`` says whether success was monotone).

    With ``gallop`` / ``bisect`` the returned width ``w`` either is the smallest candidate or the
    next smaller candidate was trained and failed. Runs are deterministic for fixed seeds on CPU.

    Args:
        group: group spec (``"D3"``, ``"C5"`` …) or a group whose ``name`` parses.
        template_overrides: ``template.*=…`` overrides; ``None`` =
            :func:`default_template_overrides` (the preset's template when ``preset`` is given).
        k: sequence length.
        widths: candidate widths; ``None`` = :func:`default_widths` of the exact two-layer width.
        on_run: called with each run record as soon as it is done (progress reporting).
        quiet: no progress (otherwise :mod:`groupcomp.runs.progress`: runs done, the last
            width's relative loss; a status line every few seconds when stderr is not a
            terminal; an ETA with ``search="all"`` only, where the number of runs is known).

    Returns:
        A JSON-able dict: ``group, k, target, criterion, search, seeds, steps, lr, init_scale,
        optimizer, exact_width`` (construction width, ``None`` if the template has a singular
        coefficient), ``widths`` (candidates), ``smallest_width`` (``None`` if none succeeded),
        ``monotone`` (``None`` unless ``search="all"``), ``n_runs``, ``wall_time_s`` and
        ``runs``: one record per trained width in the order tried, with ``width``,
        ``rel_loss`` (the criterion's value), ``rel_loss_per_seed``, ``final_loss_per_seed``,
        ``initial_loss_per_seed``, ``success``, ``diverged``, ``wall_time_s``.

    Raises:
        ConfigError: bad ``widths``, ``target``, ``criterion``, ``search`` or config values.
    """
    from groupcomp.groups import parse
    from groupcomp.runs import execute as train

    spec = _group_spec(group)
    if criterion not in _CRITERIA:
        raise ConfigError(f"criterion: unknown {criterion!r}; allowed values: {sorted(_CRITERIA)}")
    if search not in _SEARCHES:
        raise ConfigError(f"search: unknown {search!r}; allowed values: {', '.join(_SEARCHES)}")
    if not (isinstance(target, int | float) and math.isfinite(target) and target > 0):
        raise ConfigError(f"target: expected a finite number > 0, got {target!r}")
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds: expected at least one seed, no duplicates; got {seeds}")
    if template_overrides is None:
        template_overrides = default_template_overrides(parse(spec)) if preset is None else []
    template_overrides = list(template_overrides)
    opts = dict(
        steps=steps,
        lr=lr,
        init_scale=init_scale,
        optimizer=optimizer,
        preset=preset,
        base_overrides=list(base_overrides),
    )
    probe_cfg = _run_config(spec, template_overrides, k, 1, seeds, **opts)
    exact = _exact_width_of(probe_cfg)
    if widths is None:
        if exact is None:
            raise ConfigError(
                "widths: no candidates given and the template has no exact construction "
                "(a singular Fourier coefficient); pass widths explicitly"
            )
        widths = default_widths(exact)
    cand = _check_widths(widths)
    agg = _CRITERIA[criterion]
    runs: list[dict[str, Any]] = []
    done: dict[int, bool] = {}
    t_start = time.perf_counter()
    bar = Progress(
        len(cand) if search == "all" else None,
        desc=f"width search k={int(k)}",
        unit="run",
        enabled=not quiet,
    )

    def ok(i: int) -> bool:
        w = cand[i]
        if w in done:
            return done[w]
        cfg = _run_config(spec, template_overrides, k, w, seeds, **opts)
        t0 = time.perf_counter()
        try:
            res = train(cfg, out=None, quiet=True)
            m = res.metrics
            init = m[m["step"] == 0].sort_values("seed")["loss"].to_numpy(dtype=np.float64)
            last = m[m["step"] == m["step"].max()].sort_values("seed")
            final = last["loss"].to_numpy(dtype=np.float64)
            order = np.argsort(np.argsort(seeds))  # metrics sorted by seed → seeds' order
            init, final = init[order], final[order]
            rel = np.where(np.isfinite(final), final / init, np.inf)
            diverged = False
        except DivergenceError:
            init = np.full(len(seeds), np.nan)
            final = np.full(len(seeds), np.inf)
            rel = np.full(len(seeds), np.inf)
            diverged = True
        value = agg(rel)
        success = bool(value <= target)
        rec = {
            "width": w,
            "rel_loss": value,
            "rel_loss_per_seed": rel.tolist(),
            "final_loss_per_seed": final.tolist(),
            "initial_loss_per_seed": init.tolist(),
            "success": success,
            "diverged": diverged,
            "wall_time_s": time.perf_counter() - t0,
        }
        runs.append(rec)
        if on_run is not None:
            on_run(rec)
        bar.set_postfix_str(f"width {w}: {'ok' if success else 'no'} ({value:.3g})")
        bar.update(1)
        done[w] = success
        return success

    with bar:
        best, monotone = _search(ok, len(cand), search)
    return _jsonable(
        {
            "group": spec,
            "k": int(k),
            "target": float(target),
            "criterion": criterion,
            "search": search,
            "seeds": seeds,
            "steps": int(probe_cfg.train.steps),
            "lr": float(probe_cfg.optim.lr),
            "init_scale": float(probe_cfg.model.init_scale),
            "optimizer": str(probe_cfg.optim.name),
            "exact_width": exact,
            "widths": cand,
            "smallest_width": cand[best] if best is not None else None,
            "monotone": monotone,
            "n_runs": len(runs),
            "wall_time_s": time.perf_counter() - t_start,
            "runs": runs,
        }
    )


def _search(ok: Callable[[int], bool], m: int, search: str) -> tuple[int | None, bool | None]:
    """The index of the smallest succeeding candidate of ``m`` (``None``: none) and, for
    ``search="all"``, whether success was monotone (see :func:`smallest_trained_width`)."""
    best: int | None = None
    monotone: bool | None = None
    if search == "all":
        flags = [ok(i) for i in range(m)]
        monotone = all(not a or b for a, b in zip(flags, flags[1:], strict=False))
        i = m
        while i > 0 and flags[i - 1]:
            i -= 1
        best = i if i < m else None
    else:
        lo, hi = -1, None  # largest index known to fail, smallest index known to succeed
        if search == "gallop":
            i = 0
            while True:
                if ok(i):
                    hi = i
                    break
                lo = i
                if i == m - 1:
                    break
                i = min(2 * i + 1, m - 1)
        elif ok(m - 1):
            hi = m - 1
        else:
            lo = m - 1
        if hi is not None:
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if ok(mid):
                    hi = mid
                else:
                    lo = mid
        best = hi
    return best, monotone


# --------------------------------------------------------------------------- experiment
@dataclass
class ScalingResult:
    """What :func:`scaling_experiment` returns.

    Attributes:
        group: the group spec.
        template: the template (float64, ``(n,)``) used by the table and by training.
        template_overrides: the ``template.*`` overrides it came from.
        table: :func:`scaling_table` (with its ``attrs``).
        trained: one row per trained k — ``k, exact_width, smallest_width`` (NaN when no
            candidate succeeded), ``smallest_over_exact``, ``max_width_tried``, ``n_runs``,
            ``wall_time_s`` — or ``None`` without training.
        searches: the full :func:`smallest_trained_width` dicts, one per trained k.
        settings: the training settings (``None`` without training).
    """

    group: str
    template: np.ndarray
    template_overrides: list[str]
    table: pd.DataFrame
    trained: pd.DataFrame | None = None
    searches: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``group, template, template_overrides, table`` (records), ``table_attrs``,
        ``trained`` (records or ``None``), ``searches``, ``settings`` (non-finite floats →
        ``None``)."""
        return _jsonable(
            {
                "group": self.group,
                "template": self.template.tolist(),
                "template_overrides": list(self.template_overrides),
                "table": self.table.to_dict(orient="records"),
                "table_attrs": dict(self.table.attrs),
                "trained": (
                    self.trained.to_dict(orient="records") if self.trained is not None else None
                ),
                "searches": self.searches,
                "settings": self.settings,
            }
        )


def _per_k(value: Any, k: int, what: str) -> Any:
    if isinstance(value, Mapping):
        if k not in value:
            raise ConfigError(f"{what}: no entry for k={k} (keys {sorted(value)})")
        return value[k]
    return value


def scaling_experiment(
    group: str | FiniteGroup,
    template_overrides: Sequence[str] | None = None,
    K: int = 5,
    *,
    ks: Sequence[int] | None = None,
    train: bool = False,
    train_ks: Sequence[int] | None = None,
    max_sequences: int = 2000,
    widths: Sequence[int] | Mapping[int, Sequence[int]] | None = None,
    steps: int | Mapping[int, int] = DEFAULT_TRAINING["steps"],
    target: float = DEFAULT_TRAINING["target"],
    seeds: Sequence[int] = DEFAULT_TRAINING["seeds"],
    lr: float = DEFAULT_TRAINING["lr"],
    init_scale: float = DEFAULT_TRAINING["init_scale"],
    optimizer: str = DEFAULT_TRAINING["optimizer"],
    criterion: str = DEFAULT_TRAINING["criterion"],
    search: str = "gallop",
    preset: str | None = None,
    base_overrides: Sequence[str] = (),
    on_run: Callable[[dict[str, Any]], None] | None = None,
    quiet: bool = False,
) -> ScalingResult:
    """The scaling experiment for ``k = 2..K`` (or ``ks``): exact-construction table and, with
    ``train=True``, the smallest trained two-layer width per k.

    Args:
        group: group spec (``"D3"``) or a group whose ``name`` parses.
        template_overrides: ``template.*=…`` overrides (``None`` =
            :func:`default_template_overrides`, or the preset's template when ``preset`` is
            given); the template is built from them exactly as a
            training run builds it (so table and training use the same template).
        K: largest sequence length (ignored when ``ks`` is given).
        train: run :func:`smallest_trained_width` as well.
        train_ks: which k to train (default: the k of the table with ``n^k ≤ max_sequences``,
            the exhaustive data set size).
        widths: candidates for every k, or a mapping ``k → candidates``; ``None`` =
            :func:`default_widths` of each k's exact width.
        steps: training steps, or a mapping ``k → steps``.
        target, seeds, lr, init_scale, optimizer, criterion, search: as
            :func:`smallest_trained_width`.
        preset, base_overrides, on_run, quiet: as :func:`smallest_trained_width`.

    Raises:
        ConfigError: bad arguments (see :func:`scaling_table`, :func:`smallest_trained_width`).
    """
    from groupcomp.groups import parse
    from groupcomp.runs import build_template

    spec = _group_spec(group)
    G = parse(spec)
    ks = _check_ks(list(range(2, int(K) + 1)) if ks is None else ks)
    if template_overrides is None:
        template_overrides = default_template_overrides(G) if preset is None else []
    template_overrides = list(template_overrides)
    opts = dict(
        lr=lr,
        init_scale=init_scale,
        optimizer=optimizer,
        preset=preset,
        base_overrides=list(base_overrides),
    )
    cfg = _run_config(spec, template_overrides, ks[0], 1, seeds, steps=1, **opts)
    template = build_template(cfg, G)
    table = scaling_table(G, template, ks)
    if not train:
        return ScalingResult(spec, template, template_overrides, table)
    if train_ks is None:
        train_ks = [k for k in ks if G.order**k <= max_sequences]
    train_ks = _check_ks(train_ks) if len(train_ks) else []
    exact = dict(zip(table["k"].tolist(), table["two_layer_width"].tolist(), strict=True))
    searches, rows = [], []
    for k in train_ks:
        cand = _per_k(widths, k, "widths")
        res = smallest_trained_width(
            spec,
            template_overrides,
            k,
            cand,
            target=target,
            seeds=seeds,
            steps=int(_per_k(steps, k, "steps")),
            criterion=criterion,
            search=search,
            on_run=on_run,
            quiet=quiet,
            **opts,
        )
        searches.append(res)
        ew = exact.get(k, res["exact_width"])
        sw = res["smallest_width"]
        rows.append(
            {
                "k": int(k),
                "exact_width": ew,
                "smallest_width": float(sw) if sw is not None else math.nan,
                "smallest_over_exact": (sw / ew) if (sw is not None and ew) else math.nan,
                "max_width_tried": max(r["width"] for r in res["runs"]),
                "steps": res["steps"],
                "n_runs": res["n_runs"],
                "wall_time_s": res["wall_time_s"],
            }
        )
    trained = pd.DataFrame(
        rows,
        columns=[
            "k",
            "exact_width",
            "smallest_width",
            "smallest_over_exact",
            "max_width_tried",
            "steps",
            "n_runs",
            "wall_time_s",
        ],
    )
    settings = {
        "target": float(target),
        "criterion": criterion,
        "search": search,
        "seeds": [int(s) for s in seeds],
        "steps": {int(k): int(_per_k(steps, k, "steps")) for k in train_ks},
        "lr": float(lr),
        "init_scale": float(init_scale),
        "optimizer": optimizer,
        "preset": preset,
        "base_overrides": list(base_overrides),
        "train_ks": [int(k) for k in train_ks],
    }
    return ScalingResult(spec, template, template_overrides, table, trained, searches, settings)
