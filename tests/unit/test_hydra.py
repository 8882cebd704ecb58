"""The Hydra ConfigStore registration composes to exactly the configs of load_config."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from groupcomp.config import load_config
from groupcomp.config.hydra import compose
from groupcomp.errors import ConfigError


@pytest.mark.parametrize(
    ("preset", "overrides"),
    [("d3", []), ("d3", ["task.k=3", "model.name=rnn"]), ("a5", ["train.seeds=[0,1]"])],
)
def test_hydra_compose_equals_load_config(preset: str, overrides: list[str]) -> None:
    a = OmegaConf.to_container(compose(preset, overrides), resolve=True)
    b = OmegaConf.to_container(load_config(preset, overrides), resolve=True)
    assert a == b


def test_hydra_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="model.name"):
        compose("d3", ["model.name=foo"])
