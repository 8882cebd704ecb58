"""Threads that never hurt (groupcomp.training.threads): the rule, the CPU monitor, the compiled
engine's per-call worker count (numbers unchanged), the torch-thread default of a run, and the
optimisers' construction without torch._dynamo."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from groupcomp.config import load_config
from groupcomp.runs import build
from groupcomp.training import compiled as compiled_mod
from groupcomp.training import threads as threads_mod
from groupcomp.training.threads import CpuMonitor, auto_threads

F64 = [
    "group=D3",
    "template.powers=[0,1000,3000]",
    "model.hidden=60",
    "optim.lr=2e-5",
    "train.progress=false",
    "train.dtype=float64",
]


@pytest.mark.parametrize(
    "cores, busy, at_most, expected",
    [
        (2, 0.0, None, 2),  # idle: every core
        (2, 0.2, None, 2),  # within the quarter-core margin
        (2, 0.3, None, 1),  # others use a third of a core: one thread
        (2, 1.0, None, 1),  # one CPU burner
        (2, 2.0, None, 1),  # two burners
        (2, 7.0, None, 1),  # overloaded: never fewer than one
        (16, 3.0, None, 13),
        (16, 0.0, 4, 4),  # at most the chunk count
        (1, 0.0, None, 1),
        (2, None, None, 2),  # unknown load: the cores
        (2, float("nan"), None, 2),
    ],
)
def test_auto_threads_rule(cores, busy, at_most, expected) -> None:
    assert auto_threads(cores, busy, at_most=at_most) == expected


def test_cpu_monitor_subtracts_this_process(monkeypatch) -> None:
    """others = (machine busy − own CPU) / wall over the interval; shorter intervals than
    ``min_interval`` keep the previous value; before any interval: the load average."""
    samples = iter(
        [
            (0.0, 100.0, 5.0),  # at construction: (wall, machine busy, own cpu)
            (0.1, 100.15, 5.05),  # 0.1 s later: too short, keeps the load average
            (1.0, 101.5, 5.5),  # 1 s: machine 1.5 s busy, own 0.5 s -> others 1.0 core
            (3.0, 102.0, 6.9),  # 2 s: machine 0.5, own 1.4 (tick rounding) -> clipped at 0
        ]
    )
    monkeypatch.setattr(CpuMonitor, "_sample", staticmethod(lambda: next(samples)))
    monkeypatch.setattr(threads_mod, "load_average", lambda: 3.5)
    mon = CpuMonitor(min_interval=0.25)
    assert mon.others() == 3.5
    assert mon.others() == pytest.approx(1.0)
    assert mon.others() == 0.0


def test_cpu_monitor_without_proc_stat_uses_the_load_average(monkeypatch) -> None:
    monkeypatch.setattr(CpuMonitor, "_sample", staticmethod(lambda: None))
    monkeypatch.setattr(threads_mod, "load_average", lambda: 1.25)
    assert CpuMonitor().others() == 1.25


def test_cpu_monitor_reads_this_machine() -> None:
    """On Linux the reading is a finite number of cores (≥ 0); elsewhere the load average."""
    mon = CpuMonitor(min_interval=0.0)
    value = mon.others()
    assert value is None or (np.isfinite(value) and value >= 0)


def test_split_kernel_workers_follow_the_load_numbers_do_not(monkeypatch) -> None:
    """threads=None: the two fixed chunks of each step run on 1 thread while others keep the
    cores busy and on 2 when they are free, decided at every call; the losses and parameters
    are bit-identical either way (the chunks, not the threads, fix the sums), and torch's
    thread count (1, as a run of this size sets it) is the same after every call."""
    monkeypatch.setattr(compiled_mod, "SPLIT_MIN_FLOPS", 0)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _check_split_workers(monkeypatch)
    finally:
        torch.set_num_threads(old)


def _check_split_workers(monkeypatch) -> None:
    monkeypatch.setattr(compiled_mod.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(compiled_mod, "available_cores", lambda: 2)
    import numba

    idle = min(2, numba.config.NUMBA_NUM_THREADS)
    results = {}
    for name, loads in {"busy": [2.0, 1.0], "idle": [0.0, 0.0], "mixed": [0.0, 2.0]}.items():
        b = build(load_config("d3", F64))
        seq = b.data.next()
        tr = compiled_mod.CompiledTrainer(
            b.model, b.optimizer, seq, b.data.targets(seq, torch.float64), threads=None
        )
        assert tr.split == 2
        feed = iter(loads)
        monkeypatch.setattr(tr._monitor, "others", lambda feed=feed: next(feed))
        losses = np.empty((60, 1))
        workers = []
        for lo in (0, 30):
            tr.run(30, losses[lo : lo + 30])
            workers.append(tr.workers)
            # numba's OpenMP layer shares the thread count with torch: torch's is kept
            assert torch.get_num_threads() == 1
        tr.sync()
        tr.close()
        expected = [1 if x >= 1 else idle for x in loads]
        assert workers == expected, name
        results[name] = (losses, [p.detach().clone() for p in b.model.parameters()])
    ref_losses, ref_params = results["busy"]
    assert ref_losses[-1, 0] < ref_losses[0, 0]
    for losses, params in results.values():
        assert np.array_equal(losses, ref_losses)
        for p, q in zip(params, ref_params, strict=True):
            assert torch.equal(p, q)


def test_explicit_threads_are_not_adapted(monkeypatch) -> None:
    monkeypatch.setattr(compiled_mod, "SPLIT_MIN_FLOPS", 0)
    b = build(load_config("d3", F64))
    seq = b.data.next()
    tr = compiled_mod.CompiledTrainer(
        b.model, b.optimizer, seq, b.data.targets(seq, torch.float64), threads=2
    )
    assert tr.split == 2 and tr._monitor is None
    tr.close()


def test_torch_threads_of_a_run_follow_size_and_load(monkeypatch) -> None:
    """``train.threads`` unset: one torch thread below 5·10⁷ FLOPs per step whatever the
    machine; above it, the cores other processes leave free (one on a loaded 2-core machine);
    an explicit value is kept."""
    from groupcomp.runs.experiment import _threads

    monkeypatch.setattr(threads_mod, "available_cores", lambda: 2)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    task = SimpleNamespace(num_sequences=3600, n=60)
    big, small = SimpleNamespace(hidden=600), SimpleNamespace(hidden=10)
    cfg = SimpleNamespace(train=SimpleNamespace(threads=None), task=SimpleNamespace(data="x"))
    for load, expected in [(0.05, 2), (0.5, 1), (2.0, 1), (None, 2)]:
        monkeypatch.setattr(threads_mod, "load_average", lambda load=load: load)
        assert _threads(cfg, big, task) == expected
        assert _threads(cfg, small, task) == 1
    cfg.train.threads = 2
    assert _threads(cfg, big, task) == 2


def test_training_path_does_not_import_torch_dynamo() -> None:
    """groupcomp's optimisers construct, step, checkpoint (state_dict) and resume
    (load_state_dict) without importing torch._dynamo (≈ 2 s of a fresh process)."""
    code = """
