"""Hydra integration: the same typed schema and presets, registered in Hydra's ConfigStore.

Sweeps (``-m``, ``key=a,b,c``) and Hydra's launchers (local, joblib, submitit/Slurm) reuse the
dataclasses of :mod:`groupcomp.config.schema` and the shipped presets, so there is one config
system. :func:`compose` gives the Hydra-composed config of a preset; it equals
:func:`groupcomp.config.load_config` for plain dotted overrides (the ``model=rnn`` shorthands
are a groupcomp CLI convenience, not Hydra syntax: use ``model.name=rnn`` with Hydra).

:func:`sweep_spec` prepares a multirun (``groupcomp train -m``): it splits the command line into
Hydra's own overrides (``hydra/launcher=joblib``, ``hydra.launcher.n_jobs=4``) and config
overrides (shorthands such as ``model=rnn,tree`` rewritten to their dotted keys, unknown keys
refused with the usual message), finds the swept keys with Hydra's override parser, and stores
the preset as the sweep's primary config. The sweep itself runs in :mod:`groupcomp.runs.sweep`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from groupcomp.config.loader import (
    _SCHEMAS,
    PRESETS,
    SchemaInfo,
    _suggest,
    load_config,
    preset_path,
    validate,
)
from groupcomp.config.schema import RunConfig
from groupcomp.errors import ConfigError

__all__ = ["SWEEP_CONFIG", "SweepSpec", "compose", "register", "sweep_spec"]

_registered = False


def register() -> None:
    """Store ``run_schema`` and every sequence-task preset (as a primary config named after the
    preset) in Hydra's ConfigStore. Idempotent."""
    global _registered
    if _registered:
        return
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=RunConfig)
    for name in PRESETS:
        node = OmegaConf.merge(
            OmegaConf.structured(RunConfig), OmegaConf.create(preset_path(name).read_text())
        )
        cs.store(name=name, node=node)
    _registered = True


def compose(preset: str, overrides: Sequence[str] = ()) -> DictConfig:
    """Compose ``preset`` with Hydra-syntax ``overrides`` and validate it."""
    from hydra import compose as hydra_compose
    from hydra import initialize
    from hydra.errors import HydraException

    register()
    try:
        with initialize(version_base=None, config_path=None):
            cfg = hydra_compose(config_name=preset, overrides=list(overrides))
    except HydraException as exc:  # e.g. a value outside a typed choice
        cause = exc.__cause__ or exc
        key = str(getattr(cause, "full_key", "") or "override")
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise ConfigError(f"{key}: {first}") from None
    validate(cfg)
    return cfg


#: name of a multirun's primary config in Hydra's ConfigStore (:func:`sweep_spec`)
SWEEP_CONFIG = "groupcomp_sweep"


@dataclass(frozen=True)
class SweepSpec:
    """A multirun command line, split for Hydra (:func:`sweep_spec`).

    Attributes:
        config_name: the primary config stored in Hydra's ConfigStore (the preset's config).
        hydra_overrides: Hydra's own overrides (``hydra/launcher=joblib``, ``hydra.*``).
        overrides: config overrides in Hydra syntax, keys in their dotted form.
        swept: the dotted keys that take more than one value (sweep order).
    """

    config_name: str
    hydra_overrides: list[str]
    overrides: list[str]
    swept: list[str]


def _flat_keys(node: object, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{prefix}{k}"
            out.add(key)
            out |= _flat_keys(v, key + ".")
    return out


def _hydra_error(exc: Exception, what: str) -> ConfigError:
    msg = str(exc).strip().splitlines()
    return ConfigError(f"{what}: {msg[0] if msg else type(exc).__name__}")


def sweep_spec(
    preset: str | None, overrides: Sequence[str], schema: type | None = None
) -> SweepSpec:
    """Prepare a multirun of ``preset`` (a preset of the schema's command, a YAML file or
    ``None`` for the schema defaults) over ``overrides`` in Hydra's sweeper syntax
    (``model.hidden=60,120``, ``task.k=range(2,5)``, ``train.seeds=[0],[1]``,
    ``optim.lr=choice(1e-3,1e-2)``), and store the preset's config (plain, untyped: values are
    checked per job by :func:`~groupcomp.config.load_config`, so one bad job fails alone) as
    :data:`SWEEP_CONFIG` in Hydra's ConfigStore.

    Raises:
        ConfigError: an unknown key (with the usual suggestions), a deletion ``~key``, or an
            override that Hydra's grammar does not parse.
    """
    from hydra.core.config_store import ConfigStore
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    base = load_config(preset, [], schema=schema, validate_values=False)
    schema = schema or _schema_of(base)
    info = _SCHEMAS.get(schema) or SchemaInfo({}, validate)
    container = OmegaConf.to_container(base, resolve=True)
    known = _flat_keys(container)
    sections = {k for k in known if any(j.startswith(k + ".") for j in known)}
    hydra_ov: list[str] = []
    config_ov: list[str] = []
    for item in overrides:
        head, eq, value = item.partition("=")
        stripped = head.lstrip("+~")
        if stripped == "hydra" or stripped.startswith(("hydra.", "hydra/")):
            hydra_ov.append(item)
            continue
        if head.startswith("~"):
            raise ConfigError(f"{stripped}: deleting a key (~key) is not allowed in a sweep")
        if not eq:
            raise ConfigError(
                f"override {item!r}: expected key=value (e.g. model.hidden=60,120,180)"
            )
        key = info.shorthands.get(stripped, stripped)
        key = info.renamed.get(key, key)
        if key not in known:
            raise ConfigError(f"{key}: unknown config key.{_suggest(key, schema)}")
        if key in sections and not value.lstrip().startswith("{"):
            inside = ", ".join(sorted(k for k in known if k.startswith(key + ".")))
            raise ConfigError(f"{key}: is a section; set one of its keys: {inside}")
        config_ov.append(f"{key}={value}")
    try:
        parsed = OverridesParser.create().parse_overrides(config_ov)
        OverridesParser.create().parse_overrides(hydra_ov)
    except HydraException as exc:
        raise _hydra_error(exc, "override") from None
    swept = [o.key_or_group for o in parsed if o.is_sweep_override()]
    if any(o.type == OverrideType.DEL for o in parsed):  # pragma: no cover (refused above)
        raise ConfigError("override: deleting a key (~key) is not allowed in a sweep")
    ConfigStore.instance().store(name=SWEEP_CONFIG, node=container)
    return SweepSpec(SWEEP_CONFIG, hydra_ov, config_ov, swept)


def _schema_of(cfg: DictConfig) -> type:
    from groupcomp.config.loader import schema_for_kind

    return schema_for_kind(str(cfg.kind)) if "kind" in cfg else RunConfig
