"""``Optimizer``: ``torch.optim.Optimizer`` without the ``torch._dynamo`` import.

``torch.optim.Optimizer`` wraps ``add_param_group`` (called by its ``__init__``), ``state_dict``,
``load_state_dict`` and ``zero_grad`` in ``torch._disable_dynamo``, which imports
``torch._dynamo`` on the first call: ≈ 1.5–2.5 s of a ``groupcomp train d3`` process (as long
as the whole fit) for a guard that only matters when the optimiser runs inside
``torch.compile``, which groupcomp never does. The base class here calls the same methods
unwrapped (their ``__wrapped__``), so constructing, checkpointing and resuming groupcomp's own
optimisers never imports it. ``torch.optim.SGD`` / ``Adam`` / ``AdamW`` still do (their
``step`` imports it too).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["Optimizer"]


def _unwrapped(name: str) -> Callable[..., Any]:
    """``torch.optim.Optimizer.<name>`` without its ``_disable_dynamo`` wrapper (the method
    itself where a torch version does not wrap it)."""
    fn = getattr(torch.optim.Optimizer, name)
    return getattr(fn, "__wrapped__", fn)


class Optimizer(torch.optim.Optimizer):
    """``torch.optim.Optimizer`` whose construction, ``state_dict``, ``load_state_dict`` and
    ``zero_grad`` do not import ``torch._dynamo`` (same behaviour otherwise)."""

    add_param_group = _unwrapped("add_param_group")
    state_dict = _unwrapped("state_dict")
    load_state_dict = _unwrapped("load_state_dict")
    zero_grad = _unwrapped("zero_grad")
