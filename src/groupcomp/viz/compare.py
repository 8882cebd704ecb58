"""Several runs in one figure (``groupcomp plot RUN RUN ...``): side by side or overlaid.

Data in, :class:`~matplotlib.figure.Figure` out (:func:`groupcomp.viz.save_figure` writes it).
A run is given as ``(name, metrics, summary)``: its name (the run folder's name), its metrics
table and its summary (``LoadedRun.metrics`` / ``LoadedRun.summary``), of any kind.

* :func:`runs_figure` — one column per run, in the given order. Sequence runs: the loss with
  the predicted staircase on top (:func:`~groupcomp.viz.figures.loss_figure`), the learned
  power per irrep below (:func:`~groupcomp.viz.figures.power_figure`). Arithmetic runs: the
  train / test accuracy on top, the Fourier power of the input weights below (or, where it was
  not recorded, the train / test losses). Each panel carries ``gid="run:<name>:<panel>"``
  (``loss`` / ``power`` / ``accuracy`` / ``losses``) and the top panel's title starts with
  the run's name.
* :func:`overlay_figure` — the training loss of every run (mean over seeds) on one log-log
  axes, one colour per run, labelled by its name (``gid="loss:<name>"``); the predicted
  plateaus of sequence runs are drawn thin and dashed in the run's colour
  (``gid="theory-plateau:<name>"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from groupcomp.errors import ShapeError
from groupcomp.viz.figures import (
    LOG_FLOOR_REL,
    accuracy_figure,
    loss_figure,
    power_figure,
)
from groupcomp.viz.runs import power_curves_figure
from groupcomp.viz.style import (
    MEAN_LW,
    THEORY_COLOR,
    THEORY_LS,
    new_figure,
    on_axes,
    style_context,
)

__all__ = ["RunData", "overlay_figure", "runs_figure"]

#: ``(name, metrics, summary)`` of one run
RunData = tuple[str, pd.DataFrame, Mapping[str, Any]]


def _check(runs: Sequence[RunData], what: str) -> list[RunData]:
    runs = list(runs)
    if not runs:
        raise ShapeError(f"{what}: no runs given")
    for item in runs:
        if not (isinstance(item, tuple) and len(item) == 3 and isinstance(item[1], pd.DataFrame)):
            raise ShapeError(f"{what}: each run must be (name, metrics DataFrame, summary)")
    names = [str(r[0]) for r in runs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ShapeError(f"{what}: run names must differ; {dup} given more than once")
    return runs


def _title(summary: Mapping[str, Any]) -> str:
    if summary.get("kind") == "arith":
        a = summary.get("arith") or {}
        return f"{a.get('task', summary.get('group'))}, {a.get('loss')}"
    return f"{summary.get('group')}, k={summary.get('k')}, {summary.get('model')}"


def _column(top: Axes, bottom: Axes, name: str, metrics: pd.DataFrame, summary: Mapping) -> None:
    """Draw one run's two panels."""
    kind = summary.get("kind")
    title = f"{name}\n{_title(summary)}"
    if kind == "sequence":
        theory = summary.get("theory")
        if not isinstance(theory, Mapping):
            raise ShapeError(f"run {name}: a sequence run's summary has no 'theory' section")
        agf = summary.get("agf")
        curve = (agf["curve_steps"], agf["curve_loss"]) if agf and "curve_steps" in agf else None
        loss_figure(
            metrics,
            theory,
            title=title,
            agf_curve=curve,
            observed=summary.get("observed"),
            stability=summary.get("stability"),
            ax=top,
        )
        power_figure(metrics, theory["powers"], theory["irrep_labels"], logy=True, ax=bottom)
        top.set_gid(f"run:{name}:loss")
        bottom.set_gid(f"run:{name}:power")
        return
    if kind != "arith":
        raise ShapeError(f"run {name}: unknown run kind {kind!r} (allowed: sequence, arith)")
    labels = [c[len("power/") :] for c in metrics.columns if str(c).startswith("power/")]
    has_power = bool(labels) and bool(
        metrics[[f"power/{lab}" for lab in labels]].notna().any().any()
    )
    if has_power:
        accuracy_figure(metrics, title=title, axes=[top])
        power_curves_figure(metrics, labels, ax=bottom)
        bottom.set_gid(f"run:{name}:power")
    else:
        accuracy_figure(metrics, title=title, axes=[top, bottom])
        bottom.set_gid(f"run:{name}:losses")
    top.set_gid(f"run:{name}:accuracy")


