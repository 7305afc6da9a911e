"""Config validation, overrides, presets and the TOML round trip."""

import dataclasses

import pytest

from dqnlab.config import (
    Config,
    apply_overrides,
    config_from_dict,
    exploration_schedule,
    load_toml,
    parse_assignment,
    resolved_config,
)
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
    with pytest.raises(ConfigError, match="unknown preset '5'; choose one of: dqn"):  # `preset = 5` in a file
        preset_config(5)  # type: ignore[arg-type]


def test_bad_config_file_is_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("learning = [")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_toml(path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_toml(tmp_path / "missing.toml")


def test_every_field_carries_a_one_line_doc():
    for field in _all_fields(Config()):
        doc = field.metadata.get("doc", "")
        assert doc and "\n" not in doc and len(doc) <= 110, field.name


def _all_fields(obj):
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        yield from _all_fields(value) if dataclasses.is_dataclass(value) else [field]


def _keys_set_to_their_defaults(overrides, defaults, prefix=""):
    """The dotted keys of a preset's nested overrides whose value equals the default, compared as TOML holds them."""
    found = []
    for name, value in overrides.items():
        default = getattr(defaults, name)
        if isinstance(value, dict):
            found += _keys_set_to_their_defaults(value, default, f"{prefix}{name}.")
        elif _is_default(f"{prefix}{name}", value):
            found.append(f"{prefix}{name}")
    return found


def _is_default(dotted, value):
    """Whether setting `dotted` alone to `value` leaves the default config; a value that is invalid
    alone (network.dueling_hidden without dueling) is no default either."""
    try:
        return apply_overrides(Config(), _nested(dotted, value)) == Config()
    except ConfigError:
        return False


def _nested(dotted, value):
    *sections, name = dotted.split(".")
    nested = {name: value}
    for section in reversed(sections):
        nested = {section: nested}
    return nested


def test_no_preset_sets_a_key_to_its_default():
    offenders = {name: _keys_set_to_their_defaults(preset.overrides, Config()) for name, preset in PRESETS.items()}
    assert {name: keys for name, keys in offenders.items() if keys} == {}


def test_the_default_check_finds_a_restated_default():
    overrides = {"steps": 100_000, "learning": {"gamma": 0.99, "lr": 2e-3, "max_grad_norm": 10}, "replay": {}}
    assert _keys_set_to_their_defaults(overrides, Config()) == ["steps", "learning.gamma", "learning.max_grad_norm"]


def test_resolved_config_writes_out_device_target_and_schedule():
    noisy = preset_config("cartpole-rainbow", "CartPole-v1")
    resolved = resolved_config(noisy, device="cpu", target_return=475.0)
    assert (resolved.device, resolved.evaluation.target_return, resolved.exploration.schedule) == ("cpu", 475.0, "none")
    unchanged = {"device": noisy.device, "evaluation": noisy.evaluation, "exploration": noisy.exploration}
    assert dataclasses.replace(resolved, **unchanged) == noisy  # nothing else moved
    plain = resolved_config(Config(), device="cuda", target_return=None)
    assert (plain.device, plain.evaluation.target_return, plain.exploration.schedule) == ("cuda", None, "linear")
    with pytest.raises(ConfigError, match="device must be one of"):
        resolved_config(Config(), device="tpu", target_return=None)


def test_a_run_config_toml_read_back_trains_the_same(tmp_path):
    """config.toml holds resolved values; given back with --config, they mean what "auto" meant."""
    noisy = preset_config("cartpole-rainbow", "CartPole-v1")
    path = tmp_path / "config.toml"
    path.write_text(resolved_config(noisy, device="cpu", target_return=475.0).to_toml())
    again = config_from_dict(load_toml(path))
    assert exploration_schedule(again) == exploration_schedule(noisy) == "none"
    assert again.replace(device="auto", evaluation=noisy.evaluation, exploration=noisy.exploration) == noisy
