"""What a run did, read off its metrics: the observed staircase (learning order, plateaus, drop
steps) of a sequence run, the grokking epochs of an arithmetic run."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # tables come in; pandas is imported by whoever built them
    import pandas as pd

__all__ = [
    "first_epoch_reaching",
    "grokking_epochs",
    "loss_stability",
    "observed_staircase",
]

#: a rise of the loss above its running minimum by more than this fraction (and by more than
#: :data:`SPIKE_FLOOR` of the initial loss) is a spike (:func:`loss_stability`)
SPIKE_RISE = 0.25
SPIKE_FLOOR = 1e-3
#: a plateau is "flat" where |d log L / d log t| is below this (:func:`observed_staircase`)
FLAT_SLOPE = 0.05

#: an irrep counts as "started" once its residual is below START of its initial value, and as
#: "learned" once it is below DONE of it
START = 0.9
DONE = 0.05


def observed_staircase(
    metrics: pd.DataFrame, theory: dict[str, Any], *, seed: int | None = None
) -> dict[str, Any]:
    """Compare a run's per-irrep losses with a predicted staircase.

    Args:
        metrics: a run's metrics (``step, seed, loss, irrep_loss/<label>`` …).
        theory: ``Staircase.to_dict()`` (needs ``irrep_labels``, ``order``, ``plateaus_mse``).
        seed: one seed, or ``None`` for the mean over seeds.

    Returns a dict with:
        ``learned_step``: per irrep label, first logged step where its residual is below 5 % of
        its initial value (``None`` if never);
        ``order``: observed groups of labels (irreps learned at the same logged step together),
        only irreps with non-zero initial residual;
        ``order_matches_theory``: whether the predicted groups are learned in the predicted order
        (each predicted group finishes no earlier than the previous one);
        ``plateaus_mse``: observed loss level on each predicted plateau: the initial level (median
        before the first drop), the flattest point in log-time between consecutive drops, and the
        final level (median of the last 20 % of steps); ``None`` where not reached or where the
        loss is not flat there (it changes by more than :data:`FLAT_SLOPE` of its level, and
        by more than 1e-3 of the initial loss, per e-fold of time);
        ``plateau_rel_error``: |observed − predicted| / predicted per plateau (absolute for 0);
        ``drop_steps``: per predicted group, first step where the loss falls below the midpoint
        of the two predicted plateaus around that drop.
    """
    labels = list(theory["irrep_labels"])
    df = metrics if seed is None else metrics[metrics["seed"] == seed]
    per_step = df.groupby("step").mean(numeric_only=True)
    steps = per_step.index.to_numpy()
    loss = per_step["loss"].to_numpy()
    cols = [f"irrep_loss/{lab}" for lab in labels]
    logged = per_step[cols].dropna(how="all") if all(c in per_step for c in cols) else None
    out: dict[str, Any] = {
        "learned_step": {},
        "order": [],
        "order_matches_theory": None,
        "plateaus_mse": [],
        "plateau_rel_error": [],
        "drop_steps": [],
    }
    order = [list(g) for g in theory["order"]]
    predicted = [float(v) for v in theory["plateaus_mse"]]
    if logged is None or logged.empty:
        return out
    init = logged.iloc[0].to_numpy()
    scale = max(float(init.sum()), 1e-300)
    frac = logged.to_numpy() / np.where(init > 0, init, np.inf)
    lsteps = logged.index.to_numpy()

    def first_step(mask: np.ndarray) -> int | None:
        idx = np.flatnonzero(mask)
        return int(lsteps[idx[0]]) if idx.size else None

    learned: dict[str, int | None] = {}
    started: dict[str, int | None] = {}
    for j, lab in enumerate(labels):
        if init[j] <= 1e-9 * scale:
            continue
        learned[lab] = first_step(frac[:, j] < DONE)
        started[lab] = first_step(frac[:, j] < START)
    out["learned_step"] = learned
    groups: dict[int, list[str]] = {}
    for lab, st in learned.items():
        if st is not None:
            groups.setdefault(st, []).append(lab)
    out["order"] = [groups[s] for s in sorted(groups)]

    def group_end(g: list[int]) -> int | None:
        ends = [learned.get(labels[j]) for j in g]
        return None if any(e is None for e in ends) else max(ends)  # type: ignore[type-var]

    def group_start(g: list[int]) -> int | None:
        st = [started.get(labels[j]) for j in g if started.get(labels[j]) is not None]
        return min(st) if st else None

    ends = [group_end(g) for g in order]
    known = [e for e in ends if e is not None]
    out["order_matches_theory"] = bool(
        len(known) == len(ends) and all(a <= b for a, b in zip(ends, ends[1:], strict=False))
    )
    # drop steps: first step where the loss falls below the midpoint of the predicted plateaus
    drops: list[int | None] = []
    for m in range(len(order)):
        mid = (predicted[m] + predicted[m + 1]) / 2
        idx = np.flatnonzero(loss <= mid)
        drops.append(int(steps[idx[0]]) if idx.size else None)
    # plateaus: the flattest point (in log-time) between consecutive observed drops
    last = int(steps[-1])
    plateaus: list[float | None] = []
    errors: list[float | None] = []
    for m, pred in enumerate(predicted):
        val: float | None
        if m == 0:
            hi = drops[0] if drops and drops[0] is not None else last
            val = float(np.median(loss[steps <= max(0, hi // 2)]))
        elif m == len(order):
            lo = drops[-1] if order else 0
            val = None if lo is None else _final_level(steps, loss, float(loss[0]))
        else:
            lo, hi = drops[m - 1], drops[m] if drops[m] is not None else last
            val = None if lo is None else _flattest(steps, loss, lo, hi, float(loss[0]))
        plateaus.append(val)
        errors.append(None if val is None else abs(val - pred) / pred if pred > 0 else abs(val))
    out["plateaus_mse"] = plateaus
    out["plateau_rel_error"] = errors
    out["drop_steps"] = drops
    return out


def _is_flat(change: float, value: float, initial: float) -> bool:
    """A change of the loss per e-fold of time small against the level itself or against the
    initial loss (:data:`FLAT_SLOPE`; 1e-3 of the initial loss)."""
    return abs(change) <= max(FLAT_SLOPE * abs(value), 1e-3 * abs(initial))


def _flattest(
    steps: np.ndarray, loss: np.ndarray, lo: int, hi: int, initial: float
) -> float | None:
    """Loss at the point of smallest |dL / d log t| between steps ``lo`` and ``hi``; ``None``
    when even that point is not flat (no plateau between the two drops)."""
    if hi <= lo + 2:
        return None
    grid = np.unique(np.round(np.geomspace(max(lo, 1), hi, 64)).astype(np.int64))
    pos = np.unique(np.searchsorted(steps, grid).clip(0, len(steps) - 1))
    vals = loss[pos]
    if len(vals) < 3:
        return None
    t = np.log(steps[pos].astype(float) + 1.0)
    slope = np.abs(vals[2:] - vals[:-2]) / np.maximum(t[2:] - t[:-2], 1e-12)
    j = int(np.argmin(slope))
    val = float(vals[1 + j])
    return val if _is_flat(float(slope[j]), val, initial) else None


def _final_level(steps: np.ndarray, loss: np.ndarray, initial: float) -> float | None:
    """Median loss over the last 20 % of the steps, or ``None`` when the loss still moves
    there (the run ends mid-drop)."""
    last = float(steps[-1])
    win = loss[steps >= 0.8 * last]
    if win.size < 2:
        return None
    val = float(np.median(win))
    # change per e-fold of time over the window (log(1/0.8) ≈ 0.22 e-folds)
    change = (float(win.max()) - float(win.min())) / math.log(1 / 0.8)
    return val if _is_flat(change, val, initial) else None


def _per_seed(metrics: pd.DataFrame, col: str) -> dict[int, pd.Series]:
    df = metrics[["epoch", "seed", col]].dropna()
    out = {}
    for seed, sub in df.groupby("seed", sort=True):
        out[int(seed)] = sub.sort_values("epoch").set_index("epoch")[col]
    return out


def first_epoch_reaching(
    metrics: pd.DataFrame, col: str = "test_acc", threshold: float = 1.0, *, stable: bool = False
) -> dict[int, int | None]:
    """Per seed, the first epoch with ``col >= threshold`` (``None`` if never).

    With ``stable=True``: the first epoch from which ``col >= threshold`` holds at every later
    recorded epoch (``None`` if the last value is below the threshold).
    """
    out: dict[int, int | None] = {}
    eps = 1e-9
    for seed, s in _per_seed(metrics, col).items():
        ok = s.to_numpy() >= threshold - eps
        epochs = s.index.to_numpy()
        if not ok.any():
            out[seed] = None
        elif not stable:
            out[seed] = int(epochs[np.argmax(ok)])
        elif not ok[-1]:
            out[seed] = None
        else:
            bad = np.nonzero(~ok)[0]
            out[seed] = int(epochs[bad[-1] + 1]) if bad.size else int(epochs[0])
    return out


def grokking_epochs(metrics: pd.DataFrame, threshold: float = 1.0) -> dict[str, Any]:
    """First epochs at which train and test accuracy reach ``threshold`` (per seed), the stable
    versions, and the gap ``test − train`` (the grokking delay) where both exist."""
    train = first_epoch_reaching(metrics, "train_acc", threshold)
    test = first_epoch_reaching(metrics, "test_acc", threshold)
    test_stable = first_epoch_reaching(metrics, "test_acc", threshold, stable=True)
    gap = {
        s: (test[s] - train[s]) if test.get(s) is not None and train.get(s) is not None else None
        for s in test
    }
    return {
        "threshold": threshold,
        "train_epoch": train,
        "test_epoch": test,
        "test_epoch_stable": test_stable,
        "delay": gap,
    }


def loss_stability(
    loss: np.ndarray,
    steps: np.ndarray | None = None,
    *,
    rise: float = SPIKE_RISE,
    floor: float = SPIKE_FLOOR,
    smooth: int = 1,
) -> dict[str, Any]:
    """Spikes of one training-loss curve: rises above the running minimum.

    Gradient descent with a stable learning rate from a small initialisation never raises the
    full-batch loss by more than round-off, so any rise of the loss above its running minimum
    ``m(t) = min_{s≤t} L(s)`` by more than ``max(rise·m(t), floor·L(0))`` is an instability
    (for stochastic data pass ``smooth`` > 1: the rise is measured on a running median of
    ``smooth`` steps). Consecutive spiking steps form one *episode*; several episodes mean the
    run oscillates.

    Args:
        loss: ``(T,)`` per-step training loss (non-finite values count as spikes).
        steps: ``(T,)`` step of each value (default ``0..T-1``).
        rise, floor: the thresholds above.
        smooth: running-median window (odd; 1 = none).

    Returns:
        ``stable`` (bool), ``episodes`` (number of separate spikes), ``first_step`` (first step
        of the first episode), ``worst_step`` / ``worst_loss`` / ``worst_from`` (the largest
        rise: its step, the loss reached and the running minimum it rose from),
        ``worst_ratio`` (``worst_loss / worst_from``); the ``*_step`` / ``*_loss`` entries are
        ``None`` for a stable curve.
    """
    y = np.asarray(loss, dtype=np.float64).reshape(-1)
    t = np.arange(y.size) if steps is None else np.asarray(steps).reshape(-1)
    out: dict[str, Any] = {
        "stable": True,
        "episodes": 0,
        "first_step": None,
        "worst_step": None,
        "worst_loss": None,
        "worst_from": None,
        "worst_ratio": None,
    }
    if y.size < 2:
        return out
    y = np.where(np.isfinite(y), y, np.inf)
    if smooth > 1 and y.size > smooth:
        half = smooth // 2
        pad = np.pad(y, half, mode="edge")
        win = np.lib.stride_tricks.sliding_window_view(pad, 2 * half + 1)
        y = np.median(win, axis=1)
    runmin = np.minimum.accumulate(y)
    excess = y - runmin
    bad = excess > np.maximum(rise * runmin, floor * y[0])
    if not bad.any():
        return out
    starts = np.flatnonzero(bad & ~np.concatenate([[False], bad[:-1]]))
    ratio = np.where(bad, y / np.maximum(runmin, 1e-300), 0.0)
    w = int(np.argmax(ratio))
    out.update(
        stable=False,
        episodes=int(starts.size),
        first_step=int(t[starts[0]]),
        worst_step=int(t[w]),
        worst_loss=float(y[w]),
        worst_from=float(runmin[w]),
        worst_ratio=float(ratio[w]),
    )
    return out
