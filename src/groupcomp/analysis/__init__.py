"""Analysis of trained runs: observed staircase, learned spectra."""

from __future__ import annotations

from groupcomp.analysis.scaling import (
    ScalingResult,
    scaling_experiment,
    scaling_table,
    smallest_trained_width,
)
from groupcomp.analysis.staircase import observed_staircase

__all__ = [
    "ScalingResult",
    "observed_staircase",
    "scaling_experiment",
    "scaling_table",
    "smallest_trained_width",
]
