"""Analysis of group-arithmetic runs: grokking times, and CoGS sum potentials / solution orders.

* :func:`first_epoch_reaching` / :func:`grokking_epochs` — from a metrics table (columns
  ``epoch, seed, train_acc, test_acc``): the first epoch at which an accuracy reaches a threshold
  (default 100 %), and the first epoch from which it stays there until the end.
* :func:`fourier_coefficients`, :func:`sum_potentials`, :func:`solution_orders` — P3's quantities
  (Y. Tian, arXiv 2410.01779; docs/theory.md §5.1, §5.4) for a two-operand network on ``Z_d`` with
  one-hot inputs: ``z_{akj} = (1/d) Σ_g w_{aj}[g] e^{−2πikg/d}`` (same for ``b``),
  ``z_{ckj} = (1/d) Σ_g w_{cj}[g] e^{+2πikg/d}``, sum potentials
  ``r_{k1 k2 k} = Σ_j z_{a k1 j} z_{b k2 j} z_{c k j}``, and the per-frequency *order* = number
  of hidden nodes ``j`` with ``|z_{akj}| > threshold`` (P3's histogram uses 0.05).

These keep the raw normalisation of P3's code (``z_c`` of the library's ``W_out``): the sum
potentials of the paper, Theorem 1, the constructions and the factorisation of trained networks are
in :mod:`groupcomp.theory.cogs` / :mod:`groupcomp.analysis.cogs`, where ``z_c`` carries the factor
``2d`` (``r_kkk = 1`` at a global optimum).
"""

from __future__ import annotations

import numpy as np

from groupcomp.runs.observe import first_epoch_reaching, grokking_epochs

__all__ = [
    "first_epoch_reaching",
    "fourier_coefficients",
    "grokking_epochs",
    "order_histogram",
    "solution_orders",
    "sum_potentials",
]


def fourier_coefficients(w: np.ndarray, sign: int = -1) -> np.ndarray:
    """``z_k = (1/d) Σ_g w[..., g] e^{sign·2πi k g/d}`` for ``k = 0..d−1``: ``(..., d)`` complex."""
    w = np.asarray(w, dtype=np.float64)
    d = w.shape[-1]
    if sign < 0:
        return np.fft.fft(w, axis=-1) / d
    return np.fft.ifft(w, axis=-1)  # ifft already carries 1/d


def sum_potentials(W_a: np.ndarray, W_b: np.ndarray, W_c: np.ndarray) -> np.ndarray:
    """P3's sum potentials ``r[k1, k2, k] = Σ_j z_{a k1 j} z_{b k2 j} z_{c k j}``.

    Args:
        W_a, W_b: ``(q, d)`` input weights of the hidden nodes for operands a and b
            (``ArithNet.W_in[s, :, 0]`` / ``[s, :, 1]`` for a one-hot model on ``Z_d``).
        W_c: ``(q, d)`` output weights (``ArithNet.W_out[s]``).

    Returns:
        ``(d, d, d)`` complex array.
    """
    za = fourier_coefficients(W_a, -1)
    zb = fourier_coefficients(W_b, -1)
    zc = fourier_coefficients(W_c, +1)
    return np.einsum("ja,jb,jc->abc", za, zb, zc)


def solution_orders(W_a: np.ndarray, threshold: float = 0.05) -> np.ndarray:
    """Per frequency ``k = 0..d−1``: number of hidden nodes with ``|z_{akj}| > threshold``
    (P3's "order" of the solution at frequency k; ``W_a``: ``(q, d)``)."""
    za = fourier_coefficients(W_a, -1)
    return (np.abs(za) > threshold).sum(axis=0)


def order_histogram(
    W_a: np.ndarray, threshold: float = 0.05, *, skip_zero: bool = True
) -> dict[int, int]:
    """How many frequency pairs have each order (``{order: count}``), counting each pair
    ``{k, d−k}`` **once** (``k = 1..⌊d/2⌋``; real weights have the same order at ``k`` and
    ``d−k``), as P3's ``sol_distri.py`` (Fig. 4) does; ``skip_zero=False`` adds frequency 0.
    (Until 0.2 each pair was counted twice.) For products of cyclic groups and trained runs see
    :func:`groupcomp.analysis.cogs.order_histogram`."""
    orders = solution_orders(W_a, threshold)
    d = orders.shape[0]
    orders = orders[(1 if skip_zero else 0) : d // 2 + 1]
    vals, counts = np.unique(orders, return_counts=True)
    return {int(v): int(c) for v, c in zip(vals, counts, strict=True)}
