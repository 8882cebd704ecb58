"""Per-neuron analyses of a sequence run: how each hidden neuron's weights settle in one irrep.

The probe :class:`~groupcomp.training.neurons.NeuronProbe` records, at every probe step, the
power per irrep of each neuron's input and output weights (``neurons.npz`` in the run folder;
definitions in :mod:`groupcomp.training.neurons` and docs/theory.md §2.8). This module reads them
back (:func:`neuron_history`) and derives:

* each neuron's **final dominant irrep** ``π_i`` (the irrep with most of its power at the last
  probe step);
* its **dominant fraction** over training: the share of its power in ``π_i`` at each step,
  ``P_i(π_i, t) / Σ_π P_i(π, t)`` (``normalize="current"``), or the group-agf papers' version
  ``P_i(π_i, t) / max_t' Σ_π P_i(π, t')`` (``normalize="peak"``, which also shows the growth);
* per irrep, the mean and interquartile band of that fraction over the **active** neurons
  whose final dominant irrep it is (pooled over seeds; a neuron is active when its final power
  is at least ``active`` × the largest final power of its seed: neurons that never left the
  initialisation scale are left out);
* the total weight power per irrep (summed over neurons, mean over seeds);
* for the RNN, ``W_mix``'s irrep-block fraction and its chance level ``Σ_π (H_π / H)²`` under
  the same labels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from groupcomp.errors import ConfigError, RunFolderError, ShapeError
from groupcomp.training.neurons import block_share, dominant_irrep, neuron_log_arrays

__all__ = ["ACTIVE", "FractionBand", "NeuronHistory", "neuron_history"]

#: a neuron is active when its final power is at least this share of its seed's largest one
ACTIVE = 1e-4
_WHICH = ("all", "in", "out")
_NORMALIZE = ("current", "peak")


@dataclass(frozen=True)
class FractionBand:
    """Dominant fraction of the active neurons whose final dominant irrep is one irrep.

    Attributes:
        label: the irrep.
        count: number of neurons (all seeds).
        mean, lo, hi: ``(T,)`` mean and quantiles (default 25 % / 75 %) over those neurons at
            each probe step.
    """

    label: str
    count: int
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


@dataclass(frozen=True)
class NeuronHistory:
    """The per-neuron weight spectra of a run over its probe steps.

    Attributes:
        steps: ``(T,)`` probe steps. seeds: ``(S,)``. labels: the ``m`` irreps (``G.irreps()``
            order). power_in, power_out: ``(T, S, H, m)`` power per irrep of each neuron's input
            and output weights. mix_block_fraction: ``(T, S)`` (RNN) or ``None``.
    """

    steps: np.ndarray
    seeds: np.ndarray
    labels: list[str]
    power_in: np.ndarray
    power_out: np.ndarray
    mix_block_fraction: np.ndarray | None = None

    def __post_init__(self) -> None:
        T, m = len(self.steps), len(self.labels)
        for name in ("power_in", "power_out"):
            a = getattr(self, name)
            if a.ndim != 4 or a.shape[0] != T or a.shape[1] != len(self.seeds) or a.shape[3] != m:
                raise ShapeError(
                    f"NeuronHistory: {name} must be (T, S, H, m) = ({T}, {len(self.seeds)}, H, "
                    f"{m}); got {a.shape}"
                )
        if self.power_in.shape != self.power_out.shape:
            raise ShapeError("NeuronHistory: power_in and power_out differ in shape")

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> NeuronHistory:
        """From the arrays of ``neurons.npz`` (:attr:`groupcomp.runs.LoadedRun.neurons`)."""
        missing = [
            k
            for k in ("steps", "seeds", "labels", "neuron_power_in", "neuron_power_out")
            if k not in arrays
        ]
        if missing:
            raise RunFolderError(f"neurons.npz: missing array(s) {missing}")
        mix = arrays.get("mix_block_fraction")
        return cls(
            steps=np.asarray(arrays["steps"], dtype=np.int64),
            seeds=np.asarray(arrays["seeds"], dtype=np.int64),
            labels=[str(s) for s in np.asarray(arrays["labels"]).tolist()],
            power_in=np.asarray(arrays["neuron_power_in"], dtype=np.float64),
            power_out=np.asarray(arrays["neuron_power_out"], dtype=np.float64),
            mix_block_fraction=None if mix is None else np.asarray(mix, dtype=np.float64),
        )

    @property
    def hidden(self) -> int:
        return int(self.power_in.shape[2])

    def power(self, which: str = "all") -> np.ndarray:
        """``(T, S, H, m)`` power per irrep of the neurons' ``all`` (input + output), ``in`` or
        ``out`` weights; ``Σ_π`` of ``all`` is ``‖θ_i‖²``."""
        if which == "all":
            return self.power_in + self.power_out
        if which == "in":
            return self.power_in
        if which == "out":
            return self.power_out
        raise ConfigError(f"which: {which!r} is not allowed; allowed values: {', '.join(_WHICH)}")

    def final_dominant(self, which: str = "all") -> np.ndarray:
        """``(S, H)`` index of each neuron's dominant irrep at the last probe step."""
        return dominant_irrep(self.power(which)[-1])[0]

    def active(self, which: str = "all", threshold: float = ACTIVE) -> np.ndarray:
        """``(S, H)`` bool: final power ≥ ``threshold`` × the largest final power of the seed."""
        tot = self.power(which)[-1].sum(-1)  # (S, H)
        return tot >= threshold * tot.max(axis=1, keepdims=True)

    def dominant_fraction(self, which: str = "all", normalize: str = "current") -> np.ndarray:
        """``(T, S, H)`` share of each neuron's power in its *final* dominant irrep at each probe
        step: over its power at that step (``current``) or over its largest total power over
        the run (``peak``). NaN for a neuron without power."""
        if normalize not in _NORMALIZE:
            raise ConfigError(
                f"normalize: {normalize!r} is not allowed; allowed values: {', '.join(_NORMALIZE)}"
            )
        P = self.power(which)
        dom = self.final_dominant(which)  # (S, H)
        top = np.take_along_axis(P, np.broadcast_to(dom[None, ..., None], (*P.shape[:3], 1)), -1)
        top = top[..., 0]
        tot = P.sum(-1)
        den = tot if normalize == "current" else np.broadcast_to(tot.max(axis=0), tot.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, top / np.where(den > 0, den, 1.0), np.nan)

    def fraction_bands(
        self,
        which: str = "all",
        normalize: str = "current",
        *,
        quantiles: tuple[float, float] = (0.25, 0.75),
        active: float = ACTIVE,
    ) -> list[FractionBand]:
        """Per irrep (``G.irreps()`` order; irreps no active neuron ends in are left out), the
        mean and the ``quantiles`` of :meth:`dominant_fraction` over the active neurons whose
        final dominant irrep it is, pooled over seeds."""
        frac = self.dominant_fraction(which, normalize)  # (T, S, H)
        dom = self.final_dominant(which)
        act = self.active(which, active)
        out = []
        for j, lab in enumerate(self.labels):
            sel = (dom == j) & act
            if not sel.any():
                continue
            f = frac[:, sel]  # (T, count)
            with warnings.catch_warnings():  # all-NaN steps of neurons without power
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(f, axis=1)
                lo, hi = np.nanquantile(f, list(quantiles), axis=1)
            out.append(FractionBand(lab, int(sel.sum()), mean, lo, hi))
        return out

    def power_per_irrep(self, which: str = "all") -> np.ndarray:
        """``(T, m)`` weight power per irrep summed over neurons, mean over seeds."""
        return self.power(which).sum(axis=2).mean(axis=1)

    def mix_chance(self) -> np.ndarray | None:
        """``(T, S)`` block fraction an unstructured ``W_mix`` would have under the labels the
        RNN's block fraction uses (each unit's dominant irrep at that step); ``None`` without
        ``W_mix``."""
        if self.mix_block_fraction is None:
            return None
        labels = dominant_irrep(self.power("all"))[0]  # (T, S, H)
        return block_share(labels, len(self.labels))


