"""Alternating Gradient Flows (AGF) for the two-layer ``z^k`` network (docs/theory.md §4).

AGF (P2 = Kunin, Marchetti, Chen, Karkada, Simon, DeWeese, Ganguli, Miolane, "Alternating
Gradient Flows", arXiv 2506.06489) describes training from a small initialisation as an
alternation of two phases: *dormant* neurons (norm ≈ 0) slowly turn towards directions of large
utility while their norms grow at a rate set by that utility; when one of them has accumulated
enough utility it *activates*, and the *active* neurons then minimise the loss (a loss drop).
This module simulates that algorithm (docs/theory.md §4.2) for the library's two-layer network

    f(x_{g_1}, …, x_{g_k}) = Σ_i w_i σ(Σ_j ⟨u_{ij}, x_{g_j}⟩),   σ(z) = z^k,

(:class:`groupcomp.models.TwoLayerNet`), on the exhaustive data set of a
:class:`groupcomp.tasks.SequenceTask` (all ``n^k`` sequences, uniform weight).

Normalisations (docs/architecture.md, docs/theory.md §1.2–1.3)
-----------------------------------------------------------------
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
  conversion of docs/theory.md §2.5 and of the P2 notebook (``step_size = 2·coef·lr/(1 − mom)``).

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
the closed-form times ``τ = c/(κU*)`` of docs/theory.md §2.5 and §4.3).

Everything is vectorised over the dormant neurons: ``⟨u_{ij}, x_g⟩`` for all ``g`` is one matmul
with the ``(n, n)`` encoding (the lookup trick of the models), the utilities and their gradients
are computed in closed form (no autograd) from ``z_i(g) = Σ_j ⟨u_{ij}, x_{g_j}⟩`` on the
``n^k`` sequences. The ODE is integrated by explicit Euler with an adaptive step (each direction
turns by at most ``utilmax_tol`` radians per step, the speed ``s_i^q`` changes by at most a
fraction ``utilmax_tol``, the step stays below the stability limit ``0.5/(κ(κ−1) max|U| s^q)``
and at most doubles from one step to the next), and the threshold crossing is located at the
end of a shortened step (event location, exact while the utilities are constant).

Activation and cost minimisation
--------------------------------
The first neuron(s) to reach their threshold jump to the active set (the jump time fixes the
plateau length); neurons whose crossings fall within ``tie_rtol·t`` of the first activate with
it. A newly active neuron starts from its direction scaled to the loss-minimising norm on its ray
(``s^κ = Ū/E‖f(θ̄)‖²``; neurons activating together get one more common factor, so the loss
cannot increase); then all active neurons minimise the loss over their full parameters
(``costmin="lbfgs"``, the default: SciPy's L-BFGS-B; or full-batch ``"adam"`` / ``"gd"``), with the
dormant neurons frozen (cost minimisation is instantaneous on AGF's time scale). The loss reached
is the new plateau level, and the residual ``r = y − f(Θ_A)`` drives the next dormant phase.
Dormant neurons keep their accumulated ``S_i`` across rounds (P2).

Cost minimisation in practice. With polynomial activations a set of active neurons that is too
small to represent an irrep exactly often has *no* minimiser (border rank: the loss keeps creeping
down while some norms diverge), e.g. fewer than 6 neurons for a ``C_p`` frequency at ``k = 2``,
fewer than 16 at ``k = 3`` (docs/theory.md §3.2). Each minimisation therefore stops after
``costmin_steps`` iterations or when the loss fell by less than ``costmin_tol·L_0`` over 50
iterations; intermediate levels within a cohort depend on that budget, the levels after a whole
cohort has activated do not (to the accuracy the tests check).

Deactivation (our reading of P2, Algorithm 1: "active neurons whose norm goes to zero during cost
minimisation become dormant again"): after cost minimisation, an active neuron whose norm fell
below ``collapse_frac`` times its norm when it joined the active set returns to the dormant set,
keeping its direction and restarting from ``S_i = 0`` (its initial norm and threshold ``c_i``;
in the small-initialisation limit a collapsing neuron shrinks back to the scale of the
initialisation). Deactivations are recorded in :attr:`AGFResult.deactivations`.

The simulation stops when the loss is at most ``loss_rtol`` times the initial loss, when every
neuron is active, when no dormant neuron can activate any more (no positive utility and the
directions have stopped moving), after ``max_rounds`` jumps, or at ``max_time`` / ``max_steps``.

Reading the result. Neurons aligned with one irrep activate in a quick succession (a cohort),
each fitting part of it, so the raw jumps (:attr:`AGFResult.jump_times`, ``levels_mse``) are
finer than the staircase. :meth:`AGFResult.drops` reads the staircase off the residual's power
spectrum: a drop starts at the first jump that removes ≥ 5 % of an irrep's residual power.

Checks (``tests/unit/test_agf.py``; numbers measured with this module)
----------------------------------------------------------------------
* docs/theory.md §4.3 notebook case (``C_20``, ``|x̂| = 10, 5, 2.5`` at frequencies 1, 3, 5,
  ``k = 2``, init 0.01, plain GD lr 0.01, momentum 0.9, ``Δt = 0.01``), hidden 18 started *at the
  utility maximisers* with norm ``√2·0.01`` (6 per frequency): jumps at t = 7.6364, 61.0914,
  488.73 = ``τ_ξ = (1/θ_0 − 1)/(3U*_ξ)``, mean-MSE levels 0.65625 → 0.15625 → 0.03125 → 1e-12.
* Same case from the network's random initialisation (seeds 0–4, exact dormant dynamics): order
  and levels as above (within 0.003, the last one ≤ 0.012), but the drops start at t ≈ 17–22,
  69–167 and 780–1410, i.e. 1.1–3× the closed-form ``τ`` (alignment of the directions takes
  time, which the closed form ignores). Plain SGD of the same network from the same
  initialisation drops first at t = 22.0 (seed 0) and 18.3 (seed 1), vs AGF 21.7 and 17.6; its
  later drops agree with AGF within a factor ≈ 2. With the notebook-style fast alignment
  (``utilmax_lr=0.1``) the first jump is at ``c_i/(3U*)`` of the largest initial neuron (within
  0.6 %), 10–20 % *before* τ.
* D3, powers (0, 30, 3000), ``k = 2``, per-neuron flow, init 1e-3, hidden 40–60: rot1 then
  sign, levels 505 → 4.90–5.004 → ≤ 0.013; first jump 1.02–1.08× the closed form
  ``n ln(1/θ_0)/(2(k+1) lr U*)``. Per-neuron SGD itself (lr 1e-5, same initialisation) is
  earlier: its loss passes 300 at step 104 and 100 at step 116 (hidden 60), AGF jumps at 125. AGF
  activates a neuron when its norm reaches 1, while the loss already drops when the
  norm reaches the (here much smaller) scale at which the neuron fits the residual — a finite-α
  effect of ``ln(1/s)``-size in the threshold. The sign drop (utility 88× smaller) comes at
  1.2–2.6× its closed-form time, depending on seed and width.
* D5 (powers 0, 3000, 2000, 1000; ``k = 2``; seeds 0–4) and C6 (``k = 3``; seeds 0–2):
  Theorem 4.1 order, and every clean plateau (each irrep learned to within a fraction ε of its
  power, or by at most ε) is the closed-form level of
  :func:`groupcomp.theory.predict_staircase` within ``2ε·L_0`` — ε = 0.1 % for D5, 1 % for C6
  ``k = 3``, whose slowly converging fits are limited by the cost-minimisation budget.

Initialisation: ``θ_i(0)`` is drawn exactly as :class:`groupcomp.models.TwoLayerNet` draws it
(``W_in ~ s·N(0,1)/√(kn)``, ``W_out ~ s·N(0,1)/√n``, ``s = init_scale``, float64, from a
``torch.Generator`` seeded with ``seed``), so ``‖θ_i(0)‖ ≈ √2·init_scale``; or pass
``init_params=(W_in, W_out)`` to start from given parameters (e.g. those of a training run).
"""