def runs_figure(
    runs: Sequence[RunData],
    *,
    axes: Any = None,
    panel_size: tuple[float, float] = (6.4, 3.6),
) -> Figure:
    """Several runs side by side: one column per run (see the module docstring).

    Args:
        runs: ``(name, metrics, summary)`` per run, in column order; names must differ.
        axes: draw on these instead of a new figure: a ``(2, len(runs))`` array of axes (or a
            flat sequence of ``2·len(runs)`` in row-major order).
        panel_size: inches per panel (width, height) of a new figure.

    Returns:
        The :class:`~matplotlib.figure.Figure` drawn on.

    Raises:
        ShapeError: no runs, duplicate names, a summary of an unknown kind, or ``axes`` of the
            wrong size.
    """
    runs = _check(runs, "runs_figure")
    n = len(runs)
    with style_context():
        if axes is None:
            fig, grid = new_figure(2, n, figsize=(panel_size[0] * n, panel_size[1] * 2))
            grid = np.asarray(grid, dtype=object).reshape(2, n)
        else:
            flat = list(np.ravel(np.asarray(axes, dtype=object)))
            if len(flat) != 2 * n:
                raise ShapeError(f"runs_figure: {n} runs need 2 x {n} axes, got {len(flat)}")
            grid = np.asarray(flat, dtype=object).reshape(2, n)
            fig = on_axes(grid[0, 0], (6.4, 3.6), "runs_figure")[0]
        for c, (name, metrics, summary) in enumerate(runs):
            _column(grid[0, c], grid[1, c], str(name), metrics, summary)
    return fig


def overlay_figure(
    runs: Sequence[RunData],
    *,
    ax: Axes | None = None,
    title: str | None = None,
    theory: bool = True,
) -> Figure:
    """The training loss of every run on one axes (see the module docstring).

    Args:
        runs: ``(name, metrics, summary)`` per run; each needs ``step`` and ``loss`` columns.
        ax: draw on this axes instead of a new figure.
        title: axes title (default ``"training loss of N runs"``).
        theory: also draw each sequence run's predicted plateaus (where the theory predicts a
            staircase).

    Returns:
        The :class:`~matplotlib.figure.Figure` drawn on.
    """
    runs = _check(runs, "overlay_figure")
    for name, metrics, _ in runs:
        missing = [c for c in ("step", "loss") if c not in metrics.columns]
        if missing:
            raise ShapeError(f"overlay_figure: run {name}: metrics lack column(s) {missing}")
    means = {
        str(name): metrics[["step", "loss"]].dropna().groupby("step", sort=True)["loss"].mean()
        for name, metrics, _ in runs
    }
    tops = [float(m.max()) for m in means.values() if len(m) and math.isfinite(float(m.max()))]
    floor = LOG_FLOOR_REL * max(tops) if tops and max(tops) > 0 else 1e-12
    drew_theory = False
    with style_context():
        fig, ax = on_axes(ax, (7.2, 4.4), "overlay_figure")
        for i, (name, _metrics, summary) in enumerate(runs):
            color = f"C{i % 10}"
            m = means[str(name)]
            ax.plot(
                m.index.to_numpy() + 1.0,
                np.maximum(m.to_numpy(dtype=float), floor),
                lw=MEAN_LW * 0.7,
                color=color,
                label=str(name),
                gid=f"loss:{name}",
                zorder=3,
            )
            th = summary.get("theory") if summary.get("kind") == "sequence" else None
            scope = th.get("scope") if isinstance(th, Mapping) else None
            in_scope = not isinstance(scope, Mapping) or bool(scope.get("order", True))
            if theory and isinstance(th, Mapping) and in_scope:
                for level in th.get("plateaus_mse") or []:
                    drew_theory = True
                    ax.axhline(
                        max(float(level), floor),
                        ls=THEORY_LS,
                        lw=0.8,
                        alpha=0.7,
                        color=color,
                        gid=f"theory-plateau:{name}",
                        label="_nolegend_",
                        zorder=2,
                    )
        if drew_theory:  # one legend entry for all of them
            ax.plot([], [], ls=THEORY_LS, lw=0.8, color=THEORY_COLOR, label="theory plateaus")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step + 1")
        ax.set_ylabel("training loss")
        ax.set_title(title or f"training loss of {len(runs)} runs")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return fig
