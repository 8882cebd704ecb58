"""CoGS figures (Y. Tian, arXiv 2410.01779): solution-order histogram (the paper's Fig. 4), sum
potential dynamics (Fig. 3), constraint residuals over training, and the factorisation shares.

Data in (the tables of :mod:`groupcomp.analysis.cogs`), :class:`~matplotlib.figure.Figure` out;
nothing is written (use :func:`groupcomp.viz.save_figure`, e.g. with ``formats=("png",)``).
Every function takes ``ax=``: given an axes it draws there and returns that axes' figure,
otherwise it makes a new figure. Artists carry ``gid`` values named in each docstring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from groupcomp.errors import ShapeError
from groupcomp.viz.style import (
    MEAN_LW,
    SEED_ALPHA,
    SEED_LW,
    TEST_COLOR,
    THEORY_COLOR,
    THEORY_LS,
    THEORY_LW,
    TRAIN_COLOR,
    on_axes,
    require_table,
    style_context,
)

__all__ = [
    "PAPER_SHARES",
    "order_histogram_figure",
    "residuals_figure",
    "shares_figure",
    "sp_dynamics_figure",
]

#: the paper's table (q = 512, weight decay 5e-5): d → (order-4 share, order-6 share), in %
PAPER_SHARES: dict[int, tuple[float, float]] = {
    23: (47.07, 39.80),
    71: (72.57, 21.14),
    127: (82.96, 14.13),
}
_MARK_COLOR = "#d62728"


def order_histogram_figure(
    hist: Mapping[int, int],
    *,
    ax: Axes | None = None,
    title: str | None = None,
    marks: Sequence[int] = (4, 6),
    max_order: int | None = None,
) -> Figure:
    """Bars: number of frequency pairs per solution order (one count per pair ``{k, −k}``, as
    the paper's Fig. 4); dashed red lines at ``marks`` (the orders 4 and 6 of the
    constructions). ``hist``: ``{order: count}`` (:func:`groupcomp.analysis.cogs.order_histogram`).
    gids: ``"order-bars"``, ``"order-mark:<n>"``."""
    if not isinstance(hist, Mapping) or not hist:
        raise ShapeError("order_histogram_figure: hist must be a non-empty {order: count} mapping")
    orders = np.array(sorted(int(k) for k in hist))
    counts = np.array([int(hist[k]) for k in orders])
    top = int(max(orders.max(), *marks, 10 if max_order is None else max_order))
    with style_context():
        fig, ax = on_axes(ax, (4.6, 3.2), "order_histogram_figure")
        ax.bar(orders, counts, width=0.8, color="#1f77b4", gid="order-bars")
        for m in marks:
            ax.axvline(m, color=_MARK_COLOR, ls="--", lw=1.0, gid=f"order-mark:{m}")
        ax.set_xlim(-0.5, top + 0.5)
        ax.set_xlabel("solution order (nodes with |z_a,k| > threshold)")
        ax.set_ylabel("frequency pairs")
        if title:
            ax.set_title(title)
    return fig


def _per_seed(ax: Axes, df: pd.DataFrame, col: str, color: str, label: str, gid: str) -> None:
    seeds = sorted(df["seed"].unique()) if "seed" in df.columns else [None]
    if len(seeds) > 1:
        for s in seeds:
            sub = df.loc[df["seed"] == s].sort_values("epoch")
            ax.plot(
                sub["epoch"],
                sub[col],
                color=color,
                lw=SEED_LW,
                alpha=SEED_ALPHA,
                gid=f"{gid}-seed",
                label="_nolegend_",
            )
    mean = df.groupby("epoch")[col].mean()
    ax.plot(mean.index, mean.to_numpy(), color=color, lw=MEAN_LW, gid=f"{gid}-mean", label=label)


def sp_dynamics_figure(
    dynamics: pd.DataFrame, *, ax: Axes | None = None, title: str | None = None
) -> Figure:
    """The paper's Fig. 3 (right): ``Σ_{k≠0} Re r_kkk`` (→ ``d − 1``, dashed) and the signed
    off-diagonal sum ``Σ Re r_{k1k2k}`` (→ 0) against epoch; means over seeds bold, seeds thin.
    ``dynamics``: :func:`groupcomp.analysis.cogs.sp_dynamics` (columns ``epoch``, ``diag``,
    ``offdiag``, ``d``, optionally ``seed``). gids: ``"sp-diag-mean"``, ``"sp-offdiag-mean"``
    (``-seed`` per seed), ``"sp-target"``, ``"sp-zero"``."""
    require_table(dynamics, ["epoch", "diag", "offdiag", "d"], "sp_dynamics_figure")
    d = int(dynamics["d"].iloc[0])
    with style_context():
        fig, ax = on_axes(ax, (5.0, 3.2), "sp_dynamics_figure")
        _per_seed(ax, dynamics, "diag", TRAIN_COLOR, "diag Σ r_kkk", "sp-diag")
        _per_seed(ax, dynamics, "offdiag", TEST_COLOR, "off-diag Σ r_k1k2k", "sp-offdiag")
        ax.axhline(d - 1, color=THEORY_COLOR, ls=THEORY_LS, lw=THEORY_LW, gid="sp-target")
        ax.axhline(0.0, color=THEORY_COLOR, ls=":", lw=0.8, gid="sp-zero")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(left=0)
        ax.set_xlabel("epoch")
        ax.set_ylabel("summed sum potentials")
        ax.legend(loc="best")
        ax.set_title(title or f"sum potentials (d = {d}; target d − 1 = {d - 1})")
    return fig


_RES_COLS = {
    "r_kkk_residual": ("|1 − r_kkk|", "#1f77b4"),
    "R_c": ("R_c", "#ff7f0e"),
    "R_n": ("R_n", "#2ca02c"),
    "R_*": ("R_*", "#9467bd"),
}


def residuals_figure(
    dynamics: pd.DataFrame, *, ax: Axes | None = None, title: str | None = None
) -> Figure:
    """Residual of each constraint family of Theorem 1 against epoch (log-log; ``loss on all
    pairs = Σ residual² / d``). gids: ``"res-mean:<family>"``, ``"res-mean:<family>-seed"``."""
    require_table(dynamics, ["epoch", *_RES_COLS], "residuals_figure")
    df = dynamics.copy()
    floor = 1e-12
    with style_context():
        fig, ax = on_axes(ax, (5.0, 3.2), "residuals_figure")
        for col, (label, color) in _RES_COLS.items():
            df[col] = df[col].clip(lower=floor)
            _per_seed(ax, df, col, color, label, f"res-mean:{col}")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(left=0)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("residual")
        ax.legend(loc="best")
        ax.set_title(title or "constraint residuals (Theorem 1)")
    return fig


def shares_figure(
    seeds: pd.DataFrame, *, ax: Axes | None = None, title: str | None = None
) -> Figure:
    """Share of frequency pairs per kind (mean over seeds; bars ``"share:<kind>"``) and, where
    the group order is one of the paper's (23, 71, 127), the paper's order-4 / order-6 shares
    (markers ``"paper-share"``; they are shares of the factorisable blocks, our
    ``paper/order-4`` and ``paper/order-6`` columns, drawn as ``"paper-ours"``).
    ``seeds``: the per-seed table of :func:`groupcomp.analysis.cogs.factorize_run`."""
    share_cols = [c for c in seeds.columns if c.startswith("share/")] if len(seeds) else []
    require_table(seeds, ["d", *share_cols] or ["share/order-4"], "shares_figure")
    kinds = [c.split("/", 1)[1] for c in share_cols]
    means = [100 * float(seeds[c].mean()) for c in share_cols]
    d = int(seeds["d"].iloc[0])
    with style_context():
        fig, ax = on_axes(ax, (5.4, 3.2), "shares_figure")
        x = np.arange(len(kinds))
        for i, (kind, m) in enumerate(zip(kinds, means, strict=True)):
            ax.bar(i, m, width=0.7, color="#1f77b4", gid=f"share:{kind}")
        idx = {k: i for i, k in enumerate(kinds)}
        ours = [
            (idx[k], 100 * float(np.nanmean(seeds[f"paper/{k}"])))
            for k in ("order-4", "order-6")
            if k in idx and f"paper/{k}" in seeds.columns and seeds[f"paper/{k}"].notna().any()
        ]
        if ours:
            ax.plot(*zip(*ours, strict=True), "D", color="#000000", gid="paper-ours",
                    label="ours, of factorisable")  # fmt: skip
        if d in PAPER_SHARES:
            p4, p6 = PAPER_SHARES[d]
            pts = [(idx[k], v) for k, v in (("order-4", p4), ("order-6", p6)) if k in idx]
            ax.plot(*zip(*pts, strict=True), "o", mfc="none", mec=_MARK_COLOR, ms=8,
                    gid="paper-share", label=f"paper, d = {d}")  # fmt: skip
        ax.set_xticks(x, kinds, rotation=20)
        ax.set_ylim(0, 105)
        ax.set_ylabel("% of frequency pairs")
        if ours or d in PAPER_SHARES:
            ax.legend(loc="best")
        ax.set_title(title or f"solution types (d = {d}, {len(seeds)} seed(s))")
    return fig
