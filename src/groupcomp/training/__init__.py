"""Training: the one loop (:func:`fit`) with its engines, objectives, data sources and probes.

No configs and no files here: :mod:`groupcomp.runs` builds these parts from a config and
writes run folders.
"""

from __future__ import annotations

from groupcomp.training.data import ArithBatches, DataStream
from groupcomp.training.interrupt import deferred_interrupt, request_interrupt
from groupcomp.training.loop import (
    FitHooks,
    FitSettings,
    FitState,
    Schedule,
    TorchEngine,
    fit,
    log_spaced_steps,
    select_engine,
)
from groupcomp.training.objectives import (
    ArithObjective,
    SequenceObjective,
    arith_loss,
    clip_grad_norm_per_model,
)
from groupcomp.training.probes import SpectralProbe, WeightPowerProbe

__all__ = [
    "ArithBatches",
    "ArithObjective",
    "DataStream",
    "FitHooks",
    "FitSettings",
    "FitState",
    "Schedule",
    "SequenceObjective",
    "SpectralProbe",
    "TorchEngine",
    "WeightPowerProbe",
    "arith_loss",
    "clip_grad_norm_per_model",
    "deferred_interrupt",
    "fit",
    "log_spaced_steps",
    "request_interrupt",
    "select_engine",
]