def neuron_history(run: Any) -> NeuronHistory:
    """The :class:`NeuronHistory` of a run: a run-folder path, a
    :class:`~groupcomp.runs.LoadedRun`, the :class:`~groupcomp.runs.RunResult` of
    :func:`groupcomp.train` (also for in-memory runs), the arrays of ``neurons.npz``, or a
    :class:`NeuronHistory` (returned as is).

    Raises:
        RunFolderError: the run recorded no per-neuron spectra (an arithmetic run, or one
            written before groupcomp recorded them).
    """
    if isinstance(run, NeuronHistory):
        return run
    if isinstance(run, dict):
        return NeuronHistory.from_arrays(run)
    if isinstance(run, str | Path):
        from groupcomp.runs.load import load_run

        run = load_run(run)
    if hasattr(run, "state") and hasattr(run, "experiment"):  # a RunResult
        exp = run.experiment
        arrays = neuron_log_arrays(run.state.logs)
        if not arrays:
            raise RunFolderError("the run recorded no per-neuron spectra (not a sequence run?)")
        arrays["seeds"] = np.asarray(exp.seeds)
        arrays["labels"] = np.asarray(exp.labels)
        return NeuronHistory.from_arrays(arrays)
    arrays = getattr(run, "neurons", None)
    if arrays is None:
        where = getattr(run, "path", run)
        raise RunFolderError(
            f"{where}: no neurons.npz - the run recorded no per-neuron spectra (an arithmetic "
            "run, or one trained before groupcomp recorded them)"
        )
    return NeuronHistory.from_arrays(arrays)
