"""End-to-end group-arithmetic runs: grokking at / below P4's critical training-set size,
non-abelian and product groups, run folders, divergence, ensemble = single-seed runs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from groupcomp.config import load_config
from groupcomp.config.arith import ArithConfig
from groupcomp.errors import DivergenceError, RunFolderError
from groupcomp.training import print_arith_summary, train_arith


def _cfg(*overrides: str, preset: str | None = None):
    return load_config(preset, ["train.progress=false", *overrides], schema=ArithConfig)


def _run(*overrides: str, preset: str | None = None) -> dict:
    return train_arith(_cfg(*overrides, preset=preset), None, quiet=True).summary


# ---------------------------------------------------------------------------- fast checks


def test_run_folder_contents(tmp_path) -> None:
    cfg = _cfg(
        "group=Z7",
        "hidden=32",
        "epochs=40",
        "seeds=[0,1]",
        "train.log_points=8",
        "train.checkpoints=3",
        preset="arith_z23",
    )
    res = train_arith(cfg, tmp_path, name="r1", quiet=True)
    d = tmp_path / "r1"
    assert res.run_dir == d
    for f in (
        "config.yaml",
        "provenance.json",
        "summary.json",
        "metrics.parquet",
        "checkpoints/checkpoints.pt",
        "checkpoints/last.pt",
        "figures/accuracy.png",
        "figures/accuracy.pdf",
        "figures/power.png",
        "figures/power.pdf",
    ):
        assert (d / f).is_file(), f
    assert load_config(str(d / "config.yaml"), schema=ArithConfig) == cfg
    m = pd.read_parquet(d / "metrics.parquet")
    base = ["epoch", "seed", "train_loss", "test_loss", "train_acc", "test_acc"]
    assert list(m.columns[:6]) == base
    labels = ["trivial", "freq1", "freq2", "freq3"]
    assert [c for c in m.columns if c.startswith("power/")] == [f"power/{x}" for x in labels]
    assert len(m) == 2 * 41 and m[base].notna().all().all()
    logged = m.dropna(subset=["power/freq1"])
    assert 0 in set(logged.epoch) and 40 in set(logged.epoch) and len(logged) < len(m)
    # power sums (over irreps) to the squared norm of the input weights
    W = res.model.W_in.detach().double()
    total = logged[logged.epoch == 40][[f"power/{x}" for x in labels]].sum(axis=1).to_numpy()
    assert np.allclose(total, W.pow(2).sum(dim=(1, 2, 3)).numpy(), rtol=1e-6)
    s = json.loads((d / "summary.json").read_text())
    assert s["status"] == "completed" and s["epochs_done"] == 40
    assert s["split"]["n_train"] == round(0.9 * 49) and s["split"]["n_total"] == 49
    assert s["split"]["critical_count"] == pytest.approx(2.7482 * 7 * np.log(7))
    for key in ("grokking_epoch", "train100_epoch", "final", "git_commit", "torch", "run_dir"):
        assert key in s
    assert len(s["final"]["test_acc"]) == 2
    snaps = torch.load(d / "checkpoints" / "checkpoints.pt", weights_only=True)
    assert 0 in snaps and 40 in snaps and len(snaps) == 3
    last = torch.load(d / "checkpoints" / "last.pt", weights_only=False)
    assert last["epoch"] == 40
    text = print_arith_summary(s)
    assert "C7 compose" in text and "test 100 % at epoch" in text
    with pytest.raises(RunFolderError, match="already exists"):
        train_arith(cfg, tmp_path, name="r1", quiet=True)


def test_ensemble_member_equals_single_seed_run() -> None:
    a = train_arith(_cfg("group=Z7", "hidden=16", "epochs=25", "seeds=[3,5]"), None, quiet=True)
    b = train_arith(_cfg("group=Z7", "hidden=16", "epochs=25", "seeds=[5]"), None, quiet=True)
    ma = a.metrics[a.metrics.seed == 5].reset_index(drop=True)
    mb = b.metrics.reset_index(drop=True)
    assert np.allclose(ma["train_loss"], mb["train_loss"], rtol=1e-4)
    assert np.array_equal(ma["test_acc"], mb["test_acc"])


def test_divergence_keeps_last_good_checkpoint(tmp_path) -> None:
    cfg = _cfg(
        "group=Z5", "hidden=8", "epochs=200", "optim=sgd", "lr=1e4", "wd=0", "train.checkpoints=200"
    )
    with pytest.raises(DivergenceError, match="NaN/inf at epoch"):
        train_arith(cfg, tmp_path, name="div", quiet=True)
    d = tmp_path / "div"
    s = json.loads((d / "summary.json").read_text())
    assert s["status"] == "diverged"
    last = torch.load(d / "checkpoints" / "last.pt", weights_only=False)
    assert all(torch.isfinite(v).all() for v in last["model"].values())
    assert last["epoch"] <= s["epochs_done"]


@pytest.mark.parametrize(
    "overrides",
    [
        ("group=Z11", "op=mul", "loss=ce"),
        ("group=Z7", "expr=x^2+xy+y^2", "ridge=true"),
        ("group=Z5", "op=mul_all", "k=3", "train.batch_size=16"),
        (
            "group=D3",
            "embedding=learned",
            "model.embed_dim=4",
            "layers=2",
            "optim=muon",
            "lr=0.02",
            "activation=relu",
        ),
        ("group=Z6", "optim=adamw", "activation=silu", "train.stop_after_grok=0", "epochs=400"),
    ],
)
def test_variants_train(overrides) -> None:
    res = train_arith(_cfg("hidden=32", "epochs=30", *overrides), None, quiet=True)
    s = res.summary
    assert s["status"] == "completed"
    # the split covers every tuple exactly once
    split = s["split"]
    assert split["n_train"] + split["n_test"] == split["n_total"]
    assert split["n_total"] == s["num_symbols"] ** s["num_operands"]
    # every variant actually learns: the training loss falls, and train accuracy beats chance
    loss = res.metrics.groupby("epoch")["train_loss"].mean()
    assert loss.iloc[-1] < 0.9 * loss.iloc[0]
    assert min(s["final"]["train_acc"]) > 1.0 / s["num_symbols"]


# -------------------------------------------------------------------- grokking (slow)


#: P4's setting: the output layer solved by ridge regression (λ = 1e-3) at every step, on top of
#: the preset's Adam (lr 0.01, weight decay 1e-4); plain Adam with weight decay 1e-3 also works
RIDGE = ("ridge=true", "model.ridge_lambda=1e-3")
WD = ("wd=1e-3",)


@pytest.mark.slow
@pytest.mark.parametrize("variant", [RIDGE, WD], ids=["ridge", "adam-wd1e-3"])
def test_z23_mse_critical_split_generalises(variant: tuple[str, ...]) -> None:
    """P4: with n = c·M ln M = 198 training pairs (of 529) Z23 generalises to 100 %."""
    s = _run(
        "split=critical", "epochs=2500", "train.stop_after_grok=100", *variant, preset="arith_z23"
    )
    assert s["split"]["n_train"] == 198 and s["loss"] == "mse"
    assert s["grokking_epoch"][0] is not None, s["final"]
    assert s["final"]["test_acc"][0] >= 0.98


@pytest.mark.slow
@pytest.mark.parametrize("variant", [RIDGE, WD], ids=["ridge", "adam-wd1e-3"])
def test_z23_far_below_critical_does_not_generalise(variant: tuple[str, ...]) -> None:
    s = _run("split.train_fraction=0.05", "epochs=600", *variant, preset="arith_z23")
    assert s["split"]["n_train"] == 26
    assert s["final"]["train_acc"][0] == 1.0
    assert s["final"]["test_acc"][0] < 0.9


@pytest.mark.slow
@pytest.mark.parametrize("group", ["S4", "Z2xZ3xZ4", "SmallGroup(24,3)", "SmallGroup(24,8)"])
def test_nonabelian_and_product_groups_generalise(group: str) -> None:
    s = _run(
        f"group={group}",
        "split.train_fraction=0.7",
        "hidden=256",
        "wd=1e-3",
        "epochs=600",
        "train.stop_after_grok=100",
        preset="arith_z23",
    )
    assert s["split"]["n_train"] == round(0.7 * 576)
    assert s["final"]["test_acc"][0] >= 0.99 and s["final"]["train_acc"][0] == 1.0
    assert s["grokking_epoch"][0] is not None
