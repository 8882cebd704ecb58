"""Grokking scaling figure (P4, Li², Y. Tian, arXiv 2509.21519; docs/theory.md §6): final test
accuracy against the training fraction, one colour per group, with each group's critical
fraction ``c · M ln M / M²`` (``c = 2.7482``) as a dashed vertical line.

Data in: the table of :func:`groupcomp.collect` over arith runs (one row per run and seed; the
columns ``group``, ``arith.split.train_fraction``, ``arith.split.critical_fraction`` and
``arith.final.test_acc`` of every arith run's summary), :class:`~matplotlib.figure.Figure` out.
gids: ``"grok-seed:<group>"`` (one marker per run and seed), ``"grok-median:<group>"``,
``"grok-critical:<group>"``.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from groupcomp.errors import ShapeError
from groupcomp.viz.style import MEAN_LW, SEED_ALPHA, irrep_colors, new_figure, style_context

__all__ = ["GROKKING_COLUMNS", "grokking_scaling_figure"]

#: the columns :func:`grokking_scaling_figure` reads
GROKKING_COLUMNS = (
    "group",
    "arith.split.train_fraction",
    "arith.split.critical_fraction",
    "arith.final.test_acc",
)


def grokking_scaling_figure(
    table: pd.DataFrame, *, ax: Axes | None = None, title: str | None = None
) -> Figure:
    """Final test accuracy (each seed a dot, the median per fraction joined) against the
    training fraction (log axis), per group; dashed lines at the critical fractions."""
    if not isinstance(table, pd.DataFrame):
        raise ShapeError(
            f"grokking_scaling_figure: expected a DataFrame, got {type(table).__name__}"
        )
    missing = [c for c in GROKKING_COLUMNS if c not in table.columns]
    if missing or len(table) == 0:
        raise ShapeError(
            f"grokking_scaling_figure: needs the columns {list(GROKKING_COLUMNS)} of "
            f"groupcomp.collect over arith runs; missing {missing or 'rows'}"
        )
    df = table.dropna(subset=list(GROKKING_COLUMNS))
    groups = sorted(df["group"].astype(str).unique(), key=lambda g: (len(g), g))
    colors = irrep_colors(groups)
    with style_context():
        if ax is None:
            fig, ax = new_figure(figsize=(5.4, 3.4))
        else:
            fig = ax.figure
        for g in groups:
            sub = df[df["group"].astype(str) == g]
            x = sub["arith.split.train_fraction"].astype(float)
            y = sub["arith.final.test_acc"].astype(float)
            c = colors[g]
            ax.plot(x, y, "o", color=c, alpha=SEED_ALPHA + 0.3, ms=4, gid=f"grok-seed:{g}",
                    label="_nolegend_")  # fmt: skip
            med = y.groupby(x).median()
            ax.plot(med.index, med.to_numpy(), "-", color=c, lw=MEAN_LW, gid=f"grok-median:{g}",
                    label=g)  # fmt: skip
            crit = float(sub["arith.split.critical_fraction"].iloc[0])
            ax.axvline(crit, color=c, ls="--", lw=1.0, gid=f"grok-critical:{g}")
        ax.set_xscale("log")
        ax.set_ylim(-0.03, 1.05)
        ax.set_xlabel("training fraction (dashed: critical c·ln M / M)")
        ax.set_ylabel("final test accuracy")
        ax.legend(loc="best")
        ax.set_title(title or "grokking vs training fraction")
    return fig
