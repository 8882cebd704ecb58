"""Running an experiment into a run folder, and resuming one: the same path for every kind.

``execute(cfg, out)`` builds the :class:`~groupcomp.runs.experiment.Experiment`, runs
:func:`groupcomp.training.fit` with checkpoints at the schedule's steps (step 0 included), a
metrics / summary flush every few seconds, and Ctrl-C as a clean stop; then writes
``metrics.parquet``, ``summary.json`` and (sequence runs) ``neurons.npz``. ``resume_run(path)``
continues from the newest good checkpoint and ends bit-identical to an uninterrupted run.
Figures are drawn one layer up (:func:`groupcomp.api.train`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from omegaconf import DictConfig

from groupcomp.config import load_config, to_yaml
from groupcomp.errors import DivergenceError, GroupcompError, RunFolderError
from groupcomp.runs import budget
from groupcomp.runs.experiment import Experiment, build, experiment_resources
from groupcomp.runs.folder import NEURONS_FILE, RunFolder, provenance, validate_run_name
from groupcomp.runs.summary import RunSummary
from groupcomp.training import FitHooks, FitState, deferred_interrupt, fit
from groupcomp.training.neurons import neuron_log_arrays

if TYPE_CHECKING:  # metrics tables are built where pandas is imported
    import pandas as pd

__all__ = ["RunResult", "execute", "resume_run"]


@dataclass
class RunResult:
    """What a run returns.

    Attributes:
        run_dir: the run folder (``None`` for an in-memory run).
        metrics: one row per (step, seed) (see ``README.md``, "Output files").
        summary: the typed summary (also a read-only mapping of its JSON form).
        experiment: the built experiment (model, task, group, config, ...).
        state: the loop's final state.
    """

    run_dir: Path | None
    metrics: pd.DataFrame
    summary: RunSummary
    experiment: Experiment
    state: FitState

    @property
    def model(self) -> torch.nn.Module:
        return self.experiment.model

    @property
    def staircase(self):
        return getattr(self.experiment, "staircase", None)


def _progress(total: int, initial: int, enabled: bool, unit: str = "step"):
    """The run's progress (:class:`~groupcomp.runs.progress.Progress`: a bar on a terminal,
    a status line every few seconds otherwise), or ``None`` when disabled."""
    if not enabled:
        return None
    from groupcomp.runs.progress import Progress

    return Progress(total, initial=initial, unit=unit, desc="train")


def _checkpoint_payload(exp: Experiment, st: FitState, wall: float) -> dict[str, Any]:
    return {
        "kind": exp.kind,
        "model": {k: v.detach().cpu().clone() for k, v in exp.model.state_dict().items()},
        "optimizer": exp.optimizer.state_dict(),
        "data": exp.data.state_dict(),
        "fit": st.to_dict(),
        "wall_time_s": float(wall),
    }


def _write_neurons(folder: RunFolder, exp: Experiment, state: FitState) -> None:
    """``neurons.npz``: the per-neuron weight spectra of the probe records (if recorded), with
    ``seeds`` and the irrep ``labels``."""
    arrays = neuron_log_arrays(state.logs)
    if arrays:
        arrays["seeds"] = np.asarray(exp.seeds, dtype=np.int64)
        arrays["labels"] = np.asarray(exp.labels, dtype=str)
        folder.write_arrays(NEURONS_FILE, arrays)


def _run(
    exp: Experiment,
    folder: RunFolder | None,
    *,
    start: FitState | None,
    prev_wall: float,
    quiet: bool,
    stop_after: int | None,
    on_result: Callable[[RunResult], None] | None,
    progress: bool | None = None,
) -> RunResult:
    cfg = exp.cfg
    t0 = time.perf_counter()
    done0 = start.step if start else 0

    def wall() -> float:
        return prev_wall + time.perf_counter() - t0

    def on_checkpoint(t: int, st: FitState) -> None:
        if folder is not None:
            folder.save_checkpoint(t, _checkpoint_payload(exp, st, wall()))

    def on_flush(st: FitState) -> None:
        if folder is None:
            return
        metrics = exp.metrics_frame(st)
        folder.write_metrics(metrics)
        _write_neurons(folder, exp, st)
        s = exp.summarize(st, metrics, "running", wall(), st.step - done0)
        s.run_dir = str(folder.path)
        folder.write_json("summary.json", s.to_dict())

    show = bool(cfg.train.progress) and ((not quiet) if progress is None else progress)
    bar = _progress(exp.schedule.steps, done0, show)
    if show:  # the AGF simulation of the final summary (theory.agf=true) has its own
        from groupcomp.runs.progress import Progress

        exp.progress = lambda total, desc: Progress(total, desc=desc)
    hooks = FitHooks(
        on_checkpoint=on_checkpoint if folder is not None else None,
        on_flush=on_flush if folder is not None else None,
        stop_when=exp.stop_when,
        progress=bar,
        stop_after=stop_after,
    )
    old_threads = torch.get_num_threads()
    torch.set_num_threads(exp.threads)
    status, error = "completed", None
    try:
        state = fit(
            exp.model,
            exp.objective,
            exp.optimizer,
            exp.data,
            exp.schedule,
            settings=exp.settings,
            probe=exp.probe,
            hooks=hooks,
            start=start,
        )
        if state.stopped in ("interrupted", "stop_after"):
            status = "interrupted"
    except DivergenceError as exc:
        error, status = exc, "diverged"
        state = exc.state  # type: ignore[attr-defined]
    finally:
        if bar is not None:
            bar.close()
        torch.set_num_threads(old_threads)
    metrics = exp.metrics_frame(state)
    summary = exp.summarize(state, metrics, status, wall(), state.step - done0)
    if error is not None:
        summary.error = str(error)
    if folder is not None:
        summary.run_dir = str(folder.path)
        folder.write_metrics(metrics)
        _write_neurons(folder, exp, state)
        folder.write_json("summary.json", summary.to_dict())
    result = RunResult(folder.path if folder else None, metrics, summary, exp, state)
    if on_result is not None and folder is not None and len(metrics):
        on_result(result)
    if error is not None:
        where = ""
        if folder is not None:
            steps = folder.checkpoint_steps()
            kept = (
                f"last good checkpoint kept: step {steps[-1]}"
                if steps
                else "no checkpoint had been written yet"
            )
            where = f" Run folder: {folder.path} ({kept})."
        raise DivergenceError(str(error) + "." + where) from None
    return result


def execute(
    cfg: DictConfig,
    out: str | Path | None = "runs",
    *,
    name: str | None = None,
    quiet: bool = False,
    stop_after: int | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    progress: bool | None = None,
) -> RunResult:
    """Build and train ``cfg`` (any kind); write a run folder under ``out`` (``None``: in
    memory only).

    Args:
        name: exact run-folder name (default ``<preset>-<timestamp>``); never overwritten.
        quiet: no progress and no notes on stderr (warnings are still printed).
        progress: show the progress (:mod:`groupcomp.runs.progress`) whatever ``quiet`` says
            (``None``: ``not quiet``); ``train.progress=false`` turns it off either way.
        stop_after: stop after this many steps as if interrupted (the run can be resumed).
        on_result: called with the result after the folder is written (e.g. to draw figures).

    Raises:
        DivergenceError: the loss became NaN/inf (the run folder keeps the last good checkpoint
            and a summary with ``status: diverged``).
    """
    if out is not None:  # cheap checks first: the folder name and --out
        validate_run_name(str(cfg.preset) if name is None else name)
        RunFolder.check_parent(out)
    exp = build(cfg)  # every config error is raised before any file is written
    if out is not None:  # checkpoints and metrics must fit on the disk holding --out
        budget.check_disk(experiment_resources(exp), out)
    plan = getattr(exp, "plan", None)
    if plan is not None:
        for key, how in plan.auto.items():
            if not quiet:
                print(f"groupcomp: {key}=auto -> {how}", file=sys.stderr)
        for line in plan.warnings:
            print(f"groupcomp: warning: {line}", file=sys.stderr)
    from groupcomp.errors import ConfigError
    from groupcomp.training import select_engine

    try:
        select_engine(
            exp.settings.engine,
            exp.model,
            exp.optimizer,
            exp.data,
            grad_clip=exp.settings.grad_clip,
            output_every_step=bool(getattr(exp.objective, "output_every_step", False)),
        )
    except ConfigError as exc:  # the loop names its parameter; the user knows the config key
        raise ConfigError("train." + str(exc)) from None
    folder = None
    with deferred_interrupt():
        if out is not None:
            folder = RunFolder.create(
                Path(out), str(cfg.preset) if name is None else name, exact=name is not None
            )
            folder.lock()
        try:
            if folder is not None:
                # the resolved config (auto values as chosen), so that it re-runs exactly
                folder.write_text("config.yaml", to_yaml(exp.cfg))
                folder.write_json("provenance.json", provenance())
            return _run(
                exp,
                folder,
                start=None,
                prev_wall=0.0,
                quiet=quiet,
                stop_after=stop_after,
                on_result=on_result,
                progress=progress,
            )
        finally:
            if folder is not None:
                folder.unlock()


def _restore(
    folder: RunFolder, exp: Experiment
) -> tuple[dict[str, Any], FitState, list[tuple[Path, str]]]:
    """Load the newest checkpoint that reads and fits ``exp`` into it: ``(checkpoint, start
    state, [(path, why) for every newer one that did not])``. Raises :class:`RunFolderError`
    naming every checkpoint tried when none is usable."""
    bad: list[tuple[Path, str]] = []
    steps = folder.checkpoint_steps()
    if not steps:
        folder.latest_checkpoint()  # raises with its explanation (e.g. a pre-0.2 checkpoint)
    for step in reversed(steps):
        path = folder.checkpoint_path(step)
        try:
            ckpt = folder.load_checkpoint(step)
        except RunFolderError as exc:
            bad.append((path, str(exc)))
            continue
        if ckpt.get("kind", exp.kind) != exp.kind:
            why = f"checkpoint of a {ckpt.get('kind')!r} run, config of a {exp.kind!r} run"
            bad.append((path, f"{path}: {why}"))
            continue
        try:
            exp.model.load_state_dict(ckpt["model"])
            exp.optimizer.load_state_dict(ckpt["optimizer"])
            exp.data.load_state_dict(ckpt["data"])
            start = FitState.from_dict(ckpt["fit"])
        except (KeyError, RuntimeError, ValueError, TypeError, IndexError, AttributeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            bad.append((path, f"{path}: does not match this run's config ({first[:200]})"))
            continue
        return ckpt, start, bad
    shown = "; ".join(why[:300] for _, why in bad[:3])
    more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
    raise RunFolderError(
        f"{folder.path}: no usable checkpoint (tried {len(bad)}: {shown}{more}); the run "
        f"cannot be resumed, start it again"
    )


def resume_run(
    run_dir: str | Path,
    *,
    quiet: bool = False,
    steps: int | None = None,
    stop_after: int | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    progress: bool | None = None,
) -> RunResult:
    """Continue an interrupted (or killed) run from its newest loadable checkpoint.

    The continuation restores the model, optimiser, data-stream random state and the loop's
    records, so the final numbers equal those of an uninterrupted run. ``steps`` (sequence
    runs) extends the run. A checkpoint that does not load (corrupt, truncated, or a pickle that
    would run code) is skipped with a note, falling back to the previous one. ``quiet`` and
    ``progress`` as for :func:`execute`.
    """
    folder = RunFolder.open(run_dir)
    with deferred_interrupt():
        folder.lock()
        try:
            folder.clean_stray_temporaries()
            try:
                cfg = load_config(str(folder.path / "config.yaml"))
            except RunFolderError:
                raise
            except GroupcompError as exc:
                raise RunFolderError(f"{folder.path / 'config.yaml'}: {exc}") from None
            if steps is not None:
                if cfg.kind != "sequence":
                    raise RunFolderError("--steps: only sequence runs can be extended")
                cfg.train.steps = int(steps)
            if (folder.path / "summary.json").exists() and steps is None:
                try:
                    status = folder.read_summary().get("status")
                except RunFolderError:
                    status = None  # a corrupt summary is rewritten by the continuation
                if status in ("completed", "unstable"):
                    raise RunFolderError(f"{folder.path} is already complete (status {status})")
            exp = build(cfg)
            ckpt, start, bad = _restore(folder, exp)
            for _path, why in bad:
                print(f"groupcomp: skipping checkpoint: {why}", file=sys.stderr)
            # checkpoints after the resumed step belong to the abandoned continuation; the
            # unusable ones are kept aside (``*.pt.unusable``) rather than deleted
            unusable = {path for path, _ in bad}
            for t in folder.checkpoint_steps():
                if t > start.step:
                    path = folder.checkpoint_path(t)
                    if path in unusable:
                        path.replace(path.with_name(path.name + ".unusable"))
                    else:
                        path.unlink(missing_ok=True)
            return _run(
                exp,
                folder,
                start=start,
                prev_wall=float(ckpt.get("wall_time_s", 0.0)),
                quiet=quiet,
                stop_after=stop_after,
                on_result=on_result,
                progress=progress,
            )
        finally:
            folder.unlock()
