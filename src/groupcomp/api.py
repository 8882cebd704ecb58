"""The top of the Python API: train, resume, plot and load runs of any kind.

    >>> import groupcomp
    >>> res = groupcomp.train("d3", out=None, quiet=True)     # doctest: +SKIP
    >>> run = groupcomp.load_run(res.run_dir)                # doctest: +SKIP
    >>> sweep = groupcomp.multirun("d3", ["model.hidden=60,120"])  # doctest: +SKIP
    >>> df = groupcomp.collect([sweep.sweep_dir])            # doctest: +SKIP

:func:`train` = :func:`groupcomp.runs.execute` + the run's figures (``groupcomp.viz``); this is
the one module allowed to use both (the CLI is a thin layer over it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from groupcomp.config import load_config
from groupcomp.runs import RunResult, execute, load_run, resume_run
from groupcomp.runs.folder import RunFolder

__all__ = ["cogs", "collect", "load_run", "multirun", "plot", "resume", "train"]


def _figures(result: RunResult) -> None:
    from groupcomp.viz import write_run_figures

    write_run_figures(result.run_dir, result.metrics, result.summary)


def train(
    cfg: DictConfig | str,
    out: str | Path | None = "runs",
    *,
    overrides: Sequence[str] = (),
    name: str | None = None,
    quiet: bool = False,
    stop_after: int | None = None,
    figures: bool = True,
) -> RunResult:
    """Train a config of any kind (or a ``groupcomp train`` preset name with ``overrides``)
    and write its run folder under ``out`` (``None``: nothing written), figures included."""
    if isinstance(cfg, str):
        cfg = load_config(cfg, overrides)
    elif overrides:
        raise TypeError("train: overrides go with a preset name, not with a config object")
    return execute(
        cfg,
        out,
        name=name,
        quiet=quiet,
        stop_after=stop_after,
        on_result=_figures if figures else None,
    )


def resume(
    run_dir: str | Path,
    *,
    quiet: bool = False,
    steps: int | None = None,
    stop_after: int | None = None,
    figures: bool = True,
) -> RunResult:
    """Continue an interrupted or killed run in its folder (see
    :func:`groupcomp.runs.resume_run`), then redraw its figures."""
    return resume_run(
        run_dir,
        quiet=quiet,
        steps=steps,
        stop_after=stop_after,
        on_result=_figures if figures else None,
    )


def plot(run_dir: str | Path) -> list[Path]:
    """Redraw the figures of a run folder of any kind; the paths written."""
    from groupcomp.viz import write_run_figures

    folder = RunFolder.open(run_dir)
    run = load_run(folder.path)
    return write_run_figures(folder.path, run.metrics, run.summary)


def multirun(
    preset: str | None,
    overrides: Sequence[str] = (),
    *,
    command: str = "train",
    out: str | Path = "runs",
    name: str | None = None,
    force: bool = False,
    quiet: bool = False,
    figures: bool = True,
):
    """A sweep through Hydra's multirun: every combination of ``overrides`` in Hydra's sweeper
    syntax (``model.hidden=60,120``, ``task.k=range(2,5)``, ``train.seeds=[0],[1]``), run by
    the launcher that ``hydra/launcher=…`` names (default: one after the other, here), one run
    folder per job under ``out/<name>``, figures included. Re-running skips finished jobs and
    resumes interrupted ones; ``force`` starts a new sweep folder. See
    :func:`groupcomp.runs.sweep.multirun`; returns its
    :class:`~groupcomp.runs.sweep.SweepResult`. ``command``: whose presets and keys
    (``train``: sequence runs, ``arith``: arithmetic runs)."""
    from groupcomp.config import ArithConfig, RunConfig
    from groupcomp.errors import ConfigError
    from groupcomp.runs.sweep import multirun as _multirun

    schemas = {"train": RunConfig, "arith": ArithConfig}
    if command not in schemas:
        raise ConfigError(f"command: {command!r} is not allowed; allowed values: train, arith")
    return _multirun(
        schemas[command],
        preset,
        overrides,
        out=out,
        name=name,
        force=force,
        quiet=quiet,
        on_result=_figures if figures else None,
    )


#: files :func:`collect` writes next to each other (``<stem>.parquet``, ``<stem>.csv``, and
#: ``<stem>_<figure>.png|pdf``)
RESULTS_STEM = "results"


def collect(
    paths: str | Path | Sequence[str | Path],
    out: str | Path | None = None,
    *,
    x: str | None = None,
    hue: str | None = None,
    figures: bool = True,
):
    """The results table of every run folder at or below ``paths`` (single runs, sweeps,
    batched seeds, any kind): one row per run and seed, config columns under their dotted keys
    and every summary field (see :mod:`groupcomp.runs.collect`). Unreadable folders are
    skipped with a warning naming them.

    With ``out`` (a folder, or a file path ending in ``.parquet`` / ``.csv``), also writes
    ``results.parquet`` and ``results.csv`` (or ``<out stem>.*``) and the summary figures
    (:func:`groupcomp.viz.results.results_figures`: final loss vs ``x`` per ``hue``, drop
    times, width × |G| heatmap) as ``<stem>_<figure>.png|pdf``; the paths written are in
    ``df.attrs["written"]``. Returns the table (a :class:`pandas.DataFrame`).
    """
    from groupcomp.runs.collect import collect_runs
    from groupcomp.runs.folder import atomic_write_bytes

    if isinstance(paths, str | Path):
        paths = [paths]
    df = collect_runs(paths)
    if out is None:
        return df
    out = Path(out)
    if out.suffix in (".parquet", ".csv"):
        folder, stem = out.parent, out.stem
    else:
        folder, stem = out, RESULTS_STEM
    written = [folder / f"{stem}.parquet", folder / f"{stem}.csv"]
    atomic_write_bytes(written[0], df.to_parquet(index=False))
    atomic_write_bytes(written[1], df.to_csv(index=False).encode())
    if figures:
        from groupcomp.viz import save_figure
        from groupcomp.viz.results import results_figures

        for fig_name, fig in results_figures(df, x=x, hue=hue).items():
            written += save_figure(fig, folder / f"{stem}_{fig_name}")
    df.attrs["written"] = [str(p) for p in written]
    return df


def cogs(
    runs: str | Path | Sequence[str | Path],
    out: str | Path | None = None,
    *,
    step: int | None = None,
    threshold: float | None = None,
    tol: float | None = None,
    dynamics: bool = True,
    formats: Sequence[str] = ("png",),
):
    """CoGS analysis of arith runs (Y. Tian, arXiv 2410.01779; :mod:`groupcomp.analysis.cogs`):
    per seed and frequency pair, its order and whether it factorises as order 4
    (``z_nu*z_xi``) or order 6 (``z_nu*z_syn``), the share of each type, the Theorem-1 loss on
    all pairs and its constraint residuals; the order histogram (one count per frequency pair,
    the paper's Fig. 4) and the sum-potential dynamics over the checkpoints (Fig. 3).

    Writes, for each run, into ``<run>/cogs/`` (``out=None``) or ``<out>/<run name>/``:
    ``blocks.csv`` (one row per seed and frequency), ``seeds.csv`` (one row per seed),
    ``summary.json``, ``sp_dynamics.csv`` (with ``dynamics``) and the figures
    ``order_histogram``, ``shares``, ``sp_dynamics``, ``residuals`` in ``formats`` (PNG by
    default). ``runs`` may name sweep folders: every run folder below is analysed. With ``out``
    and several runs also the pooled ``blocks.csv``, ``seeds.csv`` and one
    ``order_histogram_d<d>`` per group order in ``out`` (the panels of the paper's Fig. 4).
    Nothing is written unless every run is a two-operand quadratic one-hot arith run of a
    product of cyclic groups with a checkpoint at ``step``. Returns a dict: ``blocks``,
    ``seeds``, ``dynamics`` (DataFrames over all runs), ``histogram`` (pooled
    ``{order: count}``), ``written`` (paths).
    """
    import json

    import pandas as pd

    from groupcomp.analysis import cogs as C
    from groupcomp.runs.folder import atomic_write_bytes, atomic_write_text, jsonable
    from groupcomp.viz import save_figure
    from groupcomp.viz.cogs import (
        order_histogram_figure,
        residuals_figure,
        shares_figure,
        sp_dynamics_figure,
    )

    threshold = C.THRESHOLD if threshold is None else threshold
    tol = C.RESIDUAL_TOL if tol is None else tol
    from groupcomp.errors import ConfigError
    from groupcomp.runs.collect import find_run_folders

    if isinstance(runs, str | Path):
        runs = [runs]
    folders, _ = find_run_folders(runs)  # run folders at or below (a sweep folder works)
    if not folders:
        raise ConfigError(f"runs: no run folder at or below {', '.join(map(str, runs)) or '-'}")
    loaded = [load_run(p) for p in folders]  # fail early, before anything is written
    for run in loaded:
        C.run_networks(run, step)  # not a CoGS run / no such step: refuse before writing
    written: list[Path] = []
    all_blocks, all_seeds, all_dyn, all_nets = [], [], [], []

    def write_csv(path: Path, df: pd.DataFrame) -> None:
        atomic_write_bytes(path, df.to_csv(index=False).encode())
        written.append(path)

    for run in loaded:
        blocks, seeds, facts = C.factorize_run(run, step, threshold=threshold, tol=tol)
        nets = [net for _, net in C.run_networks(run, int(seeds["step"].iloc[0]))]
        hist = C.order_histogram(nets, threshold)
        folder = run.path / "cogs" if out is None else Path(out) / run.path.name
        folder.mkdir(parents=True, exist_ok=True)
        write_csv(folder / "blocks.csv", blocks)
        write_csv(folder / "seeds.csv", seeds)
        summary = {
            "run": str(run.path),
            "step": int(seeds["step"].iloc[0]),
            "threshold": threshold,
            "tol": tol,
            "order_histogram": {str(k): v for k, v in hist.items()},
            "seeds": {str(s): f.to_dict() for s, f in facts.items()},
        }
        path = folder / "summary.json"
        atomic_write_text(path, json.dumps(jsonable(summary), indent=2) + "\n")
        written.append(path)
        d = int(seeds["d"].iloc[0])
        title = f"{run.path.name} (d = {d}, threshold {threshold:g})"
        written += save_figure(
            order_histogram_figure(hist, title=title), folder / "order_histogram", formats
        )
        written += save_figure(shares_figure(seeds), folder / "shares", formats)
        if dynamics:
            dyn = C.sp_dynamics(run)
            dyn.insert(0, "run", run.path.name)
            write_csv(folder / "sp_dynamics.csv", dyn)
            written += save_figure(sp_dynamics_figure(dyn), folder / "sp_dynamics", formats)
            written += save_figure(residuals_figure(dyn), folder / "residuals", formats)
            all_dyn.append(dyn)
        all_blocks.append(blocks)
        all_seeds.append(seeds)
        all_nets += nets
    blocks = pd.concat(all_blocks, ignore_index=True)
    seeds = pd.concat(all_seeds, ignore_index=True)
    hist = C.order_histogram(all_nets, threshold)
    if out is not None and len(loaded) > 1:
        folder = Path(out)
        write_csv(folder / "blocks.csv", blocks)
        write_csv(folder / "seeds.csv", seeds)
        for d in sorted(seeds["d"].unique()):  # one pooled histogram per group order
            nets_d = [n for n in all_nets if n.d == d]
            title = f"d = {d}: {len(nets_d)} networks (threshold {threshold:g})"
            fig = order_histogram_figure(C.order_histogram(nets_d, threshold), title=title)
            written += save_figure(fig, folder / f"order_histogram_d{d}", formats)
    return {
        "blocks": blocks,
        "seeds": seeds,
        "dynamics": pd.concat(all_dyn, ignore_index=True) if all_dyn else None,
        "histogram": hist,
        "written": written,
    }
