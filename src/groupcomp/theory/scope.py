"""Which predictions of the theory apply to which network (docs/theory.md §2.7).

The staircase theorems (P1 = Marchetti et al., arXiv 2602.03655, Theorem 4.1; AGF, P2 =
Kunin et al., arXiv 2506.06489) are proved for the two-layer network with the monic activation
``σ(z) = z^k`` (``k`` = sequence length) trained from a small initialisation. What survives
for other networks:

* **Plateau levels** are a property of the target, not of the network: after the network has
  fitted a set ``I`` of irreps exactly (and nothing of the others) its mean-MSE loss is
  ``(1/n) Σ_{π∉I} P(π)``. So *if* a network learns irreps one at a time, its plateaus are among
  these levels — for any activation and architecture. Which ones it visits, in which order and
  when, is only predicted for ``z^k``.
* **A linear network learns nothing but the mean** (P1, Lemma 3.5): for ``k ≥ 2`` the target
  ``x_{g_1⋯g_k}`` averaged over any one position is constant, so the best linear predictor of it
  from ``x_{g_1}, …, x_{g_k}`` is the constant (trivial-irrep) part. The loss stays at the initial
  plateau minus the trivial irrep's power.
* ``square`` equals ``power`` when ``k = 2``. For ``k ≥ 3`` a degree-2 activation cannot represent
  the ``k``-fold product (its neurons only see pairs), so no staircase to zero is predicted.
* ``relu``, ``relu2``, ``tanh``, ``gelu``, ``silu`` and the RNN / tree models: no theorem on
  order or timing (the RNN and tree results of P1 are exact constructions of the width needed,
  :mod:`groupcomp.theory.constructions`, not learning dynamics).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["TheoryScope", "theory_scope"]


@dataclass(frozen=True)
class TheoryScope:
    """What the theory predicts for one network.

    Attributes:
        order: the learning order of the irreps (Theorem 4.1) applies.
        times: closed-form / AGF drop times apply (also needs per-neuron SGD or SGD).
        levels: the plateau levels partition the loss (true for every network, see module).
        learns_nothing: the network cannot go below the initial plateau (minus the mean).
        reason: one sentence saying why, for the console and the figures.
    """

    order: bool
    times: bool
    levels: bool
    learns_nothing: bool
    reason: str

    @property
    def staircase(self) -> bool:
        """A staircase (order and levels) is predicted and should be drawn."""
        return self.order

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def theory_scope(
    model: str, activation: str, k: int, optimizer: str | None, *, clipped: bool = False
) -> TheoryScope:
    """The predictions that apply to ``model`` (``two_layer`` / ``rnn`` / ``tree``) with
    ``activation`` on sequences of length ``k``, trained with ``optimizer`` (the theory's name:
    ``"per_neuron"``, ``"gd"``, or ``None`` for adaptive optimisers). ``clipped``: gradient-norm
    clipping is on; it shortens the steps whenever it acts, so the drop times of the gradient
    flow are only lower bounds (measured on the ``c11`` preset: drops 2-9x later) and are not
    predicted."""
    timed = optimizer in ("per_neuron", "gd") and not clipped
    if activation == "linear":
        return TheoryScope(
            False,
            False,
            True,
            True,
            "a linear network learns only the mean of the target (P1, Lemma 3.5): no drop",
        )
    if model != "two_layer":
        return TheoryScope(
            False,
            False,
            True,
            False,
            f"the staircase theorem is for the two-layer z^k network, not model.name={model}: "
            "plateau levels only",
        )
    if activation == "power" or (activation == "square" and k == 2):
        why = "two-layer z^k network (P1, Theorem 4.1)"
        if clipped and optimizer in ("per_neuron", "gd"):
            why += (
                "; no drop times with gradient clipping (optim.grad_clip): they would be "
                "lower bounds"
            )
        elif not timed:
            why += "; drop times need per-neuron SGD or SGD"
        return TheoryScope(True, timed, True, False, why)
    if activation == "square":
        return TheoryScope(
            False,
            False,
            True,
            False,
            f"a degree-2 activation cannot compose k={k} elements: no staircase predicted",
        )
    return TheoryScope(
        False,
        False,
        True,
        False,
        f"no theorem for activation={activation} (only z^k): plateau levels only",
    )
