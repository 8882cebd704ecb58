"""Per-neuron scaled SGD (P1's neuron-dependent learning rate) and the hybrid RNN optimiser.

docs/theory.md §1.2: P1 trains with ``dθ_i/dt = −η_{θ_i} ∇_{θ_i} L``,
``η_{θ_i} ∝ ‖θ_i‖^{1−k}`` for the two-layer net with ``σ = z^k``, whose neurons are homogeneous of
degree ``κ = k + 1`` in their own parameters; ``‖θ_i‖^{1−k} = ‖θ_i‖^{2−κ}`` makes the growth rate
of ``log‖θ_i‖`` independent of the norm. The discrete version implemented here is

    θ_i ← θ_i − lr · ‖θ_i‖^{2−κ} · ∇_{θ_i} L

for every model ``s`` and neuron ``i`` at once, where ``θ_i`` is the concatenation of the
``[s, i]`` slices of all parameters of a parameter group (shape ``(S, H, ...)`` each).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from groupcomp.optim.base import Optimizer

__all__ = ["HybridRNNOptimizer", "PerNeuronSGD"]


def _check_lr(lr: float, name: str = "lr") -> None:
    if not lr >= 0:
        raise ValueError(f"invalid {name}: {lr!r} (needs >= 0)")


def _check_neuron_group(group: dict[str, Any]) -> None:
    """All params of a scaled group must share the leading ``(S, H)`` axes."""
    deg = group["degree"]
    if deg is None or deg == 2:
        return
    lead = None
    for p in group["params"]:
        if p.dim() < 2:
            raise ValueError(
                f"per-neuron SGD needs parameters of shape (S, H, ...), got {tuple(p.shape)}"
            )
        if lead is None:
            lead = tuple(p.shape[:2])
        elif tuple(p.shape[:2]) != lead:
            raise ValueError(
                "per-neuron SGD: all parameters of a group must share the leading (S, H) axes; "
                f"got {lead} and {tuple(p.shape[:2])}"
            )


@torch.no_grad()
def _neuron_scale(params: Sequence[Tensor], degree: float, eps: float) -> Tensor:
    """``max(‖θ_i‖, eps)^{2−κ}`` of shape ``(S, H)`` (norms from the current values)."""
    s, h = params[0].shape[:2]
    sq = params[0].reshape(s, h, -1).pow(2).sum(-1)
    for p in params[1:]:
        sq = sq + p.reshape(s, h, -1).pow(2).sum(-1)
    return sq.sqrt().clamp_min(eps).pow(2.0 - degree)


@torch.no_grad()
def _per_neuron_group_step(group: dict[str, Any], state: dict) -> None:
    params = group["params"]
    with_grad = [p for p in params if p.grad is not None]
    if not with_grad:
        return
    lr, deg, mom = group["lr"], group["degree"], group["momentum"]
    scale = None if deg is None or deg == 2 else _neuron_scale(params, deg, group["eps"])
    for p in with_grad:
        d = p.grad
        if scale is not None:
            d = d * scale.view(*scale.shape, *([1] * (p.dim() - 2)))
        if mom != 0:
            st = state[p]
            buf = st.get("momentum_buffer")
            if buf is None:
                buf = st["momentum_buffer"] = d.detach().clone()
            else:
                buf.mul_(mom).add_(d)
            d = buf
        p.add_(d, alpha=-lr)


class PerNeuronSGD(Optimizer):
    r"""SGD with the per-neuron learning rate ``lr · ‖θ_i‖^{2−κ}`` (docs/theory.md §1.2).

    Args:
        params: the model's ``neuron_params()`` (each ``(S, H, ...)``; neuron ``i`` of model
            ``s`` is the ``[s, i]`` slice of all of them together), or a list of parameter-group
            dicts (each group is its own neuron set, with optional ``lr``/``degree``/…).
        lr: base learning rate.
        degree: homogeneity degree ``κ`` of a neuron's output in its parameters (``model.degree``;
            ``k + 1`` for the two-layer ``z^k`` net, giving P1's exponent ``1 − k``). ``None`` or 2
            gives plain SGD.
        momentum: heavy-ball momentum on the *scaled* gradient (``buf ← μ·buf + scaled grad``,
            ``buf`` starts at the first scaled gradient, as in ``torch.optim.SGD``); 0 = none.
        eps: lower bound on ``‖θ_i‖`` in the scale (a neuron at exactly 0 would otherwise get an
            infinite factor for ``κ > 2``; its gradient is 0 there anyway).

    The ``(S, H)`` norms are computed from the parameters before the step (all neurons updated
    simultaneously), vectorised over models and neurons. No ``log(1/α)`` factor (P1's time
    rescaling) is applied. Gradient clipping is left to the training loop.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        degree: float | None,
        momentum: float = 0.0,
        eps: float = 1e-12,
    ) -> None:
        _check_lr(lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"invalid momentum: {momentum!r} (needs 0 <= momentum < 1)")
        if not eps > 0:
            raise ValueError(f"invalid eps: {eps!r} (needs > 0)")
        defaults = dict(lr=lr, degree=degree, momentum=momentum, eps=eps)
        super().__init__(params, defaults)
        for group in self.param_groups:
            _check_neuron_group(group)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            _per_neuron_group_step(group, self.state)
        return loss


