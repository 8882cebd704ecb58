"""Sweeps: many runs of one preset through Hydra's multirun (its sweeper and launchers).

``groupcomp train -m d3 model.hidden=60,120,180 train.seeds=[0],[1]`` expands the grid with
Hydra's sweeper syntax (comma lists, ``range()``, ``choice()``) and hands the jobs to a Hydra
launcher: the basic one (one job after the other, in this process), ``hydra/launcher=joblib``
(local processes, ``hydra.launcher.n_jobs``) or ``hydra/launcher=submitit_slurm`` (a Slurm
array; ``submitit_local`` runs the same code path on this machine). Nothing here schedules
processes itself.

Layout::

    <out>/<sweep name>/                   default name <preset>-multirun-<hash of the overrides>
        <job name>/                       a run folder (config.yaml, summary.json, ...), named
                                          after the job's swept values, e.g.
                                          model.hidden=60,train.seeds=0
        <job name>/error.txt              only for a job that failed (its one-line error first)
        .hydra/                           Hydra's own records (multirun.yaml, job logs, submitit)

Each job is :func:`run_job`: it composes its config with :func:`groupcomp.config.load_config`
(the same rules as a single run, so one invalid job fails alone), then

* skips it when its folder already holds a finished run of the same config (re-running a sweep
  only does what is left; ``force=True`` starts a new sweep folder instead, nothing is
  overwritten),
* resumes it (:func:`~groupcomp.runs.resume_run`) when its folder holds an interrupted run,
* else trains it (:func:`~groupcomp.runs.execute`, every file written atomically by
  :class:`~groupcomp.runs.RunFolder`).

A job that raises writes ``error.txt`` into its folder and returns ``status="failed"``; the
other jobs go on. A Ctrl-C / SIGTERM stops the running job cleanly (resumable) and the sweep.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from groupcomp.config import load_config, schema_for_kind
from groupcomp.errors import ConfigError, DivergenceError, GroupcompError, RunFolderError
from groupcomp.runs.execute import RunResult, execute, resume_run
from groupcomp.runs.folder import MAX_NAME, RunFolder, atomic_write_text, validate_run_name
from groupcomp.runs.progress import Progress

__all__ = [
    "ERROR_FILE",
    "JobOutcome",
    "SweepResult",
    "count_jobs",
    "default_sweep_name",
    "job_name",
    "multirun",
    "run_job",
]

#: file a failed job writes into its folder (first line: the one-line error)
ERROR_FILE = "error.txt"
#: run statuses that a re-run continues (every other status is final and is skipped)
RESUMABLE = ("running", "interrupted")
#: job statuses that make a sweep unsuccessful
UNSUCCESSFUL = ("failed", "diverged", "interrupted", "running")

_UNSAFE = re.compile(r"[^A-Za-z0-9._+=,@-]+")

#: the progress of each sweep running in this process, by sweep folder (jobs that Hydra's
#: launchers run in other processes find none and print their line only)
_PROGRESS: dict[str, Progress] = {}


@dataclass
class JobOutcome:
    """What one job of a sweep did.

    Attributes:
        name: the job's folder name in the sweep folder. overrides: its config overrides.
        status: the run's status (``completed``, ``diverged``, ``interrupted``, ...) or
            ``failed`` (an error stopped the job; see ``error`` and ``<run_dir>/error.txt``).
        skipped: the folder already held a finished run of this config (nothing trained).
        resumed: an interrupted run in the folder was continued.
        num: Hydra's job number (``None`` outside Hydra).
    """

    name: str
    overrides: list[str]
    status: str
    run_dir: str
    error: str | None = None
    final_loss: float | None = None
    wall_time_s: float = 0.0
    skipped: bool = False
    resumed: bool = False
    num: int | None = None

    @property
    def ok(self) -> bool:
        return self.status not in UNSUCCESSFUL

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One progress line, e.g. ``job 3 model.hidden=60: completed, final loss 1.2e-03``."""
        head = f"job {self.num} {self.name}" if self.num is not None else self.name
        if self.status == "failed":
            return f"{head}: FAILED: {self.error}"
        loss = "" if self.final_loss is None else f", final loss {self.final_loss:.4g}"
        if self.skipped:
            return f"{head}: already {self.status}{loss}, skipped"
        again = " (resumed)" if self.resumed else ""
        return f"{head}: {self.status}{again}{loss} ({self.wall_time_s:.1f} s)"


