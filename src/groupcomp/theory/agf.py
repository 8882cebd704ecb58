"""Alternating Gradient Flows (AGF) for the two-layer ``z^k`` network (THEORY.md §4).

AGF (P2 = Kunin, Marchetti, Chen, Karkada, Simon, DeWeese, Ganguli, Miolane, "Alternating
Gradient Flows", arXiv 2506.06489) describes training from a small initialisation as an
alternation of two phases: *dormant* neurons (norm ≈ 0) slowly turn towards directions of large
utility while their norms grow at a rate set by that utility; when one of them has accumulated
enough utility it *activates*, and the *active* neurons then minimise the loss (a loss drop).
This module simulates that algorithm (THEORY.md §4.2) for the library's two-layer network

    f(x_{g_1}, …, x_{g_k}) = Σ_i w_i σ(Σ_j ⟨u_{ij}, x_{g_j}⟩),   σ(z) = z^k,

(:class:`groupcomp.models.TwoLayerNet`), on the exhaustive data set of a
:class:`groupcomp.tasks.SequenceTask` (all ``n^k`` sequences, uniform weight).

Normalisations (docs/architecture.md, THEORY.md §1.2–1.3)
------------------------------------------------------------
* Loss. Reported levels are **mean-MSE** (``torch.nn.MSELoss``, mean over sequences and the
  ``n`` outputs). Internally the flow is that of P1's loss ``L_P1 = ½ E_g ‖y − f‖²
  = (n/2) L_MSE``.
* Utility. ``U(θ; r) = E_g ⟨f(x_g; θ), r(g)⟩`` (P1's normalisation, the same as
  :func:`groupcomp.theory.utility` and the closed forms ``U*`` of
  :func:`groupcomp.theory.irrep_utilities`). For a neuron near the origin,
  ``−∇_θ L_P1 = ∇_θ U(θ; r) + O(‖θ‖^{2κ−1})`` with ``r`` the residual of the active network.
* Time. ``t`` is the time of the flow ``dθ_i/dt = −η_i ∇_{θ_i} L_P1`` with ``η_i = 1``
  (``optimizer="gd"``: plain gradient flow, P2's setting) or ``η_i = ‖θ_i‖^{2−κ}``
  (``optimizer="per_neuron"``: P1's per-neuron rescaled flow, without P1's ``log(1/α)`` factor;
  divide ``t`` by ``ln(1/α)`` for P1's rescaled time). One step of the corresponding trainer
  (SGD or :class:`groupcomp.optim.PerNeuronSGD` with learning rate ``lr`` and heavy-ball momentum
  ``m`` on ``nn.MSELoss``, full batch) is worth

      Δt = 2·lr / (n·(1 − m))

  time units. Derivation: ``∇L_MSE = (2/n) ∇L_P1``, so one step moves ``θ_i`` by
  ``−lr·η_i·(2/n)·∇L_P1``, i.e. ``2 lr/n`` time units of the flow; on the slow AGF time scales
  momentum multiplies the step by ``1/(1 − m)`` (the geometric sum of the buffer). This is the
  conversion of THEORY.md §2.5 and of the P2 notebook (``step_size = 2·coef·lr/(1 − mom)``).

Dormant phase (utility maximisation)
------------------------------------
Write ``θ_i = s_i θ̄_i`` with ``‖θ̄_i‖ = 1``. Since ``U`` is homogeneous of degree ``κ = k + 1``,
the flow above decouples exactly (up to the ``O(‖θ‖^{2κ−1})`` self-interaction) into

    dθ̄_i/dt = s_i^q · P^⊥_{θ̄_i} ∇U(θ̄_i; r),      d s_i/dt = κ s_i^{q+1} Ū_i,   Ū_i = U(θ̄_i; r),

with ``q = κ − 2`` (``gd``) or ``q = 0`` (``per_neuron``). With the accumulated utility
``S_i(t) = ∫ κ Ū_i ds`` (P2) the norm is a function of ``S_i``:
``s_i = s_i(0) e^{S_i}`` (``q = 0``) or ``s_i = (s_i(0)^{−q} − q S_i)^{−1/q}`` (``q > 0``), and the
neuron reaches norm 1 — P2's activation — when ``S_i`` reaches

    c_i = ln(1/s_i(0))                      (q = 0, per-neuron flow),
    c_i = (s_i(0)^{−q} − 1) / q             (q > 0; κ = 3: 1/s_i(0) − 1, the P2 notebook's c_a).

(In P2's notation the threshold is ``c_i/η``; here ``η = 1`` and the learning rate only enters
through ``Δt``.) The directions therefore turn at the *exact* gradient-flow speed ``s_i^q``
(``utilmax_lr=None``, the default). With ``utilmax_lr`` set, they instead ascend at the fixed
speed ``utilmax_lr`` per optimiser step, ``dθ̄_i/dt = (utilmax_lr/Δt) P^⊥∇U`` — what the P2
notebook does (its ``utilmax_lr = 0.1`` is much faster than the physical speed, i.e. the
directions are essentially always at a local maximiser of ``U``; this is the idealisation behind
the closed-form times ``τ = c/(κU*)`` of THEORY.md §2.5 and §4.3).

Everything is vectorised over the dormant neurons: ``⟨u_{ij}, x_g⟩`` for all ``g`` is one matmul
with the ``(n, n)`` encoding (the lookup trick of the models), the utilities and their gradients
are computed in closed form (no autograd) from ``z_i(g) = Σ_j ⟨u_{ij}, x_{g_j}⟩`` on the
``n^k`` sequences. The ODE is integrated by explicit Euler with an adaptive step (each direction
turns by at most ``utilmax_tol`` radians per step, the speed ``s_i^q`` changes by at most a
fraction ``utilmax_tol``), and the threshold crossing is located exactly at the end of a
shortened step (event location).

Activation and cost minimisation
--------------------------------
The first neuron(s) to reach their threshold jump to the active set (the jump time fixes the
plateau length). A newly active neuron starts from its direction scaled to the loss-minimising
norm on its ray (``s^κ = Ū/E‖f(θ̄)‖²``); then all active neurons minimise the loss over their full
parameters (``costmin="lbfgs"`` — default, full-batch L-BFGS with strong-Wolfe line search —,
``"adam"`` or ``"gd"``) until converged, with the dormant neurons frozen (cost minimisation is
instantaneous on AGF's time scale). The converged loss is the new plateau level, and the residual
``r = y − f(Θ_A)`` drives the next dormant phase. Dormant neurons keep their accumulated
``S_i`` across rounds (P2).

Deactivation (our reading of P2, Algorithm 1: "active neurons whose norm goes to zero during cost
minimisation become dormant again"): after cost minimisation, an active neuron whose norm fell
below ``collapse_frac`` times its norm when it joined the active set returns to the dormant set,
keeping its direction and restarting from ``S_i = 0`` (its initial norm and threshold ``c_i``;
in the small-initialisation limit a collapsing neuron shrinks back to the scale of the
initialisation). Deactivations are recorded in :attr:`AGFResult.deactivations`.

The simulation stops when the loss is at most ``loss_rtol`` times the initial loss, when no
dormant neuron can activate any more (every dormant direction has stopped moving with
non-positive utility), after ``max_rounds`` jumps, or at ``max_time``.

Initialisation: ``θ_i(0)`` is drawn exactly as :class:`groupcomp.models.TwoLayerNet` draws it
(``W_in ~ s·N(0,1)/√(kn)``, ``W_out ~ s·N(0,1)/√n``, ``s = init_scale``, float64, from a
``torch.Generator`` seeded with ``seed``), so ``‖θ_i(0)‖ ≈ √2·init_scale``; or pass
``init_params=(W_in, W_out)`` to start from given parameters (e.g. those of a training run).
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from groupcomp import fourier
from groupcomp.errors import ConfigError, ShapeError
from groupcomp.groups.core import FiniteGroup
from groupcomp.models.two_layer import TwoLayerNet
from groupcomp.tasks.sequence import SequenceTask
from groupcomp.theory.utility import _single_thread

__all__ = ["MAX_SEQUENCES", "AGFResult", "simulate", "step_time"]

#: Largest ``n^k`` :func:`simulate` accepts (it holds ``hidden × n^k`` values per step).
MAX_SEQUENCES = 200_000

OPTIMIZERS = ("per_neuron", "gd")
COSTMIN = ("lbfgs", "adam", "gd")


def step_time(n: int, lr: float, momentum: float = 0.0) -> float:
    """Flow time (P1 normalisation) of one full-batch optimiser step on ``nn.MSELoss``.

    ``Δt = 2·lr/(n·(1 − momentum))`` for both plain SGD and per-neuron SGD (module docstring;
    THEORY.md §2.5).
    """
    return 2.0 * float(lr) / (int(n) * (1.0 - float(momentum)))


# --------------------------------------------------------------------------- result
@dataclass
class AGFResult:
    """Outcome of :func:`simulate` (all losses in mean-MSE, ``nn.MSELoss``).

    Attributes:
        group, n, k, hidden: the setting.
        optimizer: ``"gd"`` or ``"per_neuron"`` (the flow simulated).
        lr, momentum: the trainer whose steps :attr:`jump_steps` counts.
        step_time: flow time of one optimiser step, ``2·lr/(n(1−m))``.
        init_norms: ``(hidden,)`` ``‖θ_i(0)‖``.
        thresholds: ``(hidden,)`` activation thresholds ``c_i`` (module docstring).
        jump_times: flow time ``t`` of each jump (module docstring, "Time").
        jump_steps: the same in optimiser steps, ``t / step_time``.
        jump_neurons: per jump, the indices of the neurons that activated.
        learned_irreps: per jump, the label(s) of the dominant irrep of the activated neuron(s)
            (largest summed power of ``u_1, …, u_k, w`` at activation, via
            :func:`groupcomp.fourier.power`), in the order of ``jump_neurons``, duplicates
            removed.
        levels_mse: ``len(jump_times) + 1`` plateau levels: the initial loss, then the loss
            after the cost minimisation of each jump.
        deactivations: ``(jump index, neuron)`` for every active neuron that collapsed during the
            cost minimisation of that jump and returned to the dormant set.
        irrep_labels: the real irreps of the group (``G.irreps()`` order).
        final_time: flow time at which the simulation stopped.
        stop_reason: ``"converged"`` (loss ≤ ``loss_rtol`` × initial), ``"stalled"`` (no dormant
            neuron can activate), ``"max_rounds"``, ``"max_time"`` or ``"all_active"``.
        active: indices of the active neurons at the end.
        params: final ``(W_in (hidden, k, n), W_out (hidden, n))`` float64 arrays; dormant
            neurons at their current (small) norm.
        integration_steps: number of dormant-phase integration steps taken.
        wall_time: seconds spent.
    """

    group: str
    n: int
    k: int
    hidden: int
    optimizer: str
    lr: float
    momentum: float
    step_time: float
    init_norms: np.ndarray
    thresholds: np.ndarray
    jump_times: list[float]
    jump_steps: list[float]
    jump_neurons: list[list[int]]
    learned_irreps: list[list[str]]
    levels_mse: list[float]
    deactivations: list[tuple[int, int]]
    irrep_labels: list[str]
    final_time: float
    stop_reason: str
    active: list[int]
    params: tuple[np.ndarray, np.ndarray] = field(repr=False)
    integration_steps: int = 0
    wall_time: float = 0.0

    @property
    def num_jumps(self) -> int:
        """Number of activation events."""
        return len(self.jump_times)

    @property
    def levels_p1(self) -> list[float]:
        """:attr:`levels_mse` in P1's normalisation ``L_P1 = (n/2) L_MSE``."""
        return [v * self.n / 2 for v in self.levels_mse]

    @property
    def final_step(self) -> float:
        """:attr:`final_time` in optimiser steps."""
        return self.final_time / self.step_time

    def drops(self) -> list[dict[str, Any]]:
        """The staircase with consecutive jumps that learn the same irrep(s) merged into one drop.

        Neurons aligned with the same irrep typically activate in a quick succession (a cohort):
        each one fits part of the irrep's component of the residual and the next one activates
        soon after. Merging such runs gives one drop per learned irrep, to compare with
        :func:`groupcomp.theory.predict_staircase`.

        Returns:
            one dict per drop: ``irreps`` (labels), ``jumps`` (indices into the jump lists),
            ``time`` / ``step`` (of the first jump of the run), ``end_time`` / ``end_step`` (of
            the last), ``level_before_mse``, ``level_mse`` (after the last jump of the run).
        """
        out: list[dict[str, Any]] = []
        for j, labels in enumerate(self.learned_irreps):
            if out and out[-1]["irreps"] == labels:
                d = out[-1]
                d["jumps"].append(j)
                d["end_time"] = self.jump_times[j]
                d["end_step"] = self.jump_steps[j]
                d["level_mse"] = self.levels_mse[j + 1]
                continue
            out.append(
                {
                    "irreps": list(labels),
                    "jumps": [j],
                    "time": self.jump_times[j],
                    "step": self.jump_steps[j],
                    "end_time": self.jump_times[j],
                    "end_step": self.jump_steps[j],
                    "level_before_mse": self.levels_mse[j],
                    "level_mse": self.levels_mse[j + 1],
                }
            )
        return out

    @property
    def drop_steps(self) -> list[float]:
        """Step of the first jump of every drop (:meth:`drops`)."""
        return [d["step"] for d in self.drops()]

    @property
    def drop_times(self) -> list[float]:
        """Flow time of the first jump of every drop (:meth:`drops`)."""
        return [d["time"] for d in self.drops()]

    @property
    def drop_levels_mse(self) -> list[float]:
        """Plateau levels of the merged staircase: initial, then after every drop."""
        return [self.levels_mse[0]] + [d["level_mse"] for d in self.drops()]

    @property
    def drop_irreps(self) -> list[list[str]]:
        """Irrep label(s) of every drop (:meth:`drops`)."""
        return [d["irreps"] for d in self.drops()]

    def curve(self, end_step: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Piecewise-constant AGF loss curve ``(steps, loss_mse)`` for plotting.

        The loss stays at a level until a jump and then drops instantly (AGF's idealisation);
        the arrays hold both corners of every drop, so ``plt.plot(steps, loss)`` draws the
        staircase. ``end_step`` defaults to the end of the simulation (at least 1.2× the last
        jump).
        """
        last = self.jump_steps[-1] if self.jump_steps else 0.0
        end = max(self.final_step, 1.2 * last) if end_step is None else float(end_step)
        steps = [0.0]
        loss = [self.levels_mse[0]]
        for s, before, after in zip(
            self.jump_steps, self.levels_mse[:-1], self.levels_mse[1:], strict=True
        ):
            if s > end:
                break
            steps += [s, s]
            loss += [before, after]
        steps.append(max(end, steps[-1]))
        loss.append(loss[-1])
        return np.asarray(steps, dtype=np.float64), np.asarray(loss, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (plain Python types; the final parameters are left out)."""
        return {
            "group": self.group,
            "n": int(self.n),
            "k": int(self.k),
            "hidden": int(self.hidden),
            "optimizer": self.optimizer,
            "lr": float(self.lr),
            "momentum": float(self.momentum),
            "step_time": float(self.step_time),
            "init_norms": [float(v) for v in self.init_norms],
            "thresholds": [float(v) for v in self.thresholds],
            "jump_times": [float(v) for v in self.jump_times],
            "jump_steps": [float(v) for v in self.jump_steps],
            "jump_neurons": [[int(i) for i in js] for js in self.jump_neurons],
            "learned_irreps": [list(ls) for ls in self.learned_irreps],
            "levels_mse": [float(v) for v in self.levels_mse],
            "levels_p1": [float(v) for v in self.levels_p1],
            "drops": [
                {
                    key: (
                        [int(i) for i in val]
                        if key == "jumps"
                        else list(val)
                        if key == "irreps"
                        else float(val)
                    )
                    for key, val in d.items()
                }
                for d in self.drops()
            ],
            "deactivations": [[int(j), int(i)] for j, i in self.deactivations],
            "irrep_labels": list(self.irrep_labels),
            "final_time": float(self.final_time),
            "final_step": float(self.final_step),
            "stop_reason": self.stop_reason,
            "active": [int(i) for i in self.active],
            "integration_steps": int(self.integration_steps),
            "wall_time": float(self.wall_time),
        }


# --------------------------------------------------------------------------- the problem
class _Problem:
    """Exhaustive data set and batched network / utility evaluations (float64 torch)."""

    def __init__(self, task: SequenceTask, dtype: torch.dtype) -> None:
        self.n, self.k = task.n, task.k
        self.N = task.num_sequences
        self.enc = task.encoding_torch(dtype)  # enc[g] = x_g
        seq = task.exhaustive()
        self.Y = task.targets(seq, dtype)  # (N, n), sequences lexicographic (g_1 first)
        self.dtype = dtype

    def preact(self, W_in: torch.Tensor) -> torch.Tensor:
        """``W_in: (B, k, n)`` → ``z: (B,) + (n,)*k`` with ``z[b, g_1..g_k] = Σ_j ⟨u_bj, x_gj⟩``."""
        n, k = self.n, self.k
        a = torch.einsum("bjm,gm->bjg", W_in, self.enc)  # lookup: a[b, j, g] = <u_bj, x_g>
        z = a[:, 0]
        B = W_in.shape[0]
        for j in range(1, k):
            z = z.unsqueeze(-1) + a[:, j].reshape((B,) + (1,) * j + (n,))
        return z

    def output(self, W_in: torch.Tensor, W_out: torch.Tensor) -> torch.Tensor:
        """Network output on all sequences, ``(N, n)``."""
        if W_in.shape[0] == 0:
            return torch.zeros_like(self.Y)
        z = self.preact(W_in).reshape(W_in.shape[0], self.N)
        return (z**self.k).T @ W_out

    def loss_mse(self, W_in: torch.Tensor, W_out: torch.Tensor) -> torch.Tensor:
        return (self.Y - self.output(W_in, W_out)).pow(2).mean()

    def utility_and_grad(
        self, theta: torch.Tensor, R: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``U(θ_b; R)`` and ``∇_θ U`` for ``theta: (B, k+1, n)`` (rows ``u_1..u_k, w``).

        ``U = E_g σ(z(g)) ⟨w, r(g)⟩``; ``∂U/∂w = E_g σ(z) r(g)``;
        ``∂U/∂u_j = Σ_h (E_g [σ'(z) ⟨w, r(g)⟩ 1{g_j = h}]) x_h``.
        """
        n, k, N = self.n, self.k, self.N
        B = theta.shape[0]
        z = self.preact(theta[:, :k])  # (B, n, …, n)
        b = (theta[:, k] @ R.T).reshape(z.shape)  # <w, r(g)>
        zk1 = z ** (k - 1)
        sz = zk1 * z
        U = (sz * b).reshape(B, N).mean(dim=1)
        grad = torch.empty_like(theta)
        grad[:, k] = (sz.reshape(B, N) @ R) / N
        t = (k / N) * zk1 * b
        axes = tuple(range(1, k + 1))
        for j in range(k):
            tj = t.sum(dim=tuple(a for a in axes if a != j + 1))  # (B, n): sum over g_j = h
            grad[:, j] = tj @ self.enc
        return U, grad

    def ray_scale(self, theta_bar: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
        """Loss-minimising norm ``s`` on each ray ``s θ̄`` given the residual (``s^κ = Ū/E‖f̄‖²``;
        0 when ``Ū ≤ 0``)."""
        k = self.k
        z = self.preact(theta_bar[:, :k]).reshape(theta_bar.shape[0], self.N)
        sz = z**k
        U = (sz * (theta_bar[:, k] @ R.T)).mean(dim=1)
        F = (sz**2).mean(dim=1) * theta_bar[:, k].pow(2).sum(dim=1)
        ratio = torch.where(F > 0, U / F.clamp_min(1e-300), torch.zeros_like(U))
        return ratio.clamp_min(0.0) ** (1.0 / (k + 1))


# --------------------------------------------------------------------------- helpers
def _check_choice(value: str, allowed: tuple[str, ...], key: str) -> str:
    if value not in allowed:
        raise ConfigError(f"{key}: unknown value {value!r}; allowed: {', '.join(allowed)}")
    return value


def _check_positive(value: float, key: str, *, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: needs a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        cmp = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{key}: needs a finite number {cmp}, got {value!r}")
    return v


def _thresholds(s0: np.ndarray, q: float) -> np.ndarray:
    if q == 0:
        return np.log(1.0 / s0)
    return (s0 ** (-q) - 1.0) / q


def _norm_from_S(s0: torch.Tensor, S: torch.Tensor, q: float) -> torch.Tensor:
    if q == 0:
        return s0 * torch.exp(S)
    base = (s0 ** (-q) - q * S).clamp_min(1e-300)
    return base ** (-1.0 / q)


def _dominant_irreps(G: FiniteGroup, theta: np.ndarray) -> list[str]:
    """Dominant irrep label of each neuron ``theta: (B, k+1, n)`` (summed power of all rows)."""
    labels = [r.label for r in G.irreps()]
    p = np.asarray(fourier.power(G, theta), dtype=np.float64).sum(axis=1)  # (B, num_irreps)
    return [labels[int(i)] for i in np.argmax(p, axis=1)]


def _minimize_cost(
    prob: _Problem,
    W_in: torch.Tensor,
    W_out: torch.Tensor,
    method: str,
    steps: int,
    lr: float,
    tol: float,
    L0: float,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Minimise the mean-MSE over the active neurons (full batch). Returns new params, loss."""
    p_in = W_in.detach().clone().requires_grad_(True)
    p_out = W_out.detach().clone().requires_grad_(True)
    scale = 1.0 / L0  # minimise L/L0: tolerances are relative to the initial loss

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = prob.loss_mse(p_in, p_out) * scale
        loss.backward()
        return loss

    if method == "lbfgs":
        opt = torch.optim.LBFGS(
            [p_in, p_out],
            lr=1.0,
            max_iter=steps,
            max_eval=2 * steps,
            tolerance_grad=tol,
            tolerance_change=tol * 1e-4,
            history_size=50,
            line_search_fn="strong_wolfe",
        )
        opt.step(closure)
    else:
        if method == "adam":
            opt = torch.optim.Adam([p_in, p_out], lr=lr)
        else:
            opt = torch.optim.SGD([p_in, p_out], lr=lr)
        prev = math.inf
        for _ in range(steps):
            loss = float(opt.step(closure))
            if abs(prev - loss) <= tol * max(loss, 1e-30) and loss <= prev:
                break
            prev = loss
    with torch.no_grad():
        final = float(prob.loss_mse(p_in, p_out))
    return p_in.detach(), p_out.detach(), final


# --------------------------------------------------------------------------- main entry
def simulate(
    G: FiniteGroup,
    template: np.ndarray,
    k: int,
    *,
    hidden: int = 64,
    init_scale: float = 1e-3,
    seed: int = 0,
    lr: float = 0.01,
    optimizer: str = "per_neuron",
    momentum: float = 0.0,
    utilmax_lr: float | None = None,
    utilmax_tol: float = 0.02,
    costmin: str = "lbfgs",
    costmin_steps: int = 2000,
    costmin_lr: float = 1e-3,
    costmin_tol: float = 1e-11,
    collapse_frac: float = 0.05,
    loss_rtol: float = 1e-6,
    max_rounds: int | None = None,
    max_time: float | None = None,
    max_integration_steps: int = 1_000_000,
    init_params: tuple[np.ndarray, np.ndarray] | None = None,
    dtype: torch.dtype = torch.float64,
) -> AGFResult:
    """Simulate AGF (THEORY.md §4.2; P2 = Kunin et al., arXiv 2506.06489) for the two-layer
    ``z^k`` network on the exhaustive ``k``-fold composition task of ``G`` with ``template``.

    See the module docstring for the equations, normalisations and the time conversion.

    Args:
        G: the group (order ``n``); ``n^k`` must be at most :data:`MAX_SEQUENCES`.
        template: ``(n,)`` template ``x`` (mean-centred for the theory to apply).
        k: sequence length ``>= 2`` (also the degree of ``σ(z) = z^k``; ``κ = k + 1``).
        hidden: width ``H`` (number of neurons).
        init_scale: ``s`` of the :class:`~groupcomp.models.TwoLayerNet` initialisation
            (``‖θ_i(0)‖ ≈ √2·s``); must give ``‖θ_i(0)‖ < 1``.
        seed: seed of the ``torch.Generator`` of the initialisation.
        lr, momentum: learning rate and momentum of the trainer whose steps are counted
            (:func:`step_time`); they only convert times to steps (and set the speed of
            ``utilmax_lr``).
        optimizer: ``"per_neuron"`` (P1's per-neuron scaled SGD, ``η_i = ‖θ_i‖^{2−κ}``,
            threshold ``ln(1/‖θ_i(0)‖)``) or ``"gd"`` (plain gradient descent/flow,
            threshold ``(‖θ_i(0)‖^{2−κ} − 1)/(κ − 2)``).
        utilmax_lr: ``None`` (default): dormant directions turn at the exact gradient-flow speed
            ``‖θ_i‖^q``. A number: they ascend at this rate per optimiser step, whatever their
            norm (the P2 notebook's ``utilmax_lr``).
        utilmax_tol: accuracy of the dormant-phase integration (largest turn of a direction, in
            radians, and largest relative change of a directional speed, per integration step).
        costmin: ``"lbfgs"`` (default), ``"adam"`` or ``"gd"`` — the cost minimiser.
        costmin_steps: maximum iterations of one cost minimisation.
        costmin_lr: learning rate of ``"adam"`` / ``"gd"`` (ignored by L-BFGS).
        costmin_tol: convergence tolerance of the cost minimisation (on the gradient of
            ``L/L_0`` for L-BFGS; relative loss change for the others).
        collapse_frac: an active neuron whose norm falls below this fraction of its norm when
            it joined the active set returns to the dormant set.
        loss_rtol: stop once the loss is at most ``loss_rtol`` × the initial loss.
        max_rounds: stop after this many jumps (``None``: no limit).
        max_time: stop at this flow time (``None``: no limit).
        max_integration_steps: safety limit on the number of dormant-phase integration steps.
        init_params: optional initial ``(W_in (H, k, n), W_out (H, n))`` (or with a leading
            ensemble axis of size 1) instead of drawing them; ``hidden`` is then ignored.
        dtype: torch dtype of the computation (float64 recommended).

    Returns:
        :class:`AGFResult`.

    Raises:
        ConfigError: invalid argument (the message names it), ``n^k`` too large, or an
            initialisation that is not small (``‖θ_i(0)‖ >= 1``).
        ShapeError: template or ``init_params`` of the wrong shape.
    """
    wall0 = _time.perf_counter()
    optimizer = _check_choice(optimizer, OPTIMIZERS, "optimizer")
    costmin = _check_choice(costmin, COSTMIN, "costmin")
    x = np.asarray(template, dtype=np.float64)
    if x.shape != (G.order,):
        raise ShapeError(f"template: expected shape ({G.order},) for {G.name}, got {x.shape}")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or int(k) < 2:
        raise ConfigError(f"k: expected an integer >= 2, got {k!r}")
    k = int(k)
    n = G.order
    if n**k > MAX_SEQUENCES:
        raise ConfigError(
            f"k: AGF simulates the exhaustive data set of n^k = {n}^{k} = {n**k} sequences, more "
            f"than MAX_SEQUENCES = {MAX_SEQUENCES}; use a smaller group or k"
        )
    lr = _check_positive(lr, "lr")
    momentum = float(momentum)
    if not 0.0 <= momentum < 1.0:
        raise ConfigError(f"momentum: needs 0 <= momentum < 1, got {momentum!r}")
    init_scale = _check_positive(init_scale, "init_scale")
    utilmax_tol = _check_positive(utilmax_tol, "utilmax_tol")
    if utilmax_lr is not None:
        utilmax_lr = _check_positive(utilmax_lr, "utilmax_lr")
    costmin_lr = _check_positive(costmin_lr, "costmin_lr")
    costmin_tol = _check_positive(costmin_tol, "costmin_tol")
    collapse_frac = _check_positive(collapse_frac, "collapse_frac", allow_zero=True)
    loss_rtol = _check_positive(loss_rtol, "loss_rtol", allow_zero=True)
    if int(costmin_steps) < 1:
        raise ConfigError(f"costmin_steps: needs an integer >= 1, got {costmin_steps!r}")
    if max_rounds is not None and int(max_rounds) < 0:
        raise ConfigError(f"max_rounds: needs an integer >= 0 or None, got {max_rounds!r}")
    if max_time is not None:
        max_time = _check_positive(max_time, "max_time")

    task = SequenceTask(G, x, k, max_exhaustive=MAX_SEQUENCES)
    kappa = k + 1
    q = float(kappa - 2) if optimizer == "gd" else 0.0
    dt_step = step_time(n, lr, momentum)

    # ---------------------------------------------------------------- initialisation
    if init_params is None:
        hidden = int(hidden)
        if hidden < 1:
            raise ConfigError(f"hidden: needs an integer >= 1, got {hidden!r}")
        net = TwoLayerNet(
            torch.as_tensor(task.encoding, dtype=dtype),
            k,
            hidden,
            1,
            init_scale,
            generator=torch.Generator().manual_seed(int(seed)),
            dtype=dtype,
        )
        W_in0 = net.W_in.detach()[0].clone()
        W_out0 = net.W_out.detach()[0].clone()
    else:
        W_in0 = torch.as_tensor(np.asarray(init_params[0]), dtype=dtype)
        W_out0 = torch.as_tensor(np.asarray(init_params[1]), dtype=dtype)
        if W_in0.dim() == 4 and W_in0.shape[0] == 1:
            W_in0 = W_in0[0]
        if W_out0.dim() == 3 and W_out0.shape[0] == 1:
            W_out0 = W_out0[0]
        hidden = int(W_in0.shape[0])
        if W_in0.shape != (hidden, k, n) or W_out0.shape != (hidden, n):
            raise ShapeError(
                f"init_params: expected W_in ({hidden}, {k}, {n}) and W_out ({hidden}, {n}), "
                f"got {tuple(W_in0.shape)} and {tuple(W_out0.shape)}"
            )
    theta0 = torch.cat([W_in0, W_out0.unsqueeze(1)], dim=1)  # (H, k+1, n)
    s0 = theta0.flatten(1).norm(dim=1)
    if bool((s0 <= 0).any()) or bool((s0 >= 1).any()):
        raise ConfigError(
            f"init_scale: AGF is a small-initialisation theory and needs 0 < ‖θ_i(0)‖ < 1 for "
            f"every neuron; got norms in [{float(s0.min()):.3g}, {float(s0.max()):.3g}]"
        )
    thresholds = torch.as_tensor(_thresholds(s0.numpy().astype(np.float64), q), dtype=dtype)

    prob = _Problem(task, dtype)
    L0 = float(prob.Y.pow(2).mean())
    irrep_labels = [r.label for r in G.irreps()]

    # state
    theta_bar = theta0 / s0[:, None, None]  # directions (dormant neurons)
    S = torch.zeros(hidden, dtype=dtype)  # accumulated utilities
    active = torch.zeros(hidden, dtype=torch.bool)
    act_W_in = torch.zeros((hidden, k, n), dtype=dtype)  # parameters of active neurons
    act_W_out = torch.zeros((hidden, n), dtype=dtype)
    act_norm0 = torch.zeros(hidden, dtype=dtype)  # norm when joining the active set
    R = prob.Y.clone()  # residual
    loss = L0

    jump_times: list[float] = []
    jump_neurons: list[list[int]] = []
    learned: list[list[str]] = []
    levels = [L0]
    deactivations: list[tuple[int, int]] = []
    t = 0.0
    n_int = 0
    stop_reason = "max_time"
    fixed_speed = None if utilmax_lr is None else utilmax_lr / dt_step

    with _single_thread():
        while True:
            if loss <= loss_rtol * L0:
                stop_reason = "converged"
                break
            if max_rounds is not None and len(jump_times) >= int(max_rounds):
                stop_reason = "max_rounds"
                break
            dormant = torch.nonzero(~active).flatten()
            if dormant.numel() == 0:
                stop_reason = "all_active"
                break

            # ------------------------------------------------ utility maximisation
            fired: list[int] = []
            while True:
                if n_int >= max_integration_steps:
                    stop_reason = "max_time"
                    break
                if max_time is not None and t >= max_time:
                    stop_reason = "max_time"
                    break
                th = theta_bar[dormant]
                U, g = prob.utility_and_grad(th, R)
                radial = (g * th).flatten(1).sum(dim=1)
                gt = g - radial[:, None, None] * th  # tangential gradient
                gnorm = gt.flatten(1).norm(dim=1)
                Sd = S[dormant]
                if fixed_speed is None:
                    speed = _norm_from_S(s0[dormant], Sd, q) ** q if q else torch.ones_like(U)
                else:
                    speed = torch.full_like(U, fixed_speed)
                rate_S = kappa * U
                # time to each threshold crossing (exact if U stays constant)
                gap = thresholds[dormant] - Sd
                cross = torch.where(
                    rate_S > 0, gap / rate_S.clamp_min(1e-300), torch.full_like(U, math.inf)
                )
                t_cross = float(cross.min())
                turn = float((speed * gnorm).max())
                dt = math.inf
                if turn > 0:
                    dt = utilmax_tol / turn
                u_abs = float(U.abs().max())
                if u_abs > 0:  # explicit-Euler stability on the sphere (Hessian ≲ κ(κ−1)|U|)
                    dt = min(dt, 0.5 / (float(speed.max()) * kappa * (kappa - 1) * u_abs))
                if q and fixed_speed is None:  # speed s^q must not change much within a step
                    dspeed = float((rate_S.abs() * q * speed).max())
                    if dspeed > 0:
                        dt = min(dt, utilmax_tol / dspeed)
                if not math.isfinite(t_cross) and (turn <= 1e-12 * max(u_abs, 1e-300) or turn == 0):
                    stop_reason = "stalled"  # nothing moves and nothing will ever activate
                    break
                hit = t_cross <= dt
                if hit:
                    dt = t_cross
                if max_time is not None and t + dt > max_time:
                    dt = max_time - t
                    hit = False
                if not math.isfinite(dt):
                    stop_reason = "stalled"
                    break
                # Euler step
                S[dormant] = Sd + dt * rate_S
                new = th + (dt * speed)[:, None, None] * gt
                theta_bar[dormant] = new / new.flatten(1).norm(dim=1)[:, None, None]
                t += dt
                n_int += 1
                if hit:
                    tol_c = 1e-9 * max(t_cross, 1e-300)
                    fired = [int(dormant[i]) for i in torch.nonzero(cross <= t_cross + tol_c)]
                    break
            if not fired:
                break

            # ------------------------------------------------ activation
            idx = torch.as_tensor(fired)
            learned_now = _dominant_irreps(G, theta_bar[idx].numpy())
            labels: list[str] = []
            for lab in learned_now:
                if lab not in labels:
                    labels.append(lab)
            scale = prob.ray_scale(theta_bar[idx], R)
            scale = torch.where(scale > 0, scale, torch.ones_like(scale))
            new_theta = theta_bar[idx] * scale[:, None, None]
            act_W_in[idx] = new_theta[:, :k]
            act_W_out[idx] = new_theta[:, k]
            act_norm0[idx] = scale
            active[idx] = True

            # ------------------------------------------------ cost minimisation
            aidx = torch.nonzero(active).flatten()
            p_in, p_out, loss = _minimize_cost(
                prob,
                act_W_in[aidx],
                act_W_out[aidx],
                costmin,
                int(costmin_steps),
                costmin_lr,
                costmin_tol,
                L0,
            )
            act_W_in[aidx] = p_in
            act_W_out[aidx] = p_out
            norms = torch.cat([p_in.flatten(1), p_out], dim=1).norm(dim=1)
            collapsed = norms < collapse_frac * act_norm0[aidx]
            jump_index = len(jump_times)
            for i_local in torch.nonzero(collapsed).flatten().tolist():
                i = int(aidx[i_local])
                active[i] = False
                th_i = torch.cat([act_W_in[i], act_W_out[i].unsqueeze(0)], dim=0)
                nrm = float(th_i.norm())
                theta_bar[i] = th_i / nrm if nrm > 0 else theta0[i] / s0[i]
                S[i] = 0.0
                act_W_in[i] = 0.0
                act_W_out[i] = 0.0
                deactivations.append((jump_index, i))
            with torch.no_grad():
                aidx = torch.nonzero(active).flatten()
                f_A = prob.output(act_W_in[aidx], act_W_out[aidx])
                R = prob.Y - f_A
                loss = float(R.pow(2).mean())
            jump_times.append(t)
            jump_neurons.append(fired)
            learned.append(labels)
            levels.append(loss)

    # final parameters: dormant neurons at their current norm
    with torch.no_grad():
        s_now = _norm_from_S(s0, S, q)
        W_in = torch.where(active[:, None, None], act_W_in, theta_bar[:, :k] * s_now[:, None, None])
        W_out = torch.where(active[:, None], act_W_out, theta_bar[:, k] * s_now[:, None])
    return AGFResult(
        group=G.name,
        n=n,
        k=k,
        hidden=hidden,
        optimizer=optimizer,
        lr=lr,
        momentum=momentum,
        step_time=dt_step,
        init_norms=s0.numpy().astype(np.float64),
        thresholds=thresholds.numpy().astype(np.float64),
        jump_times=jump_times,
        jump_steps=[tj / dt_step for tj in jump_times],
        jump_neurons=jump_neurons,
        learned_irreps=learned,
        levels_mse=levels,
        deactivations=deactivations,
        irrep_labels=irrep_labels,
        final_time=t,
        stop_reason=stop_reason,
        active=torch.nonzero(active).flatten().tolist(),
        params=(W_in.numpy().copy(), W_out.numpy().copy()),
        integration_steps=n_int,
        wall_time=_time.perf_counter() - wall0,
    )
