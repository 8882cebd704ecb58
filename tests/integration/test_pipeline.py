"""One pipeline for every run kind: load_run, plot, resume after Ctrl-C / SIGKILL, seeds alone
equal seeds in a batch under every loop feature, and safe run folders."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import groupcomp
from groupcomp.api import plot, resume, train
from groupcomp.cli import main
from groupcomp.config import ArithConfig, load_config
from groupcomp.errors import ConfigError, RunFolderError
from groupcomp.runs import RunFolder, load_run

SEQ = [
    "template.powers=[0,1000,3000]",
    "model.hidden=40",
    "optim.lr=2e-5",
    "train.steps=120",
    "train.log_points=20",
    "train.checkpoints=4",
    "train.progress=false",
]
ARITH = ["group=Z7", "hidden=24", "epochs=40", "train.checkpoints=4", "train.progress=false"]


def _arith(*extra: str):
    return load_config("arith_z23", [*ARITH, *extra], schema=ArithConfig)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    seq = train(load_config("d3", [*SEQ, "train.seeds=[0,1]"]), out, name="seq", quiet=True)
    ari = train(_arith("seeds=[0,1]"), out, name="ari", quiet=True)
    return seq, ari


@pytest.mark.parametrize("which", [0, 1], ids=["sequence", "arith"])
def test_load_run_model_loss_equals_summary(runs, which) -> None:
    res = runs[which]
    run = groupcomp.load_run(res.run_dir)
    assert run.kind == ("sequence", "arith")[which]
    assert run.summary["final_loss_per_seed"] == res.summary["final_loss_per_seed"]
    assert run.checkpoint_steps[0] == 0 and run.checkpoint_steps[-1] == run.summary["steps_done"]
    np.testing.assert_allclose(run.loss(), run.summary["final_loss_per_seed"], rtol=1e-5)
    # an earlier checkpoint is a different (worse) model
    assert run.loss(0).mean() > run.loss().mean()
    pd.testing.assert_frame_equal(run.metrics, res.metrics)
    assert run.group is not None and run.task is not None
    with pytest.raises(RunFolderError, match="no checkpoint at step 7"):
        run.model(7)


def _line(fig, gid: str):
    lines = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid() == gid]
    assert len(lines) == 1, gid
    return lines[0]


def test_plot_redraws_every_kind(runs) -> None:
    from groupcomp.viz import run_figures

    # a sequence run's folder also has the per-neuron records (figures/neurons)
    expected = ({"loss", "power"}, {"accuracy", "power"})
    on_disk = ({"loss", "power", "neurons"}, {"accuracy", "power"})
    for res, names, files in zip(runs, expected, on_disk, strict=True):
        figs = res.run_dir / "figures"
        for p in figs.iterdir():
            p.unlink()
        paths = plot(res.run_dir)  # PNG only by default (a PDF costs another full draw)
        assert {p.name for p in paths} == {f"{n}.png" for n in files}
        assert {p.name for p in figs.iterdir()} == {f"{n}.png" for n in files}
        drawn = run_figures(res.metrics, res.summary)
        assert set(drawn) == names
    seq, ari = runs
    # what is drawn is the run's data: the mean loss over seeds / test accuracy per epoch
    mean = seq.metrics.groupby("step")["loss"].mean()
    line = _line(run_figures(seq.metrics, seq.summary)["loss"], "loss-mean")
    np.testing.assert_allclose(line.get_xdata(), mean.index.to_numpy() + 1.0)
    np.testing.assert_allclose(line.get_ydata(), mean.to_numpy(), rtol=1e-12)
    acc = ari.metrics.groupby("epoch")["test_acc"].mean()
    line = _line(run_figures(ari.metrics, ari.summary)["accuracy"], "acc-mean:test_acc")
    np.testing.assert_allclose(line.get_xdata(), acc.index.to_numpy() + 1.0)
    np.testing.assert_allclose(line.get_ydata(), acc.to_numpy(), rtol=1e-12)
    assert main(["plot", str(ari.run_dir), "--format", "png", "pdf"]) == 0
    written = {p.name for p in (ari.run_dir / "figures").iterdir()}
    assert written == {f"{n}.{ext}" for n in expected[1] for ext in ("png", "pdf")}
    assert (ari.run_dir / "figures" / "power.pdf").read_bytes()[:5] == b"%PDF-"


def test_train_refuses_an_arith_preset_with_a_pointer(capsys) -> None:
    assert main(["train", "arith_z23"]) == 2
    err = capsys.readouterr().err
    assert "groupcomp arith arith_z23" in err and "Traceback" not in err
    assert main(["arith", "d3"]) == 2
    assert "groupcomp train d3" in capsys.readouterr().err


def test_renamed_keys_still_work_with_a_warning() -> None:
    with pytest.warns(FutureWarning, match="train.batch_size"):
        cfg = load_config("d3", ["task.batch_size=16"])
    assert cfg.train.batch_size == 16
    with pytest.warns(FutureWarning, match="task.k"):
        cfg = load_config("arith_z23", ["task.num_operands=3"], schema=ArithConfig)
    assert cfg.task.k == 3
    cfg = load_config("arith_z23", ["model.activation=sqr"], schema=ArithConfig)
    assert cfg.model.activation == "square"  # one vocabulary


# ------------------------------------------------------------ seeds alone == seeds batched

FEATURES = {
    "grad_clip": ["optim.grad_clip=1.0"],
    "weight_decay": ["optim=sgd", "optim.lr=1e-5", "optim.weight_decay=1e-2"],
    "momentum": ["optim=sgd", "optim.lr=1e-5", "optim.momentum=0.9"],
    "adam": ["optim=adam", "optim.lr=1e-3"],
    "minibatch": ["train.batch_size=8"],
    "online": ["task.data=online", "train.batch_size=8"],
    "clip+minibatch": ["optim.grad_clip=0.5", "train.batch_size=8"],
    "sampled+minibatch": ["task.data=sampled", "task.num_samples=20", "train.batch_size=8"],
}


@pytest.mark.parametrize("feature", list(FEATURES))
def test_seed_alone_equals_seed_in_batch(feature) -> None:
    base = [*SEQ, "train.steps=60", "train.dtype=float64", *FEATURES[feature]]
    alone = train(load_config("d3", [*base, "train.seeds=[3]"]), None, quiet=True)
    both = train(load_config("d3", [*base, "train.seeds=[5,3]"]), None, quiet=True)
    a = alone.metrics["loss"].to_numpy()
    b = both.metrics[both.metrics.seed == 3]["loss"].to_numpy()
    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)
    assert not np.array_equal(both.metrics[both.metrics.seed == 5]["loss"].to_numpy(), a)


def test_grad_clip_seed_alone_equals_batched_exactly_in_float32() -> None:
    """The issue's case: seed 0 with optim.grad_clip=1.0 alone vs inside a batch."""
    base = [*SEQ, "train.steps=100", "optim.grad_clip=1.0"]
    alone = train(load_config("d3", [*base, "train.seeds=[0]"]), None, quiet=True)
    both = train(load_config("d3", [*base, "train.seeds=[0,1]"]), None, quiet=True)
    np.testing.assert_allclose(
        both.summary["final_loss_per_seed"][0], alone.summary["final_loss_per_seed"][0], rtol=1e-5
    )


