"""Closed-form drop times of the staircase (docs/theory.md §2.5; P1 §4 and P2's radial dynamics).

A dormant neuron whose direction sits at the maximiser of the utility grows at a rate set by
``U*``; it "activates" (its norm reaches O(1), the loss drops) after

* **rescaled time** (P1's flow with ``η = ‖θ‖^{1−k} log(1/α)``, ``α → 0``):
  ``τ_s = 1 / ((k+1) U*_s)``, so ``τ_2/τ_1 = U*_1/U*_2``;
* **per-neuron flow** (``η = ‖θ‖^{1−k}``, no log factor): ``t_s = ln(1/‖θ_0‖) / ((k+1) U*_s)``;
* **plain gradient flow** (degree ``κ = k+1 ≥ 3`` per neuron): the aligned norm obeys
  ``ds/dt = κ U* s^{κ−1}``, so ``t_s = (s_0^{2−κ} − 1) / ((κ−2) κ U*_s)``.

Times are in the units of P1's loss ``L = ½ E‖y − f‖²``. One optimiser step of SGD (learning
rate ``lr``, momentum ``m``) on ``nn.MSELoss`` (``= (2/n) L``) is worth ``2·lr / (n (1 − m))`` of
them, hence e.g. per-neuron SGD: ``steps_s = n ln(1/‖θ_0‖) / (2 (k+1) lr U*_s)``.

Validity (docs/theory.md §2.5): the first drop is predicted well (D3: 111 measured vs 123
predicted steps; this project's tests require 15 %); later drops are only first-order estimates —
neurons that lost the first race must re-align, so later drops tend to come late. Use the AGF
simulator (:mod:`groupcomp.theory.agf`) for those. Adaptive optimisers (Adam, Muon) have no
closed form here: their steps are reported as ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from groupcomp.errors import ConfigError
from groupcomp.theory.staircase import Staircase

__all__ = ["DropTimes", "TIMED_OPTIMIZERS", "predict_drop_times"]

#: optimiser kinds with a closed form
TIMED_OPTIMIZERS = ("per_neuron", "gd")


@dataclass(frozen=True)
class DropTimes:
    """Predicted drop times of each step of a :class:`Staircase`.

    Attributes:
        tau: rescaled times ``1/((k+1) U*_s)`` (α- and lr-free).
        time: flow time (P1 loss units) for the given ``init_norm`` and ``optimizer``.
        steps: optimiser steps (``None`` where no closed form applies).
        optimizer: ``"per_neuron"`` (P1's per-neuron scaled SGD), ``"gd"`` (plain SGD / GD, with
            momentum) or ``None``.
        lr, momentum, init_norm: what the steps were computed for.
    """

    tau: list[float]
    time: list[float | None]
    steps: list[float | None]
    optimizer: str | None
    lr: float | None
    momentum: float
    init_norm: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "tau": list(self.tau),
            "time": list(self.time),
            "steps": list(self.steps),
            "optimizer": self.optimizer,
            "lr": self.lr,
            "momentum": self.momentum,
            "init_norm": self.init_norm,
        }


def predict_drop_times(
    staircase: Staircase,
    *,
    lr: float | None = None,
    init_norm: float | None = None,
    optimizer: str | None = "per_neuron",
    momentum: float = 0.0,
) -> DropTimes:
    """Drop times of every learning step of ``staircase`` (docs/theory.md §2.5).

    Args:
        staircase: from :func:`~groupcomp.theory.predict_staircase` (gives ``k``, ``n``, ``U*``).
        lr: optimiser learning rate (on ``nn.MSELoss``); ``None`` = no step counts.
        init_norm: initial neuron norm ``‖θ_i(0)‖`` (e.g. the RMS neuron norm of a model at
            initialisation, ≈ √2·init_scale); required for ``time`` and ``steps``.
        optimizer: ``"per_neuron"``, ``"gd"`` or ``None`` (adaptive optimisers: no closed form).
        momentum: heavy-ball momentum ``m`` (a step is worth ``1/(1 − m)`` plain steps).
    """
    if optimizer is not None and optimizer not in TIMED_OPTIMIZERS:
        raise ConfigError(
            f"optimizer: {optimizer!r} has no closed-form drop times; "
            f"allowed: {', '.join(TIMED_OPTIMIZERS)} or None"
        )
    if lr is not None and not lr > 0:
        raise ConfigError(f"lr: must be > 0, got {lr!r}")
    if init_norm is not None and not 0 < init_norm < 1:
        raise ConfigError(f"init_norm: the closed form needs 0 < ‖θ0‖ < 1, got {init_norm!r}")
    if not 0 <= momentum < 1:
        raise ConfigError(f"momentum: must be in [0, 1), got {momentum!r}")
    k, n = staircase.k, staircase.n
    kappa = k + 1
    u = staircase.step_utilities
    tau = [1.0 / (kappa * us) for us in u]
    times: list[float | None] = []
    steps: list[float | None] = []
    for us in u:
        t: float | None = None
        if optimizer is not None and init_norm is not None:
            if optimizer == "per_neuron":
                t = math.log(1.0 / init_norm) / (kappa * us)
            else:
                t = (init_norm ** (2 - kappa) - 1.0) / ((kappa - 2) * kappa * us)
        times.append(t)
        if t is not None and lr is not None:
            steps.append(t / (2.0 * lr / (n * (1.0 - momentum))))
        else:
            steps.append(None)
    return DropTimes(tau, times, steps, optimizer, lr, float(momentum), init_norm)