from __future__ import annotations

import copy
import math
import time as _time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from groupcomp import fourier
from groupcomp.errors import ConfigError, ShapeError
from groupcomp.groups.core import FiniteGroup
from groupcomp.models.two_layer import TwoLayerNet
from groupcomp.tasks.sequence import SequenceTask
from groupcomp.templates import check_template

__all__ = ["MAX_SEQUENCES", "AGFResult", "simulate", "step_time"]

#: Largest ``n^k`` :func:`simulate` accepts (it holds ``hidden × n^k`` values per step).
MAX_SEQUENCES = 200_000

OPTIMIZERS = ("per_neuron", "gd")
COSTMIN = ("lbfgs", "adam", "gd")
ACTIVATION_RULES = ("neuron", "collective")


def step_time(n: int, lr: float, momentum: float = 0.0) -> float:
    """Flow time (P1 normalisation) of one full-batch optimiser step on ``nn.MSELoss``.

    ``Δt = 2·lr/(n·(1 − momentum))`` for both plain SGD and per-neuron SGD (module docstring;
    docs/theory.md §2.5).
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
        residual_powers: ``(len(jump_times) + 1, num_irreps)`` the residual's power per output
            irrep at each level, ``E_g P_π(r(g)) / n`` (mean-MSE units, rows sum to
            ``levels_mse``; :func:`groupcomp.fourier.power`).
        costmin_iterations: per jump, the iterations of its cost minimisation (equal to
            ``costmin_steps`` when it hit the budget).
        deactivations: ``(jump index, neuron)`` for every active neuron that collapsed during the
            cost minimisation of that jump and returned to the dormant set.
        irrep_labels: the real irreps of the group (``G.irreps()`` order).
        final_time: flow time at which the simulation stopped.
        stop_reason: ``"converged"`` (loss ≤ ``loss_rtol`` × initial), ``"stalled"`` (no dormant
            neuron can activate), ``"all_active"``, ``"max_rounds"``, ``"max_time"`` (also for
            ``max_steps``) or ``"max_integration_steps"``.
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
    residual_powers: np.ndarray
    costmin_iterations: list[int]
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

    @property
    def final_loss_mse(self) -> float:
        """The last plateau level."""
        return self.levels_mse[-1]

    def drops(self, onset: float = 0.05) -> list[dict[str, Any]]:
        """The staircase: when each irrep starts being learned, and the plateaus in between.

        Read off the residual's power spectrum (:attr:`residual_powers`), i.e. from the network
        function rather than from neuron labels: irrep ``π`` *starts* being learned at the
        first jump after which at least the fraction ``onset`` of its initial residual power
        has been removed. Irreps that start at the same jump form one drop. A drop's plateau
        level is the loss just before the next drop starts (the last level for the last drop);
        its time is the time of its first jump. Neurons aligned with one irrep typically
        activate in a quick succession (a cohort), each fitting part of the irrep; a drop spans
        the whole cohort. Irreps that never reach ``onset`` are not listed.

        Returns:
            one dict per drop, in time order: ``irreps`` (labels, ``G.irreps()`` order),
            ``jump`` (index of the first jump), ``time``, ``step``, ``half_time`` /
            ``half_step`` (first jump after which half of the drop's initial residual power is
            gone; ``None`` if never), ``level_before_mse``, ``level_mse``.
        """
        if not 0.0 < onset <= 1.0:
            raise ConfigError(f"onset: needs 0 < onset <= 1, got {onset!r}")
        P = np.asarray(self.residual_powers, dtype=np.float64)  # (jumps + 1, num_irreps)
        if P.shape[0] < 2:
            return []
        P0 = P[0]
        removed = P0[None, :] - P[1:]  # (jumps, num_irreps): removed after each jump
        start: dict[int, int] = {}
        for i in np.flatnonzero(P0 > 1e-12 * max(P0.sum(), 1e-300)):
            hits = np.flatnonzero(removed[:, i] >= onset * P0[i])
            if hits.size:
                start[int(i)] = int(hits[0])
        onsets = sorted(set(start.values()))
        out: list[dict[str, Any]] = []
        for d, j in enumerate(onsets):
            irreps = sorted(i for i, s in start.items() if s == j)
            nxt = onsets[d + 1] if d + 1 < len(onsets) else None
            level = self.levels_mse[nxt] if nxt is not None else self.levels_mse[-1]
            frac = removed[:, irreps].sum(axis=1) / P0[irreps].sum()
            half = np.flatnonzero(frac >= 0.5)
            hj = int(half[0]) if half.size else None
            out.append(
                {
                    "irreps": [self.irrep_labels[i] for i in irreps],
                    "jump": j,
                    "time": self.jump_times[j],
                    "step": self.jump_steps[j],
                    "half_time": None if hj is None else self.jump_times[hj],
                    "half_step": None if hj is None else self.jump_steps[hj],
                    "level_before_mse": self.levels_mse[j],
                    "level_mse": level,
                }
            )
        return out

    @property
    def drop_steps(self) -> list[float]:
        """Step at which every drop of :meth:`drops` starts."""
        return [d["step"] for d in self.drops()]

    @property
    def drop_times(self) -> list[float]:
        """Flow time at which every drop of :meth:`drops` starts."""
        return [d["time"] for d in self.drops()]

    @property
    def drop_levels_mse(self) -> list[float]:
        """Plateau levels of the staircase of :meth:`drops`: initial, then after every drop."""
        return [self.levels_mse[0]] + [d["level_mse"] for d in self.drops()]

    @property
    def drop_irreps(self) -> list[list[str]]:
        """Irrep label(s) of every drop of :meth:`drops`."""
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
            "residual_powers": np.asarray(self.residual_powers, dtype=float).tolist(),
            "drops": [_plain(d) for d in self.drops()],
            "costmin_iterations": [int(v) for v in self.costmin_iterations],
            "deactivations": [[int(j), int(i)] for j, i in self.deactivations],
            "irrep_labels": list(self.irrep_labels),
            "final_time": float(self.final_time),
            "final_step": float(self.final_step),
            "stop_reason": self.stop_reason,
            "active": [int(i) for i in self.active],
            "integration_steps": int(self.integration_steps),
            "wall_time": float(self.wall_time),
        }


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in d.items():
        if val is None or isinstance(val, str):
            out[key] = val
        elif isinstance(val, list):
            out[key] = [v if isinstance(v, str) else float(v) for v in val]
        elif isinstance(val, int | np.integer):
            out[key] = int(val)
        else:
            out[key] = float(val)
    return out


# --------------------------------------------------------------------------- the problem
class _Problem:
    """Exhaustive data set and batched network / utility evaluations (numpy float64).

    Neurons are arrays ``theta: (B, k+1, n)`` with rows ``u_1, …, u_k, w``. Sequences are in
    lexicographic order (``g_1`` most significant), as :meth:`SequenceTask.exhaustive`.
    """

    def __init__(self, task: SequenceTask) -> None:
        self.n, self.k = task.n, task.k
        self.N = task.num_sequences
        self.enc = np.array(task.encoding, dtype=np.float64)  # enc[g] = x_g
        self.Y = task.targets(task.exhaustive(), torch.float64).numpy()  # (N, n)
        self._sum_axes = [
            tuple(a for a in range(1, self.k + 1) if a != j + 1) for j in range(self.k)
        ]

    def preact(self, W_in: np.ndarray) -> np.ndarray:
        """``W_in: (B, k, n)`` → ``z: (B,) + (n,)*k``, ``z[b, g_1..g_k] = Σ_j ⟨u_bj, x_gj⟩``.

        Lookup trick: ``a[b, j, g] = ⟨u_bj, x_g⟩`` is one matmul with the encoding.
        """
        n, k = self.n, self.k
        a = W_in @ self.enc.T  # (B, k, n)
        B = W_in.shape[0]
        z = a[:, 0]
        for j in range(1, k):
            z = z[..., None] + a[:, j].reshape((B,) + (1,) * j + (n,))
        return z

    def output(self, theta: np.ndarray) -> np.ndarray:
        """Network output of the neurons ``theta`` on all sequences, ``(N, n)``."""
        if theta.shape[0] == 0:
            return np.zeros_like(self.Y)
        z = self.preact(theta[:, : self.k]).reshape(theta.shape[0], self.N)
        return (z**self.k).T @ theta[:, self.k]

    def utility_and_grad(self, theta: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``U(θ_b; R) = E_g σ(z_b(g)) ⟨w_b, r(g)⟩`` and ``∇_θ U`` for every neuron ``b``.

        ``∂U/∂w = E_g σ(z) r(g)``; ``∂U/∂u_j = Σ_h (E_g[σ'(z)⟨w, r(g)⟩ 1{g_j = h}]) x_h``.
        Works for any norm (``U`` is homogeneous of degree ``k + 1``).
        """
        k, N = self.k, self.N
        B = theta.shape[0]
        z = self.preact(theta[:, :k])  # (B, n, …, n)
        b = (theta[:, k] @ R.T).reshape(z.shape)  # <w, r(g)>
        zk1 = z ** (k - 1)
        sz = (zk1 * z).reshape(B, N)
        U = np.einsum("bg,bg->b", sz, b.reshape(B, N)) / N
        grad = np.empty_like(theta)
        grad[:, k] = (sz @ R) / N
        t = (k / N) * zk1 * b
        for j in range(k):
            grad[:, j] = t.sum(axis=self._sum_axes[j]) @ self.enc
        return U, grad

    def loss_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean-MSE of the network made of the neurons ``theta`` and its gradient.

        ``∇_{θ_i} L_MSE = −(2/n) ∇_θ U(θ_i; r)`` with ``r = y − f`` the residual (same formulas as
        :meth:`utility_and_grad`, sharing the pre-activations).
        """
        k, N = self.k, self.N
        A = theta.shape[0]
        z = self.preact(theta[:, :k])
        zk1 = z ** (k - 1)
        sz = (zk1 * z).reshape(A, N)
        W = theta[:, k]
        R = self.Y - sz.T @ W
        b = (W @ R.T).reshape(z.shape)
        grad = np.empty_like(theta)
        c = -2.0 / (self.n * N)
        grad[:, k] = c * (sz @ R)
        t = (c * k) * zk1 * b
        for j in range(k):
            grad[:, j] = t.sum(axis=self._sum_axes[j]) @ self.enc
        return float(np.mean(R * R)), grad

    def ray_scale(self, theta_bar: np.ndarray, R: np.ndarray) -> np.ndarray:
        """Loss-minimising norm ``s`` on each ray ``s θ̄`` given the residual:
        ``s^κ = Ū/E_g‖f(θ̄)‖²`` (0 when ``Ū ≤ 0``)."""
        k = self.k
        B = theta_bar.shape[0]
        sz = self.preact(theta_bar[:, :k]).reshape(B, self.N) ** k
        U = np.einsum("bg,bg->b", sz, theta_bar[:, k] @ R.T) / self.N
        F = np.mean(sz**2, axis=1) * np.sum(theta_bar[:, k] ** 2, axis=1)
        ratio = np.where(F > 0, U / np.maximum(F, 1e-300), 0.0)
        return np.maximum(ratio, 0.0) ** (1.0 / (k + 1))


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
    """``c_i``: the accumulated utility at which a neuron of initial norm ``s0`` reaches norm 1."""
    if q == 0:
        return np.log(1.0 / s0)
    return (s0 ** (-q) - 1.0) / q


def _norm_from_S(s0: np.ndarray, S: np.ndarray, q: float) -> np.ndarray:
    """Norm of a dormant neuron with initial norm ``s0`` and accumulated utility ``S``."""
    if q == 0:
        return s0 * np.exp(S)
    return np.maximum(s0 ** (-q) - q * S, 1e-300) ** (-1.0 / q)


def _dominant_irreps(G: FiniteGroup, theta: np.ndarray) -> list[str]:
    """Dominant irrep label of each neuron ``theta: (B, k+1, n)`` (power summed over rows)."""
    labels = [r.label for r in G.irreps()]
    p = np.asarray(fourier.power(G, theta), dtype=np.float64).sum(axis=1)  # (B, num_irreps)
    return [labels[int(i)] for i in np.argmax(p, axis=1)]


@contextmanager
def _single_blas_thread() -> Iterator[None]:
    """Run BLAS on one thread: the matrices here are tiny, and on a busy machine multi-threaded
    BLAS made L-BFGS ~25× slower (thread hand-offs)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _residual_power(G: FiniteGroup, R: np.ndarray) -> np.ndarray:
    """Per-irrep power of the residual ``R: (N, n)`` in mean-MSE units (sums to ``mean(R²)``)."""
    return np.asarray(fourier.power(G, R), dtype=np.float64).mean(axis=0) / G.order


