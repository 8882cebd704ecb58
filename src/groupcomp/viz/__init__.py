"""Figures: one function per figure, data in, :class:`matplotlib.figure.Figure` out.

Nothing here writes to disk except :func:`save_figure`; callers decide where figures go.
Figures are built without pyplot, so they work headless and change no global matplotlib state.
Colours per irrep come from :func:`irrep_colors` and are shared by all figures. Every figure
function takes ``ax=`` (``axes=`` where it draws several panels) and returns the Figure it drew
on; :func:`new_figure` makes a figure in the house style (:mod:`groupcomp.viz.style`) to compose
them on. :func:`runs_figure` / :func:`overlay_figure` draw several runs (``groupcomp plot``).
"""

from __future__ import annotations

from groupcomp.viz.cogs import (
    order_histogram_figure,
    residuals_figure,
    shares_figure,
    sp_dynamics_figure,
)
from groupcomp.viz.compare import overlay_figure, runs_figure
from groupcomp.viz.figures import (
    accuracy_figure,
    loss_figure,
    power_figure,
    save_figure,
    staircase_figure,
)
from groupcomp.viz.grokking import grokking_scaling_figure
from groupcomp.viz.runs import power_curves_figure, run_figures, write_run_figures
from groupcomp.viz.scaling import scaling_figure
from groupcomp.viz.style import irrep_colors, new_figure, style_context

__all__ = [
    "accuracy_figure",
    "grokking_scaling_figure",
    "irrep_colors",
    "loss_figure",
    "new_figure",
    "order_histogram_figure",
    "overlay_figure",
    "power_curves_figure",
    "power_figure",
    "residuals_figure",
    "run_figures",
    "runs_figure",
    "save_figure",
    "scaling_figure",
    "shares_figure",
    "sp_dynamics_figure",
    "staircase_figure",
    "style_context",
    "write_run_figures",
]
