"""Muon: momentum SGD whose update matrices are orthogonalised by a Newton–Schulz iteration.

Reference: K. Jordan et al., "Muon: An optimizer for hidden layers in neural networks" (blog
post, Dec 2024, https://kellerjordan.github.io/posts/muon/). Facts used from it: the update is
the (approximate) polar factor ``U Vᵀ`` of the (Nesterov) momentum matrix ``G = U Σ Vᵀ``,
computed by 5 iterations of the quintic ``X ← a X + (b A + c A²) X``, ``A = X Xᵀ``, with
``(a, b, c) = (3.4445, −4.7750, 2.0315)`` after normalising ``X = G / ‖G‖_F``; the iteration
drives every singular value into roughly ``[0.7, 1.2]`` (not exactly 1, by design); the update is
scaled by ``√max(1, rows/cols)``; parameters that are not matrices use plain momentum SGD.
This module is an independent implementation that additionally batches over the ensemble axis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from groupcomp.optim.base import Optimizer

__all__ = ["NS_COEFFS", "Muon", "newton_schulz"]

NS_COEFFS: tuple[float, float, float] = (3.4445, -4.7750, 2.0315)


def newton_schulz(g: Tensor, steps: int = 5, eps: float = 1e-7) -> Tensor:
    """Approximate polar factor (orthogonalisation) of every matrix in ``g``: ``(..., r, c)``.

    The result has the shape of ``g`` and singular values close to 1 (within the tolerance of
    the quintic iteration, about ``[0.7, 1.2]`` after 5 steps) for every non-negligible singular
    direction of ``g``. Works on a batch of matrices (leading axes).
    """
    if g.dim() < 2:
        raise ValueError(f"newton_schulz needs matrices (..., r, c), got shape {tuple(g.shape)}")
    a, b, c = NS_COEFFS
    transposed = g.shape[-2] > g.shape[-1]
    x = g.mT if transposed else g
    x = x / (torch.linalg.matrix_norm(x, keepdim=True) + eps)
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x.mT if transposed else x


class Muon(Optimizer):
    r"""Muon with batched (ensemble) matrices.

    For each parameter ``p`` with gradient ``g``::

        buf ← μ·buf + g                        (buf starts at 0)
        u   ← g + μ·buf   if nesterov else buf
        u   ← NS(u) · √max(1, rows/cols)       (matrices only; NS = :func:`newton_schulz`)
        p   ← p·(1 − lr·weight_decay) − lr·u   (decoupled weight decay)

    Which tensors are matrices: with ``ensemble=True`` (default; our models' parameters are
    ``(S, H, ...)``) every parameter with ``dim >= 3`` is a batch of ``S`` matrices, slice
    ``[s]`` flattened to ``(H, prod(rest))`` (``rows = H``; orthogonalisation is independent per
    model, no loop over ``S``); parameters with ``dim <= 2`` (a vector per model) get the
    momentum update without orthogonalisation. With ``ensemble=False`` a parameter with
    ``dim >= 2`` is one matrix ``(shape[0], prod(rest))`` and 1-D ones fall back.

    The fall-back update equals ``torch.optim.SGD(momentum=μ, nesterov=nesterov)`` (except that
    weight decay is decoupled). Note ``rows`` is the stored neuron axis ``H``; for the models'
    neuron-major output matrices ``W_out (S, H, n)`` this is the transpose of the usual
    ``(out, in)`` layout, which only affects the ``√max(1, rows/cols)`` factor.

    Args:
        params: parameters or parameter-group dicts.
        lr: learning rate (Keller Jordan's default for hidden matrices is 0.02).
        momentum: ``μ``.
        nesterov: Nesterov-style momentum (default True).
        weight_decay: decoupled weight decay.
        ns_steps: Newton–Schulz iterations (default 5).
        ensemble: whether the leading axis of every parameter is the ensemble axis.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.02,
        momentum: float = 0.95,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        ns_steps: int = 5,
        ensemble: bool = True,
    ) -> None:
        if not lr >= 0:
            raise ValueError(f"invalid lr: {lr!r}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"invalid momentum: {momentum!r} (needs 0 <= momentum < 1)")
        if not weight_decay >= 0:
            raise ValueError(f"invalid weight_decay: {weight_decay!r}")
        if int(ns_steps) != ns_steps or ns_steps < 0:
            raise ValueError(f"invalid ns_steps: {ns_steps!r}")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            ns_steps=int(ns_steps),
            ensemble=ensemble,
        )
        super().__init__(params, defaults)

    @staticmethod
    def matrix_view(shape: torch.Size | tuple[int, ...], ensemble: bool) -> tuple[int, ...] | None:
        """Shape of the (batch of) matrices a parameter is orthogonalised as, or ``None``."""
        if ensemble and len(shape) >= 3:
            rest = 1
            for d in shape[2:]:
                rest *= d
            return (shape[0], shape[1], rest)
        if not ensemble and len(shape) >= 2:
            rest = 1
            for d in shape[1:]:
                rest *= d
            return (shape[0], rest)
        return None

    def orthogonalized_update(self, u: Tensor, group: dict[str, Any]) -> Tensor:
        """``NS(u)·√max(1, rows/cols)`` reshaped back, or ``u`` itself for non-matrices."""
        view = self.matrix_view(u.shape, group["ensemble"])
        if view is None:
            return u
        rows, cols = view[-2], view[-1]
        o = newton_schulz(u.reshape(view), group["ns_steps"])
        return (o * max(1.0, rows / cols) ** 0.5).reshape(u.shape)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mom, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if mom != 0:
                    st = self.state[p]
                    if "momentum_buffer" not in st:
                        st["momentum_buffer"] = torch.zeros_like(p)
                    buf = st["momentum_buffer"]
                    buf.mul_(mom).add_(g)
                    u = g.add(buf, alpha=mom) if group["nesterov"] else buf
                else:
                    u = g
                u = self.orthogonalized_update(u, group)
                if wd != 0:
                    p.mul_(1 - lr * wd)
                p.add_(u, alpha=-lr)
        return loss
