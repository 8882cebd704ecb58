"""Presets, ``key=value`` overrides and validation, on top of the typed schema.

``load_config("d3", ["task.k=3", "model=rnn"])`` → a validated :class:`RunConfig` (as an
OmegaConf ``DictConfig`` backed by the dataclasses, so types are enforced on assignment).
Every error is a :class:`~groupcomp.errors.ConfigError` that names the key and the allowed
values, raised before any training work starts.
"""

from __future__ import annotations

import copy
import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from importlib import resources
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from groupcomp.config.schema import CHOICES, RENAMED, SHORTHANDS, VALUE_ALIASES, RunConfig
from groupcomp.errors import ConfigError, GroupcompError, ResourceLimitError

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


#: deepest nesting of YAML mappings / lists in a config (the schema needs 2)
MAX_YAML_DEPTH = 32


def _scan_yaml(text: str, where: str) -> None:
    """Refuse YAML aliases (a "billion laughs" file is refused before it is expanded) and
    nesting deeper than :data:`MAX_YAML_DEPTH`, scanning events only (nothing is built)."""
    import yaml

    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise ConfigError(f"{where}: YAML aliases (*name) are not allowed in configs")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise ConfigError(
                        f"{where}: YAML nested deeper than {MAX_YAML_DEPTH} levels; a config is "
                        f"a mapping of sections to values"
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: invalid YAML: {_first_line(exc)}") from None


def _yaml_layer(text: str, where: str) -> DictConfig:
    """The YAML ``text`` as a config layer (a fresh copy; parsed layers are cached by text, so
    a preset read again costs a copy, not a parse)."""
    return copy.deepcopy(_parsed_layer(text, where))


@functools.lru_cache(maxsize=64)
def _parsed_layer(text: str, where: str) -> DictConfig:
    _scan_yaml(text, where)
    try:
        layer = OmegaConf.create(text)
    except Exception as exc:  # yaml / omegaconf errors
        raise ConfigError(f"{where}: invalid YAML: {_first_line(exc)[:300]}") from None
    if not isinstance(layer, DictConfig):
        raise ConfigError(f"{where}: expected a mapping of keys to values at the top level")
    return layer


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` shortened to about ``limit`` characters (messages stay one short line
    even for a 5000-digit number or a megabyte string)."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to convert to text
        return f"<an integer of more than {limit} digits>"
    if len(text) <= limit:
        return text
    return text[: limit - 3] + "..." + f" ({len(text)} characters)"


def _short_path(path: Any, limit: int = 100) -> str:
    """A file path for a message: whole up to ``limit`` characters, else ``'...'`` and its end
    (the file name is what the user recognises)."""
    text = str(path)
    if len(text) <= limit:
        return repr(text)
    return repr("..." + text[-(limit - 3) :])


@functools.lru_cache(maxsize=256)
def _type_hints(cls: type) -> dict[str, Any]:
    import typing

    return typing.get_type_hints(cls)


def _hint(schema: type, key: str) -> Any:
    """The type hint of the dotted ``key`` in ``schema`` (``None`` if unknown)."""
    cls: Any = schema
    for part in key.split("."):
        if not (isinstance(cls, type) and is_dataclass(cls)):
            return None
        hints = _type_hints(cls)
        if part not in hints:
            return None
        cls = hints[part]
    return cls


def _scalar_kind(hint: Any) -> type | None:
    """``bool`` / ``int`` / ``float`` for a hint that is one of them (optionally ``| None``)."""
    import types
    import typing

    if hint in (bool, int, float):
        return hint
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and args[0] in (bool, int, float):
            return args[0]
    return None


def _describe(hint: Any) -> str | None:
    """What a value of type ``hint`` looks like, for messages (``None``: no simple words)."""
    import types
    import typing

    words = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        if len(args) != 1:
            return None
        hint = args[0]
    if hint in words:
        out = words[hint]
    elif typing.get_origin(hint) is list and typing.get_args(hint)[0] in (int, float):
        out = f"a list of {'integers' if typing.get_args(hint)[0] is int else 'numbers'}"
    else:
        return None
    return out + (" or null" if optional else "")


def _check_raw(layer: Any, where: str, schema: type | None = None) -> None:
    """Check a config layer's raw values before they are merged: no ``${...}`` (OmegaConf
    interpolations and resolvers such as ``oc.env``: a config must not pull values from the
    environment into a run folder), no ``???`` (OmegaConf's missing-value marker, which a merge
    would silently ignore), ``true``/``false`` for boolean keys (OmegaConf would read ``2`` as
    true) and no booleans for numeric keys."""

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
                f"groupcomp configs, got {_short(x)}"
            )
        elif isinstance(x, str) and x.strip() == "???":
            raise ConfigError(
                f"{key or where}: '???' (OmegaConf's missing-value marker) is not a value; "
                f"give the value itself"
            )
        elif schema is not None and key:
            kind = _scalar_kind(_hint(schema, key))
            if kind is bool and not isinstance(x, bool) and x is not None:
                raise ConfigError(f"{key}: must be true or false, got {_short(x)}")
            if kind in (int, float) and isinstance(x, bool):
                what = "an integer" if kind is int else "a number"
                raise ConfigError(f"{key}: must be {what}, got {_short(x)}")

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


def _peek_kind(text: str, where: str) -> str | None:
    import yaml

    _scan_yaml(text, where)
    try:
        data = yaml.safe_load(text)
    except Exception:  # YAMLError, or ValueError for a 5000-digit integer: reported later
        return None
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else None


@functools.lru_cache(maxsize=16)
def _structured(schema: type) -> DictConfig:
    """The schema's defaults as a struct-mode OmegaConf config (cached; callers copy it)."""
    base = OmegaConf.structured(schema)
    OmegaConf.set_struct(base, True)
    return base


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
            text = read_config_file(preset, f"preset {_short_path(preset)}")
            kind = _peek_kind(text, f"preset {_short_path(preset)}")
            if kind and schema is not None and getattr(schema(), "kind", kind) != kind:
                command = _SCHEMAS[schema_for_kind(kind)].command
                raise ConfigError(
                    f"preset: {_short_path(preset)} is the config of a {kind!r} run; run "
                    f"`groupcomp {command} {preset}`"
                )
            if schema is None and kind:
                schema = schema_for_kind(kind)
    schema = schema or RunConfig
    info = _SCHEMAS.get(schema) or SchemaInfo(SHORTHANDS, validate, "train", RENAMED)
    base = copy.deepcopy(_structured(schema))  # ~5x faster than building it each time
    layers = []
    if preset is not None:
        if text is None:
            if "/" not in preset:
                text = preset_path(preset, info.command).read_text()
            else:
                text = read_config_file(preset, f"preset {_short_path(preset)}")
        where = f"preset {_short_path(preset)}"
        layer = _yaml_layer(text, where)
        _check_raw(layer, where, schema)
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
                f"{key}: could not parse value {_short(value)}: {_first_line(exc)[:200]}"
            ) from None
        _check_raw(layer, key, schema)
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
            value = _value_in(layer, key)
            if allowed is not None:
                raise ConfigError(
                    f"{key}: {_short(value)} is not allowed; allowed values: {', '.join(allowed)}"
                ) from None
            what = _describe(_hint(schema, key))
            if what is not None:
                raise ConfigError(f"{key}: must be {what}, got {_short(value)}") from None
            raise ConfigError(f"{key}: invalid value ({_first_line(exc)[:200]})") from None
    _coerce_auto_fields(cfg)
    if validate_values:
        info.validator(cfg)
    return cfg


#: keys that take a number or ``auto`` (typed ``Any`` in the schema): ``(key, type)``
AUTO_KEYS: tuple[tuple[str, type], ...] = (("optim.lr", float), ("train.steps", int))


def _coerce_auto_fields(cfg: DictConfig) -> None:
    """Numbers written as strings (YAML 1.1 reads ``1e-3`` as a string) become numbers in the
    ``auto``-or-number keys; anything else is left for :func:`validate` to name."""
    for key, typ in AUTO_KEYS:
        value = OmegaConf.select(cfg, key, default=None)
        if isinstance(value, float) and typ is int:
            num = value
        elif not isinstance(value, str) or value == "auto":
            continue
        else:
            try:
                num = float(value)
            except ValueError:
                continue
        if typ is int and math.isfinite(num) and num.is_integer() and abs(num) < 2**63:
            OmegaConf.update(cfg, key, int(num), force_add=False)
        elif typ is float:
            OmegaConf.update(cfg, key, num, force_add=False)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def is_auto(value: Any) -> bool:
    """``value`` is the string ``auto`` (``optim.lr=auto``, ``train.steps=auto``)."""
    return isinstance(value, str) and value == "auto"


def _positive_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _require(cond: bool, key: str, what: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"{key}: {what}, got {_short(value)}")


#: largest seed (``torch.Generator.manual_seed`` and numpy both accept ``0 .. 2**63 - 1``)
MAX_SEED = 2**63 - 1
#: longest sequence ``task.k`` (the theory's ``k!`` stays a float up to k = 170; sizes ``n^k``)
MAX_K = 100
#: most optimiser steps (the per-step records are also bounded by the memory estimate)
MAX_STEPS = 10**12
#: largest size of a width / batch / data set (the memory estimate is the real limit)
MAX_SIZE = 2**40
#: most probe (log) points and checkpoints of one run
MAX_LOG_POINTS = 100_000
MAX_CHECKPOINT_COUNT = 10_000
#: most worker threads
MAX_THREADS = 1024
#: longest preset / run name
MAX_NAME = 120
_NAME_CHARS = "letters, digits and ._+=,@-"


def name_problem(name: Any, max_len: int = MAX_NAME) -> str | None:
    """Why ``name`` cannot be a run-folder name (one path component: letters, digits and
    ``._+=,@-``, no leading ``.``, at most ``max_len`` characters), or ``None`` if it can."""
    import re

    if not isinstance(name, str) or not name:
        return "must not be empty"
    if len(name) > max_len:
        return f"at most {max_len} characters, got {len(name)}"
    if name.startswith(".") or not re.fullmatch(r"[A-Za-z0-9._+=,@-]+", name):
        return (
            f"{_short(name)} is not a single folder name (allowed: {_NAME_CHARS}; no '/', no "
            f"leading '.')"
        )
    return None


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def check_int(
    value: Any, key: str, lo: int, hi: int, *, null: str | None = None, auto: bool = False
) -> None:
    """Raise :class:`ConfigError` unless ``value`` is an integer in ``lo..hi`` (or ``None``
    when ``null`` describes what null means, or ``auto`` when allowed)."""
    if (null is not None and value is None) or (auto and is_auto(value)):
        return
    if not (_is_int(value) and lo <= value <= hi):
        extra = (f" or null ({null})" if null is not None else "") + (" or auto" if auto else "")
        raise ConfigError(f"{key}: must be an integer in {lo}..{hi}{extra}, got {_short(value)}")


def check_float(
    value: Any,
    key: str,
    what: str,
    ok: Any,
    *,
    null: str | None = None,
    auto: bool = False,
) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a finite number with ``ok(value)`` true
    (``what`` describes the allowed values), or ``None`` / ``auto`` where allowed."""
    if (null is not None and value is None) or (auto and is_auto(value)):
        return
    if not (_is_number(value) and math.isfinite(value) and ok(value)):
        extra = (f" or null ({null})" if null is not None else "") + (" or auto" if auto else "")
        raise ConfigError(f"{key}: must be {what}{extra}, got {_short(value)}")


def _check_name(value: Any, key: str) -> None:
    problem = name_problem(value, MAX_NAME - 16)  # room for the folder's "-<timestamp>"
    if problem is not None:
        raise ConfigError(f"{key}: {problem} (it names the run folder)")


def _check_betas(value: Any, key: str = "optim.betas") -> None:
    betas = list(value) if value is not None else []
    ok = len(betas) == 2 and all(_is_number(b) and math.isfinite(b) and 0 <= b < 1 for b in betas)
    _require(ok, key, "must be a list of two numbers in [0, 1)", betas)


def check_seeds(value: Any, key: str) -> None:
    """A non-empty list of distinct integer seeds in ``0 .. 2**63 - 1``."""
    seeds = list(value) if value is not None else []
    _require(len(seeds) >= 1, key, "must be a non-empty list of integers", seeds)
    for s_ in seeds:
        if not (_is_int(s_) and 0 <= s_ <= MAX_SEED):
            raise ConfigError(
                f"{key}: every seed must be an integer in 0..{MAX_SEED} (2**63 - 1), got "
                f"{_short(s_)}"
            )
    _require(len(set(seeds)) == len(seeds), key, "must not repeat a seed", seeds)


def check_device(key: str, device: str) -> None:
    """Raise :class:`ConfigError` when ``device`` is not usable on this machine."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{key}: 'cuda' is not available on this machine (use cpu)")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{key}: 'mps' is not available on this machine (use cpu)")


def parse_group(spec: Any, key: str = "group") -> Any:
    """``groupcomp.groups.parse(spec)`` with errors naming ``key`` (a resource limit stays a
    :class:`ResourceLimitError`)."""
    from groupcomp.groups import parse

    if not isinstance(spec, str):
        raise ConfigError(f"{key}: must be a group spec string such as D3, got {_short(spec)}")
    try:
        return parse(spec)
    except ResourceLimitError as exc:
        raise ResourceLimitError(f"{key}: {exc}") from None
    except GroupcompError as exc:
        raise ConfigError(f"{key}: {exc}") from None


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
                f"{key}: {_short(value)} is not allowed; allowed values: {', '.join(allowed)}"
            )
    check_device("train.device", c.train.device)
    _check_name(c.preset, "preset")
    check_int(c.task.k, "task.k", 2, MAX_K)
    check_int(c.model.hidden, "model.hidden", 1, MAX_SIZE)
    check_float(c.model.init_scale, "model.init_scale", "a number > 0", lambda v: v > 0)
    check_float(c.optim.lr, "optim.lr", "a number > 0", lambda v: v > 0, auto=True)
    check_float(c.optim.momentum, "optim.momentum", "in [0, 1)", lambda v: 0 <= v < 1)
    check_float(c.optim.weight_decay, "optim.weight_decay", "a number >= 0", lambda v: v >= 0)
    if c.optim.name in ("auto", "per_neuron_sgd", "hybrid"):  # the per-neuron family
        _require(
            c.optim.weight_decay == 0,
            "optim.weight_decay",
            f"must be 0 with optim.name={c.optim.name} (per-neuron SGD / hybrid have none)",
            c.optim.weight_decay,
        )
    check_float(c.optim.grad_clip, "optim.grad_clip", "a number > 0", lambda v: v > 0, null="off")
    check_float(c.optim.adam_lr, "optim.adam_lr", "a number > 0", lambda v: v > 0, null="1e-3")
    _check_betas(c.optim.betas)
    check_int(c.train.steps, "train.steps", 1, MAX_STEPS, auto=True)
    check_seeds(c.train.seeds, "train.seeds")
    check_int(c.train.log_points, "train.log_points", 2, MAX_LOG_POINTS)
    check_int(c.train.checkpoints, "train.checkpoints", 1, MAX_CHECKPOINT_COUNT)
    check_int(c.train.threads, "train.threads", 1, MAX_THREADS, null="automatic")
    check_float(c.task.val_fraction, "task.val_fraction", "in [0, 1)", lambda v: 0 <= v < 1)
    check_int(c.train.batch_size, "train.batch_size", 1, MAX_SIZE, null="full batch")
    check_int(
        c.train.checkpoint_every,
        "train.checkpoint_every",
        1,
        MAX_STEPS,
        null="only log-spaced checkpoints",
    )
    check_int(c.task.num_samples, "task.num_samples", 1, MAX_SIZE, null="not sampled")
    check_int(c.task.sample_seed, "task.sample_seed", 0, MAX_SEED)
    t = c.template
    check_float(t.scale, "template.scale", "a number != 0", lambda v: v != 0)
    check_float(t.sigma, "template.sigma", "a number > 0", lambda v: v > 0)
    check_float(t.std, "template.std", "a number > 0", lambda v: v > 0)
    check_int(t.digit, "template.digit", 0, 9)
    check_int(t.index, "template.index", 0, MAX_SIZE)
    check_int(t.seed, "template.seed", 0, MAX_SEED, null="the run's first seed")
    if t.powers is not None:
        powers = list(t.powers)
        for p in powers:
            check_float(p, "template.powers", "a list of numbers >= 0", lambda v: v >= 0)
        _require(
            any(p > 0 for p in powers),
            "template.powers",
            "must not be all zero (an all-zero template has nothing to learn)",
            powers,
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
    G = parse_group(c.group)
    check_int(t.bumps, "template.bumps", 0, G.order)
    if c.task.data != "online":
        N = G.order ** int(c.task.k) if c.task.data == "exhaustive" else int(c.task.num_samples)
        _require(
            N - round(float(c.task.val_fraction) * N) >= 1,
            "task.val_fraction",
            f"must leave at least one of the {N} sequences for training",
            c.task.val_fraction,
        )
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
