"""The update rule of an optimiser as a typed value, for engines that re-implement the update.

:func:`step_rule` is the one place that reads an optimiser's hyper-parameters (torch keeps them
in ``param_groups`` dicts); an engine such as the compiled kernel
(:mod:`groupcomp.training.compiled`) gets a :class:`StepRule` instead of reading those dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from groupcomp.optim.per_neuron import PerNeuronSGD

__all__ = ["StepRule", "step_rule"]


@dataclass(frozen=True)
class StepRule:
    """One parameter group's update ``θ ← θ − lr · s(θ) · ∇``.

    Attributes:
        kind: ``"per_neuron"`` (``s = ‖θ_i‖^{2−degree}`` per neuron, docs/theory.md §1.2) or
            ``"sgd"`` (``s = 1``, i.e. ``degree = 2``).
        params: the group's parameters, in order.
        lr, momentum, weight_decay: as in torch; ``eps``: the per-neuron norm floor.
    """

    kind: Literal["per_neuron", "sgd"]
    params: tuple[torch.Tensor, ...]
    lr: float
    degree: float
    momentum: float
    weight_decay: float
    eps: float
    maximize: bool = False


def step_rule(optimizer: torch.optim.Optimizer) -> tuple[StepRule, ...] | str:
    """The update rules of ``optimizer``, one per parameter group, or a sentence saying why its
    update is not plain (per-neuron) SGD."""
    out = []
    for g in optimizer.param_groups:
        if isinstance(optimizer, PerNeuronSGD):
            deg = g["degree"]
            out.append(
                StepRule(
                    "per_neuron",
                    tuple(g["params"]),
                    float(g["lr"]),
                    2.0 if deg is None else float(deg),
                    float(g["momentum"]),
                    0.0,
                    float(g["eps"]),
                )
            )
        elif type(optimizer) is torch.optim.SGD:
            out.append(
                StepRule(
                    "sgd",
                    tuple(g["params"]),
                    float(g["lr"]),
                    2.0,
                    float(g["momentum"]),
                    float(g["weight_decay"]),
                    1e-12,
                    bool(g.get("maximize", False)),
                )
            )
        else:
            return f"the optimiser is {type(optimizer).__name__} (compiled: per-neuron SGD, SGD)"
    return tuple(out)


def same_params(rule: StepRule, params: Sequence[torch.Tensor]) -> bool:
    """Whether ``rule`` updates exactly ``params``, in this order."""
    return [id(p) for p in rule.params] == [id(p) for p in params]
