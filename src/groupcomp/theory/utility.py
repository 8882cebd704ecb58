"""Brute-force AGF utility of a single neuron, and its numerical maximisation on the unit sphere.

This is the *reference* implementation used to check the closed forms of
:mod:`groupcomp.theory.staircase`; it enumerates all ``n^k`` input sequences, so it is meant for
small groups and small ``k`` only (``n^k`` up to a few times ``10^5``).

Setting (docs/theory.md §1.2–1.3, P1 = Marchetti et al., arXiv 2602.03655, §4). A neuron
``θ = (u_1, …, u_k, w)`` with ``u_j, w ∈ R^n`` of the two-layer network with activation
``σ(z) = z^k`` outputs ``f(x_g; θ) = w σ(Σ_j ⟨u_j, x_{g_j}⟩)`` on the sequence
``g = (g_1, …, g_k)``, where ``x_g(h) = x(g·h)`` is the translated template. Its utility is

    U(θ) = (1/n^k) Σ_{g ∈ G^k} ⟨ f(x_g; θ), r(g) ⟩,

with ``r(g)`` the current residual; before anything is learned ``r(g) = x_{g_1⋯g_k}`` (the
target). AGF (P2 = Kunin et al., arXiv 2506.06489) activates dormant neurons in the order of their
maximal utility on the unit sphere ``‖θ‖ = 1`` (``‖θ‖² = Σ_j ‖u_j‖² + ‖w‖²``).

Neuron layout used throughout: an array of shape ``(..., k + 1, n)`` whose rows are
``u_1, …, u_k, w`` (the output weights last).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from groupcomp.errors import ConfigError, ShapeError
from groupcomp.groups.core import FiniteGroup
from groupcomp.templates import check_template
from groupcomp.theory.staircase import _check_k

__all__ = ["MAX_SEQUENCES", "UtilityMaximum", "maximize_utility", "utility"]

#: Largest ``n^k`` accepted by the brute-force routines (they hold ``neurons × n^k`` values).
MAX_SEQUENCES = 2_000_000

Sigma = Callable[[torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------- helpers
def _check_size(n: int, k: int) -> None:
    if n**k > MAX_SEQUENCES:
        raise ConfigError(
            f"k: the brute-force utility enumerates all n^k = {n}^{k} = {n**k} sequences, more "
            f"than MAX_SEQUENCES = {MAX_SEQUENCES}; use groupcomp.theory.irrep_utilities (closed "
            "form) for large groups"
        )


def _sequence_products(table: np.ndarray, k: int) -> np.ndarray:
    """``(n,)*k`` int64 array with entry ``[g_1, …, g_k] = g_1·g_2⋯g_k``."""
    n = table.shape[0]
    ar = np.arange(n)
    prod = ar
    for _ in range(k - 1):
        prod = table[prod[..., None], ar]
    return prod


def _check_residual(residual: np.ndarray | torch.Tensor, n: int, k: int) -> torch.Tensor:
    r = torch.as_tensor(np.asarray(residual, dtype=np.float64))
    if r.shape == (n,) * k + (n,):
        r = r.reshape(n**k, n)
    if r.shape != (n**k, n):
        raise ShapeError(
            f"residual: expected shape ({n**k}, {n}) or {(n,) * k + (n,)} (one residual vector per "
            f"sequence, g_1 most significant), got {tuple(r.shape)}"
        )
    return r


class _UtilityEvaluator:
    """Batched, differentiable ``U(θ)`` for a fixed group, template, ``k`` and residual."""

    def __init__(
        self,
        G: FiniteGroup,
        template: np.ndarray,
        k: int,
        residual: np.ndarray | None,
        sigma: Sigma | None,
    ) -> None:
        n = G.order
        self.n, self.k = n, k
        x = torch.as_tensor(template, dtype=torch.float64)
        self.enc = x[torch.as_tensor(np.array(G.table))]  # enc[g] = x_g, x_g(h) = x(g·h)
        self.prod = torch.as_tensor(_sequence_products(G.table, k).reshape(-1))
        self.residual = None if residual is None else _check_residual(residual, n, k)
        self.sigma = sigma

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        """``theta: (B, k+1, n)`` -> ``(B,)`` utilities."""
        n, k = self.n, self.k
        B = theta.shape[0]
        # a[b, j, g] = <u_j, x_g>
        a = torch.einsum("bjh,gh->bjg", theta[:, :k], self.enc)
        z = a[:, 0]
        for j in range(1, k):
            z = z.unsqueeze(-1) + a[:, j].reshape((B,) + (1,) * j + (n,))
        z = z.reshape(B, -1)  # (B, n^k), g_1 most significant
        s = z**k if self.sigma is None else self.sigma(z)
        w = theta[:, k]
        if self.residual is None:
            b = w @ self.enc.T  # b[:, g] = <w, x_g>
            t = b[:, self.prod]
        else:
            t = w @ self.residual.T
        return (s * t).mean(dim=1)


# --------------------------------------------------------------------------- public API
def utility(
    G: FiniteGroup,
    template: np.ndarray,
    k: int,
    neuron: np.ndarray,
    residual: np.ndarray | None = None,
    *,
    sigma: Sigma | None = None,
) -> float | np.ndarray:
    """Brute-force AGF utility ``U(θ)`` of one or many neurons (docs/theory.md §1.3).

    ``U(θ) = (1/n^k) Σ_{g∈G^k} ⟨ w σ(Σ_j ⟨u_j, x_{g_j}⟩), r(g) ⟩`` with ``x_g(h) = x(g·h)``.

    Args:
        G: the group (order ``n``).
        template: ``(n,)`` template ``x``.
        k: sequence length (also the degree of ``σ(z) = z^k``).
        neuron: ``(k+1, n)`` or ``(..., k+1, n)``: rows ``u_1, …, u_k, w``. Not normalised here
            (``U`` is homogeneous of degree ``k+1`` in ``θ`` for ``σ = z^k``).
        residual: optional residual ``r(g)``, shape ``(n^k, n)`` (sequences in C order,
            ``g_1`` most significant) or ``(n,)*k + (n,)``. Default: the target
            ``x_{g_1⋯g_k}``.
        sigma: optional activation, a function of a float64 ``torch.Tensor`` (default
            ``z ↦ z**k``). Used to check that lower-order terms of a monic degree-``k``
            polynomial leave ``U`` unchanged for mean-zero templates (docs/theory.md §1.2).

    Returns:
        A float for a single ``(k+1, n)`` neuron, else an array of shape ``neuron.shape[:-2]``.

    Cost: ``O(B·n^k)`` time and memory for ``B`` neurons; ``n^k ≤ MAX_SEQUENCES``.
    """
    k = _check_k(k)
    x = check_template(G, template)
    n = G.order
    _check_size(n, k)
    th = np.asarray(neuron, dtype=np.float64)
    if th.ndim < 2 or th.shape[-2:] != (k + 1, n):
        raise ShapeError(
            f"neuron: expected shape (k+1, n) = ({k + 1}, {n}) or (..., {k + 1}, {n}) "
            f"(rows u_1..u_k, w), got {th.shape}"
        )
    batch_shape = th.shape[:-2]
    ev = _UtilityEvaluator(G, x, k, residual, sigma)
    with torch.no_grad(), _single_thread():
        out = ev(torch.as_tensor(th.reshape(-1, k + 1, n))).numpy()
    if not batch_shape:
        return float(out[0])
    return out.reshape(batch_shape)


@dataclass(frozen=True)
class UtilityMaximum:
    """Result of :func:`maximize_utility`.

    Attributes:
        value: the best utility found, ``max_θ U(θ)`` over ``‖θ‖ = 1``.
        neuron: ``(k+1, n)`` maximiser (unit norm), rows ``u_1, …, u_k, w``.
        values: ``(restarts,)`` the local maximum reached from every restart (sorted descending),
            useful to check that every local maximum is some closed-form ``U*_π``.
        grad_norm: ``(restarts,)`` the norm of the tangential gradient at the end (same order as
            ``values``), in the internally rescaled problem (unit-norm template); below ``gtol``
            means converged.
        steps: number of ascent steps taken.
    """

    value: float
    neuron: np.ndarray
    values: np.ndarray
    grad_norm: np.ndarray
    steps: int


def maximize_utility(
    G: FiniteGroup,
    template: np.ndarray,
    k: int,
    *,
    restarts: int = 48,
    steps: int = 3000,
    seed: int = 0,
    residual: np.ndarray | None = None,
    sigma: Sigma | None = None,
    gtol: float = 1e-8,
) -> UtilityMaximum:
    """Maximise the brute-force utility over the unit sphere by projected gradient ascent.

    All ``restarts`` random starting points (i.i.d. Gaussian, normalised) are ascended together
    as one batch in float64 with torch autograd. Each restart takes the step
    ``θ ← (θ + η ∇_⊥U) / ‖θ + η ∇_⊥U‖`` (``∇_⊥`` = tangential gradient) with its own step size
    ``η``, grown ×1.5 after an accepted step and halved (step rejected) when ``U`` would
    decrease, so ``U`` is non-decreasing for every restart. Stops when every restart's tangential
    gradient is below ``gtol`` (relative to the problem's scale) or after ``steps`` steps.

    For ``σ = z^k`` the problem is rescaled internally (template to unit norm, residual to unit
    RMS norm; ``U`` is homogeneous of degree ``k`` in the inputs and 1 in the residual) and
    the value scaled back, so the step sizes do not depend on the template's magnitude.
    Torch runs on one intra-op thread during the ascent (restored afterwards): the tensors are
    tiny and thread hand-offs made it ~25× slower on a loaded 2-core machine.

    Args:
        G, template, k, residual, sigma: as in :func:`utility`.
        restarts: number of random starts (ascended in one batch).
        steps: maximum number of ascent steps.
        seed: seeds the ``torch.Generator`` of the starting points.
        gtol: convergence threshold on the tangential gradient norm (rescaled problem).

    Returns:
        :class:`UtilityMaximum` (best value, maximiser, the value reached by every restart).
    """
    k = _check_k(k)
    x = check_template(G, template)
    n = G.order
    _check_size(n, k)
    if restarts < 1 or steps < 0:
        raise ConfigError(
            f"restarts/steps: expected restarts >= 1 and steps >= 0, got {restarts}, {steps}"
        )

    scale = 1.0
    if sigma is None:
        sx = float(np.linalg.norm(x))
        if residual is not None:
            r = _check_residual(residual, n, k).numpy()
            sr = float(np.sqrt(np.mean(np.sum(r**2, axis=1))))
            residual = r / sr if sr > 0 else r
        else:
            sr = sx
        if sx == 0.0 or sr == 0.0:
            zero = np.zeros((k + 1, n))
            zero[k, 0] = 1.0
            return UtilityMaximum(0.0, zero, np.zeros(restarts), np.zeros(restarts), 0)
        x = x / sx
        scale = sx**k * sr

    with _single_thread():
        return _ascend(G, x, k, residual, sigma, restarts, steps, seed, gtol, scale)


@contextmanager
def _single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread (restored afterwards): the tensors here are tiny and
    multi-threading makes every step several times slower on a loaded machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _ascend(
    G: FiniteGroup,
    x: np.ndarray,
    k: int,
    residual: np.ndarray | None,
    sigma: Sigma | None,
    restarts: int,
    steps: int,
    seed: int,
    gtol: float,
    scale: float,
) -> UtilityMaximum:
    n = G.order
    ev = _UtilityEvaluator(G, x, k, residual, sigma)
    gen = torch.Generator().manual_seed(int(seed))
    theta = torch.randn((restarts, k + 1, n), generator=gen, dtype=torch.float64)
    theta = theta / theta.flatten(1).norm(dim=1)[:, None, None]

    def value_and_tangent(th: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        th = th.detach().requires_grad_(True)
        u = ev(th)
        (g,) = torch.autograd.grad(u.sum(), th)
        radial = (g * th).flatten(1).sum(dim=1)
        g = g - radial[:, None, None] * th
        return u.detach(), g.detach()

    u, g = value_and_tangent(theta)
    lr = torch.full((restarts,), 0.5, dtype=torch.float64)
    done = 0
    while done < steps:
        # a restart is finished when its gradient is tiny or its step size collapsed (no step
        # increases U any more at float64 precision)
        finished = (g.flatten(1).norm(dim=1) < gtol) | (lr < 1e-12)
        if bool(finished.all()):
            break
        done += 1
        cand = theta + lr[:, None, None] * g
        cand = cand / cand.flatten(1).norm(dim=1)[:, None, None]
        u_c, g_c = value_and_tangent(cand)
        ok = (u_c >= u) & ~finished
        theta = torch.where(ok[:, None, None], cand, theta)
        u = torch.where(ok, u_c, u)
        g = torch.where(ok[:, None, None], g_c, g)
        lr = torch.where(ok, torch.clamp(lr * 1.5, max=1e3), torch.where(finished, lr, lr * 0.5))

    gnorm = g.flatten(1).norm(dim=1).numpy()
    vals = u.numpy() * scale
    idx = np.argsort(-vals, kind="stable")
    best = int(idx[0])
    return UtilityMaximum(
        value=float(vals[best]),
        neuron=theta[best].numpy().copy(),
        values=vals[idx],
        grad_norm=gnorm[idx],
        steps=done,
    )
