"""The training loop: one :func:`fit` for full-batch, mini-batch and online training.

Design points (docs/performance.md):

* per-step losses go into a preallocated device tensor — no host sync per step;
* finiteness is checked every ``check_every`` steps and at every log / checkpoint step (a run that
  diverges stops with :class:`~groupcomp.errors.DivergenceError`, and its last checkpoint, which
  was taken before the non-finite step, stays the last good one);
* spectra (per-irrep loss split, learned power) only at log-spaced steps, batched on the device;
* every ensemble member (seed) gets its own data stream when data are random, so a seed trained
  alone or inside a batch of seeds follows the same trajectory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from groupcomp import fourier
from groupcomp.errors import ConfigError, DivergenceError
from groupcomp.models import per_model_mse
from groupcomp.tasks import SequenceTask
from groupcomp.training.compiled import ENGINES, CompiledTrainer, choose_engine_reason

__all__ = [
    "DataStream",
    "FitState",
    "SpectralProbe",
    "fit",
    "log_spaced_steps",
    "uses_compiled_engine",
]


def log_spaced_steps(total: int, points: int) -> np.ndarray:
    """Sorted unique steps in ``[0, total]`` spaced logarithmically (always includes 0 and
    ``total``). ``total`` is the number of optimiser steps; step ``t`` means "after t updates"."""
    if total <= 0:
        return np.array([0])
    s = np.unique(np.round(np.geomspace(1, total + 1, max(2, points)) - 1).astype(np.int64))
    return np.unique(np.concatenate([[0], s, [total]]))


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


class SpectralProbe:
    """Per-irrep loss split and learned power spectrum on a fixed evaluation set.

    For residual ``r = y − ŷ``: ``irrep_loss[π] = mean_b P_π(r_b) / n`` (mean-MSE units; sums to
    the loss by Parseval), ``power[π] = mean_b P_π(ŷ_b)`` (equals the template's power when the
    function is learned exactly, because translation preserves power).
    """

    def __init__(self, task: SequenceTask, eval_seq: Tensor, dtype: torch.dtype, device) -> None:
        G = task.G
        self.task = task
        self.labels = [r.label for r in G.irreps()]
        self.m = len(self.labels)
        self.n = G.order
        self.B = torch.tensor(fourier.basis(G), dtype=dtype, device=device)
        self.idx = torch.tensor(fourier.basis_irrep_index(G), device=device)
        self.eval_seq = eval_seq.to(device)
        self.target = task.targets(self.eval_seq, dtype=dtype).to(device)

    def _power(self, f: Tensor) -> Tensor:
        c2 = (f @ self.B) ** 2  # (S, B, n)
        out = torch.zeros((*c2.shape[:-1], self.m), dtype=c2.dtype, device=c2.device)
        return out.index_add_(-1, self.idx, c2).mean(dim=-2)  # (S, m)

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module) -> dict[str, Tensor]:
        pred = model(self.eval_seq)  # (S, B, n)
        resid = self.target.unsqueeze(0) - pred
        return {
            "eval_loss": resid.pow(2).mean(dim=(1, 2)),
            "irrep_loss": self._power(resid) / self.n,
            "power": self._power(pred),
        }


@dataclass
class FitState:
    """What :func:`fit` produced (host tensors)."""

    losses: Tensor  # (steps_done, S) per-step training loss (mean-MSE), before each update
    logs: list[dict[str, Any]] = field(default_factory=list)  # one dict per log step
    step: int = 0  # optimiser steps done
    diverged: bool = False
    engine: str = "torch"  # which engine ran the steps: "torch" or "numba" (compiled kernel)
    threads: int | None = None  # threads the compiled kernel used (None: torch's own setting)


def _diverged(msg: str, state: FitState) -> DivergenceError:
    err = DivergenceError(msg)
    err.state = state  # type: ignore[attr-defined]
    return err


def _loss(model, seq: Tensor, data: DataStream, enc_dtype, every_step: bool) -> Tensor:
    tgt = data.targets(seq, enc_dtype, every_step)
    if every_step:
        pred = model.forward_steps(seq)  # (S, B, k-1, n)
        if tgt.dim() == 3:
            tgt = tgt.unsqueeze(0)
        return (pred - tgt).pow(2).mean(dim=(1, 2, 3))
    return per_model_mse(model(seq), tgt)


def fit(model: torch.nn.Module, *args: Any, **kwargs: Any) -> FitState:
    """Train ``model`` for ``steps`` optimiser steps (resuming from ``start`` if given).

    Signature: ``fit(model, task, optimizer, data, *, steps, log_steps=(), checkpoint_steps=(),
    probe=None, val_probe=None, grad_clip=None, output_every_step=False, start=None, on_log=None,
    on_checkpoint=None, stop_after=None, progress=None, check_every=200)``.

    Args:
        data: batches per step (:class:`DataStream`).
        log_steps: steps at which ``probe`` (and ``val_probe``) run; the record goes to ``logs``
            and to ``on_log``. Step ``t`` is evaluated *before* update ``t`` (so step 0 is the
            initialisation and step ``steps`` the final model).
        checkpoint_steps: steps at which ``on_checkpoint`` is called (after the finiteness check).
        stop_after: stop (as if interrupted) once this many steps are done in total.
        progress: a tqdm-like object with ``update`` / ``set_postfix_str`` (or ``None``).
        engine: ``"auto"`` (the compiled kernel of :mod:`groupcomp.training.compiled` where it
            applies and is faster, else torch), ``"torch"`` or ``"numba"`` (the compiled kernel;
            a :class:`~groupcomp.errors.ConfigError` says why when it cannot train this set-up).
        threads: worker threads of the compiled kernel (default: one per core, at most one per
            model); torch's own thread count is left to the caller.

    Raises:
        DivergenceError: the loss became NaN/inf; ``state.step`` is the first step whose loss
            is not finite (``state.losses`` holds the finite losses before it).
        ConfigError: ``engine`` is unknown, or ``"numba"`` for a set-up the kernel cannot train.
    """
    flag = getattr(model, "check_indices", None)
    if flag is not None:
        model.check_indices = False  # indices come from the task: skip the per-step host sync
    try:
        return _fit(model, *args, **kwargs)
    finally:
        if flag is not None:
            model.check_indices = flag


def uses_compiled_engine(
    engine: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: DataStream,
    *,
    grad_clip: float | None = None,
    output_every_step: bool = False,
) -> bool:
    """Whether :func:`fit` with this ``engine`` runs the compiled kernel (else torch).

    Raises:
        ConfigError: ``engine`` is unknown, or ``"numba"`` for a set-up the kernel cannot train.
    """
    if engine not in ENGINES:
        raise ConfigError(
            f"train.engine: unknown engine {engine!r}; allowed values: {', '.join(ENGINES)}"
        )
    if engine == "torch":
        return False
    reason = choose_engine_reason(
        model,
        optimizer,
        full_batch=data.mode == "full",
        grad_clip=grad_clip,
        output_every_step=output_every_step,
        batch=int(data.train_seq.shape[0]) if data.train_seq is not None else None,
        forced=engine == "numba",
    )
    if reason is not None and engine == "numba":
        raise ConfigError(
            f"train.engine: 'numba' cannot train this run ({reason}); "
            "allowed values here: auto, torch"
        )
    return reason is None


def _compiled_trainer(
    engine: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: DataStream,
    grad_clip: float | None,
    output_every_step: bool,
    dtype: torch.dtype,
    threads: int | None,
) -> CompiledTrainer | None:
    """The compiled kernel for this set-up, or ``None`` for the torch path (see ``fit``)."""
    kw = dict(grad_clip=grad_clip, output_every_step=output_every_step)
    if not uses_compiled_engine(engine, model, optimizer, data, **kw):
        return None
    seq = data.next()  # the fixed full batch (drawing it consumes no randomness)
    return CompiledTrainer(model, optimizer, seq, data.targets(seq, dtype), threads=threads)


def _fit(
    model: torch.nn.Module,
    task: SequenceTask,
    optimizer: torch.optim.Optimizer,
    data: DataStream,
    *,
    steps: int,
    log_steps: Sequence[int] = (),
    checkpoint_steps: Sequence[int] = (),
    probe: SpectralProbe | None = None,
    val_probe: SpectralProbe | None = None,
    grad_clip: float | None = None,
    output_every_step: bool = False,
    start: FitState | None = None,
    on_log: Callable[[int, dict[str, Any]], None] | None = None,
    on_checkpoint: Callable[[int, FitState], None] | None = None,
    stop_after: int | None = None,
    progress: Any = None,
    check_every: int = 200,
    engine: str = "auto",
    threads: int | None = None,
) -> FitState:
    dtype = model.encoding.dtype
    S = model.num_models
    state = start or FitState(losses=torch.empty(0, S))
    done = state.step
    buf = torch.empty(steps - done + 1, S, dtype=dtype, device=model.encoding.device)
    log_set = {int(s) for s in log_steps}
    ckpt_set = {int(s) for s in checkpoint_steps}
    last_checked = 0
    params = [p for grp in optimizer.param_groups for p in grp["params"]]
    end = steps if stop_after is None else min(steps, stop_after)

    def fail(msg: str, t: int, i: int) -> DivergenceError:
        state.losses = torch.cat([state.losses, buf[:i].detach().cpu()])
        state.step = t
        state.diverged = True
        return _diverged(msg, state)

    def check(upto: int) -> None:
        nonlocal last_checked
        chunk = buf[last_checked : upto + 1]
        if chunk.numel() and not bool(torch.isfinite(chunk).all()):
            bad = int(torch.nonzero(~torch.isfinite(chunk).all(dim=1))[0, 0]) + last_checked
            raise fail(
                f"training diverged: the loss is not finite at step {done + bad} "
                f"(try a smaller optim.lr, or optim.grad_clip)",
                done + bad,
                bad,
            )
        last_checked = upto + 1

    # fused analytic gradients (one pass, no autograd graph) where the model provides them
    fused = bool(getattr(model, "supports_fused_grad", False)) and not output_every_step
    compiled = _compiled_trainer(
        engine, model, optimizer, data, grad_clip, output_every_step, dtype, threads
    )
    state.engine = "numba" if compiled is not None else "torch"
    state.threads = max(compiled.threads, compiled.split) if compiled is not None else None
    stops = np.array(sorted((log_set | ckpt_set) - {0}), dtype=np.int64)
    t = done
    try:
        while True:
            i = t - done
            resumed_log = bool(state.logs) and int(state.logs[-1]["step"]) == t
            probe_now = t in log_set and probe is not None and not resumed_log
            ckpt_now = t in ckpt_set and on_checkpoint is not None and t > 0
            if compiled is not None and (probe_now or ckpt_now):
                compiled.sync()
            if probe_now:
                rec = {k: v.detach() for k, v in probe(model).items()}
                if val_probe is not None:
                    rec["val_loss"] = val_probe(model)["eval_loss"].detach()
                with torch.no_grad():
                    rec["param_norm"] = torch.sqrt(
                        sum(p.detach().pow(2).reshape(S, -1).sum(-1) for p in model.parameters())
                    )
                rec = {k: v.cpu() for k, v in rec.items()}
                if not all(bool(torch.isfinite(v).all()) for v in rec.values()):
                    check(max(i - 1, 0))
                    raise fail(f"training diverged: non-finite predictions at step {t}", t, i)
                rec["step"] = t
                state.logs.append(rec)
                if on_log is not None:
                    on_log(t, rec)
            if ckpt_now:
                check(i - 1)
                if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
                    raise fail(f"training diverged: non-finite parameters at step {t}", t, i)
                snapshot = FitState(
                    losses=torch.cat([state.losses, buf[:i].detach().cpu()]),
                    logs=state.logs,
                    step=t,
                    engine=state.engine,
                )
                on_checkpoint(t, snapshot)
            if t >= end:
                break
            if compiled is not None:
                # run up to the next log / checkpoint / finiteness-check step in one call
                nxt = stops[np.searchsorted(stops, t, side="right") :]
                stop = min(end, (t // check_every + 1) * check_every, *nxt[:1].tolist())
                m = stop - t
                try:
                    compiled.run(m, buf.numpy()[i : i + m])
                except KeyboardInterrupt:
                    # every model completes the chunk (or none started it): stop there
                    t += compiled.finish()
                    end = t
                    break
                t = stop
                if progress is not None:
                    progress.update(m)
                    progress.set_postfix_str(f"loss {float(buf[i + m - 1].mean()):.4g}")
                if t % check_every == 0:
                    check(t - done - 1)
                continue
            # the batch is drawn only now, after any checkpoint of step t: a checkpoint's data
            # state is then exactly "before batch t", and a resumed run draws the same batches
            seq = data.next()
            try:
                optimizer.zero_grad(set_to_none=True)
                if fused:
                    tgt = data.targets(seq, dtype)
                    loss = model.loss_and_grad(seq, tgt, exhaustive=data.exhaustive)
                else:
                    loss = _loss(model, seq, data, dtype, output_every_step)
                    loss.sum().backward()
                buf[i] = loss.detach()
                if grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, grad_clip)
            except KeyboardInterrupt:
                end = t  # interrupted before this step's update: the model is still at step t
                break
            optimizer.step()
            t += 1
            if progress is not None:
                progress.update(1)
                if t % 200 == 0:
                    progress.set_postfix_str(f"loss {float(loss.detach().mean()):.4g}")
            if t % check_every == 0:
                check(i)
    finally:
        if compiled is not None:
            compiled.sync()
            compiled.close()
    if end > done:
        check(end - done - 1)
    state.losses = torch.cat([state.losses, buf[: end - done].detach().cpu()])
    state.step = end
    return state
