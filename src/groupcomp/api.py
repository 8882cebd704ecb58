"""The top of the Python API: train, resume, plot and load runs of any kind.

    >>> import groupcomp
    >>> res = groupcomp.train("d3", out=None, quiet=True)     # doctest: +SKIP
    >>> run = groupcomp.load_run(res.run_dir)                # doctest: +SKIP

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

__all__ = ["load_run", "plot", "resume", "train"]


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
