"""Config schema of the group-arithmetic runs (``groupcomp arith ...``): :class:`ArithConfig`.

``load_config("arith_z23", ["loss=ce", "split=critical"], schema=ArithConfig)`` gives a validated
config; ``groupcomp.training.train_arith(cfg)`` runs it. Shorthands (:data:`ARITH_SHORTHANDS`):
``split=critical`` sets ``split.mode``, ``optim=adamw`` sets ``optim.name``, ``epochs=…``,
``seeds=[…]``, ``expr=…``, ``op=…``, ``k=…`` (operands, ``task.k``), ``hidden=…``, ``activation=…``,
``embedding=…``, ``ridge=…``, ``lr=…``, ``wd=…``, ``train_fraction=…``, ``offset=…``.
``loss`` and ``group`` are top-level keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig

from groupcomp.config.loader import (
    MAX_CHECKPOINT_COUNT,
    MAX_LOG_POINTS,
    MAX_SEED,
    MAX_SIZE,
    MAX_STEPS,
    MAX_THREADS,
    _check_betas,
    _check_name,
    _short,
    check_device,
    check_float,
    check_int,
    check_seeds,
    register_schema,
)
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

#: most operands of an arithmetic task (M^k tuples are enumerated: at most MAX_TUPLES)
MAX_ARITH_K = 32
#: most residual layers
MAX_LAYERS = 1000
#: longest expression (the parser is recursive; nesting is limited separately)
MAX_EXPRESSION = 1000

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
    decoupled. Default 3e-4, measured with the other defaults (hidden 512, MSE, Adam lr 0.01;
    seeds 0-1): Z23, Z71 and Z97 at the default 90 % split reach 100 % test accuracy by epochs
    40-70, and Z23 at P4's critical split groks (epochs 2235, 2496). With 1e-3 (the default until
    0.2) Z97 collapses to the zero output; 5e-4 collapses Z97 too; 1e-4 (P3's, preset
    ``arith_z23``) and decoupled AdamW 1e-3-1e-1 memorise Z23 at the critical split.
    """

    name: ArithOptimName = ArithOptimName.adam
    weight_decay: float = 3e-4
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
    #: terms of P3's Theorem-1 loss decomposition left out of the objective (``[]`` = none;
    #: ``[R_star]``: minimise ``mse(all d² pairs) − (1/d) Σ_k E_*(k)``, P3's Fig. 2 variant; the
    #: split then only decides what train/test metrics report; needs ``loss=mse``, full batch,
    #: a product of cyclic groups, ``task.op=compose``, ``task.k=2`` and a one-hot quadratic
    #: one-layer model without ridge)
    loss_remove: list[str] = field(default_factory=list)
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
        raise ConfigError(f"{key}: {what}, got {_short(value)}")


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
                f"{key}: {_short(value)} is not allowed; allowed values: {', '.join(allowed)}"
            )
    check_device("train.device", c.train.device)
    _check_name(c.preset, "preset")
    # k first: the task enumerates M^k tuples (at most MAX_TUPLES, so k <= 22 for M >= 2)
    check_int(c.task.k, "task.k", 2, MAX_ARITH_K)
    if c.task.expression is not None:
        _require(
            isinstance(c.task.expression, str) and len(c.task.expression) <= MAX_EXPRESSION,
            "task.expression",
            f"must be a polynomial of at most {MAX_EXPRESSION} characters",
            c.task.expression,
        )
    m = c.model
    check_int(m.hidden, "model.hidden", 1, MAX_SIZE)
    check_int(m.layers, "model.layers", 1, MAX_LAYERS)
    check_int(m.embed_dim, "model.embed_dim", 1, MAX_SIZE, null="= M")
    check_float(m.init_scale, "model.init_scale", "a number > 0", lambda v: v > 0)
    check_float(m.ridge_lambda, "model.ridge_lambda", "a number >= 0", lambda v: v >= 0)
    o = c.optim
    check_float(o.lr, "optim.lr", "a number > 0", lambda v: v > 0)
    check_float(o.weight_decay, "optim.weight_decay", "a number >= 0", lambda v: v >= 0)
    if o.name == "per_neuron_sgd":
        _require(
            o.weight_decay == 0,
            "optim.weight_decay",
            "must be 0 with optim.name=per_neuron_sgd",
            o.weight_decay,
        )
    _check_betas(o.betas)
    check_float(o.momentum, "optim.momentum", "in [0, 1)", lambda v: 0 <= v < 1, null="the default")
    check_float(o.grad_clip, "optim.grad_clip", "a number > 0", lambda v: v > 0, null="off")
    t = c.train
    check_int(t.epochs, "train.epochs", 1, MAX_STEPS)
    check_seeds(t.seeds, "train.seeds")
    check_int(t.log_points, "train.log_points", 2, MAX_LOG_POINTS)
    check_int(t.checkpoints, "train.checkpoints", 1, MAX_CHECKPOINT_COUNT)
    check_int(t.batch_size, "train.batch_size", 1, MAX_SIZE, null="full batch")
    check_int(
        t.checkpoint_every,
        "train.checkpoint_every",
        1,
        MAX_STEPS,
        null="only log-spaced checkpoints",
    )
    check_int(t.stop_after_grok, "train.stop_after_grok", 0, MAX_STEPS, null="never stop early")
    check_int(t.threads, "train.threads", 1, MAX_THREADS, null="1")
    s = c.split
    check_float(s.train_fraction, "split.train_fraction", "in (0, 1)", lambda v: 0 < v < 1)
    check_float(s.c, "split.c", "a number > 0", lambda v: v > 0)
    check_float(s.offset, "split.offset", "a number > 0", lambda v: v > 0)
    check_int(s.seed, "split.seed", 0, MAX_SEED, null="each member's training seed")
    if not isinstance(c.group, str):
        raise ConfigError(f"group: must be a group spec string such as Z23, got {_short(c.group)}")
    # the task and the split sizes (parses group and expression)
    from groupcomp.tasks.arithmetic import make_task, split_counts

    try:
        task = make_task(
            c.group, op=c.task.op, expression=c.task.expression, num_operands=int(c.task.k)
        )
    except ConfigError as exc:
        raise ConfigError(_user_key(str(exc))) from None
    _check_loss_remove(c, task)
    if m.embedding == "onehot" and m.embed_dim is not None and m.embed_dim != task.M:
        raise ConfigError(
            f"model.embed_dim: a one-hot embedding has dimension M = {task.M}, got {m.embed_dim} "
            f"(use model.embedding=learned, or leave model.embed_dim null)"
        )
    try:
        _split_counts(task, s, split_counts)
    except ConfigError as exc:
        raise ConfigError(_user_key(str(exc))) from None