@dataclass
class SweepResult:
    """A finished multirun: its folder and one :class:`JobOutcome` per job (Hydra's order)."""

    sweep_dir: Path
    jobs: list[JobOutcome] = field(default_factory=list)

    @property
    def unsuccessful(self) -> list[JobOutcome]:
        """Jobs that failed, diverged or were interrupted."""
        return [j for j in self.jobs if not j.ok]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(exc, GroupcompError):
        return first or type(exc).__name__
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def job_name(overrides: Sequence[str], swept: Sequence[str]) -> str:
    """Folder name of a job: its swept ``key=value`` pairs (in sweep order) joined by ``,``
    with brackets, quotes and other characters that are not allowed in a run-folder name
    removed (``train.seeds=[0]`` → ``train.seeds=0``); ``run`` when nothing is swept. Names
    longer than the limit are cut and end with a hash of the full text."""
    values = {}
    for item in overrides:
        key, _, value = item.partition("=")
        values[key.lstrip("+")] = value
    parts = [f"{k}={values[k]}" for k in swept if k in values]
    if not parts:
        return "run"
    raw = ",".join(parts)
    name = _UNSAFE.sub("_", re.sub(r"[\[\]()'\" ]", "", raw)).strip("_") or "run"
    if name.startswith("."):
        name = "_" + name
    if len(name) > MAX_NAME - 10:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
        name = f"{name[: MAX_NAME - 20]}-{digest}"
    return validate_run_name(name)


def default_sweep_name(command: str, preset: str | None, overrides: Sequence[str]) -> str:
    """``<preset>-multirun-<8 hex>``: the same command line gives the same folder, so running
    it again continues the sweep (Hydra's own ``hydra.*`` overrides, e.g. the launcher, do not
    count)."""
    if preset is None:
        label = command
    else:
        label = Path(preset).stem if Path(preset).suffix in (".yaml", ".yml") else preset
    label = _UNSAFE.sub("_", label).strip("._") or command
    digest = hashlib.sha256(json.dumps([command, preset, list(overrides)]).encode())
    return f"{label[:60]}-multirun-{digest.hexdigest()[:8]}"


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix[:-1]: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}."))
    return out


def _existing(path: Path, cfg: Any) -> str | None:
    """What ``path`` holds: ``None`` (nothing: train afresh), ``"finished"`` or ``"resume"``.
    A folder that only holds an earlier failure record is cleared; a folder holding a run of
    another config, or anything else, is refused."""
    from omegaconf import OmegaConf

    if not path.exists():
        return None
    if not path.is_dir():
        raise RunFolderError(f"{path} exists and is not a folder; move it away")
    if not (path / "config.yaml").is_file():
        if {p.name for p in path.iterdir()} <= {ERROR_FILE}:
            (path / ERROR_FILE).unlink(missing_ok=True)
            path.rmdir()
            return None
        raise RunFolderError(f"{path} exists but is not a run folder (no config.yaml); move it")
    old = _flat(OmegaConf.to_container(load_config(str(path / "config.yaml")), resolve=True))
    new = _flat(OmegaConf.to_container(cfg, resolve=True))
    # a value left to ``auto`` (e.g. ``optim.lr=auto``) is resolved when the run is built and
    # written resolved into config.yaml: it matches whatever value the folder holds
    diff = [
        k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k) and new.get(k) != "auto"
    ]
    if diff:
        shown = "; ".join(f"{k}: {old.get(k)!r} there, {new.get(k)!r} here" for k in diff[:3])
        raise RunFolderError(
            f"{path} holds a run of another config ({shown}); use --force (a new sweep "
            f"folder) or another --name"
        )
    try:
        status = RunFolder(path).read_summary().get("status")
    except RunFolderError:
        status = None  # killed before its first summary, or corrupt: the resume rewrites it
    return "resume" if status is None or status in RESUMABLE else "finished"


