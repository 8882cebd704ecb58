"""The public loader: any run folder → config, group, task, metrics, summary, and its model at
any checkpoint step.

    >>> run = load_run("runs/d3-20261202-101500")          # doctest: +SKIP
    >>> run.metrics.groupby("step")["loss"].mean().tail()   # doctest: +SKIP
    >>> model = run.model()                     # the last checkpoint  # doctest: +SKIP

Nothing in a run folder is executed: the config is plain YAML (no interpolation) and
checkpoints are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from omegaconf import DictConfig

from groupcomp.config import load_config
from groupcomp.errors import GroupcompError, RunFolderError
from groupcomp.groups import FiniteGroup
from groupcomp.runs.experiment import Experiment, build
from groupcomp.runs.folder import NEURONS_FILE, RunFolder
from groupcomp.runs.summary import RunSummary

if TYPE_CHECKING:  # metrics tables are built where pandas is imported
    import pandas as pd

__all__ = ["LoadedRun", "load_run"]


@dataclass
class LoadedRun:
    """A finished (or interrupted) run, read back.

    Attributes:
        path: the run folder. config: its resolved config. kind: ``sequence`` / ``arith``.
        metrics: one row per (step, seed). summary: the typed summary.
        checkpoint_steps: steps with a checkpoint (ascending).
    """

    path: Path
    config: DictConfig
    metrics: pd.DataFrame
    summary: RunSummary
    checkpoint_steps: list[int]
    _folder: RunFolder = field(repr=False)

    @property
    def kind(self) -> str:
        return str(self.config.kind)

    @cached_property
    def experiment(self) -> Experiment:
        """The experiment rebuilt from the config (model at its initialisation)."""
        return build(self.config)

    @property
    def group(self) -> FiniteGroup | None:
        return self.experiment.group

    @property
    def task(self) -> Any:
        return self.experiment.task

    def model(self, step: int | None = None) -> torch.nn.Module:
        """The model at checkpoint ``step`` (default: the last one), in eval mode."""
        if not self.checkpoint_steps:
            raise RunFolderError(f"{self.path}: the run has no checkpoints")
        if step is None:
            step = self.checkpoint_steps[-1]
        if int(step) not in self.checkpoint_steps:
            raise RunFolderError(
                f"step: no checkpoint at step {step}; checkpoints exist at steps "
                f"{', '.join(map(str, self.checkpoint_steps))}"
            )
        ckpt = self._folder.load_checkpoint(int(step))
        model = build(self.config).model
        try:
            model.load_state_dict(ckpt["model"])
        except (KeyError, RuntimeError) as exc:
            raise RunFolderError(
                f"{self._folder.checkpoint_path(step)}: does not match the run's config ({exc})"
            ) from None
        return model.eval()

    @cached_property
    def neurons(self) -> dict[str, Any] | None:
        """The per-neuron weight spectra of ``neurons.npz`` (``None`` if the run has none):
        ``steps (T,)``, ``seeds (S,)``, ``labels (m,)``, ``neuron_power_in`` /
        ``neuron_power_out (T, S, H, m)`` and, for the RNN, ``mix_block_fraction (T, S)``
        (:mod:`groupcomp.training.neurons`; :func:`groupcomp.analysis.neurons.neuron_history`
        wraps them)."""
        return self._folder.read_arrays(NEURONS_FILE)

    def loss(self, step: int | None = None) -> Any:
        """Per-seed training loss of the model at checkpoint ``step`` on the run's task,
        measured as the summary's ``final_loss_per_seed`` is (``(S,)`` numpy array)."""
        return self.experiment.loss_of(self.model(step))


def load_run(path: str | Path) -> LoadedRun:
    """Read the run folder ``path`` (any run kind).

    A tiny D3 run, read back: the loaded model's loss on the task is the summary's final loss,
    still on the first plateau (``3030 / 6 = 505``, the template's energy over ``n``):

    >>> import tempfile
    >>> from groupcomp.config import load_config
    >>> from groupcomp.runs.execute import execute
    >>> tmp = tempfile.TemporaryDirectory()
    >>> keys = ["model.hidden=20", "train.steps=50", "train.checkpoints=2", "train.engine=torch"]
    >>> cfg = load_config("d3", [*keys, "optim.lr=1e-5", "train.progress=false"])
    >>> res = execute(cfg, tmp.name, name="tiny", quiet=True)
    >>> run = load_run(res.run_dir)
    >>> run.kind, run.group.name, run.checkpoint_steps, run.summary["theory"]["plateaus_mse"]
    ('sequence', 'D3', [0, 50], [505.0, 5.0, 0.0])
    >>> abs(float(run.loss()[0]) - run.summary["final_loss_per_seed"][0]) < 1e-3
    True
    >>> round(run.summary["initial_loss"])
    505
    >>> tmp.cleanup()

    Raises:
        RunFolderError: not a run folder, or a file is missing / corrupt / from an
            incompatible version (the message names the file).
    """
    folder = RunFolder.open(Path(path).resolve())  # later loads work from any cwd
    try:
        config = load_config(str(folder.path / "config.yaml"))
    except GroupcompError as exc:
        raise RunFolderError(f"{folder.path / 'config.yaml'}: {exc}") from None
    summary = RunSummary.from_dict(folder.read_summary(), str(folder.path / "summary.json"))
    metrics = folder.read_metrics()
    return LoadedRun(
        path=folder.path,
        config=config,
        metrics=metrics,
        summary=summary,
        checkpoint_steps=folder.checkpoint_steps(),
        _folder=folder,
    )
