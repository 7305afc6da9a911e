"""Config validation, overrides, presets and the TOML round trip."""

import pytest

from dqnlab.config import Config, apply_overrides, config_from_dict, load_toml, parse_assignment
from dqnlab.errors import ConfigError
from dqnlab.presets import PRESETS, preset_config


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"learning": {"gamma": 0.0}}, "gamma must be in (0, 1]"),
        ({"learning": {"gamma": 1.5}}, "gamma must be in (0, 1]"),
        ({"learning": {"lr": 0.0}}, "lr must be > 0"),
        ({"learning": {"lr": -1e-3}}, "lr must be > 0"),
        ({"learning": {"batch_size": 128}, "replay": {"capacity": 64}}, "larger than replay.capacity"),
        ({"learning": {"optimizer": "sgdx"}}, "learning.optimizer must be one of"),
        ({"learning": {"gamma": "high"}}, "learning.gamma must be a number"),
        ({"steps": 1.5}, "steps must be an integer"),
    ],
)
def test_invalid_values_are_refused_with_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        apply_overrides(Config(), override)


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"unknown config key 'learning.gama' \(did you mean 'gamma'\?\)"):
        apply_overrides(Config(), parse_assignment("learning.gama=0.9"))


def test_set_parses_toml_values():
    config = Config()
    for text in [
        "learning.lr=5e-4",
        "network.hidden_sizes=[32, 16]",
        "learning.double=false",
        "learning.max_grad_norm=none",
    ]:
        config = apply_overrides(config, parse_assignment(text))
    assert config.learning.lr == 5e-4
    assert config.network.hidden_sizes == (32, 16)
    assert config.learning.double is False
    assert config.learning.max_grad_norm is None


def test_resolved_config_round_trips_through_toml(tmp_path):
    config = apply_overrides(preset_config("cartpole", "CartPole-v1"), parse_assignment("learning.max_grad_norm=none"))
    path = tmp_path / "config.toml"
    path.write_text(config.to_toml())
    assert config_from_dict(load_toml(path)) == config


def test_every_preset_is_a_valid_config():
    for name in PRESETS:
        assert preset_config(name, "CartPole-v1").preset == name


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ConfigError, match="unknown preset 'nope'; choose one of: dqn"):
        preset_config("nope")


def test_bad_config_file_is_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("learning = [")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_toml(path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_toml(tmp_path / "missing.toml")
