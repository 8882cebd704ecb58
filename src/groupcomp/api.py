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
from groupcomp.config.figures import FigureSpec
from groupcomp.runs import RunResult, execute, load_run, resume_run
from groupcomp.runs.folder import RunFolder

__all__ = ["cogs", "collect", "figure", "load_run", "multirun", "plot", "resume", "train"]


def _figures(result: RunResult, formats: Sequence[str] | None = None) -> None:
    from groupcomp.viz import write_run_figures

    write_run_figures(result.run_dir, result.metrics, result.summary, formats)


def _figure_writer(figures: bool, formats: Sequence[str] | None):
    """The ``on_result`` callback drawing a run's figures in ``formats`` (``None``: the
    default, PNG only; checked here, before anything trains), or ``None`` without figures."""
    if not figures:
        return None
    if formats is None:
        return _figures
    import functools

    from groupcomp.viz.figures import check_formats

    return functools.partial(_figures, formats=check_formats(formats))


#: what the end of a run needs besides training: its metrics table and its figures
_FIGURE_MODULES = ("pandas", "pyarrow.parquet", "groupcomp.viz")


def _prefetch_figure_modules() -> None:
    """Import the figure stack in a background thread while the run builds and trains.

    The compiled fit runs without the GIL, so on a machine with a free core these imports
    (matplotlib, pandas, pyarrow: ≈ 0.5 s) finish before the fit does instead of after it; on a
    busy machine they cost what they would have cost anyway. A failure is left to the main
    thread's own import. Not a daemon thread: the process waits for it at exit (never exits
    half-way through an import)."""
    import sys
    import threading

    todo = [m for m in _FIGURE_MODULES if m not in sys.modules]
    if not todo:
        return

    def work() -> None:
        import importlib

        for name in todo:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the main thread imports it again and reports
                return

    threading.Thread(target=work, name="groupcomp-prefetch", daemon=False).start()


def _refuse_existing(stem: Path, formats: Sequence[str], what: str, force: bool) -> None:
    """Nothing a user saved is overwritten without asking: refuse if ``<stem>.<fmt>`` exists
    for a format, unless ``force``."""
    from groupcomp.errors import ConfigError

    exist = [p for p in (stem.with_name(f"{stem.name}.{f}") for f in formats) if p.exists()]
    if exist and not force:
        raise ConfigError(
            f"{what}: {exist[0]} exists; pass --force (force=True) to overwrite it, or choose "
            f"another --out"
        )


def train(
    cfg: DictConfig | str,
    out: str | Path | None = "runs",
    *,
    overrides: Sequence[str] = (),
    name: str | None = None,
    quiet: bool = False,
    stop_after: int | None = None,
    figures: bool = True,
    formats: Sequence[str] | None = None,
) -> RunResult:
    """Train a config of any kind (or a ``groupcomp train`` preset name with ``overrides``)
    and write its run folder under ``out`` (``None``: nothing written), figures included
    (``formats``: e.g. ``("png", "pdf")``; default PNG only).

    A few steps of the D3 preset, in memory: the loss starts on the predicted first plateau,
    the template's energy over ``n`` (``3030 / 6 = 505``):

    >>> keys = ["model.hidden=20", "train.steps=50", "train.engine=torch", "optim.lr=1e-5"]
    >>> res = train("d3", out=None, overrides=keys, quiet=True)
    >>> res.run_dir is None, res.summary["status"], round(res.summary["initial_loss"])
    (True, 'completed', 505)
    >>> res.summary["theory"]["plateaus_mse"]  # rot1 is learned first, then sign
    [505.0, 5.0, 0.0]
    """
    on_result = _figure_writer(figures, formats)
    if isinstance(cfg, str):
        cfg = load_config(cfg, overrides)
    elif overrides:
        raise TypeError("train: overrides go with a preset name, not with a config object")
    if on_result is not None and out is not None:
        _prefetch_figure_modules()
    return execute(
        cfg,
        out,
        name=name,
        quiet=quiet,
        stop_after=stop_after,
        on_result=on_result,
    )


def resume(
    run_dir: str | Path,
    *,
    quiet: bool = False,
    steps: int | None = None,
    stop_after: int | None = None,
    figures: bool = True,
    formats: Sequence[str] | None = None,
) -> RunResult:
    """Continue an interrupted or killed run in its folder (see
    :func:`groupcomp.runs.resume_run`), then redraw its figures (in ``formats``)."""
    return resume_run(
        run_dir,
        quiet=quiet,
        steps=steps,
        stop_after=stop_after,
        on_result=_figure_writer(figures, formats),
    )


