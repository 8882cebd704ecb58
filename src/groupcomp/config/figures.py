"""Paper figures as data: which runs make up a figure and which panels it draws.

A figure spec is a YAML file in ``groupcomp/config/presets/figure/`` (``groupcomp figure
--list``)::

    name: p1-fig1
    title: ...                       # the figure's suptitle
    paper: arXiv 2602.03655, Fig. 1  # what it reproduces
    rows: [loss, power, neurons]     # one panel row per entry (FIGURE_ROWS)
    columns:                         # one column per run
      - {label: C11, preset: c11}    # a `groupcomp train` preset (+ optional overrides)

``groupcomp figure NAME`` (:func:`groupcomp.api.figure`) trains the runs that are missing,
reuses finished ones, and draws the grid (:func:`groupcomp.viz.paper.paper_figure`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

from groupcomp.errors import ConfigError

__all__ = ["FIGURE_ROWS", "FigureColumn", "FigureSpec", "list_figures", "load_figure_spec"]

#: panel kinds a figure row may draw
FIGURE_ROWS: tuple[str, ...] = ("loss", "power", "neurons")


@dataclass(frozen=True)
class FigureColumn:
    """One run of a figure: a shipped preset of ``command`` with dotted ``overrides``."""

    label: str
    preset: str
    overrides: tuple[str, ...] = ()
    command: str = "train"


@dataclass(frozen=True)
class FigureSpec:
    """A paper figure: ``rows`` (panel kinds, :data:`FIGURE_ROWS`) × ``columns`` (runs)."""

    name: str
    title: str
    rows: tuple[str, ...]
    columns: tuple[FigureColumn, ...]
    paper: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def run_names(self) -> list[str]:
        """Run-folder name of each column: its preset, with ``-<column index>`` appended where
        two columns use the same preset."""
        presets = [c.preset for c in self.columns]
        return [p if presets.count(p) == 1 else f"{p}-{i}" for i, p in enumerate(presets)]


def list_figures() -> list[str]:
    """Names of the shipped figure specs (``groupcomp figure --list``)."""
    folder = resources.files("groupcomp.config") / "presets" / "figure"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _strings(value: object, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: must be a list of strings; got {value!r}")
    return tuple(value)


def _column(raw: object, i: int, where: str) -> FigureColumn:
    key = f"{where}: columns[{i}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: must be a mapping with label and preset; got {raw!r}")
    unknown = sorted(set(raw) - {"label", "preset", "overrides", "command"})
    if unknown:
        raise ConfigError(
            f"{key}.{unknown[0]}: unknown key; allowed: label, preset, overrides, command"
        )
    for req in ("label", "preset"):
        if not isinstance(raw.get(req), str) or not raw[req]:
            raise ConfigError(f"{key}.{req}: a non-empty string is required")
    command = raw.get("command", "train")
    if command not in ("train", "arith"):
        raise ConfigError(f"{key}.command: {command!r} is not allowed; allowed: train, arith")
    return FigureColumn(
        label=raw["label"],
        preset=raw["preset"],
        overrides=_strings(raw.get("overrides"), f"{key}.overrides"),
        command=command,
    )


def parse_figure_spec(raw: object, where: str) -> FigureSpec:
    """A :class:`FigureSpec` from the parsed YAML mapping ``raw`` (``where`` names it in
    errors)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a figure spec must be a mapping")
    allowed = {"name", "title", "rows", "columns", "paper", "notes"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"{where}: {unknown[0]}: unknown key; allowed: {', '.join(allowed)}")
    rows = _strings(raw.get("rows"), f"{where}: rows")
    bad = [r for r in rows if r not in FIGURE_ROWS]
    if not rows or bad:
        raise ConfigError(
            f"{where}: rows: {bad[0] if bad else 'empty'!r} is not allowed; allowed values: "
            f"{', '.join(FIGURE_ROWS)}"
        )
    columns = raw.get("columns")
    if not isinstance(columns, list) or not columns:
        raise ConfigError(f"{where}: columns: a non-empty list of runs is required")
    cols = tuple(_column(c, i, where) for i, c in enumerate(columns))
    labels = [c.label for c in cols]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"{where}: columns: labels must be distinct; got {labels}")
    return FigureSpec(
        name=str(raw.get("name", where)),
        title=str(raw.get("title", "")),
        rows=rows,
        columns=cols,
        paper=str(raw.get("paper", "")),
        notes=_strings(raw.get("notes"), f"{where}: notes"),
    )


def load_figure_spec(name: str) -> FigureSpec:
    """The shipped figure spec ``name`` (see :func:`list_figures`)."""
    import yaml

    names = list_figures()
    if name not in names:
        raise ConfigError(f"figure: unknown figure {name!r}; allowed: {', '.join(names)}")
    path = resources.files("groupcomp.config") / "presets" / "figure" / f"{name}.yaml"
    return parse_figure_spec(yaml.safe_load(path.read_text()), f"figure {name}")