import sys, torch
from groupcomp.config import load_config
from groupcomp.optim import HybridRNNOptimizer, Muon, PerNeuronSGD
from groupcomp.runs import build
b = build(load_config("d3", ["train.progress=false"]))
assert isinstance(b.optimizer, PerNeuronSGD)
p = [torch.nn.Parameter(torch.randn(1, 3, 4))]
for opt in (b.optimizer, HybridRNNOptimizer(p, [torch.nn.Parameter(torch.randn(4, 4))], lr=0.1),
            Muon(p, lr=0.1)):
    sd = opt.state_dict()
    opt.zero_grad()
    opt.load_state_dict(sd)
print("torch._dynamo" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_unwrapped_methods_behave_like_torchs() -> None:
    """The base class's methods are torch's own (unwrapped): same state_dict as a plain
    torch.optim.Optimizer subclass, and load_state_dict restores momentum buffers."""
    from groupcomp.optim import PerNeuronSGD

    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(2, 5, 3))
    opt = PerNeuronSGD([w], lr=0.1, degree=3, momentum=0.9)
    w.grad = torch.randn_like(w)
    opt.step()
    sd = opt.state_dict()
    plain = torch.optim.Optimizer.state_dict(opt)
    assert sd["param_groups"] == plain["param_groups"]
    assert torch.equal(sd["state"][0]["momentum_buffer"], plain["state"][0]["momentum_buffer"])
    w2 = torch.nn.Parameter(w.detach().clone())
    opt2 = PerNeuronSGD([w2], lr=0.5, degree=3, momentum=0.9)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.1
    buf = opt2.state[w2]["momentum_buffer"]
    assert torch.equal(buf, sd["state"][0]["momentum_buffer"])
