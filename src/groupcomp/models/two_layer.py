"""Two-layer network of P1 (docs/theory.md §1.2), batched over an ensemble axis."""

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

    Initialisation (generalises group-agf's k=2 ``TwoLayerNet`` init, docs/theory.md §1.2):
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

    @property
    def supports_fused_grad(self) -> bool:
        """Whether :meth:`loss_and_grad` is available (the activation has an analytic σ')."""
        return self.activation.grad is not None

    @torch.no_grad()
    def loss_and_grad(self, seq: Tensor, target: Tensor, *, exhaustive: bool = False) -> Tensor:
        """Per-model mean-MSE and its exact gradients in one fused pass, without autograd.

        ``seq``: ``(B, k)`` or ``(S, B, k)``; ``target``: ``(B, n)`` or ``(S, B, n)``. Returns the
        losses ``(S,)`` and *sets* ``W_in.grad`` / ``W_out.grad`` to the gradients of their
        sum (each model's gradient is that of its own mean loss). Equals autograd on
        ``per_model_mse(self(seq), target).sum()`` (tested); the training loop uses it because
        it needs a handful of kernels per step instead of the autograd graph's dozens.

        ``exhaustive=True`` promises that ``seq`` is the full set of ``n^k`` sequences in
        lexicographic order (``SequenceTask.exhaustive()``): the first layer is then a broadcast
        sum of the per-slot lookup tables and its gradient a sum over the other slots — no
        gather or scatter at all.
        """
        S, H, n, k = self.num_models, self.hidden, self.n, self.k
        enc = self.encoding
        # table[s, j, g, h] = <W_in[s, h, j], x_g>  (plain matmul: einsum's overhead dominates
        # at these sizes)
        table = (self.W_in.reshape(S, H * k, n) @ enc.T).view(S, H, k, n).permute(0, 2, 3, 1)
        if exhaustive:
            # the (S, n^k, H) activations go into reused work buffers: allocating them afresh
            # every step costs more in page faults than the arithmetic (docs/performance.md)
            table = table.contiguous()  # broadcast adds are ~10x slower on the strided view
            # sequences are lexicographic (slot 0 most significant): prefix sums over j slots
            # have shape (S, n^j, H), and the last one is z
            z = self._work("z", (S, n**k, H), table.dtype)
            cur = table[:, 0]
            if k == 1:
                z.copy_(cur)
            for j in range(1, k):
                dst = z if j == k - 1 else self._work(f"z{j}", (S, n ** (j + 1), H), z.dtype)
                torch.add(
                    cur.reshape(S, n**j, 1, H),
                    table[:, j].reshape(S, 1, n, H),
                    out=dst.view(S, n**j, n, H),
                )
                cur = dst
            z = z.view(S, n**k, H)
            per_model = False
        else:
            seq, per_model = self._check_seq(seq)
            z = self._lookup_sum(table, seq, per_model)  # (S, B, H)
        p = self.activation.power if self.activation.name == "power" else None
        if self.activation.name == "square":
            p = 2
        zp = None  # z^(p-1) for the monic powers, computed into work buffers
        if p in (2, 3) and exhaustive:
            if p == 2:
                zp = z
            else:
                zp = torch.mul(z, z, out=self._work("z2", z.shape, z.dtype))
            a = torch.mul(zp, z, out=self._work("a", z.shape, z.dtype))
        else:
            a = self.activation(z)
        out = torch.bmm(a, self.W_out)  # (S, B, n)
        resid = out - target
        B = resid.shape[1]
        loss = resid.pow(2).mean(dim=(1, 2))
        g = resid.mul_(2.0 / (B * n))  # dL/d out, in place (resid is not needed again)
        grad_out = torch.bmm(a.transpose(1, 2), g)  # (S, H, n)
        if zp is not None:  # σ'(z) = p·z^(p−1): fold p into the small (S, B, n) factor
            dz = torch.bmm(
                g * p, self.W_out.transpose(1, 2), out=self._work("dz", z.shape, z.dtype)
            )
            dz.mul_(zp)
        else:
            dz = torch.bmm(g, self.W_out.transpose(1, 2)).mul_(self.activation.grad(z))
        if exhaustive:
            dzv = dz.view(S, *([n] * k), H)
            # slot j's table row g gets the sum of dz over the other slots (none when k = 1:
            # torch's sum over an empty dim tuple would sum everything)
            others = [tuple(1 + i for i in range(k) if i != j) for j in range(k)]
            dtable = torch.stack([dzv.sum(dim=o) if o else dzv for o in others], dim=1)
        else:
            # scatter dz back to the table rows: dtable[s, j, g] += dz[s, b] for g = seq[b, j]
            off = self._flat_offsets(seq, per_model)  # (S, B, k) rows of the (S·k·n, H) table
            flat = torch.zeros(S * k * n, H, dtype=z.dtype, device=z.device)
            src = dz.unsqueeze(2).expand(S, B, k, H).reshape(-1, H)
            dtable = flat.index_add_(0, off.reshape(-1), src).view(S, k, n, H)
        self.W_in.grad = (dtable.permute(0, 3, 1, 2).reshape(S, H * k, n) @ enc).view(S, H, k, n)
        self.W_out.grad = grad_out
        return loss

    def _readout(self, z: Tensor) -> Tensor:
        return torch.einsum("sbh,shn->sbn", self.activation(z), self.W_out)

    def extra_repr(self) -> str:
        return f"{self._dims_repr()}, activation={self.activation.name!r}, degree={self.degree}"