def _record_failure(path: Path, overrides: Sequence[str], exc: BaseException) -> None:
    if (path / ".lock").exists():
        return  # another process is writing this folder: leave it alone
    text = f"{_one_line(exc)}\n\njob overrides: {' '.join(overrides)}\n"
    if not isinstance(exc, GroupcompError):
        text += "\n" + "".join(traceback.format_exception(exc))
    try:
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path / ERROR_FILE, text)
    except OSError as err:  # the error stays in the job's outcome
        print(f"groupcomp: could not write {path / ERROR_FILE}: {err}", file=sys.stderr)


def _safe(on_result: Callable[[RunResult], None] | None) -> Callable[[RunResult], None] | None:
    """``on_result`` (figures) whose errors are printed, not raised: the run itself is saved."""
    if on_result is None:
        return None

    def call(result: RunResult) -> None:
        try:
            on_result(result)
        except Exception as exc:
            print(f"groupcomp: {result.run_dir}: figures failed: {_one_line(exc)}", file=sys.stderr)

    return call


def run_job(
    schema: type | None,
    preset: str | None,
    overrides: Sequence[str],
    sweep_dir: str | Path,
    name: str,
    *,
    num: int | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    progress: bool = False,
) -> JobOutcome:
    """Run one job of a sweep into ``sweep_dir/name`` (skip / resume / train, see the module
    docstring). Never raises for a failing job (except ``KeyboardInterrupt``, which stops the
    sweep after the job's run has stopped cleanly). ``progress``: show the run's own progress
    (:mod:`groupcomp.runs.progress`)."""
    path = Path(sweep_dir) / name
    out = JobOutcome(name, list(overrides), "failed", str(path), num=num)
    t0 = time.perf_counter()
    try:
        cfg = load_config(preset, list(overrides), schema=schema)
        state = _existing(path, cfg)
        if state == "finished":
            s = RunFolder(path).read_summary()
            out.status, out.final_loss = str(s.get("status")), s.get("final_loss")
            out.skipped = True
            if (path / ERROR_FILE).exists():  # e.g. it failed after its summary was written
                out.status, out.error = "failed", (path / ERROR_FILE).read_text().splitlines()[0]
            return out
        if state == "resume":
            res = resume_run(path, quiet=True, on_result=_safe(on_result), progress=progress)
            out.resumed = True
        else:
            res = execute(
                cfg,
                sweep_dir,
                name=name,
                quiet=True,
                on_result=_safe(on_result),
                progress=progress,
            )
        out.status = str(res.summary["status"])
        out.final_loss = res.summary.get("final_loss")
        (path / ERROR_FILE).unlink(missing_ok=True)
        if out.status == "interrupted":
            raise KeyboardInterrupt  # Ctrl-C / SIGTERM: the run stopped cleanly; stop the sweep
    except DivergenceError as exc:
        out.status, out.error = "diverged", _one_line(exc)
    except Exception as exc:  # recorded in the folder; the other jobs go on
        out.status, out.error = "failed", _one_line(exc)
        _record_failure(path, overrides, exc)
    finally:
        out.wall_time_s = time.perf_counter() - t0
    return out


