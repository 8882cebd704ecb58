"""Tree (multilayer) composition network: a shared binary block applied level by level."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from groupcomp.models.activations import get_activation
from groupcomp.models.base import EnsembleModel, init_normal

__all__ = ["TreeNet"]


class TreeNet(EnsembleModel):
    r"""Composes ``k`` elements in ``⌈log₂ k⌉`` levels of one shared binary block.

    See docs/theory.md §3.2.

    Binary block ``b(u, v) = Σ_i C_i σ(⟨A_i, u⟩ + ⟨B_i, v⟩)`` (``A, B, C``: ``(S, H, n)``; as
    matrices ``b(u, v) = Cᵀ σ(A u + B v)``). Level 1 applies ``b`` to the adjacent pairs
    ``(x_{g_1}, x_{g_2}), (x_{g_3}, x_{g_4}), …`` in parallel; each further level applies the
    same ``b`` to adjacent pairs of the previous level's outputs, until one vector is left.
    When a level has an odd number of vectors the last one is paired with ``x_e`` = row 0 of
    ``encoding`` (the identity element; ``x_e = x``), so e.g. for ``k = 3`` the output is
    ``b(b(x_{g_1}, x_{g_2}), b(x_{g_3}, x_e))``. Weights are shared across pairs and levels.
    ``depth = ⌈log₂ k⌉`` nonlinear levels.

    If ``(A, B, C)`` is an exact binary solution (``b(x_g, x_h) = x_{gh}``), the tree is exact
    for every ``k`` by associativity (and ``b(y, x_e) = y``).

    ``degree = d + 1`` for an activation of degree ``d`` (3 for the default ``"square"``;
    ``"power"`` means ``z²`` here, the block composes two elements). Exact for ``k = 2``
    (one block); for ``k > 2`` neuron ``i`` enters every level, so it is nominal.

    Initialisation, with ``s = init_scale`` (as :class:`TwoLayerNet` with k=2):
    ``A, B ~ s·N(0,1)/√(2n)``, ``C ~ s·N(0,1)/√n``, ``‖θ_i(0)‖ ≈ √2·s``.

    Args:
        encoding: ``(n, n)``, row ``g`` = ``x_g``; row 0 must be the identity's encoding.
        k: sequence length, ``>= 2``.
        hidden: width ``H`` of the block.
        num_models: ensemble size ``S``.
        init_scale: ``s`` above.
        activation: activation name (default ``"square"``).
        generator, dtype, device: as for :class:`TwoLayerNet`.
    """

    _neuron_param_names = ("A", "B", "C")

    def __init__(
        self,
        encoding: Tensor,
        k: int,
        hidden: int,
        num_models: int = 1,
        init_scale: float = 1e-2,
        *,
        activation: str = "square",
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(encoding, k, hidden, num_models, init_scale, dtype, device, min_k=2)
        self.activation = get_activation(activation, power=2)
        self.degree = None if self.activation.degree is None else self.activation.degree + 1
        self.depth = (self.k - 1).bit_length()  # = ceil(log2 k) for k >= 1
        gen = torch.Generator().manual_seed(0) if generator is None else generator
        S, H, n, dt = self.num_models, self.hidden, self.n, self.encoding.dtype
        s = self.init_scale
        self.A = init_normal((S, H, n), s / math.sqrt(2 * n), gen, dt, device)
        self.B = init_normal((S, H, n), s / math.sqrt(2 * n), gen, dt, device)
        self.C = init_normal((S, H, n), s / math.sqrt(n), gen, dt, device)

    def block(self, u: Tensor, v: Tensor) -> Tensor:
        """The binary block on dense inputs: ``u, v``: ``(S, *, n)`` → ``(S, *, n)``."""
        z = torch.einsum("s...m,shm->s...h", u, self.A) + torch.einsum(
            "s...m,shm->s...h", v, self.B
        )
        return self._out(z)

    def _out(self, z: Tensor) -> Tensor:
        return torch.einsum("s...h,shn->s...n", self.activation(z), self.C)

    def _levels(self, x: Tensor) -> Tensor:
        """Remaining levels on ``x``: ``(S, B, m, n)`` → ``(S, B, n)``."""
        while x.shape[2] > 1:
            if x.shape[2] % 2:
                pad = self.encoding[0].expand(x.shape[0], x.shape[1], 1, self.n)
                x = torch.cat([x, pad], dim=2)
            x = self.block(x[:, :, 0::2], x[:, :, 1::2])
        return x[:, :, 0]

    def forward(self, seq: Tensor) -> Tensor:
        """``seq``: ``(B, k)`` or ``(S, B, k)`` element indices → ``(S, B, n)``.

        The first level uses lookups of ``A`` and ``B`` (cost ``H·n²``); padding uses index 0.
        """
        seq, per_model = self._check_seq(seq)
        if self.k % 2:
            seq = torch.cat([seq, torch.zeros_like(seq[..., :1])], dim=-1)
        table = torch.stack([self._table(self.A), self._table(self.B)], dim=1)  # (S, 2, n, H)
        pairs = seq.reshape(*seq.shape[:-1], -1, 2)  # (..., B, P, 2): (left, right)
        return self._levels(self._out(self._lookup_sum(table, pairs, per_model)))

    def forward_dense(self, x: Tensor) -> Tensor:
        """``x``: ``(B, k, n)`` or ``(S, B, k, n)`` input vectors → ``(S, B, n)``."""
        return self._levels(self._check_dense(x))

    def extra_repr(self) -> str:
        return (
            f"{self._dims_repr()}, depth={self.depth}, activation={self.activation.name!r}, "
            f"degree={self.degree}"
        )
