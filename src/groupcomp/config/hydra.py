"""Hydra integration: the same typed schema and presets, registered in Hydra's ConfigStore.

Sweeps (``-m``, ``key=a,b,c``) and Hydra's launchers (local, joblib, submitit/Slurm) reuse the
dataclasses of :mod:`groupcomp.config.schema` and the shipped presets, so there is one config
system. :func:`compose` gives the Hydra-composed config of a preset; it equals
:func:`groupcomp.config.load_config` for plain dotted overrides (the ``model=rnn`` shorthands
are a groupcomp CLI convenience, not Hydra syntax: use ``model.name=rnn`` with Hydra).
"""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

from groupcomp.config.loader import PRESETS, preset_path, validate
from groupcomp.config.schema import RunConfig
from groupcomp.errors import ConfigError

__all__ = ["compose", "register"]

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
