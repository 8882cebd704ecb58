"""Runs: one experiment description built from a config, executed into one kind of run folder,
resumed, and loaded back — the same for every run kind (sequence composition, arithmetic).

* :func:`build` — config → :class:`Experiment` (group, task, model, objective, optimiser,
  data, probe, schedule, seeds);
* :func:`execute` / :func:`resume_run` — train into a run folder / continue one;
* :func:`load_run` — read any run folder back (config, group, task, metrics, summary, models);
* :class:`RunFolder` — the only code that writes run data; :class:`RunSummary` — the typed
  ``summary.json``.
"""

from __future__ import annotations

from groupcomp.runs.execute import RunResult, execute, resume_run
from groupcomp.runs.experiment import (
    ArithExperiment,
    Experiment,
    SequenceExperiment,
    build,
    build_template,
    metrics_frame,
)
from groupcomp.runs.folder import RunFolder, provenance, read_json, safe_torch_load
from groupcomp.runs.load import LoadedRun, load_run
from groupcomp.runs.observe import first_epoch_reaching, grokking_epochs, observed_staircase
from groupcomp.runs.summary import SCHEMA_VERSION, RunSummary

__all__ = [
    "SCHEMA_VERSION",
    "ArithExperiment",
    "Experiment",
    "LoadedRun",
    "RunFolder",
    "RunResult",
    "RunSummary",
    "SequenceExperiment",
    "build",
    "build_template",
    "execute",
    "first_epoch_reaching",
    "grokking_epochs",
    "load_run",
    "metrics_frame",
    "observed_staircase",
    "provenance",
    "read_json",
    "resume_run",
    "safe_torch_load",
]