def plot(
    runs: str | Path | Sequence[str | Path],
    formats: Sequence[str] | None = None,
    *,
    out: str | Path | None = None,
    overlay: bool = False,
    force: bool = False,
) -> list[Path]:
    """Draw run folders of any kind; the paths written.

    One run (without ``out`` / ``overlay``): redraw its figures in ``<run>/figures/`` in
    ``formats`` (default PNG only). Several runs: one figure
    (:mod:`groupcomp.viz.compare`): side by side, one column per run (loss on top, power
    below), or with ``overlay`` the losses of all runs on one axes labelled by run name.
    It is written to ``out``: a file name with a figure suffix (``cmp.png``: that format), a
    stem (``<out>.<fmt>`` for each of ``formats``) or an existing folder (the default name in
    it); default ``./plot-<run names>`` (``-overlay`` added). An existing file is never
    overwritten unless ``force``.

    Raises:
        ConfigError: a target file exists (without ``force``), or ``out``'s suffix
            contradicts ``formats``.
        RunFolderError: a run folder is missing or unreadable (checked before drawing).

    >>> import shutil, tempfile
    >>> tmp = Path(tempfile.mkdtemp())
    >>> keys = ["train.steps=50", "train.engine=torch", "optim.lr=1e-5", "train.progress=false"]
    >>> a = train("d3", tmp, overrides=[*keys, "model.hidden=20"], name="h20", figures=False)
    >>> b = train("d3", tmp, overrides=[*keys, "model.hidden=40"], name="h40", figures=False)
    >>> [p.name for p in plot([a.run_dir, b.run_dir], out=tmp / "both.png", overlay=True)]
    ['both.png']
    >>> plot([a.run_dir, b.run_dir], out=tmp / "both.png")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    groupcomp.errors.ConfigError: plot: .../both.png exists; pass --force (force=True) ...
    >>> shutil.rmtree(tmp)
    """
    if isinstance(runs, str | Path):
        runs = [runs]
    runs = list(runs)
    if len(runs) == 1 and out is None and not overlay:
        from groupcomp.viz import write_run_figures

        folder = RunFolder.open(runs[0])
        run = load_run(folder.path)
        return write_run_figures(folder.path, run.metrics, run.summary, formats)
    return _plot_many(runs, formats, out=out, overlay=overlay, force=force)


def _plot_many(
    runs: Sequence[str | Path],
    formats: Sequence[str] | None,
    *,
    out: str | Path | None,
    overlay: bool,
    force: bool,
) -> list[Path]:
    import hashlib
    import re

    from groupcomp.errors import ConfigError
    from groupcomp.viz import save_figure
    from groupcomp.viz.compare import overlay_figure, runs_figure
    from groupcomp.viz.figures import DEFAULT_FORMATS, check_formats

    if not runs:
        raise ConfigError("plot: give at least one run folder")
    loaded = [load_run(RunFolder.open(r).path) for r in runs]  # every folder before drawing
    names = [run.path.name for run in loaded]
    if len(set(names)) < len(names):  # same folder name under different parents
        names = [f"{run.path.parent.name}/{run.path.name}" for run in loaded]
    if len(set(names)) < len(names):
        names = [str(run.path) for run in loaded]
    if len(set(names)) < len(names):
        raise ConfigError(f"plot: a run folder is given twice ({', '.join(map(str, runs))})")
    fmts = None if formats is None else check_formats(formats)
    slug = re.sub(r"[^A-Za-z0-9._+=-]+", "_", "+".join(n.replace("/", "_") for n in names))
    if len(slug) > 80:
        slug = slug[:70] + "-" + hashlib.sha256(slug.encode()).hexdigest()[:8]
    default = f"plot-{slug}" + ("-overlay" if overlay else "")
    if out is None or Path(out).is_dir():
        stem = (Path.cwd() if out is None else Path(out)) / default
    else:
        stem = Path(out)
        suffix = stem.suffix.lower().lstrip(".")
        if suffix and _is_format(suffix):
            if fmts is not None and fmts != (suffix,):
                raise ConfigError(
                    f"--out: {out} names a .{suffix} file but --format asks for "
                    f"{', '.join(fmts)}; give a stem without suffix to write several formats"
                )
            stem, fmts = stem.with_suffix(""), (suffix,)
    fmts = DEFAULT_FORMATS if fmts is None else fmts
    _refuse_existing(stem, fmts, "plot", force)
    data = [(n, run.metrics, run.summary) for n, run in zip(names, loaded, strict=True)]
    fig = overlay_figure(data) if overlay else runs_figure(data)
    return save_figure(fig, stem, fmts)


