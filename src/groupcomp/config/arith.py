"""Config schema of the group-arithmetic runs (``groupcomp arith ...``): :class:`ArithConfig`.

``load_config("arith_z23", ["loss=ce", "split=critical"], schema=ArithConfig)`` gives a validated
config; ``groupcomp.training.train_arith(cfg)`` runs it. Shorthands (:data:`ARITH_SHORTHANDS`):
``split=critical`` sets ``split.mode``, ``optim=adamw`` sets ``optim.name``, ``epochs=…``,
``seeds=[…]``, ``expr=…``, ``op=…``, ``k=…`` (operands, ``task.k``), ``hidden=…``, ``activation=…``,
``embedding=…``, ``ridge=…``, ``lr=…``, ``wd=…``, ``train_fraction=…``, ``offset=…``.
``loss`` and ``group`` are top-level keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig

from groupcomp.config.loader import check_device, register_schema
from groupcomp.config.schema import (
    VALUE_ALIASES,
    CommonOptimConfig,
    CommonTrainConfig,
    Device,
    DType,
    ExperimentConfig,
    choice,
)
from groupcomp.errors import ConfigError
from groupcomp.models.arith import ARITH_ACTIVATIONS, EMBEDDINGS
from groupcomp.tasks.arithmetic import ARITH_OPS

ArithOp = choice("ArithOp", tuple(ARITH_OPS))
SplitMode = choice("SplitMode", ("fraction", "critical"))
ArithActivation = choice("ArithActivation", tuple(ARITH_ACTIVATIONS))
Embedding = choice("Embedding", tuple(EMBEDDINGS))
ArithOptimName = choice("ArithOptimName", ("adam", "adamw", "sgd", "muon", "per_neuron_sgd"))
ArithEngine = choice("ArithEngine", ("auto", "torch"))
Loss = choice("Loss", ("mse", "ce"))

__all__ = [
    "ARITH_CHOICES",
    "ARITH_SHORTHANDS",
    "ArithConfig",
    "ArithModelConfig",
    "ArithOptimConfig",
    "ArithSplitConfig",
    "ArithTaskConfig",
    "ArithTrainConfig",
    "validate_arith",
]


@dataclass
class ArithTaskConfig:
    """What is computed (``groupcomp.tasks.arithmetic.make_task``)."""

    #: ``auto`` (``expr`` if ``expression`` is set, else ``compose``), ``compose`` (the group law
    #: of ``group``), ``mul`` (multiplication mod the prime p of ``group=Z<p>`` on the non-zero
    #: residues), ``mul_all`` (mod p on all residues), ``expr`` (``expression`` over Z_M)
    op: ArithOp = ArithOp.auto
    #: polynomial over Z_M, e.g. ``x^2+xy+y^2`` (x = operand 1, y = operand 2, ...)
    expression: str | None = None
    #: number of operands k >= 2
    k: int = 2


@dataclass
class ArithSplitConfig:
    """Train/test split of the M^k tuples."""

    #: ``fraction`` (``train_fraction`` of the tuples) or ``critical`` (``offset`` x P4's
    #: critical count ``c · M ln M`` x ``d_max/2`` for non-abelian groups)
    mode: SplitMode = SplitMode.fraction
    train_fraction: float = 0.9
    #: P4's ``critical_ratio_multiplier``
    c: float = 2.7482
    #: multiplies the critical count (0.5 = half of it)
    offset: float = 1.0
    #: apply the non-abelian factor ``d_max/2`` (P4's code) in ``critical`` mode
    nonabelian_correction: bool = True
    #: seed of the shuffle; ``None`` = each ensemble member uses its own training seed
    seed: int | None = None


@dataclass
class ArithModelConfig:
    """``groupcomp.models.ArithNet``."""

    hidden: int = 512
    #: ``square`` (P3's ``sqr``), ``relu``, ``relu2``, ``silu``, ``gelu``, ``tanh``, ``linear``,
    #: ``power``
    activation: ArithActivation = ArithActivation.square
    #: ``onehot`` (fixed) or ``learned``
    embedding: Embedding = Embedding.onehot
    #: learned embedding dimension (``None`` = M)
    embed_dim: int | None = None
    #: hidden layers (> 1 adds residual layers)
    layers: int = 1
    #: solve the output layer by ridge regression before every step
    ridge: bool = False
    ridge_lambda: float = 1e-2
    #: std multiplier of the init (see ArithNet; PyTorch's nn.Linear default ~ 0.6-0.8)
    init_scale: float = 1.0


@dataclass
class ArithOptimConfig(CommonOptimConfig):
    """Optimiser (``groupcomp.optim.make_optimizer``): ``adam`` (P3), ``adamw``, ``sgd``,
    ``muon``, ``per_neuron_sgd``.

    ``weight_decay``: Adam / SGD: L2 added to the gradient (torch semantics); AdamW / Muon:
    decoupled. Default 1e-3: with it Z23 at P4's critical split groks (all of seeds 0-5 reach
    100 % test accuracy); P3's 1e-4 (preset ``arith_z23``) memorises there.
    """

    name: ArithOptimName = ArithOptimName.adam
    weight_decay: float = 1e-3
    #: SGD / Muon momentum (``None`` = the optimiser's default: 0 for SGD, 0.95 for Muon)
    momentum: float | None = None


@dataclass
class ArithTrainConfig(CommonTrainConfig):
    """Training loop of an arithmetic run: ``epochs`` passes over the training split
    (``batch_size=None``: one full-batch step per epoch)."""

    epochs: int = 3000
    #: the compiled kernel covers sequence runs only: ``auto`` = ``torch`` here
    engine: ArithEngine = ArithEngine.auto
    #: log-spaced steps at which the Fourier power of the input weights is recorded
    log_points: int = 60
    #: stop this many epochs after every seed first reached 100 % test accuracy (``None`` = run
    #: all epochs)
    stop_after_grok: int | None = None


@dataclass
class ArithConfig(ExperimentConfig):
    """A group-arithmetic run: ``groupcomp arith [PRESET] key=value ...``."""

    kind: str = "arith"
    #: group spec (``groupcomp.groups.parse``): ``Z23``, ``Z2xZ3xZ4``, ``S4``,
    #: ``SmallGroup(24,12)``; for ``mul`` / ``mul_all`` / ``expr`` a cyclic ``Z<M>`` naming the
    #: modulus
    group: str = "Z23"
    #: ``mse`` (onto centred one-hot targets, P3's zero-mean projected loss) or ``ce``
    loss: Loss = Loss.mse
    task: ArithTaskConfig = field(default_factory=ArithTaskConfig)
    split: ArithSplitConfig = field(default_factory=ArithSplitConfig)
    model: ArithModelConfig = field(default_factory=ArithModelConfig)
    optim: ArithOptimConfig = field(default_factory=ArithOptimConfig)
    train: ArithTrainConfig = field(default_factory=ArithTrainConfig)


#: allowed values of enumerated keys (the enums' members)
ARITH_CHOICES: dict[str, tuple[str, ...]] = {
    "loss": tuple(Loss),
    "task.op": tuple(ArithOp),
    "split.mode": tuple(SplitMode),
    "model.activation": tuple(ArithActivation),
    "model.embedding": tuple(Embedding),
    "optim.name": tuple(ArithOptimName),
    "train.dtype": tuple(DType),
    "train.device": tuple(Device),
    "train.engine": tuple(ArithEngine),
    "kind": ("arith",),
}


#: ``key=value`` shorthands of ``groupcomp arith``
ARITH_SHORTHANDS: dict[str, str] = {
    "split": "split.mode",
    "train_fraction": "split.train_fraction",
    "offset": "split.offset",
    "op": "task.op",
    "expr": "task.expression",
    "expression": "task.expression",
    "k": "task.k",
    "operands": "task.k",
    "num_operands": "task.k",
    "batch_size": "train.batch_size",
    "hidden": "model.hidden",
    "activation": "model.activation",
    "embedding": "model.embedding",
    "layers": "model.layers",
    "ridge": "model.ridge",
    "optim": "optim.name",
    "lr": "optim.lr",
    "wd": "optim.weight_decay",
    "weight_decay": "optim.weight_decay",
    "epochs": "train.epochs",
    "seeds": "train.seeds",
}


def _get(cfg: Any, key: str) -> Any:
    obj = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def _require(cond: bool, key: str, what: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"{key}: {what}, got {value!r}")


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


#: domain parameter names (tasks.arithmetic) → the user's config keys
_PARAM_KEYS = {
    "group": "group",
    "expression": "task.expression",
    "task.expression": "task.expression",
    "op": "task.op",
    "num_operands": "task.k",
    "offset": "split.offset",
    "train_fraction": "split.train_fraction",
    "c": "split.c",
    "mode": "split.mode",
}


def _user_key(msg: str) -> str:
    """``make_task: group is ...`` / ``expression: ...`` → ``group: ...`` /
    ``task.expression: ...`` (domain code names its parameters; users know config keys)."""
    import re

    body = re.sub(r"^(make_task|split_counts|ArithmeticTask[.\w]*|make_split):\s*", "", msg)
    m = re.match(r"^([\w.]+)(:| )(.*)$", body, flags=re.S)
    if m and m.group(1) in _PARAM_KEYS:
        rest = m.group(3).lstrip()
        sep = ": " if m.group(2) == ":" else ": " + m.group(1) + " "
        return _PARAM_KEYS[m.group(1)] + sep + rest
    if "needs group" in body:
        return "group: " + body
    return msg


def validate_arith(cfg: DictConfig | ArithConfig) -> None:
    """Check every value of an :class:`ArithConfig`; raise :class:`ConfigError` naming the key.

    Also builds the task (parses ``group`` and ``task.expression``) and the split sizes, so every
    error that a run could hit before training is raised here.
    """
    c = cfg
    for key, allowed in ARITH_CHOICES.items():
        value = _get(c, key)
        if value not in allowed:
            raise ConfigError(
                f"{key}: {value!r} is not allowed; allowed values: {', '.join(allowed)}"
            )
    check_device("train.device", c.train.device)
    k = c.task.k
    _require(k >= 2, "task.k", "must be an integer >= 2", k)
    m = c.model
    _require(m.hidden >= 1, "model.hidden", "must be an integer >= 1", m.hidden)
    _require(m.layers >= 1, "model.layers", "must be an integer >= 1", m.layers)
    _require(
        m.embed_dim is None or m.embed_dim >= 1,
        "model.embed_dim",
        "must be an integer >= 1 or null (= M)",
        m.embed_dim,
    )
    _require(
        _finite(m.init_scale) and m.init_scale > 0, "model.init_scale", "must be > 0", m.init_scale
    )
    _require(
        _finite(m.ridge_lambda) and m.ridge_lambda >= 0,
        "model.ridge_lambda",
        "must be a number >= 0",
        m.ridge_lambda,
    )
    o = c.optim
    _require(_finite(o.lr) and o.lr > 0, "optim.lr", "must be a number > 0", o.lr)
    _require(
        _finite(o.weight_decay) and o.weight_decay >= 0,
        "optim.weight_decay",
        "must be a number >= 0",
        o.weight_decay,
    )
    if o.name == "per_neuron_sgd":
        _require(
            o.weight_decay == 0,
            "optim.weight_decay",
            "must be 0 with optim.name=per_neuron_sgd",
            o.weight_decay,
        )
    _require(
        len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas),
        "optim.betas",
        "must be a list of two numbers in [0, 1)",
        list(o.betas),
    )
    _require(
        o.momentum is None or 0 <= o.momentum < 1,
        "optim.momentum",
        "must be in [0, 1) or null (the optimiser's default)",
        o.momentum,
    )
    _require(
        o.grad_clip is None or o.grad_clip > 0,
        "optim.grad_clip",
        "must be > 0 or null (off)",
        o.grad_clip,
    )
    t = c.train
    _require(t.epochs >= 1, "train.epochs", "must be an integer >= 1", t.epochs)
    seeds = list(t.seeds)
    _require(len(seeds) >= 1, "train.seeds", "must be a non-empty list of integers", seeds)
    _require(len(set(seeds)) == len(seeds), "train.seeds", "must not repeat a seed", seeds)
    _require(t.log_points >= 2, "train.log_points", "must be >= 2", t.log_points)
    _require(t.checkpoints >= 1, "train.checkpoints", "must be >= 1", t.checkpoints)
    _require(
        t.batch_size is None or t.batch_size >= 1,
        "train.batch_size",
        "must be >= 1 or null (full batch)",
        t.batch_size,
    )
    _require(
        t.checkpoint_every is None or t.checkpoint_every >= 1,
        "train.checkpoint_every",
        "must be >= 1 or null (only log-spaced checkpoints)",
        t.checkpoint_every,
    )
    _require(
        t.stop_after_grok is None or t.stop_after_grok >= 0,
        "train.stop_after_grok",
        "must be >= 0 or null (never stop early)",
        t.stop_after_grok,
    )
    _require(
        t.threads is None or t.threads >= 1, "train.threads", "must be >= 1 or null", t.threads
    )
    s = c.split
    _require(
        _finite(s.train_fraction) and 0 < s.train_fraction < 1,
        "split.train_fraction",
        "must be in (0, 1)",
        s.train_fraction,
    )
    _require(_finite(s.c) and s.c > 0, "split.c", "must be a number > 0", s.c)
    _require(_finite(s.offset) and s.offset > 0, "split.offset", "must be a number > 0", s.offset)
    # the task and the split sizes (parses group and expression)
    from groupcomp.tasks.arithmetic import make_task, split_counts

    try:
        task = make_task(
            c.group, op=c.task.op, expression=c.task.expression, num_operands=int(c.task.k)
        )
    except ConfigError as exc:
        raise ConfigError(_user_key(str(exc))) from None
    if m.embedding == "onehot" and m.embed_dim is not None and m.embed_dim != task.M:
        raise ConfigError(
            f"model.embed_dim: a one-hot embedding has dimension M = {task.M}, got {m.embed_dim} "
            f"(use model.embedding=learned, or leave model.embed_dim null)"
        )
    try:
        _split_counts(task, s, split_counts)
    except ConfigError as exc:
        raise ConfigError(_user_key(str(exc))) from None


def _split_counts(task, s, split_counts) -> None:
    split_counts(
        task,
        s.mode,
        train_fraction=s.train_fraction,
        c=s.c,
        offset=s.offset,
        correction=s.nonabelian_correction,
    )


#: keys and values renamed in 0.2 (old → new); the old names keep working with a warning
ARITH_RENAMED: dict[str, str] = {"task.num_operands": "task.k"}

register_schema(
    ArithConfig,
    ARITH_SHORTHANDS,
    validate_arith,
    command="arith",
    renamed=ARITH_RENAMED,
    value_aliases=VALUE_ALIASES,
)
