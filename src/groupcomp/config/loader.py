"""Presets, ``key=value`` overrides and validation, on top of the typed schema.

``load_config("d3", ["task.k=3", "model=rnn"])`` → a validated :class:`RunConfig` (as an
OmegaConf ``DictConfig`` backed by the dataclasses, so types are enforced on assignment).
Every error is a :class:`~groupcomp.errors.ConfigError` that names the key and the allowed
values, raised before any training work starts.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from importlib import resources
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from groupcomp.config.schema import CHOICES, RENAMED, SHORTHANDS, VALUE_ALIASES, RunConfig
from groupcomp.errors import ConfigError, GroupcompError

__all__ = [
    "COMMANDS",
    "PRESETS",
    "PRESETS_BY_COMMAND",
    "load_config",
    "read_config_file",
    "schema_for_kind",
    "list_presets",
    "load_config",
    "preset_path",
    "register_schema",
    "to_yaml",
    "validate",
]


#: the command whose presets live in each folder of ``groupcomp/config/presets``
COMMANDS: tuple[str, ...] = ("train", "arith")

#: largest YAML config file read (bytes)
MAX_CONFIG_BYTES = 1_000_000


def list_presets(command: str = "train") -> list[str]:
    """Names of the YAML presets shipped for ``command`` (``groupcomp <command> --list``)."""
    folder = resources.files("groupcomp.config") / "presets" / command
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


#: preset names per command
PRESETS_BY_COMMAND: dict[str, list[str]] = {c: list_presets(c) for c in COMMANDS}
#: the presets of ``groupcomp train``
PRESETS = PRESETS_BY_COMMAND["train"]


def preset_path(name: str, command: str = "train") -> Any:
    """Path of a shipped preset of ``command`` (a ``Traversable``)."""
    if name not in PRESETS_BY_COMMAND.get(command, []):
        for other, names in PRESETS_BY_COMMAND.items():
            if other != command and name in names:
                raise ConfigError(
                    f"preset: {name!r} is a preset of `groupcomp {other}`, not of "
                    f"`groupcomp {command}`; run `groupcomp {other} {name}`"
                )
        allowed = ", ".join(PRESETS_BY_COMMAND.get(command, []))
        raise ConfigError(f"preset: unknown preset {name!r}; allowed: {allowed}")
    return resources.files("groupcomp.config") / "presets" / command / f"{name}.yaml"


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


@dataclass(frozen=True)
class SchemaInfo:
    """How one config family is read: its ``key=value`` shorthands, its validator (``cfg ->
    None`` raising :class:`ConfigError`), the command whose presets it takes, renamed keys
    (old → new) and renamed values (``{key: {old: new}}``)."""

    shorthands: dict[str, str]
    validator: Any
    command: str = "train"
    renamed: dict[str, str] = field(default_factory=dict)
    value_aliases: dict[str, dict[str, str]] = field(default_factory=dict)


_SCHEMAS: dict[type, SchemaInfo] = {}


def register_schema(
    schema: type,
    shorthands: dict[str, str],
    validator: Any,
    *,
    command: str = "train",
    renamed: dict[str, str] | None = None,
    value_aliases: dict[str, dict[str, str]] | None = None,
) -> None:
    """Register a config dataclass family (see :class:`SchemaInfo`)."""
    _SCHEMAS[schema] = SchemaInfo(
        dict(shorthands), validator, command, dict(renamed or {}), dict(value_aliases or {})
    )


def schema_for_kind(kind: str) -> type:
    """The registered schema whose ``kind`` default is ``kind``."""
    for schema in _SCHEMAS:
        if getattr(schema(), "kind", None) == kind:
            return schema
    allowed = ", ".join(str(getattr(s(), "kind", "?")) for s in _SCHEMAS)
    raise ConfigError(f"kind: unknown run kind {kind!r}; allowed values: {allowed}")


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


def read_config_file(path: Any, what: str = "config file") -> str:
    """Text of a YAML config file: at most :data:`MAX_CONFIG_BYTES`, UTF-8, no YAML aliases
    (a "billion laughs" file is refused before it is expanded)."""
    from pathlib import Path

    p = Path(path)
    try:
        if not p.is_file():
            raise ConfigError(f"{what}: {str(path)!r} is not a file")
        size = p.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{what}: {str(path)!r} is {size} bytes; the limit is {MAX_CONFIG_BYTES} bytes"
            )
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {str(path)!r} ({exc.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what}: {str(path)!r} is not UTF-8 text") from None


def _yaml_layer(text: str, where: str) -> DictConfig:
    import yaml

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise ConfigError(f"{where}: YAML aliases (*name) are not allowed in configs")
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: invalid YAML: {_first_line(exc)}") from None
    try:
        layer = OmegaConf.create(text)
    except Exception as exc:  # yaml / omegaconf errors
        raise ConfigError(f"{where}: invalid YAML: {_first_line(exc)}") from None
    if not isinstance(layer, DictConfig):
        raise ConfigError(f"{where}: expected a mapping of keys to values at the top level")
    return layer


def _no_interpolation(layer: Any, where: str) -> None:
    """Refuse ``${...}`` (OmegaConf interpolations and resolvers such as ``oc.env``): a config
    must not pull values from the environment into a run folder."""

    def walk(x: Any, key: str) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(x, list):
            for v in x:
                walk(v, key)
        elif isinstance(x, str) and "${" in x:
            raise ConfigError(
                f"{key or where}: interpolations ('${{...}}', e.g. oc.env) are not allowed in "
                f"groupcomp configs, got {x!r}"
            )

    walk(OmegaConf.to_container(layer, resolve=False), "")


def _enum_values(schema: type, key: str) -> tuple[str, ...] | None:
    """The allowed values of ``key`` when the schema types it as an enum (else ``None``)."""
    import typing
    from enum import Enum

    cls: Any = schema
    for part in key.split("."):
        if not is_dataclass(cls):
            return None
        hints = typing.get_type_hints(cls)
        if part not in hints:
            return None
        cls = hints[part]
    return tuple(m.value for m in cls) if isinstance(cls, type) and issubclass(cls, Enum) else None


def _value_in(layer: DictConfig, key: str) -> Any:
    node: Any = OmegaConf.to_container(layer, resolve=False)
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _rename_keys(layer: DictConfig, info: SchemaInfo, where: str) -> DictConfig:
    """Old key names → new ones (with a warning), old values → new ones (``sqr`` → ``square``)."""
    flat = OmegaConf.to_container(layer, resolve=False)
    changed = False
    for key, aliases in info.value_aliases.items():
        sec, _, name = key.partition(".")
        node = flat.get(sec)
        if isinstance(node, dict) and isinstance(node.get(name), str) and node[name] in aliases:
            node[name] = aliases[node[name]]
            changed = True
    for old, new in info.renamed.items():
        sec, _, name = old.partition(".")
        if isinstance(flat.get(sec), dict) and name in flat[sec]:
            value = flat[sec].pop(name)
            nsec, _, nname = new.partition(".")
            flat.setdefault(nsec, {})[nname] = value
            changed = True
            warnings.warn(
                f"{where}: key {old!r} was renamed {new!r}; please use the new name",
                FutureWarning,
                stacklevel=4,
            )
    return OmegaConf.create(flat) if changed else layer


def _peek_kind(text: str) -> str | None:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else None


def load_config(
    preset: str | None = None,
    overrides: Sequence[str] = (),
    *,
    schema: type | None = None,
    validate_values: bool = True,
) -> DictConfig:
    """Schema defaults ← preset YAML ← ``key=value`` overrides, then the schema's validator.

    Args:
        preset: name of a shipped preset of the schema's command (``groupcomp train --list``,
            ``groupcomp arith --list``), a path to a YAML file (e.g. a run folder's
            ``config.yaml``), or ``None`` for the schema defaults.
        overrides: dotted ``key=value`` strings; values use YAML syntax (``[0,30,3000]``).
        schema: the config family (:class:`RunConfig`, ``ArithConfig``); ``None`` = the
            ``kind`` written in a YAML file, else :class:`RunConfig`.
    """
    text = None
    if preset is not None:
        from pathlib import Path

        if Path(preset).suffix in (".yaml", ".yml"):
            text = read_config_file(preset, f"preset {preset!r}")
            kind = _peek_kind(text)
            if kind and schema is not None and getattr(schema(), "kind", kind) != kind:
                command = _SCHEMAS[schema_for_kind(kind)].command
                raise ConfigError(
                    f"preset: {preset!r} is the config of a {kind!r} run; run "
                    f"`groupcomp {command} {preset}`"
                )
            if schema is None and kind:
                schema = schema_for_kind(kind)
    schema = schema or RunConfig
    info = _SCHEMAS.get(schema) or SchemaInfo(SHORTHANDS, validate, "train", RENAMED)
    base = OmegaConf.structured(schema)
    OmegaConf.set_struct(base, True)
    layers = []
    if preset is not None:
        if text is None:
            if "/" not in preset:
                text = preset_path(preset, info.command).read_text()
            else:
                text = read_config_file(preset, f"preset {preset!r}")
        where = f"preset {preset!r}"
        layer = _yaml_layer(text, where)
        _no_interpolation(layer, where)
        layers.append((where, _rename_keys(layer, info, where)))
    for item in overrides:
        key, value = _parse_override(item, info.shorthands)
        if key in info.renamed:
            warnings.warn(
                f"{key}: this key was renamed {info.renamed[key]!r}; please use the new name",
                FutureWarning,
                stacklevel=2,
            )
            key = info.renamed[key]
        try:
            layer = OmegaConf.from_dotlist([f"{key}={value}"])
        except Exception as exc:
            raise ConfigError(
                f"{key}: could not parse value {value!r}: {_first_line(exc)}"
            ) from None
        _no_interpolation(layer, key)
        layers.append((key, _rename_keys(layer, info, key)))
    cfg = base
    for where, layer in layers:
        try:
            cfg = OmegaConf.merge(cfg, layer)
        except (ConfigKeyError, ConfigAttributeError) as exc:
            key = getattr(exc, "full_key", None) or where
            raise ConfigError(f"{key}: unknown config key.{_suggest(str(key), schema)}") from None
        except OmegaConfBaseException as exc:
            key = str(getattr(exc, "full_key", None) or where)
            allowed = _enum_values(schema, key)
            if allowed is not None:
                value = _value_in(layer, key)
                raise ConfigError(
                    f"{key}: {value!r} is not allowed; allowed values: {', '.join(allowed)}"
                ) from None
            raise ConfigError(f"{key}: invalid value ({_first_line(exc)})") from None
    if validate_values:
        info.validator(cfg)
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
        value = c
        for part in key.split("."):
            value = getattr(value, part)
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
        c.train.batch_size is None or c.train.batch_size >= 1,
        "train.batch_size",
        "must be >= 1 or null (full batch)",
        c.train.batch_size,
    )
    _require(
        c.train.checkpoint_every is None or c.train.checkpoint_every >= 1,
        "train.checkpoint_every",
        "must be >= 1 or null (only log-spaced checkpoints)",
        c.train.checkpoint_every,
    )
    if c.task.data == "online":
        _require(
            c.train.batch_size is not None,
            "train.batch_size",
            "is required with task.data=online (e.g. train.batch_size=1024)",
            c.train.batch_size,
        )
        _require(
            c.task.val_fraction == 0,
            "task.val_fraction",
            "must be 0 with task.data=online (every sample is fresh)",
            c.task.val_fraction,
        )
    if c.task.data == "sampled":
        _require(
            c.task.num_samples is not None and c.task.num_samples >= 1,
            "task.num_samples",
            "must be an integer >= 1 with task.data=sampled (e.g. task.num_samples=1000)",
            c.task.num_samples,
        )
    else:
        _require(
            c.task.num_samples is None,
            "task.num_samples",
            "is only used with task.data=sampled",
            c.task.num_samples,
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


register_schema(
    RunConfig,
    SHORTHANDS,
    validate,
    command="train",
    renamed=RENAMED,
    value_aliases=VALUE_ALIASES,
)
