"""`groupcomp figure`: trains the missing runs of a figure, resumes interrupted ones, reuses
finished ones, draws one panel per (row, run) from the runs' own data, and never overwrites a
figure file without force."""

from __future__ import annotations

import json

import numpy as np
import pytest

from groupcomp.api import figure, train
from groupcomp.cli import main
from groupcomp.config import load_config
from groupcomp.config.figures import parse_figure_spec
from groupcomp.errors import ConfigError, ShapeError
from groupcomp.runs import load_run

pytestmark = pytest.mark.slow

FAST = ["train.steps=400", "train.threads=1", "train.progress=false", "train.checkpoints=4"]


def _spec():
    return parse_figure_spec(
        {
            "name": "tiny",
            "title": "tiny",
            "rows": ["loss", "power", "neurons"],
            "columns": [
                {"label": "D3", "preset": "d3", "overrides": FAST},
                {"label": "D3 k=3", "preset": "d3", "overrides": [*FAST, "task.k=3"]},
            ],
        },
        "tiny",
    )


def test_figure_trains_resumes_reuses_and_draws_the_runs_data(tmp_path) -> None:
    spec = _spec()
    folder = tmp_path / "tiny"
    # the second column exists but was interrupted: figure() must resume it
    cfg = load_config("d3", [*FAST, "task.k=3"])
    train(cfg, folder / "runs", name="d3-1", quiet=True, stop_after=100, figures=False)
    assert load_run(folder / "runs" / "d3-1").summary["status"] == "interrupted"

    res = figure(spec, tmp_path, quiet=True, formats=["png"])
    assert res["trained"] == ["D3", "D3 k=3"]
    assert [p.name for p in res["written"]] == ["tiny.png"]
    runs = [load_run(p) for p in res["runs"]]
    assert [r.summary["status"] for r in runs] == ["completed", "completed"]
    assert [int(r.config.task.k) for r in runs] == [2, 3]

    # the panels show the runs' data: the mean-loss line of each loss panel is the run's loss
    from groupcomp.viz.paper import paper_figure

    fig = paper_figure(spec, runs)
    panels = {ax.get_gid(): ax for ax in fig.axes if ax.get_gid()}
    assert set(panels) == {f"panel:{r}:{c}" for r in spec.rows for c in ("D3", "D3 k=3")}
    for label, run in zip(("D3", "D3 k=3"), runs, strict=True):
        (line,) = [ln for ln in panels[f"panel:loss:{label}"].lines if ln.get_gid() == "loss-mean"]
        loss = run.metrics.dropna(subset=["loss"]).groupby("step")["loss"].mean()
        y = np.asarray(line.get_ydata(), dtype=float)
        np.testing.assert_allclose(y[: len(loss)], np.maximum(loss.to_numpy(), y.min()), rtol=1e-6)
        # row 3 is the authors' per-neuron measure of this run: the same curves as drawn alone
        from matplotlib.figure import Figure

        from groupcomp.viz.neurons import neuron_fraction_figure

        alone = Figure().subplots()
        neuron_fraction_figure(run, ax=alone, which="out", normalize="peak", title=None)
        got = [ln.get_ydata() for ln in panels[f"panel:neurons:{label}"].lines]
        want = [ln.get_ydata() for ln in alone.lines]
        assert got and len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)

    # drawn into the caller's axes: the same panels, the caller's figure returned
    from matplotlib.figure import Figure

    mine = Figure()
    grid = mine.subplots(3, 2, squeeze=False)
    assert paper_figure(spec, runs, axes=grid) is mine
    assert {ax.get_gid() for ax in mine.axes} == set(panels)
    with pytest.raises(ShapeError, match="3 x 2"):
        paper_figure(spec, runs, axes=grid[:2])

    # a second call never overwrites the figure without force; with force it reuses the runs
    with pytest.raises(ConfigError, match="--force"):
        figure(spec, tmp_path, quiet=True, formats=["png"])
    again = figure(spec, tmp_path, quiet=True, formats=["png"], force=True)
    assert again["trained"] == []
    # explicit run folders: one per column
    with pytest.raises(ConfigError, match="one run folder per column"):
        figure(spec, tmp_path / "x", runs=[res["runs"][0]], formats=["png"])


def test_cli_lists_the_figures(capsys) -> None:
    assert main(["figure", "--list"]) == 0
    out = capsys.readouterr().out
    assert "p1-fig1" in out and "agf-modadd" in out and "C5xC5" in out


def test_cli_rejects_an_unknown_figure(capsys) -> None:
    assert main(["figure", "p1-fig9"]) == 2
    err = capsys.readouterr().err
    assert "unknown figure" in err and "p1-fig1" in err
    json.dumps(err)  # one plain line
