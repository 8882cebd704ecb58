"""Measurements taken at log-spaced steps (no gradients): spectra of the learned function.

A probe is a callable ``probe(model) -> {name: tensor}`` whose tensors are ``(S,)`` (one number
per ensemble member) or ``(S, m)`` (one per irrep, labelled by ``probe.labels``). The run layer
turns them into metrics columns ``name`` and ``name/<label>``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from groupcomp import fourier
from groupcomp.tasks import ArithmeticTask, SequenceTask

__all__ = ["SpectralProbe", "WeightPowerProbe"]


class SpectralProbe:
    """Per-irrep loss split and learned power spectrum on a fixed evaluation set.

    For residual ``r = y − ŷ``: ``irrep_loss[π] = mean_b P_π(r_b) / n`` (mean-MSE units; sums to
    the loss by Parseval), ``power[π] = mean_b P_π(ŷ_b)`` (equals the template's power when the
    function is learned exactly, because translation preserves power). With ``val_seq``, also
    ``val_loss``: the mean-MSE on those held-out sequences.
    """

    def __init__(
        self,
        task: SequenceTask,
        eval_seq: Tensor,
        dtype: torch.dtype,
        device,
        val_seq: Tensor | None = None,
    ) -> None:
        G = task.G
        self.task = task
        self.labels = [r.label for r in G.irreps()]
        self.m = len(self.labels)
        self.n = G.order
        self.B = torch.tensor(fourier.basis(G), dtype=dtype, device=device)
        self.idx = torch.tensor(fourier.basis_irrep_index(G), device=device)
        self.eval_seq = eval_seq.to(device)
        self.target = task.targets(self.eval_seq, dtype=dtype).to(device)
        self.val_seq = None if val_seq is None else val_seq.to(device)
        self.val_target = (
            None if val_seq is None else task.targets(self.val_seq, dtype=dtype).to(device)
        )

    def _power(self, f: Tensor) -> Tensor:
        c2 = (f @ self.B) ** 2  # (S, B, n)
        out = torch.zeros((*c2.shape[:-1], self.m), dtype=c2.dtype, device=c2.device)
        return out.index_add_(-1, self.idx, c2).mean(dim=-2)  # (S, m)

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module) -> dict[str, Tensor]:
        pred = model(self.eval_seq)  # (S, B, n)
        resid = self.target.unsqueeze(0) - pred
        out = {
            "eval_loss": resid.pow(2).mean(dim=(1, 2)),
            "irrep_loss": self._power(resid) / self.n,
            "power": self._power(pred),
        }
        if self.val_seq is not None:
            vres = self.val_target.unsqueeze(0) - model(self.val_seq)
            out["val_loss"] = vres.pow(2).mean(dim=(1, 2))
        return out


class WeightPowerProbe:
    """Fourier power per irrep of an arithmetic model's effective input weights, summed over
    neurons and operands: ``{"power": (S, m)}``. Only for tasks whose operands form a group."""

    def __init__(self, task: ArithmeticTask) -> None:
        G = task.operand_group
        if G is None:
            raise ValueError("WeightPowerProbe: the task's operands do not form a group")
        self.G = G
        self.labels = [r.label for r in G.irreps()]

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module) -> dict[str, Tensor]:
        u = model.symbol_weights().detach().double().cpu()  # (S, H, k, M)
        return {"power": fourier.power(self.G, u).sum(dim=(1, 2))}