class HybridRNNOptimizer(Optimizer):
    r"""Per-neuron SGD on the neuron parameters, Adam on the others (the RNN's ``W_mix``).

    The recurrent matrix ``W_mix`` is not a per-neuron quantity with a clean homogeneity degree,
    so — following the group-agf RNN training code — it is trained with Adam at its own learning
    rate, while ``W_in``, ``W_drive``, ``W_out`` get :class:`PerNeuronSGD`'s update
    (``lr · ‖θ_i‖^{2−κ} · ∇``, ``κ = 3`` by default, i.e. exponent ``−1``).

    Param groups: ``param_groups[0]`` is the per-neuron group (``kind="per_neuron"``, ``lr``),
    ``param_groups[1]`` (only if ``other_params`` is non-empty) the Adam group (``kind="adam"``,
    ``lr = adam_lr``, ``betas``, ``eps``, ``weight_decay``). An LR scheduler multiplies both
    learning rates by the same factor.

    The Adam update is the standard bias-corrected one (Kingma & Ba 2015), identical to
    ``torch.optim.Adam`` without amsgrad, including its L2-style ``weight_decay`` (added to the
    gradient; applies to the Adam group only).

    Args:
        neuron_params: ``model.neuron_params()``.
        other_params: ``model.other_params()``.
        lr: per-neuron SGD learning rate.
        degree: ``κ`` for the per-neuron group (``model.degree``; default 3).
        adam_lr: Adam learning rate for ``other_params`` (default ``1e-3``).
        momentum: momentum of the per-neuron SGD part.
        betas, adam_eps, weight_decay: Adam hyper-parameters.
        eps: norm floor of the per-neuron scale.
    """

    def __init__(
        self,
        neuron_params: Iterable[Tensor],
        other_params: Iterable[Tensor],
        lr: float,
        degree: float | None = 3,
        adam_lr: float = 1e-3,
        momentum: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        adam_eps: float = 1e-8,
        weight_decay: float = 0.0,
        eps: float = 1e-12,
    ) -> None:
        _check_lr(lr)
        _check_lr(adam_lr, "adam_lr")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"invalid momentum: {momentum!r} (needs 0 <= momentum < 1)")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"invalid betas: {betas!r}")
        if not weight_decay >= 0:
            raise ValueError(f"invalid weight_decay: {weight_decay!r}")
        groups: list[dict[str, Any]] = [
            dict(
                params=list(neuron_params),
                kind="per_neuron",
                lr=lr,
                degree=degree,
                momentum=momentum,
                eps=eps,
            )
        ]
        others = list(other_params)
        if others:
            groups.append(
                dict(
                    params=others,
                    kind="adam",
                    lr=adam_lr,
                    betas=tuple(betas),
                    eps=adam_eps,
                    weight_decay=weight_decay,
                )
            )
        super().__init__(groups, {})
        _check_neuron_group(self.param_groups[0])

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if group["kind"] == "per_neuron":
                _per_neuron_group_step(group, self.state)
            else:
                self._adam_group_step(group)
        return loss

    @torch.no_grad()
    def _adam_group_step(self, group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        for p in group["params"]:
            if p.grad is None:
                continue
            grad = p.grad
            if wd != 0:
                grad = grad.add(p, alpha=wd)
            st = self.state[p]
            if not st:
                st["step"] = 0
                st["exp_avg"] = torch.zeros_like(p)
                st["exp_avg_sq"] = torch.zeros_like(p)
            st["step"] += 1
            t = st["step"]
            st["exp_avg"].mul_(beta1).add_(grad, alpha=1 - beta1)
            st["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            bc1 = 1 - beta1**t
            bc2 = 1 - beta2**t
            denom = (st["exp_avg_sq"].sqrt() / bc2**0.5).add_(eps)
            p.addcdiv_(st["exp_avg"], denom, value=-lr / bc1)
