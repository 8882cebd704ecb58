"""The compiled (numba) training engine of ``groupcomp.training.compiled``: the same numbers as
the torch path, deterministic and resumable, probes and checkpoints see the synced model, and
the engine setting (``FitSettings.engine`` / ``train.engine``) refuses (``numba``) or silently
skips (``auto``) set-ups it cannot train."""

from __future__ import annotations

import copy
import json
import os
import threading

import pytest
import torch

from groupcomp.api import train
from groupcomp.config import load_config
from groupcomp.errors import ConfigError, DivergenceError
from groupcomp.models import TwoLayerNet
from groupcomp.optim import PerNeuronSGD
from groupcomp.runs import Experiment, RunFolder, build
from groupcomp.training import (
    FitHooks,
    FitSettings,
    FitState,
    Schedule,
    fit,
    request_interrupt,
)
from groupcomp.training import compiled as compiled_mod
from groupcomp.training.compiled import choose_engine_reason

# D3, k = 2, powers (trivial, sign, rot1) = (0, 1000, 3000) as in tests/integration/test_train.py
TINY = [
    "group=D3",
    "template.powers=[0,1000,3000]",
    "model.hidden=60",
    "optim.lr=2e-5",
    "train.progress=false",
]
F64 = [*TINY, "train.dtype=float64"]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One torch thread, as ``train()`` uses for models this small: with several, torch's
    spinning worker threads make these tiny steps slow on a busy machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _counting_kernel(on_call):
    """The real step kernel, counting its calls (thread-safe) and calling ``on_call(n)`` after
    the n-th call. Returns ``(kernel, calls)`` with ``calls[0]`` the count."""
    real = compiled_mod._kernel()
    lock = threading.Lock()
    calls = [0]

    def kernel(*args):
        real(*args)
        with lock:
            calls[0] += 1
            n = calls[0]
        on_call(n)

    return kernel, calls


def _trainer(b, threads: int | None = None) -> compiled_mod.CompiledTrainer:
    """A compiled trainer on the experiment's fixed full batch (float64 targets)."""
    seq = b.data.next()
    return compiled_mod.CompiledTrainer(
        b.model, b.optimizer, seq, b.data.targets(seq, torch.float64), threads=threads
    )


def _fit(
    b: Experiment,
    engine: str,
    steps: int,
    *,
    threads: int | None = None,
    log_steps=(),
    checkpoint_steps=(),
    check_every: int = 200,
    probe=None,
    start: FitState | None = None,
    **hooks,
) -> FitState:
    """``fit`` of an experiment's parts with the given engine; ``hooks``: :class:`FitHooks`
    fields (``on_checkpoint``, ``progress``, ...)."""
    return fit(
        b.model,
        b.objective,
        b.optimizer,
        b.data,
        Schedule(
            steps=steps,
            log_steps=tuple(log_steps),
            checkpoint_steps=tuple(checkpoint_steps),
            check_every=check_every,
        ),
        settings=FitSettings(engine=engine, threads=threads, grad_clip=b.settings.grad_clip),
        probe=probe,
        hooks=FitHooks(**hooks),
        start=start,
    )


def _params(b) -> list[torch.Tensor]:
    return [p.detach().clone() for p in b.model.parameters()]


