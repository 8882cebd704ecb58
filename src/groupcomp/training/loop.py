"""The training loop: one :func:`fit` for every task kind, engine and data mode.

``fit(model, objective, optimizer, data, schedule, settings=..., probe=..., hooks=...)``:

* the **objective** (:mod:`groupcomp.training.objectives`) computes each step's per-member
  records and gradients; the **data** source (:mod:`groupcomp.training.data`) gives the batch;
* the **engine** runs the steps: :class:`TorchEngine` (any model, optimiser and data) or the
  compiled kernel (:mod:`groupcomp.training.compiled`), chosen by one rule,
  :func:`select_engine`;
* per-step records go into preallocated tensors (no host sync per step); finiteness is checked
  every ``schedule.check_every`` steps and at every log / checkpoint step — a run that diverges
  stops with :class:`~groupcomp.errors.DivergenceError` and its last checkpoint (taken before the
  non-finite step) stays the last good one;
* the **probe** runs at ``schedule.log_steps`` (step ``t`` = before update ``t``: step 0 is the
  initialisation, step ``steps`` the final model) and once more at an early stop;
* Ctrl-C (:mod:`groupcomp.training.interrupt`) stops at a step boundary with a consistent state.

Everything is per ensemble member (seed): gradient clipping, losses and the data streams, so a
seed trained alone or inside a batch of seeds follows the same trajectory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch import Tensor

from groupcomp.errors import ConfigError, DivergenceError
from groupcomp.training.compiled import ENGINES, CompiledTrainer, choose_engine_reason
from groupcomp.training.interrupt import deferred_interrupt, interrupt_requested
from groupcomp.training.objectives import clip_grad_norm_per_model

__all__ = [
    "FitHooks",
    "FitSettings",
    "FitState",
    "Objective",
    "CompiledEngine",
    "Engine",
    "Schedule",
    "TorchEngine",
    "fit",
    "log_spaced_steps",
    "select_engine",
]

EngineName = Literal["auto", "torch", "numba"]


def log_spaced_steps(total: int, points: int) -> np.ndarray:
    """Sorted unique steps in ``[0, total]`` spaced logarithmically (always includes 0 and
    ``total``). ``total`` is the number of optimiser steps; step ``t`` means "after t updates"."""
    if total <= 0:
        return np.array([0])
    s = np.unique(np.round(np.geomspace(1, total + 1, max(2, points)) - 1).astype(np.int64))
    return np.unique(np.concatenate([[0], s, [total]]))


class Objective(Protocol):
    """See :mod:`groupcomp.training.objectives`."""

    record_keys: tuple[str, ...]

    def loss_and_grad(self, model: torch.nn.Module, batch: Any, step: int) -> dict[str, Tensor]:
        """Per-member records ``{key: (S,)}`` of step ``step`` (``"loss"`` first); fills grads."""
        ...


@dataclass(frozen=True)
class Schedule:
    """When things happen: ``steps`` updates; probes at ``log_steps``; checkpoints at
    ``checkpoint_steps`` (step 0 included); finiteness checks every ``check_every`` steps."""

    steps: int
    log_steps: tuple[int, ...] = ()
    checkpoint_steps: tuple[int, ...] = ()
    check_every: int = 200

    @classmethod
    def log_spaced(
        cls, steps: int, log_points: int, checkpoints: int, every: int | None = None
    ) -> Schedule:
        """``log_points`` log-spaced probe steps; ``checkpoints`` log-spaced checkpoints plus
        one every ``every`` steps (``None`` = none)."""
        ck = set(log_spaced_steps(steps, checkpoints).tolist())
        if every:
            ck |= set(range(0, steps + 1, int(every)))
        return cls(
            steps=int(steps),
            log_steps=tuple(int(s) for s in log_spaced_steps(steps, log_points)),
            checkpoint_steps=tuple(sorted(int(s) for s in ck)),
        )


@dataclass(frozen=True)
class FitSettings:
    """Typed settings of the loop.

    Attributes:
        engine: ``"auto"`` (the compiled kernel where :func:`select_engine` says it applies and
            is faster), ``"torch"``, or ``"numba"`` (the kernel; an error where it cannot apply).
        threads: worker threads of the compiled kernel (``None``: one per core, at most one per
            model); torch's own thread count is the caller's.
        grad_clip: clip each member's gradient norm to this (``None`` = off).
    """

    engine: EngineName = "auto"
    threads: int | None = None
    grad_clip: float | None = None


@dataclass
class FitHooks:
    """Callbacks of :func:`fit` (all optional).

    Attributes:
        on_checkpoint: ``(step, state)`` at each checkpoint step (after the finiteness check) and
            at an interruption.
        on_flush: ``(state)`` at least every ``flush_every_s`` seconds, so a killed run keeps
            what it did.
        stop_when: ``(step, records)`` → stop before update ``step`` (early stopping); called
            once per step, a continuation's earlier steps included (replayed from ``start``).
        progress: a tqdm-like object with ``update`` / ``set_postfix_str``.
        stop_after: stop (as if interrupted) once this many steps are done in total.
    """

    on_checkpoint: Callable[[int, FitState], None] | None = None
    on_flush: Callable[[FitState], None] | None = None
    flush_every_s: float = 5.0
    stop_when: Callable[[int, dict[str, Tensor]], bool] | None = None
    progress: Any = None
    stop_after: int | None = None


@dataclass
class FitState:
    """What :func:`fit` produced (host tensors; everything ``torch.load(weights_only=True)``
    can read back).

    Attributes:
        records: ``{key: (steps_done, S)}`` per-step records before each update (key ``loss``
            is the training loss).
        final: records of the final model after the last update (objectives with ``evaluate``;
            empty otherwise).
        logs: one dict per probe step: the probe's tensors and ``"step"``.
        step: optimiser updates done. ``stopped``: why the loop ended before ``schedule.steps``
            (``"interrupted"``, ``"early_stop"``, ``"stop_after"``) or ``None``.
    """

    records: dict[str, Tensor] = field(default_factory=dict)
    final: dict[str, Tensor] = field(default_factory=dict)
    logs: list[dict[str, Any]] = field(default_factory=list)
    step: int = 0
    diverged: bool = False
    stopped: str | None = None
    engine: str = "torch"  # which engine ran the steps: "torch" or "numba" (compiled kernel)
    threads: int | None = None  # threads the compiled kernel used (None: torch's own setting)

    @property
    def losses(self) -> Tensor:
        """``(steps_done, S)`` per-step training loss."""
        return self.records["loss"]

    def to_dict(self) -> dict[str, Any]:
        """Plain containers of tensors / numbers / strings (for checkpoints)."""
        logs: dict[str, Any] = {"steps": [int(r["step"]) for r in self.logs]}
        if self.logs:
            for k in self.logs[0]:
                if k != "step":
                    logs[k] = torch.stack([r[k] for r in self.logs])
        return {
            "records": dict(self.records),
            "final": dict(self.final),
            "logs": logs,
            "step": int(self.step),
            "engine": self.engine,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitState:
        packed = d["logs"]
        keys = [k for k in packed if k != "steps"]
        logs = [
            {**{k: packed[k][i] for k in keys}, "step": t} for i, t in enumerate(packed["steps"])
        ]
        return cls(
            records=dict(d["records"]),
            final=dict(d.get("final", {})),
            logs=logs,
            step=int(d["step"]),
            engine=str(d.get("engine", "torch")),
        )


def _diverged(msg: str, state: FitState) -> DivergenceError:
    err = DivergenceError(msg)
    err.state = state  # type: ignore[attr-defined]
    return err


def select_engine(
    engine: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Any,
    *,
    grad_clip: float | None = None,
    output_every_step: bool = False,
) -> str:
    """The one rule that picks the engine: ``"numba"`` (compiled kernel) or ``"torch"``.

    Raises:
        ConfigError: ``engine`` is unknown, or ``"numba"`` for a set-up the kernel cannot train
            (the message says why).
    """
    if engine not in ENGINES:
        raise ConfigError(
            f"engine: unknown engine {engine!r}; allowed values: {', '.join(ENGINES)}"
        )
    if engine == "torch" or not hasattr(data, "task") or not hasattr(data, "mode"):
        if engine == "numba":
            raise ConfigError(
                "engine: 'numba' cannot train this run (the compiled kernel covers the sequence "
                "composition task only); allowed values here: auto, torch"
            )
        return "torch"
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
            f"engine: 'numba' cannot train this run ({reason}); allowed values here: auto, torch"
        )
    return "numba" if reason is None else "torch"


class Engine(Protocol):
    """Runs optimiser steps. ``advance(t, stop, buf, done)`` runs steps ``t, t+1, …`` up to
    ``stop`` (exclusive), writing step ``s``'s records into ``buf[key][s - done]``, and returns
    ``(t_reached, stopped)``: ``stopped`` is ``"early_stop"`` when ``hooks.stop_when`` asked to
    stop before update ``t_reached`` (its records are written), else ``None``. An interrupt
    request ends the call at a step boundary. ``sync()`` makes the model's tensors current;
    ``close()`` releases resources."""

    name: str

    def advance(
        self, t: int, stop: int, buf: dict[str, Tensor], done: int
    ) -> tuple[int, str | None]: ...

    def sync(self) -> None: ...

    def close(self) -> None: ...


class TorchEngine:
    """Steps with torch: batch, objective (forward + gradients), per-member clipping, optimiser
    update. Any model, optimiser and data source."""

    name = "torch"
    threads: int | None = None

    def __init__(self, model, objective, optimizer, data, grad_clip: float | None, stop_when):
        self.model, self.objective, self.optimizer, self.data = model, objective, optimizer, data
        self.grad_clip = grad_clip
        self.stop_when = stop_when
        self.params = [p for grp in optimizer.param_groups for p in grp["params"]]

    def advance(
        self, t: int, stop: int, buf: dict[str, Tensor], done: int
    ) -> tuple[int, str | None]:
        while t < stop:
            batch = self.data.next()  # drawn now: a checkpoint at t has the data state "before t"
            self.optimizer.zero_grad(set_to_none=True)
            rec = self.objective.loss_and_grad(self.model, batch, t)
            if self.grad_clip is not None:
                clip_grad_norm_per_model(self.params, float(self.grad_clip))
            for k, v in rec.items():
                buf[k][t - done] = v
            if self.stop_when is not None and self.stop_when(t, rec):
                return t, "early_stop"
            self.optimizer.step()
            t += 1
            if interrupt_requested():
                break  # at a step boundary: the caller checkpoints step t
        return t, None

    def sync(self) -> None:
        pass

    def close(self) -> None:
        pass


class CompiledEngine:
    """Steps in the compiled kernel (:class:`~groupcomp.training.compiled.CompiledTrainer`):
    full-batch two-layer runs; a call runs its whole chunk."""

    name = "numba"

    def __init__(self, model, optimizer, data, dtype, threads: int | None) -> None:
        seq = data.next()  # the fixed full batch (drawing it consumes no randomness)
        self.trainer = CompiledTrainer(
            model, optimizer, seq, data.targets(seq, dtype), threads=threads
        )
        self.threads = max(self.trainer.threads, self.trainer.split)

    def advance(
        self, t: int, stop: int, buf: dict[str, Tensor], done: int
    ) -> tuple[int, str | None]:
        self.trainer.run(stop - t, buf["loss"].numpy()[t - done : stop - done])
        return stop, None

    def sync(self) -> None:
        self.trainer.sync()

    def close(self) -> None:
        self.trainer.sync()
        self.trainer.close()


def fit(
    model: torch.nn.Module,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    data: Any,
    schedule: Schedule,
    *,
    settings: FitSettings = FitSettings(),
    probe: Callable[[torch.nn.Module], dict[str, Tensor]] | None = None,
    hooks: FitHooks | None = None,
    start: FitState | None = None,
) -> FitState:
    """Train ``model`` for ``schedule.steps`` optimiser steps (continuing ``start`` if given).

    Args:
        objective: per-step records and gradients (``record_keys``, ``loss_and_grad``, optional
            ``evaluate`` for the final model).
        data: the batch source (``next()``, ``state_dict()``); its state at a checkpoint is
            exactly "before batch t", so a resumed run draws the same batches.
        settings: engine, compiled-kernel threads, gradient clipping (:class:`FitSettings`).
        probe: measurements at ``schedule.log_steps``.

    Raises:
        DivergenceError: the loss became NaN/inf; ``err.state.step`` is the first step whose loss
            is not finite (``records`` hold the finite steps before it).
        ConfigError: ``settings.engine`` is unknown, or ``"numba"`` where it cannot apply.
    """
    flag = getattr(model, "check_indices", None)
    if flag is not None:
        model.check_indices = False  # indices come from the task: skip the per-step host sync
    try:
        with deferred_interrupt():
            return _Loop(model, objective, optimizer, data, schedule, settings, probe,
                         hooks or FitHooks(), start).run()  # fmt: skip
    finally:
        if flag is not None:
            model.check_indices = flag


class _Loop:
    def __init__(self, model, objective, optimizer, data, schedule, settings, probe, hooks, start):
        self.model, self.objective, self.optimizer, self.data = model, objective, optimizer, data
        self.schedule, self.settings, self.probe, self.hooks = schedule, settings, probe, hooks
        self.S = model.num_models
        self.dtype = model.encoding.dtype
        keys = tuple(objective.record_keys)
        self.state = start or FitState(records={k: torch.empty(0, self.S) for k in keys})
        self.state.stopped = None  # a continuation is judged on its own end
        for k in keys:
            self.state.records.setdefault(k, torch.empty(0, self.S))
        self.done = self.state.step
        n = max(schedule.steps - self.done, 0) + 1
        dev = model.encoding.device
        self.buf = {k: torch.full((n, self.S), float("nan"), dtype=self.dtype, device=dev)
                    for k in keys}  # fmt: skip
        self.log_set = set(schedule.log_steps)
        # a transient probe record at an earlier interruption is not part of the schedule
        self.state.logs = [r for r in self.state.logs if int(r["step"]) in self.log_set]
        self.ckpt_set = set(schedule.checkpoint_steps)
        self.last_checked = 0
        self.end = schedule.steps
        if hooks.stop_after is not None:
            self.end = min(self.end, int(hooks.stop_after))
        self.last_flush = time.monotonic()

    # -- helpers ------------------------------------------------------------------------------
    def snapshot(self, i: int) -> FitState:
        st = self.state
        return FitState(
            records={
                k: torch.cat([st.records[k], self.buf[k][:i].detach().cpu()]) for k in self.buf
            },
            final=dict(st.final),
            logs=list(st.logs),
            step=self.done + i,
            engine=st.engine,
            threads=st.threads,
            stopped=st.stopped,
        )

    def fail(self, msg: str, t: int, i: int) -> DivergenceError:
        snap = self.snapshot(i)
        snap.step = t
        snap.diverged = True
        return _diverged(msg, snap)

    def check(self, upto: int) -> None:
        chunk = self.buf["loss"][self.last_checked : upto + 1]
        if chunk.numel() and not bool(torch.isfinite(chunk).all()):
            bad = int(torch.nonzero(~torch.isfinite(chunk).all(dim=1))[0, 0]) + self.last_checked
            raise self.fail(
                f"training diverged: the loss is not finite at step {self.done + bad} "
                f"(try a smaller optim.lr, or optim.grad_clip)",
                self.done + bad,
                bad,
            )
        self.last_checked = upto + 1

    def run_probe(self, t: int, i: int) -> None:
        S = self.S
        rec = {k: v.detach() for k, v in self.probe(self.model).items()}
        with torch.no_grad():
            rec["param_norm"] = torch.sqrt(
                sum(p.detach().pow(2).reshape(S, -1).sum(-1) for p in self.model.parameters())
            )
        rec = {k: v.cpu() for k, v in rec.items()}
        if not all(bool(torch.isfinite(v).all()) for k, v in rec.items() if k != "val_loss"):
            self.check(max(i - 1, 0))
            raise self.fail(f"training diverged: non-finite predictions at step {t}", t, i)
        rec["step"] = t
        self.state.logs.append(rec)

    def checkpoint(self, t: int, i: int) -> None:
        if self.hooks.on_checkpoint is None:
            return
        self.check(i - 1)
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            raise self.fail(f"training diverged: non-finite parameters at step {t}", t, i)
        self.hooks.on_checkpoint(t, self.snapshot(i))

    def maybe_flush(self, i: int) -> None:
        if self.hooks.on_flush is None:
            return
        now = time.monotonic()
        if now - self.last_flush >= self.hooks.flush_every_s:
            self.last_flush = now
            self.hooks.on_flush(self.snapshot(i))

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> FitState:
        model, st, sched, hooks = self.model, self.state, self.schedule, self.hooks
        engine_name = select_engine(
            self.settings.engine,
            model,
            self.optimizer,
            self.data,
            grad_clip=self.settings.grad_clip,
            output_every_step=bool(getattr(self.objective, "output_every_step", False)),
        )
        if engine_name == "numba":
            engine: Engine = CompiledEngine(
                model, self.optimizer, self.data, self.dtype, self.settings.threads
            )
        else:
            engine = TorchEngine(
                model,
                self.objective,
                self.optimizer,
                self.data,
                self.settings.grad_clip,
                hooks.stop_when,
            )
        st.engine, st.threads = engine.name, engine.threads
        if hooks.stop_when is not None:
            # a continuation's rule sees every earlier step once, as in an uninterrupted run
            for j in range(self.done):
                hooks.stop_when(j, {k: v[j] for k, v in st.records.items()})
        stops = np.array(sorted((self.log_set | self.ckpt_set) - {0}), dtype=np.int64)
        check_every = sched.check_every
        t = self.done
        try:
            while True:
                i = t - self.done
                resumed_log = bool(st.logs) and int(st.logs[-1]["step"]) == t
                probe_now = t in self.log_set and self.probe is not None and not resumed_log
                ckpt_now = t in self.ckpt_set and hooks.on_checkpoint is not None and t > self.done
                if t == 0 and t in self.ckpt_set and hooks.on_checkpoint is not None:
                    ckpt_now = True  # the initialisation is a checkpoint too
                if probe_now or ckpt_now:
                    engine.sync()
                if probe_now:
                    self.run_probe(t, i)
                if ckpt_now:
                    self.checkpoint(t, i)
                if t >= self.end:
                    if t == sched.steps and hasattr(self.objective, "evaluate"):
                        st.final = {
                            k: v.detach().cpu() for k, v in self.objective.evaluate(model).items()
                        }
                    break
                if interrupt_requested():
                    st.stopped = "interrupted"
                    break
                self.maybe_flush(i)
                # one call up to the next log / checkpoint / finiteness-check step
                nxt = stops[np.searchsorted(stops, t, side="right") :]
                stop = min(self.end, (t // check_every + 1) * check_every, *nxt[:1].tolist())
                t0 = t
                t, stopped = engine.advance(t, stop, self.buf, self.done)
                if hooks.progress is not None and t > t0:
                    hooks.progress.update(t - t0)
                    loss = float(self.buf["loss"][t - 1 - self.done].mean())
                    hooks.progress.set_postfix_str(f"loss {loss:.4g}")
                if stopped is not None:
                    st.stopped = stopped
                    break
                if t % check_every == 0 and t > t0:
                    self.check(t - self.done - 1)
        finally:
            engine.close()
        if t < self.end and st.stopped is None:
            st.stopped = "interrupted"
        elif t < sched.steps and st.stopped is None:
            st.stopped = "stop_after"
        # early stop: the records of step t were taken, the model is still at step t
        n_rec = t - self.done + (1 if st.stopped == "early_stop" else 0)
        if n_rec > 0:
            self.check(n_rec - 1)
        if st.stopped is not None and self.probe is not None:
            if not (st.logs and int(st.logs[-1]["step"]) == t):
                self.run_probe(t, t - self.done)  # the state the run ends with
        if st.stopped in ("interrupted", "stop_after") and hooks.on_checkpoint is not None:
            if not (t in self.ckpt_set and t > self.done):
                self.checkpoint(t, t - self.done)  # a checkpoint at the interruption
        for k in self.buf:
            st.records[k] = torch.cat([st.records[k], self.buf[k][:n_rec].detach().cpu()])
        st.step = t
        return st
