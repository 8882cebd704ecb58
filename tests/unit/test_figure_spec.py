"""Paper-figure specs (groupcomp.config.figures): every shipped spec names shipped presets whose
configs load, and bad specs are refused naming the key."""

from __future__ import annotations

import pytest

from groupcomp.config import PRESETS_BY_COMMAND, load_config
from groupcomp.config.figures import (
    FIGURE_ROWS,
    list_figures,
    load_figure_spec,
    parse_figure_spec,
)
from groupcomp.errors import ConfigError


def test_the_paper_figures_are_shipped() -> None:
    assert {"p1-fig1", "agf-modadd"} <= set(list_figures())
    spec = load_figure_spec("p1-fig1")
    # P1 Figure 1: five groups (C11, C5xC5, D5, O, A5) x three rows
    assert [c.label for c in spec.columns] == ["C11", "C5xC5", "D5", "O", "A5"]
    assert spec.rows == ("loss", "power", "neurons")


@pytest.mark.parametrize("name", list_figures())
def test_every_column_is_a_loadable_preset(name: str) -> None:
    spec = load_figure_spec(name)
    assert set(spec.rows) <= set(FIGURE_ROWS)
    names = spec.run_names()
    assert len(set(names)) == len(names)
    for col in spec.columns:
        assert col.preset in PRESETS_BY_COMMAND[col.command]
        cfg = load_config(col.preset, list(col.overrides))
        assert cfg.preset == col.preset


def test_p1_fig1_columns_use_the_authors_templates() -> None:
    """The authors' Figure-1 templates, translated by the upstream importer from their escnn
    irrep order to G.irreps() (O: their (0, 430, 100, 900, 1000) over (trivial, 3-dim rotation,
    3-dim, 2-dim, sign); A5: (0, 1300, 100, 2000, 600) over (trivial, 3, 5, 3, 4))."""
    from groupcomp.config.upstream import translate_upstream

    theirs = {
        "O": ("octahedral", [0, 430, 100, 900, 1000]),
        "A5": ("A5", [0, 1300, 100, 2000, 600]),
        "D5": ("dihedral", [0, 3000, 2000, 1000]),
    }
    spec = load_figure_spec("p1-fig1")
    by = {c.label: load_config(c.preset, list(c.overrides)) for c in spec.columns}
    for label, (name, powers) in theirs.items():
        data = {"group_name": name, "k": 2, "powers": powers, "template_type": "custom_fourier"}
        data |= {"batch_size": 128, "mode": "exhaustive"}
        if name == "dihedral":
            data["group_n"] = 5
        model = {"model_type": "TwoLayerNet", "hidden_dim": 50, "nonlinearity": "square"}
        training = {"optimizer": "per_neuron", "learning_rate": 1e-3, "epochs": 10}
        ours, _ = translate_upstream({"data": data, "model": model, "training": training})
        assert list(by[label].template.powers) == pytest.approx(ours["template.powers"])
    assert list(by["O"].template.powers) == [0, 1000, 900, 430, 100]
    assert list(by["A5"].template.powers) == [0, 1300, 2000, 600, 100]
    for cfg in by.values():
        assert cfg.task.k == 2


def _raw(**kw):
    raw = {"name": "x", "rows": ["loss"], "columns": [{"label": "a", "preset": "d3"}]}
    raw.update(kw)
    return raw


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (_raw(rows=["loss", "spectrum"]), "allowed values: loss, power, neurons"),
        (_raw(rows=[]), "rows"),
        (_raw(columns=[]), "columns"),
        (_raw(columns=[{"label": "a"}]), "columns[0].preset"),
        (_raw(columns=[{"label": "a", "preset": "d3", "seed": 1}]), "columns[0].seed"),
        (_raw(columns=[{"label": "a", "preset": "d3", "command": "cogs"}]), "command"),
        (
            _raw(columns=[{"label": "a", "preset": "d3"}, {"label": "a", "preset": "d5"}]),
            "distinct",
        ),
        (_raw(colour="red"), "colour"),
        ("not a mapping", "mapping"),
    ],
)
def test_bad_specs_name_the_key(raw, needle: str) -> None:
    with pytest.raises(ConfigError, match=None) as exc:
        parse_figure_spec(raw, "spec")
    assert needle in str(exc.value)


def test_duplicate_presets_get_distinct_run_folders() -> None:
    spec = parse_figure_spec(
        _raw(
            columns=[
                {"label": "a", "preset": "d3"},
                {"label": "b", "preset": "d3", "overrides": ["task.k=3"]},
                {"label": "c", "preset": "d5"},
            ]
        ),
        "spec",
    )
    assert spec.run_names() == ["d3-0", "d3-1", "d5"]


def test_unknown_figure_lists_the_allowed() -> None:
    with pytest.raises(ConfigError, match="p1-fig1"):
        load_figure_spec("p1-fig9")
