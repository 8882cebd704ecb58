"""Per-neuron spectra: how each hidden neuron's weights split over the irreps (no I/O).

Definitions (docs/theory.md §2.8). Every neuron parameter of the sequence models is a stack of
vectors on the group, ``(S, H, …, n)``; the Fourier power ``P_π`` (:func:`groupcomp.fourier.power`)
of each such vector is summed per neuron:

* ``power_in[s, i, π]`` = ``Σ_v P_π(v)`` over the neuron's *input* vectors — the two-layer net's
  ``W_in[s, i, j]`` for every slot ``j``; the RNN's ``W_in[s, i]`` and ``W_drive[s, i]``; the
  tree's ``A[s, i]`` and ``B[s, i]``;
* ``power_out[s, i, π]`` = ``P_π(w)`` of its *output* vector ``w`` (``W_out[s, i]``, i.e. column
  ``i`` of the read-out matrix; the tree's ``C[s, i]``).

By Parseval ``Σ_π (power_in + power_out)[s, i, π] = ‖θ_i‖²``, the squared norm of the neuron
(:meth:`EnsembleModel.neuron_norms`). The isotypic components of ``R^G`` are invariant under left
and right translations, so the split does not depend on the translation convention.

A neuron's **dominant irrep** is ``argmax_π P[i, π]`` and its **dominant fraction**
``max_π P[i, π] / Σ_π P[i, π]`` (1 when all its weights lie in one irrep).

RNN mixing matrix ``W_mix`` (``(S, H, H)``, hidden → hidden): hidden unit ``i`` is assigned the
dominant irrep of its weights (in + out), which orders the hidden space into irrep blocks; the
**block fraction** is the share of ``‖W_mix‖_F²`` in the entries ``(i, j)`` whose units share an
irrep. The exact construction ``W_mix = W_in W_outᵀ`` with irrep-pure neurons has fraction 1
(isotypic components are orthogonal); an unstructured ``W_mix`` (i.i.d. entries) has, in
expectation, the block-size share ``Σ_π (H_π / H)²`` (:func:`block_share`).

:class:`NeuronProbe` records these at the probe steps of a run (as ``float32``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from groupcomp import fourier
from groupcomp.errors import ShapeError

if TYPE_CHECKING:
    from groupcomp.groups.core import FiniteGroup

__all__ = [
    "NEURON_KEYS",
    "NeuronProbe",
    "block_fraction",
    "block_share",
    "dominant_irrep",
    "mix_block_fraction",
    "neuron_log_arrays",
    "neuron_weight_power",
]

#: names of the output vectors among a model's neuron parameters (all others are inputs)
OUTPUT_PARAMS = ("W_out", "C")
#: the keys :class:`NeuronProbe` adds to a probe record
NEURON_KEYS = ("neuron_power_in", "neuron_power_out", "mix_block_fraction")


def _power_rows(B: Tensor, idx: Tensor, m: int, v: Tensor) -> Tensor:
    """``v: (S, H, r, n)`` → power per irrep summed over the ``r`` vectors: ``(S, H, m)``."""
    c2 = (v @ B) ** 2  # (S, H, r, n) coordinates in the orthonormal Fourier basis, squared
    out = torch.zeros((*v.shape[:2], m), dtype=c2.dtype, device=c2.device)
    return out.index_add_(-1, idx, c2.sum(dim=2))


@torch.no_grad()
def neuron_weight_power(G: FiniteGroup, model: torch.nn.Module) -> dict[str, Tensor]:
    """Power per irrep of every neuron's input and output weights (float64):
    ``{"in": (S, H, m), "out": (S, H, m)}``, irreps in ``G.irreps()`` order. ``model``: any
    :class:`~groupcomp.models.base.EnsembleModel` whose neuron parameters end in ``n = |G|``."""
    n, m = G.order, len(G.irreps())
    params = dict(zip(model._neuron_param_names, model.neuron_params(), strict=True))
    first = next(iter(params.values()))
    dev = first.device
    B = torch.tensor(fourier.basis(G), dtype=torch.float64, device=dev)
    idx = torch.tensor(fourier.basis_irrep_index(G), device=dev)
    S, H = first.shape[:2]
    out = {
        "in": torch.zeros((S, H, m), dtype=torch.float64, device=dev),
        "out": torch.zeros((S, H, m), dtype=torch.float64, device=dev),
    }
    for name, p in params.items():
        if p.shape[-1] != n:
            raise ShapeError(
                f"neuron_weight_power: parameter {name} has shape {tuple(p.shape)}; its last "
                f"dimension must be |G| = {n}"
            )
        v = p.detach().to(torch.float64).reshape(S, H, -1, n)
        out["out" if name in OUTPUT_PARAMS else "in"] += _power_rows(B, idx, m, v)
    return out


def dominant_irrep(power: Any) -> tuple[Any, Any]:
    """``power: (..., m)`` (numpy or torch) → ``(index (...,), fraction (...,))``: the irrep
    with the most power and its share of the total (NaN where the total is 0)."""
    if isinstance(power, Tensor):
        tot = power.sum(-1)
        top, idx = power.max(dim=-1)
        return idx, torch.where(tot > 0, top / tot, torch.full_like(tot, float("nan")))
    p = np.asarray(power, dtype=np.float64)
    tot = p.sum(-1)
    idx = p.argmax(-1)
    top = np.take_along_axis(p, idx[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(tot > 0, top / np.where(tot > 0, tot, 1.0), np.nan)
    return idx, frac


def block_fraction(M: Tensor, labels: Tensor) -> Tensor:
    """Share of ``‖M‖_F²`` in the entries ``(i, j)`` with ``labels[i] == labels[j]``.

    ``M: (..., H, H)``, ``labels: (..., H)`` integer → ``(...,)`` (1 where ``M = 0``: a zero
    matrix is block-diagonal)."""
    if M.shape[-1] != M.shape[-2] or labels.shape != M.shape[:-1]:
        raise ShapeError(
            f"block_fraction: M must be (..., H, H) and labels (..., H); got {tuple(M.shape)} "
            f"and {tuple(labels.shape)}"
        )
    same = labels[..., :, None] == labels[..., None, :]
    sq = M.to(torch.float64) ** 2
    tot = sq.sum(dim=(-2, -1))
    inside = (sq * same).sum(dim=(-2, -1))
    return torch.where(tot > 0, inside / torch.where(tot > 0, tot, 1.0), torch.ones_like(tot))


def block_share(labels: Any, m: int) -> np.ndarray:
    """Expected :func:`block_fraction` of a matrix with i.i.d. entries: ``Σ_π (H_π / H)²``
    for ``labels: (..., H)`` integer in ``0..m-1`` → ``(...,)``."""
    lab = np.asarray(labels)
    counts = np.stack([(lab == j).sum(-1) for j in range(m)], axis=-1)
    return ((counts / lab.shape[-1]) ** 2).sum(-1)


def mix_block_fraction(W_mix: Tensor, power: Tensor) -> Tensor:
    """:func:`block_fraction` of ``W_mix (S, H, H)`` with each hidden unit labelled by the
    dominant irrep of ``power (S, H, m)`` (its weight power, in + out) → ``(S,)``."""
    labels, _ = dominant_irrep(power)
    return block_fraction(W_mix, labels)


class NeuronProbe:
    """Probe adding per-neuron weight spectra to another probe's record.

    Returns the inner probe's record plus ``neuron_power_in`` and ``neuron_power_out``
    (``(S, H, m)`` float32, see the module docstring) and, for models with a ``W_mix``
    (the RNN), ``mix_block_fraction`` (``(S,)``). ``inner``: a probe (e.g.
    :class:`~groupcomp.training.probes.SpectralProbe`) or ``None``.
    """

    def __init__(
        self, G: FiniteGroup, inner: Callable[[torch.nn.Module], dict[str, Tensor]] | None = None
    ) -> None:
        self.G = G
        self.inner = inner
        self.labels = [r.label for r in G.irreps()]

    def __getattr__(self, name: str) -> Any:  # the inner probe's attributes (eval_seq, ...)
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module) -> dict[str, Tensor]:
        out = dict(self.inner(model)) if self.inner is not None else {}
        pw = neuron_weight_power(self.G, model)
        out["neuron_power_in"] = pw["in"].float()
        out["neuron_power_out"] = pw["out"].float()
        W_mix = getattr(model, "W_mix", None)
        if isinstance(W_mix, Tensor) and W_mix.dim() == 3:
            frac = mix_block_fraction(W_mix.detach(), pw["in"] + pw["out"])
            out["mix_block_fraction"] = frac.to(W_mix.dtype)
        return out


def neuron_log_arrays(logs: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The :data:`NEURON_KEYS` of a fit's probe records stacked over probe steps:
    ``{"steps": (T,), "neuron_power_in": (T, S, H, m), ...}`` (empty if none were recorded)."""
    rows = [r for r in logs if "neuron_power_in" in r]
    if not rows:
        return {}
    out: dict[str, np.ndarray] = {"steps": np.asarray([int(r["step"]) for r in rows], np.int64)}
    for key in NEURON_KEYS:
        if all(key in r for r in rows):
            out[key] = np.stack([np.asarray(r[key].cpu().numpy()) for r in rows])
    return out