@pytest.mark.parametrize("extra", [["grad_clip"], ["batch"]])
def test_arith_seed_alone_equals_seed_in_batch(extra) -> None:
    more = ["optim.grad_clip=0.1"] if extra == ["grad_clip"] else ["train.batch_size=10"]
    alone = train(_arith("seeds=[4]", "train.dtype=float64", *more), None, quiet=True)
    both = train(_arith("seeds=[9,4]", "train.dtype=float64", *more), None, quiet=True)
    a = alone.metrics["loss"].to_numpy()
    b = both.metrics[both.metrics.seed == 4]["loss"].to_numpy()
    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------ safe run folders


def test_malicious_checkpoint_is_refused_without_running(tmp_path, runs) -> None:
    import shutil

    run = tmp_path / "evil"
    shutil.copytree(runs[1].run_dir, run)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    folder = RunFolder(run)
    last = folder.checkpoint_steps()[-1]
    torch.save({"format": "groupcomp-checkpoint-v2", "x": Payload()}, folder.checkpoint_path(last))
    for legacy in ("last.pt", "checkpoints.pt"):  # the 0.1 names: never read
        torch.save({"x": Payload()}, run / "checkpoints" / legacy)
    assert plot(run) and not marker.exists()
    summary = json.loads((run / "summary.json").read_text())
    summary["status"] = "interrupted"
    (run / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(RunFolderError, match="refused or corrupt"):
        load_run(run).model()
    # resume skips it and falls back to the previous good checkpoint
    res = resume(run, quiet=True, figures=False)
    assert res.summary["status"] == "completed"
    assert not marker.exists()


def test_corrupt_files_give_clear_errors(tmp_path, runs) -> None:
    import shutil

    run = tmp_path / "bad"
    shutil.copytree(runs[0].run_dir, run)
    (run / "metrics.parquet").write_bytes(b"not parquet")
    with pytest.raises(RunFolderError, match=r"metrics.parquet: unreadable or corrupt"):
        load_run(run)
    (run / "summary.json").write_bytes(b"\xff\xfe{")
    assert main(["plot", str(run)]) == 2


def test_interpolation_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"interpolations"):
        load_config("d3", ["model.hidden=${oc.env:HOME}"])
    with pytest.raises(ConfigError, match=r"interpolations"):
        load_config("d3", ["preset=${oc.env:HOME}"])


