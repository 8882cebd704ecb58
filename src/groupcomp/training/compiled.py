"""Compiled full-batch training steps for small two-layer networks (numba).

A D3 step of the two-layer net is ~0.3 MFLOP: torch spends ~20× longer launching its ~15 kernels
than doing the arithmetic (docs/performance.md). This module runs many complete steps — forward,
exact gradients, per-neuron SGD update — inside one compiled loop, with every per-sample vector
(length ``H``) kept in the L1 cache. Same maths as :meth:`TwoLayerNet.loss_and_grad` followed by
:class:`~groupcomp.optim.PerNeuronSGD` (tested equal to float rounding); only the order of the
floating-point sums differs.

Scope (anything else falls back to the torch path): ``TwoLayerNet`` on the CPU, a fixed full
batch (``task.data`` = ``exhaustive`` or a fixed train split), activations ``power``/``square``/
``relu``/``relu2``/``linear``, ``PerNeuronSGD`` (one group, no momentum) or plain ``SGD`` (no
momentum / weight decay), no gradient clipping, no every-step outputs.

Layout inside the kernel (per model ``s``; neuron index last so that every inner loop is a
contiguous, vectorisable loop over ``H``): ``V[j, m, h] = W_in[s, h, j, m]`` ``(k, n, H)`` and
``Wt[o, h] = W_out[s, h, o]`` ``(n, H)``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from groupcomp.training.threads import CpuMonitor, auto_threads, available_cores

__all__ = [
    "AUTO_MAX_FLOPS",
    "SPLIT_MIN_FLOPS",
    "ENGINES",
    "CompiledTrainer",
    "choose_engine_reason",
    "compiled_unsupported_reason",
    "numba_available",
    "step_flops",
]

#: values of ``train.engine``
ENGINES: tuple[str, ...] = ("auto", "torch", "numba")

#: ``engine="auto"`` uses the kernel for one model when a step costs fewer FLOPs than this. On
#: the project's 2-core machine the kernel beat torch on every preset, up to a5 (7.8e8 FLOPs per
#: step: 6.8 vs 8.9 s for the preset, docs/performance.md); above the measured range torch's BLAS
#: is the safer default. Ensembles of at least as many models as cores always use the kernel.
AUTO_MAX_FLOPS = 2e9
#: a single model's step is split over threads only above this many FLOPs (below, starting
#: the threads costs more than it saves)
SPLIT_MIN_FLOPS = 2e6

_ACT_CODES = {"power": 0, "square": 0, "relu": 1, "relu2": 2, "linear": 3}


def numba_available() -> bool:
    """Whether the compiled kernels can be loaded (numba importable, kernels defined)."""
    try:
        from groupcomp.training import _kernels  # noqa: F401
    except Exception:  # pragma: no cover - numba is a dependency; this guards odd platforms
        return False
    return True


def compiled_unsupported_reason(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    full_batch: bool,
    grad_clip: float | None = None,
    output_every_step: bool = False,
) -> str | None:
    """``None`` if the compiled engine can train this set-up, else why not (one sentence)."""
    from groupcomp.models import TwoLayerNet

    if not isinstance(model, TwoLayerNet):
        return f"the model is {type(model).__name__}, not TwoLayerNet"
    if model.encoding.device.type != "cpu":
        return f"the device is {model.encoding.device}, not the CPU"
    if model.encoding.dtype not in (torch.float32, torch.float64):
        return f"the dtype is {model.encoding.dtype}, not float32/float64"
    if model.activation.name not in _ACT_CODES:
        return (
            f"the activation is {model.activation.name!r}; compiled: "
            f"{', '.join(sorted(_ACT_CODES))}"
        )
    if not full_batch:
        return "the data are not one fixed full batch (minibatch / online)"
    if grad_clip is not None:
        return "gradient clipping is on"
    if output_every_step:
        return "the task asks for every-step outputs"
    from groupcomp.optim.rules import same_params, step_rule

    rules = step_rule(optimizer)
    if isinstance(rules, str):
        return rules
    if len(rules) != 1 or not same_params(rules[0], [model.W_in, model.W_out]):
        return "the optimiser does not hold exactly (W_in, W_out) in one group"
    rule = rules[0]
    if rule.kind == "per_neuron":
        return "per-neuron SGD has momentum" if rule.momentum != 0 else None
    if rule.momentum != 0 or rule.weight_decay != 0 or rule.maximize:
        return "SGD has momentum, weight decay or maximize"
    return None


def step_flops(B: int, k: int, H: int, n: int) -> float:
    """Floating-point operations of one full-batch step of one ``TwoLayerNet`` (fused
    gradients): lookup tables ``2·k·H·n²``, read-out ``2·B·H·n``, read-out and hidden gradients
    ``4·B·H·n``, input-weight gradient ``2·k·H·n²``, element-wise terms ``B·H·(k + 4)``."""
    return 6.0 * B * H * n + 4.0 * k * H * n * n + B * H * (k + 4)


def choose_engine_reason(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    full_batch: bool,
    grad_clip: float | None = None,
    output_every_step: bool = False,
    batch: int | None = None,
    forced: bool = False,
) -> str | None:
    """``None`` if the compiled kernel should run this set-up, else why not.

    ``forced=False`` (``engine="auto"``) also declines large single models, whose steps are
    faster with torch's multi-threaded matmuls (:data:`AUTO_MAX_FLOPS`). ``batch`` is the full
    batch size (default: all ``n^k`` sequences).
    """
    reason = compiled_unsupported_reason(
        model,
        optimizer,
        full_batch=full_batch,
        grad_clip=grad_clip,
        output_every_step=output_every_step,
    )
    if reason is None and not numba_available():
        reason = "numba is not installed"
    if reason is not None or forced:
        return reason
    B = batch if batch is not None else model.n**model.k
    flops = step_flops(B, model.k, model.hidden, model.n)
    cores = os.cpu_count() or 1
    if flops > AUTO_MAX_FLOPS and model.num_models < cores:
        return f"a step costs {flops:.2g} FLOPs (> {AUTO_MAX_FLOPS:.0e}): torch is faster"
    return None


def _kernel():
    """The single-threaded step kernel (compiled, or loaded from numba's on-disk cache, on
    first use; see :mod:`groupcomp.training._kernels`)."""
    from groupcomp.training import _kernels

    return _kernels.steps_serial


def _parallel_kernel():
    """The kernel that splits each step's samples over threads (one model at a time)."""
    from groupcomp.training import _kernels

    return _kernels.steps_parallel


