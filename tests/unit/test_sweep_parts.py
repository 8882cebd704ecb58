"""Sweep and results-table building blocks without training: override handling for Hydra,
job and sweep names, the collect table's generic flattening, and the summary figures' data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from groupcomp.config import ArithConfig, RunConfig
from groupcomp.config.hydra import sweep_spec
from groupcomp.errors import ConfigError
from groupcomp.runs.collect import _is_per_seed, _leaves
from groupcomp.runs.sweep import default_sweep_name, job_name
from groupcomp.viz.results import (
    default_axes,
    drop_times_figure,
    final_loss_figure,
    results_figures,
    width_heatmap,
)


# -- Hydra overrides ------------------------------------------------------------------------------
def test_sweep_spec_splits_hydra_overrides_and_rewrites_shorthands() -> None:
    spec = sweep_spec(
        "d3",
        ["model=rnn,tree", "k=2,3", "model.hidden=8", "hydra/launcher=joblib", "hydra.x=1"],
        RunConfig,
    )
    assert spec.overrides == ["model.name=rnn,tree", "task.k=2,3", "model.hidden=8"]
    assert spec.hydra_overrides == ["hydra/launcher=joblib", "hydra.x=1"]
    assert spec.swept == ["model.name", "task.k"]


def test_sweep_spec_knows_hydra_sweep_functions_and_list_values() -> None:
    spec = sweep_spec(
        "d3",
        ["task.k=range(2,5)", "optim.lr=choice(1e-3,1e-2)", "train.seeds=[0],[1]"],
        RunConfig,
    )
    assert spec.swept == ["task.k", "optim.lr", "train.seeds"]
    fixed = sweep_spec("d3", ["template.powers=[0,1,2]", "train.seeds=[0,1]"], RunConfig)
    assert fixed.swept == []  # a list value is one value, not a sweep


def test_sweep_spec_uses_the_arith_shorthands() -> None:
    spec = sweep_spec(None, ["group=Z5", "hidden=8,16", "wd=0,1e-3"], ArithConfig)
    assert spec.overrides == ["group=Z5", "model.hidden=8,16", "optim.weight_decay=0,1e-3"]


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("model.hiden=8,16", r"model\.hiden: unknown config key.*model\.hidden"),
        ("~model.hidden", "deleting a key"),
        ("model=8", None),  # a shorthand: fine
        ("task=3", "task: is a section; set one of its keys: task.data, task.k"),
        ("model.hidden=8,,", "override"),
    ],
)
def test_sweep_spec_refuses_bad_overrides_before_any_job(override: str, match) -> None:
    if match is None:
        sweep_spec("d3", [override], RunConfig)
        return
    with pytest.raises(ConfigError, match=match):
        sweep_spec("d3", [override], RunConfig)


# -- names ----------------------------------------------------------------------------------------
def test_job_name_keeps_only_swept_values_in_sweep_order() -> None:
    ov = ["group=C3", "train.seeds=[0,1]", "model.hidden=60", "optim.lr=0.001"]
    assert job_name(ov, ["model.hidden", "train.seeds"]) == "model.hidden=60,train.seeds=0,1"
    assert job_name(ov, []) == "run"
    name = job_name([f"template.powers=[{','.join(['1.5'] * 80)}]"], ["template.powers"])
    assert len(name) <= 120 and name.startswith("template.powers=1.5,1.5")
    other = job_name([f"template.powers=[{','.join(['1.5'] * 81)}]"], ["template.powers"])
    assert other != name  # cut names stay distinct (hash of the full text)


def test_job_name_removes_characters_a_folder_name_may_not_have() -> None:
    name = job_name(["task.expression='x^2 + y/3'"], ["task.expression"])
    assert "/" not in name and " " not in name and "'" not in name
    assert name.startswith("task.expression=x_2+y_3")


def test_default_sweep_name_is_stable_and_ignores_hydra_settings() -> None:
    a = default_sweep_name("train", "d3", ["model.hidden=8,16"])
    assert a == default_sweep_name("train", "d3", ["model.hidden=8,16"])
    assert a.startswith("d3-multirun-")
    assert a != default_sweep_name("train", "d3", ["model.hidden=8,32"])
    assert default_sweep_name("arith", None, ["hidden=8,16"]).startswith("arith-multirun-")
    assert default_sweep_name("train", "cfg/my.yaml", []).startswith("my-multirun-")


# -- table building -------------------------------------------------------------------------------
def test_leaves_flatten_dicts_and_lists_of_dicts() -> None:
    tree = {"a": 1, "b": {"c": [1, 2], "d": None}, "drops": [{"p": 3}, {"p": 4}], "e": []}
    assert dict(_leaves(tree)) == {
        "a": 1,
        "b.c": [1, 2],
        "b.d": None,
        "drops.0.p": 3,
        "drops.1.p": 4,
        "e": [],
    }


def test_per_seed_lists_are_named_or_in_the_arith_section() -> None:
    assert _is_per_seed("final_loss_per_seed", [1.0, 2.0], 2)
    assert _is_per_seed("arith.final.test_acc", [1.0, 2.0], 2)
    assert not _is_per_seed("final_loss_per_seed", [1.0, 2.0, 3.0], 2)
    # a list of the right length elsewhere is not per seed (e.g. two plateaus, two seeds)
    assert not _is_per_seed("observed.plateaus_mse", [1.0, 2.0], 2)
    # one dict per seed stays one leaf (flattened per row by the table builder)
    per = {"stability": {"stable": True, "per_seed": [{"seed": 0}, {"seed": 1}]}}
    assert dict(_leaves(per))["stability.per_seed"] == [{"seed": 0}, {"seed": 1}]
    assert _is_per_seed("stability.per_seed", [{"seed": 0}, {"seed": 1}], 2)


# -- figures --------------------------------------------------------------------------------------
def _grid_table() -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(0)
    for k in (2, 3):
        for n in (3, 5, 7):
            for h in (8, 16, 64):
                for seed in (0, 1):
                    rows.append(
                        {
                            "run_dir": f"/r/k{k}n{n}h{h}",
                            "seed": seed,
                            "kind": "sequence",
                            "model.name": "two_layer",
                            "task.k": k,
                            "group_order": n,
                            "model.hidden": h,
                            "final_loss_per_seed": float(rng.uniform(1e-4, 1.0)),
                        }
                    )
    t = pd.DataFrame(rows)
    t.attrs["config_columns"] = ["kind", "model.name", "task.k", "model.hidden"]
    return t


def test_width_heatmap_cells_are_medians_and_boundaries_follow_the_formula() -> None:
    t = _grid_table()
    fig = width_heatmap(t, boundary_m=(1, 2))
    assert fig is not None
    for k in (2, 3):
        mesh = next(c for ax in fig.axes for c in ax.collections if c.get_gid() == f"heatmap:k={k}")
        want = (
            t[t["task.k"] == k]
            .groupby(["model.hidden", "group_order"])["final_loss_per_seed"]
            .median()
            .unstack()
            .sort_index()
            .sort_index(axis=1)
            .to_numpy()
        )
        np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(want.shape), want)
        for m in (1, 2):
            line = next(
                ln for ax in fig.axes for ln in ax.lines if ln.get_gid() == f"boundary:k={k}:m={m}"
            )
            x, y = line.get_data()
            np.testing.assert_allclose(y, m * 2 ** (k - 1) * np.asarray(x))


def test_width_heatmap_only_where_it_applies() -> None:
    t = _grid_table()
    assert width_heatmap(t.assign(**{"model.name": "rnn"})) is None
    assert width_heatmap(t.drop(columns=["group_order"])) is None
    one = t[(t["model.hidden"] == 8) & (t["group_order"] == 3)]
    assert width_heatmap(one) is None  # a single cell per panel


def test_final_loss_figure_draws_every_row_and_the_medians() -> None:
    t = _grid_table()
    t = t[t["task.k"] == 2]
    fig = final_loss_figure(t, "model.hidden", "group_order")
    ax = fig.axes[0]
    for n in (3, 5, 7):
        pts = next(ln for ln in ax.lines if ln.get_gid() == f"points:{n}")
        med = next(ln for ln in ax.lines if ln.get_gid() == f"median:{n}")
        sub = t[t["group_order"] == n]
        assert sorted(pts.get_ydata()) == sorted(sub["final_loss_per_seed"])
        want = sub.groupby("model.hidden")["final_loss_per_seed"].median()
        np.testing.assert_allclose(med.get_xdata(), want.index.to_numpy())
        np.testing.assert_allclose(med.get_ydata(), want.to_numpy())
    with pytest.raises(ConfigError, match="no column nope"):
        final_loss_figure(t, "nope")


def test_drop_times_figure_one_point_per_run_and_drop() -> None:
    t = pd.DataFrame(
        {
            "run_dir": ["a", "a", "b"],
            "seed": [0, 1, 0],
            "drops.0.predicted_step": [100.0, 100.0, 200.0],
            "drops.0.observed_step": [120.0, 120.0, None],
            "drops.1.predicted_step": [1e4, 1e4, 2e4],
            "drops.1.observed_step": [3e4, 3e4, 5e4],
        }
    )
    fig = drop_times_figure(t)
    ax = fig.axes[0]
    d0 = next(ln for ln in ax.lines if ln.get_gid() == "drop:0")
    d1 = next(ln for ln in ax.lines if ln.get_gid() == "drop:1")
    assert list(d0.get_xdata()) == [100.0] and list(d0.get_ydata()) == [120.0]
    assert list(d1.get_xdata()) == [1e4, 2e4] and list(d1.get_ydata()) == [3e4, 5e4]
    diag = next(ln for ln in ax.lines if ln.get_gid() == "diagonal")
    assert list(diag.get_xdata()) == list(diag.get_ydata())
    assert drop_times_figure(t.drop(columns=[c for c in t if c.startswith("drops")])) is None


def test_default_axes_pick_varying_config_keys() -> None:
    t = _grid_table()
    assert default_axes(t) == ("task.k", "model.hidden")
    figs = results_figures(t)
    assert set(figs) == {"final_loss", "width_heatmap"}
    assert math.isfinite(float(t["final_loss_per_seed"].sum()))


# -- width search from a results table ------------------------------------------------------------
def test_smallest_widths_from_a_results_table() -> None:
    from groupcomp.analysis.width_sweep import smallest_widths

    rel = {  # (model, k) -> {width: relative losses of the seeds}
        ("rnn", 2): {4: [0.5, 0.4], 8: [1e-3, 0.2], 16: [1e-3, 1e-4]},  # median: fail, fail, ok
        ("rnn", 3): {4: [1e-4, 1e-4], 8: [0.3, 0.3], 16: [1e-4, 1e-4]},  # not monotone
        ("tree", 2): {4: [0.5, 0.5], 8: [0.4, 0.4]},  # none succeeds
    }
    rows = [
        {"model.name": m, "task.k": k, "model.hidden": h, "rel_loss": r, "status": "completed"}
        for (m, k), by in rel.items()
        for h, rs in by.items()
        for r in rs
    ]
    t = pd.DataFrame(rows)
    got = smallest_widths(t, target=1e-2, criterion="max").set_index(["model", "k"])
    assert got.loc[("rnn", 2), "smallest_width"] == 16
    assert got.loc[("rnn", 3), "smallest_width"] == 16 and not got.loc[("rnn", 3), "monotone"]
    assert math.isnan(got.loc[("tree", 2), "smallest_width"])
    assert got.loc[("tree", 2), "max_width_tried"] == 8 and got.loc[("rnn", 2), "n_runs"] == 3
    lenient = smallest_widths(t, target=1e-2, criterion="min").set_index(["model", "k"])
    assert lenient.loc[("rnn", 2), "smallest_width"] == 8
    # a diverged width fails whatever its numbers say
    t.loc[(t["model.hidden"] == 16) & (t["task.k"] == 2), "status"] = "diverged"
    worse = smallest_widths(t, target=1e-2, criterion="max").set_index(["model", "k"])
    assert math.isnan(worse.loc[("rnn", 2), "smallest_width"])
    with pytest.raises(ConfigError, match="criterion"):
        smallest_widths(t, target=1e-2, criterion="best")


def test_scaling_figure_draws_each_models_trained_widths() -> None:
    from groupcomp.analysis import scaling_table
    from groupcomp.groups import parse
    from groupcomp.viz import scaling_figure

    G = parse("D3")
    x = np.random.default_rng(0).normal(size=G.order)  # generic: every x̂[π] invertible
    table = scaling_table(G, x, [2, 3, 4])
    trained = pd.DataFrame(
        {
            "model": ["two_layer"] * 3 + ["rnn"] * 3,
            "k": [2, 3, 4] * 2,
            "smallest_width": [14.0, 51.0, math.nan, 14.0, 18.0, 27.0],
            "max_width_tried": [36, 136, 528, 36, 36, 36],
        }
    )
    ax = scaling_figure(table, trained).axes[0]
    lines = {ln.get_gid(): ln for ln in ax.lines}
    assert list(lines["trained-width:rnn"].get_ydata()) == [14.0, 18.0, 27.0]
    assert list(lines["trained-width"].get_ydata()) == [14.0, 51.0]
    assert list(lines["trained-none"].get_ydata()) == [528.0]  # two-layer k=4: none ≤ 528
    # side by side at each k
    assert np.all(lines["trained-width"].get_xdata() < lines["trained-width:rnn"].get_xdata()[:2])
