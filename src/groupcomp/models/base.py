"""Shared machinery of the ensemble models (``EnsembleModel``) and small helpers.

Conventions (docs/architecture.md, "Models"):

* Every parameter has a leading ensemble axis ``S`` (``num_models``): ``S`` independent models
  (seeds, …) are trained as one batched module. Model ``s`` is the slice ``[s]`` of every
  parameter; nothing couples different ``s`` in the forward pass, so the gradient of
  ``Σ_s loss_s`` w.r.t. slice ``[s]`` is the gradient of ``loss_s`` alone.
* Neuron parameters have shape ``(S, H, ...)``: neuron ``i`` of model ``s`` is the slice
  ``[s, i]`` of all of :meth:`EnsembleModel.neuron_params` together.
* ``forward(seq)`` takes element indices (``(B, k)`` shared by all models or ``(S, B, k)``, one
  batch per model) and uses a lookup of the first layer; ``forward_dense(x)`` takes arbitrary
  input vectors (``(B, k, n)`` or ``(S, B, k, n)``). Both return ``(S, B, n)``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from groupcomp.errors import ConfigError

__all__ = ["EnsembleModel", "init_normal", "per_model_mse"]


def init_normal(
    shape: Sequence[int],
    std: float,
    generator: torch.Generator,
    dtype: torch.dtype,
    device: torch.device | str | None = None,
) -> nn.Parameter:
    """``std · N(0, 1)`` of the given shape drawn from ``generator`` (never the global RNG).

    The numbers are drawn on the generator's device and then moved to ``device``; so for a
    fixed seed a model has the same initial values whatever device it is put on.
    """
    w = torch.randn(tuple(shape), generator=generator, dtype=dtype, device=generator.device)
    w = w * std
    if device is not None:
        w = w.to(device)
    return nn.Parameter(w)


def per_model_mse(pred: Tensor, target: Tensor) -> Tensor:
    """Mean-MSE of each ensemble member: ``(S,)``.

    ``pred``: ``(S, B, n)``; ``target``: ``(B, n)`` (shared) or ``(S, B, n)``. Equals
    ``torch.nn.MSELoss()(pred[s], target[s])`` for each ``s`` (the project's "mean-MSE"). The loss
    to back-propagate for an ensemble is ``per_model_mse(...).sum()``: each model then receives
    exactly the gradient of its own mean loss.
    """
    if pred.dim() != 3:
        raise ValueError(f"pred must have shape (S, B, n), got {tuple(pred.shape)}")
    if target.dim() == 2:
        target = target.unsqueeze(0)
    elif target.dim() != 3:
        raise ValueError(f"target must have shape (B, n) or (S, B, n), got {tuple(target.shape)}")
    return (pred - target).pow(2).mean(dim=(1, 2))


class EnsembleModel(nn.Module):
    """Base class: holds the encoding buffer, sizes, input checks and lookups.

    Subclasses set ``_neuron_param_names`` / ``_other_param_names`` (attribute names of their
    ``nn.Parameter`` s) and ``degree``, and implement ``forward`` / ``forward_dense``.

    Attributes:
        encoding: buffer ``(n, n)``; row ``g`` is ``x_g`` (the translated template).
        n, k, hidden, num_models, init_scale: sizes and the init scale ``s``.
        degree: homogeneity degree ``κ`` of one neuron's output in its own neuron parameters, or
            ``None`` (see the subclass docs for exactness).
    """

    _neuron_param_names: tuple[str, ...] = ()
    _other_param_names: tuple[str, ...] = ()
    degree: int | None = None
    #: validate element indices in ``forward`` (costs a host sync; trusted callers switch it off)
    check_indices: bool = True
    #: the subclass's name for ``k`` in its own signature (named in error messages)
    _k_param: str = "k"

    def __init__(
        self,
        encoding: Tensor,
        k: int,
        hidden: int,
        num_models: int,
        init_scale: float,
        dtype: torch.dtype | None,
        device: torch.device | str | None,
        min_k: int = 1,
    ) -> None:
        super().__init__()
        enc = torch.as_tensor(encoding)
        if dtype is None:
            dtype = enc.dtype if enc.is_floating_point() else torch.get_default_dtype()
        if enc.dim() != 2 or enc.shape[0] != enc.shape[1]:
            raise ValueError(f"encoding must have shape (n, n), got {tuple(enc.shape)}")
        owner = type(self).__name__
        for key, val, lo in ((self._k_param, k, min_k), ("hidden", hidden, 1)):
            if int(val) != val or val < lo:
                raise ConfigError(f"{owner}: {key} must be an integer >= {lo}, got {val!r}")
        if int(num_models) != num_models or num_models < 1:
            raise ConfigError(f"{owner}: num_models must be an integer >= 1, got {num_models!r}")
        if not init_scale >= 0:
            raise ConfigError(f"{owner}: init_scale must be a number >= 0, got {init_scale!r}")
        self.register_buffer("encoding", enc.to(dtype=dtype, device=device).clone())
        self.n = int(enc.shape[0])
        self.k = int(k)
        self.hidden = int(hidden)
        self.num_models = int(num_models)
        self.init_scale = float(init_scale)

    # ---------------------------------------------------------------- parameters
    def neuron_params(self) -> list[nn.Parameter]:
        """Parameters of shape ``(S, H, ...)`` whose ``[s, i]`` slices together form neuron i."""
        return [getattr(self, name) for name in self._neuron_param_names]

    def other_params(self) -> list[nn.Parameter]:
        """All parameters that are not neuron parameters (e.g. a recurrent matrix)."""
        return [getattr(self, name) for name in self._other_param_names]

    @torch.no_grad()
    def neuron_norms(self) -> Tensor:
        """``‖θ_i‖`` of every neuron of every model: ``(S, H)``."""
        sq = sum(
            p.reshape(self.num_models, self.hidden, -1).pow(2).sum(-1) for p in self.neuron_params()
        )
        return torch.as_tensor(sq).sqrt()

    def select(self, models: int | Sequence[int] | Tensor) -> EnsembleModel:
        """A copy holding only the given ensemble members (an int keeps a size-1 axis)."""
        idx = torch.as_tensor([models] if isinstance(models, int) else models, dtype=torch.long)
        if idx.dim() != 1 or idx.numel() == 0:
            raise ValueError("models must be an int or a non-empty 1-D sequence of ints")
        new = copy.deepcopy(self)
        for name in (*self._neuron_param_names, *self._other_param_names):
            p = getattr(self, name)
            setattr(new, name, nn.Parameter(p.detach()[idx.to(p.device)].clone()))
        new.num_models = int(idx.numel())
        return new

    # ---------------------------------------------------------------- input handling
    def _check_seq(self, seq: Tensor) -> tuple[Tensor, bool]:
        """Validate ``seq``; return it and whether it holds one batch per model."""
        if not isinstance(seq, Tensor):
            seq = torch.as_tensor(seq)
        if seq.is_floating_point() or seq.is_complex() or seq.dtype == torch.bool:
            raise TypeError(f"seq must hold integer element indices, got dtype {seq.dtype}")
        if seq.dim() == 2:
            per_model = False
        elif seq.dim() == 3:
            if seq.shape[0] != self.num_models:
                raise ValueError(
                    f"seq of shape (S, B, k) needs S = num_models = {self.num_models}, "
                    f"got {tuple(seq.shape)}"
                )
            per_model = True
        else:
            raise ValueError(f"seq must have shape (B, k) or (S, B, k), got {tuple(seq.shape)}")
        if seq.shape[-1] != self.k:
            raise ValueError(f"seq must have k = {self.k} columns, got {tuple(seq.shape)}")
        seq = seq.to(device=self.encoding.device, dtype=torch.long)
        # out-of-range indices would silently read a neighbouring table in the flat lookups;
        # the training loop, whose indices come from the task, turns this host sync off
        if self.check_indices and seq.numel() and bool(((seq < 0) | (seq >= self.n)).any()):
            raise ValueError(f"seq holds element indices outside 0..{self.n - 1}")
        return seq, per_model

    def _check_dense(self, x: Tensor) -> Tensor:
        """Validate ``x`` and return it as ``(S, B, k, n)`` (a broadcast view if shared)."""
        x = torch.as_tensor(x).to(dtype=self.encoding.dtype, device=self.encoding.device)
        if x.dim() == 3:
            x = x.unsqueeze(0).expand(self.num_models, *x.shape)
        elif x.dim() != 4 or x.shape[0] != self.num_models:
            raise ValueError(
                f"x must have shape (B, k, n) or (S={self.num_models}, B, k, n), "
                f"got {tuple(x.shape)}"
            )
        if x.shape[-2:] != (self.k, self.n):
            raise ValueError(f"x must end with (k, n) = ({self.k}, {self.n}), got {tuple(x.shape)}")
        return x

    def _table(self, w: Tensor) -> Tensor:
        """Lookup table ``T[s, g, h] = Σ_m w[s, h, m] · encoding[g, m]`` of a ``(S, H, n)`` map.

        Cost ``H·n²`` per model, independent of the batch size.
        """
        return torch.einsum("shm,gm->sgh", w, self.encoding)

    def _lookup_sum(self, table: Tensor, idx: Tensor, per_model: bool) -> Tensor:
        """Summed lookup ``out[s, *b, h] = Σ_j table[s, j, idx[(s,) *b, j], h]``.

        ``table``: ``(S, m, n, H)`` (``m`` tables, e.g. one per input slot); ``idx``:
        ``(*I, m)`` (shared by all models) or ``(S, *I, m)`` (per model) → ``(S, *I, H)``.

        Implemented with ``F.embedding`` / ``F.embedding_bag(mode="sum")`` on the flattened table
        with offset indices: several times faster (forward + backward) than advanced indexing or
        the dense matmul on CPU, and it never materialises the ``m`` gathered rows.
        """
        S, m, n, H = table.shape
        flat = table.reshape(S * m * n, H)
        base = torch.arange(S, device=idx.device) * (m * n)
        base = base.view(S, *([1] * (idx.dim() - (1 if per_model else 0))))
        off = base + torch.arange(m, device=idx.device) * n + (idx if per_model else idx[None])
        if m == 1:
            return F.embedding(off[..., 0], flat)
        return F.embedding_bag(off.reshape(-1, m), flat, mode="sum").view(*off.shape[:-1], H)

    def _flat_offsets(self, idx: Tensor, per_model: bool) -> Tensor:
        """Row indices into the flattened ``(S·k·n, H)`` lookup table: ``(S, *I, k)``."""
        S, k, n = self.num_models, idx.shape[-1], self.n
        base = torch.arange(S, device=idx.device) * (k * n)
        base = base.view(S, *([1] * (idx.dim() - (1 if per_model else 0))))
        off = base + torch.arange(k, device=idx.device) * n + (idx if per_model else idx[None])
        return off.expand(S, *off.shape[1:])

    def _work(
        self, name: str, shape: tuple[int, ...], dtype: torch.dtype, *, zero: bool = False
    ) -> Tensor:
        """A reusable scratch tensor of a fused step (not a parameter or buffer): reusing big
        activations avoids the page faults of fresh allocations (docs/performance.md).
        ``zero``: filled with zeros when (re)allocated (entries the caller never writes stay
        0)."""
        ws = self.__dict__.setdefault("_workspace", {})
        t = ws.get(name)
        dev = self.encoding.device
        inference = torch.is_inference_mode_enabled()  # inference tensors cannot be reused
        if (
            t is None
            or tuple(t.shape) != tuple(shape)
            or t.dtype != dtype
            or t.device != dev
            or t.is_inference() != inference
        ):
            fill = torch.zeros if zero else torch.empty
            t = ws[name] = fill(shape, dtype=dtype, device=dev)
        return t

    def _dims_repr(self) -> str:
        return (
            f"n={self.n}, k={self.k}, hidden={self.hidden}, num_models={self.num_models}, "
            f"init_scale={self.init_scale:g}"
        )
