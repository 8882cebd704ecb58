r"""Smallest trained widths of the two-layer, RNN and tree networks, as sweeps.

``groupcomp theory scaling --train``: for each model and each sequence length k, a sweep (Hydra
multirun, :func:`groupcomp.runs.sweep.multirun`) trains every candidate width — the seeds of a
width batched in one job — into ``<out>/<name>/<model>-k<k>/model.hidden=<H>/``, and the
results table of those run folders (:func:`groupcomp.runs.collect.collect_runs`) gives, per
model and k, the smallest width from which on every candidate reaches the target. So the search
runs on any Hydra launcher (``hydra/launcher=joblib``, ``submitit_slurm``), prints a line per
job, can be interrupted and continued (finished jobs are skipped), and leaves every run to
inspect.

A seed's *relative loss* is its final mean-MSE over its mean-MSE at initialisation (step 0); a
width *succeeds* when ``criterion`` (``median``, ``min``, ``max`` or ``mean`` over seeds) of the
relative losses is ``≤ target``. Unlike the gallop search of
:func:`groupcomp.analysis.scaling.smallest_trained_width` (few runs, sequential), the sweep
trains every candidate (more runs, all independent), so ``monotone`` says whether success was
monotone in the width.

Training settings per model (:data:`MODEL_TRAINING`) are the ones measured to reach the target
at or near the exact-construction width on D3 with the unit-power template (seeds 0–2; median
relative loss): two-layer as :data:`~groupcomp.analysis.scaling.DEFAULT_TRAINING`; RNN (Adam
3e-3, init 0.5, 2000 steps): k = 2, 3 at width 18 (≤ 1e-4), k = 4 at 36 (width 18: 0.49);
tree (Adam 3e-3, init 1.0, 2000 steps): k = 2 at 18, k = 3, 4 at 36 (≤ 3e-3; at 18: 0.03).
The whole search for D3, ``K=5`` (joblib, 2 processes, 2-core VM: 25 min, 54 runs; k = 5 not
trained, 7776 > 2000 sequences) found two-layer 14, 51, 264 for k = 2, 3, 4 (exact 18, 68,
264), RNN 14, 18, 27 and tree 14, 27, 27 (exact 18).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from groupcomp.errors import ConfigError

__all__ = [
    "MODELS",
    "MODEL_TRAINING",
    "WIDTH_FRACTIONS",
    "WidthSweepResult",
    "smallest_widths",
    "width_sweep",
]

#: models whose width is searched, and the exact-construction width column of each in
#: :func:`groupcomp.analysis.scaling_table`
MODELS: dict[str, str] = {"two_layer": "two_layer_width", "rnn": "rnn_width", "tree": "tree_width"}

#: training settings of each model's width search (see the module docstring)
MODEL_TRAINING: dict[str, dict[str, Any]] = {
    "two_layer": {"optimizer": "adam", "lr": 3e-3, "init_scale": 0.1, "steps": 1000},
    "rnn": {"optimizer": "adam", "lr": 3e-3, "init_scale": 0.5, "steps": 2000},
    "tree": {"optimizer": "adam", "lr": 3e-3, "init_scale": 1.0, "steps": 2000},
}

#: default candidates: these multiples of the model's exact-construction width (rounded up)
WIDTH_FRACTIONS = (1 / 4, 1 / 2, 3 / 4, 1.0, 3 / 2, 2.0)

_CRITERIA = {"median": np.median, "min": np.min, "max": np.max, "mean": np.mean}


@dataclass
class WidthSweepResult:
    """What :func:`width_sweep` returns.

    Attributes:
        sweep_dir: the folder holding one sweep folder per model and k.
        widths: one row per model and k — ``model, k, exact_width, smallest_width`` (NaN: no
            candidate reached the target), ``smallest_over_exact``, ``max_width_tried``,
            ``monotone``, ``n_runs``, ``failed`` (jobs that failed or diverged), ``skipped``
            (why this k was not trained, else ``None``).
        runs: the results table of every run (:func:`~groupcomp.runs.collect.collect_runs`)
            with ``model`` and ``rel_loss`` (this seed's final over initial loss) added.
        settings: what was trained (per model: optimiser, lr, init_scale, steps; target, ...).
    """

    sweep_dir: Path
    widths: pd.DataFrame
    runs: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)


def _candidates(exact: int, fractions: Sequence[float]) -> list[int]:
    return sorted({max(1, math.ceil(f * int(exact) - 1e-9)) for f in fractions})


def smallest_widths(
    runs: pd.DataFrame, *, target: float, criterion: str = "median"
) -> pd.DataFrame:
    """Per ``(model.name, task.k)`` of a results table: the smallest width from which on every
    trained candidate succeeds (``criterion`` over the seeds' ``rel_loss ≤ target``; a
    diverged or failed width fails), whether success was monotone in the width, the largest
    width tried and the number of widths. Columns ``model, k, smallest_width, monotone,
    max_width_tried, n_runs``.

    Raises:
        ConfigError: an unknown criterion, or ``runs`` lacks ``model.name``, ``task.k``,
            ``model.hidden`` or ``rel_loss``.
    """
    if criterion not in _CRITERIA:
        raise ConfigError(f"criterion: unknown {criterion!r}; allowed values: {sorted(_CRITERIA)}")
    need = ["model.name", "task.k", "model.hidden", "rel_loss"]
    missing = [c for c in need if c not in runs.columns]
    if missing:
        raise ConfigError(f"smallest_widths: the table lacks {', '.join(missing)}")
    rows = []
    agg = _CRITERIA[criterion]
    for (model, k), g in runs.groupby(["model.name", "task.k"], sort=True):
        widths, flags = [], []
        for h, gw in g.groupby("model.hidden", sort=True):
            rel = gw["rel_loss"].to_numpy(dtype=np.float64)
            rel = np.where(np.isfinite(rel), rel, np.inf)
            ok = (
                bool(gw["status"].isin(["completed", "unstable"]).all()) if "status" in gw else True
            )
            widths.append(int(h))
            flags.append(ok and float(agg(rel)) <= target)
        i = len(flags)
        while i > 0 and flags[i - 1]:
            i -= 1
        rows.append(
            {
                "model": str(model),
                "k": int(k),
                "smallest_width": float(widths[i]) if i < len(widths) else math.nan,
                "monotone": all(not a or b for a, b in zip(flags, flags[1:], strict=False)),
                "max_width_tried": max(widths),
                "n_runs": len(widths),
            }
        )
    cols = ["model", "k", "smallest_width", "monotone", "max_width_tried", "n_runs"]
    return pd.DataFrame(rows, columns=cols)


def width_sweep(
    group: str,
    template_overrides: Sequence[str] | None = None,
    K: int = 4,
    *,
    ks: Sequence[int] | None = None,
    models: Sequence[str] = tuple(MODELS),
    widths: Mapping[str, Sequence[int]] | Sequence[int] | None = None,
    fractions: Sequence[float] = WIDTH_FRACTIONS,
    training: Mapping[str, Mapping[str, Any]] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    target: float = 1e-2,
    criterion: str = "median",
    max_sequences: int = 2000,
    out: str | Path = "runs",
    name: str | None = None,
    launcher: Sequence[str] = (),
    force: bool = False,
    quiet: bool = False,
) -> WidthSweepResult:
    """Train every candidate width of each model for ``k = 2..K`` (or ``ks``) as sweeps and
    find the smallest widths (see the module docstring).

    Args:
        group: group spec. template_overrides: ``template.*=…`` (``None``: power 0 on the
            trivial irrep, 1 on every other, as the exact-construction table).
        models: any of :data:`MODELS`.
        widths: candidates for every model and k, or ``{model: candidates}``; ``None``:
            ``fractions`` of each model's exact-construction width at that k.
        training: per model, overrides of :data:`MODEL_TRAINING` (``optimizer``, ``lr``,
            ``init_scale``, ``steps``).
        max_sequences: a k with more than this many sequences (``|G|^k``, the exhaustive data
            set) is not trained; its row says so (``skipped``) and a line is printed.
        out, name: the sweeps go to ``out/name/<model>-k<k>/`` (default name
            ``scaling-<group>``); running the same call again skips finished jobs.
        launcher: Hydra overrides for the jobs (``hydra/launcher=joblib``, ...).

    Raises:
        ConfigError: an unknown model, bad ``ks``, criterion or target.
    """
    from groupcomp.analysis.scaling import _check_ks, default_template_overrides, scaling_table
    from groupcomp.config import RunConfig, load_config
    from groupcomp.groups import parse
    from groupcomp.runs import build_template
    from groupcomp.runs.collect import CollectWarning, collect_runs
    from groupcomp.runs.folder import validate_run_name
    from groupcomp.runs.progress import Progress
    from groupcomp.runs.sweep import multirun

    bad = [m for m in models if m not in MODELS]
    if bad or not models:
        raise ConfigError(f"models: unknown {bad or models!r}; allowed values: {', '.join(MODELS)}")
    if criterion not in _CRITERIA:
        raise ConfigError(f"criterion: unknown {criterion!r}; allowed values: {sorted(_CRITERIA)}")
    if not (isinstance(target, int | float) and math.isfinite(target) and target > 0):
        raise ConfigError(f"target: expected a finite number > 0, got {target!r}")
    G = parse(group)
    ks = _check_ks(list(range(2, int(K) + 1)) if ks is None else ks)
    tmpl = list(default_template_overrides(G) if template_overrides is None else template_overrides)
    cfg0 = load_config(None, [f"group={group}", *tmpl])
    table = scaling_table(G, build_template(cfg0, G), ks)
    exact = {
        (m, int(r["k"])): int(r[col]) for _, r in table.iterrows() for m, col in MODELS.items()
    }
    root = Path(out) / validate_run_name(name or f"scaling-{G.name}")
    seed_list = "[" + ",".join(str(int(s)) for s in seeds) + "]"
    settings: dict[str, Any] = {
        "group": G.name,
        "template_overrides": tmpl,
        "seeds": [int(s) for s in seeds],
        "target": float(target),
        "criterion": criterion,
        "max_sequences": int(max_sequences),
        "models": {},
    }
    rows, frames = [], []

    def candidates(model: str, k: int) -> list[int]:
        if widths is None:
            return _candidates(exact[(model, k)], fractions)
        return sorted({int(w) for w in (widths[model] if isinstance(widths, Mapping) else widths)})

    # one bar over the jobs of every sweep (in this process: the basic launcher only)
    here = not any("hydra/launcher=" in o and not o.endswith("=basic") for o in launcher)
    total = sum(len(candidates(m, k)) for m in models for k in ks if G.order**k <= max_sequences)
    bar = Progress(total, desc="scaling", unit="job", enabled=here and not quiet)
    try:
        for model in models:
            tr = {**MODEL_TRAINING[model], **dict((training or {}).get(model, {}))}
            settings["models"][model] = tr
            for k in ks:
                row: dict[str, Any] = {"model": model, "k": k, "exact_width": exact[(model, k)]}
                n_seq = G.order**k
                if n_seq > max_sequences:
                    why = f"{G.name}^{k} = {n_seq} sequences > max_sequences={max_sequences}"
                    row["skipped"] = why
                    rows.append(row)
                    if not quiet:
                        bar.write(f"groupcomp: {model} k={k}: not trained ({why})")
                    continue
                cand = candidates(model, k)
                overrides = [
                    f"group={G.name}",
                    *tmpl,
                    f"model.name={model}",
                    f"task.k={k}",
                    f"optim.name={tr['optimizer']}",
                    f"optim.lr={float(tr['lr'])!r}",
                    f"model.init_scale={float(tr['init_scale'])!r}",
                    f"train.steps={int(tr['steps'])}",
                    f"train.seeds={seed_list}",
                    "train.log_points=2",
                    "train.checkpoints=1",
                    "train.progress=false",
                    "model.hidden=" + ",".join(str(w) for w in cand),
                    *(["model.activation=power"] if model == "two_layer" else []),
                    *launcher,
                ]
                if not quiet:
                    bar.write(f"groupcomp: {model} k={k}: widths {cand}")
                res = multirun(
                    RunConfig,
                    None,
                    overrides,
                    out=root,
                    name=f"{model}-k{k}",
                    force=force,
                    quiet=quiet,
                    progress=bar,
                )
                row["failed"] = len([j for j in res.jobs if j.status in ("failed", "diverged")])
                rows.append(row)
                with warnings.catch_warnings():  # failed jobs are counted in ``failed``
                    warnings.simplefilter("ignore", CollectWarning)
                    runs = collect_runs([res.sweep_dir])
                if len(runs):
                    frames.append(runs)
    finally:
        bar.close()
    runs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(runs):
        runs["model"] = runs["model.name"]
        runs["rel_loss"] = runs["final_loss_per_seed"] / runs["initial_loss_per_seed"]
        found = smallest_widths(runs, target=target, criterion=criterion)
    else:
        found = smallest_widths(
            pd.DataFrame(columns=["model.name", "task.k", "model.hidden", "rel_loss"]),
            target=target,
            criterion=criterion,
        )
    widths_df = pd.DataFrame(rows).merge(found, on=["model", "k"], how="left")
    widths_df["smallest_over_exact"] = widths_df["smallest_width"] / widths_df["exact_width"]
    for col in ("failed", "skipped"):
        if col not in widths_df:
            widths_df[col] = None
    cols = [
        "model",
        "k",
        "exact_width",
        "smallest_width",
        "smallest_over_exact",
        "max_width_tried",
        "monotone",
        "n_runs",
        "failed",
        "skipped",
    ]
    return WidthSweepResult(root, widths_df[cols], runs, settings)
