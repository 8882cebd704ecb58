"""Two-layer network of P1 (THEORY.md §1.2), batched over an ensemble axis."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from groupcomp.models.activations import get_activation
from groupcomp.models.base import EnsembleModel, init_normal

__all__ = ["TwoLayerNet"]


class TwoLayerNet(EnsembleModel):
    r"""``f(x_{g_1}, …, x_{g_k}) = Σ_i w_i σ(Σ_j ⟨u_{ij}, x_{g_j}⟩)`` for ``S`` models at once.

    Parameters (neuron-major, both are neuron parameters):

    * ``W_in``: ``(S, H, k, n)``; ``W_in[s, i, j]`` = ``u_{ij}``, the input weights of neuron
      ``i`` for slot ``j``.
    * ``W_out``: ``(S, H, n)``; ``W_out[s, i]`` = ``w_i``, the output vector of neuron ``i``.

    Activation ``σ`` by name (:mod:`groupcomp.models.activations`); the default ``"power"`` is
    P1's monic ``z^k``. ``degree`` = ``d + 1`` where ``d`` is the degree of ``σ``: ``k + 1`` for
    ``power``, 3 for ``square`` / ``relu2``, 2 for ``relu`` / ``linear``, ``None`` for ``tanh``,
    ``gelu``, ``silu``. Exact: scaling ``θ_i = (W_in[s, i], W_out[s, i])`` by ``c > 0`` scales
    neuron ``i``'s contribution by ``c^degree``.

    Initialisation (generalises group-agf's k=2 ``TwoLayerNet`` init, THEORY.md §1.2):
    ``W_in ~ s·N(0,1)/√(k n)``, ``W_out ~ s·N(0,1)/√n`` with ``s = init_scale``, so that
    ``E‖θ_i(0)‖² = s² + s² = 2s²``, i.e. ``‖θ_i(0)‖ ≈ √2·s`` for every ``k``.

    Args:
        encoding: ``(n, n)``, row ``g`` = ``x_g``.
        k: sequence length (number of composed elements), ``>= 1``.
        hidden: width ``H``.
        num_models: ensemble size ``S``.
        init_scale: ``s`` above.
        activation: activation name (default ``"power"``, i.e. ``z^k``).
        generator: ``torch.Generator`` for the init (default: a fresh generator seeded with 0;
            the global RNG is never used).
        dtype: parameter dtype (default: the encoding's floating dtype, else torch's default).
        device: where to put parameters and buffers.
    """

    _neuron_param_names = ("W_in", "W_out")

    def __init__(
        self,
        encoding: Tensor,
        k: int,
        hidden: int,
        num_models: int = 1,
        init_scale: float = 1e-2,
        *,
        activation: str = "power",
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(encoding, k, hidden, num_models, init_scale, dtype, device, min_k=1)
        self.activation = get_activation(activation, power=self.k)
        self.degree = None if self.activation.degree is None else self.activation.degree + 1
        gen = torch.Generator().manual_seed(0) if generator is None else generator
        S, H, n, dt = self.num_models, self.hidden, self.n, self.encoding.dtype
        s = self.init_scale
        self.W_in = init_normal((S, H, self.k, n), s / math.sqrt(self.k * n), gen, dt, device)
        self.W_out = init_normal((S, H, n), s / math.sqrt(n), gen, dt, device)

    def preactivations(self, seq: Tensor) -> Tensor:
        """Hidden pre-activations ``z[s, b, i] = Σ_j ⟨u_{ij}, x_{g_j}⟩``: ``(S, B, H)``.

        Uses the lookup ``L[s, j, g, i] = ⟨W_in[s, i, j], x_g⟩`` (cost ``k·H·n²``), then gathers.
        """
        seq, per_model = self._check_seq(seq)
        table = torch.einsum("shjm,gm->sjgh", self.W_in, self.encoding)  # (S, k, n, H)
        return self._lookup_sum(table, seq, per_model)

    def forward(self, seq: Tensor) -> Tensor:
        """``seq``: ``(B, k)`` or ``(S, B, k)`` element indices → ``(S, B, n)``."""
        return self._readout(self.preactivations(seq))

    def forward_dense(self, x: Tensor) -> Tensor:
        """``x``: ``(B, k, n)`` or ``(S, B, k, n)`` input vectors → ``(S, B, n)``."""
        x = self._check_dense(x)
        z = torch.einsum("sbjm,shjm->sbh", x, self.W_in)
        return self._readout(z)

    def _readout(self, z: Tensor) -> Tensor:
        return torch.einsum("sbh,shn->sbn", self.activation(z), self.W_out)

    def extra_repr(self) -> str:
        return f"{self._dims_repr()}, activation={self.activation.name!r}, degree={self.degree}"