@dataclass
class _HydraJob:
    """The task function Hydra's launchers call (picklable: joblib and submitit ship it to
    other processes)."""

    kind: str
    preset: str | None
    sweep_dir: str
    swept: list[str]
    quiet: bool
    on_result: Callable[[RunResult], None] | None

    def __call__(self, _cfg: Any) -> dict[str, Any]:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
        overrides = list(hc.overrides.task)
        num = int(hc.job.num) if hc.job.get("num") is not None else None
        bar = _PROGRESS.get(self.sweep_dir)  # only in the sweep's own process
        outcome = run_job(
            schema_for_kind(self.kind),
            self.preset,
            overrides,
            self.sweep_dir,
            job_name(overrides, self.swept),
            num=num,
            on_result=self.on_result,
            progress=bar is not None and bar.mode != "off",
        )
        if bar is not None:
            if not self.quiet:
                bar.write(f"groupcomp: {outcome.line()}")
            loss = "" if outcome.final_loss is None else f", loss {outcome.final_loss:.4g}"
            bar.set_postfix_str(f"last: {outcome.status}{loss}")
            bar.update(1)
        elif not self.quiet:
            print(f"groupcomp: {outcome.line()}", flush=True)
        return outcome.to_dict()


def _quote(value: str) -> str:
    """A Hydra-grammar quoted string."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _outcomes(ret: Any, swept: Sequence[str], sweep_dir: Path) -> list[JobOutcome]:
    from hydra.core.utils import JobStatus

    out = []
    batches = ret if isinstance(ret, list) else []
    for batch in batches:
        for jr in batch if isinstance(batch, list | tuple) else [batch]:
            if getattr(jr, "status", None) == JobStatus.COMPLETED and isinstance(
                jr.return_value, dict
            ):
                out.append(JobOutcome(**jr.return_value))
                continue
            overrides = list(getattr(jr, "overrides", None) or [])
            name = job_name(overrides, swept)
            err = getattr(jr, "_return_value", None)
            out.append(
                JobOutcome(
                    name,
                    overrides,
                    "failed",
                    str(sweep_dir / name),
                    error=_one_line(err) if isinstance(err, BaseException) else str(err),
                )
            )
    return out


def multirun(
    schema: type | None,
    preset: str | None,
    overrides: Sequence[str],
    *,
    out: str | Path = "runs",
    name: str | None = None,
    force: bool = False,
    quiet: bool = False,
    on_result: Callable[[RunResult], None] | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Run a sweep of ``preset`` over ``overrides`` (Hydra's sweeper syntax, plus Hydra's own
    ``hydra/launcher=…`` and ``hydra.…`` overrides) into ``out/<name>``.

    Args:
        schema: the config family (``RunConfig`` for ``groupcomp train``, ``ArithConfig``);
            ``None`` = the kind written in a YAML preset, else ``RunConfig``.
        name: the sweep folder's name (default :func:`default_sweep_name`).
        force: run every job again, in a new sweep folder ``<name>-2``, ``-3``… (nothing is
            overwritten); without it, finished jobs are skipped and interrupted ones resumed.
        quiet: no progress: neither the sweep's bar (jobs done, the last job's final loss,
            ETA; a status line every few seconds when stderr is not a terminal, see
            :mod:`groupcomp.runs.progress`) nor each run's own bar, nor one line per job.
            Jobs that a launcher runs in other processes print their line only.
        on_result: called with each job's result after its folder is written (figures).
        progress: count the jobs on this :class:`~groupcomp.runs.progress.Progress` instead
            of a bar of the sweep's own (several sweeps under one bar); it is not closed.

    Raises:
        ConfigError: an unknown key, bad override syntax, or an unknown launcher.
        RunFolderError: ``out`` cannot hold the sweep folder.
    """
    from hydra import initialize
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException, MissingConfigException

    from groupcomp.config.hydra import sweep_spec

    spec = sweep_spec(preset, overrides, schema)
    base_cfg = load_config(preset, [], schema=schema, validate_values=False)
    kind = str(base_cfg.kind)
    command = "arith" if kind == "arith" else "train"
    base = validate_run_name(name) if name else default_sweep_name(command, preset, spec.overrides)
    parent = Path(out).resolve()
    if parent.exists() and not parent.is_dir():
        raise RunFolderError(f"--out: {parent} exists and is not a folder")
    sweep_dir, i = parent / base, 1
    while force and sweep_dir.exists():
        i += 1
        sweep_dir = parent / f"{base}-{i}"
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"--out: cannot create {sweep_dir} ({exc})") from None
    job = _HydraJob(kind, preset, str(sweep_dir), list(spec.swept), quiet, on_result)
    # Hydra's own records go to <sweep>/.hydra; its logging set-ups (which reconfigure the
    # process's root logger) are off: each job prints one line itself
    hydra_ov = [
        f"hydra.sweep.dir={_quote(str(sweep_dir / '.hydra'))}",
        "hydra.job.chdir=false",
        "hydra.output_subdir=null",
        "hydra/hydra_logging=none",
        "hydra/job_logging=none",
    ]
    own = progress is None
    if own:  # jobs run by another launcher finish in other processes: no bar for them
        launchers = [o.partition("=")[2] for o in spec.hydra_overrides if "hydra/launcher=" in o]
        here = not launchers or launchers[-1] == "basic"
        total = count_jobs(spec.overrides)
        progress = Progress(total, desc="sweep", unit="job", enabled=here and not quiet)
    if not quiet:
        progress.write(f"groupcomp: sweep folder {sweep_dir}")
    _PROGRESS[str(sweep_dir)] = progress
    GlobalHydra.instance().clear()
    try:
        with initialize(version_base="1.3", config_path=None, job_name="groupcomp"):
            hydra = GlobalHydra.instance().hydra
            assert hydra is not None
            ret = hydra.multirun(
                config_name=spec.config_name,
                task_function=job,
                overrides=[*hydra_ov, *spec.hydra_overrides, *spec.overrides],
            )
    except MissingConfigException as exc:
        _remove_if_empty(sweep_dir)
        raise ConfigError(_launcher_hint(exc, spec.hydra_overrides)) from None
    except HydraException as exc:
        _remove_if_empty(sweep_dir)
        first = str(exc).strip().splitlines()
        raise ConfigError(f"sweep: {first[0] if first else type(exc).__name__}") from None
    except (GroupcompError, KeyboardInterrupt):
        raise
    except Exception as exc:  # e.g. a crashed worker process, a scheduler error
        raise GroupcompError(
            f"sweep: the launcher failed ({_one_line(exc)}); finished jobs are kept in "
            f"{sweep_dir}: run the same command again to continue"
        ) from exc
    finally:
        GlobalHydra.instance().clear()
        _PROGRESS.pop(str(sweep_dir), None)
        if own:
            progress.close()
    return SweepResult(sweep_dir, _outcomes(ret, spec.swept, sweep_dir))


