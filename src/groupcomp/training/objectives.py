"""What a training step minimises, per task kind, behind one protocol.

An objective has ``record_keys`` (the per-step numbers it reports, ``"loss"`` first) and
``loss_and_grad(model, batch, step) -> {key: (S,) tensor}``: it computes the per-member loss of
the batch, fills the parameters' ``.grad`` (the gradient of ``loss.sum()``, so each ensemble
member gets the gradient of its own loss) and returns the step's records, measured *before* the
update. ``evaluate(model)`` (optional) gives the records of the final model, after the last
update. Every reduction is per ensemble member: nothing couples two seeds.

* :class:`SequenceObjective` — mean-MSE of the composition task (fused exact gradients where the
  model offers them, autograd otherwise).
* :class:`ArithObjective` — the arithmetic task's projected MSE or cross-entropy, with train and
  test loss / accuracy, and the optional ridge-solved read-out (docs/theory.md §5.1, §6).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor

from groupcomp.models import per_model_mse
from groupcomp.tasks.arithmetic import centred_onehot

__all__ = [
    "ArithObjective",
    "SequenceObjective",
    "arith_loss",
    "clip_grad_norm_per_model",
]


def clip_grad_norm_per_model(params: Iterable[Tensor], max_norm: float) -> Tensor:
    """Clip each ensemble member's gradient to norm ``max_norm``, independently: ``(S,)`` norms.

    Every parameter has the ensemble axis first (``(S, ...)``). Member ``s``'s norm is taken over
    all its parameter slices ``p.grad[s]``; its gradients are scaled by
    ``min(1, max_norm / (norm + 1e-6))``, the rule of ``torch.nn.utils.clip_grad_norm_`` applied
    to that member alone (so a seed clipped inside a batch equals the seed trained alone).
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(0)
    S = grads[0].shape[0]
    sq = torch.zeros(S, dtype=grads[0].dtype, device=grads[0].device)
    for g in grads:
        sq = sq + g.detach().reshape(S, -1).pow(2).sum(-1)
    norms = sq.sqrt()
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.reshape((S,) + (1,) * (g.dim() - 1)).to(g.dtype))
    return norms


class SequenceObjective:
    """Mean-MSE of a :class:`~groupcomp.tasks.SequenceTask` (``record_keys = ("loss",)``).

    Args:
        data: the run's :class:`~groupcomp.training.data.DataStream` (gives targets, cached for
            the fixed full batch).
        output_every_step: RNN only: the loss covers every prefix product.
    """

    record_keys: tuple[str, ...] = ("loss",)

    def __init__(self, data, *, output_every_step: bool = False) -> None:
        self.data = data
        self.output_every_step = bool(output_every_step)

    def fused(self, model: torch.nn.Module) -> bool:
        return bool(getattr(model, "supports_fused_grad", False)) and not self.output_every_step

    def loss_and_grad(self, model: torch.nn.Module, seq: Tensor, step: int) -> dict[str, Tensor]:
        dtype = model.encoding.dtype
        if self.fused(model):
            tgt = self.data.targets(seq, dtype)
            loss = model.loss_and_grad(seq, tgt, exhaustive=self.data.exhaustive)
            return {"loss": loss.detach()}
        tgt = self.data.targets(seq, dtype, self.output_every_step)
        if self.output_every_step:
            pred = model.forward_steps(seq)  # (S, B, k-1, n)
            if tgt.dim() == 3:
                tgt = tgt.unsqueeze(0)
            loss = (pred - tgt).pow(2).mean(dim=(1, 2, 3))
        else:
            loss = per_model_mse(model(seq), tgt)
        loss.sum().backward()
        return {"loss": loss.detach()}


def arith_loss(out: Tensor, y: Tensor, kind: str) -> Tensor:
    """Per-model loss ``(S,)`` of outputs ``(S, B, M)`` against class labels ``(S, B)``.

    ``mse``: ``mean_b ‖P^⊥ o_b − (e_{y_b} − 1/M)‖²`` (summed over outputs; the CoGS paper's
    zero-mean projected loss, docs/theory.md §5.1); ``ce``: mean cross-entropy.
    """
    S, B, M = out.shape
    if kind == "ce":
        return (
            F.cross_entropy(out.reshape(S * B, M), y.reshape(S * B), reduction="none")
            .view(S, B)
            .mean(-1)
        )
    oc = out - out.mean(-1, keepdim=True)
    return (oc - centred_onehot(y, M, out.dtype)).pow(2).sum(-1).mean(-1)


