"""Where each training step's batch comes from: one data source per task kind.

Every source has ``next() -> batch``, ``state_dict()`` / ``load_state_dict()`` (tensors, ints and
lists only, so a checkpoint loads with ``torch.load(..., weights_only=True)``) and, when random,
one generator per ensemble member: a seed trained alone or inside a batch of seeds sees the same
batches.

* :class:`DataStream` — sequences of the composition task (``full`` / ``minibatch`` /
  ``online``); a batch is ``(B, k)`` (shared) or ``(S, B, k)`` indices.
* :class:`ArithBatches` — operand tuples of an arithmetic task's training split; a batch is
  ``(tuples (S, B, k), labels (S, B))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from groupcomp.tasks import SequenceTask

__all__ = ["ArithBatches", "DataStream"]


class DataStream:
    """Batches of sequences for each step, per ensemble member when random.

    Modes: ``full`` (the same full set every step), ``minibatch`` (shuffled epochs over a fixed
    set, one permutation stream per seed), ``online`` (fresh uniform samples per seed per step).
    ``state_dict`` / ``load_state_dict`` capture the random state for exact resume.
    """

    def __init__(
        self,
        task: SequenceTask,
        mode: str,
        seeds: Sequence[int],
        *,
        train_seq: Tensor | None = None,
        batch_size: int | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.task = task
        self.mode = mode
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.S = len(seeds)
        # data randomness seeded separately from the init (offset keeps them independent)
        self.generators = [torch.Generator().manual_seed(int(s) + 1_000_003) for s in seeds]
        self.train_seq = train_seq
        self._perm: list[Tensor | None] = [None] * self.S
        self._pos = [0] * self.S
        if mode in ("full", "minibatch") and train_seq is None:
            raise ValueError("train_seq is required for full / minibatch modes")
        if mode in ("minibatch", "online") and not batch_size:
            raise ValueError("batch_size is required for minibatch / online modes")
        self._full_target: dict[tuple, Tensor] = {}
        #: the batch is always the complete exhaustive set in lexicographic order
        self.exhaustive = False
        if mode == "full":
            self._full = train_seq.to(self.device)
            N = task.n**task.k
            if train_seq.shape[0] == N and N <= task.max_exhaustive:
                self.exhaustive = bool(torch.equal(self._full.cpu(), task.exhaustive()))

    def targets(self, seq: Tensor, dtype: torch.dtype, every_step: bool = False) -> Tensor:
        """Targets of ``seq`` (cached for the fixed full batch): ``(…, n)`` encodings of the
        products, or ``(…, k−1, n)`` of every prefix product when ``every_step``."""
        key = (dtype, every_step)
        if self.mode == "full" and seq is self._full and key in self._full_target:
            return self._full_target[key]
        enc = self.task.encoding_torch(dtype, seq.device)
        idx = self.task.prefix_products(seq) if every_step else self.task.products(seq)
        out = enc[idx]
        if self.mode == "full" and seq is self._full:
            self._full_target[key] = out
        return out

    def next(self) -> Tensor:
        """``(B, k)`` (shared) or ``(S, B, k)`` (one batch per seed) on the device."""
        if self.mode == "full":
            return self._full
        if self.mode == "online":
            n, k, B = self.task.n, self.task.k, self.batch_size
            out = torch.stack([torch.randint(0, n, (B, k), generator=g) for g in self.generators])
            return out.to(self.device)
        batches = []
        N = self.train_seq.shape[0]
        B = min(self.batch_size, N)
        for s, g in enumerate(self.generators):
            if self._perm[s] is None or self._pos[s] + B > N:
                self._perm[s] = torch.randperm(N, generator=g)
                self._pos[s] = 0
            idx = self._perm[s][self._pos[s] : self._pos[s] + B]
            self._pos[s] += B
            batches.append(self.train_seq[idx])
        return torch.stack(batches).to(self.device)

    def state_dict(self) -> dict:
        return {
            "generators": [g.get_state() for g in self.generators],
            "perm": self._perm,
            "pos": list(self._pos),
        }

    def load_state_dict(self, state: dict) -> None:
        for g, st in zip(self.generators, state["generators"], strict=True):
            g.set_state(st)
        self._perm = list(state["perm"])
        self._pos = list(state["pos"])


class ArithBatches:
    """Batches of an arithmetic task's training split, one shuffle stream per ensemble member.

    ``batch_size=None`` (or ``>= n_train``): every step is the whole training split, in split
    order. Otherwise an epoch is ``ceil(n_train / batch_size)`` steps over a fresh permutation per
    member (the last batch of an epoch may be smaller). ``epoch_start`` tells whether the batch
    just returned by :meth:`next` begins an epoch.

    Args:
        train_x: ``(S, n_train, k)`` operand tuples; ``train_y``: ``(S, n_train)`` labels.
        seeds: one per member (the shuffle generator of member ``s`` is seeded ``seeds[s] +
            1_000_003``).
    """

    def __init__(
        self, train_x: Tensor, train_y: Tensor, seeds: Sequence[int], batch_size: int | None
    ) -> None:
        self.x, self.y = train_x, train_y
        self.n_train = int(train_x.shape[1])
        self.full = batch_size is None or int(batch_size) >= self.n_train
        self.batch_size = self.n_train if self.full else int(batch_size)
        self.steps_per_epoch = 1 if self.full else -(-self.n_train // self.batch_size)
        self.generators = [torch.Generator().manual_seed(int(s) + 1_000_003) for s in seeds]
        self._perm: Tensor | None = None
        self._pos = 0
        self.epoch_start = True

    def next(self) -> tuple[Tensor, Tensor]:
        if self.full:
            self.epoch_start = True
            return self.x, self.y
        if self._perm is None or self._pos >= self.n_train:
            self._perm = torch.stack(
                [torch.randperm(self.n_train, generator=g) for g in self.generators]
            ).to(self.x.device)
            self._pos = 0
        self.epoch_start = self._pos == 0
        idx = self._perm[:, self._pos : self._pos + self.batch_size]
        self._pos += self.batch_size
        xb = torch.take_along_dim(self.x, idx[..., None], dim=1)
        return xb, torch.take_along_dim(self.y, idx, dim=1)

    def state_dict(self) -> dict:
        return {
            "generators": [g.get_state() for g in self.generators],
            "perm": self._perm,
            "pos": self._pos,
        }

    def load_state_dict(self, state: dict) -> None:
        for g, st in zip(self.generators, state["generators"], strict=True):
            g.set_state(st)
        self._perm = state["perm"]
        self._pos = int(state["pos"])
