"""``groupcomp plot RUN RUN RUN``: one figure of several run folders (side by side or overlaid),
written to ``--out`` or a default path, never over an existing file without ``--force``; one
run keeps redrawing its own figures."""

from __future__ import annotations

import os

import numpy as np
import pytest
from matplotlib.figure import Figure

from groupcomp.api import plot, train
from groupcomp.cli import main
from groupcomp.config import ArithConfig, load_config
from groupcomp.errors import ConfigError
from groupcomp.runs import load_run
from groupcomp.viz import overlay_figure, runs_figure

SEQ = ["train.steps=60", "train.log_points=10", "train.checkpoints=1", "train.progress=false"]


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    a = train(load_config("d3", [*SEQ, "model.hidden=30"]), out, name="d3-h30", figures=False)
    b = train(load_config("d3", [*SEQ, "model.hidden=60"]), out, name="d3-h60", figures=False)
    ari = load_config(
        "arith_z23",
        ["group=Z7", "hidden=16", "epochs=8", "train.checkpoints=1", "train.progress=false"],
        schema=ArithConfig,
    )
    c = train(ari, out, name="z7", figures=False)
    return [r.run_dir for r in (a, b, c)]


@pytest.mark.slow
def test_plot_three_runs_one_figure_and_no_overwrite(three, tmp_path, capsys) -> None:
    target = tmp_path / "cmp.png"
    assert main(["plot", *map(str, three), "--out", str(target)]) == 0
    assert capsys.readouterr().out.split() == [str(target)]
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    size = target.stat().st_size
    # an existing file is refused (exit 2, one line naming it and --force) and left alone
    assert main(["plot", *map(str, three), "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "cmp.png exists" in err and "--force" in err
    assert target.stat().st_size == size
    assert main(["plot", *map(str, three), "--out", str(target), "--overlay", "--force"]) == 0
    assert target.stat().st_size != size  # redrawn: now the overlay
    # --out FILE.png contradicting --format is refused
    with pytest.raises(ConfigError, match="--format"):
        plot(three, ["pdf"], out=tmp_path / "x.png")


@pytest.mark.slow
def test_plot_default_path_in_the_current_folder(three, tmp_path) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        (p,) = plot(three[:2], overlay=True)
        assert p == tmp_path / "plot-d3-h30+d3-h60-overlay.png" and p.exists()
        with pytest.raises(ConfigError, match="exists"):
            plot(three[:2], overlay=True)
        (q,) = plot(three[:2], overlay=True, force=True)
        assert q == p
        (sub := tmp_path / "figs").mkdir()
        (r,) = plot(three[:2], out=sub)  # a folder: the default name in it
        assert r == sub / "plot-d3-h30+d3-h60.png" and r.exists()
    finally:
        os.chdir(cwd)


@pytest.mark.slow
def test_the_figure_holds_each_runs_data_in_its_column(three) -> None:
    """What api.plot draws: the loaded runs' metrics, one column per run with its name."""
    loaded = [load_run(p) for p in three]
    data = [(r.path.name, r.metrics, r.summary) for r in loaded]
    fig = runs_figure(data)
    assert isinstance(fig, Figure)
    tops = sorted(
        (ax for ax in fig.axes if ax.get_gid() in {"run:d3-h30:loss", "run:d3-h60:loss",
                                                   "run:z7:accuracy"}),
        key=lambda ax: ax.get_position().x0,
    )  # fmt: skip
    assert [ax.get_title().splitlines()[0] for ax in tops] == ["d3-h30", "d3-h60", "z7"]
    for ax, run in zip(tops[:2], loaded[:2], strict=True):
        (mean,) = [ln for ln in ax.get_lines() if ln.get_gid() == "loss-mean"]
        want = run.metrics.groupby("step")["loss"].mean()
        np.testing.assert_allclose(mean.get_ydata(), np.maximum(want.to_numpy(), 1e-300))
    over = overlay_figure(data)
    labels = [
        ln.get_label()
        for ln in over.axes[0].get_lines()
        if (ln.get_gid() or "").startswith("loss:")
    ]
    assert labels == ["d3-h30", "d3-h60", "z7"]


@pytest.mark.slow
def test_one_run_still_redraws_its_own_figures(three) -> None:
    paths = plot(three[0])
    assert paths and all(p.parent == three[0] / "figures" for p in paths)
    assert {p.stem for p in paths} >= {"loss", "power"}