def _accuracy(out: Tensor, y: Tensor) -> Tensor:
    return (out.argmax(-1) == y).to(out.dtype).mean(-1)


class ArithObjective:
    """Loss of an arithmetic task, with train / test loss and accuracy of the whole split.

    ``record_keys``: ``loss`` (the step's training loss: the whole split in full-batch training,
    the batch otherwise), ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc`` (the whole
    split; every step in full-batch training, at the first step of each epoch otherwise, NaN
    elsewhere).

    Args:
        kind: ``"mse"`` or ``"ce"`` (:func:`arith_loss`).
        train_x, train_y, test_x, test_y: ``(S, n, k)`` tuples and ``(S, n)`` labels.
        data: the run's :class:`~groupcomp.training.data.ArithBatches`.
        ridge_lambda: solve the read-out by ridge regression on the whole training split before
            every step (``None`` = off; the model must have been built with ``ridge=True``).
        remove: a term of the loss on *all* tuples to leave out of what is minimised,
            ``model → (S,)`` (e.g. :func:`groupcomp.theory.cogs.rstar_term`, P3's Fig. 2
            "without R_*"): each (full-batch) step minimises ``loss(train ∪ test) −
            remove(model)`` (autograd; the term is defined for the loss on all tuples, P3's
            Theorem 1, so the split only decides what ``train_*`` / ``test_*`` report) and
            records it as ``loss``; ``train_loss`` / ``test_loss`` stay the task's loss.
    """

    record_keys: tuple[str, ...] = ("loss", "train_loss", "train_acc", "test_loss", "test_acc")
    #: take the model's fused exact gradients where it has them (False: autograd)
    use_fused: bool = True

    def __init__(
        self,
        kind: str,
        train_x: Tensor,
        train_y: Tensor,
        test_x: Tensor,
        test_y: Tensor,
        data,
        *,
        ridge_lambda: float | None = None,
        remove: Callable[[torch.nn.Module], Tensor] | None = None,
    ) -> None:
        self.kind = kind
        self.remove = remove
        self.train_x, self.train_y = train_x, train_y
        self.test_x, self.test_y = test_x, test_y
        self.data = data
        self.ridge_lambda = ridge_lambda
        self._train_Y: Tensor | None = None
        self._all: tuple[Tensor, ...] | None = None  # [train | test] tuples, labels, pickers

    def _ridge(self, model: torch.nn.Module) -> None:
        if self.ridge_lambda is None:
            return
        if self._train_Y is None:
            M = model.W_out.shape[-1]
            self._train_Y = centred_onehot(self.train_y, M, model.encoding.dtype)
        model.fit_readout(self.train_x, self._train_Y, float(self.ridge_lambda))

    def _eval(self, model: torch.nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        S = y.shape[0]
        if x.shape[1] == 0:
            nan = torch.full((S,), float("nan"))
            return nan, nan
        with torch.no_grad():
            o = model(x)
            return arith_loss(o, y, self.kind), _accuracy(o, y)

    def fused(self, model: torch.nn.Module) -> bool:
        """Whether steps use the model's fused exact gradients (``ArithNet.loss_and_grad``);
        ``use_fused = False`` forces autograd (the reference path of tests and benchmarks)."""
        return (
            self.use_fused
            and self.remove is None
            and bool(getattr(model, "supports_fused_grad", False))
        )

    def _fused_full(self, model: torch.nn.Module) -> dict[str, Tensor]:
        """A full-batch step in one fused pass over ``[train | test]``: the gradient of the
        training rows, and every record from the same forward pass."""
        n, n_test = self.train_x.shape[1], self.test_x.shape[1]
        dt = model.W_in.dtype
        if self._all is None:
            # 0/1 columns picking the train / test rows: exact integer sums, then one division
            pick = torch.zeros(n + n_test, 2, dtype=dt, device=self.train_x.device)
            pick[:n, 0] = 1.0
            pick[n:, 1] = 1.0
            counts = torch.tensor([n, max(n_test, 1)], dtype=dt, device=pick.device)
            self._all = (
                torch.cat([self.train_x, self.test_x], dim=1),
                torch.cat([self.train_y, self.test_y], dim=1),
                pick,
                counts,
            )
        x, y, pick, counts = self._all
        losses, correct = model.loss_and_grad(x, y, self.kind, grad_rows=n)
        S = losses.shape[0]
        # rows: (loss, acc) per member; columns: (train, test)
        st = (torch.stack([losses, correct.to(dt)], 1).view(S * 2, -1) @ pick).div_(counts)
        st = st.view(S, 2, 2)
        rec = {"loss": st[:, 0, 0], "train_loss": st[:, 0, 0], "train_acc": st[:, 1, 0]}
        if n_test:
            rec.update(test_loss=st[:, 0, 1], test_acc=st[:, 1, 1])
        else:
            rec["test_loss"] = rec["test_acc"] = torch.full((S,), float("nan"))
        return rec

    def loss_and_grad(self, model: torch.nn.Module, batch, step: int) -> dict[str, Tensor]:
        xb, yb = batch
        if self.fused(model):
            if self.data.full:
                self._ridge(model)
                return self._fused_full(model)
            if self.data.epoch_start:
                split = self.evaluate(model)  # refits the read-out; the whole split
                del split["loss"]
            else:
                self._ridge(model)
                S, dt = yb.shape[0], model.W_in.dtype
                nan = torch.full((S,), float("nan"), dtype=dt, device=yb.device)
                split = dict.fromkeys(("train_loss", "train_acc", "test_loss", "test_acc"), nan)
            losses, _ = model.loss_and_grad(xb, yb, self.kind)
            return {"loss": losses.mean(-1), **split}
        if self.data.full and self.remove is not None:
            self._ridge(model)
            loss, split = self._reduced(model)
        elif self.data.full:
            # one forward pass gives the step's loss and the whole split's train metrics
            self._ridge(model)
            out = model(xb)
            loss = arith_loss(out, yb, self.kind)
            split = {"train_loss": loss.detach(), "train_acc": _accuracy(out.detach(), yb)}
            split.update(self._test(model))
        elif self.data.epoch_start:
            split = self.evaluate(model)  # refits the read-out; the whole split, no gradients
            del split["loss"]
            loss = arith_loss(model(xb), yb, self.kind)
        else:
            self._ridge(model)
            loss = arith_loss(model(xb), yb, self.kind)
            nan = torch.full_like(loss, float("nan")).detach()
            split = dict.fromkeys(("train_loss", "train_acc", "test_loss", "test_acc"), nan)
        loss.sum().backward()
        return {"loss": loss.detach(), **split}

    def _reduced(self, model: torch.nn.Module) -> tuple[Tensor, dict[str, Tensor]]:
        """``loss(train ∪ test) − remove(model)`` (``(S,)``, with gradients) and the split's
        records, from one forward pass over all tuples."""
        n, n_test = self.train_x.shape[1], self.test_x.shape[1]
        out = model(torch.cat([self.train_x, self.test_x], dim=1))
        tr_out, te_out = out[:, :n], out[:, n:]
        tr = arith_loss(tr_out, self.train_y, self.kind)
        split = {"train_loss": tr.detach(), "train_acc": _accuracy(tr_out.detach(), self.train_y)}
        if n_test:
            te = arith_loss(te_out, self.test_y, self.kind)
            split.update(test_loss=te.detach(), test_acc=_accuracy(te_out.detach(), self.test_y))
            total = (n * tr + n_test * te) / (n + n_test)  # the mean over all tuples
        else:
            nan = torch.full_like(tr, float("nan")).detach()
            split.update(test_loss=nan, test_acc=nan)
            total = tr
        return total - self.remove(model), split

    def _test(self, model: torch.nn.Module) -> dict[str, Tensor]:
        te_l, te_a = self._eval(model, self.test_x, self.test_y)
        return {"test_loss": te_l, "test_acc": te_a}

    def evaluate(self, model: torch.nn.Module) -> dict[str, Tensor]:
        """Records of the final model (after the last update)."""
        self._ridge(model)
        if self.remove is not None:
            with torch.no_grad():
                loss, split = self._reduced(model)
            return {"loss": loss, **split}
        tr_l, tr_a = self._eval(model, self.train_x, self.train_y)
        return {"loss": tr_l, "train_loss": tr_l, "train_acc": tr_a, **self._test(model)}