def count_jobs(overrides: Sequence[str]) -> int | None:
    """The number of jobs of a sweep over ``overrides`` (config overrides in Hydra's syntax,
    as Hydra's basic sweeper expands them: the product of the number of values of each swept
    key, a key given twice counting once); ``None`` when they do not parse.

    >>> count_jobs(["model.hidden=60,120,180", "train.seeds=[0],[1]", "task.k=2"])
    6
    >>> count_jobs(["task.k=range(2,5)", "optim.lr=choice(1e-3,1e-2)"])
    6
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
        sizes: dict[str, int] = {}
        for o in parsed:
            key = o.get_key_element()
            sizes[key] = len(list(o.sweep_string_iterator())) if o.is_sweep_override() else 1
    except (HydraException, ValueError, TypeError):
        return None
    return math.prod(sizes.values())


def _remove_if_empty(folder: Path) -> None:
    """Remove a sweep folder that nothing was written to (bad Hydra overrides)."""
    for d in (folder / ".hydra", folder):
        try:
            d.rmdir()
        except OSError:
            pass  # not empty, or gone: keep


def _launcher_hint(exc: Exception, hydra_overrides: Sequence[str]) -> str:
    first = str(exc).strip().splitlines()
    msg = first[0] if first else type(exc).__name__
    groups = [o for o in hydra_overrides if o.startswith("hydra/launcher=")]
    if groups:
        return (
            f"{groups[-1]}: unknown launcher ({msg}); the joblib and submitit launchers come "
            f"with `pip install 'groupcomp[sweep]'` (allowed: basic, joblib, submitit_local, "
            f"submitit_slurm)"
        )
    return f"sweep: {msg}"
