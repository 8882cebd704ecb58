"""Scaling figure: exact-construction width and depth versus the sequence length k.

Data in (:func:`groupcomp.analysis.scaling_table`, optionally the ``trained`` table of
:func:`groupcomp.analysis.scaling_experiment`), :class:`~matplotlib.figure.Figure` out; nothing
is written (use :func:`groupcomp.viz.save_figure`). Every artist carries a ``gid``:

* width panel (log y): ``"two-layer-width"``, ``"rnn-width"``, ``"tree-width"`` (shared block),
  ``"tree-parallel-width"`` (widest level of the un-shared tree), ``"two-layer-fit"`` (the
  least-squares exponential of ``table.attrs["two_layer_width_fit"]``), ``"trained-width"``
  (markers: smallest trained two-layer width per k; ``"trained-width:rnn"`` /
  ``"trained-width:tree"`` when ``trained`` has a ``model`` column) and ``"trained-none"``
  (open markers at the largest width tried where no candidate reached the target; likewise
  ``"trained-none:rnn"`` ...);
* depth panel: ``"two-layer-depth"`` (1), ``"rnn-steps"`` (``k − 1``), ``"tree-depth"``
  (``⌈log₂ k⌉``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from groupcomp.errors import ShapeError
from groupcomp.viz.style import (
    THEORY_COLOR,
    THEORY_LW,
    new_figure,
    on_axes,
    require_table,
    style_context,
)

__all__ = ["scaling_figure"]

_TWO_LAYER = "#d62728"
_RNN = "#1f77b4"
_TREE = "#2ca02c"
_TRAINED = "#000000"
_MODEL_COLORS = {"two_layer": _TWO_LAYER, "rnn": _RNN, "tree": _TREE}

_TABLE_COLUMNS = (
    "k",
    "two_layer_width",
    "rnn_width",
    "tree_width",
    "two_layer_depth",
    "rnn_steps",
    "tree_depth",
)


def scaling_figure(
    table: pd.DataFrame,
    trained: pd.DataFrame | None = None,
    *,
    title: str | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Two panels against k: (left) hidden width on a log y axis — the two-layer construction
    width (exponential in k), the RNN width (constant), the tree's shared-block width and its
    widest level (``tree_parallel_width``, if present), the fitted exponential of the two-layer
    width (if ``table.attrs`` has it) and, from ``trained``, the smallest trained two-layer
    widths as markers; (right) depth — two-layer 1 nonlinear layer, RNN ``k − 1`` nonlinear
    steps (linear), tree ``⌈log₂ k⌉`` levels (logarithmic).

    Args:
        table: :func:`groupcomp.analysis.scaling_table` (columns ``k, two_layer_width,
            rnn_width, tree_width, two_layer_depth, rnn_steps, tree_depth``).
        trained: optional, columns ``k, smallest_width`` (NaN = no candidate reached the
            target; then ``max_width_tried``, if present, is drawn as an open marker).
        title: figure title (with ``axes``: the width panel's title).
        axes: draw on these two axes (width, depth) instead of a new figure.

    Returns:
        The :class:`~matplotlib.figure.Figure` drawn on (the axes' figure when given).

    Raises:
        ShapeError: missing columns or an empty table, or ``axes`` not two Axes.
    """
    require_table(table, _TABLE_COLUMNS, "scaling_figure table")
    if trained is not None:
        require_table(trained, ("k", "smallest_width"), "scaling_figure trained")
    t = table.sort_values("k")
    k = t["k"].to_numpy(dtype=np.float64)
    if axes is not None and len(list(np.ravel(axes))) != 2:
        raise ShapeError(f"scaling_figure: axes must be two Axes (width, depth), got {axes!r}")
    with style_context():
        if axes is None:
            fig, (ax_w, ax_d) = new_figure(1, 2, figsize=(9.0, 3.8))
        else:
            a_w, a_d = np.ravel(axes)
            fig, ax_w = on_axes(a_w, (4.5, 3.8), "scaling_figure")
            ax_d = on_axes(a_d, (4.5, 3.8), "scaling_figure")[1]
        ax_w.plot(
            k,
            t["two_layer_width"],
            "o-",
            color=_TWO_LAYER,
            lw=1.8,
            label="two-layer (exact)",
            gid="two-layer-width",
        )
        ax_w.plot(
            k, t["rnn_width"], "s--", color=_RNN, lw=1.6, label="RNN (exact)", gid="rnn-width"
        )
        ax_w.plot(
            k,
            t["tree_width"],
            "^:",
            color=_TREE,
            lw=1.6,
            ms=6,
            mfc="none",
            label="tree, shared block (exact)",
            gid="tree-width",
        )
        if "tree_parallel_width" in t.columns:
            ax_w.plot(
                k,
                t["tree_parallel_width"],
                "v-.",
                color=_TREE,
                lw=1.2,
                alpha=0.8,
                label="tree, widest level (exact)",
                gid="tree-parallel-width",
            )
        fit = table.attrs.get("two_layer_width_fit") if isinstance(table.attrs, dict) else None
        if fit and fit.get("slope_log2") is not None and len(k) >= 2:
            kk = np.linspace(k.min(), k.max(), 50)
            yy = 2.0 ** (fit["intercept_log2"] + fit["slope_log2"] * kk)
            ax_w.plot(
                kk,
                yy,
                ls="--",
                color=THEORY_COLOR,
                lw=THEORY_LW * 0.7,
                alpha=0.7,
                label=f"fit: ∝ {fit['base']:.2f}^k",
                gid="two-layer-fit",
            )
        if trained is not None and len(trained):
            models = (
                [(m, g) for m, g in trained.groupby("model", sort=False)]
                if "model" in trained.columns
                else [("two_layer", trained)]
            )
            for model, tr in models:
                tr = tr.sort_values("k")
                sw = tr["smallest_width"].to_numpy(dtype=np.float64)
                tk = tr["k"].to_numpy(dtype=np.float64)
                if len(models) > 1:  # side by side, so equal widths stay visible
                    tk = tk + {"two_layer": -0.08, "tree": 0.08}.get(str(model), 0.0)
                found = np.isfinite(sw)
                color = _MODEL_COLORS.get(str(model), _TRAINED) if len(models) > 1 else _TRAINED
                suffix = "" if model == "two_layer" else f":{model}"
                name = {"two_layer": "two-layer", "rnn": "RNN"}.get(str(model), str(model))
                if found.any():
                    ax_w.plot(
                        tk[found],
                        sw[found],
                        "D",
                        ls="none",
                        color=color,
                        mec=_TRAINED,
                        ms=6,
                        label=f"{name}, trained (smallest)",
                        gid="trained-width" + suffix,
                    )
                tried = (
                    tr["max_width_tried"].to_numpy(dtype=np.float64)
                    if "max_width_tried" in tr.columns
                    else np.full(len(tr), np.nan)
                )
                none = ~found & np.isfinite(tried)
                if none.any():
                    ax_w.plot(
                        tk[none],
                        tried[none],
                        "D",
                        ls="none",
                        mfc="none",
                        color=color,
                        ms=6,
                        label=f"{name} trained: none ≤ this width",
                        gid="trained-none" + suffix,
                    )
        ax_w.set_yscale("log")
        ax_w.set_xlabel("sequence length k")
        ax_w.set_ylabel("hidden width")
        ax_w.set_title(f"{title}: width" if (title and axes is not None) else "width")
        ax_w.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_w.legend(loc="upper left")

        ax_d.plot(
            k,
            t["two_layer_depth"],
            "o-",
            color=_TWO_LAYER,
            lw=1.8,
            label="two-layer: 1 layer",
            gid="two-layer-depth",
        )
        ax_d.plot(
            k, t["rnn_steps"], "s--", color=_RNN, lw=1.6, label="RNN: k − 1 steps", gid="rnn-steps"
        )
        ax_d.plot(
            k,
            t["tree_depth"],
            "^:",
            color=_TREE,
            lw=1.6,
            ms=6,
            label="tree: ⌈log₂ k⌉ levels",
            gid="tree-depth",
        )
        ax_d.set_xlabel("sequence length k")
        ax_d.set_ylabel("nonlinear depth")
        ax_d.set_title("depth")
        ax_d.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_d.yaxis.set_major_locator(MaxNLocator(integer=True))
        top = float(np.nanmax(t[["two_layer_depth", "rnn_steps", "tree_depth"]].to_numpy()))
        ax_d.set_ylim(0, math.ceil(top) + 0.5)
        ax_d.legend(loc="upper left")
        if title and axes is None:
            fig.suptitle(title)
    return fig
