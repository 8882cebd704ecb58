"""Resource limits decided up front: memory and disk of a run, estimated from its config alone.

:func:`estimate` is a pure function of the validated config (and the group's order / number of
irreps): it adds up the big arrays a run allocates, part by part, in bytes. :func:`check`
compares the total with this machine's limits and raises
:class:`~groupcomp.errors.ResourceLimitError` naming the key that dominates, the numbers and the
way out, before anything is built. The estimates are deliberately simple upper-bound-ish
formulas; they catch requests that are off by orders of magnitude (``model.hidden=100000000``,
a 10⁶-sequence exhaustive set at ``group=C1000``, ``train.steps=10¹¹``), not a run that needs
90 % of the memory. Measured (peak RSS growth of a short run, Linux, 2 cores): C100 k=2 H=500
and C30 k=3 H=300 full batch ~370 / ~520 MiB, estimated ~690 / ~760 MiB with the runtime part.

Parts (``b`` bytes per float of ``train.dtype``, ``S`` seeds, ``n`` group order, ``k``
sequence length, ``H`` hidden width, ``B`` sequences per step, ``m`` irreps, ``T`` steps):

* ``data``: the training sequences (``N·k`` int64) and their cached targets (``N·n·b``);
* ``model``: parameters, gradients and optimiser state (``4 · params · b``);
* ``activations``: one step's forward / backward tensors (``S·B·(5H + 3n)·b``, the RNN and the
  tree keep one hidden tensor per composition step);
* ``evaluation``: the probe's fixed evaluation set (≤ 65536 sequences, ``S·Be·(5n + 2H)·b``);
* ``records``: the per-step records (``T·S·keys·(b + 4)``) and the metrics table built from them
  (``(T+1)·S·columns·8``, :data:`FRAME_COPIES` times: arrays, frame, Arrow table, parquet bytes),
  ``columns`` growing with ``m`` (per-irrep losses and powers);
* ``logs``: the probe records (``L = train.log_points`` steps);
* ``neurons`` (sequence runs): every neuron's input / output power per irrep at each probe
  step, ``L·S·H·2m`` float32, twice (the records and the stacked copy for ``neurons.npz``);
* ``runtime``: the loaded libraries (:data:`RUNTIME_BYTES`);
* disk: every checkpoint holds the model, the optimiser state and the records up to its step
  (the per-neuron records included); ``neurons.npz`` holds the per-neuron records once.

Limits: memory :func:`memory_limit` (80 % of the physical memory, or the environment variable
``GROUPCOMP_MEMORY_LIMIT_GB``), disk the free space under ``--out``, and at most
:data:`MAX_CHECKPOINTS` checkpoint files.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from groupcomp.config.loader import is_auto
from groupcomp.errors import ResourceLimitError

__all__ = [
    "MAX_CHECKPOINTS",
    "ResourceEstimate",
    "check",
    "check_disk",
    "estimate",
    "memory_limit",
]

#: most checkpoint files one run may write
MAX_CHECKPOINTS = 10_000
#: fraction of the physical memory a run may use
MEMORY_FRACTION = 0.8
#: environment variable overriding the memory limit (GiB)
MEMORY_ENV = "GROUPCOMP_MEMORY_LIMIT_GB"
#: copies of the metrics table at a flush: column arrays, DataFrame, Arrow table, parquet bytes
FRAME_COPIES = 4
#: what the process itself takes once torch (with ``torch._dynamo``, imported by the first
#: optimiser), numba, pandas and pyarrow are loaded: ~400-500 MiB measured (RSS growth of a tiny
#: run) on Linux
RUNTIME_BYTES = 512 * 2**20
#: evaluation-set size of the spectral probe (``runs.experiment``)
_EVAL_MAX = 65536
_EVAL_ONLINE = 4096

#: the key a user changes to shrink each part, and how
_WAY_OUT: dict[str, tuple[str, str]] = {
    "data": (
        "task.data",
        "use task.data=online with train.batch_size=<B> (or task.data=sampled), a smaller group "
        "or a smaller task.k",
    ),
    "model": ("model.hidden", "use a smaller model.hidden or fewer train.seeds"),
    "activations": (
        "train.batch_size",
        "use mini-batches (train.batch_size=<B>), task.data=online, fewer train.seeds or a "
        "smaller model.hidden",
    ),
    "evaluation": ("group", "use a smaller group or fewer train.seeds"),
    "records": (
        "train.steps",
        "use fewer train.steps (train.epochs) or train.seeds (the per-step records and the "
        "metrics table grow with steps x seeds x irreps)",
    ),
    "logs": ("train.log_points", "use fewer train.log_points"),
    "neurons": (
        "model.hidden",
        "use a smaller model.hidden, fewer train.seeds or fewer train.log_points (the "
        "per-neuron records grow with log points x seeds x hidden x irreps)",
    ),
    "runtime": ("GROUPCOMP_MEMORY_LIMIT_GB", "raise the limit: the libraries alone take this"),
}


def _gib(x: float) -> str:
    return f"{x / 2**30:.3g} GiB"


@dataclass(frozen=True)
class ResourceEstimate:
    """Estimated peak memory (``memory``: part → bytes), disk (``disk``: part → bytes) and
    number of checkpoint files of a run. ``steps_known`` is false when ``train.steps`` is
    ``auto`` and not yet resolved (the step-dependent parts are then left out)."""

    memory: dict[str, int]
    disk: dict[str, int]
    checkpoints: int
    steps_known: bool = True
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def total_memory(self) -> int:
        return int(sum(self.memory.values()))

    @property
    def total_disk(self) -> int:
        return int(sum(self.disk.values()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "memory": dict(self.memory),
            "disk": dict(self.disk),
            "total_memory": self.total_memory,
            "total_disk": self.total_disk,
            "checkpoints": self.checkpoints,
            "steps_known": self.steps_known,
        }


def memory_limit() -> int:
    """Bytes a run may use: ``GROUPCOMP_MEMORY_LIMIT_GB`` if set, else 80 % of the physical
    memory (4 GiB when it cannot be read)."""
    env = os.environ.get(MEMORY_ENV)
    if env:
        try:
            value = float(env)
        except ValueError:
            value = float("nan")
        if not (math.isfinite(value) and value > 0):
            raise ResourceLimitError(
                f"{MEMORY_ENV}: must be a number of GiB > 0, got {env[:40]!r}"
            ) from None
        return int(value * 2**30)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        total = 5 * 2**30
    return int(MEMORY_FRACTION * total)


def _checkpoint_steps(steps: int, checkpoints: int, every: int | None) -> int:
    """Number of checkpoint files of a schedule: the log-spaced steps (step 0 included, as
    :func:`groupcomp.training.loop.log_spaced_steps` places them) and one every ``every``
    steps, counted once where they coincide."""
    from groupcomp.training.loop import log_spaced_steps

    logs = log_spaced_steps(int(steps), min(int(checkpoints), MAX_CHECKPOINTS + 1))
    if not every:
        return len(logs)
    every = int(every)
    return steps // every + 1 + int((logs % every != 0).sum())


def _sequence_parts(cfg: Any, n: int, m: int) -> tuple[dict[str, float], dict[str, float], dict]:
    b = 8 if str(cfg.train.dtype) == "float64" else 4
    S = len(cfg.train.seeds)
    k = int(cfg.task.k)
    H = int(cfg.model.hidden)
    N_all = n**k
    data = str(cfg.task.data)
    bs = cfg.train.batch_size
    if data == "online":
        N = 0
        B = int(bs)
        Be = min(_EVAL_ONLINE, N_all)
    else:
        N = int(cfg.task.num_samples) if data == "sampled" else N_all
        N_train = max(1, N - round(float(cfg.task.val_fraction) * N))
        B = N_train if bs is None else min(int(bs), N_train)
        Be = min(N_train, _EVAL_MAX)
    name = str(cfg.model.name)
    if name == "two_layer":
        params = S * H * n * (k + 1)
        hidden_tensors = 5
    elif name == "rnn":
        params = S * (3 * H * n + H * H)
        hidden_tensors = 2 * k + 2
    else:
        params = S * 3 * H * n
        hidden_tensors = 2 * k + 2
    outputs = 3 * (k - 1 if bool(cfg.model.get("output_every_step", False)) else 1)
    mem = {
        "data": N * k * 8 + N * n * b + (B * k * 8 + B * n * b if data == "online" else 0),
        "model": 4 * params * b + 2 * n * n * 8,
        "activations": S * B * (hidden_tensors * H + outputs * n) * b + B * n * b,
        "evaluation": S * Be * (5 * n + 2 * H) * b + Be * (k * 8 + n * b) + n * n * b,
    }
    size_key = "task.num_samples" if data == "sampled" else "task.data"
    if H >= 10 * max(n, 1000):  # an unusually wide model, not the batch, is the problem
        act_key = "model.hidden"
    else:
        act_key = "train.batch_size" if bs is not None else size_key
    what = (
        f"{N} training sequences (task.data={data}, n^k = {n}^{k}), {B} per step, "
        f"model.hidden={H}, {S} seed(s)"
    )
    info = {
        "params": params,
        "b": b,
        "S": S,
        "what": what,
        "keys": {"data": size_key, "activations": act_key, "records": "train.steps"},
    }
    return mem, {}, info


def _arith_parts(cfg: Any, M: int, n_train: int, m: int) -> tuple[dict, dict, dict]:
    b = 8 if str(cfg.train.dtype) == "float64" else 4
    S = len(cfg.train.seeds)
    k = int(cfg.task.k)
    H = int(cfg.model.hidden)
    L = int(cfg.model.layers)
    D = M if cfg.model.embed_dim is None else int(cfg.model.embed_dim)
    N = M**k
    bs = cfg.train.batch_size
    B = n_train if bs is None else min(int(bs), n_train)
    params = S * (H * k * D + H * M + (M * D if str(cfg.model.embedding) == "learned" else 0))
    params += S * (L - 1) * H * H
    mem = {
        "data": N * k * 8 * 3 + N * M * b * 2,
        "model": 4 * params * b + S * M * M * b,
        "activations": S * B * ((4 + 2 * (L - 1)) * H + 3 * M) * b,
        "evaluation": S * N * (2 * H + 3 * M) * b,
    }
    what = f"{N} tuples (M^k = {M}^{k}), {B} per step, model.hidden={H}, {S} seed(s)"
    info = {
        "params": params,
        "b": b,
        "S": S,
        "what": what,
        "keys": {
            "data": "task.k",
            "activations": "model.hidden" if H > M else "train.batch_size",
            "evaluation": "model.hidden",
            "records": "train.epochs",
        },
    }
    return mem, {}, info


def estimate(
    cfg: Any,
    *,
    order: int,
    num_irreps: int,
    n_train: int | None = None,
    steps: int | None = None,
) -> ResourceEstimate:
    """Estimate the resources of the validated config ``cfg`` (any kind).

    Args:
        order: the group order ``n`` (sequence runs) or the number of symbols ``M`` (arith).
        num_irreps: number of real irreps ``m`` (per-irrep metrics columns; 0 if none).
        n_train: arithmetic runs: size of the training split (default: all ``M^k`` tuples).
        steps: optimiser steps if known (default: ``train.steps``, or for arithmetic runs
            ``train.epochs`` x steps per epoch; ``None`` when ``train.steps`` is ``auto``).
    """
    kind = str(cfg.get("kind", "sequence"))
    m = int(num_irreps)
    if kind == "arith":
        M = int(order)
        n_all = M ** int(cfg.task.k)
        nt = n_all if n_train is None else int(n_train)
        mem, disk, info = _arith_parts(cfg, M, nt, m)
        # step, epoch, seed, the 5 records, param_norm, power/*
        keys, columns = 5, 9 + m
        if steps is None:
            bs = cfg.train.batch_size
            spe = 1 if bs is None else max(1, -(-nt // int(bs)))
            steps = int(cfg.train.epochs) * spe
    else:
        mem, disk, info = _sequence_parts(cfg, int(order), m)
        # step, seed, loss, loss_p1, eval_loss, param_norm, irrep_loss/* and power/* (, val_loss)
        # (, mix_block_fraction for the RNN)
        keys = 1
        columns = 6 + 2 * m + (1 if float(cfg.task.val_fraction) > 0 else 0)
        columns += 1 if str(cfg.model.name) == "rnn" else 0
        if steps is None and not is_auto(cfg.train.steps):
            steps = int(cfg.train.steps)
    b, S, params = info["b"], info["S"], info["params"]
    logs = int(cfg.train.log_points) + 2
    # sequence runs: every neuron's input and output power per irrep at each probe step
    # (float32; kept in the loop's records, stacked for neurons.npz and in the checkpoints)
    neuron_logs = 0 if kind == "arith" else logs * S * int(cfg.model.hidden) * 2 * m * 4
    mem["logs"] = logs * S * (2 * m + 2) * b
    if neuron_logs:
        mem["neurons"] = 2 * neuron_logs
    mem["runtime"] = RUNTIME_BYTES
    ckpts = 0
    if steps is not None:
        T = int(steps)
        mem["records"] = T * S * keys * (b + 4) + FRAME_COPIES * (T + 1) * S * columns * 8
        every = cfg.train.checkpoint_every
        ckpts = _checkpoint_steps(T, int(cfg.train.checkpoints), every)
        per_ckpt = 3 * params * b
        # the records up to a checkpoint's step: at most T each, ~2T over log-spaced ones
        rec = T * S * keys * 4
        disk["checkpoints"] = ckpts * per_ckpt + min(ckpts, 2) * rec
        if every:
            disk["checkpoints"] += (T // int(every) + 1) * rec // 2
        disk["metrics"] = (T + 1) * S * columns * 8
        if neuron_logs:
            # a checkpoint holds the probe records up to its step: about half of them on
            # average over log-spaced checkpoints, all of them for the checkpoint_every ones
            disk["neurons"] = neuron_logs
            extra = (T // int(every) + 1) if every else 0
            disk["checkpoints"] += (ckpts + 1) * neuron_logs // 2 + extra * neuron_logs
    return ResourceEstimate(
        memory={k_: int(v) for k_, v in mem.items()},
        disk={k_: int(v) for k_, v in disk.items()},
        checkpoints=ckpts,
        steps_known=steps is not None,
        notes={"what": info["what"], **{f"key:{p}": k_ for p, k_ in info["keys"].items()}},
    )


def check(est: ResourceEstimate, *, limit: int | None = None) -> ResourceEstimate:
    """Raise :class:`ResourceLimitError` when ``est`` needs more memory than ``limit``
    (default :func:`memory_limit`) or more than :data:`MAX_CHECKPOINTS` checkpoints; the message
    names the key of the largest part, the numbers and the way out."""
    if est.checkpoints > MAX_CHECKPOINTS:
        raise ResourceLimitError(
            f"train.checkpoint_every: the run would write {est.checkpoints} checkpoints; the "
            f"limit is {MAX_CHECKPOINTS}; use a larger train.checkpoint_every or null"
        )
    limit = memory_limit() if limit is None else int(limit)
    total = est.total_memory
    if total > limit:
        part = max(est.memory, key=lambda p: est.memory[p])
        key, way = _WAY_OUT.get(part, ("train", "use a smaller run"))
        key = est.notes.get(f"key:{part}", key)
        parts = ", ".join(
            f"{p} {_gib(v)}" for p, v in sorted(est.memory.items(), key=lambda x: -x[1]) if v
        )
        raise ResourceLimitError(
            f"{key}: this run would need ~{_gib(total)} of memory, more than the limit "
            f"{_gib(limit)} ({MEMORY_FRACTION:.0%} of this machine's memory, or "
            f"{MEMORY_ENV}=<GiB>); largest parts: {parts}; for {est.notes.get('what', '')}; "
            f"{way}"
        )
    return est


def check_disk(est: ResourceEstimate, out: str | Path | None) -> None:
    """Raise :class:`ResourceLimitError` when the checkpoints and metrics of ``est`` would not
    fit in the free space of the file system holding ``out``."""
    if out is None:
        return
    p = Path(out).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        free = shutil.disk_usage(p).free
    except OSError:
        return
    need = est.total_disk
    if need > free:
        raise ResourceLimitError(
            f"train.checkpoints: the run would write ~{_gib(need)} (checkpoints "
            f"{_gib(est.disk.get('checkpoints', 0))}, metrics {_gib(est.disk.get('metrics', 0))})"
            f", more than the {_gib(free)} free under {out}; use fewer train.checkpoints, a "
            f"larger train.checkpoint_every, fewer train.steps or another --out"
        )