#: allowed entries of ``loss_remove``
LOSS_REMOVE: tuple[str, ...] = ("R_star",)


def _check_loss_remove(c: Any, task: Any) -> None:
    rem = c.loss_remove
    if rem is None or isinstance(rem, str) or not all(isinstance(r, str) for r in rem):
        raise ConfigError(
            f"loss_remove: must be a list, e.g. [R_star]; got {_short(rem)} (allowed entries: "
            f"{', '.join(LOSS_REMOVE)})"
        )
    bad = [r for r in rem if r not in LOSS_REMOVE]
    if bad:
        raise ConfigError(
            f"loss_remove: {_short(bad[0])} is not allowed; allowed entries: "
            f"{', '.join(LOSS_REMOVE)}"
        )
    if not rem:
        return
    m = c.model
    needs = {
        "loss": (c.loss == "mse", "mse"),
        "task.op": (c.task.op == "compose" and task.operand_group is not None, "compose"),
        "task.k": (int(c.task.k) == 2, "2"),
        "model.activation": (m.activation == "square", "square"),
        "model.embedding": (m.embedding == "onehot", "onehot"),
        "model.layers": (int(m.layers) == 1, "1"),
        "model.ridge": (not m.ridge, "false"),
        "train.batch_size": (c.train.batch_size is None, "null (full batch)"),
    }
    for key, (ok, want) in needs.items():
        if not ok:
            raise ConfigError(
                f"{key}: must be {want} with loss_remove (P3's Theorem-1 terms are defined for "
                f"the two-operand quadratic one-hot network); got {_short(_get(c, key))}"
            )
    from groupcomp.theory.cogs import cyclic_shape

    try:
        cyclic_shape(task.operand_group)
    except (ConfigError, ValueError) as exc:
        raise ConfigError(
            f"group: loss_remove needs a product of cyclic groups (Z7, Z2xZ4); {exc}"
        ) from None


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
