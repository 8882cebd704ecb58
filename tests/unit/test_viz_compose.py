"""Figures you can compose: every viz function draws on a given ``ax=`` / ``axes=`` exactly what
it draws on a figure of its own (read back from the Line2D objects), returns the figure of the
given axes, and several runs draw side by side (one column per run) or overlaid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from groupcomp.errors import ShapeError
from groupcomp.viz import (
    accuracy_figure,
    loss_figure,
    new_figure,
    overlay_figure,
    power_figure,
    runs_figure,
    staircase_figure,
)
from groupcomp.viz.results import drop_times_figure, final_loss_figure, width_heatmap
from groupcomp.viz.runs import power_curves_figure
from groupcomp.viz.scaling import scaling_figure
from groupcomp.viz.style import root_figure

LABELS = ["trivial", "sign", "rot1"]
THEORY = {
    "irrep_labels": LABELS,
    "order": [[2], [1]],
    "plateaus_mse": [505.0, 5.0, 0.0],
    "powers": [0.0, 30.0, 3000.0],
    "drop_steps": [150.0, 15000.0],
}


def _seq_metrics(scale: float = 1.0, seeds=(0, 1)) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        for step in (0, 10, 100, 1000, 10000):
            loss = scale * (500.0 * np.exp(-step / 200.0) + 5.0 * np.exp(-step / 5000.0)) + seed
            row = {"step": step, "seed": seed, "loss": loss}
            for lab, p in zip(LABELS, (0.0, 30.0, 3000.0), strict=True):
                row[f"irrep_loss/{lab}"] = loss * p / 3030.0
                row[f"power/{lab}"] = p * (1 - np.exp(-step / 300.0))
            rows.append(row)
    return pd.DataFrame(rows)


def _arith_metrics(with_power: bool) -> pd.DataFrame:
    rows = []
    for seed in (0, 1):
        for epoch in range(6):
            row = {
                "step": 3 * epoch,
                "epoch": epoch,
                "seed": seed,
                "loss": 1.0 / (epoch + 1) + 0.01 * seed,
                "train_acc": epoch / 5,
                "test_acc": epoch / 10,
                "train_loss": 1.0 / (epoch + 1),
                "test_loss": 2.0 / (epoch + 1),
            }
            if with_power:
                row["power/freq1"] = 1.0 + epoch
                row["power/freq2"] = 2.0 + epoch
            rows.append(row)
    return pd.DataFrame(rows)


SEQ_SUMMARY = {"kind": "sequence", "group": "D3", "k": 2, "model": "two_layer", "theory": THEORY}
ARITH_SUMMARY = {"kind": "arith", "group": "C23", "arith": {"task": "C23 compose", "loss": "mse"}}


def _data(fig_or_axes) -> dict[str, list[tuple[list, list]]]:
    """``{gid: [(xdata, ydata), ...]}`` of every Line2D with a gid."""
    axes = fig_or_axes.axes if isinstance(fig_or_axes, Figure) else fig_or_axes
    out: dict[str, list] = {}
    for ax in axes:
        for ln in ax.get_lines():
            if ln.get_gid():
                x = np.asarray(ln.get_xdata(), dtype=float).tolist()
                y = np.asarray(ln.get_ydata(), dtype=float).tolist()
                out.setdefault(ln.get_gid(), []).append((x, y))
    return out


def _same_on_given_axes(draw, n_axes: int = 1, key: str = "ax") -> None:
    """``draw(**{key: given})`` returns the given axes' figure and draws the same lines there
    as ``draw()`` on a figure of its own (which must have drawn something)."""
    alone = draw()
    fig, axes = new_figure(1, n_axes + 1)  # an extra, untouched panel
    axes = list(np.ravel(axes))
    given = axes[0] if n_axes == 1 and key == "ax" else axes[:n_axes]
    got = draw(**{key: given})
    assert got is fig
    want = _data(alone)
    assert want, "the figure drew no identifiable lines"
    assert _data(axes[:n_axes]) == want
    assert axes[-1].get_lines() == []  # nothing spilled onto other axes


def test_loss_figure_on_given_ax_draws_the_mean_loss_and_the_plateaus() -> None:
    m = _seq_metrics()
    _same_on_given_axes(lambda **kw: loss_figure(m, THEORY, title="x", **kw))
    fig, ax = new_figure()
    loss_figure(m, THEORY, ax=ax, logy=False)
    (mean,) = [ln for ln in ax.get_lines() if ln.get_gid() == "loss-mean"]
    want = m.groupby("step")["loss"].mean()
    np.testing.assert_allclose(mean.get_xdata(), want.index.to_numpy() + 1.0)
    np.testing.assert_allclose(mean.get_ydata(), want.to_numpy())
    levels = sorted(ln.get_ydata()[0] for ln in ax.get_lines() if ln.get_gid() == "theory-plateau")
    assert levels == sorted(THEORY["plateaus_mse"])


def test_power_staircase_and_power_curves_on_given_ax() -> None:
    m = _seq_metrics()
    _same_on_given_axes(lambda **kw: power_figure(m, THEORY["powers"], LABELS, logy=True, **kw))
    _same_on_given_axes(lambda **kw: staircase_figure(THEORY, **kw))
    a = _arith_metrics(with_power=True)
    _same_on_given_axes(lambda **kw: power_curves_figure(a, ["freq1", "freq2"], **kw))
    fig, ax = new_figure()
    power_figure(m, THEORY["powers"], LABELS, ax=ax)
    (rot1,) = [ln for ln in ax.get_lines() if ln.get_gid() == "learned-power:rot1"]
    np.testing.assert_allclose(rot1.get_ydata(), m.groupby("step")["power/rot1"].mean())


def test_accuracy_figure_on_one_or_two_given_axes() -> None:
    a = _arith_metrics(with_power=False)
    _same_on_given_axes(lambda **kw: accuracy_figure(a, **kw), n_axes=2, key="axes")
    fig, axes = new_figure(1, 2)
    accuracy_figure(a, axes=[axes[0]], title="only accuracy")
    gids = {ln.get_gid() for ln in axes[0].get_lines()}
    assert gids == {f"acc-{w}:{c}" for w in ("mean", "seed") for c in ("train_acc", "test_acc")}
    assert axes[0].get_title() == "only accuracy" and fig.get_suptitle() == ""
    assert axes[1].get_lines() == []
    with pytest.raises(ShapeError, match="1 or 2"):
        accuracy_figure(a, axes=list(new_figure(1, 3)[1]))


def test_results_and_scaling_figures_on_given_axes() -> None:
    from groupcomp.analysis.scaling import scaling_table
    from groupcomp.groups import dihedral
    from groupcomp.templates import fourier_template

    rng = np.random.default_rng(0)
    t = pd.DataFrame(
        [
            {
                "run_dir": f"r{k}{n}{h}",
                "seed": 0,
                "kind": "sequence",
                "model.name": "two_layer",
                "task.k": k,
                "group_order": n,
                "model.hidden": h,
                "final_loss_per_seed": float(rng.uniform(1e-3, 1)),
                "drops.0.predicted_step": 100.0 * n,
                "drops.0.observed_step": 130.0 * n,
            }
            for k in (2, 3)
            for n in (3, 5)
            for h in (8, 64)
        ]
    )
    _same_on_given_axes(lambda **kw: final_loss_figure(t, "model.hidden", "group_order", **kw))
    _same_on_given_axes(lambda **kw: drop_times_figure(t, **kw))
    _same_on_given_axes(lambda **kw: width_heatmap(t, **kw), n_axes=2, key="axes")
    G = dihedral(3)
    table = scaling_table(G, fourier_template(G, [0, 1, 1]), [2, 3, 4])
    _same_on_given_axes(lambda **kw: scaling_figure(table, **kw), n_axes=2, key="axes")
    with pytest.raises(ShapeError, match="2 panels"):
        width_heatmap(t, axes=[new_figure()[1]])


def test_axes_in_a_subfigure_return_the_root_figure() -> None:
    fig = Figure()
    sub = fig.subfigures(1, 2)
    ax = sub[1].subplots()
    assert root_figure(ax) is fig
    assert staircase_figure(THEORY, ax=ax) is fig
    with pytest.raises(ShapeError, match="Axes"):
        loss_figure(_seq_metrics(), THEORY, ax="not an axes")  # type: ignore[arg-type]


def test_runs_side_by_side_one_column_per_run_with_its_name() -> None:
    runs = [
        ("d3-a", _seq_metrics(1.0), SEQ_SUMMARY),
        ("z23-b", _arith_metrics(with_power=True), ARITH_SUMMARY),
        ("z23-c", _arith_metrics(with_power=False), ARITH_SUMMARY),
    ]
    fig = runs_figure(runs)
    panels = {ax.get_gid(): ax for ax in fig.axes if ax.get_gid()}
    assert set(panels) == {
        "run:d3-a:loss",
        "run:d3-a:power",
        "run:z23-b:accuracy",
        "run:z23-b:power",
        "run:z23-c:accuracy",
        "run:z23-c:losses",
    }
    # one column per run, left to right in the given order; loss / accuracy on top
    for name, *_rest in runs:
        top = [ax for gid, ax in panels.items() if gid.startswith(f"run:{name}:")]
        assert len(top) == 2
        xs = {round(ax.get_position().x0, 6) for ax in top}
        assert len(xs) == 1  # same column
        upper = max(top, key=lambda ax: ax.get_position().y0)
        assert upper.get_title().splitlines()[0] == name
    x0 = [panels[f"run:{n}:{p}"].get_position().x0 for n, p in
          [("d3-a", "loss"), ("z23-b", "accuracy"), ("z23-c", "accuracy")]]  # fmt: skip
    assert x0 == sorted(x0)
    # each panel holds that run's data
    (mean,) = [ln for ln in panels["run:d3-a:loss"].get_lines() if ln.get_gid() == "loss-mean"]
    np.testing.assert_allclose(mean.get_ydata(), runs[0][1].groupby("step")["loss"].mean())
    acc = [
        ln for ln in panels["run:z23-c:accuracy"].get_lines() if ln.get_gid() == "acc-mean:test_acc"
    ]
    np.testing.assert_allclose(acc[0].get_ydata(), [e / 10 for e in range(6)])
    with pytest.raises(ShapeError, match="more than once"):
        runs_figure([runs[0], runs[0]])


def test_overlay_puts_every_runs_loss_on_one_axes_labelled_by_name() -> None:
    runs = [
        ("small", _seq_metrics(1.0), SEQ_SUMMARY),
        ("large", _seq_metrics(3.0), SEQ_SUMMARY),
        ("arith", _arith_metrics(False), ARITH_SUMMARY),
    ]
    fig = overlay_figure(runs)
    (ax,) = fig.axes
    for name, m, _ in runs:
        (ln,) = [ln for ln in ax.get_lines() if ln.get_gid() == f"loss:{name}"]
        assert ln.get_label() == name
        want = m.groupby("step")["loss"].mean()
        np.testing.assert_allclose(ln.get_xdata(), want.index.to_numpy() + 1.0)
        np.testing.assert_allclose(ln.get_ydata(), want.to_numpy())  # all above the floor
    for name in ("small", "large"):
        lv = [
            ln.get_ydata()[0] for ln in ax.get_lines() if ln.get_gid() == f"theory-plateau:{name}"
        ]
        assert len(lv) == 3
    assert not [ln for ln in ax.get_lines() if ln.get_gid() == "theory-plateau:arith"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:3] == ["small", "large", "arith"]