class _SlowProgress(Exception):
    pass


def _minimize_cost(
    prob: _Problem,
    theta: np.ndarray,
    method: str,
    steps: int,
    lr: float,
    tol: float,
    L0: float,
) -> tuple[np.ndarray, float, int]:
    """Minimise the mean-MSE over the active neurons ``theta: (A, k+1, n)`` (full batch).

    Stops after ``steps`` iterations, or when the loss decreased by less than ``tol·L0`` over the
    last ``_WINDOW`` iterations (or, for L-BFGS, at its own convergence tests). Returns the best
    parameters seen (so the loss never exceeds the starting loss), their loss and the number of
    iterations.
    """
    shape = theta.shape
    hist: list[float] = []

    def check(loss: float) -> None:
        hist.append(loss)
        if len(hist) > _WINDOW and hist[-_WINDOW - 1] - loss <= tol * L0:
            raise _SlowProgress

    if method == "lbfgs":
        from scipy.optimize import minimize

        best = {"x": theta.ravel().copy(), "f": math.inf}

        def fg(v: np.ndarray) -> tuple[float, np.ndarray]:
            loss, g = prob.loss_and_grad(v.reshape(shape))
            if loss < best["f"]:
                best["x"], best["f"] = v.copy(), loss
            return loss / L0, g.ravel() / L0

        def callback(intermediate_result: Any) -> None:
            try:
                check(float(intermediate_result.fun) * L0)
            except _SlowProgress:
                raise StopIteration from None

        minimize(
            fg,
            theta.ravel().copy(),
            jac=True,
            method="L-BFGS-B",
            callback=callback,
            options={"maxiter": steps, "maxcor": 30, "ftol": 1e-15, "gtol": 1e-13},
        )
        x = best["x"].reshape(shape)
        return x, prob.loss_and_grad(x)[0], len(hist)

    th = theta.copy()
    m = np.zeros_like(th)
    v = np.zeros_like(th)
    b1, b2, eps = 0.9, 0.999, 1e-12
    best_x, best_f = th.copy(), math.inf
    for it in range(1, steps + 1):
        loss, g = prob.loss_and_grad(th)
        if loss < best_f:
            best_x, best_f = th.copy(), loss
        try:
            check(loss)
        except _SlowProgress:
            break
        g = g / L0  # minimise L/L0 (scale-free learning rates)
        if method == "adam":
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            th = th - lr * (m / (1 - b1**it)) / (np.sqrt(v / (1 - b2**it)) + eps)
        else:
            th = th - lr * g
    loss = prob.loss_and_grad(th)[0]
    if loss < best_f:
        best_x, best_f = th, loss
    return best_x, best_f, len(hist)


