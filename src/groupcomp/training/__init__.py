"""Training: the loop (:func:`fit`), runs (:func:`train`, :func:`resume`), run folders."""

from __future__ import annotations

from groupcomp.training.arith import ArithResult, print_arith_summary, train_arith
from groupcomp.training.loop import DataStream, FitState, SpectralProbe, fit, log_spaced_steps
from groupcomp.training.run import (
    Built,
    RunResult,
    build,
    build_template,
    metrics_frame,
    resume,
    train,
    write_figures,
)

__all__ = [
    "ArithResult",
    "Built",
    "DataStream",
    "FitState",
    "RunResult",
    "SpectralProbe",
    "build",
    "build_template",
    "fit",
    "log_spaced_steps",
    "metrics_frame",
    "print_arith_summary",
    "resume",
    "train",
    "train_arith",
    "write_figures",
]
