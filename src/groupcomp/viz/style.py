"""Shared figure style: irrep colours, line styles, rc parameters and figure construction.

Everything here is pure (no global matplotlib state is changed): figures are built with
:class:`matplotlib.figure.Figure` directly inside :func:`style_context`, a
:func:`matplotlib.rc_context` that is undone on exit.

Conventions used by every figure in :mod:`groupcomp.viz`:

* each irrep has one colour, given by :func:`irrep_colors`; the same set of labels always gets
  the same colours, whatever their order;
* time axes of staircases are logarithmic in ``step + 1`` (steps start at 0);
* theory is drawn dashed (plateaus, template powers) or dotted (predicted drop steps); measured
  curves are solid, the mean over seeds bold and individual seeds thin and transparent.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from groupcomp.errors import ShapeError

__all__ = [
    "DROP_LS",
    "MEAN_COLOR",
    "MEAN_LW",
    "SAVE_DPI",
    "SEED_ALPHA",
    "SEED_LW",
    "TEST_COLOR",
    "THEORY_COLOR",
    "THEORY_LS",
    "THEORY_LW",
    "TRAIN_COLOR",
    "TRIVIAL_COLOR",
    "group_label",
    "irrep_colors",
    "label_sort_key",
    "new_figure",
    "on_axes",
    "root_figure",
    "rc_params",
    "style_context",
]

# -- line styles -------------------------------------------------------------------------------

MEAN_COLOR = "#000000"  # measured loss, mean over seeds
MEAN_LW = 2.2
SEED_LW = 0.8
SEED_ALPHA = 0.35
THEORY_COLOR = "#4d4d4d"
THEORY_LS = "--"  # theory plateaus / template powers
THEORY_LW = 1.4
DROP_LS = ":"  # predicted drop steps
TRIVIAL_COLOR = "#7f7f7f"
TRAIN_COLOR = "#1f77b4"
TEST_COLOR = "#d62728"
SAVE_DPI = 150

# tab10 without its grey (reserved for the trivial irrep)
_PALETTE_SMALL = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
]


def rc_params() -> dict:
    """The rc parameters used for every figure (applied only inside :func:`style_context`)."""
    return {
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "legend.fontsize": 8,
        "legend.frameon": False,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.25,
        "grid.linewidth": 0.5,
        "lines.markersize": 4,
        "pdf.fonttype": 42,
        "svg.fonttype": "none",
    }


@contextlib.contextmanager
def style_context() -> Iterator[None]:
    """Apply :func:`rc_params` for the duration of the block (restores the previous state)."""
    with matplotlib.rc_context(rc_params()):
        yield


def require_table(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    """Raise :class:`ShapeError` unless ``df`` is a non-empty DataFrame with ``cols``."""
    if not isinstance(df, pd.DataFrame):
        raise ShapeError(f"{what}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ShapeError(f"{what}: lacks column(s) {missing}; it has {list(df.columns)}")
    if len(df) == 0:
        raise ShapeError(f"{what}: the table is empty")


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] = (6.4, 4.0)):
    """A constrained-layout :class:`Figure` (no pyplot) and its axes, squeezed like ``subplots``,
    in the house style (:func:`rc_params`: grid, no top/right spines, small fonts).

    This is the way to compose figures of your own from the ``groupcomp.viz`` functions, which
    all take ``ax=`` (or ``axes=``)::

        fig, (a, b) = new_figure(1, 2, figsize=(10, 4))
        loss_figure(metrics_a, theory_a, ax=a)
        loss_figure(metrics_b, theory_b, ax=b)
    """
    with style_context():
        fig = Figure(figsize=figsize, layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=True)
    return fig, axes


def root_figure(ax: Axes) -> Figure:
    """The top-level :class:`Figure` holding ``ax`` (also when ``ax`` is in a sub-figure)."""
    fig = ax.figure
    while fig is not None and not isinstance(fig, Figure):
        fig = fig.figure  # a SubFigure's parent chain ends at the Figure
    if fig is None:
        raise ShapeError("ax: the axes belongs to no figure")
    return fig


def on_axes(ax: Axes | None, figsize: tuple[float, float], what: str) -> tuple[Figure, Axes]:
    """``(figure, axes)`` to draw on: a new figure of ``figsize`` when ``ax`` is ``None``,
    else ``ax`` and its (root) figure. The convention of every ``*_figure`` function: given
    an axes it draws there and returns that axes' figure."""
    if ax is None:
        return new_figure(figsize=figsize)
    if not isinstance(ax, Axes):
        raise ShapeError(f"{what}: ax must be a matplotlib Axes, got {type(ax).__name__}")
    return root_figure(ax), ax


# -- irrep colours -----------------------------------------------------------------------------


def label_sort_key(label: str) -> tuple:
    """Natural sort key for irrep labels: ``trivial`` first, then ``rot2`` before ``rot10``."""
    parts = re.split(r"(\d+)", label)
    key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p != "")
    return (label != "trivial", key)


def irrep_colors(labels: Iterable[str]) -> dict[str, str]:
    """One colour (hex string) per irrep label, stable across figures.

    The colours depend only on the *set* of labels, not on their order: ``trivial`` is always
    grey, the other labels are sorted naturally (``rot2`` before ``rot10``) and take the colours
    of tab10 (minus its grey) in turn; with more than 9 non-trivial irreps they are spread evenly
    over the ``turbo`` colour map instead. Pass the full label list of the group (not a subset)
    so that every figure of a run shares the same assignment. Duplicates are ignored.
    """
    uniq = sorted(set(labels), key=label_sort_key)
    others = [lab for lab in uniq if lab != "trivial"]
    out: dict[str, str] = {}
    if "trivial" in uniq:
        out["trivial"] = TRIVIAL_COLOR
    if len(others) <= len(_PALETTE_SMALL):
        for lab, col in zip(others, _PALETTE_SMALL, strict=False):
            out[lab] = col
    else:
        cmap = matplotlib.colormaps["turbo"]
        for lab, t in zip(others, np.linspace(0.05, 0.95, len(others)), strict=True):
            out[lab] = to_hex(cmap(float(t)))
    return out


def group_label(labels: Sequence[str], indices: Iterable[int]) -> str:
    """``"rot1 + rot2"`` for the irreps with these indices."""
    return " + ".join(str(labels[int(i)]) for i in indices)