def _max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest difference relative to the largest entry of ``a``."""
    return float((a - b).abs().max() / a.abs().max())


def _assert_engines_agree(overrides: list[str], steps: int, rtol: float, probes=False, **kw):
    """Train the same config with both engines; per-step losses and final parameters agree.
    ``probes``: also pass the experiment's probe (with ``val_loss`` where there is a validation
    split). Returns (experiment, state) per engine."""
    out = {}
    for engine in ("torch", "numba"):
        b = build(load_config("d3", overrides))
        if probes:
            kw.update(probe=b.probe)
        init = _params(b)
        out[engine] = (b, _fit(b, engine, steps, **kw), init)
    (bt, st, init), (bn, sn, _) = out["torch"], out["numba"]
    assert st.engine == "torch" and sn.engine == "numba"
    S = len(bt.cfg.train.seeds)
    assert st.losses.shape == sn.losses.shape == (steps, S)
    assert st.step == sn.step == steps
    assert sn.losses.dtype == bt.model.W_in.dtype
    assert bool(torch.isfinite(sn.losses).all())
    torch.testing.assert_close(sn.losses, st.losses, rtol=rtol, atol=0.0)
    for p0, p, q in zip(init, bt.model.parameters(), bn.model.parameters(), strict=True):
        assert _max_rel(p.detach(), q.detach()) <= rtol
        # the run really trained: equality of frozen parameters would prove nothing
        assert _max_rel(p0, p.detach()) > 0.1
    assert bool((st.losses[-1] < st.losses[0]).all())
    return bt, st, bn, sn


# --------------------------------------------------------------------------- equality with torch
EQUAL_CASES = {
    # monic z^2 with per-neuron SGD (kappa = 3): the paper's set-up
    "power-k2": [],
    "power-k3-D3": ["task.k=3", "optim.lr=1e-7"],
    "power-k3-C5": ["group=C5", "template.powers=[0,100,300]", "task.k=3", "optim.lr=5e-6"],
    # z^4: the kernel's general-power branch
    "power-k4": ["task.k=4", "optim.lr=4e-9"],
    "square": ["model.activation=square"],
    "relu2": ["model.activation=relu2"],
    # degree-2 neurons: per-neuron SGD is plain SGD (kappa = 2)
    "relu": ["model.activation=relu", "optim.lr=1e-3", "model.init_scale=0.1"],
    "linear": ["model.activation=linear", "optim.lr=1e-3", "model.init_scale=0.1"],
    # torch.optim.SGD on a z^2 net
    "plain-sgd": ["optim.name=sgd", "optim.lr=5e-5", "model.init_scale=0.1"],
}


@pytest.mark.parametrize("extra", list(EQUAL_CASES.values()), ids=list(EQUAL_CASES))
def test_numba_equals_torch_float64(extra) -> None:
    _assert_engines_agree([*F64, *extra], steps=200, rtol=1e-10)


def test_ensemble_threads_bit_identical_and_equal_to_torch() -> None:
    cfg = [*F64, "train.seeds=[0,1,2]"]
    _, st, b2, s2 = _assert_engines_agree(cfg, steps=200, rtol=1e-10, threads=2)
    b1 = build(load_config("d3", cfg))
    s1 = _fit(b1, "numba", 200, threads=1)
    assert s1.engine == "numba"
    assert torch.equal(s1.losses, s2.losses)
    for p, q in zip(b1.model.parameters(), b2.model.parameters(), strict=True):
        assert torch.equal(p, q)
    # three different seeds (each was compared with its own torch member above)
    assert not torch.equal(s1.losses[:, 0], s1.losses[:, 1])
    assert not torch.equal(s1.losses[:, 1], s1.losses[:, 2])


def test_fixed_train_split_equals_torch() -> None:
    """A non-exhaustive fixed full batch (``task.val_fraction``), with train and val probes."""
    cfg = [*F64, "task.val_fraction=0.3"]
    logs = [0, 100, 200]
    bt, st, bn, sn = _assert_engines_agree(cfg, 250, 1e-10, probes=True, log_steps=logs)
    for b in (bt, bn):
        assert b.data.mode == "full" and not b.data.exhaustive
        assert b.data.train_seq.shape[0] == 36 - round(0.3 * 36)
    assert [r["step"] for r in sn.logs] == [r["step"] for r in st.logs] == logs
    for rt, rn in zip(st.logs, sn.logs, strict=True):
        # the probe evaluates the training set: its loss at step t is the training loss at t
        torch.testing.assert_close(rn["eval_loss"], sn.losses[rn["step"]], rtol=1e-12, atol=0)
        for key in ("eval_loss", "val_loss"):
            torch.testing.assert_close(rn[key], rt[key], rtol=1e-10, atol=0)
    # the held-out loss moved: the val probe saw the trained (synced) model
    assert float(sn.logs[-1]["val_loss"][0]) != pytest.approx(float(sn.logs[0]["val_loss"][0]))


def test_float32_matches_torch() -> None:
    """The d3 preset in float32 (H = 180): 500 steps, through the first drop."""
    cfg = ["train.dtype=float32", "train.progress=false"]
    bt, bn = build(load_config("d3", cfg)), build(load_config("d3", cfg))
    st, sn = _fit(bt, "torch", 500), _fit(bn, "numba", 500)
    assert sn.engine == "numba" and sn.losses.dtype == torch.float32
    assert sn.losses.shape == st.losses.shape == (500, 1)
    torch.testing.assert_close(sn.losses, st.losses, rtol=1e-4, atol=0.0)
    assert float(st.losses[0, 0]) == pytest.approx(505, rel=1e-3)  # (30 + 3000) / 6
    assert float(sn.losses[-1, 0]) < 6  # rot1 learned: plateau 30 / 6 = 5
    for p, q in zip(bt.model.parameters(), bn.model.parameters(), strict=True):
        assert _max_rel(p.detach(), q.detach()) < 1e-4


# --------------------------------------------------------------------------- determinism, resume
class _Progress:
    """Records what ``fit`` reports to a tqdm-like progress bar."""

    def __init__(self) -> None:
        self.updates: list[int] = []

    def update(self, n: int) -> None:
        self.updates.append(n)

    def set_postfix_str(self, text: str) -> None:
        pass


def test_two_numba_runs_are_bit_identical() -> None:
    cfg = [*TINY, "train.seeds=[0,1]"]  # float32
    a, b = build(load_config("d3", cfg)), build(load_config("d3", cfg))
    bar = _Progress()
    sa, sb = _fit(a, "numba", 150, progress=bar, log_steps=[40]), _fit(b, "numba", 150)
    assert sa.engine == sb.engine == "numba"
    assert bar.updates == [40, 110]  # one update per kernel call, up to the log step
    assert torch.equal(sa.losses, sb.losses)
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_resume_from_a_periodic_checkpoint_is_bit_identical() -> None:
    """As ``test_resume_from_a_periodic_checkpoint`` (integration), with the compiled engine:
    the checkpoint at step 47 holds the synced model and the continuation ends identical."""
    cfg = load_config("d3", F64)
    steps, at = 120, 47
    full = build(cfg)
    saved: dict = {}

    def keep(t: int, st: FitState) -> None:
        if t == at:
            saved.update(
                model=copy.deepcopy(full.model.state_dict()),
                opt=copy.deepcopy(full.optimizer.state_dict()),
                data=copy.deepcopy(full.data.state_dict()),
                losses=st.losses.clone(),
                engine=st.engine,
            )

    init = _params(full)
    whole = _fit(full, "numba", steps, checkpoint_steps=[at, 90], on_checkpoint=keep)
    assert saved["engine"] == "numba" and saved["losses"].shape == (at, 1)
    assert not torch.equal(saved["model"]["W_in"], init[0])  # synced, not the initialisation
    again = build(cfg)
    again.model.load_state_dict(saved["model"])
    again.optimizer.load_state_dict(saved["opt"])
    again.data.load_state_dict(saved["data"])
    st = _fit(again, "numba", steps, start=FitState(records={"loss": saved["losses"]}, step=at))
    assert st.engine == "numba" and st.step == steps
    assert torch.equal(st.losses, whole.losses)
    for p, q in zip(full.model.parameters(), again.model.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("threads", [1, 2])
def test_ctrl_c_inside_a_chunk_stops_every_model_at_the_chunk_end(monkeypatch, threads) -> None:
    """Ctrl-C while the kernel runs (requested after the 2nd model of the 2nd chunk): the
    chunk is completed for every model, the run stops at the chunk end (a step boundary), the
    state says so, and continuing from it gives the uninterrupted run exactly."""
    cfg = [*F64, "train.seeds=[0,1,2]"]

    def on_call(n: int) -> None:
        if n == 5:  # chunks of 50 steps x 3 models: calls 4-6 are the second chunk
            request_interrupt()  # what Ctrl-C does inside fit

    kernel, calls = _counting_kernel(on_call)

    ref = build(load_config("d3", cfg))
    whole = _fit(ref, "numba", 150, check_every=50, threads=threads)
    assert whole.stopped is None and whole.step == 150
    b = build(load_config("d3", cfg))
    with monkeypatch.context() as m:
        m.setattr(compiled_mod, "_kernel", lambda: kernel)
        part = _fit(b, "numba", 150, check_every=50, threads=threads)
    assert calls[0] == 6  # the third model of the interrupted chunk still ran
    assert part.stopped == "interrupted" and part.engine == "numba"
    assert part.step == 100 and part.losses.shape == (100, 3)
    assert torch.equal(part.losses, whole.losses[:100])
    # the model is synced and at step 100 (not ahead of, nor behind, what the state reports)
    mid = build(load_config("d3", cfg))
    _fit(mid, "numba", 100, check_every=50, threads=threads)
    for p, q in zip(mid.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)
    rest = _fit(b, "numba", 150, check_every=50, threads=threads, start=part)
    assert rest.step == 150 and torch.equal(rest.losses, whole.losses)
    for p, q in zip(ref.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("engine", ["torch", "numba"])
def test_a_continuation_that_completes_is_not_reported_as_stopped(engine) -> None:
    """``fit(start=state)`` with the state of a stopped run (``stopped == "stop_after"``): the
    continuation runs to ``schedule.steps``, so its state must say ``stopped is None``, and it
    must not add an end-of-run probe record outside ``log_steps``."""
    cfg = load_config("d3", F64)
    ref = build(cfg)
    whole = _fit(ref, engine, 40, log_steps=[0, 30], probe=ref.probe)
    assert whole.stopped is None and [r["step"] for r in whole.logs] == [0, 30]
    b = build(cfg)
    part = _fit(b, engine, 40, log_steps=[0, 30], probe=b.probe, stop_after=20)
    assert part.stopped == "stop_after" and part.step == 20
    rest = _fit(b, engine, 40, log_steps=[0, 30], probe=b.probe, start=part)
    assert rest.step == 40 and torch.equal(rest.losses, whole.losses)
    assert rest.stopped is None
    assert [r["step"] for r in rest.logs] == [0, 30]


@pytest.mark.parametrize("threads", [1, 2])
def test_keyboard_interrupt_inside_a_chunk_is_completed_by_finish(monkeypatch, threads) -> None:
    """``CompiledTrainer.finish`` (the recovery after a ``KeyboardInterrupt`` raised out of
    :meth:`~CompiledTrainer.run`, e.g. outside the main thread where Ctrl-C is not deferred):
    the interrupted chunk is completed for every model and ``finish`` reports its steps."""
    cfg = [*F64, "train.seeds=[0,1,2]"]

    def on_call(n: int) -> None:
        if n == 5:  # second chunk, after one or two models
            raise KeyboardInterrupt

    kernel, calls = _counting_kernel(on_call)

    b = build(load_config("d3", cfg))
    tr = _trainer(b, threads=threads)
    losses = torch.full((100, 3), float("nan"), dtype=torch.float64)
    with monkeypatch.context() as m:
        m.setattr(compiled_mod, "_kernel", lambda: kernel)
        assert tr.run(50, losses.numpy()[:50]) == 50
        with pytest.raises(KeyboardInterrupt):
            tr.run(50, losses.numpy()[50:])
        assert tr.finish() == 50
    tr.sync()
    tr.close()
    assert calls[0] == 6  # every model of the interrupted chunk ran exactly once
    ref = build(load_config("d3", cfg))
    whole = _fit(ref, "numba", 100, check_every=50, threads=threads)
    assert torch.equal(losses, whole.losses)
    for p, q in zip(ref.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)


# --------------------------------------------------------------------------- probes / log steps
def test_probes_see_the_synced_model() -> None:
    """At a log step t the probe (on the exhaustive training set) reports the model before
    update t, whose loss is the per-step training loss ``losses[t]``."""
    log_steps = [0, 10, 50, 200]
    logs = {}
    for engine in ("torch", "numba"):
        b = build(load_config("d3", F64))
        st = _fit(b, engine, 300, log_steps=log_steps, probe=b.probe)
        assert st.engine == engine
        assert [r["step"] for r in st.logs] == log_steps
        for r in st.logs:
            torch.testing.assert_close(r["eval_loss"], st.losses[r["step"]], rtol=1e-12, atol=0)
        logs[engine] = st.logs
    # a stale (unsynced) model would report the initial loss at every step
    assert float(logs["numba"][-1]["eval_loss"][0]) < 0.01 * float(logs["numba"][0]["eval_loss"][0])
    for rt, rn in zip(logs["torch"], logs["numba"], strict=True):
        for key in ("eval_loss", "irrep_loss", "power", "param_norm"):
            torch.testing.assert_close(rn[key], rt[key], rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- engine choice, errors
INELIGIBLE = {
    "rnn": (["model.name=rnn"], "QuadraticRNN"),
    "tree": (["model.name=tree"], "TreeNet"),
    "adam": (["optim.name=adam"], "Adam"),
    "online": (["task.data=online", "train.batch_size=16"], "online"),
    "minibatch": (["train.batch_size=16"], "minibatch"),
    "grad-clip": (["optim.grad_clip=1.0"], "clipping"),
    "tanh": (["model.activation=tanh"], "tanh"),
    "momentum": (["optim.momentum=0.9"], "per-neuron SGD has momentum"),
    "sgd-momentum": (["optim.name=sgd", "optim.momentum=0.9"], "momentum"),
    "sgd-weight-decay": (["optim.name=sgd", "optim.weight_decay=0.01"], "weight decay"),
}


@pytest.mark.parametrize(("extra", "why"), list(INELIGIBLE.values()), ids=list(INELIGIBLE))
def test_ineligible_setups(extra, why) -> None:
    cfg = load_config("d3", [*TINY, *extra])
    b = build(cfg)
    init = _params(b)
    with pytest.raises(ConfigError, match=r"^engine: 'numba' cannot train") as exc:
        _fit(b, "numba", 3)
    assert why in str(exc.value) and "allowed values here: auto, torch" in str(exc.value)
    for p, q in zip(init, b.model.parameters(), strict=True):
        assert torch.equal(p, q)  # refused before any step
    # auto silently takes the torch path: the same numbers as engine="torch"
    a, t = build(cfg), build(cfg)
    sa, st = _fit(a, "auto", 3), _fit(t, "torch", 3)
    assert sa.engine == "torch" and sa.step == 3
    assert torch.equal(sa.losses, st.losses)
    for p, q in zip(a.model.parameters(), t.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_unknown_engine() -> None:
    b = build(load_config("d3", TINY))
    msg = r"^engine: unknown engine 'bogus'; allowed values: auto, torch, numba"
    with pytest.raises(ConfigError, match=msg):
        _fit(b, "bogus", 3)
    with pytest.raises(ConfigError, match=r"train\.engine.*auto, torch, numba"):
        build(load_config("d3", [*TINY, "train.engine=bogus"]))


def test_auto_takes_numba_for_a_small_model() -> None:
    b = build(load_config("d3", TINY))
    assert _fit(b, "auto", 3).engine == "numba"


def test_auto_declines_a_large_single_model(monkeypatch) -> None:
    cores = os.cpu_count() or 1
    if cores < 2:
        pytest.skip("auto declines large models only when there are more cores than models")
    b = build(load_config("a5", ["train.progress=false"]))  # B = 3600, H = 600, n = 60
    kw = dict(full_batch=True, batch=3600)
    # the a5 preset (7.8e8 FLOPs per step) is below the threshold: the kernel trains it
    assert choose_engine_reason(b.model, b.optimizer, **kw) is None
    big = TwoLayerNet(b.model.encoding, 2, 2000)  # 2.6e9 FLOPs per step
    opt = PerNeuronSGD(big.neuron_params(), lr=1e-3, degree=big.degree)
    reason = choose_engine_reason(big, opt, **kw)
    assert reason is not None and "FLOPs" in reason and "torch is faster" in reason
    assert choose_engine_reason(big, opt, **kw, forced=True) is None
    monkeypatch.setattr(compiled_mod, "AUTO_MAX_FLOPS", 1e8)
    assert _fit(b, "auto", 1).engine == "torch"
    # an ensemble of one model per core always takes the kernel
    ens = TwoLayerNet(b.model.encoding, 2, 2000, num_models=cores)
    opt = PerNeuronSGD(ens.neuron_params(), lr=1e-3, degree=ens.degree)
    assert choose_engine_reason(ens, opt, **kw) is None


# --------------------------------------------------------------------------- divergence
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_divergence_same_step_as_torch(dtype) -> None:
    cfg = load_config("d3", [*TINY, "optim.lr=1e-4", f"train.dtype={dtype}"])
    errs = {}
    for engine in ("torch", "numba"):
        b = build(cfg)
        with pytest.raises(DivergenceError, match="not finite at step") as exc:
            _fit(b, engine, 300)
        errs[engine] = exc.value
    st, sn = errs["torch"].state, errs["numba"].state
    assert sn.engine == "numba" and st.engine == "torch"
    assert sn.diverged and st.diverged
    assert sn.step == st.step > 5  # the first non-finite step
    assert f"at step {sn.step} " in str(errs["numba"])
    assert sn.losses.shape == (sn.step, 1) and bool(torch.isfinite(sn.losses).all())
    # up to the blow-up the two engines agree (the last finite losses are huge)
    torch.testing.assert_close(sn.losses[:5], st.losses[:5], rtol=1e-4, atol=0)


def test_train_divergence_keeps_last_good_checkpoint_numba(tmp_path) -> None:
    cfg = [*TINY, "optim.lr=5", "train.steps=300", "train.checkpoints=300", "train.engine=numba"]
    with pytest.raises(DivergenceError, match="diverged.*Run folder"):
        train(load_config("d3", cfg), tmp_path, quiet=True)
    (run,) = tmp_path.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["engine"] == "numba"
    folder = RunFolder(run)
    steps = folder.checkpoint_steps()
    assert steps[0] == 0  # the initialisation is a checkpoint too
    last = folder.load_checkpoint(steps[-1])
    assert last["step"] == steps[-1]
    assert 1 <= last["step"] <= summary["steps_done"]
    assert all(bool(torch.isfinite(v).all()) for v in last["model"].values())
    assert last["fit"]["step"] == last["step"] and last["fit"]["engine"] == "numba"
    assert bool(torch.isfinite(last["fit"]["records"]["loss"]).all())


# --------------------------------------------------------------------------- train() end to end
def test_train_records_the_engine(tmp_path) -> None:
    runs = {}
    for engine in ("numba", "torch"):
        cfg = load_config("d3", [*TINY, "train.steps=40", f"train.engine={engine}"])
        res = train(cfg, tmp_path, name=engine, quiet=True)
        summary = json.loads((tmp_path / engine / "summary.json").read_text())
        assert summary["engine"] == res.summary["engine"] == res.state.engine == engine
        assert summary["status"] == "completed" and summary["steps_done"] == 40
        runs[engine] = res.metrics
    a, b = runs["numba"], runs["torch"]
    assert len(a) == len(b) == 41
    assert a["loss"].to_numpy() == pytest.approx(b["loss"].to_numpy(), rel=1e-4)
    assert a["eval_loss"].dropna().to_numpy() == pytest.approx(
        b["eval_loss"].dropna().to_numpy(), rel=1e-4
    )


def test_real_sigints_inside_a_chunk_stop_fit_at_the_chunk_end(monkeypatch) -> None:
    """Two real SIGINTs while a chunk runs (in the main thread, where ``fit`` defers them): no
    ``KeyboardInterrupt``, the chunk completes, and the model is exactly at the step that ``fit``
    reports (the step and the weights of a checkpoint agree)."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("SIGINT is deferred only in the main thread")
    cfg = [*F64, "train.seeds=[0,1,2]"]

    def on_call(n: int) -> None:
        if n in (5, 6):  # second chunk, after models 1 and 2: Ctrl-C twice
            signal.raise_signal(signal.SIGINT)

    kernel, calls = _counting_kernel(on_call)

    b = build(load_config("d3", cfg))
    saved: dict = {}

    def keep(t: int, st: FitState) -> None:
        saved[t] = (st.step, copy.deepcopy(b.model.state_dict()))

    before = signal.getsignal(signal.SIGINT)
    with monkeypatch.context() as m:
        m.setattr(compiled_mod, "_kernel", lambda: kernel)
        part = _fit(b, "numba", 150, check_every=50, threads=1, on_checkpoint=keep)
    assert signal.getsignal(signal.SIGINT) is before  # the handler is restored
    assert calls[0] == 6
    assert part.stopped == "interrupted"
    assert part.step == 100 and part.losses.shape == (100, 3)
    ref = build(load_config("d3", cfg))
    _fit(ref, "numba", 100, check_every=50, threads=1)
    for p, q in zip(ref.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)
    # the checkpoint at the interruption holds that model
    assert saved[100][0] == 100
    for k, v in ref.model.state_dict().items():
        assert torch.equal(saved[100][1][k], v)


