"""Typed configuration schema (dataclasses, used as OmegaConf structured configs).

Every key a user can set lives here, with its default. Allowed values of enumerated keys are in
:data:`CHOICES`; :func:`groupcomp.config.validate` checks them (and ranges) before any work.
The same dataclasses are registered with Hydra's ConfigStore (``groupcomp.config.hydra``), so
sweeps use the same schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from groupcomp.models import ACTIVATIONS
from groupcomp.optim import OPTIMIZERS
from groupcomp.templates import TEMPLATE_KINDS


def choice(name: str, values: tuple[str, ...]) -> type[StrEnum]:
    """A string enum whose members are ``values`` (member name = value): a typed choice that
    OmegaConf enforces on every assignment and that compares equal to its plain string."""
    return StrEnum(name, {v: v for v in values})  # type: ignore[return-value]


TemplateKind = choice("TemplateKind", tuple(TEMPLATE_KINDS))
DataMode = choice("DataMode", ("exhaustive", "online", "sampled"))
ModelName = choice("ModelName", ("two_layer", "rnn", "tree"))
Activation = choice("Activation", tuple(ACTIVATIONS))
Transition = choice("Transition", ("quadratic", "multiplicative"))
OptimName = choice("OptimName", tuple(OPTIMIZERS))
DType = choice("DType", ("float32", "float64"))
Device = choice("Device", ("cpu", "cuda", "mps"))
EngineName = choice("EngineName", ("auto", "torch", "numba"))
AGFActivation = choice("AGFActivation", ("collective", "neuron"))


@dataclass
class TemplateConfig:
    """Template signal on the group (``groupcomp.templates``)."""

    kind: TemplateKind = TemplateKind.powers
    #: power per real irrep, in ``G.irreps()`` order (kind ``powers`` / ``powers_random``)
    powers: list[float] | None = None
    #: one-hot / digits amplitude
    scale: float = 1.0
    #: bump width (kind ``bumps``)
    sigma: float = 1.0
    #: number of random bumps (kind ``bumps``; 0 = one bump at the identity)
    bumps: int = 0
    #: std of the Gaussian template (kind ``gaussian``)
    std: float = 1.0
    #: which digit / which sample of it (kind ``digits``)
    digit: int = 0
    index: int = 0
    #: seed of the template's own randomness (random kinds); ``None`` = the run's first seed
    seed: int | None = None


@dataclass
class TaskConfig:
    """Sequential composition task (``groupcomp.tasks.SequenceTask``)."""

    #: sequence length (number of group elements composed)
    k: int = 2
    #: ``exhaustive`` (all n^k sequences; full batch unless ``train.batch_size``), ``online``
    #: (fresh uniform samples every step) or ``sampled`` (``num_samples`` sequences drawn once,
    #: then trained on like a fixed data set; the exhaustive set is never built)
    data: DataMode = DataMode.exhaustive
    #: size of the fixed data set of ``task.data=sampled``
    num_samples: int | None = None
    #: seed of the draw of that data set (the same set for every seed of a batch)
    sample_seed: int = 0
    #: fraction of the exhaustive set held out for validation (0 = none)
    val_fraction: float = 0.0


@dataclass
class ModelConfig:
    """Network (``groupcomp.models``)."""

    #: ``two_layer``, ``rnn`` or ``tree`` (multilayer, ⌈log2 k⌉ levels)
    name: ModelName = ModelName.two_layer
    hidden: int = 180
    #: activation of two-layer / tree models; ``power`` = monic z^k
    activation: Activation = Activation.power
    #: initialisation scale s (‖θ_i(0)‖ ≈ √2·s)
    init_scale: float = 1e-3
    #: RNN transition: ``quadratic`` or ``multiplicative``
    transition: Transition = Transition.quadratic
    #: RNN: train on the prediction at every step (prefix products), not only the last
    output_every_step: bool = False


@dataclass
class CommonOptimConfig:
    """Optimiser settings shared by every run kind (``groupcomp.optim.make_optimizer``)."""

    name: str = "auto"
    lr: float = 0.01
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    #: gradient-norm clipping, applied to each seed's gradient separately (``None`` = off)
    grad_clip: float | None = None


@dataclass
class OptimConfig(CommonOptimConfig):
    """Optimiser of a sequence-composition run.

    ``name``: ``auto`` picks the paper's choice per model (per-neuron SGD; hybrid for the RNN).
    """

    name: OptimName = OptimName.auto
    #: learning rate, or ``auto``: half the stability bound of the staircase (per-neuron SGD /
    #: SGD on the two-layer z^k network, docs/theory.md §2.6); 1e-3 where no bound applies
    lr: Any = "auto"
    momentum: float = 0.0
    #: learning rate of the Adam part of the hybrid RNN optimiser (``None`` = 1e-3)
    adam_lr: float | None = None


@dataclass
class CommonTrainConfig:
    """Training-loop settings shared by every run kind (``groupcomp.training.fit``)."""

    #: seeds trained together as one batched model (each member equals the seed run alone)
    seeds: list[int] = field(default_factory=lambda: [0])
    #: samples per optimiser step; ``None`` = the whole training set (full batch). Required for
    #: ``task.data=online``.
    batch_size: int | None = None
    dtype: DType = DType.float32
    device: Device = Device.cpu
    #: torch intra-op threads (``None`` = 1 for small models, see docs/performance.md); also the
    #: number of worker threads of the compiled engine (``None`` = one per core, ≤ one per seed)
    threads: int | None = None
    #: ``auto`` = the compiled numba kernel for full-batch two-layer runs where it is faster,
    #: else torch; ``torch`` / ``numba`` force one (``numba`` errors where it cannot apply)
    engine: EngineName = EngineName.auto
    #: number of log-spaced steps at which the probes (spectra, per-irrep losses) run
    log_points: int = 120
    #: number of log-spaced checkpoints (``checkpoints/step_<t>.pt``, step 0 included)
    checkpoints: int = 12
    #: also a checkpoint every this many steps (``None`` = only the log-spaced ones)
    checkpoint_every: int | None = None
    #: progress bar (silenced when not a TTY or with --quiet)
    progress: bool = True


@dataclass
class TrainConfig(CommonTrainConfig):
    """Training loop of a sequence-composition run."""

    #: optimiser steps (full-batch: steps = epochs), or ``auto``: 8× the closed-form step of
    #: the last drop (docs/theory.md §2.6); 2000 where no drop time is predicted
    steps: Any = "auto"


@dataclass
class TheoryConfig:
    """Theory overlays of a training run."""

    #: also run the AGF simulator (``groupcomp.theory.agf``) with the run's group, template, k,
    #: width, init, seed and optimiser, and draw its staircase on the loss figure
    agf: bool = False
    #: AGF's activation rule: ``collective`` (the dormant population activates when it removes
    #: half of an irrep's residual; closer to training, docs/theory.md §4.4) or ``neuron`` (P2)
    agf_activation: AGFActivation = AGFActivation.collective


@dataclass
class ExperimentConfig:
    """What every run kind has: a kind, a preset name, a group; the kinds add their sections
    (``task``, ``model``, ``optim``, ``train`` and their own)."""

    #: run kind: ``sequence`` (``groupcomp train``) or ``arith`` (``groupcomp arith``)
    kind: str = "sequence"
    #: preset this config came from (informational)
    preset: str = "custom"
    #: group spec, e.g. ``D3``, ``C4xC4``, ``A5``, ``Z23`` (see ``groupcomp groups list``)
    group: str = "D3"


@dataclass
class RunConfig(ExperimentConfig):
    """A sequence-composition run: ``groupcomp train PRESET key=value ...``."""

    template: TemplateConfig = field(default_factory=TemplateConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    theory: TheoryConfig = field(default_factory=TheoryConfig)


#: allowed values of enumerated keys (the enums' members; ``kind`` is fixed per schema)
CHOICES: dict[str, tuple[str, ...]] = {
    "template.kind": tuple(TemplateKind),
    "task.data": tuple(DataMode),
    "model.name": tuple(ModelName),
    "model.activation": tuple(Activation),
    "model.transition": tuple(Transition),
    "optim.name": tuple(OptimName),
    "train.dtype": tuple(DType),
    "train.device": tuple(Device),
    "train.engine": tuple(EngineName),
    "theory.agf_activation": tuple(AGFActivation),
    "kind": ("sequence",),
}

#: keys renamed in 0.2 (old → new); old names keep working with a warning
RENAMED: dict[str, str] = {"task.batch_size": "train.batch_size"}

#: values renamed in 0.2, for every run kind (one vocabulary: ``square``, not P3's ``sqr``)
VALUE_ALIASES: dict[str, dict[str, str]] = {"model.activation": {"sqr": "square"}}

#: ``group=value`` shorthands: ``model=rnn`` means ``model.name=rnn``
SHORTHANDS: dict[str, str] = {
    "model": "model.name",
    "optim": "optim.name",
    "template": "template.kind",
    "data": "task.data",
    "k": "task.k",
    "seeds": "train.seeds",
    "steps": "train.steps",
    "batch_size": "train.batch_size",
    "agf": "theory.agf",
}
