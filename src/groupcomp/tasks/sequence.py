"""The k-fold sequential group composition task of P1 (docs/theory.md §1.1).

Convention (fixed for the whole library, docs/architecture.md): the encoding of an element ``g``
is the translate ``x_g(h) = x(g·h)`` of the template ``x``, i.e. ``x_g = λ(g)^T x`` with ``λ`` the
left regular representation (one-hot encoding when ``x = e_identity``). As a matrix,
``encoding = x[G.table]`` with row ``g`` equal to ``x_g``. A sequence ``(g_1, …, g_k)`` is the
input ``(x_{g_1}, …, x_{g_k})`` and its target is ``x_{g_1 g_2 ⋯ g_k}`` (the ordered product,
``g_1`` leftmost). In the Fourier domain ``x̂_g[π] = x̂[π] π(g)``, so the target has
``x̂[π] π(g_1)⋯π(g_k)``.

Relation to the published code (docs/theory.md §1.1): group-agf encodes ``x_g = λ(g) x``, i.e.
``x_g(h) = x(g⁻¹h)``. Its generic sequence builder targets ``λ(g_k)⋯λ(g_1) x``; renaming every
element to its inverse (``h_j = g_j⁻¹``) turns that into exactly this task. Its ``k = 2`` builder
targets ``λ(g_1)λ(g_2) x``, which is this task with the two slots swapped. Spectral predictions
(learning order, plateaus, drop times) are invariant under these relabellings; on non-abelian
groups individual predictions of a trained network are not, so we use one convention for inputs
and targets alike.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from groupcomp.errors import ConfigError
from groupcomp.groups.core import FiniteGroup
from groupcomp.templates import check_template

__all__ = ["SequenceTask"]


class SequenceTask:
    """Compose ``k`` group elements; inputs and target are translated templates.

    Args:
        G: the group.
        template: ``(n,)`` real template ``x`` (see :mod:`groupcomp.templates`).
        k: sequence length, ``>= 2`` (``k = 1`` is the identity map, learnable linearly).
        max_exhaustive: largest ``n^k`` that :meth:`exhaustive` / :meth:`split` will materialise.

    Attributes:
        G, k, n: the group, the sequence length, the group order.
        template: read-only float64 ``(n,)``.
        num_sequences: ``n^k`` (a Python int).
        encoding: read-only float64 ``(n, n)``, ``encoding[g] = x_g``.

    Sequences are ``LongTensor``s of shape ``(B, k)`` (any leading batch shape is accepted by
    :meth:`products`, :meth:`targets` and :meth:`dense`).
    """

    def __init__(
        self,
        G: FiniteGroup,
        template: np.ndarray,
        k: int,
        *,
        max_exhaustive: int = 2_000_000,
    ) -> None:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or int(k) < 2:
            raise ConfigError(
                f"SequenceTask: k must be an integer >= 2 (k = 1 is linearly solvable), got {k!r}"
            )
        x = check_template(G, template)
        x.setflags(write=False)
        self.G = G
        self.template = x
        self.k = int(k)
        self.n = G.order
        self.num_sequences = self.n**self.k
        self.max_exhaustive = int(max_exhaustive)
        enc = np.ascontiguousarray(x[G.table])
        enc.setflags(write=False)
        self.encoding = enc
        self._table_cache: dict[torch.device, torch.Tensor] = {}
        self._enc_cache: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}

    def __repr__(self) -> str:
        return f"SequenceTask(G={self.G.name}, n={self.n}, k={self.k})"

    # ------------------------------------------------------------------ tensors
    def encoding_torch(
        self, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """``encoding`` as a ``(n, n)`` tensor (cached per dtype and device; do not modify)."""
        dev = torch.device(device) if device is not None else torch.device("cpu")
        key = (dtype, dev)
        if key not in self._enc_cache:
            self._enc_cache[key] = torch.tensor(self.encoding, dtype=dtype, device=dev)
        return self._enc_cache[key]

    def _flat_table(self, device: torch.device) -> torch.Tensor:
        if device not in self._table_cache:
            self._table_cache[device] = torch.tensor(
                self.G.table.reshape(-1), dtype=torch.long, device=device
            )
        return self._table_cache[device]

    @property
    def initial_loss(self) -> float:
        """Mean-MSE of the zero predictor over all sequences, ``mean(x²) = ‖x‖²/n`` (every product
        is uniformly distributed, so each target row ``x_g`` is a permutation of ``x``)."""
        return float(np.mean(self.template**2))

    # ------------------------------------------------------------------ sequences
    def _check_seq(self, seq: torch.Tensor) -> torch.Tensor:
        seq = torch.as_tensor(seq)
        if seq.dtype != torch.long:
            seq = seq.long()
        if seq.ndim < 1 or seq.shape[-1] != self.k:
            raise ValueError(f"sequences must have shape (..., {self.k}), got {tuple(seq.shape)}")
        return seq

    def exhaustive(self) -> torch.Tensor:
        """All ``n^k`` sequences, ``(n^k, k)`` long, lexicographic (slot 1 most significant):
        row ``r`` is the base-``n`` expansion of ``r``.

        Raises:
            ConfigError: ``n^k > max_exhaustive``.
        """
        self._check_exhaustive()
        idx = torch.arange(self.num_sequences, dtype=torch.long)
        cols = []
        for j in range(self.k):
            cols.append((idx // self.n ** (self.k - 1 - j)) % self.n)
        return torch.stack(cols, dim=1)

    def _check_exhaustive(self) -> None:
        if self.num_sequences > self.max_exhaustive:
            raise ConfigError(
                f"SequenceTask: the exhaustive dataset has n^k = {self.n}^{self.k} = "
                f"{self.num_sequences} sequences, more than max_exhaustive = "
                f"{self.max_exhaustive}; draw batches with sample() instead, or raise "
                "max_exhaustive"
            )

    def sample(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """``(B, k)`` i.i.d. uniform sequences (never materialises ``n^k``).

        ``device`` defaults to the generator's device (CPU without a generator).
        """
        if device is None:
            device = _gen_device(generator)
        return torch.randint(
            0, self.n, (int(batch_size), self.k), generator=generator, device=device
        )

    def products(self, seq: torch.Tensor) -> torch.Tensor:
        """Ordered products ``g_1·g_2⋯g_k``: ``(..., k)`` -> ``(...)`` long, by Cayley-table
        lookups (vectorised over the batch, a loop over the ``k`` slots)."""
        seq = self._check_seq(seq)
        table = self._flat_table(seq.device)
        acc = seq[..., 0]
        for j in range(1, self.k):
            acc = table[acc * self.n + seq[..., j]]
        return acc

    def prefix_products(self, seq: torch.Tensor) -> torch.Tensor:
        """``(..., k)`` -> ``(..., k-1)``: column ``t-1`` is ``g_1⋯g_{t+1}`` for ``t = 1..k-1``
        (the last column equals :meth:`products`)."""
        seq = self._check_seq(seq)
        table = self._flat_table(seq.device)
        acc = seq[..., 0]
        out = []
        for j in range(1, self.k):
            acc = table[acc * self.n + seq[..., j]]
            out.append(acc)
        return torch.stack(out, dim=-1)

    def targets(self, seq: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``(..., k)`` -> ``(..., n)``: ``x_{g_1⋯g_k}``, i.e. ``targets[b, h] = x(g_1⋯g_k·h)``."""
        prod = self.products(seq)
        return self.encoding_torch(dtype, prod.device)[prod]

    def dense(self, seq: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``(..., k)`` -> ``(..., k, n)``: the encoded inputs ``(x_{g_1}, …, x_{g_k})``."""
        seq = self._check_seq(seq)
        return self.encoding_torch(dtype, seq.device)[seq]

    # ------------------------------------------------------------------ datasets
    def split(
        self, val_fraction: float, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random held-out split of the exhaustive set: ``(train_seq, val_seq)``.

        ``round(val_fraction · n^k)`` sequences, chosen uniformly without replacement, go to
        validation; the two sets are disjoint and together are all ``n^k`` sequences. Each part
        is returned in lexicographic order.

        Raises:
            ConfigError: ``val_fraction`` not in ``[0, 1)``, or ``n^k > max_exhaustive``.
        """
        vf = float(val_fraction)
        if not 0.0 <= vf < 1.0:
            raise ConfigError(
                f"SequenceTask.split: val_fraction must be in [0, 1), got {val_fraction!r}"
            )
        self._check_exhaustive()
        n_val = int(round(vf * self.num_sequences))
        perm = torch.randperm(
            self.num_sequences, generator=generator, device=_gen_device(generator)
        ).cpu()
        val_idx, _ = torch.sort(perm[:n_val])
        train_idx, _ = torch.sort(perm[n_val:])
        all_seq = self.exhaustive()
        return all_seq[train_idx], all_seq[val_idx]

    @staticmethod
    def minibatches(
        seq: torch.Tensor,
        batch_size: int,
        generator: torch.Generator | None = None,
        *,
        drop_last: bool = False,
    ) -> Iterator[torch.Tensor]:
        """One epoch of shuffled mini-batches of the rows of ``seq`` (the last batch may be
        smaller unless ``drop_last``)."""
        if int(batch_size) < 1:
            raise ConfigError(
                f"SequenceTask.minibatches: batch_size must be an integer >= 1, got {batch_size!r}"
            )
        m = seq.shape[0]
        perm = torch.randperm(m, generator=generator, device=_gen_device(generator))
        perm = perm.to(seq.device)
        bs = int(batch_size)
        stop = m - (m % bs) if drop_last else m
        for i in range(0, stop, bs):
            yield seq[perm[i : i + bs]]


def _gen_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")
