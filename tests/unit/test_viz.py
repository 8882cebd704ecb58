"""Tests for groupcomp.viz: the artists each figure draws, colours, and the atomic writer."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from groupcomp.errors import ConfigError, ShapeError
from groupcomp.viz import (
    accuracy_figure,
    irrep_colors,
    loss_figure,
    power_figure,
    save_figure,
    staircase_figure,
)
from groupcomp.viz.figures import LOG_FLOOR_REL, check_formats

LABELS = ["trivial", "rot1", "rot2", "sign"]
STEPS = np.array([0, 1, 2, 4, 9, 19, 49, 99, 199, 499, 999])
LOGGED = {0, 4, 49, 499, 999}


def _metrics(seeds=(0, 1), labels=LABELS, with_irreps=True) -> pd.DataFrame:
    rng = np.random.default_rng(123)
    rows = []
    for seed in seeds:
        for step in STEPS:
            parts = {
                lab: (0.4 / (i + 1)) * np.exp(-step / (50.0 * (i + 1)))
                for i, lab in enumerate(labels)
            }
            parts = {k: v * (1 + 0.05 * rng.random()) for k, v in parts.items()}
            loss = float(sum(parts.values()))
            row = {"step": int(step), "seed": seed, "loss": loss, "loss_p1": 2.0 * loss}
            for lab in labels if with_irreps else []:
                row[f"irrep_loss/{lab}"] = parts[lab] if step in LOGGED else np.nan
                row[f"power/{lab}"] = (0.5 - parts[lab]) if step in LOGGED else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


THEORY = {
    "irrep_labels": LABELS,
    "order": [[0], [1, 2], [3]],
    "plateaus_mse": [0.9, 0.5, 0.12, 0.03],
    "powers": [0.4, 0.3, 0.2, 0.1],
    "drop_steps": [10.0, 100.0, 600.0],
}


def _lines(fig: Figure, prefix: str):
    return [
        ln for ax in fig.axes for ln in ax.get_lines() if (ln.get_gid() or "").startswith(prefix)
    ]


def _dashed(ax):
    return [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]


# -- irrep colours -----------------------------------------------------------------------------


def test_irrep_colors_deterministic_and_order_independent():
    a = irrep_colors(LABELS)
    assert a == irrep_colors(list(LABELS))
    assert a == irrep_colors(list(reversed(LABELS)))
    assert set(a) == set(LABELS)
    assert len(set(a.values())) == len(LABELS)  # distinct within a figure
    assert all(isinstance(c, str) and c.startswith("#") for c in a.values())


def test_irrep_colors_many_labels_distinct():
    labels = ["trivial"] + [f"freq{i}" for i in range(1, 30)]
    cols = irrep_colors(labels)
    assert len(set(cols.values())) == len(labels)
    assert cols["trivial"] == irrep_colors(["trivial", "sign"])["trivial"]


# -- loss figure -------------------------------------------------------------------------------


def test_loss_figure_axes_and_theory_plateaus():
    df = _metrics()
    fig = loss_figure(df, THEORY, title="t")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "step + 1"
    assert ax.get_title() == "t"
    dashed = _dashed(ax)
    assert all(ln.get_gid() == "theory-plateau" for ln in dashed)
    ys = sorted(float(ln.get_ydata()[0]) for ln in dashed)
    assert ys == sorted(THEORY["plateaus_mse"])
    for ln in dashed:  # horizontal segments
        assert np.ptp(np.asarray(ln.get_ydata(), float)) == 0
    # plateau levels span the whole run (axes coordinates 0..1), whatever the drop times
    for ln in dashed:
        assert list(ln.get_xdata()) == [0, 1]
    drops = [ln for ln in ax.get_lines() if ln.get_gid() == "theory-drop"]
    assert sorted(float(ln.get_xdata()[0]) for ln in drops) == [11.0, 101.0, 601.0]
    assert all(ln.get_marker() == "v" for ln in drops)
    texts = {t.get_gid(): [] for t in ax.texts}
    for t in ax.texts:
        texts[t.get_gid()].append(t)
    drop_labels = sorted(t.get_text() for t in texts["theory-drop-label"])
    assert drop_labels == sorted(["trivial", "rot1 + rot2", "sign"])
    # level labels: value and what was learned before, never closer than 5 % of the y span
    levels = texts["theory-annotation"]
    assert sorted(t.get_text().split()[0] for t in levels) == sorted(
        f"{v:.3g}" for v in THEORY["plateaus_mse"]
    )
    assert any("after rot1 + rot2" in t.get_text() for t in levels)
    ys = sorted(np.log10(t.get_position()[1]) for t in levels)
    lo, hi = ax.get_ylim()
    assert min(np.diff(ys)) >= 0.05 * (np.log10(hi) - np.log10(lo)) * 0.9


def test_loss_figure_irrep_curves_count_and_colours():
    df = _metrics()
    fig = loss_figure(df, THEORY, logy=False)  # unclipped, to compare the values exactly
    irr = _lines(fig, "irrep-loss:")
    n_cols = sum(c.startswith("irrep_loss/") for c in df.columns)
    assert len(irr) == n_cols == len(LABELS)
    colors = irrep_colors(LABELS)
    for ln in irr:
        lab = ln.get_gid().split(":", 1)[1]
        assert to_hex(ln.get_color()) == colors[lab]
        assert ln.get_marker() == "o"
        # only logged steps, averaged over seeds
        assert sorted(np.asarray(ln.get_xdata()) - 1) == sorted(LOGGED)
        expected = df.dropna(subset=[f"irrep_loss/{lab}"]).groupby("step")[f"irrep_loss/{lab}"]
        np.testing.assert_allclose(ln.get_ydata(), expected.mean().to_numpy())
    assert _lines(loss_figure(df, THEORY, show_irreps=False), "irrep-loss:") == []


def test_loss_figure_seeds_and_mean():
    df = _metrics(seeds=(0, 1))
    fig = loss_figure(df)
    seeds = _lines(fig, "loss-seed")
    means = _lines(fig, "loss-mean")
    assert len(seeds) == 2
    assert len(means) == 1
    mean = df.groupby("step")["loss"].mean()
    np.testing.assert_array_equal(means[0].get_xdata(), mean.index.to_numpy() + 1)
    np.testing.assert_allclose(means[0].get_ydata(), mean.to_numpy(), rtol=0, atol=0)
    assert means[0].get_linewidth() > seeds[0].get_linewidth()
    assert seeds[0].get_alpha() < 1
    for ln, s in zip(seeds, (0, 1), strict=True):
        np.testing.assert_allclose(ln.get_ydata(), df.loc[df.seed == s, "loss"].to_numpy())
    # no theory → no dashed lines
    assert _dashed(fig.axes[0]) == []


def test_loss_figure_single_seed_has_no_seed_lines():
    fig = loss_figure(_metrics(seeds=(3,)), logy=False)
    assert _lines(fig, "loss-seed") == []
    assert len(_lines(fig, "loss-mean")) == 1
    assert fig.axes[0].get_yscale() == "linear"


def test_loss_figure_clips_zero_at_floor_and_handles_missing_drop_steps():
    df = _metrics(seeds=(0,), with_irreps=False)
    df.loc[df.step == STEPS[-1], "loss"] = 0.0
    theory = {k: v for k, v in THEORY.items() if k != "drop_steps"}
    theory["plateaus_mse"] = [0.9, 0.5, 0.12, 0.0]
    fig = loss_figure(df, theory)
    (mean,) = _lines(fig, "loss-mean")
    initial = df.loc[df.step == 0, "loss"].iloc[0]
    floor = LOG_FLOOR_REL * max(initial, 0.9)
    y = np.asarray(mean.get_ydata())
    assert np.all(y > 0)
    assert y[-1] == pytest.approx(floor)
    dashed = _dashed(fig.axes[0])
    assert len(dashed) == 4
    assert min(float(ln.get_ydata()[0]) for ln in dashed) == pytest.approx(floor)
    assert [ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "theory-drop"] == []
    # the floor is shown as such, not as data
    (fl,) = _lines(fig, "log-floor")
    assert float(fl.get_ydata()[0]) == pytest.approx(floor)
    assert "floor" in fl.get_label()
    # partially known drop steps are accepted too
    theory["drop_steps"] = [10, None, None]
    fig = loss_figure(df, theory)
    assert len([ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "theory-drop"]) == 1


def test_loss_figure_rejects_bad_input():
    with pytest.raises(ShapeError, match="loss"):
        loss_figure(pd.DataFrame({"step": [0, 1]}))
    bad = dict(THEORY, plateaus_mse=[1.0, 0.5])
    with pytest.raises(ShapeError, match="plateaus_mse"):
        loss_figure(_metrics(), bad)


# -- power figure ------------------------------------------------------------------------------


def test_power_figure_template_lines_and_skipping():
    labels = ["trivial", "rot1", "rot2", "sign"]
    df = _metrics(labels=labels)
    df["power/rot2"] = np.where(df["power/rot2"].notna(), 0.0, np.nan)  # learned nothing
    template = [0.25, 0.5, 0.0, 0.125]  # rot2: template 0 and learned 0 → skipped
    fig = power_figure(df, template, labels, title="p")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    dashed = _dashed(ax)
    got = {ln.get_gid().split(":", 1)[1]: float(ln.get_ydata()[0]) for ln in dashed}
    assert got == {"trivial": 0.25, "rot1": 0.5, "sign": 0.125}
    colors = irrep_colors(labels)
    for ln in dashed:
        lab = ln.get_gid().split(":", 1)[1]
        assert to_hex(ln.get_color()) == colors[lab]
    learned = {ln.get_gid().split(":", 1)[1] for ln in _lines(fig, "learned-power:")}
    assert learned == {"trivial", "rot1", "sign"}
    assert not any("rot2" in (ln.get_gid() or "") for ln in ax.get_lines())
    (rot1,) = _lines(fig, "learned-power:rot1")
    np.testing.assert_allclose(
        rot1.get_ydata(), df.dropna(subset=["power/rot1"]).groupby("step")["power/rot1"].mean()
    )


def test_power_figure_keeps_trivial_when_everything_zero_and_accepts_mapping():
    labels = ["trivial", "sign"]
    df = pd.DataFrame({"step": [0, 10], "seed": [0, 0], "power/trivial": [0.0, 0.0]})
    fig = power_figure(df, {"trivial": 0.0, "sign": 0.0}, labels)
    gids = {ln.get_gid() for ln in fig.axes[0].get_lines()}
    assert gids == {"template-power:trivial", "learned-power:trivial"}
    with pytest.raises(ShapeError):
        power_figure(df, [1.0], labels)


# -- staircase figure --------------------------------------------------------------------------


def test_staircase_figure_by_steps_and_by_index():
    fig = staircase_figure(THEORY, title="s")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    (stair,) = [ln for ln in ax.get_lines() if ln.get_gid() == "theory-staircase"]
    assert stair.get_linestyle() == "--"
    np.testing.assert_allclose(stair.get_ydata()[:-1], THEORY["plateaus_mse"])
    np.testing.assert_allclose(stair.get_xdata()[1:-1], [11.0, 101.0, 601.0])
    assert len([t for t in ax.texts if t.get_text().startswith("→ learn")]) == 3

    partial = dict(THEORY, drop_steps=[10.0, None, None])
    ax = staircase_figure(partial).axes[0]
    assert ax.get_xscale() == "linear"
    assert ax.get_xlabel() == "drop index"
    (stair,) = [ln for ln in ax.get_lines() if ln.get_gid() == "theory-staircase"]
    np.testing.assert_allclose(stair.get_xdata(), [0, 1, 2, 3, 4])


# -- accuracy figure ---------------------------------------------------------------------------


def _acc_metrics(with_loss=True) -> pd.DataFrame:
    rows = []
    for seed in (0, 1):
        for e in range(0, 60, 3):
            row = {
                "epoch": e,
                "seed": seed,
                "train_acc": min(1.0, e / 30),
                "test_acc": min(1.0, max(0.0, (e - 30) / 20)),
            }
            if with_loss:
                row["train_loss"] = float(np.exp(-e / 10))
                row["test_loss"] = 1.0 / (1 + e)
            rows.append(row)
    return pd.DataFrame(rows)


def test_accuracy_figure_panels_and_limits():
    df = _acc_metrics()
    fig = accuracy_figure(df, title="a")
    assert len(fig.axes) == 2
    acc_ax, loss_ax = fig.axes
    assert acc_ax.get_xscale() == "log"
    lo, hi = acc_ax.get_ylim()
    assert 0.0 <= lo and hi <= 1.05
    assert loss_ax.get_xscale() == "log" and loss_ax.get_yscale() == "log"
    means = {ln.get_gid() for ln in acc_ax.get_lines() if "mean" in ln.get_gid()}
    assert means == {"acc-mean:train_acc", "acc-mean:test_acc"}
    (test,) = [ln for ln in acc_ax.get_lines() if ln.get_gid() == "acc-mean:test_acc"]
    np.testing.assert_allclose(test.get_ydata(), df.groupby("epoch")["test_acc"].mean())
    np.testing.assert_allclose(test.get_xdata(), np.arange(0, 60, 3) + 1)
    assert len(_lines(fig, "acc-seed:")) == 4
    assert len(_lines(fig, "loss-mean:")) == 2

    only_acc = accuracy_figure(_acc_metrics(with_loss=False))
    assert len(only_acc.axes) == 1


# -- save_figure -------------------------------------------------------------------------------


def test_save_figure_writes_png_and_pdf_atomically(tmp_path):
    fig = staircase_figure(THEORY)  # small figure and low dpi: keeps the test fast
    stem = tmp_path / "sub" / "loss_lr0.1"
    paths = save_figure(fig, stem, formats=("png", "PDF"), dpi=40)
    assert [p.name for p in paths] == ["loss_lr0.1.png", "loss_lr0.1.pdf"]
    for p in paths:
        assert p.exists() and p.stat().st_size > 500
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert sorted(x.name for x in (tmp_path / "sub").iterdir()) == sorted(p.name for p in paths)
    # overwriting works and still leaves nothing behind
    save_figure(fig, stem, formats=("png",), dpi=40)
    assert len(list((tmp_path / "sub").iterdir())) == 2


def test_save_figure_default_is_png_only(tmp_path):
    fig = staircase_figure(THEORY)
    paths = save_figure(fig, tmp_path / "x", dpi=40)
    assert [p.name for p in paths] == ["x.png"] and sorted(tmp_path.iterdir()) == paths
    assert check_formats([".PNG", "pdf", "png"]) == ("png", "pdf")
    with pytest.raises(ConfigError, match=r"\['nope'\].*allowed values"):
        check_formats(["pdf", "nope"])


def test_save_figure_rejects_unknown_format_before_writing(tmp_path):
    fig = staircase_figure(THEORY)
    with pytest.raises(ConfigError, match="nope"):
        save_figure(fig, tmp_path / "x", formats=("png", "nope"))
    assert list(tmp_path.iterdir()) == []


def test_save_figure_cleans_up_on_failure(tmp_path, monkeypatch):
    fig = staircase_figure(THEORY)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(fig, tmp_path / "x", formats=("png",))
    assert list(tmp_path.iterdir()) == []


def test_viz_leaves_global_rcparams_alone():
    before = dict(matplotlib.rcParams)
    loss_figure(_metrics(), THEORY)
    accuracy_figure(_acc_metrics())
    after = dict(matplotlib.rcParams)
    assert {k for k in before if before[k] != after[k]} == set()


def test_loss_figure_no_staircase_out_of_scope_and_spikes_marked():
    df = _metrics(seeds=(0,), with_irreps=False)
    theory = dict(THEORY, scope={"order": False, "reason": "a linear network learns nothing"})
    stability = {
        "stable": False,
        "ends_mid_drop": True,
        "per_seed": [
            {"seed": 0, "stable": False, "worst_step": 50, "worst_loss": 2.0, "worst_from": 0.4}
        ],
    }
    fig = loss_figure(df, theory, stability=stability)
    ax = fig.axes[0]
    plateaus = _lines(fig, "theory-plateau")
    assert len(plateaus) == 1  # only the initial level: no staircase is predicted
    assert float(plateaus[0].get_ydata()[0]) == pytest.approx(THEORY["plateaus_mse"][0])
    assert _lines(fig, "theory-drop") == []
    assert any("linear" in t.get_text() for t in ax.texts if t.get_gid() == "theory-scope")
    (spike,) = _lines(fig, "spike")
    assert float(spike.get_xdata()[0]) == 51.0 and float(spike.get_ydata()[0]) == 2.0
    assert any(t.get_gid() == "mid-drop" for t in ax.texts)


def test_loss_and_power_figures_group_many_irreps():
    labels = ["trivial"] + [f"freq{i}" for i in range(1, 20)]
    steps = [0, 10, 100]
    rows = []
    for t in steps:
        row = {"step": t, "seed": 0, "loss": 1.0 / (t + 1)}
        for j, lab in enumerate(labels):
            row[f"irrep_loss/{lab}"] = (j + 1) / (t + 1)
            row[f"power/{lab}"] = (j + 1) * t
        rows.append(row)
    df = pd.DataFrame(rows)
    fig = loss_figure(df)
    irr = _lines(fig, "irrep-loss:")
    assert len(irr) == 9  # the 8 largest + one summed curve
    (others,) = _lines(fig, "irrep-loss:others")
    # the others are the 12 smallest (indices 0..11), summed
    np.testing.assert_allclose(others.get_ydata()[0], sum(range(1, 13)))
    fig = power_figure(df, np.arange(1, 21, dtype=float), labels)
    learned = [ln for ln in _lines(fig, "learned-power:")]
    assert len(learned) == 9
    # the 12 smallest, power (j + 1)·t for j = 0..11, summed: 78·t at steps 0, 10, 100
    assert _lines(fig, "log-floor") == []  # linear axis: no floor
    fig_log = power_figure(df, np.arange(1, 21, dtype=float), labels, logy=True)
    (fl,) = _lines(fig_log, "log-floor")  # the learned powers start at 0, below the floor
    assert float(fl.get_ydata()[0]) == pytest.approx(1e-6 * 20 * 100)
    (others,) = _lines(fig, "learned-power:others")
    np.testing.assert_allclose(others.get_ydata(), [0.0, 780.0, 7800.0])
    np.testing.assert_allclose(others.get_xdata(), [1.0, 11.0, 101.0])
