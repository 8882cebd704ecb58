"""Presets, ``key=value`` overrides and validation, on top of the typed schema.

``load_config("d3", ["task.k=3", "model=rnn"])`` → a validated :class:`RunConfig` (as an
OmegaConf ``DictConfig`` backed by the dataclasses, so types are enforced on assignment).
Every error is a :class:`~groupcomp.errors.ConfigError` that names the key and the allowed
values, raised before any training work starts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import fields, is_dataclass
from importlib import resources
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from groupcomp.config.schema import CHOICES, SHORTHANDS, RunConfig
from groupcomp.errors import ConfigError, GroupcompError

__all__ = [
    "PRESETS",
    "list_presets",
    "load_config",
    "preset_path",
    "register_schema",
    "to_yaml",
    "validate",
]


def list_presets() -> list[str]:
    """Names of the YAML presets shipped in ``groupcomp/config/presets``."""
    folder = resources.files("groupcomp.config") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


PRESETS = list_presets()


def preset_path(name: str) -> Any:
    """Path of a shipped preset (a ``Traversable``)."""
    if name not in PRESETS:
        raise ConfigError(f"preset: unknown preset {name!r}; allowed: {', '.join(PRESETS)}")
    return resources.files("groupcomp.config") / "presets" / f"{name}.yaml"


def _all_keys(cls: type, prefix: str = "") -> list[str]:
    out = []
    for f in fields(cls):
        key = f"{prefix}{f.name}"
        default = f.default_factory() if callable(f.default_factory) else None  # type: ignore[misc]
        if is_dataclass(default):
            out.extend(_all_keys(type(default), key + "."))
        else:
            out.append(key)
    return out


ALL_KEYS = _all_keys(RunConfig)

#: per-schema extras: ``{schema: (shorthands, validator)}``; other config families (e.g. the
#: group-arithmetic runs) register here with :func:`register_schema`
_SCHEMAS: dict[type, tuple[dict[str, str], Any]] = {}


def register_schema(schema: type, shorthands: dict[str, str], validator: Any) -> None:
    """Register a config dataclass family: its ``key=value`` shorthands and its validator
    (a function ``cfg -> None`` raising :class:`ConfigError`)."""
    _SCHEMAS[schema] = (dict(shorthands), validator)


def _suggest(key: str, schema: type = RunConfig) -> str:
    import difflib

    all_keys = _all_keys(schema)
    close = difflib.get_close_matches(key, all_keys, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    section = key.split(".")[0]
    same = [k for k in all_keys if k.startswith(section + ".")]
    listing = (
        same
        if same
        else [k for k in all_keys if "." not in k]
        + sorted({k.split(".")[0] for k in all_keys if "." in k})
    )
    return f"{hint} Allowed keys{' in ' + section if same else ''}: {', '.join(listing)}"


def _parse_override(item: str, shorthands: dict[str, str] = SHORTHANDS) -> tuple[str, str]:
    if "=" not in item:
        raise ConfigError(
            f"override {item!r}: expected key=value (e.g. task.k=3, model=rnn, "
            f"template.powers=[0,30,3000])"
        )
    key, value = item.split("=", 1)
    key = key.strip().lstrip("+")
    if not key:
        raise ConfigError(f"override {item!r}: empty key")
    return shorthands.get(key, key), value.strip()


def load_config(
    preset: str | None = None,
    overrides: Sequence[str] = (),
    *,
    schema: type = RunConfig,
    validate_values: bool = True,
) -> DictConfig:
    """Schema defaults ← preset YAML ← ``key=value`` overrides, then :func:`validate`.

    Args:
        preset: name of a shipped preset (``groupcomp train --list`` shows them), a path to a
            YAML file, or ``None`` for the schema defaults.
        overrides: dotted ``key=value`` strings; values use YAML syntax (``[0,30,3000]``).
    """
    shorthands, validator = _SCHEMAS.get(schema, (SHORTHANDS, validate))
    base = OmegaConf.structured(schema)
    OmegaConf.set_struct(base, True)
    layers = []
    if preset is not None:
        if preset in PRESETS:
            text = preset_path(preset).read_text()
        else:
            from pathlib import Path

            p = Path(preset)
            if not p.is_file():
                raise ConfigError(
                    f"preset: unknown preset {preset!r} (not a shipped preset nor a YAML file); "
                    f"allowed: {', '.join(PRESETS)}"
                )
            text = p.read_text()
        try:
            layer = OmegaConf.create(text)
        except Exception as exc:  # yaml errors
            raise ConfigError(f"preset {preset!r}: invalid YAML: {exc}") from None
        layers.append(("preset " + str(preset), layer))
    for item in overrides:
        key, value = _parse_override(item, shorthands)
        try:
            layer = OmegaConf.from_dotlist([f"{key}={value}"])
        except Exception as exc:
            raise ConfigError(f"{key}: could not parse value {value!r}: {exc}") from None
        layers.append((key, layer))
    cfg = base
    for where, layer in layers:
        try:
            cfg = OmegaConf.merge(cfg, layer)
        except (ConfigKeyError, ConfigAttributeError) as exc:
            key = getattr(exc, "full_key", None) or where
            raise ConfigError(f"{key}: unknown config key.{_suggest(str(key), schema)}") from None
        except OmegaConfBaseException as exc:
            key = getattr(exc, "full_key", None) or where
            raise ConfigError(f"{key}: invalid value ({_first_line(exc)})") from None
    if validate_values:
        validator(cfg)
    return cfg


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _require(cond: bool, key: str, what: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"{key}: {what}, got {value!r}")


def check_device(key: str, device: str) -> None:
    """Raise :class:`ConfigError` when ``device`` is not usable on this machine."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{key}: 'cuda' is not available on this machine (use cpu)")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{key}: 'mps' is not available on this machine (use cpu)")


