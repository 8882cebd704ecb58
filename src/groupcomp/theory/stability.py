"""The largest stable learning rate of the staircase, and a step budget that covers it
(docs/theory.md §2.6).

Derivation (this project; checked by training, see docs/theory.md §2.6). Near the end of the
drop of irrep ``π`` a cohort of ``m`` neurons with norms ``s`` and directions at the utility
maximiser ``θ̄*_π`` fits the target's ``π``-component ``y_π``: ``Σ_i s^κ f(θ̄*_π) ≈ y_π``
(``κ = k + 1``), i.e. ``m s^κ ‖ḡ_π‖ = √P_π`` with

* ``P_π = E_g ‖y_π(g)‖² / n``: the irrep's share of the mean-MSE loss (its plateau drop),
* ``‖ḡ_π‖² = E_g ‖f(x_g; θ̄*_π)‖² / n``: the output power of one unit-norm maximiser neuron.

Scaling every neuron of the cohort by ``1 + ε`` changes the output by ``κ ε y_π``, so the
mean-MSE loss has curvature ``2 κ² P_π`` along ``ε`` — the stiffest direction (the radial
direction collects all ``k + 1`` factors of a neuron coherently). One step of per-neuron SGD
(``η_i = lr ‖θ_i‖^{1−k}``) moves ``ε`` by ``lr / (m s^κ)`` times the gradient, so gradient
descent is stable on this mode iff

    lr < lr_π = 1 / (κ² ‖ḡ_π‖ √P_π)          (per-neuron SGD),

independently of the width and of the initial scale. Plain SGD moves ``ε`` by ``lr / (m s²)``;
the bound ``m s² ≥ (√P_π/‖ḡ_π‖)^{2/κ}`` (attained by a single neuron) gives

    lr < (√P_π / ‖ḡ_π‖)^{2/κ} / (κ² P_π)       (SGD),

and heavy-ball momentum ``β`` multiplies either bound by ``1 + β``. The run's bound is the
smallest over the irreps with power. ``‖ḡ_π‖`` is computed at the numerical maximiser of the
utility restricted to ``y_π`` (:func:`groupcomp.theory.maximize_utility`, which enumerates the
``n^k`` sequences; above :data:`MAX_EXACT_SEQUENCES` the alignment-based estimate
``‖ḡ_π‖ = U*_π / (c n √P_π)`` with the smallest alignment measured, ``c = 0.1``, is used).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from groupcomp import fourier
from groupcomp.errors import ConfigError
from groupcomp.groups.core import FiniteGroup
from groupcomp.templates import check_template
from groupcomp.theory.staircase import Staircase, _check_k, predict_staircase
from groupcomp.theory.utility import _sequence_products, maximize_utility

__all__ = [
    "AUTO_LR_FRACTION",
    "AUTO_STEPS_MARGIN",
    "MAX_EXACT_SEQUENCES",
    "StableLR",
    "auto_steps",
    "stable_lr",
]

#: ``optim.lr=auto`` uses this fraction of the stability bound (docs/theory.md §2.6)
AUTO_LR_FRACTION = 0.25
#: ``train.steps=auto`` = this many times the closed-form step of the last drop
AUTO_STEPS_MARGIN = 8.0
#: largest ``n^k`` for which ``‖ḡ_π‖`` is computed at the numerical utility maximiser
MAX_EXACT_SEQUENCES = 100_000
#: alignment ``c = U*/(n ‖ḡ‖ √P)`` assumed above that size (the smallest measured: 0.12)
C_FALLBACK = 0.1


@dataclass(frozen=True)
class StableLR:
    """Result of :func:`stable_lr`.

    Attributes:
        bound: the largest stable learning rate (the minimum of ``per_irrep``).
        per_irrep: ``{label: bound}`` for every irrep with power.
        limiting: label of the irrep that sets the bound.
        optimizer, momentum: what the bound is for.
        method: ``"maximiser"`` (numerical utility maximiser) or ``"alignment"`` (fallback).
    """

    bound: float
    per_irrep: dict[str, float]
    limiting: str
    optimizer: str
    momentum: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _unit_output_power(G: FiniteGroup, x: np.ndarray, k: int, theta: np.ndarray) -> float:
    """``E_g ‖f(x_g; θ)‖² / n`` of one neuron ``θ: (k+1, n)`` over all ``n^k`` sequences."""
    n = G.order
    enc = x[np.asarray(G.table)]  # enc[g] = x_g
    a = np.stack([enc @ theta[j] for j in range(k)])  # (k, n): <u_j, x_g>
    z = a[0]
    for j in range(1, k):
        z = z[..., None] + a[j].reshape((1,) * j + (n,))
    return float(np.mean(z.reshape(-1) ** (2 * k)) * np.sum(theta[k] ** 2) / n)


def stable_lr(
    G: FiniteGroup,
    template: np.ndarray,
    k: int,
    *,
    optimizer: str = "per_neuron",
    momentum: float = 0.0,
    staircase: Staircase | None = None,
) -> StableLR:
    """Largest stable learning rate of the two-layer ``z^k`` network on ``nn.MSELoss``
    (module docstring).

    Args:
        G, template, k: the task (``template: (n,)``, mean-zero).
        optimizer: ``"per_neuron"`` (per-neuron SGD) or ``"gd"`` (SGD).
        momentum: heavy-ball momentum ``β`` (bound × ``1 + β``).
        staircase: the task's :func:`predict_staircase` (computed if not given).
    """
    k = _check_k(k)
    if optimizer not in ("per_neuron", "gd"):
        raise ConfigError(
            f"optimizer: {optimizer!r} has no stability bound; allowed: per_neuron, gd"
        )
    if not 0 <= momentum < 1:
        raise ConfigError(f"momentum: must be in [0, 1), got {momentum!r}")
    x = check_template(G, template)
    st = staircase if staircase is not None else predict_staircase(G, x, k)
    n, kap = G.order, k + 1
    exact = n**k <= MAX_EXACT_SEQUENCES
    y = None
    if exact:
        prod = _sequence_products(np.asarray(G.table), k).reshape(-1)
        y = x[np.asarray(G.table)][prod]  # (n^k, n): target of every sequence
    per: dict[str, float] = {}
    for step in st.order:
        for i in step:
            P = float(st.powers[i]) / n  # mean-MSE share of irrep i
            if P <= 0:
                continue
            if y is not None:
                yi = y @ fourier.projector(G, i).T
                best = maximize_utility(G, x, k, residual=yi, restarts=6, steps=800, seed=0)
                g = math.sqrt(_unit_output_power(G, x, k, best.neuron))
            else:
                g = float(st.utilities[i]) / (C_FALLBACK * n * math.sqrt(P))
            if g <= 0:
                continue
            if optimizer == "per_neuron":
                b = 1.0 / (kap**2 * g * math.sqrt(P))
            else:
                b = (math.sqrt(P) / g) ** (2.0 / kap) / (kap**2 * P)
            per[st.irrep_labels[i]] = b * (1.0 + momentum)
    if not per:
        raise ConfigError("template: no irrep has power; nothing to learn, no learning rate")
    limiting = min(per, key=per.__getitem__)
    return StableLR(
        per[limiting],
        per,
        limiting,
        optimizer,
        float(momentum),
        "maximiser" if exact else "alignment",
    )


def auto_steps(last_drop_step: float, *, margin: float = AUTO_STEPS_MARGIN) -> int:
    """``train.steps=auto``: ``margin`` × the closed-form step of the last drop, rounded up to
    two significant digits (later drops come up to ≈ 6× after the closed form, docs/theory.md
    §2.6)."""
    if not (math.isfinite(last_drop_step) and last_drop_step > 0):
        raise ConfigError(f"train.steps: cannot choose steps from a last drop at {last_drop_step}")
    raw = margin * last_drop_step
    mag = 10 ** max(0, int(math.floor(math.log10(raw))) - 1)
    return int(math.ceil(raw / mag) * mag)