#: Window (iterations) of the slow-progress test of the cost minimisation.
_WINDOW = 50


def _initial_neurons(
    task: SequenceTask,
    hidden: int,
    init_scale: float,
    seed: int,
    init_params: tuple[np.ndarray, np.ndarray] | None,
) -> np.ndarray:
    """``θ(0)``, ``(H, k+1, n)``: drawn by :class:`TwoLayerNet` (float64) or ``init_params``."""
    k, n = task.k, task.n
    if init_params is None:
        if isinstance(hidden, bool) or not isinstance(hidden, int | np.integer) or hidden < 1:
            raise ConfigError(f"hidden: needs an integer >= 1, got {hidden!r}")
        net = TwoLayerNet(
            torch.tensor(task.encoding, dtype=torch.float64),
            k,
            int(hidden),
            1,
            init_scale,
            generator=torch.Generator().manual_seed(int(seed)),
            dtype=torch.float64,
        )
        W_in = net.W_in.detach().numpy()[0]
        W_out = net.W_out.detach().numpy()[0]
    else:
        W_in = np.asarray(init_params[0], dtype=np.float64)
        W_out = np.asarray(init_params[1], dtype=np.float64)
        if W_in.ndim == 4 and W_in.shape[0] == 1:
            W_in = W_in[0]
        if W_out.ndim == 3 and W_out.shape[0] == 1:
            W_out = W_out[0]
        H = W_in.shape[0] if W_in.ndim == 3 else -1
        if H < 1 or W_in.shape != (H, k, n) or W_out.shape != (H, n):
            raise ShapeError(
                f"init_params: expected W_in (H, {k}, {n}) and W_out (H, {n}), "
                f"got {W_in.shape} and {W_out.shape}"
            )
    return np.concatenate([W_in, W_out[:, None, :]], axis=1).astype(np.float64)


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
    costmin_steps: int = 300,
    costmin_lr: float = 1e-3,
    costmin_tol: float = 1e-10,
    collapse_frac: float = 0.05,
    loss_rtol: float = 1e-6,
    tie_rtol: float = 1e-4,
    max_rounds: int | None = None,
    max_time: float | None = None,
    max_steps: float | None = None,
    max_integration_steps: int = 1_000_000,
    init_params: tuple[np.ndarray, np.ndarray] | None = None,
    activation: str = "neuron",
    collective_fraction: float = 0.5,
    collective_cover: float = 0.9,
    progress: Callable[[float, float], None] | None = None,
) -> AGFResult:
    """Simulate AGF (docs/theory.md §4.2; P2 = Kunin et al., arXiv 2506.06489) for the two-layer
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
        costmin: ``"lbfgs"`` (default; SciPy's L-BFGS-B), ``"adam"`` or ``"gd"`` (full-batch
            Adam / gradient descent on ``L/L_0``) — the cost minimiser.
        costmin_steps: iteration budget of one cost minimisation (see "Cost minimisation in
            practice" in the module docstring: with few active neurons it often does not
            converge, and the budget then sets the level reached).
        costmin_lr: learning rate of ``"adam"`` / ``"gd"`` (ignored by L-BFGS).
        costmin_tol: a cost minimisation also stops when the loss decreased by less than
            ``costmin_tol·L_0`` over the last 50 iterations.
        collapse_frac: an active neuron whose norm falls below this fraction of its norm when
            it joined the active set returns to the dormant set.
        loss_rtol: stop once the loss is at most ``loss_rtol`` × the initial loss.
        tie_rtol: neurons whose threshold crossings (extrapolated with their current
            utilities) fall within ``tie_rtol·t`` of the first one activate together (exact ties
            are broken by rounding, e.g. for symmetric initialisations).
        max_rounds: stop after this many jumps (``None``: no limit).
        max_time: stop at this flow time (``None``: no limit).
        max_steps: stop at this many optimiser steps (``max_steps·Δt``; ``None``: no limit).
        max_integration_steps: safety limit on the number of dormant-phase integration steps.
        init_params: optional initial ``(W_in (H, k, n), W_out (H, n))`` (or with a leading
            ensemble axis of size 1) instead of drawing them; ``hidden`` is then ignored.
        activation: ``"neuron"`` (P2's rule: a neuron activates when its own norm reaches 1)
            or ``"collective"`` (this project's finite-initialisation variant, docs/theory.md
            §4.4: the dormant neurons activate when their joint output, at their current norms,
            removes ``collective_fraction`` of some irrep's residual power; the smallest set of
            them carrying ``collective_cover`` of the population's utility ``Σ s_i^κ U_i``
            activates, from their current norms). The single-neuron threshold still applies.
        collective_fraction, collective_cover: the two fractions of ``"collective"``.
        progress: called as ``progress(steps, loss)`` (optimiser steps reached, mean-MSE loss)
            after every integration step and every jump, e.g. to drive a progress bar
            (:class:`groupcomp.runs.progress.Progress`); nothing is printed here.

    Returns:
        :class:`AGFResult`.

    Raises:
        ConfigError: invalid argument (the message names it), ``n^k`` too large, or an
            initialisation that is not small (``‖θ_i(0)‖ >= 1``).
        ShapeError: template or ``init_params`` of the wrong shape.
    """
    kwargs = dict(locals())
    import scipy.optimize  # noqa: F401  (load its BLAS before limiting the BLAS threads)

    with _single_blas_thread():
        return _simulate(**kwargs)


