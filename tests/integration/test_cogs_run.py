"""CoGS on trained arith runs: `groupcomp.cogs` / `groupcomp cogs` (issue 14)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

import groupcomp
from groupcomp.analysis import cogs as A
from groupcomp.api import cogs, train
from groupcomp.cli import main
from groupcomp.config import ArithConfig, load_config
from groupcomp.tasks.arithmetic import make_task
from groupcomp.theory import cogs as C
from groupcomp.training.objectives import arith_loss
from groupcomp.viz.cogs import order_histogram_figure, sp_dynamics_figure

TINY = ["group=Z7", "hidden=20", "train.checkpoints=3", "train.progress=false"]


def _cfg(*extra: str):
    return load_config(None, [*TINY, *extra], schema=ArithConfig)


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("cogs_runs")
    sq = train(_cfg("epochs=5"), out / "ok", name="sq", quiet=True, figures=False)
    train(_cfg("epochs=3", "group=Z5"), out / "ok", name="sq5", quiet=True, figures=False)
    relu = train(
        _cfg("epochs=2", "activation=relu"), out / "bad", name="relu", quiet=True, figures=False
    )
    return sq.run_dir, relu.run_dir


def test_a_sweep_folder_pools_per_group_order(tiny_runs, tmp_path) -> None:
    run, _ = tiny_runs
    res = cogs(run.parent, tmp_path, dynamics=False)
    assert sorted(res["seeds"]["run"]) == ["sq", "sq5"]
    assert (tmp_path / "sq" / "blocks.csv").is_file() and (tmp_path / "sq5" / "seeds.csv").is_file()
    pooled = pd.read_csv(tmp_path / "blocks.csv")
    assert len(pooled) == 3 + 2  # frequency pairs of Z7 and Z5
    assert (tmp_path / "order_histogram_d5.png").is_file()
    assert (tmp_path / "order_histogram_d7.png").is_file()
    assert sum(res["histogram"].values()) == 5


def test_cli_writes_tables_and_png_figures(tiny_runs, tmp_path, capsys) -> None:
    run, _ = tiny_runs
    assert main(["cogs", str(run), "--out", str(tmp_path)]) == 0
    folder = tmp_path / run.name
    for name in ("blocks.csv", "seeds.csv", "summary.json", "sp_dynamics.csv"):
        assert (folder / name).is_file(), name
    for name in ("order_histogram", "shares", "sp_dynamics", "residuals"):
        assert (folder / f"{name}.png").is_file() and not (folder / f"{name}.pdf").exists()
    seeds = pd.read_csv(folder / "seeds.csv")
    blocks = pd.read_csv(folder / "blocks.csv")
    assert len(seeds) == 1 and sorted(blocks["k"]) == [1, 2, 3]
    summary = json.loads((folder / "summary.json").read_text())
    hist = {int(k): v for k, v in summary["order_histogram"].items()}
    assert sum(hist.values()) == 3  # one count per frequency pair of Z7
    dyn = pd.read_csv(folder / "sp_dynamics.csv")
    assert sorted(dyn["step"].unique()) == groupcomp.load_run(run).checkpoint_steps
    out = capsys.readouterr().out
    assert "order histogram" in out and "seeds.csv" in out
    # the default destination is the run's own cogs/ folder
    assert main(["cogs", str(run), "--no-dynamics"]) == 0
    assert (run / "cogs" / "blocks.csv").is_file()
    assert not (run / "cogs" / "sp_dynamics.csv").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--threshold", "-1"], "threshold"),
        (["--tol", "2"], "tol"),
        (["--step", "999999"], "step"),
    ],
)
def test_cli_bad_input_is_one_line(tiny_runs, tmp_path, capsys, args, needle) -> None:
    run, _ = tiny_runs
    assert main(["cogs", str(run), "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and "Traceback" not in err


def test_cli_refuses_a_non_quadratic_run(tiny_runs, tmp_path, capsys) -> None:
    _, relu = tiny_runs
    assert main(["cogs", str(relu), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "model.activation" in err and "square" in err
    assert not any(tmp_path.iterdir())  # nothing written


def test_figures_draw_into_a_given_axes() -> None:
    from matplotlib.figure import Figure

    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    assert order_histogram_figure({4: 3, 6: 2}, ax=ax1) is fig
    bars = [p for p in ax1.patches if p.get_gid() == "order-bars"]
    assert sorted(round(p.get_height()) for p in bars) == [2, 3]
    assert {ln.get_gid() for ln in ax1.lines} == {"order-mark:4", "order-mark:6"}
    dyn = pd.DataFrame(
        {"epoch": [0, 1, 2], "seed": 0, "diag": [0.0, 3.0, 6.0], "offdiag": [1, 0.5, 0], "d": 7}
    )
    assert sp_dynamics_figure(dyn, ax=ax2) is fig
    target = [ln for ln in ax2.lines if ln.get_gid() == "sp-target"]
    assert target and target[0].get_ydata()[0] == 6


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The cogs_z7 preset (Z7, q = 20, Adam, weight decay 1e-3, 48 of the 49 pairs, 3000
    epochs), seed 0: every frequency pair ends as an order-4 or order-6 product."""
    out = tmp_path_factory.mktemp("cogs_trained")
    overrides = ["seeds=[0]", "train.checkpoints=8", "train.progress=false"]
    cfg = load_config("cogs_z7", overrides, schema=ArithConfig)
    return train(cfg, out, name="z7", quiet=True, figures=False).run_dir


