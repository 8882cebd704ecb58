"""Analysis of trained runs: observed staircase, scaling experiment, grokking and CoGS."""

from __future__ import annotations

from groupcomp.analysis.arith import (
    first_epoch_reaching,
    grokking_epochs,
    order_histogram,
    solution_orders,
    sum_potentials,
)
from groupcomp.analysis.cogs import factorize, factorize_run, sp_dynamics
from groupcomp.analysis.scaling import (
    ScalingResult,
    scaling_experiment,
    scaling_table,
    smallest_trained_width,
)
from groupcomp.runs.observe import observed_staircase

__all__ = [
    "ScalingResult",
    "factorize",
    "factorize_run",
    "sp_dynamics",
    "first_epoch_reaching",
    "grokking_epochs",
    "order_histogram",
    "solution_orders",
    "sum_potentials",
    "observed_staircase",
    "scaling_experiment",
    "scaling_table",
    "smallest_trained_width",
]
