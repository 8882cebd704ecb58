"""Multi-run paper figures: a grid of panels, one column per run, one row per panel kind.

:func:`paper_figure` draws a :class:`groupcomp.config.figures.FigureSpec` from its loaded runs:

* ``loss``: the training loss with the predicted staircase (:func:`loss_figure` on the panel);
* ``power``: the power of the learned function per irrep over training, with the template's
  power per irrep dashed (:func:`power_figure`);
* ``neurons``: per irrep, each neuron's output-weight power in its final dominant irrep over
  training, relative to its peak (mean and interquartile band over the neurons ending in that
  irrep; :func:`groupcomp.viz.neurons.neuron_fraction_figure` with ``which="out",
  normalize="peak"``, as the authors' Figure 1).

Data in, Figure out; :func:`groupcomp.viz.save_figure` writes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from groupcomp.config.figures import FIGURE_ROWS, FigureSpec
from groupcomp.errors import RunFolderError, ShapeError

__all__ = ["paper_figure"]


def _theory(summary: Mapping[str, Any], label: str) -> Mapping[str, Any]:
    theory = summary.get("theory")
    if summary.get("kind") != "sequence" or not isinstance(theory, Mapping):
        raise RunFolderError(
            f"figure column {label!r}: a sequence run (groupcomp train) is required; got a "
            f"{summary.get('kind')!r} run"
        )
    return theory


def _loss(ax: Axes, run: Any, label: str) -> None:
    from groupcomp.viz.figures import loss_figure

    s = run.summary
    agf = s.get("agf")
    curve = (agf["curve_steps"], agf["curve_loss"]) if agf and "curve_steps" in agf else None
    loss_figure(
        run.metrics,
        _theory(s, label),
        title=label,
        agf_curve=curve,
        observed=s.get("observed"),
        stability=s.get("stability"),
        ax=ax,
    )


def _power(ax: Axes, run: Any, label: str) -> None:
    from groupcomp.viz.figures import power_figure

    th = _theory(run.summary, label)
    power_figure(run.metrics, th["powers"], th["irrep_labels"], ax=ax)


def _neurons(ax: Axes, run: Any, label: str) -> None:
    from groupcomp.viz.neurons import neuron_fraction_figure

    # as the authors' Figure 1: output weights, power relative to the neuron's peak
    neuron_fraction_figure(run, ax=ax, which="out", normalize="peak", title=None)


_DRAW: dict[str, Callable[[Axes, Any, str], None]] = {
    "loss": _loss,
    "power": _power,
    "neurons": _neurons,
}
assert set(_DRAW) == set(FIGURE_ROWS)


def paper_figure(
    spec: FigureSpec,
    runs: Sequence[Any],
    *,
    axes: Any = None,
    panel_size: tuple[float, float] = (3.8, 3.0),
) -> Figure:
    """The grid of ``spec``: ``len(spec.rows)`` × ``len(spec.columns)`` panels.

    Args:
        spec: the figure (rows: panel kinds, columns: runs with labels).
        runs: one :class:`groupcomp.runs.LoadedRun` per column, in ``spec.columns`` order.
        axes: draw into these axes instead (a ``(rows, columns)`` array, e.g. from
            ``fig.subplots(nr, nc, squeeze=False)``); their figure is returned.
        panel_size: inches per panel (width, height) of a new figure.

    Panel ``(r, c)`` carries ``gid="panel:<row>:<label>"`` so tests and users can find it.
    Legends: the loss row's (line styles) once, right of its last panel; the power and
    neuron rows' (the irrep colours of that column, which differ between groups) inside every
    panel.
    """
    from groupcomp.viz.style import root_figure, style_context

    if len(runs) != len(spec.columns):
        raise RunFolderError(
            f"figure {spec.name}: {len(spec.columns)} runs are needed (one per column: "
            f"{', '.join(c.label for c in spec.columns)}); got {len(runs)}"
        )
    nr, nc = len(spec.rows), len(spec.columns)
    with style_context():
        # + room for the loss row's legend, outside the last panel
        if axes is None:
            width = panel_size[0] * nc + (2.6 if "loss" in spec.rows else 0.0)
            fig = Figure(figsize=(width, panel_size[1] * nr), layout="constrained")
            axes = fig.subplots(nr, nc, squeeze=False)
        else:
            axes = np.asarray(axes, dtype=object).reshape(-1)
            if len(axes) != nr * nc or not all(isinstance(a, Axes) for a in axes):
                raise ShapeError(
                    f"paper_figure: axes must hold {nr} x {nc} matplotlib Axes (rows {spec.rows}"
                    f", one column per run); got {len(axes)}"
                )
            axes = axes.reshape(nr, nc)
            fig = root_figure(axes[0, 0])
        for r, row in enumerate(spec.rows):
            for c, (col, run) in enumerate(zip(spec.columns, runs, strict=True)):
                ax = axes[r, c]
                _DRAW[row](ax, run, col.label)
                ax.set_gid(f"panel:{row}:{col.label}")
                _place_legend(ax, row, last=c == nc - 1)
                if r > 0:
                    ax.set_title("")
                if c > 0:
                    ax.set_ylabel("")
                if r < nr - 1:
                    ax.set_xlabel("")
        if spec.title:
            fig.suptitle(spec.title)
    return fig


def _place_legend(ax: Axes, row: str, *, last: bool) -> None:
    legend = ax.get_legend()
    if legend is None:
        return
    if row == "loss":
        if not last:
            legend.remove()
        return
    if row == "power":  # irrep colours of this column, inside the panel
        handles, labels = ax.get_legend_handles_labels()
        legend.remove()
        ax.legend(handles, labels, loc="center right", fontsize="x-small", framealpha=0.8)