@pytest.mark.slow
def test_trained_run_factorises_consistently_with_its_loss(trained) -> None:
    run = groupcomp.load_run(trained)
    ((seed, net),) = A.run_networks(run)
    # Theorem 1 on the trained weights equals the model's loss on all 49 pairs
    task = make_task("Z7")
    with torch.no_grad():
        direct = float(
            arith_loss(run.model()(task.tuples()), task.results().unsqueeze(0), "mse")[0]
        )
    f = A.factorize(net)
    assert f.loss == pytest.approx(direct, rel=1e-10, abs=1e-12)
    # the per-frequency losses add up to the loss (a pair counts at k and -k)
    assert 2 * sum(b.loss_k for b in f.pairs) / f.d == pytest.approx(f.loss, rel=1e-9)
    # a near-global solution: every pair is an order-4 / order-6 product
    assert f.loss < 1e-3
    for b in f.pairs:
        assert b.kind in ("order-4", "order-6"), b
        assert b.factors in ("z_nu*z_xi", "z_nu*z_syn", "z_nu=i*z_syn_ab"), b
        # not exact: weight decay and the held-out pair leave residuals of 0.012-0.018 here
        assert b.residual < 0.03 and len(b.nodes) == b.order
    assert sum(f.shares().values()) == pytest.approx(1.0)
    # sum-potential dynamics: Σ r_kkk from ~0 at init to ~d-1, off-diagonal sum to ~0
    dyn = A.sp_dynamics(run)
    first, last = dyn.iloc[0], dyn.iloc[-1]
    assert abs(first["diag"]) < 1 and last["diag"] == pytest.approx(6, rel=0.02)
    assert abs(last["offdiag"]) < 0.1
    assert last["loss"] == pytest.approx(f.loss, rel=1e-10)
    # the API's table agrees with the object
    res = cogs(trained, trained.parent / "out", dynamics=False)
    row = res["seeds"].iloc[0]
    assert row["loss_all_pairs"] == pytest.approx(f.loss, rel=1e-12)
    assert math.isclose(row["share/order-4"] + row["share/order-6"], 1.0)
    assert res["histogram"] == A.order_histogram(net)
    assert np.isfinite(res["blocks"]["residual"]).all()
    assert C.cyclic_shape(run.task.operand_group) == (7,) and seed == 0


@pytest.mark.slow
def test_without_r_star_the_solutions_have_three_nodes_per_frequency(tmp_path) -> None:
    """P3's Fig. 2 variant: with the R_* term removed from the objective (`loss_remove=
    [R_star]`), z_syn (order 3) is a global solution, and trained Z7 networks (q = 20) end with
    ~3 nodes per frequency pair (P3: "≈ 3"); their real loss is then z_syn's (d−1)/(2d) = 3/7."""
    overrides = ["seeds=[1,2]", "loss_remove=[R_star]", "train.progress=false"]
    cfg = load_config("cogs_z7", overrides, schema=ArithConfig)
    res = train(cfg, tmp_path, name="z7", quiet=True, figures=False)
    run = groupcomp.load_run(res.run_dir)
    final = run.metrics.groupby("seed").tail(1)
    assert (final["loss"] < 1e-3).all()  # the objective (loss without R_*) reaches ~0
    hist: dict[int, int] = {}
    for _, net in A.run_networks(run):
        f = A.factorize(net)
        assert f.loss == pytest.approx(3 / 7, abs=0.02)  # what is left is R_*
        for order, count in A.order_histogram(net).items():
            hist[order] = hist.get(order, 0) + count
    assert hist.get(3, 0) >= 0.75 * sum(hist.values()), hist


def test_grokking_scaling_and_shares_figures() -> None:
    from matplotlib.figure import Figure

    from groupcomp.errors import ShapeError
    from groupcomp.viz.cogs import shares_figure
    from groupcomp.viz.grokking import grokking_scaling_figure

    rows = [
        {
            "group": g,
            "arith.split.train_fraction": f,
            "arith.split.critical_fraction": crit,
            "arith.final.test_acc": float(f >= crit) * (0.9 + 0.1 * s),
            "seed": s,
        }
        for g, crit in (("Z23", 0.375), ("Z71", 0.165))
        for f in (0.1, 0.2, 0.4, 0.8)
        for s in (0, 1)
    ]
    fig = Figure()
    ax = fig.subplots()
    assert grokking_scaling_figure(pd.DataFrame(rows), ax=ax) is fig
    crit = {ln.get_gid(): ln.get_xdata()[0] for ln in ax.lines if "critical" in ln.get_gid()}
    assert crit == {"grok-critical:Z23": 0.375, "grok-critical:Z71": 0.165}
    med = next(ln for ln in ax.lines if ln.get_gid() == "grok-median:Z23")
    np.testing.assert_allclose(med.get_ydata(), [0, 0, 0.95, 0.95])
    with pytest.raises(ShapeError, match="arith.final.test_acc"):
        grokking_scaling_figure(pd.DataFrame([{"group": "Z23"}]))
    seeds = pd.DataFrame(
        [{"d": 23, "share/order-4": 0.5, "share/order-6": 0.5, "paper/order-4": 0.5}]
    )
    fig2 = shares_figure(seeds)
    paper = [ln for ln in fig2.axes[0].lines if ln.get_gid() == "paper-share"]
    np.testing.assert_allclose(paper[0].get_ydata(), [47.07, 39.80])
