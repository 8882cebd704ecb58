"""Element-wise activations by name, with their homogeneity degree.

An activation ``σ`` is *positively homogeneous of degree d* if ``σ(c z) = c^d σ(z)`` for ``c > 0``.
A neuron ``w σ(⟨u, x⟩)`` is then homogeneous of degree ``κ = d + 1`` in its own parameters
``θ = (u, w)``, which is what per-neuron SGD needs (docs/theory.md §1.2: ``η_i ∝ ‖θ_i‖^{2−κ}``).
``linear`` and ``relu`` have ``d = 1``; ``square`` and ``relu2`` have ``d = 2``; ``power`` (the
monic ``z^p`` of P1, with ``p`` the number of composed elements) has ``d = p``; the smooth
non-polynomial activations (``tanh``, ``gelu``, ``silu``) have no degree (``None``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from groupcomp.errors import ConfigError

ACTIVATIONS: tuple[str, ...] = (
    "power",
    "square",
    "relu",
    "relu2",
    "linear",
    "tanh",
    "gelu",
    "silu",
)


@dataclass(frozen=True)
class Activation:
    """A named element-wise activation.

    Attributes:
        name: one of :data:`ACTIVATIONS`.
        fn: the element-wise function ``Tensor -> Tensor``.
        degree: homogeneity degree ``d`` of ``σ`` itself (``None`` if not homogeneous); a neuron
            ``w σ(⟨u, x⟩)`` then has degree ``d + 1`` in ``(u, w)``.
        power: the exponent for ``"power"`` (``None`` otherwise).
    """

    name: str
    fn: Callable[[Tensor], Tensor]
    degree: int | None
    power: int | None = None
    #: derivative ``σ'`` (for the fused analytic gradients); ``None`` = use autograd
    grad: Callable[[Tensor], Tensor] | None = None

    def __call__(self, z: Tensor) -> Tensor:
        return self.fn(z)


def _square(z: Tensor) -> Tensor:
    return z * z


def _relu2(z: Tensor) -> Tensor:
    r = torch.relu(z)
    return r * r


def _identity(z: Tensor) -> Tensor:
    return z


def _ones_like(z: Tensor) -> Tensor:
    return torch.ones_like(z)


def _relu_grad(z: Tensor) -> Tensor:
    return (z > 0).to(z.dtype)


def _relu2_grad(z: Tensor) -> Tensor:
    return 2.0 * torch.relu(z)


def _square_grad(z: Tensor) -> Tensor:
    return 2.0 * z


def _tanh_grad(z: Tensor) -> Tensor:
    t = torch.tanh(z)
    return 1.0 - t * t


def _cube(z: Tensor) -> Tensor:
    return z * z * z  # faster than z.pow(3) on CPU


def _cube_grad(z: Tensor) -> Tensor:
    return (3.0 * z) * z


def _make_power_grad(p: int) -> Callable[[Tensor], Tensor]:
    if p == 1:
        return _ones_like
    if p == 2:
        return _square_grad
    if p == 3:
        return _cube_grad

    def _power_grad(z: Tensor) -> Tensor:
        return p * z.pow(p - 1)

    return _power_grad


def _make_power(p: int) -> Callable[[Tensor], Tensor]:
    if p == 1:
        return _identity
    if p == 2:
        return _square
    if p == 3:
        return _cube

    def _power(z: Tensor) -> Tensor:
        return z.pow(p)

    return _power


def get_activation(name: str, power: int = 2, *, key: str = "activation") -> Activation:
    """Look up an activation by name.

    Args:
        name: one of :data:`ACTIVATIONS` (case-insensitive).
        power: exponent used by ``"power"`` (``σ(z) = z^power``, monic, no lower-order terms, as
            in P1 / docs/theory.md §1.2 where ``power = k``); ignored by the other names.
        key: the name of ``name`` in the caller's vocabulary, named in the error message.

    Raises:
        ConfigError: unknown name, or ``power < 1``.
    """
    lname = str(name).lower()
    if lname == "power":
        if int(power) != power or power < 1:
            raise ConfigError(f"{key}: 'power' needs an integer power >= 1, got {power!r}")
        p = int(power)
        return Activation("power", _make_power(p), p, p, _make_power_grad(p))
    if lname == "square":
        return Activation("square", _square, 2, None, _square_grad)
    if lname == "relu":
        return Activation("relu", torch.relu, 1, None, _relu_grad)
    if lname == "relu2":
        return Activation("relu2", _relu2, 2, None, _relu2_grad)
    if lname == "linear":
        return Activation("linear", _identity, 1, None, _ones_like)
    if lname == "tanh":
        return Activation("tanh", torch.tanh, None, None, _tanh_grad)
    if lname == "gelu":
        return Activation("gelu", torch.nn.functional.gelu, None)
    if lname == "silu":
        return Activation("silu", torch.nn.functional.silu, None)
    raise ConfigError(f"{key}: must be one of {', '.join(ACTIVATIONS)}; got {name!r}")