def validate(cfg: DictConfig | RunConfig) -> None:
    """Check enumerated values and ranges; raise :class:`ConfigError` naming key and allowed
    values. Also parses the group spec and checks the template powers' length against it."""
    c = cfg
    for key, allowed in CHOICES.items():
        sec, name = key.split(".")
        value = getattr(getattr(c, sec), name)
        if value not in allowed:
            raise ConfigError(
                f"{key}: {value!r} is not allowed; allowed values: {', '.join(allowed)}"
            )
    check_device("train.device", c.train.device)
    _require(c.task.k >= 2, "task.k", "must be an integer >= 2", c.task.k)
    _require(c.model.hidden >= 1, "model.hidden", "must be an integer >= 1", c.model.hidden)
    _require(
        math.isfinite(c.model.init_scale) and c.model.init_scale > 0,
        "model.init_scale",
        "must be a number > 0",
        c.model.init_scale,
    )
    _require(math.isfinite(c.optim.lr) and c.optim.lr > 0, "optim.lr", "must be > 0", c.optim.lr)
    _require(0 <= c.optim.momentum < 1, "optim.momentum", "must be in [0, 1)", c.optim.momentum)
    _require(c.optim.weight_decay >= 0, "optim.weight_decay", "must be >= 0", c.optim.weight_decay)
    _require(
        c.optim.grad_clip is None or c.optim.grad_clip > 0,
        "optim.grad_clip",
        "must be > 0 or null (off)",
        c.optim.grad_clip,
    )
    _require(len(c.optim.betas) == 2, "optim.betas", "must be a list of two numbers", c.optim.betas)
    _require(c.train.steps >= 1, "train.steps", "must be an integer >= 1", c.train.steps)
    seeds = list(c.train.seeds)
    _require(len(seeds) >= 1, "train.seeds", "must be a non-empty list of integers", seeds)
    _require(len(set(seeds)) == len(seeds), "train.seeds", "must not repeat a seed", seeds)
    _require(c.train.log_points >= 2, "train.log_points", "must be >= 2", c.train.log_points)
    _require(c.train.checkpoints >= 1, "train.checkpoints", "must be >= 1", c.train.checkpoints)
    _require(
        c.train.threads is None or c.train.threads >= 1,
        "train.threads",
        "must be >= 1 or null",
        c.train.threads,
    )
    _require(
        0 <= c.task.val_fraction < 1, "task.val_fraction", "must be in [0, 1)", c.task.val_fraction
    )
    _require(
        c.task.batch_size is None or c.task.batch_size >= 1,
        "task.batch_size",
        "must be >= 1 or null (full batch)",
        c.task.batch_size,
    )
    if c.task.data == "online":
        _require(
            c.task.batch_size is not None,
            "task.batch_size",
            "is required with task.data=online (e.g. task.batch_size=1024)",
            c.task.batch_size,
        )
        _require(
            c.task.val_fraction == 0,
            "task.val_fraction",
            "must be 0 with task.data=online (every sample is fresh)",
            c.task.val_fraction,
        )
    if c.model.name != "rnn":
        _require(
            not c.model.output_every_step,
            "model.output_every_step",
            "is only available for model.name=rnn",
            c.model.output_every_step,
        )
    # group spec and template powers
    from groupcomp.groups import parse

    try:
        G = parse(c.group)
    except GroupcompError as exc:
        raise ConfigError(f"group: {exc}") from None
    if c.template.kind in ("powers", "powers_random"):
        irreps = G.irreps()
        listing = ", ".join(f"{r.label} (dim {r.dim})" for r in irreps)
        if c.template.powers is None:
            raise ConfigError(
                f"template.powers: required for template.kind={c.template.kind}; give one power "
                f"per irrep of {G.name} in this order: {listing}"
            )
        if len(c.template.powers) != len(irreps):
            raise ConfigError(
                f"template.powers: {G.name} has {len(irreps)} irreps ({listing}), "
                f"got {len(c.template.powers)} powers"
            )


def to_yaml(cfg: DictConfig) -> str:
    """Resolved config as YAML text."""
    return OmegaConf.to_yaml(cfg, resolve=True)


def to_container(cfg: DictConfig) -> dict:
    """Resolved config as a plain dict."""
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
