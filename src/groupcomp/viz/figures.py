"""One function per figure: data in, :class:`matplotlib.figure.Figure` out.

No function here touches the disk except :func:`save_figure`, which callers use to write a
figure. Figures are built without pyplot (so they work headless and leave no global state);
each line carries a ``gid`` naming what it shows (``"loss-mean"``, ``"loss-seed"``,
``"irrep-loss:<label>"``, ``"theory-plateau"``, ``"theory-drop"``, ``"learned-power:<label>"``,
``"template-power:<label>"``, ``"theory-staircase"``, ``"acc-mean:<col>"``, ...), which tests
and callers can use to find them.

Every figure function takes ``ax=`` (``accuracy_figure``: ``axes=``, it has two panels): given
axes, it draws there and returns their :class:`~matplotlib.figure.Figure`; otherwise it makes a
new figure in the house style (:mod:`groupcomp.viz.style`). So several runs compose on one
figure: ``fig, (a, b) = new_figure(1, 2); loss_figure(m1, th1, ax=a); loss_figure(m2, th2,
ax=b)``.

Units: losses are mean-MSE (``torch.nn.MSELoss()``), as in the metrics tables and in
``Staircase.to_dict()["plateaus_mse"]``. Time axes are ``step + 1`` on a log scale.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from groupcomp.errors import ConfigError, ShapeError
from groupcomp.viz.style import (
    DROP_LS,
    MEAN_COLOR,
    MEAN_LW,
    SAVE_DPI,
    SEED_ALPHA,
    SEED_LW,
    TEST_COLOR,
    THEORY_COLOR,
    THEORY_LS,
    THEORY_LW,
    TRAIN_COLOR,
    group_label,
    irrep_colors,
    new_figure,
    on_axes,
    style_context,
)

__all__ = [
    "LOG_FLOOR_REL",
    "accuracy_figure",
    "loss_figure",
    "power_figure",
    "DEFAULT_FORMATS",
    "check_formats",
    "save_figure",
    "staircase_figure",
]

#: Formats :func:`save_figure` writes unless told otherwise: PNG only. A PDF costs as much again
#: as the PNG (another full draw, font subsetting): ask for it (``formats=("png", "pdf")``,
#: ``groupcomp train ... --format png pdf``).
DEFAULT_FORMATS: tuple[str, ...] = ("png",)

#: With a log y axis, values are clipped at ``LOG_FLOOR_REL × initial loss`` so zeros plot.
LOG_FLOOR_REL = 1e-6

_IRREP_LOSS = "irrep_loss/"
_POWER = "power/"


# -- helpers -----------------------------------------------------------------------------------


def _require_columns(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ShapeError(f"{what}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ShapeError(
            f"{what}: metrics table lacks column(s) {missing}; it has {list(df.columns)}"
        )


def _mean_over_seeds(df: pd.DataFrame, key: str, col: str) -> pd.Series:
    """Mean of ``col`` over seeds at each value of ``key`` (rows where ``col`` is NaN dropped)."""
    sub = df[[key, col]].dropna()
    return sub.groupby(key, sort=True)[col].mean()


def _seeds(df: pd.DataFrame) -> list:
    return sorted(df["seed"].dropna().unique()) if "seed" in df.columns else []


def _first_finite(values: Any) -> float:
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(arr[0]) if arr.size else math.nan


@dataclass(frozen=True)
class _Theory:
    labels: list[str]
    order: list[list[int]]
    plateaus: np.ndarray  # (len(order) + 1,)
    drop_steps: list[float | None]  # (len(order),), None where not predicted
    staircase: bool = True  # the theory predicts a staircase for this network
    reason: str = ""  # why not (theory["scope"]["reason"])

    @property
    def n_drops(self) -> int:
        return len(self.order)

    def group_text(self, i: int) -> str:
        return group_label(self.labels, self.order[i])

    def group_first_label(self, i: int) -> str | None:
        return self.labels[int(self.order[i][0])] if self.order[i] else None

    @property
    def all_drops_known(self) -> bool:
        return all(d is not None for d in self.drop_steps)


def _parse_theory(theory: Any) -> _Theory:
    """Validate a ``Staircase.to_dict()`` dict (or anything with ``to_dict()``)."""
    if hasattr(theory, "to_dict") and not isinstance(theory, Mapping):
        theory = theory.to_dict()
    if not isinstance(theory, Mapping):
        raise ShapeError(f"theory: expected a dict from Staircase.to_dict(), got {type(theory)}")
    missing = [k for k in ("irrep_labels", "order", "plateaus_mse") if k not in theory]
    if missing:
        raise ShapeError(f"theory: missing key(s) {missing}")
    labels = [str(x) for x in theory["irrep_labels"]]
    order = [[int(i) for i in grp] for grp in theory["order"]]
    for grp in order:
        for i in grp:
            if not 0 <= i < len(labels):
                raise ShapeError(f"theory: irrep index {i} out of range for {len(labels)} irreps")
    plateaus = np.asarray(theory["plateaus_mse"], dtype=float).reshape(-1)
    if plateaus.size != len(order) + 1:
        raise ShapeError(
            f"theory: plateaus_mse has {plateaus.size} values, expected len(order) + 1 = "
            f"{len(order) + 1}"
        )
    raw = theory.get("drop_steps")
    drops: list[float | None] = [None] * len(order)
    if raw is not None:
        raw = list(raw)
        if len(raw) != len(order):
            raise ShapeError(f"theory: drop_steps has {len(raw)} values, expected {len(order)}")
        for i, d in enumerate(raw):
            if d is not None and math.isfinite(float(d)):
                drops[i] = float(d)
    scope = theory.get("scope") if isinstance(theory.get("scope"), Mapping) else {}
    return _Theory(
        labels,
        order,
        plateaus,
        drops,
        staircase=bool(scope.get("order", True)),
        reason=str(scope.get("reason", "")),
    )


def _clipper(floor: float | None):
    if floor is None:
        return lambda y: np.asarray(y, dtype=float)
    return lambda y: np.maximum(np.asarray(y, dtype=float), floor)


def _log_floor(*levels: float) -> float:
    finite = [abs(v) for v in levels if math.isfinite(v) and v != 0]
    return LOG_FLOOR_REL * max(finite) if finite else 1e-12


def _legend_outside(ax: Axes, extra: Sequence[Line2D] = ()) -> None:
    handles, labels = ax.get_legend_handles_labels()
    handles = list(handles) + list(extra)
    labels = list(labels) + [h.get_label() for h in extra]
    if handles:
        ncol = 2 if len(handles) > 14 else 1
        ax.legend(
            handles,
            labels,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0.0,
            ncol=ncol,
        )


def _spread(values: Sequence[float], gap: float) -> list[float]:
    """Positions as close as possible to ``values`` with consecutive ones at least ``gap``
    apart (same order; used to keep labels from overlapping)."""
    idx = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    prev = -math.inf
    for i in idx:
        out[i] = max(values[i], prev + gap)
        prev = out[i]
    return out


def _draw_theory_on_loss(
    ax: Axes,
    th: _Theory,
    xlo: float,
    xhi: float,
    clip,
    colors: dict[str, str],
    *,
    logy: bool,
    y_span: tuple[float, float],
) -> int:
    """Plateau levels as dashed lines across the whole run, each labelled at the right edge
    with its value and the irreps learned before it (labels spread so they never overlap);
    predicted drops as triangles on the top edge, labels staggered when drops are close."""
    if not th.staircase:
        ax.axhline(
            float(clip(th.plateaus[0])),
            ls=THEORY_LS,
            lw=THEORY_LW,
            color=THEORY_COLOR,
            gid="theory-plateau",
            label="initial loss (theory: no staircase)",
            zorder=3,
        )
        if th.reason:
            ax.text(
                0.02,
                0.03,
                "theory: " + th.reason,
                transform=ax.transAxes,
                fontsize=7,
                color=THEORY_COLOR,
                gid="theory-scope",
            )
        return 0
    levels = np.asarray(clip(th.plateaus), dtype=float)
    for i, y in enumerate(levels):
        ax.axhline(
            y,
            ls=THEORY_LS,
            lw=THEORY_LW,
            color=THEORY_COLOR,
            gid="theory-plateau",
            label="theory plateaus" if i == 0 else "_nolegend_",
            zorder=3,
        )
    # level labels at the right edge, spread in (log) y so that they do not overlap
    lo, hi = y_span
    if logy:
        pos = np.log10(np.maximum(levels, 1e-300))
        span = max(math.log10(hi) - math.log10(lo), 1e-9)
    else:
        pos = levels
        span = max(hi - lo, 1e-12)
    placed = _spread(list(pos), 0.055 * span)
    for i, yp in enumerate(placed):
        text = f"{th.plateaus[i]:.3g}"
        if i > 0:
            text += f" after {th.group_text(i - 1)}"
        first = th.group_first_label(i - 1) if i > 0 else None
        ax.text(
            0.995,
            10**yp if logy else yp,
            text,
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="bottom",
            fontsize=7,
            color=colors.get(first, THEORY_COLOR) if first else THEORY_COLOR,
            gid="theory-annotation",
            zorder=6,
        )
    # predicted drops: marks on the top edge, labels staggered when close in log x
    known = [(i, d + 1.0) for i, d in enumerate(th.drop_steps) if d is not None]
    # a label takes ≈ 0.013 of the axis width per character: stagger labels closer than that
    x_decades = max(math.log10(max(xhi, xlo * 10) / xlo), 1.0)
    last_x, last_len, row, rows = -math.inf, 0, 0, 0
    for j, (i, x) in enumerate(known):
        lx = math.log10(x)
        half = 0.0065 * x_decades * (last_len + len(th.group_text(i)))
        row = (row + 1) % 2 if lx - last_x < half else 0
        rows = max(rows, row + 1)
        last_x, last_len = lx, len(th.group_text(i))
        first = th.group_first_label(i)
        col = colors.get(first, THEORY_COLOR) if first is not None else THEORY_COLOR
        ax.plot(
            [x],
            [1.0],
            marker="v",
            ms=7,
            color=col,
            transform=ax.get_xaxis_transform(),
            clip_on=False,
            gid="theory-drop",
            label="predicted drops (closed form)" if j == 0 else "_nolegend_",
            zorder=5,
        )
        ax.text(
            x,
            1.035 + 0.045 * row,
            th.group_text(i),
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=7,
            color=col,
            gid="theory-drop-label",
        )
    return rows


def _draw_observed(ax: Axes, steps_loss: pd.Series, observed: Mapping | None, clip) -> None:
    """Hollow circles on the loss curve at the observed drops."""
    if not observed:
        return
    drops = [d for d in (observed.get("drop_steps") or []) if d is not None]
    if not drops or steps_loss.empty:
        return
    idx = steps_loss.index.to_numpy()
    xs, ys = [], []
    for d in drops:
        j = int(np.searchsorted(idx, d).clip(0, len(idx) - 1))
        xs.append(float(idx[j]) + 1.0)
        ys.append(float(clip(steps_loss.iloc[j])))
    ax.plot(
        xs,
        ys,
        ls="none",
        marker="o",
        ms=8,
        mfc="none",
        mec="#444444",
        mew=1.2,
        gid="observed-drop",
        label="observed drops",
        zorder=6,
    )


def _draw_stability(ax: Axes, stability: Mapping | None, clip) -> None:
    """A red cross at the worst spike of every unstable seed; a note when the run ends
    mid-drop."""
    if not stability:
        return
    first = True
    for st in stability.get("per_seed") or []:
        if st.get("stable", True) or st.get("worst_step") is None:
            continue
        x, y = float(st["worst_step"]) + 1.0, float(clip(st["worst_loss"]))
        ax.plot(
            [x],
            [y],
            ls="none",
            marker="x",
            ms=9,
            mew=2,
            color="#d7191c",
            gid="spike",
            label="loss spike (run unstable)" if first else "_nolegend_",
            zorder=7,
        )
        ax.annotate(
            f"spike {st['worst_from']:.3g} → {st['worst_loss']:.3g}",
            xy=(x, y),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=7,
            color="#d7191c",
            gid="spike-label",
        )
        first = False
    if stability.get("ends_mid_drop"):
        ax.text(
            0.995,
            0.03,
            "loss still falling at the end: the last plateau is not reached",
            transform=ax.transAxes,
            ha="right",
            fontsize=7,
            color="#d7191c",
            gid="mid-drop",
        )


def _plot_summed(ax: Axes, series: Sequence[pd.Series], clip, gid: str, label: str) -> None:
    """One grey curve: the sum of ``series`` (indexed by step) against ``step + 1``."""
    total = sum(series)
    ax.plot(
        total.index.to_numpy() + 1.0,
        clip(total.to_numpy()),
        lw=1.1,
        marker="o",
        ms=2,
        color="#999999",
        gid=gid,
        label=label,
        zorder=3,
    )


def _draw_floor(ax: Axes, floor: float) -> None:
    """The floor of a log axis (:data:`LOG_FLOOR_REL` × the largest level), drawn as such:
    values below it are drawn on it."""
    ax.axhline(
        floor,
        ls=":",
        lw=1.0,
        color="#999999",
        gid="log-floor",
        label="axis floor (lower values drawn on it)",
        zorder=1,
    )


def _top_and_others(peaks: Mapping[str, float], top: int = 8) -> tuple[list[str], list[str]]:
    """The ``top`` labels by peak (in their original order) and the rest."""
    labels = list(peaks)
    if len(labels) <= top + 1:
        return labels, []
    best = set(sorted(labels, key=lambda lab: -peaks[lab])[:top])
    return [lab for lab in labels if lab in best], [lab for lab in labels if lab not in best]


# -- figures -----------------------------------------------------------------------------------


def loss_figure(
    metrics: pd.DataFrame,
    theory: Mapping | None = None,
    *,
    title: str | None = None,
    logy: bool = True,
    show_irreps: bool = True,
    agf_curve: tuple[Sequence[float], Sequence[float]] | None = None,
    observed: Mapping | None = None,
    stability: Mapping | None = None,
    top_irreps: int = 8,
    ax: Axes | None = None,
) -> Figure:
    """Training loss (mean-MSE) against ``step + 1`` on a log axis, with the theory staircase.

    Args:
        metrics: one row per ``(step, seed)`` with columns ``step``, ``loss`` and optionally
            ``seed`` and ``irrep_loss/<label>`` (NaN where not logged).
        theory: ``Staircase.to_dict()`` (keys ``irrep_labels``, ``order``, ``plateaus_mse``,
            optional ``drop_steps`` and ``scope``), or an object with ``to_dict()``.
        title: axes title.
        logy: log y axis; values below ``LOG_FLOOR_REL × initial loss`` are drawn on that
            floor, which is then shown as a grey line (``gid="log-floor"``).
        show_irreps: draw the per-irrep loss curves (mean over seeds, markers at logged steps):
            the ``top_irreps`` with the largest initial loss, the others summed as one grey
            curve (``gid="irrep-loss:others"``).
        agf_curve: ``(steps, loss)`` of an AGF simulation (``AGFResult.curve()``), drawn as a
            dash-dotted staircase (``gid="agf-curve"``).
        observed: the summary's ``observed`` section: hollow circles at the observed drops.
        stability: the summary's ``stability`` section: a red cross at every spike.
        ax: draw on this axes (its figure is returned; the legend goes outside on the right)
            instead of a new figure.

    Returns:
        The :class:`~matplotlib.figure.Figure` drawn on (``ax``'s figure when given).

    The mean over seeds is bold black (``gid="loss-mean"``); with several seeds each seed is a
    thin transparent line (``gid="loss-seed"``). Theory plateaus are dashed horizontal lines
    across the run (``gid="theory-plateau"``), labelled at the right edge; predicted drop
    steps are triangles on the top edge (``gid="theory-drop"``). Where the theory predicts no
    staircase (``theory["scope"]["order"]`` false: other activations, linear networks) only
    the initial level is drawn, with the reason.
    """
    _require_columns(metrics, ["step", "loss"], "loss_figure")
    df = metrics
    th = _parse_theory(theory) if theory is not None else None
    irrep_cols = [c for c in df.columns if isinstance(c, str) and c.startswith(_IRREP_LOSS)]
    col_labels = [c[len(_IRREP_LOSS) :] for c in irrep_cols]
    colors = irrep_colors((th.labels if th else []) + col_labels)

    mean = _mean_over_seeds(df, "step", "loss")
    initial = _first_finite(mean.to_numpy())
    floor = None
    if logy:
        floor = _log_floor(initial, float(th.plateaus[0]) if th else math.nan)
    clip = _clipper(floor)

    irrep_means: dict[str, pd.Series] = {}
    if show_irreps:
        for col, lab in zip(irrep_cols, col_labels, strict=True):
            m = _mean_over_seeds(df, "step", col)
            if not m.empty:
                irrep_means[lab] = m
    peaks = {lab: _first_finite(m.to_numpy()) for lab, m in irrep_means.items()}
    peaks = {lab: v if math.isfinite(v) else 0.0 for lab, v in peaks.items()}
    top = max(peaks.values(), default=0.0)
    # irreps the target does not contain (zero initial loss) have nothing to show
    peaks = {lab: v for lab, v in peaks.items() if v > 1e-6 * top} if top > 0 else peaks
    shown, others = _top_and_others(peaks, top_irreps)

    with style_context():
        fig, ax = on_axes(ax, (7.2, 4.2), "loss_figure")
        seeds = _seeds(df)
        if len(seeds) > 1:
            for j, s in enumerate(seeds):
                sub = df.loc[df["seed"] == s, ["step", "loss"]].dropna().sort_values("step")
                ax.plot(
                    sub["step"].to_numpy() + 1.0,
                    clip(sub["loss"].to_numpy()),
                    lw=SEED_LW,
                    alpha=SEED_ALPHA,
                    color=MEAN_COLOR,
                    gid="loss-seed",
                    label="individual seeds" if j == 0 else "_nolegend_",
                    zorder=1,
                )
        n_seeds = max(len(seeds), 1)
        ax.plot(
            mean.index.to_numpy() + 1.0,
            clip(mean.to_numpy()),
            lw=MEAN_LW,
            color=MEAN_COLOR,
            gid="loss-mean",
            label=f"loss (mean of {n_seeds} seeds)" if n_seeds > 1 else "loss",
            zorder=4,
        )
        for lab in shown:
            m = irrep_means[lab]
            ax.plot(
                m.index.to_numpy() + 1.0,
                clip(m.to_numpy()),
                lw=1.1,
                marker="o",
                ms=3,
                color=colors[lab],
                gid=f"irrep-loss:{lab}",
                label=f"loss in {lab}",
                zorder=3,
            )
        if others:
            _plot_summed(
                ax,
                [irrep_means[lab] for lab in others],
                clip,
                "irrep-loss:others",
                f"loss in {len(others)} other irreps (sum)",
            )
        steps = df["step"].dropna().to_numpy(dtype=float)
        xlo = float(steps.min()) + 1.0 if steps.size else 1.0
        xhi = float(steps.max()) + 1.0 if steps.size else 10.0
        finite = mean.to_numpy()[np.isfinite(mean.to_numpy())]
        y_hi = max(float(finite.max()) if finite.size else 1.0, initial if initial > 0 else 1.0)
        y_lo = floor if floor is not None else (float(finite.min()) if finite.size else 0.0)
        label_rows = 0
        if th is not None:
            label_rows = _draw_theory_on_loss(
                ax, th, xlo, xhi, clip, colors, logy=logy, y_span=(max(y_lo, 1e-300), y_hi)
            )
        if agf_curve is not None:
            xs, ys = (np.asarray(v, dtype=float) for v in agf_curve)
            ax.plot(
                xs + 1.0,
                clip(ys),
                lw=1.6,
                ls="-.",
                color="#7b3294",
                gid="agf-curve",
                label="AGF simulation",
                zorder=2,
            )
        _draw_observed(ax, mean, observed, clip)
        _draw_stability(ax, stability, clip)
        if floor is not None and finite.size and float(finite.min()) < floor:
            _draw_floor(ax, floor)

        ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("step + 1")
        ax.set_ylabel("loss (mean-MSE)")
        if title:
            # above the drop labels on the top edge
            ax.set_title(title, pad=6 + 14 * label_rows)
        _legend_outside(ax)
    return fig


def power_figure(
    metrics: pd.DataFrame,
    template_power: Sequence[float] | Mapping[str, float] | np.ndarray,
    labels: Sequence[str],
    *,
    title: str | None = None,
    logy: bool = False,
    top_irreps: int = 8,
    ax: Axes | None = None,
) -> Figure:
    """Learned power per irrep (``power/<label>``, mean over seeds) against ``step + 1`` (log).

    Args:
        metrics: rows with ``step`` and ``power/<label>`` columns (NaN where not logged).
        template_power: the template's power per irrep, in the order of ``labels`` (or a mapping
            label → power). Drawn as dashed horizontal lines (``gid="template-power:<label>"``)
            in the irrep's colour; the learned power is solid with markers
            (``gid="learned-power:<label>"``).
        labels: all irrep labels of the group (colours are assigned from this full list).
        title: axes title.
        logy: log y axis (values clipped at ``LOG_FLOOR_REL ×`` the largest power).
        ax: draw on this axes instead of a new figure.

    Returns:
        The :class:`~matplotlib.figure.Figure` drawn on (``ax``'s figure when given).

    Irreps whose template power and learned power are both ~0 (≤ 1e-8 × the largest power in
    the figure) are left out; if everything is zero only the trivial irrep is kept. Of more
    than ``top_irreps + 1`` irreps, the ``top_irreps`` largest are drawn and the others summed
    into one grey curve (``gid="learned-power:others"``).
    """
    _require_columns(metrics, ["step"], "power_figure")
    labels = [str(x) for x in labels]
    if isinstance(template_power, Mapping):
        tp = np.array([float(template_power.get(lab, 0.0)) for lab in labels])
    else:
        tp = np.asarray(template_power, dtype=float).reshape(-1)
        if tp.size != len(labels):
            raise ShapeError(
                f"power_figure: template_power has {tp.size} values for {len(labels)} irreps"
            )
    df = metrics
    colors = irrep_colors(labels)
    learned: dict[str, pd.Series] = {}
    for lab in labels:
        col = _POWER + lab
        if col in df.columns:
            m = _mean_over_seeds(df, "step", col)
            if not m.empty:
                learned[lab] = m

    def peak(lab: str) -> float:
        s = learned.get(lab)
        if s is None:
            return 0.0
        v = np.abs(s.to_numpy(dtype=float))
        v = v[np.isfinite(v)]
        return float(v.max()) if v.size else 0.0

    peaks = {lab: max(abs(float(tp[i])), peak(lab)) for i, lab in enumerate(labels)}
    scale = max(peaks.values(), default=0.0)
    if scale > 0:
        keep = [lab for lab in labels if peaks[lab] > 1e-8 * scale]
    else:
        keep = ["trivial"] if "trivial" in labels else labels[:1]
    keep, others = _top_and_others({lab: peaks[lab] for lab in keep}, top_irreps)

    floor = LOG_FLOOR_REL * scale if (logy and scale > 0) else (1e-12 if logy else None)
    clip = _clipper(floor)
    with style_context():
        fig, ax = on_axes(ax, (7.2, 4.2), "power_figure")
        for lab in keep:
            i = labels.index(lab)
            c = colors[lab]
            if lab in learned:
                s = learned[lab]
                ax.plot(
                    s.index.to_numpy() + 1.0,
                    clip(s.to_numpy()),
                    lw=1.3,
                    marker="o",
                    ms=3,
                    color=c,
                    gid=f"learned-power:{lab}",
                    label=lab,
                    zorder=3,
                )
            ax.axhline(
                float(clip(tp[i])),
                ls=THEORY_LS,
                lw=THEORY_LW,
                color=c,
                gid=f"template-power:{lab}",
                label=f"{lab} (template)" if lab not in learned else "_nolegend_",
                zorder=2,
            )
        ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("step + 1")
        ax.set_ylabel("power")
        if title:
            ax.set_title(title)
        if others:
            summed = [learned[lab] for lab in others if lab in learned]
            if summed:
                _plot_summed(
                    ax, summed, clip, "learned-power:others", f"{len(others)} other irreps (sum)"
                )
            ax.axhline(
                float(clip(sum(float(tp[labels.index(lab)]) for lab in others))),
                ls=THEORY_LS,
                lw=THEORY_LW,
                color="#999999",
                gid="template-power:others",
                label="_nolegend_",
                zorder=2,
            )
        if floor is not None and any(
            np.nanmin(learned[lab].to_numpy(dtype=float)) < floor for lab in keep if lab in learned
        ):
            _draw_floor(ax, floor)
        proxy = Line2D([], [], ls=THEORY_LS, lw=THEORY_LW, color=THEORY_COLOR, label="template")
        _legend_outside(ax, [proxy])
    return fig


def staircase_figure(
    theory: Mapping,
    *,
    title: str | None = None,
    logy: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """The predicted staircase alone: plateau levels (mean-MSE) as a dashed step function
    (``gid="theory-staircase"``), on ``ax`` if given; returns the figure drawn on.

    If every group has a predicted drop step the x axis is ``predicted step + 1`` (log scale)
    and each drop is at its step; otherwise the x axis is the drop index (plateau ``i`` spans
    ``[i, i + 1]``, drop ``i`` is at ``x = i + 1``). Each drop is a dotted vertical line in the
    colour of the irreps learned there (``gid="theory-drop"``) annotated ``"→ learn X"``.
    """
    th = _parse_theory(theory)
    colors = irrep_colors(th.labels)
    n = th.n_drops
    floor = _log_floor(*th.plateaus.tolist()) if logy else None
    clip = _clipper(floor)
    levels = clip(th.plateaus)
    by_step = n > 0 and th.all_drops_known
    if by_step:
        xd = np.array([float(d) + 1.0 for d in th.drop_steps if d is not None])
        xs = np.concatenate([[xd.min() / 4.0], xd, [xd.max() * 4.0]])
    else:
        xd = np.arange(1, n + 1, dtype=float)
        xs = np.arange(0, n + 2, dtype=float)
    ys = np.concatenate([levels, levels[-1:]])

    with style_context():
        fig, ax = on_axes(ax, (6.4, 4.0), "staircase_figure")
        ax.plot(
            xs,
            ys,
            drawstyle="steps-post",
            ls=THEORY_LS,
            lw=1.8,
            color=THEORY_COLOR,
            gid="theory-staircase",
            label="predicted plateaus",
        )
        for i in range(n):
            first = th.group_first_label(i)
            c = colors.get(first, THEORY_COLOR) if first is not None else THEORY_COLOR
            ax.axvline(xd[i], ls=DROP_LS, lw=1.0, color=c, gid="theory-drop")
            ax.annotate(
                f"→ learn {th.group_text(i)}",
                xy=(xd[i], levels[i]),
                xytext=(-3, 3),
                textcoords="offset points",
                ha="right",
                va="bottom",
                fontsize=7,
                color=c,
                gid="theory-annotation",
            )
        if by_step:
            ax.set_xscale("log")
            ax.set_xlabel("predicted step + 1")
        else:
            ax.set_xlabel("drop index")
            ax.set_xticks(np.arange(0, n + 2))
        if logy:
            ax.set_yscale("log")
        ax.set_ylabel("loss (mean-MSE)")
        if title:
            ax.set_title(title)
    return fig


def accuracy_figure(
    metrics: pd.DataFrame,
    *,
    title: str | None = None,
    axes: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """Group-arithmetic runs: train/test accuracy against epoch (log), losses in a second panel.

    ``axes``: draw on these instead of a new figure: one axes (accuracy only) or two
    (accuracy, losses; the second is left empty when there are no loss columns). The figure
    drawn on is returned; with ``axes`` the title goes on the accuracy panel, not the figure.

    ``metrics`` has columns ``epoch``, ``train_acc``, ``test_acc`` (fractions in [0, 1]) and
    optionally ``seed``, ``train_loss``, ``test_loss``. Epochs are plotted as ``epoch + 1`` when
    they start at 0. Means over seeds are bold (``gid="acc-mean:<col>"`` /
    ``"loss-mean:<col>"``), individual seeds thin (``gid="acc-seed:<col>"`` / ...).
    """
    _require_columns(metrics, ["epoch", "train_acc", "test_acc"], "accuracy_figure")
    df = metrics
    loss_cols = [c for c in ("train_loss", "test_loss") if c in df.columns and df[c].notna().any()]
    epochs = df["epoch"].dropna().to_numpy(dtype=float)
    shift = 1.0 if (epochs.size and epochs.min() < 1) else 0.0
    xlabel = "epoch + 1" if shift else "epoch"
    seeds = _seeds(df)
    col_color = {
        "train_acc": TRAIN_COLOR,
        "test_acc": TEST_COLOR,
        "train_loss": TRAIN_COLOR,
        "test_loss": TEST_COLOR,
    }

    def draw(ax: Axes, col: str, kind: str, clip) -> None:
        c = col_color[col]
        name = col.replace("_", " ")
        if len(seeds) > 1:
            for s in seeds:
                sub = df.loc[df["seed"] == s, ["epoch", col]].dropna().sort_values("epoch")
                ax.plot(
                    sub["epoch"].to_numpy() + shift,
                    clip(sub[col].to_numpy()),
                    lw=SEED_LW,
                    alpha=SEED_ALPHA,
                    color=c,
                    gid=f"{kind}-seed:{col}",
                    label="_nolegend_",
                )
        m = _mean_over_seeds(df, "epoch", col)
        ax.plot(
            m.index.to_numpy() + shift,
            clip(m.to_numpy()),
            lw=MEAN_LW,
            color=c,
            gid=f"{kind}-mean:{col}",
            label=name,
        )

    with style_context():
        if axes is not None:
            given = [axes] if isinstance(axes, Axes) else list(np.ravel(axes))
            if not 1 <= len(given) <= 2:
                raise ShapeError(f"accuracy_figure: axes must be 1 or 2 Axes, got {len(given)}")
            fig, ax_acc = on_axes(given[0], (5.4, 3.6), "accuracy_figure")
            ax_loss = (
                on_axes(given[1], (5.4, 3.6), "accuracy_figure")[1]
                if (loss_cols and len(given) == 2)
                else None
            )
        elif loss_cols:
            fig, (ax_acc, ax_loss) = new_figure(1, 2, figsize=(9.0, 3.6))
        else:
            fig, ax_acc = new_figure(figsize=(5.4, 3.6))
            ax_loss = None
        for col in ("train_acc", "test_acc"):
            draw(ax_acc, col, "acc", _clipper(None))
        ax_acc.set_xscale("log")
        ax_acc.set_ylim(0.0, 1.05)
        ax_acc.set_xlabel(xlabel)
        ax_acc.set_ylabel("accuracy")
        ax_acc.legend(loc="best")
        if ax_loss is not None:
            first = [_first_finite(_mean_over_seeds(df, "epoch", c).to_numpy()) for c in loss_cols]
            clip = _clipper(_log_floor(*first))
            for col in loss_cols:
                draw(ax_loss, col, "loss", clip)
            ax_loss.set_xscale("log")
            ax_loss.set_yscale("log")
            ax_loss.set_xlabel(xlabel)
            ax_loss.set_ylabel("loss")
            ax_loss.legend(loc="best")
        if title and axes is not None:
            ax_acc.set_title(title)
        elif title:
            fig.suptitle(title)
    return fig


# -- the one writer ----------------------------------------------------------------------------


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """``formats`` normalised (lower case, no dot, duplicates dropped), or a
    :class:`ConfigError` naming the ones matplotlib cannot write and the allowed values."""
    from matplotlib.backend_bases import FigureCanvasBase

    if isinstance(formats, str):
        formats = [formats]
    fmts = tuple(dict.fromkeys(str(f).lower().lstrip(".") for f in formats))
    supported = FigureCanvasBase.get_supported_filetypes()
    bad = [f for f in fmts if f not in supported]
    if bad or not fmts:
        raise ConfigError(
            f"figure format(s) {bad} not supported; allowed values: {sorted(supported)}"
        )
    return fmts


def save_figure(
    fig: Figure,
    stem: Path | str,
    formats: Sequence[str] = DEFAULT_FORMATS,
    *,
    dpi: int = SAVE_DPI,
) -> list[Path]:
    """Write ``fig`` to ``<stem>.<fmt>`` for each format (default :data:`DEFAULT_FORMATS`:
    PNG only); return the paths written.

    This is the only function in :mod:`groupcomp.viz` that touches the disk. Each file is
    written atomically: to a hidden temporary file in the same folder, then moved into place
    with :func:`os.replace`, so a reader never sees a half-written figure and no temporary file
    is left behind on failure. The parent folder is created if needed. The suffix is appended
    (``loss_lr0.1`` → ``loss_lr0.1.png``), never substituted. PDFs carry no creation date, so
    they are byte-reproducible.

    Raises:
        ConfigError: a format matplotlib cannot write (checked before anything is written).
    """
    stem = Path(stem)
    fmts = check_formats(formats)
    parent = stem.parent
    parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for fmt in fmts:
        target = parent / f"{stem.name}.{fmt}"
        tmp = parent / f".{stem.name}.{fmt}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        try:
            with open(tmp, "xb") as fh:
                fig.savefig(fh, format=fmt, dpi=dpi, metadata=metadata)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        written.append(target)
    return written
