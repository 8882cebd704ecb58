"""Figures of a run folder, for every run kind: what ``groupcomp train`` / ``groupcomp arith``
write and ``groupcomp plot`` redraws.

* sequence runs: ``figures/loss`` (loss with the predicted staircase, AGF if run),
  ``figures/power`` (learned power per irrep) and ``figures/neurons`` (per-neuron dominant-irrep
  fraction, weight power per irrep; RNN: ``W_mix`` irrep blocks — :mod:`groupcomp.viz.neurons`);
* arithmetic runs: ``figures/accuracy`` (train / test accuracy and loss) and, when the operands
  form a group, ``figures/power`` (Fourier power of the input weights).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from groupcomp.errors import RunFolderError
from groupcomp.viz.figures import (
    DEFAULT_FORMATS,
    accuracy_figure,
    check_formats,
    loss_figure,
    power_figure,
    save_figure,
)

__all__ = ["power_curves_figure", "run_figures", "write_run_figures"]


def _title(summary: Mapping[str, Any]) -> str:
    if summary.get("kind") == "arith":
        a = summary.get("arith") or {}
        split = a.get("split") or {}
        task = a.get("task", summary.get("group"))
        return f"{task}, {a.get('loss')}, n_train={split.get('n_train')}"
    return f"{summary['group']}, k={summary.get('k')}, {summary.get('model')}"


def power_curves_figure(
    metrics: pd.DataFrame, labels: list[str], *, title: str | None = None, ax: Any = None
):
    """Fourier power of the input weights per irrep (mean over seeds) against ``epoch + 1``
    (log-log), on ``ax`` if given; returns the figure drawn on. Lines carry
    ``gid="learned-power:<label>"``."""
    from groupcomp.viz.style import irrep_colors, on_axes, style_context

    colors = irrep_colors(labels)
    with style_context():
        fig, ax = on_axes(ax, (7.2, 4.2), "power_curves_figure")
        peak = 0.0
        series = {}
        for lab in labels:
            col = "power/" + lab
            if col not in metrics:
                continue
            m = metrics[["epoch", col]].dropna().groupby("epoch")[col].mean()
            if m.empty:
                continue
            series[lab] = m
            peak = max(peak, float(m.max()))
        floor = 1e-6 * peak if peak > 0 else 1e-12
        if len(series) > 9:  # the 8 largest by final power, the others summed
            best = sorted(series, key=lambda lab: -float(series[lab].iloc[-1]))[:8]
            rest = [lab for lab in series if lab not in best]
            total = sum(series[lab] for lab in rest)
            series = {lab: series[lab] for lab in series if lab in best}
            series[f"{len(rest)} others (sum)"] = total
            colors[f"{len(rest)} others (sum)"] = "#999999"
        for lab, m in series.items():
            ax.plot(
                m.index.to_numpy() + 1.0,
                np.maximum(m.to_numpy(), floor),
                lw=1.2,
                marker="o",
                ms=2.5,
                color=colors[lab],
                gid=f"learned-power:{lab}",
                label=lab,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("epoch + 1")
        ax.set_ylabel("power of input weights (sum over neurons)")
        if title:
            ax.set_title(title)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    return fig


def run_figures(
    metrics: pd.DataFrame, summary: Mapping[str, Any], *, neurons: Any = None
) -> dict[str, Any]:
    """The figures of one run: ``{name: Figure}`` (names are file stems under ``figures/``).
    ``neurons``: the run's per-neuron spectra (``LoadedRun.neurons``; sequence runs), drawn as
    ``neurons`` (:func:`groupcomp.viz.neurons.neurons_figure`) when given."""
    kind = summary.get("kind")
    title = _title(summary)
    figs: dict[str, Any] = {}
    if kind == "arith":
        figs["accuracy"] = accuracy_figure(metrics, title=title)
        labels = [c[len("power/") :] for c in metrics.columns if c.startswith("power/")]
        if labels and metrics[[f"power/{lab}" for lab in labels]].notna().any().any():
            figs["power"] = power_curves_figure(metrics, labels, title=title)
        return figs
    if kind != "sequence":
        raise RunFolderError(f"summary: unknown run kind {kind!r} (allowed: sequence, arith)")
    theory = summary.get("theory")
    if not isinstance(theory, Mapping):
        raise RunFolderError("summary: a sequence run's summary has no 'theory' section")
    agf = summary.get("agf")
    curve = (agf["curve_steps"], agf["curve_loss"]) if agf and "curve_steps" in agf else None
    figs["loss"] = loss_figure(
        metrics,
        theory,
        title=title + (" - UNSTABLE" if summary.get("status") == "unstable" else ""),
        agf_curve=curve,
        observed=summary.get("observed"),
        stability=summary.get("stability"),
    )
    figs["power"] = power_figure(
        metrics, theory["powers"], theory["irrep_labels"], title=title, logy=True
    )
    if neurons is not None:
        from groupcomp.viz.neurons import neurons_figure

        figs["neurons"] = neurons_figure(neurons, title=title)
    return figs


def write_run_figures(
    run_dir: str | Path,
    metrics: pd.DataFrame,
    summary: Mapping[str, Any],
    formats: Sequence[str] | None = None,
) -> list[Path]:
    """Draw :func:`run_figures` into ``run_dir/figures`` in ``formats`` (``None``:
    :data:`~groupcomp.viz.figures.DEFAULT_FORMATS`, PNG only); the paths written."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    fmts = DEFAULT_FORMATS if formats is None else check_formats(formats)
    out: list[Path] = []
    from groupcomp.runs.folder import NEURONS_FILE, RunFolder

    neurons = RunFolder(run_dir).read_arrays(NEURONS_FILE)  # None where not recorded
    for name, fig in run_figures(metrics, summary, neurons=neurons).items():
        out += save_figure(fig, Path(run_dir) / "figures" / name, fmts)
    return out
