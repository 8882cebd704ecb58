"""Per-neuron figures of a sequence run (``figures/neurons``): how the hidden neurons settle in
one irrep each, from the spectra recorded during training (:mod:`groupcomp.analysis.neurons`).

* :func:`neuron_fraction_figure` — per irrep, the share of each neuron's weight power in its
  final dominant irrep over training: mean (line) and interquartile band over the active
  neurons that end in that irrep;
* :func:`neuron_power_figure` — weight power per irrep, summed over neurons;
* :func:`mix_block_figure` — RNN: share of ``‖W_mix‖_F²`` inside the irrep blocks, with the
  chance level of an unstructured matrix;
* :func:`neurons_figure` — the three side by side (two for networks without ``W_mix``).

Every function takes the run as a run-folder path, a :class:`~groupcomp.runs.LoadedRun`, a
:class:`~groupcomp.runs.RunResult` or a :class:`~groupcomp.analysis.neurons.NeuronHistory`, and
``ax=``: given an axes it draws there and returns that axes' figure, otherwise it makes a new
figure. Irreps have the colours of the loss and power figures (:func:`irrep_colors` of the
group's full label list). Time axes are ``step + 1`` on a log scale. gids:
``"neuron-fraction:<label>"`` (mean line), ``"neuron-fraction-band:<label>"`` (band),
``"neuron-power:<label>"``, ``"mix-block-mean"``, ``"mix-block-seed"``, ``"mix-block-chance"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from groupcomp.analysis.neurons import ACTIVE, NeuronHistory, neuron_history
from groupcomp.errors import ShapeError
from groupcomp.viz.style import (
    MEAN_COLOR,
    MEAN_LW,
    SEED_ALPHA,
    SEED_LW,
    THEORY_COLOR,
    THEORY_LS,
    THEORY_LW,
    irrep_colors,
    new_figure,
    on_axes,
    style_context,
)

__all__ = [
    "BAND_ALPHA",
    "mix_block_figure",
    "neuron_fraction_figure",
    "neuron_power_figure",
    "neurons_figure",
]

#: opacity of the interquartile bands
BAND_ALPHA = 0.25
_YLABEL = {
    "current": "share of neuron power in its final irrep",
    "peak": "power in final irrep / neuron's peak power",
}


def neuron_fraction_figure(
    run: Any,
    *,
    ax: Axes | None = None,
    which: str = "all",
    normalize: str = "current",
    active: float = ACTIVE,
    quantiles: tuple[float, float] = (0.25, 0.75),
    title: str | None = None,
    legend: bool = True,
) -> Figure:
    """Dominant-irrep fraction over training, per irrep: the mean (line) and the ``quantiles``
    band over the active neurons (all seeds) whose final dominant irrep it is; the legend gives
    each irrep's neuron count. ``which``: the neurons' ``all`` (input + output), ``in`` or
    ``out`` weights; ``normalize``: ``current`` (share of the power at that step) or ``peak``
    (over the neuron's largest power, the group-agf papers' version); ``active``: see
    :meth:`NeuronHistory.active` (:class:`~groupcomp.analysis.neurons.NeuronHistory`)."""
    h = neuron_history(run)
    bands = h.fraction_bands(which, normalize, quantiles=quantiles, active=active)
    colors = irrep_colors(h.labels)
    x = h.steps.astype(float) + 1.0
    with style_context():
        fig, ax = on_axes(ax, (5.6, 3.6), "neuron_fraction_figure")
        for b in bands:
            c = colors[b.label]
            ax.fill_between(
                x,
                b.lo,
                b.hi,
                color=c,
                alpha=BAND_ALPHA,
                lw=0,
                gid=f"neuron-fraction-band:{b.label}",
            )
            ax.plot(
                x, b.mean, color=c, lw=1.6, gid=f"neuron-fraction:{b.label}",
                label=f"{b.label} ({b.count})",
            )  # fmt: skip
        ax.set_xscale("log")
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("step + 1")
        ax.set_ylabel(_YLABEL[normalize])
        if legend and bands:
            ax.legend(loc="lower right", title="final irrep (neurons)")
        if title:
            ax.set_title(title)
    return fig


def neuron_power_figure(
    run: Any,
    *,
    ax: Axes | None = None,
    which: str = "all",
    title: str | None = None,
    legend: bool = True,
) -> Figure:
    """Weight power per irrep summed over neurons (mean over seeds) against ``step + 1``,
    log-log; values below ``1e-12`` × the largest are drawn at that floor."""
    h = neuron_history(run)
    P = h.power_per_irrep(which)  # (T, m)
    colors = irrep_colors(h.labels)
    x = h.steps.astype(float) + 1.0
    peak = float(np.nanmax(P)) if P.size else 0.0
    floor = 1e-12 * peak if peak > 0 else 1e-300
    with style_context():
        fig, ax = on_axes(ax, (5.6, 3.6), "neuron_power_figure")
        for j, lab in enumerate(h.labels):
            ax.plot(
                x, np.maximum(P[:, j], floor), color=colors[lab], lw=1.4,
                gid=f"neuron-power:{lab}", label=lab,
            )  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step + 1")
        what = {"all": "", "in": " (input)", "out": " (output)"}[which]
        ax.set_ylabel(f"weight power{what}, sum over neurons")
        if legend:
            ax.legend(loc="best")
        if title:
            ax.set_title(title)
    return fig


def mix_block_figure(
    run: Any, *, ax: Axes | None = None, title: str | None = None, legend: bool = True
) -> Figure:
    """RNN: share of ``‖W_mix‖_F²`` inside the irrep-diagonal blocks (hidden units labelled by
    their dominant irrep) against ``step + 1``: each seed thin, the mean bold, and dashed the
    chance level ``Σ_π (H_π/H)²`` of an unstructured ``W_mix`` (mean over seeds)."""
    h = neuron_history(run)
    if h.mix_block_fraction is None:
        raise ShapeError("mix_block_figure: the run has no W_mix (only the RNN has one)")
    x = h.steps.astype(float) + 1.0
    F = h.mix_block_fraction  # (T, S)
    chance = h.mix_chance()
    with style_context():
        fig, ax = on_axes(ax, (5.6, 3.6), "mix_block_figure")
        if F.shape[1] > 1:
            for s in range(F.shape[1]):
                ax.plot(x, F[:, s], color=MEAN_COLOR, lw=SEED_LW, alpha=SEED_ALPHA,
                        gid="mix-block-seed")  # fmt: skip
        ax.plot(x, F.mean(axis=1), color=MEAN_COLOR, lw=MEAN_LW, gid="mix-block-mean",
                label="W_mix in irrep blocks")  # fmt: skip
        if chance is not None:
            ax.plot(x, chance.mean(axis=1), color=THEORY_COLOR, ls=THEORY_LS, lw=THEORY_LW,
                    gid="mix-block-chance", label="unstructured (chance)")  # fmt: skip
        ax.set_xscale("log")
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("step + 1")
        ax.set_ylabel("share of ||W_mix||² in irrep blocks")
        if legend:
            ax.legend(loc="lower right")
        if title:
            ax.set_title(title)
    return fig


def neurons_figure(run: Any, *, title: str | None = None) -> Figure:
    """The run's ``figures/neurons``: :func:`neuron_fraction_figure`,
    :func:`neuron_power_figure` and (RNN) :func:`mix_block_figure` side by side."""
    h: NeuronHistory = neuron_history(run)
    panels = 3 if h.mix_block_fraction is not None else 2
    with style_context():
        fig, axes = new_figure(1, panels, figsize=(5.0 * panels, 3.8))
    neuron_fraction_figure(h, ax=axes[0])
    neuron_power_figure(h, ax=axes[1])
    if panels == 3:
        mix_block_figure(h, ax=axes[2])
    if title:
        fig.suptitle(title)
    return fig
