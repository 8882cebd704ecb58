"""Summary figures of a results table (:func:`groupcomp.runs.collect.collect_runs`): many runs
at once. Data in, :class:`~matplotlib.figure.Figure` out; nothing is written (use
:func:`groupcomp.viz.save_figure`). Every artist carries a ``gid``:

* :func:`final_loss_figure` — a per-seed value (default ``final_loss_per_seed``) against a config
  key, one colour per value of another key: ``"points:<hue value>"`` (one marker per row) and
  ``"median:<hue value>"`` (median over the rows at each x);
* :func:`drop_times_figure` — observed against predicted drop steps of sequence runs (one point
  per run and drop, from the summaries' ``drops``): ``"drop:<i>"`` per drop index and
  ``"diagonal"`` (observed = predicted);
* :func:`width_heatmap` — final loss over the two-layer width ``H`` (``model.hidden``) × group
  order ``|G|``, one panel per ``task.k``: ``"heatmap:k=<k>"`` (the mesh; its array holds the
  median per cell, rows = widths ascending, columns = orders ascending) and
  ``"boundary:k=<k>:m=<m>"`` (the line ``H = m·2^{k−1}|G|``, the theory boundary of the
  sequential-composition paper's scaling result, drawn for each ``m`` in ``boundary_m``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from groupcomp.errors import ConfigError, ShapeError
from groupcomp.viz.style import (
    THEORY_COLOR,
    THEORY_LS,
    THEORY_LW,
    new_figure,
    on_axes,
    style_context,
)

__all__ = [
    "default_axes",
    "drop_times_figure",
    "final_loss_figure",
    "results_figures",
    "width_heatmap",
]

#: value drawn by default: each row's (seed's) final loss
DEFAULT_VALUE = "final_loss_per_seed"
#: config keys never chosen as a default axis
_NOT_AXES = ("train.seeds", "preset", "kind", "train.progress")


def _require(table: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in table.columns]
    if missing:
        allowed = ", ".join(str(c) for c in table.columns[:40])
        raise ConfigError(f"{what}: no column {', '.join(missing)} in the table; have: {allowed}")


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _log_ok(values: np.ndarray) -> bool:
    v = values[np.isfinite(values)]
    return bool(v.size) and bool((v > 0).all()) and float(v.max() / v.min()) >= 20


def default_axes(table: pd.DataFrame) -> tuple[str | None, str | None]:
    """Default ``x`` and ``hue`` of :func:`final_loss_figure`: the first config key (in
    ``table.attrs["config_columns"]`` order, else column order) that varies, preferring
    numeric ones, and the next varying key with at most 10 values."""
    cols = table.attrs.get("config_columns") or list(table.columns)
    varying = [
        c
        for c in cols
        if c in table.columns and c not in _NOT_AXES and table[c].nunique(dropna=True) > 1
    ]
    numeric = [c for c in varying if _numeric(table[c])]
    x = numeric[0] if numeric else (varying[0] if varying else None)
    hue = next((c for c in varying if c != x and table[c].nunique(dropna=True) <= 10), None)
    return x, hue


def final_loss_figure(
    table: pd.DataFrame,
    x: str,
    hue: str | None = None,
    *,
    y: str = DEFAULT_VALUE,
    ax: Axes | None = None,
) -> Figure:
    """``y`` (default: each seed's final loss) against the column ``x``, one colour per value
    of ``hue``; markers per row and a line through the medians at each x. Numeric ``x`` is a
    numeric axis (log when positive and spanning ≥ 20×), other ``x`` categories in sorted
    order; ``y`` is log-scaled when positive and spanning ≥ 20×. Drawn on ``ax`` if given;
    returns the figure drawn on.

    Raises:
        ConfigError: a column is missing.
    """
    _require(table, [x, y] + ([hue] if hue else []), "final_loss_figure")
    t = table[table[y].notna() & table[x].notna()]
    numeric_x = _numeric(t[x])
    cats = [] if numeric_x else sorted(t[x].astype(str).unique())
    groups = [(None, t)] if hue is None else list(t.groupby(hue, dropna=False, sort=True))
    with style_context():
        fig, ax = on_axes(ax, (6.4, 4.2), "final_loss_figure")
        colors = [f"C{i % 10}" for i in range(len(groups))]
        for (value, g), color in zip(groups, colors, strict=True):
            key = "all" if hue is None else f"{value}"
            xs = (
                g[x].to_numpy(dtype=np.float64)
                if numeric_x
                else np.array([cats.index(v) for v in g[x].astype(str)], dtype=np.float64)
            )
            ys = g[y].to_numpy(dtype=np.float64)
            ax.plot(xs, ys, "o", color=color, alpha=0.45, ms=4, gid=f"points:{key}")
            ux = np.unique(xs)
            med = np.array([np.median(ys[xs == u]) for u in ux])
            label = None if hue is None else f"{hue}={value}"
            ax.plot(ux, med, "-", color=color, lw=1.8, label=label, gid=f"median:{key}")
        if numeric_x and _log_ok(t[x].to_numpy(dtype=np.float64)):
            ax.set_xscale("log")
        if not numeric_x:
            ax.set_xticks(range(len(cats)), cats, rotation=30 if len(cats) > 4 else 0)
        if _log_ok(t[y].to_numpy(dtype=np.float64)):
            ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(f"{y} vs {x}" + (f" per {hue}" if hue else "") + f" ({len(t)} rows)")
        if hue is not None:
            ax.legend(fontsize="small")
    return fig


def _drop_pairs(table: pd.DataFrame) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """``(i, predicted, observed)`` per drop index, one entry per run (rows deduplicated by
    ``run_dir``), finite positive pairs only."""
    runs = table.drop_duplicates("run_dir") if "run_dir" in table.columns else table
    out = []
    i = 0
    while f"drops.{i}.predicted_step" in runs.columns:
        pred_col, obs_col = f"drops.{i}.predicted_step", f"drops.{i}.observed_step"
        if obs_col in runs.columns:
            p = pd.to_numeric(runs[pred_col], errors="coerce").to_numpy(dtype=np.float64)
            o = pd.to_numeric(runs[obs_col], errors="coerce").to_numpy(dtype=np.float64)
            ok = np.isfinite(p) & np.isfinite(o) & (p > 0) & (o > 0)
            if ok.any():
                out.append((i, p[ok], o[ok]))
        i += 1
    return out


def drop_times_figure(table: pd.DataFrame, *, ax: Axes | None = None) -> Figure | None:
    """Observed against predicted drop steps (log-log), one colour per drop index, and the
    diagonal, on ``ax`` if given; returns the figure drawn on, or ``None`` (nothing drawn)
    when no run has both (e.g. arithmetic runs only, or no drop seen)."""
    pairs = _drop_pairs(table)
    if not pairs:
        return None
    with style_context():
        fig, ax = on_axes(ax, (5.0, 4.6), "drop_times_figure")
        lo, hi = math.inf, 0.0
        for i, p, o in pairs:
            ax.plot(
                p,
                o,
                "o",
                color=f"C{i % 10}",
                ms=5,
                alpha=0.8,
                label=f"drop {i + 1}",
                gid=f"drop:{i}",
            )
            lo, hi = min(lo, p.min(), o.min()), max(hi, p.max(), o.max())
        span = np.array([lo / 1.5, hi * 1.5])
        ax.plot(
            span,
            span,
            THEORY_LS,
            color=THEORY_COLOR,
            lw=THEORY_LW,
            label="observed = predicted",
            gid="diagonal",
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("predicted drop step")
        ax.set_ylabel("observed drop step")
        n = sum(len(p) for _, p, _ in pairs)
        ax.set_title(f"drop times: observed vs predicted ({n} drops)")
        ax.legend(fontsize="small")
    return fig


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges around sorted positive ``values``: geometric midpoints, ends mirrored."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 1:
        return np.array([v[0] / math.sqrt(2), v[0] * math.sqrt(2)])
    mid = np.sqrt(v[:-1] * v[1:])
    return np.concatenate([[v[0] ** 2 / mid[0]], mid, [v[-1] ** 2 / mid[-1]]])


def width_heatmap(
    table: pd.DataFrame,
    *,
    value: str = DEFAULT_VALUE,
    boundary_m: Sequence[float] = (1, 2, 4),
    axes: Sequence[Axes] | None = None,
) -> Figure | None:
    """Median ``value`` per (width ``model.hidden``, group order ``group_order``) cell of the
    two-layer sequence runs, one panel per ``task.k``, on log axes, with the lines
    ``H = m·2^{k−1}|G|`` for each ``m`` in ``boundary_m``. ``None`` where it does not apply:
    no two-layer sequence runs, or fewer than two cells in every panel.

    ``axes``: draw the panels on these (at least one per ``task.k`` that has a panel, in
    ascending k; extra axes are left alone) instead of a new figure; the figure drawn on is
    returned.

    Raises:
        ShapeError: fewer ``axes`` than panels.
    """
    need = ["model.hidden", "group_order", "task.k", value]
    if any(c not in table.columns for c in need):
        return None
    t = table
    if "kind" in t.columns:
        t = t[t["kind"] == "sequence"]
    if "model.name" in t.columns:
        t = t[t["model.name"] == "two_layer"]
    t = t[t[value].notna() & t["model.hidden"].notna() & t["group_order"].notna()]
    ks = sorted(int(k) for k in t["task.k"].dropna().unique())
    panels = []
    for k in ks:
        g = t[t["task.k"] == k]
        grid = g.groupby(["model.hidden", "group_order"])[value].median().unstack()
        if grid.size >= 2:
            panels.append((k, grid.sort_index().sort_index(axis=1)))
    if not panels:
        return None
    vals = np.concatenate([p.to_numpy(dtype=np.float64).ravel() for _, p in panels])
    vals = vals[np.isfinite(vals)]
    positive = vals.size and (vals > 0).all()
    norm = LogNorm(vals.min(), vals.max()) if positive and vals.max() > vals.min() else Normalize()
    with style_context():
        if axes is None:
            fig, axes = new_figure(1, len(panels), figsize=(4.6 * len(panels) + 0.8, 4.2))
            axes = np.atleast_1d(axes)
        else:
            given = list(np.ravel(axes))
            if len(given) < len(panels):
                raise ShapeError(
                    f"width_heatmap: {len(panels)} panels (one per task.k) need as many axes, "
                    f"got {len(given)}"
                )
            axes = [on_axes(a, (4.6, 4.2), "width_heatmap")[1] for a in given[: len(panels)]]
            fig = on_axes(axes[0], (4.6, 4.2), "width_heatmap")[0]
        mesh = None
        for ax, (k, grid) in zip(axes, panels, strict=True):
            hs = grid.index.to_numpy(dtype=np.float64)
            ns = grid.columns.to_numpy(dtype=np.float64)
            xe, ye = _edges(ns), _edges(hs)
            data = np.ma.masked_invalid(grid.to_numpy(dtype=np.float64))
            mesh = ax.pcolormesh(xe, ye, data, norm=norm, cmap="viridis", gid=f"heatmap:k={k}")
            xs = np.geomspace(xe[0], xe[-1], 50)
            for j, m in enumerate(boundary_m):
                ax.plot(
                    xs,
                    m * 2 ** (k - 1) * xs,
                    ls=("-", "--", ":", "-.")[j % 4],
                    color="w",
                    lw=1.4,
                    label=rf"$H = {m:g}\cdot 2^{{{k - 1}}}\,|G|$",
                    gid=f"boundary:k={k}:m={m:g}",
                )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(xe[0], xe[-1])
            ax.set_ylim(ye[0], ye[-1])
            ax.set_xticks(ns, [f"{int(n)}" for n in ns])
            ax.set_yticks(hs, [f"{int(h)}" for h in hs])
            ax.minorticks_off()
            ax.set_xlabel("group order |G|")
            ax.set_ylabel("width H (model.hidden)")
            ax.set_title(f"k = {k}")
            ax.legend(fontsize="x-small", loc="lower right", facecolor="0.5", framealpha=0.5)
        fig.colorbar(mesh, ax=list(axes), label=f"median {value}")
    return fig


def results_figures(
    table: pd.DataFrame, *, x: str | None = None, hue: str | None = None
) -> dict[str, Figure]:
    """The figures that apply to ``table``, by name: ``final_loss`` (needs a varying config
    key, or ``x``), ``drop_times`` and ``width_heatmap`` (see the module docstring).

    Raises:
        ConfigError: ``x`` or ``hue`` is not a column.
    """
    out: dict[str, Figure] = {}
    if not len(table):
        return out
    dx, dh = default_axes(table)
    x = x or dx
    hue = hue if hue is not None else (dh if x == dx else None)
    if x is not None and DEFAULT_VALUE in table.columns:
        out["final_loss"] = final_loss_figure(table, x, hue)
    elif x is not None or hue is not None:
        _require(table, [c for c in (x, hue) if c], "figures")
    drops = drop_times_figure(table)
    if drops is not None:
        out["drop_times"] = drops
    heat = width_heatmap(table)
    if heat is not None:
        out["width_heatmap"] = heat
    return out
