"""Tests of groupcomp.analysis.scaling and groupcomp.viz.scaling (docs/theory.md §3).

Expected sizes are computed here from the width formulas of docs/theory.md §3.2, not from the code
under test: two-layer ``H_k = 2^{k−1} Σ_π R_π(k)`` with ``R_π = D^{k+1}`` (real type) and
``(k+1)(D/2)^{k+1}`` (complex type); RNN width ``H_2`` with ``k − 1`` steps; tree depth
``⌈log₂ k⌉``.
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import groupcomp.runs
from groupcomp.analysis import (
    ScalingResult,
    scaling_experiment,
    scaling_table,
    smallest_trained_width,
)
from groupcomp.analysis.scaling import default_template_overrides, default_widths
from groupcomp.config import load_config
from groupcomp.errors import ConfigError, DivergenceError, ShapeError
from groupcomp.groups import cyclic, dihedral
from groupcomp.templates import fourier_template
from groupcomp.viz import scaling_figure


def _d3_width(k: int) -> int:
    """D3, powers (0, 1, 1): sign (R, D=1) + rot1 (R, D=2): 2^{k−1}(1 + 2^{k+1})."""
    return 2 ** (k - 1) * (1 + 2 ** (k + 1))


def _c5_width(k: int) -> int:
    """C5, powers (0, 1, 1): two C-type pairs of real dim 2: 2^{k−1}·2·(k+1)."""
    return 2 ** (k - 1) * 2 * (k + 1)


@pytest.fixture(scope="module")
def d3_table() -> pd.DataFrame:
    G = dihedral(3)
    return scaling_table(G, fourier_template(G, [0, 1, 1]), [2, 3, 4, 5])


# --------------------------------------------------------------------------- table
def test_d3_table_sizes_match_formulas(d3_table):
    df = d3_table
    assert df["k"].tolist() == [2, 3, 4, 5]
    assert df["two_layer_width"].tolist() == [18, 68, 264, 1040]
    assert df["two_layer_width"].tolist() == [_d3_width(k) for k in range(2, 6)]
    assert df["two_layer_depth"].tolist() == [1, 1, 1, 1]
    assert df["two_layer_params"].tolist() == [(k + 1) * 6 * _d3_width(k) for k in range(2, 6)]
    assert df["rnn_width"].tolist() == [18] * 4
    assert df["rnn_steps"].tolist() == [1, 2, 3, 4]
    assert df["rnn_params"].tolist() == [3 * 6 * 18 + 18 * 18] * 4
    assert df["tree_width"].tolist() == [18] * 4
    assert df["tree_depth"].tolist() == [math.ceil(math.log2(k)) for k in range(2, 6)]
    assert df["tree_depth"].tolist() == [1, 2, 2, 3]
    assert df["tree_parallel_width"].tolist() == [18 * math.ceil(k / 2) for k in range(2, 6)]


def test_d3_ratios_exponential(d3_table):
    df = d3_table
    r = df["two_layer_width_ratio"].to_numpy()
    assert math.isnan(r[0])
    expected = [_d3_width(k) / _d3_width(k - 1) for k in range(3, 6)]
    np.testing.assert_allclose(r[1:], expected, rtol=1e-12)
    np.testing.assert_allclose(r[1:], [68 / 18, 264 / 68, 1040 / 264], rtol=1e-12)
    assert np.all(r[1:] > 3)  # exponential: ≈ 4 per step of k
    np.testing.assert_allclose(df["rnn_width_ratio"].to_numpy()[1:], 1.0)


def test_d3_fit_attrs(d3_table):
    attrs = d3_table.attrs
    assert attrs["group"] == "D3" and attrs["n"] == 6 and attrs["ks"] == [2, 3, 4, 5]
    fit = attrs["two_layer_width_fit"]
    ks = np.arange(2, 6)
    slope, intercept = np.polyfit(ks, np.log2([_d3_width(k) for k in ks]), 1)
    assert fit["slope_log2"] == pytest.approx(slope, rel=1e-10)
    assert fit["intercept_log2"] == pytest.approx(intercept, rel=1e-10)
    assert fit["base"] == pytest.approx(2.0**slope, rel=1e-10)
    assert 3.5 < fit["base"] < 4.0  # approaches 4 = 2·D from below
    assert fit["r2"] > 0.999
    assert attrs["two_layer_asymptotic_base"] == 4.0
    json.dumps(attrs)  # JSON-able


def test_c5_table_and_non_consecutive_ks():
    G = cyclic(5)
    x = fourier_template(G, [0, 1, 1])
    df = scaling_table(G, x, [2, 3, 4, 5])
    assert df["two_layer_width"].tolist() == [_c5_width(k) for k in range(2, 6)]
    assert df["two_layer_width"].tolist() == [12, 32, 80, 192]
    assert df["rnn_width"].tolist() == [12] * 4
    assert df.attrs["two_layer_asymptotic_base"] == 2.0
    sparse = scaling_table(G, x, [2, 5])
    assert sparse["two_layer_width_ratio"].iloc[1] == pytest.approx((192 / 12) ** (1 / 3))


def test_generic_template_uses_trivial_irrep():
    G = dihedral(3)
    x = fourier_template(G, [1, 1, 1])  # non-zero mean: the trivial irrep needs terms too
    df = scaling_table(G, x, [2, 3])
    assert df["two_layer_width"].tolist() == [2 ** (k - 1) * (2 + 2 ** (k + 1)) for k in (2, 3)]


@pytest.mark.parametrize("ks", [[], [1, 2], [3, 2], [2, 2], ["a"]])
def test_bad_ks(ks):
    G = dihedral(3)
    with pytest.raises(ConfigError, match="ks"):
        scaling_table(G, fourier_template(G, [0, 1, 1]), ks)


def test_defaults():
    assert default_widths(18) == [3, 5, 7, 9, 12, 14, 16, 18, 23, 27, 36]
    assert default_widths(1) == [1, 2]
    assert default_template_overrides(dihedral(3)) == [
        "template.kind=powers",
        "template.powers=[0,1,1]",
    ]
    with pytest.raises(ConfigError):
        default_widths(0)


def test_experiment_without_training_is_json():
    res = scaling_experiment("D3", K=4)
    assert isinstance(res, ScalingResult)
    assert res.trained is None and res.searches == []
    assert res.table["two_layer_width"].tolist() == [18, 68, 264]
    np.testing.assert_allclose(res.template, fourier_template(dihedral(3), [0, 1, 1]))
    d = json.loads(json.dumps(res.to_dict()))
    assert d["table"][0]["two_layer_width"] == 18
    assert d["table"][0]["two_layer_width_ratio"] is None  # NaN → null
    assert d["table_attrs"]["two_layer_asymptotic_base"] == 4.0


# --------------------------------------------------------------------------- search logic
def _fake_train(threshold: int, calls: list[int], diverge: tuple[int, ...] = ()):
    """Stand-in for groupcomp.runs.execute: per-seed relative loss 1e-3 if hidden ≥ threshold,
    else 0.5 (seed 1 always 1e-3, so ``min`` differs from ``median``)."""

    def train(cfg, out=None, quiet=True):
        assert out is None and quiet
        h = int(cfg.model.hidden)
        calls.append(h)
        if h in diverge:
            raise DivergenceError("diverged")
        seeds = [int(s) for s in cfg.train.seeds]
        rows = []
        for s in seeds:
            rel = 1e-3 if (h >= threshold or s == 1) else 0.5
            rows.append({"step": 0, "seed": s, "loss": 2.0})
            rows.append({"step": int(cfg.train.steps), "seed": s, "loss": 2.0 * rel})
        return SimpleNamespace(metrics=pd.DataFrame(rows))

    return train


@pytest.mark.parametrize(
    ("search", "expected_calls"),
    [
        ("gallop", [1, 2, 4, 12, 8, 10]),  # indices 0, 1, 3, 7, then bisection
        ("bisect", [32, 6, 12, 8, 10]),
        ("all", [1, 2, 3, 4, 6, 8, 10, 12, 16, 24, 32]),
    ],
)
def test_search_strategies(monkeypatch, search, expected_calls):
    calls: list[int] = []
    monkeypatch.setattr(groupcomp.runs, "execute", _fake_train(10, calls))
    widths = [32, 1, 2, 3, 4, 6, 8, 10, 12, 16, 24]  # unsorted on purpose
    seeds = [2, 0, 3]
    res = smallest_trained_width("D3", None, 2, widths, seeds=seeds, steps=5, search=search)
    assert calls[: len(expected_calls)] == expected_calls
    assert res["smallest_width"] == 10
    assert res["widths"] == sorted(widths)
    assert res["n_runs"] == len(calls) == len(res["runs"])
    assert res["exact_width"] == 18
    by_w = {r["width"]: r for r in res["runs"]}
    assert by_w[10]["success"] and by_w[10]["rel_loss"] == pytest.approx(1e-3)
    if search != "all":
        assert not by_w[8]["success"]  # the next smaller candidate was tried and failed
        assert res["monotone"] is None
    else:
        assert res["monotone"] is True
    # per-seed values follow the order of `seeds` (seed 0 = second entry fails below threshold)
    assert by_w[8]["rel_loss_per_seed"] == pytest.approx([0.5, 0.5, 0.5])
    json.dumps(res)


def test_search_criterion_none_and_divergence(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(groupcomp.runs, "execute", _fake_train(100, calls, diverge=(4,)))
    res = smallest_trained_width("D3", None, 2, [1, 2, 4], seeds=[0, 1], steps=5)
    assert res["smallest_width"] is None and calls == [1, 2, 4]
    assert res["runs"][-1]["diverged"] and not res["runs"][-1]["success"]
    assert res["runs"][-1]["rel_loss"] is None  # inf → null
    # "min" over seeds: seed 1 always reaches the target, so the smallest candidate succeeds
    res = smallest_trained_width("D3", None, 2, [1, 2, 4], seeds=[0, 1], criterion="min")
    assert res["smallest_width"] == 1


def test_search_non_monotone_all(monkeypatch):
    def train(cfg, out=None, quiet=True):
        h = int(cfg.model.hidden)
        rel = 1e-3 if h in (2, 8, 16) else 0.5
        rows = [{"step": 0, "seed": 0, "loss": 1.0}, {"step": 9, "seed": 0, "loss": rel}]
        return SimpleNamespace(metrics=pd.DataFrame(rows))

    monkeypatch.setattr(groupcomp.runs, "execute", train)
    res = smallest_trained_width("D3", None, 2, [1, 2, 4, 8, 16], seeds=[0], search="all")
    assert res["monotone"] is False and res["smallest_width"] == 8


def test_search_bad_arguments():
    with pytest.raises(ConfigError, match="criterion"):
        smallest_trained_width("D3", None, 2, [1], criterion="best")
    with pytest.raises(ConfigError, match="search"):
        smallest_trained_width("D3", None, 2, [1], search="random")
    with pytest.raises(ConfigError, match="widths"):
        smallest_trained_width("D3", None, 2, [0, 1])
    with pytest.raises(ConfigError, match="target"):
        smallest_trained_width("D3", None, 2, [1], target=0)
    with pytest.raises(ConfigError, match="seeds"):
        smallest_trained_width("D3", None, 2, [1], seeds=[0, 0])


def test_experiment_with_fake_training(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(groupcomp.runs, "execute", _fake_train(30, calls))
    res = scaling_experiment(
        "D3", K=4, train=True, widths={2: [8, 16, 32], 3: [8, 16]}, train_ks=[2, 3], steps=5
    )
    tr = res.trained
    assert tr["k"].tolist() == [2, 3]
    assert tr["exact_width"].tolist() == [18, 68]
    assert tr["smallest_width"].iloc[0] == 32 and math.isnan(tr["smallest_width"].iloc[1])
    assert tr["max_width_tried"].tolist() == [32, 16]
    assert tr["smallest_over_exact"].iloc[0] == pytest.approx(32 / 18)
    assert res.settings["steps"] == {2: 5, 3: 5}
    d = json.loads(json.dumps(res.to_dict()))
    assert d["trained"][1]["smallest_width"] is None
    assert len(d["searches"]) == 2
    # default train_ks: n^k ≤ max_sequences (6^2 = 36, 6^3 = 216 > 100)
    calls.clear()
    res = scaling_experiment("D3", K=3, train=True, widths=[32], max_sequences=100, steps=5)
    assert res.trained["k"].tolist() == [2] and calls == [32]


# --------------------------------------------------------------------------- figure
def _gid_lines(ax, gid):
    return [ln for ln in ax.get_lines() if ln.get_gid() == gid]


def test_scaling_figure(d3_table):
    trained = pd.DataFrame(
        {"k": [2, 3, 4], "smallest_width": [12.0, 43.0, np.nan], "max_width_tried": [18, 68, 264]}
    )
    fig = scaling_figure(d3_table, trained, title="D3")
    ax_w, ax_d = fig.axes[:2]
    assert ax_w.get_yscale() == "log"
    assert ax_d.get_yscale() == "linear"
    gids = [ln.get_gid() for ln in ax_w.get_lines()]
    assert sorted(gids) == sorted(
        [
            "two-layer-width",
            "rnn-width",
            "tree-width",
            "tree-parallel-width",
            "two-layer-fit",
            "trained-width",
            "trained-none",
        ]
    )
    (tl,) = _gid_lines(ax_w, "two-layer-width")
    np.testing.assert_array_equal(tl.get_ydata(), [18, 68, 264, 1040])
    (tw,) = _gid_lines(ax_w, "trained-width")
    assert tw.get_linestyle() == "None"  # markers only
    np.testing.assert_array_equal(tw.get_xdata(), [2, 3])
    np.testing.assert_array_equal(tw.get_ydata(), [12, 43])
    (tn,) = _gid_lines(ax_w, "trained-none")
    np.testing.assert_array_equal(tn.get_xdata(), [4])
    np.testing.assert_array_equal(tn.get_ydata(), [264])
    (rnn,) = _gid_lines(ax_w, "rnn-width")
    np.testing.assert_array_equal(rnn.get_ydata(), [18] * 4)
    assert sorted(ln.get_gid() for ln in ax_d.get_lines()) == [
        "rnn-steps",
        "tree-depth",
        "two-layer-depth",
    ]
    np.testing.assert_array_equal(_gid_lines(ax_d, "rnn-steps")[0].get_ydata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(_gid_lines(ax_d, "tree-depth")[0].get_ydata(), [1, 2, 2, 3])
    np.testing.assert_array_equal(_gid_lines(ax_d, "two-layer-depth")[0].get_ydata(), [1] * 4)
    assert fig._suptitle is not None and fig._suptitle.get_text() == "D3"


def test_scaling_figure_without_trained(d3_table):
    fig = scaling_figure(d3_table)
    ax_w = fig.axes[0]
    assert ax_w.get_yscale() == "log"
    assert len(ax_w.get_lines()) == 5
    assert not _gid_lines(ax_w, "trained-width")


def test_scaling_figure_bad_input(d3_table):
    with pytest.raises(ShapeError, match="rnn_width"):
        scaling_figure(d3_table.drop(columns=["rnn_width"]))
    with pytest.raises(ShapeError, match="smallest_width"):
        scaling_figure(d3_table, pd.DataFrame({"k": [2]}))
    with pytest.raises(ShapeError, match="DataFrame"):
        scaling_figure({"k": [2]})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- real training
def _relative_losses(width: int) -> np.ndarray:
    """C3, k = 2, powers (0, 1): train directly (independently of the search) at ``width``."""
    cfg = load_config(
        None,
        [
            "group=C3",
            "template.kind=powers",
            "template.powers=[0,1]",
            "task.k=2",
            "model.name=two_layer",
            "model.activation=power",
            f"model.hidden={width}",
            "model.init_scale=0.1",
            "optim.name=adam",
            "optim.lr=0.003",
            "train.steps=500",
            "train.seeds=[0,1]",
            "train.log_points=2",
            "train.checkpoints=1",
        ],
    )
    res = groupcomp.runs.execute(cfg, out=None, quiet=True)
    m = res.metrics
    init = m[m.step == 0].sort_values("seed")["loss"].to_numpy()
    final = m[m.step == m.step.max()].sort_values("seed")["loss"].to_numpy()
    return final / init


@pytest.mark.slow
def test_trained_width_search_c3():
    """C3 (exact width 6 for k = 2): the search's answer reaches the target when trained
    directly, and the next smaller candidate does not."""
    widths = [2, 4, 5, 6, 8]
    res = smallest_trained_width(
        "C3", ["template.kind=powers", "template.powers=[0,1]"], 2, widths, seeds=[0, 1], steps=500
    )
    assert res["exact_width"] == 2 ** (2 - 1) * (2 + 1)  # one C-type pair, d = 1: 6
    w = res["smallest_width"]
    assert w is not None
    assert res["n_runs"] <= 4
    rel_w = _relative_losses(w)
    assert np.median(rel_w) <= 1e-2
    np.testing.assert_allclose(
        [r["rel_loss_per_seed"] for r in res["runs"] if r["width"] == w][0], rel_w, rtol=1e-6
    )
    i = widths.index(w)
    if i > 0:
        assert np.median(_relative_losses(widths[i - 1])) > 1e-2
    assert w == 6  # observed: width 5 plateaus at a relative loss ≈ 0.05–0.11
