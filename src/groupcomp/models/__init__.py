"""Models for group composition, all batched over an ensemble axis ``S``.

* :class:`TwoLayerNet` — P1's two-layer network (``σ = z^k`` by default).
* :class:`QuadraticRNN` — composes sequentially in ``k − 1`` steps.
* :class:`TreeNet` — composes adjacent pairs in ``⌈log₂ k⌉`` levels of a shared binary block.

Common interface (docs/architecture.md): ``forward(seq)``, ``forward_dense(x)``,
``neuron_params()``, ``other_params()``, ``degree``, ``n``, ``k``, ``hidden``, ``num_models``.
"""

from __future__ import annotations

from groupcomp.models.activations import ACTIVATIONS, Activation, get_activation
from groupcomp.models.arith import ArithNet
from groupcomp.models.base import EnsembleModel, per_model_mse
from groupcomp.models.rnn import TRANSITIONS, QuadraticRNN
from groupcomp.models.tree import TreeNet
from groupcomp.models.two_layer import TwoLayerNet

__all__ = [
    "ACTIVATIONS",
    "TRANSITIONS",
    "Activation",
    "ArithNet",
    "EnsembleModel",
    "QuadraticRNN",
    "TreeNet",
    "TwoLayerNet",
    "get_activation",
    "per_model_mse",
]