class CompiledTrainer:
    """Runs full-batch steps of a :class:`TwoLayerNet` in the compiled kernel.

    The parameters live in kernel layout while steps run; :meth:`sync` writes them back into the
    model's tensors (call it before anything reads the model: probes, checkpoints, the end).

    Args:
        model: a ``TwoLayerNet`` (see :func:`compiled_unsupported_reason`).
        optimizer: its per-neuron SGD / SGD optimiser (its ``lr`` is read at every :meth:`run`).
        seq: ``(B, k)`` the full batch; ``target``: ``(B, n)`` its targets.
        threads: worker threads (default: the number of cores). With at least as many models as
            threads, the models are split between threads (one single-threaded kernel each);
            otherwise the models run one after the other, each step's samples split into
            ``threads`` fixed chunks when a step is large enough (:data:`SPLIT_MIN_FLOPS`). The
            numbers depend on the chunk count, never on thread scheduling.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        seq: torch.Tensor,
        target: torch.Tensor,
        threads: int | None = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.dtype = model.encoding.detach().numpy().dtype
        self.S = model.num_models
        self.enc = np.ascontiguousarray(model.encoding.detach().numpy())
        seq_np = seq.detach().cpu().numpy().astype(np.int64)
        tgt = target.detach().cpu()
        if tgt.dim() == 3:  # (S, B, n) with identical rows is not expected for a full batch
            raise ValueError("the compiled engine needs one (B, n) target shared by all models")
        tgt_np = tgt.numpy().astype(self.dtype)
        # pad the batch to a multiple of 4 (the kernel's sample block) with weight-0 samples
        self.B = B = int(seq_np.shape[0])
        pad = (-B) % 4
        self.seq = np.ascontiguousarray(np.concatenate([seq_np, seq_np[:1].repeat(pad, 0)]))
        tgt_np = np.concatenate([tgt_np, tgt_np[:1].repeat(pad, 0)])
        # and the outputs to an even count (the kernel treats them in pairs): a zero column
        n = tgt_np.shape[1]
        self.tgt = np.zeros((B + pad, n + n % 2), dtype=self.dtype)
        self.tgt[:, :n] = tgt_np
        self.mask = np.concatenate([np.ones(B), np.zeros(pad)]).astype(self.dtype)
        act = model.activation
        self.act = _ACT_CODES[act.name]
        self.p = int(act.power) if act.name == "power" else 2
        cores = os.cpu_count() or 1
        want = max(1, int(threads or cores))
        self.split = 1
        if self.S < want:
            flops = step_flops(B, model.k, model.hidden, model.n)
            if flops >= SPLIT_MIN_FLOPS:
                self.split = want
        self.threads = min(self.S, want) if self.split == 1 else 1
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        # threads=None: the split chunks run on as many threads as other processes leave cores
        # free, decided again at every call (the chunks fix the numbers, not the threads)
        self._monitor = CpuMonitor() if threads is None and self.split > 1 else None
        #: threads that executed the split chunks in the latest call (1 without a split)
        self.workers = 1
        self.load()

    def load(self) -> None:
        """Copy the model's current parameters into the kernel layout: ``H`` padded to a
        multiple of 16 with all-zero neurons, the outputs to an even count with an all-zero row
        of ``Wt``; both stay zero (their gradients are 0)."""
        m = self.model
        S, H, k, n = m.num_models, m.hidden, m.k, m.n
        Hp = -(-H // 16) * 16
        self.V = np.zeros((S, k, n, Hp), dtype=self.dtype)
        self.Wt = np.zeros((S, n + n % 2, Hp), dtype=self.dtype)
        self.V[..., :H] = m.W_in.detach().numpy().transpose(0, 2, 3, 1)
        self.Wt[:, :n, :H] = m.W_out.detach().numpy().transpose(0, 2, 1)

    def sync(self) -> None:
        """Write the kernel's parameters back into the model (in place)."""
        H, n = self.model.hidden, self.model.n
        with torch.no_grad():
            self.model.W_in.copy_(torch.from_numpy(self.V[..., :H].transpose(0, 3, 1, 2)))
            self.model.W_out.copy_(torch.from_numpy(self.Wt[:, :n, :H].transpose(0, 2, 1)))

    def _hyper(self) -> np.ndarray:
        from groupcomp.optim.rules import step_rule

        (rule,) = step_rule(self.optimizer)  # read at every run: the lr may change
        B, n = self.B, self.enc.shape[0]
        return np.array(
            [0.0, 2.0 / (B * n), rule.lr, rule.degree, rule.eps, self.p], dtype=self.dtype
        )

    def run(self, steps: int, losses: np.ndarray) -> int:
        """Run ``steps`` steps of every model; ``losses``: ``(steps, S)`` is filled with the
        mean-MSE before each update. Returns ``steps``.

        A ``KeyboardInterrupt`` can leave the chunk half done (some models advanced, others
        not): the caller must then call :meth:`finish`, which completes it for every model.
        """
        # first of all: an interrupt from here until a kernel runs must read as "0 steps done"
        self._pending = None
        self._last_done = 0
        hyper = self._hyper()
        S = self.S
        out = np.empty((S, steps), dtype=self.dtype)
        counters = np.zeros((S, 1), dtype=np.int64)
        if self.split > 1:
            import numba

            self.workers = min(self.split, numba.config.NUMBA_NUM_THREADS)
            if self._monitor is not None:
                others = self._monitor.others()
                self.workers = auto_threads(available_cores(), others, at_most=self.workers)
            pkern, workers = _parallel_kernel(), self.workers

            def one(s: int) -> None:
                # numba's OpenMP layer and torch share the process's OpenMP thread count:
                # numba's launch set it (torch's too) to NUMBA_NUM_THREADS, so the probes ran
                # on 2 torch threads (an element-wise op 150x slower on a busy machine); and a
                # count left at 1 by torch made the kernel's 2-thread steps 70x slower. So:
                # the kernel's count while it runs, torch's own afterwards (measured in
                # docs/performance.md)
                torch_threads = torch.get_num_threads()
                try:
                    torch.set_num_threads(workers)
                    numba.set_num_threads(workers)
                    pkern(
                        self.V[s], self.Wt[s], self.enc, self.seq, self.tgt, self.mask, hyper,
                        self.act, self.p, steps, out[s], counters[s], self.split,
                    )  # fmt: skip
                finally:
                    if torch.get_num_threads() != torch_threads:
                        torch.set_num_threads(torch_threads)
        else:
            kern = _kernel()

            def one(s: int) -> None:
                kern(
                    self.V[s], self.Wt[s], self.enc, self.seq, self.tgt, self.mask, hyper,
                    self.act, self.p, steps, out[s], counters[s],
                )  # fmt: skip

        def block(lo: int, hi: int) -> None:
            for s in range(lo, hi):
                one(s)

        self._pending = {
            "steps": steps,
            "losses": losses,
            "out": out,
            "counters": counters,
            "one": one,
            "futs": [],
        }
        if self._pool is None:
            block(0, S)
        else:
            edges = np.linspace(0, S, self.threads + 1).astype(int)
            futs = self._pending["futs"]
            for lo, hi in zip(edges[:-1], edges[1:], strict=True):
                futs.append(self._pool.submit(block, lo, hi))
            for f in futs:
                f.result()
        self._complete()
        return steps

    def _complete(self) -> None:
        p = self._pending
        p["losses"][:] = p["out"].T
        self._last_done = p["steps"]
        self._pending = None

    def finish(self) -> int:
        """After a ``KeyboardInterrupt`` in :meth:`run`: complete the interrupted chunk for every
        model (a kernel call cannot stop half-way, and all models must stop at the same step)
        and return the number of steps the chunk advanced (0 if it had not started). Further
        Ctrl-C are ignored meanwhile (the chunk is at most a few hundred steps)."""
        import signal
        import threading

        p = getattr(self, "_pending", None)
        if p is None:
            return int(getattr(self, "_last_done", 0))
        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            if self._pool is not None:
                # wait for every block submitted so far, recorded in p["futs"] or not (a SIGINT
                # goes to the main thread: workers run their blocks to the end), then start a
                # fresh pool for the next chunk
                self._pool.shutdown(wait=True)
                self._pool = ThreadPoolExecutor(self.threads)
            for f in p["futs"]:
                try:
                    f.result()
                except BaseException:  # noqa: BLE001 - a block that failed is redone below
                    pass
            for s in range(self.S):
                if p["counters"][s, 0] == 0:
                    p["one"](s)
            self._complete()
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)
        return int(self._last_done)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