def test_a_second_ctrl_c_during_the_recovery_is_ignored(monkeypatch) -> None:
    """A real SIGINT while ``CompiledTrainer.finish`` completes the interrupted chunk must not
    leave the model ahead of the step that ``finish`` reports."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("finish() ignores SIGINT only in the main thread")
    cfg = [*F64, "train.seeds=[0,1,2]"]

    def on_call(n: int) -> None:
        if n == 5:  # second chunk, after model 1: the first Ctrl-C
            raise KeyboardInterrupt
        if n == 6:  # the recovery of model 2: a second, real Ctrl-C
            signal.raise_signal(signal.SIGINT)

    kernel, calls = _counting_kernel(on_call)

    b = build(load_config("d3", cfg))
    tr = _trainer(b, threads=1)
    losses = torch.full((100, 3), float("nan"), dtype=torch.float64)
    with monkeypatch.context() as m:
        m.setattr(compiled_mod, "_kernel", lambda: kernel)
        tr.run(50, losses.numpy()[:50])
        with pytest.raises(KeyboardInterrupt):
            tr.run(50, losses.numpy()[50:])
        assert tr.finish() == 50  # no KeyboardInterrupt out of the recovery
    tr.sync()
    tr.close()
    assert calls[0] == 6  # the recovery ran the third model (index 2) only, once
    ref = build(load_config("d3", cfg))
    whole = _fit(ref, "numba", 100, check_every=50, threads=1)
    assert torch.equal(losses, whole.losses)
    for p, q in zip(ref.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_train_with_numba_on_an_ineligible_setup_writes_nothing(tmp_path) -> None:
    cfg = load_config("d3", [*TINY, "train.engine=numba", "model=rnn", "task.k=3"])
    with pytest.raises(ConfigError, match=r"^train\.engine: 'numba' cannot train"):
        train(cfg, tmp_path / "runs", quiet=True)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize(
    "extra, chunks",
    [
        ([], 2),
        ([], 3),
        (["task.val_fraction=0.3"], 3),
        (["group=C5", "task.k=3", "optim.lr=1e-7"], 2),
    ],
)
def test_one_model_split_over_threads_equals_torch(monkeypatch, extra, chunks) -> None:
    """A single model whose samples are split into fixed chunks (the parallel kernel; forced
    here on a small model) gives torch's numbers to 1e-10 in float64, with a batch that is not a
    multiple of the 4-sample block (25 train sequences) too, and bit-identical numbers on a
    second run (the chunking, not the thread scheduling, fixes the summation order)."""
    monkeypatch.setattr(compiled_mod, "SPLIT_MIN_FLOPS", 0)
    cfg = [*F64, *extra]
    ref = build(load_config("d3", cfg))
    st_ref = _fit(ref, "torch", 150)
    runs = []
    for _ in range(2):
        b = build(load_config("d3", cfg))
        seq = b.data.next()
        tr = compiled_mod.CompiledTrainer(
            b.model, b.optimizer, seq, b.data.targets(seq, torch.float64), threads=chunks
        )
        assert tr.split == chunks and tr.threads == 1
        st = _fit(b, "numba", 150, threads=chunks)
        runs.append((st, _params(b)))
    st, params = runs[0]
    assert st.engine == "numba"
    torch.testing.assert_close(st.losses, st_ref.losses, rtol=1e-10, atol=0)
    for p, q in zip(params, _params(ref), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-14)
    assert float(st.losses[-1, 0]) < 0.9 * float(st.losses[0, 0])
    assert torch.equal(runs[1][0].losses, st.losses)
    for p, q in zip(runs[1][1], params, strict=True):
        assert torch.equal(p, q)


def test_zero_padding_neurons_stay_zero_at_high_degree() -> None:
    """The kernel pads H to a multiple of 16 with all-zero neurons. With z^5 (κ = 6) in float32,
    eps^(2−κ) = 1e48 overflows to inf; the padded neurons must still take a zero step (no NaN),
    and the real ones must follow torch."""
    cfg = [
        "group=C3",
        "template.kind=onehot",
        "task.k=5",
        "model.hidden=20",
        "model.init_scale=1.0",
        "optim.lr=1e-2",
        "train.progress=false",
    ]
    b = build(load_config("d3", cfg))
    seq = b.data.next()
    tr = compiled_mod.CompiledTrainer(b.model, b.optimizer, seq, b.data.targets(seq, torch.float32))
    assert tr.V.shape[-1] == 32 and tr.Wt.shape[-1] == 32
    ref = build(load_config("d3", cfg))
    st_ref = _fit(ref, "torch", 50)
    st = _fit(b, "numba", 50)
    assert torch.isfinite(st.losses).all()
    torch.testing.assert_close(st.losses, st_ref.losses, rtol=1e-4, atol=0)
    w, w_ref = b.model.W_out.detach(), ref.model.W_out.detach()
    assert float((w - w_ref).norm() / w_ref.norm()) < 1e-4
    assert float(st.losses[-1, 0]) < 0.5 * float(st.losses[0, 0])  # it trained (1.86 -> 0.68)