def test_yaml_alias_bombs_and_non_utf8_are_refused(tmp_path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("a: &a [x, x]\nb: &b [*a, *a]\npreset: d3\n")
    with pytest.raises(ConfigError, match="aliases"):
        load_config(str(bomb))
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("preset: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(str(latin))


def test_files_respect_the_umask(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        res = train(load_config("d3", [*SEQ, "train.steps=5"]), tmp_path, quiet=True)
    finally:
        os.umask(old)
    files = [p for p in res.run_dir.rglob("*") if p.is_file()]
    assert files
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p


@pytest.mark.parametrize("bad", ["../escape", "/abs/path", "", "a/b", "x" * 300, ".."])
def test_run_names_are_single_components(tmp_path, bad) -> None:
    with pytest.raises(RunFolderError, match="--name"):
        train(load_config("d3", [*SEQ, "train.steps=2"]), tmp_path / "out", name=bad, quiet=True)
    assert not (tmp_path / "escape").exists()


def test_lock_refuses_a_second_writer_and_stray_tmp_is_cleaned(tmp_path) -> None:
    cfg = load_config("d3", [*SEQ, "train.steps=40"])
    part = train(cfg, tmp_path, name="r", quiet=True, stop_after=10, figures=False)
    folder = RunFolder(part.run_dir)
    (folder.path / "checkpoints" / ".step_000000020.pt.abcd.tmp").write_bytes(b"half")
    folder.lock_path.write_text(f"{os.getpid()} {os.uname().nodename}")  # a live holder
    with pytest.raises(RunFolderError, match="in use by process"):
        resume(part.run_dir, quiet=True)
    folder.lock_path.write_text("999999999 " + os.uname().nodename)  # a dead holder
    res = resume(part.run_dir, quiet=True, figures=False)
    assert res.summary["status"] == "completed"
    assert not list(folder.path.rglob("*.tmp")) and not folder.lock_path.exists()


# ------------------------------------------------------------- real signals, real processes


def _cli(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(
        [sys.executable, "-m", "groupcomp", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def _wait_for_checkpoint(run: Path, beyond: int, proc: subprocess.Popen, limit: float = 120):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        steps = RunFolder(run).checkpoint_steps() if run.exists() else []
        if steps and steps[-1] > beyond:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()[1].decode()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"])
def test_arith_cli_killed_then_resumed_is_bit_identical(tmp_path, sig) -> None:
    args = [
        "arith",
        "arith_z23",
        "group=Z11",
        "hidden=64",
        "epochs=1500",
        "train.checkpoint_every=50",
        "train.progress=false",
        "--quiet",
    ]
    ref = _cli([*args, "--out", str(tmp_path), "--name", "ref", "--quiet"])
    assert ref.wait(timeout=600) == 0, ref.communicate()[1].decode()
    proc = _cli([*args, "--out", str(tmp_path), "--name", "cut"])
    _wait_for_checkpoint(tmp_path / "cut", 100, proc)
    proc.send_signal(sig)
    rc = proc.wait(timeout=120)
    run = tmp_path / "cut"
    if sig == signal.SIGINT:
        assert rc == 3  # interrupted
        s = json.loads((run / "summary.json").read_text())
        assert s["status"] == "interrupted"
        assert s["steps_done"] in RunFolder(run).checkpoint_steps()  # checkpoint at the stop
        assert len(pd.read_parquet(run / "metrics.parquet")) > 0
    else:
        assert rc == -signal.SIGKILL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["arith", "--resume", str(run), "--quiet"]) == 0
    a, b = load_run(tmp_path / "ref"), load_run(run)
    cols = ["loss", "train_loss", "test_loss", "train_acc", "test_acc"]
    pd.testing.assert_frame_equal(a.metrics[cols], b.metrics[cols])
    for p, q in zip(a.model().parameters(), b.model().parameters(), strict=True):
        assert torch.equal(p, q)


def test_early_stop_rule_survives_a_resume(tmp_path) -> None:
    """``train.stop_after_grok`` counts from the first 100 % test accuracy of each seed, even
    when the run was interrupted after that epoch and resumed (the rule replays the records)."""
    cfg = load_config(
        "arith_z23",
        ["group=Z11", "wd=1e-3", "hidden=64", "epochs=600", "seeds=[0,1]"]
        + ["train.stop_after_grok=20", "train.progress=false"],
        schema=ArithConfig,
    )
    full = train(cfg, tmp_path, name="full", quiet=True, figures=False)
    grok = full.summary["arith"]["grokking_epoch"]
    assert full.summary["stopped_early"] and full.summary["steps_done"] == max(grok) + 20
    cut = max(grok) + 6  # both seeds have grokked, the patience has not run out
    part = train(cfg, tmp_path, name="part", quiet=True, stop_after=cut, figures=False)
    assert part.summary["status"] == "interrupted" and part.state.step == cut
    done = resume(part.run_dir, quiet=True, figures=False)
    assert done.summary["steps_done"] == full.summary["steps_done"]
    assert done.summary["arith"]["grokking_epoch"] == grok
    for p, q in zip(full.model.parameters(), done.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_sampled_data_set_is_drawn_once_and_never_exhaustive() -> None:
    """``task.data=sampled``: N sequences drawn once (seeded by ``task.sample_seed``, the same
    for every seed of a batch), trained on as a fixed set; n^k is never materialised."""
    from groupcomp.runs import build

    cfg = load_config("a5", ["task.k=5", "task.data=sampled", "task.num_samples=1000"])
    exp = build(cfg)  # 60^5 = 7.8e8 sequences: the exhaustive set would not fit
    assert tuple(exp.data.train_seq.shape) == (1000, 5) and exp.data.mode == "full"
    again = build(load_config("a5", ["task.k=5", "task.data=sampled", "task.num_samples=1000",
                                     "train.seeds=[7,8]"]))  # fmt: skip
    assert torch.equal(exp.data.train_seq, again.data.train_seq)
    other = build(load_config("a5", ["task.k=5", "task.data=sampled", "task.num_samples=1000",
                                     "task.sample_seed=1"]))  # fmt: skip
    assert not torch.equal(exp.data.train_seq, other.data.train_seq)
    # trained on 30 sequences of D3, the loss on that set falls to ~0 (memorised)
    res = train(
        load_config("d3", ["task.data=sampled", "task.num_samples=30", "train.steps=3000",
                           "train.progress=false"]),
        None, quiet=True,
    )  # fmt: skip
    assert res.summary["final_loss"] < 1e-6 * res.summary["initial_loss"]


@pytest.mark.slow
def test_ctrl_c_at_random_moments_always_leaves_a_resumable_run(tmp_path) -> None:
    """10 Ctrl-Cs at random moments of a CLI run: each ends as ``interrupted`` with a checkpoint
    at the step it reports (or, if it came after the last step, as ``completed``), and the
    resumed run equals the uninterrupted one bit for bit."""
    import random

    # long enough (~1 s with the fused arith path) that most random signals hit the loop
    args = ["arith", "arith_z23", "group=Z11", "hidden=64", "epochs=4000", "--quiet"]
    ref = _cli([*args, "--out", str(tmp_path), "--name", "ref"])
    assert ref.wait(timeout=600) == 0, ref.communicate()[1].decode()
    a = load_run(tmp_path / "ref")
    a_params = list(a.model().parameters())
    rng = random.Random(0)
    cols = ["loss", "train_loss", "test_loss", "train_acc", "test_acc"]
    outcomes = []
    for trial in range(10):
        name = f"t{trial}"
        proc = _cli([*args, "--out", str(tmp_path), "--name", name])
        _wait_for_checkpoint(tmp_path / name, -1, proc)  # step 0 written: the loop is running
        time.sleep(rng.uniform(0.0, 0.8))
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=120)
        s = json.loads((tmp_path / name / "summary.json").read_text())
        outcomes.append(s["status"])
        if s["status"] == "interrupted":
            assert rc == 3
            assert s["steps_done"] in RunFolder(tmp_path / name).checkpoint_steps()
            done = resume(tmp_path / name, quiet=True, figures=False)
            assert done.summary["status"] == "completed"
        else:  # the signal came after the last step
            assert s["status"] == "completed" and rc in (0, 130)
        b = load_run(tmp_path / name)
        pd.testing.assert_frame_equal(a.metrics[cols], b.metrics[cols])
        for p, q in zip(a_params, b.model().parameters(), strict=True):
            assert torch.equal(p, q)
    assert outcomes.count("interrupted") >= 5, outcomes  # most signals hit a running loop
