"""Configuration: typed schema (dataclasses / OmegaConf), shipped presets, overrides, checks."""

from __future__ import annotations

from groupcomp.config.arith import ArithConfig as ArithConfig  # registers its schema
from groupcomp.config.loader import (
    ALL_KEYS,
    COMMANDS,
    PRESETS,
    PRESETS_BY_COMMAND,
    list_presets,
    load_config,
    preset_path,
    read_config_file,
    register_schema,
    schema_for_kind,
    to_container,
    to_yaml,
    validate,
)
from groupcomp.config.schema import (
    CHOICES,
    SHORTHANDS,
    ExperimentConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TaskConfig,
    TemplateConfig,
    TheoryConfig,
    TrainConfig,
)

__all__ = [
    "ALL_KEYS",
    "COMMANDS",
    "PRESETS_BY_COMMAND",
    "ArithConfig",
    "ExperimentConfig",
    "read_config_file",
    "schema_for_kind",
    "CHOICES",
    "PRESETS",
    "SHORTHANDS",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "TaskConfig",
    "TemplateConfig",
    "TheoryConfig",
    "TrainConfig",
    "list_presets",
    "load_config",
    "preset_path",
    "register_schema",
    "to_container",
    "to_yaml",
    "validate",
]
