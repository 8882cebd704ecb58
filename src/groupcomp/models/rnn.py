"""Quadratic RNN of P1 / group-agf (docs/theory.md §3.2), batched over an ensemble axis."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from groupcomp.errors import ConfigError
from groupcomp.models.base import EnsembleModel, init_normal

__all__ = ["QuadraticRNN", "TRANSITIONS"]

TRANSITIONS: tuple[str, ...] = ("quadratic", "multiplicative")


class QuadraticRNN(EnsembleModel):
    r"""Recurrent composition in ``k − 1`` nonlinear steps (docs/theory.md §3.2).

    ``transition="quadratic"`` (default)::

        h_1 = (W_in x_{g_1} + W_drive x_{g_2})²
        h_t = (W_mix h_{t−1} + W_drive x_{g_{t+1}})²      t = 2 … k−1
        ŷ_t = W_out h_t                                   (predicts x_{g_1 ⋯ g_{t+1}})

    ``transition="multiplicative"``: ``h_1 = (W_in x_{g_1}) ⊙ (W_drive x_{g_2})``,
    ``h_t = (W_mix h_{t−1}) ⊙ (W_drive x_{g_{t+1}})``.

    The output is ``ŷ = ŷ_{k−1}``; :meth:`forward_steps` returns all ``ŷ_t``.

    Parameters (neuron-major; ``W_out[s, i]`` is the output vector of hidden unit ``i``):

    * neuron parameters: ``W_in (S, H, n)``, ``W_drive (S, H, n)``, ``W_out (S, H, n)``;
    * other parameters: ``W_mix (S, H, H)`` (``h ↦ W_mix[s] @ h``), trained by Adam in the
      hybrid optimiser.

    ``degree = 3``: exact for ``k = 2`` (then the model is the k=2 two-layer net with
    ``σ = z²`` — or a bilinear neuron for ``multiplicative`` — and neuron ``i`` is
    ``W_out[i] σ(⟨W_in[i], x⟩ + ⟨W_drive[i], x'⟩)``); for ``k > 2`` a neuron's output also
    feeds back through ``W_mix``, so 3 is the nominal degree used by per-neuron SGD (as in the
    group-agf hybrid optimiser, whose per-neuron exponent −1 = 2 − 3).

    Initialisation, with ``s = init_scale``: ``W_in, W_drive ~ s·N(0,1)/√(2n)``,
    ``W_out ~ s·N(0,1)/√n`` (so ``‖θ_i(0)‖ ≈ √2·s`` as for :class:`TwoLayerNet` with k=2), and
    ``W_mix ~ s_mix·N(0,1)/√H`` with ``s_mix = mix_init_scale`` (default ``s``). group-agf's
    ``QuadraticRNN`` instead uses ``s/√n`` for ``W_in, W_drive`` and ``s/√H`` for ``W_out``.

    Exact construction (docs/theory.md §3.2): if ``x_{gh} = C σ(A x_g + B x_h)`` (binary block with
    ``A, B, C`` stored as ``(H, n)``), then ``W_in = A``, ``W_drive = B``, ``W_out = C``,
    ``W_mix = A @ C.T`` give ``ŷ_t = x_{g_1⋯g_{t+1}}`` for every ``t``.

    Args:
        encoding: ``(n, n)``, row ``g`` = ``x_g``.
        k: sequence length, ``>= 2``.
        hidden: width ``H``.
        num_models: ensemble size ``S``.
        init_scale: ``s`` above.
        transition: ``"quadratic"`` or ``"multiplicative"``.
        mix_init_scale: scale of ``W_mix`` (default ``init_scale``).
        generator, dtype, device: as for :class:`TwoLayerNet`.
    """

    _neuron_param_names = ("W_in", "W_drive", "W_out")
    _other_param_names = ("W_mix",)
    degree = 3

    def __init__(
        self,
        encoding: Tensor,
        k: int,
        hidden: int,
        num_models: int = 1,
        init_scale: float = 1e-2,
        *,
        transition: str = "quadratic",
        mix_init_scale: float | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(encoding, k, hidden, num_models, init_scale, dtype, device, min_k=2)
        transition = str(transition).lower()
        if transition not in TRANSITIONS:
            raise ConfigError(
                f"QuadraticRNN: transition must be one of {', '.join(TRANSITIONS)}; "
                f"got {transition!r}"
            )
        self.transition = transition
        s = self.init_scale
        s_mix = s if mix_init_scale is None else float(mix_init_scale)
        if not s_mix >= 0:
            raise ConfigError(
                f"QuadraticRNN: mix_init_scale must be a number >= 0 (or None), "
                f"got {mix_init_scale!r}"
            )
        self.mix_init_scale = s_mix
        gen = torch.Generator().manual_seed(0) if generator is None else generator
        S, H, n, dt = self.num_models, self.hidden, self.n, self.encoding.dtype
        self.W_in = init_normal((S, H, n), s / math.sqrt(2 * n), gen, dt, device)
        self.W_drive = init_normal((S, H, n), s / math.sqrt(2 * n), gen, dt, device)
        self.W_mix = init_normal((S, H, H), s_mix / math.sqrt(H), gen, dt, device)
        self.W_out = init_normal((S, H, n), s / math.sqrt(n), gen, dt, device)

    # ------------------------------------------------------------------ core
    def _combine(self, a: Tensor, b: Tensor) -> Tensor:
        if self.transition == "quadratic":
            z = a + b
            return z * z
        return a * b

    def _run(self, first: Tensor, drives: list[Tensor], all_steps: bool) -> Tensor:
        """``first = W_in x_{g1}``, ``drives[t] = W_drive x_{g_{t+2}}`` (all ``(S, B, H)``)."""
        h = self._combine(first, drives[0])
        outs = [h] if all_steps else []
        for d in drives[1:]:
            h = self._combine(torch.einsum("sij,sbj->sbi", self.W_mix, h), d)
            if all_steps:
                outs.append(h)
        if not all_steps:
            return torch.einsum("sbh,shn->sbn", h, self.W_out)
        return torch.einsum("sbth,shn->sbtn", torch.stack(outs, dim=2), self.W_out)

    def _lookup(self, seq: Tensor, all_steps: bool) -> Tensor:
        seq, per_model = self._check_seq(seq)
        first = self._lookup_sum(self._table(self.W_in)[:, None], seq[..., :1], per_model)
        drive = self._table(self.W_drive)[:, None]  # (S, 1, n, H)
        drives = self._lookup_sum(drive, seq[..., 1:, None], per_model)  # (S, B, k-1, H)
        return self._run(first, list(drives.unbind(dim=2)), all_steps)

    def _dense(self, x: Tensor, all_steps: bool) -> Tensor:
        x = self._check_dense(x)
        first = torch.einsum("sbm,shm->sbh", x[:, :, 0], self.W_in)
        drives = [torch.einsum("sbm,shm->sbh", x[:, :, j], self.W_drive) for j in range(1, self.k)]
        return self._run(first, drives, all_steps)

    # ------------------------------------------------------------------ API
    def forward(self, seq: Tensor) -> Tensor:
        """``seq``: ``(B, k)`` or ``(S, B, k)`` element indices → final prediction ``(S, B, n)``."""
        return self._lookup(seq, all_steps=False)

    def forward_steps(self, seq: Tensor) -> Tensor:
        """Predictions after every step: ``(S, B, k−1, n)``; step ``t`` (0-based index ``t−1``)
        predicts ``x_{g_1 ⋯ g_{t+1}}``."""
        return self._lookup(seq, all_steps=True)

    def forward_dense(self, x: Tensor) -> Tensor:
        """``x``: ``(B, k, n)`` or ``(S, B, k, n)`` input vectors → ``(S, B, n)``."""
        return self._dense(x, all_steps=False)

    def forward_steps_dense(self, x: Tensor) -> Tensor:
        """Dense counterpart of :meth:`forward_steps`: ``(S, B, k−1, n)``."""
        return self._dense(x, all_steps=True)

    def extra_repr(self) -> str:
        return (
            f"{self._dims_repr()}, transition={self.transition!r}, "
            f"mix_init_scale={self.mix_init_scale:g}, degree={self.degree}"
        )