def _is_format(fmt: str) -> bool:
    """Whether matplotlib writes figures in format ``fmt`` (a file suffix without the dot)."""
    from groupcomp.errors import ConfigError
    from groupcomp.viz.figures import check_formats

    try:
        check_formats([fmt])
    except ConfigError:
        return False
    return True


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
    formats: Sequence[str] | None = None,
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
        on_result=_figure_writer(figures, formats),
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
    formats: Sequence[str] | None = None,
):
    """The results table of every run folder at or below ``paths`` (single runs, sweeps,
    batched seeds, any kind): one row per run and seed, config columns under their dotted keys
    and every summary field (see :mod:`groupcomp.runs.collect`). Unreadable folders are
    skipped with a warning naming them.

    With ``out`` (a folder, or a file path ending in ``.parquet`` / ``.csv``), also writes
    ``results.parquet`` and ``results.csv`` (or ``<out stem>.*``) and the summary figures
    (:func:`groupcomp.viz.results.results_figures`: final loss vs ``x`` per ``hue``, drop
    times, width × |G| heatmap) as ``<stem>_<figure>.<fmt>`` (``formats``, default PNG only);
    the paths written are in ``df.attrs["written"]``. Returns the table (a
    :class:`pandas.DataFrame`).
    """
    from groupcomp.runs.collect import collect_runs
    from groupcomp.runs.folder import atomic_write_bytes

    if figures and formats is not None:
        from groupcomp.viz.figures import check_formats

        formats = check_formats(formats)
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
        from groupcomp.viz.figures import DEFAULT_FORMATS
        from groupcomp.viz.results import results_figures

        fmts = DEFAULT_FORMATS if formats is None else formats
        for fig_name, fig in results_figures(df, x=x, hue=hue).items():
            written += save_figure(fig, folder / f"{stem}_{fig_name}", fmts)
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


def figure(
    name: str | FigureSpec,
    out: str | Path = "figures",
    *,
    runs: Sequence[str | Path] | None = None,
    force: bool = False,
    quiet: bool = False,
    formats: Sequence[str] = ("png", "pdf"),
) -> dict:
    """Reproduce a paper figure (:mod:`groupcomp.config.figures`, ``groupcomp figure --list``):
    ``name`` is a shipped figure or a :class:`~groupcomp.config.figures.FigureSpec`.

    Each column of the figure is a run. With ``runs`` (one run folder per column, in column
    order) those are drawn; otherwise the runs live in ``<out>/<name>/runs/<label>/``: a
    finished one is reused, an interrupted one is resumed, a missing one is trained from its
    preset. The grid (:func:`groupcomp.viz.paper.paper_figure`) is written as
    ``<out>/<name>/<name>.<fmt>``; an existing figure file is refused unless ``force``.

    Returns ``{"written": [paths], "runs": [run folders], "trained": [labels trained or
    resumed now]}``.
    """
    from groupcomp.config.figures import load_figure_spec
    from groupcomp.errors import ConfigError
    from groupcomp.runs.summary import FINISHED
    from groupcomp.viz import save_figure
    from groupcomp.viz.paper import paper_figure

    spec = load_figure_spec(name) if isinstance(name, str) else name
    folder = Path(out) / spec.name
    stem = folder / spec.name
    _refuse_existing(stem, formats, "figure", force)
    if runs is not None:
        runs = [Path(r) for r in runs]
        if len(runs) != len(spec.columns):
            labels = ", ".join(c.label for c in spec.columns)
            raise ConfigError(
                f"--runs: figure {spec.name} has {len(spec.columns)} columns ({labels}); give "
                f"one run folder per column, in this order; got {len(runs)}"
            )
        run_dirs = runs
    else:
        run_dirs = [folder / "runs" / rn for rn in spec.run_names()]
    trained: list[str] = []
    loaded = []
    for col, run_dir in zip(spec.columns, run_dirs, strict=True):
        if runs is None and not run_dir.exists():
            from groupcomp.config import ArithConfig, RunConfig

            schema = ArithConfig if col.command == "arith" else RunConfig
            cfg = load_config(col.preset, list(col.overrides), schema=schema)
            train(cfg, run_dir.parent, name=run_dir.name, quiet=quiet)
            trained.append(col.label)
        run = load_run(run_dir)
        if runs is None and run.summary.get("status") not in FINISHED:
            resume(run_dir, quiet=quiet)
            trained.append(col.label)
            run = load_run(run_dir)
        loaded.append(run)
    fig = paper_figure(spec, loaded)
    written = save_figure(fig, stem, formats)
    return {"written": written, "runs": run_dirs, "trained": trained}
