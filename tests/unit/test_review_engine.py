"""Regression tests from a review of the compiled (numba) engine (both bugs fixed)."""

from __future__ import annotations

import sys

import pytest
import torch

import groupcomp.training
from groupcomp.config import load_config
from groupcomp.runs import Experiment, build
from groupcomp.training import FitSettings, FitState, Schedule, fit, request_interrupt
from groupcomp.training import compiled as compiled_mod

F64 = [
    "group=D3",
    "template.powers=[0,1000,3000]",
    "model.hidden=60",
    "optim.lr=2e-5",
    "train.progress=false",
    "train.dtype=float64",
]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _fit(b: Experiment, engine: str, steps: int, check_every: int = 200) -> FitState:
    return fit(
        b.model,
        b.objective,
        b.optimizer,
        b.data,
        Schedule(steps=steps, check_every=check_every),
        settings=FitSettings(engine=engine, grad_clip=b.settings.grad_clip),
    )


def test_ctrl_c_before_a_chunk_starts_reports_the_steps_really_done(monkeypatch) -> None:
    """Ctrl-C at the start of the 2nd chunk, before any kernel call: ``fit`` defers it to the
    chunk's end, and the state reports exactly the steps the model did."""
    real = compiled_mod.CompiledTrainer._hyper
    calls = [0]

    def hyper(self):
        calls[0] += 1
        if calls[0] == 2:  # Ctrl-C at the start of the 2nd chunk, before any kernel call
            request_interrupt()
        return real(self)

    b = build(load_config("d3", F64))
    monkeypatch.setattr(compiled_mod.CompiledTrainer, "_hyper", hyper)
    st = _fit(b, "numba", 150, check_every=50)
    monkeypatch.undo()
    assert calls[0] == 2  # no third chunk was started
    assert st.stopped == "interrupted" and st.engine == "numba"
    ref = build(load_config("d3", F64))
    whole = _fit(ref, "numba", 100, check_every=50)
    # the model did 100 steps (the interrupted chunk was completed)...
    for p, q in zip(b.model.parameters(), ref.model.parameters(), strict=True):
        assert torch.equal(p, q)
    # ...and the state says 100, with every loss written
    assert st.step == 100
    assert torch.equal(st.losses, whole.losses)


def test_keyboard_interrupt_before_a_chunk_starts_finishes_with_zero_steps(monkeypatch) -> None:
    """The recovery path for a ``KeyboardInterrupt`` raised out of ``CompiledTrainer.run``
    before its first kernel call: ``finish`` reports 0 steps for that chunk (not the chunk's
    length) and the model stays after the first chunk."""
    real = compiled_mod.CompiledTrainer._hyper
    calls = [0]

    def hyper(self):
        calls[0] += 1
        if calls[0] == 2:  # Ctrl-C at the start of the 2nd chunk, before any kernel call
            raise KeyboardInterrupt
        return real(self)

    b = build(load_config("d3", F64))
    seq = b.data.next()
    tr = compiled_mod.CompiledTrainer(b.model, b.optimizer, seq, b.data.targets(seq, torch.float64))
    losses = torch.full((100, 1), float("nan"), dtype=torch.float64)
    with monkeypatch.context() as m:
        m.setattr(compiled_mod.CompiledTrainer, "_hyper", hyper)
        assert tr.run(50, losses.numpy()[:50]) == 50
        with pytest.raises(KeyboardInterrupt):
            tr.run(50, losses.numpy()[50:])
        assert tr.finish() == 0
    tr.sync()
    tr.close()
    ref = build(load_config("d3", F64))
    whole = _fit(ref, "numba", 50)
    # the model did 50 steps (the first chunk only), as finish() reported
    for p, q in zip(b.model.parameters(), ref.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert torch.equal(losses[:50], whole.losses)
    assert bool(torch.isnan(losses[50:]).all())  # the second chunk wrote nothing


def test_kernels_work_when_they_cannot_be_cached(monkeypatch) -> None:
    """With no writable cache folder numba refuses ``cache=True``; the kernels are then compiled
    in memory and the default engine still trains (same numbers as torch)."""
    import numba
    import numba.core.caching as caching

    # what numba does when neither the source tree nor any cache dir is writable (reproduced for
    # real with a read-only bind mount of the package and HOME)
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # renamed in numba 0.6x
    monkeypatch.setattr(impl, "_locator_classes", [])
    monkeypatch.setattr(numba.config, "CACHE_LOCATOR_CLASSES", None, raising=False)
    monkeypatch.delitem(sys.modules, "groupcomp.training._kernels", raising=False)
    monkeypatch.delattr(groupcomp.training, "_kernels", raising=False)  # force a fresh import
    b = build(load_config("d3", F64))
    st = _fit(b, "auto", 5)
    assert st.step == 5 and st.engine == "numba"
    from groupcomp.training import _kernels

    assert _kernels._OPTS["cache"] is False
    ref = build(load_config("d3", F64))
    st_ref = _fit(ref, "torch", 5)
    torch.testing.assert_close(st.losses, st_ref.losses, rtol=1e-10, atol=0)


@pytest.mark.parametrize("act", ["relu", "relu2"])
def test_a_nan_weight_is_caught_at_the_same_step_as_torch(act) -> None:
    """relu(NaN) is NaN in torch; the kernel must not turn it into 0 (which hid the NaN and
    finished with a finite loss)."""
    from groupcomp.errors import DivergenceError

    steps = {}
    for engine in ("torch", "numba"):
        b = build(load_config("d3", [*F64, f"model.activation={act}"]))
        with torch.no_grad():
            b.model.W_in[0, 0, 0, 0] = float("nan")
        with pytest.raises(DivergenceError) as exc:
            _fit(b, engine, 20)
        steps[engine] = exc.value.state.step
    assert steps["numba"] == steps["torch"] == 0


def test_work_buffers_survive_inference_mode() -> None:
    """The fused step's reused buffers, first made under ``torch.inference_mode()``, must not
    break a later call outside it (in-place updates of inference tensors are refused)."""
    b = build(load_config("d3", F64))
    seq = b.data.next()
    tgt = b.data.targets(seq, torch.float64)
    with torch.inference_mode():
        first = b.model.loss_and_grad(seq, tgt, exhaustive=True).clone()
    again = b.model.loss_and_grad(seq, tgt, exhaustive=True)
    torch.testing.assert_close(again, first, rtol=0, atol=0)