def _simulate(
    G: FiniteGroup,
    template: np.ndarray,
    k: int,
    *,
    hidden: int,
    init_scale: float,
    seed: int,
    lr: float,
    optimizer: str,
    momentum: float,
    utilmax_lr: float | None,
    utilmax_tol: float,
    costmin: str,
    costmin_steps: int,
    costmin_lr: float,
    costmin_tol: float,
    collapse_frac: float,
    loss_rtol: float,
    tie_rtol: float,
    max_rounds: int | None,
    max_time: float | None,
    max_steps: float | None,
    max_integration_steps: int,
    init_params: tuple[np.ndarray, np.ndarray] | None,
    activation: str = "neuron",
    collective_fraction: float = 0.5,
    collective_cover: float = 0.9,
    progress: Callable[[float, float], None] | None = None,
) -> AGFResult:
    wall0 = _time.perf_counter()
    activation = _check_choice(activation, ACTIVATION_RULES, "activation")
    if not 0.0 < collective_fraction < 1.0 or not 0.0 < collective_cover <= 1.0:
        raise ConfigError(
            "collective_fraction / collective_cover: need 0 < fraction < 1 and 0 < cover <= 1, "
            f"got {collective_fraction!r}, {collective_cover!r}"
        )
    collective = activation == "collective"
    optimizer = _check_choice(optimizer, OPTIMIZERS, "optimizer")
    costmin = _check_choice(costmin, COSTMIN, "costmin")
    x = check_template(G, template)
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
    tie_rtol = _check_positive(tie_rtol, "tie_rtol", allow_zero=True)
    if int(max_integration_steps) < 1:
        raise ConfigError(
            f"max_integration_steps: needs an integer >= 1, got {max_integration_steps!r}"
        )
    if int(costmin_steps) < 1:
        raise ConfigError(f"costmin_steps: needs an integer >= 1, got {costmin_steps!r}")
    if max_rounds is not None and int(max_rounds) < 0:
        raise ConfigError(f"max_rounds: needs an integer >= 0 or None, got {max_rounds!r}")
    if max_time is not None:
        max_time = _check_positive(max_time, "max_time")
    if max_steps is not None:
        max_steps = _check_positive(max_steps, "max_steps")

    task = SequenceTask(G, x, k, max_exhaustive=MAX_SEQUENCES)
    kappa = k + 1
    q = float(kappa - 2) if optimizer == "gd" else 0.0
    dt_step = step_time(n, lr, momentum)
    if max_steps is not None:
        max_time = max_steps * dt_step if max_time is None else min(max_time, max_steps * dt_step)

    # ---------------------------------------------------------------- initialisation
    theta0 = _initial_neurons(task, hidden, init_scale, seed, init_params)  # (H, k+1, n)
    hidden = theta0.shape[0]
    s0 = np.linalg.norm(theta0.reshape(hidden, -1), axis=1)
    if np.any(s0 <= 0) or np.any(s0 >= 1):
        raise ConfigError(
            f"init_scale: AGF is a small-initialisation theory and needs 0 < ‖θ_i(0)‖ < 1 for "
            f"every neuron; got norms in [{s0.min():.3g}, {s0.max():.3g}]"
        )
    thresholds = _thresholds(s0, q)

    prob = _Problem(task)
    L0 = float(np.mean(prob.Y**2))
    if L0 == 0.0:
        raise ConfigError("template: is identically zero; there is nothing to learn")

    theta_bar = theta0 / s0[:, None, None]  # directions (meaningful for dormant neurons)
    S = np.zeros(hidden)  # accumulated utilities
    active = np.zeros(hidden, dtype=bool)
    theta_act = np.zeros_like(theta0)  # parameters of the active neurons
    act_norm0 = np.zeros(hidden)  # norm when joining the active set
    R = prob.Y.copy()  # residual
    loss = L0
    res_powers = [_residual_power(G, R)]
    costmin_iters: list[int] = []

    jump_times: list[float] = []
    jump_neurons: list[list[int]] = []
    learned: list[list[str]] = []
    levels = [L0]
    deactivations: list[tuple[int, int]] = []
    t = 0.0
    n_int = 0
    dt_prev = 0.0
    u_ref = 0.0
    stop_reason = "max_time"
    fixed_speed = None if utilmax_lr is None else utilmax_lr / dt_step
    pop_norms: dict[int, float] = {}
    cohort_target: np.ndarray | None = None

    while True:
        if loss <= loss_rtol * L0:
            stop_reason = "converged"
            break
        if max_rounds is not None and len(jump_times) >= int(max_rounds):
            stop_reason = "max_rounds"
            break
        dormant = np.flatnonzero(~active)
        if dormant.size == 0:
            stop_reason = "all_active"
            break

        # ---------------------------------------------------- utility maximisation
        fired: list[int] = []
        th = theta_bar[dormant]
        s0_d = s0[dormant]
        c_d = thresholds[dormant]
        S_d = S[dormant]
        if collective:
            p_res = _residual_power(G, R)
            p_live = p_res > 1e-9 * max(float(p_res.sum()), 1e-300)
        while True:
            if n_int >= max_integration_steps:
                stop_reason = "max_integration_steps"
                break
            if max_time is not None and t >= max_time:
                stop_reason = "max_time"
                break
            U, g = prob.utility_and_grad(th, R)
            radial = np.einsum("bjm,bjm->b", g, th)
            gt = g - radial[:, None, None] * th  # tangential gradient P⊥∇U(θ̄)
            gnorm = np.linalg.norm(gt.reshape(len(th), -1), axis=1)
            if fixed_speed is not None:
                speed = np.full(len(th), fixed_speed)
            elif q:
                speed = _norm_from_S(s0_d, S_d, q) ** q
            else:
                speed = np.ones(len(th))
            rate_S = kappa * U
            with np.errstate(divide="ignore"):
                cross = np.where(rate_S > 0, (c_d - S_d) / np.where(rate_S > 0, rate_S, 1), np.inf)
            t_cross = float(cross.min())
            turn = float(np.max(speed * gnorm))
            u_abs = float(np.max(np.abs(U)))
            if u_ref == 0.0:
                u_ref = u_abs  # utility scale of the task (first dormant step)
            dt = math.inf
            if turn > 0:
                dt = utilmax_tol / turn  # no direction turns by more than utilmax_tol
            if u_abs > 0:  # explicit Euler on the sphere: Hessian of U is ≲ κ(κ−1) max|U|
                dt = min(dt, 0.5 / (float(speed.max()) * kappa * (kappa - 1) * u_abs))
            if q and fixed_speed is None:  # the speed s^q changes by ≤ utilmax_tol (relative)
                dspeed = float(np.max(np.abs(rate_S) * q * speed))
                if dspeed > 0:
                    dt = min(dt, utilmax_tol / dspeed)
            if dt_prev > 0:
                dt = min(dt, 2.0 * dt_prev)  # grow the step at most ×2 per step
            if collective and float(np.max(rate_S)) > 0:  # s^κ changes by ≤ 5 % per step
                dt = min(dt, 0.05 / (kappa * float(np.max(rate_S))))
            if not math.isfinite(t_cross) and turn <= 1e-12 * u_ref * float(speed.max()):
                stop_reason = "stalled"  # nothing moves and nothing will ever activate
                break
            hit = t_cross <= dt
            if hit:
                dt = t_cross
            if max_time is not None and t + dt >= max_time:
                dt, hit = max_time - t, False
            if not math.isfinite(dt):
                stop_reason = "stalled"
                break
            S_d = S_d + dt * rate_S
            new = th + (dt * speed)[:, None, None] * gt
            th = new / np.linalg.norm(new.reshape(len(new), -1), axis=1)[:, None, None]
            t += dt
            n_int += 1
            if dt > 0:
                dt_prev = dt
            if progress is not None:
                progress(t / dt_step, loss)
            if hit:
                tie = max(tie_rtol * t, 1e-12 * t_cross)  # (near-)simultaneous crossings
                fired = [int(dormant[i]) for i in np.flatnonzero(cross <= t_cross + tie)]
                break
            if collective:
                # the dormant population's joint output at its current norms
                s_d = _norm_from_S(s0_d, S_d, q)
                F = prob.output(th * s_d[:, None, None])
                removed = 1.0 - _residual_power(G, R - F) / np.where(p_live, p_res, 1.0)
                removed = np.where(p_live, removed, 0.0)
                if float(np.max(removed)) >= collective_fraction:
                    # the neurons that carry the irrep whose residual crossed: their utility
                    # for the residual's component in that irrep
                    R_pi = R @ fourier.projector(G, int(np.argmax(removed))).T
                    U_pi, _ = prob.utility_and_grad(th, R_pi)
                    cohort_target = R_pi
                    share = s_d**kappa * np.maximum(U_pi, 0.0)
                    order = np.argsort(-share)
                    cum = np.cumsum(share[order])
                    m = int(np.searchsorted(cum, collective_cover * cum[-1])) + 1
                    fired = sorted(int(dormant[i]) for i in order[:m])
                    pop_norms = {int(dormant[i]): float(s_d[i]) for i in order[:m]}
                    break
        theta_bar[dormant] = th
        S[dormant] = S_d
        if not fired:
            break

        # ---------------------------------------------------- activation
        idx = np.asarray(fired)
        labels: list[str] = []
        for lab in _dominant_irreps(G, theta_bar[idx]):
            if lab not in labels:
                labels.append(lab)
        if collective and pop_norms:  # the population starts from where it is
            scale = np.array([pop_norms[int(i)] for i in idx])
        else:
            scale = prob.ray_scale(theta_bar[idx], R)
            scale = np.where(scale > 0, scale, 1.0)
        pop_norms = {}
        if idx.size > 1:  # several at once: one common factor so that together they fit r best
            f_new = prob.output(theta_bar[idx] * scale[:, None, None])
            lam = float(np.sum(f_new * R)) / max(float(np.sum(f_new * f_new)), 1e-300)
            if lam > 0:
                scale = scale * lam ** (1.0 / kappa)
        theta_act[idx] = theta_bar[idx] * scale[:, None, None]
        act_norm0[idx] = scale
        active[idx] = True

        # ---------------------------------------------------- cost minimisation
        aidx = np.flatnonzero(active)
        if cohort_target is not None:
            # collective rule: the new cohort fits its irrep's part of the residual, the
            # earlier cohorts stay (gradient flow turns active neurons towards other irreps
            # only on the slow time scale of the next drops)
            sub = copy.copy(prob)
            sub.Y = cohort_target
            theta_act[idx], _, n_it = _minimize_cost(
                sub, theta_act[idx], costmin, int(costmin_steps), costmin_lr, costmin_tol, L0
            )
            loss = float(np.mean((prob.Y - prob.output(theta_act[aidx])) ** 2))
            cohort_target = None
        else:
            theta_act[aidx], loss, n_it = _minimize_cost(
                prob, theta_act[aidx], costmin, int(costmin_steps), costmin_lr, costmin_tol, L0
            )
        norms = np.linalg.norm(theta_act[aidx].reshape(len(aidx), -1), axis=1)
        jump_index = len(jump_times)
        for i in aidx[norms < collapse_frac * act_norm0[aidx]]:
            nrm = float(np.linalg.norm(theta_act[i]))
            theta_bar[i] = theta_act[i] / nrm if nrm > 0 else theta0[i] / s0[i]
            theta_act[i] = 0.0
            S[i] = 0.0
            active[i] = False
            deactivations.append((jump_index, int(i)))
        R = prob.Y - prob.output(theta_act[active])
        loss = float(np.mean(R**2))
        jump_times.append(t)
        jump_neurons.append(fired)
        learned.append(labels)
        levels.append(loss)
        res_powers.append(_residual_power(G, R))
        costmin_iters.append(n_it)
        if progress is not None:
            progress(t / dt_step, loss)

    s_now = _norm_from_S(s0, S, q)
    final = np.where(active[:, None, None], theta_act, theta_bar * s_now[:, None, None])
    return AGFResult(
        group=G.name,
        n=n,
        k=k,
        hidden=hidden,
        optimizer=optimizer,
        lr=lr,
        momentum=momentum,
        step_time=dt_step,
        init_norms=s0,
        thresholds=thresholds,
        jump_times=jump_times,
        jump_steps=[tj / dt_step for tj in jump_times],
        jump_neurons=jump_neurons,
        learned_irreps=learned,
        levels_mse=levels,
        residual_powers=np.asarray(res_powers),
        costmin_iterations=costmin_iters,
        deactivations=deactivations,
        irrep_labels=[r.label for r in G.irreps()],
        final_time=t,
        stop_reason=stop_reason,
        active=[int(i) for i in np.flatnonzero(active)],
        params=(final[:, :k].copy(), final[:, k].copy()),
        integration_steps=n_int,
        wall_time=_time.perf_counter() - wall0,
    )
