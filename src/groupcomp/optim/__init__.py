"""Optimisers: per-neuron scaled SGD (P1), the hybrid RNN optimiser, Muon, and a factory.

Gradient clipping is not done here (the training loop does it, optionally).
"""

from __future__ import annotations

from groupcomp.optim.factory import (
    DEFAULT_ADAM_LR,
    OPTIMIZERS,
    make_optimizer,
    resolve_optimizer_name,
)
from groupcomp.optim.muon import NS_COEFFS, Muon, newton_schulz
from groupcomp.optim.per_neuron import HybridRNNOptimizer, PerNeuronSGD
from groupcomp.optim.rules import StepRule, step_rule

__all__ = [
    "DEFAULT_ADAM_LR",
    "NS_COEFFS",
    "OPTIMIZERS",
    "HybridRNNOptimizer",
    "Muon",
    "PerNeuronSGD",
    "StepRule",
    "make_optimizer",
    "newton_schulz",
    "resolve_optimizer_name",
    "step_rule",
]
