"""Property-based fuzzing (hypothesis) of config values and `train` arguments: every outcome is a
valid Config or one clear line. Examples are derandomized so CI sees the same 500+ each run."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dqnlab.cli import _build_parser, _resolve_config
from dqnlab.config import Config, ExplorationConfig, apply_overrides, parse_assignments
from dqnlab.errors import DqnlabError

EXAMPLES = 600
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
VALUES = [
    "0",
    "1",
    "-1",
    "2",
    "0.5",
    "-0.5",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "-inf",
    "1e-320",
    "10**3",
    "99999999999999999999",
    "true",
    "false",
    "none",
    '"none"',
    "abc",
    '"abc"',
    "[]",
    "[1, 2]",
    "[0]",
    "[[0, 1]]",
    "[[1, 0]]",
    "{}",
    "{a = 1}",
    '"adam"',
    '"sgd"',
    '"linear"',
    '"c51"',
    '"rollback"',
    "",
    "[",
    '"',
    "0x10",
    "1_000",
    "2026-01-01",
    "[1.5]",
    "[-3]",
]


def _keys(config: object, prefix: str = "") -> list[str]:
    keys = []
    for field in dataclasses.fields(config):  # type: ignore[arg-type]
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            keys.extend(_keys(value, f"{prefix}{field.name}."))
        else:
            keys.append(f"{prefix}{field.name}")
    return keys


KEYS = _keys(Config()) + ["learning", "nosuch", "learning.nosuch", "replay.capacity.x", ".", "a..b"]


# a value is a hand-picked edge case, a number, or any short text
VALUE = st.one_of(
    st.sampled_from(VALUES),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12),
)
ASSIGNMENTS = st.lists(st.tuples(st.sampled_from(KEYS), VALUE), min_size=1, max_size=2)


@FUZZ
@given(ASSIGNMENTS)
def test_random_config_values_give_a_config_or_a_one_line_config_error(pairs):
    assignments = [f"{key}={value}" for key, value in pairs]
    try:
        config = apply_overrides(Config(), parse_assignments(assignments))
    except DqnlabError as exc:
        message = str(exc)
        assert message and "\n" not in message, (assignments, message)
    else:
        assert isinstance(config, Config)
        assert isinstance(config.to_toml(), str)  # what the run directory records
        _assert_values_taken(config, parse_assignments(assignments), assignments)


def _leaves(values: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for key, value in values.items():
        if isinstance(value, dict):
            found.extend(_leaves(value, f"{prefix}{key}."))
        else:
            found.append((f"{prefix}{key}", value))
    return found


def _normalized(value: Any, annotation: Any) -> Any:
    """What an accepted `value` becomes in a field of type `annotation`, as config.py documents: "none"
    (or "null") is None where allowed, a list a tuple, a number in a float field a float."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if type(None) in typing.get_args(annotation):
        if isinstance(value, str) and value.lower() in ("none", "null"):
            return None
        annotation = args[0]
    if isinstance(value, list):
        return tuple(_normalized(item, typing.get_args(annotation)[0]) for item in value)
    return float(value) if annotation is float else value


def _assert_values_taken(config: Config, given: dict[str, Any], assignments: list[str]) -> None:
    """Each value given is the value the config holds, or its documented normalization; the one rewrite
    of the user's values is the exploration section's, where noisy nets turn epsilon-greedy on or off."""
    noisy_rewrite = config.network.noisy and config.exploration == ExplorationConfig(schedule="none")
    plain_rewrite = not config.network.noisy and given.get("exploration", {}).get("schedule") in ("none", "None")
    for key, value in _leaves(given):
        *sections, name = key.split(".")
        owner: Any = config
        for section in sections:
            owner = getattr(owner, section)
        if key.startswith("exploration.") and (noisy_rewrite or plain_rewrite):
            assert getattr(owner, name) == getattr(config.exploration, name)
            continue
        expected = _normalized(value, typing.get_type_hints(type(owner))[name])
        assert getattr(owner, name) == expected, (assignments, key, getattr(owner, name), expected)


FLAGS = {
    "--steps": ["1", "0", "-5", "many", "1e3", "99999999999999999999"],
    "--seed": ["0", "-1", "4294967296", "x", "7"],
    "--num-envs": ["1", "0", "-2", "two"],
    "--device": ["cpu", "tpu", "auto", ""],
    "--preset": ["dqn", "cartpole", "nope", "rainbow"],
    "--checkpoint-every": ["0", "100", "-1", "ten"],
    "--set": ["learning.lr=0", "learning.lr=1e-3", "x", "=1", "replay.capacity=10", "checkpoint.keep_last=3"],
    "--frobnicate": ["1"],
}


ENV_IDS = st.sampled_from(["CartPole-v1", "CartPole-v1", "CartPol-v1", "Acrobot-v1"])
FLAG_VALUES = st.lists(
    st.sampled_from(sorted(FLAGS)).flatmap(lambda flag: st.tuples(st.just(flag), st.sampled_from(FLAGS[flag]))),
    max_size=3,
    unique_by=lambda pair: pair[0],
)


@FUZZ
@given(env_id=ENV_IDS, flags=FLAG_VALUES)
def test_random_train_arguments_give_a_config_or_a_one_line_error(capsys, env_id, flags):
    argv = ["train", env_id]
    for flag, value in flags:
        argv += [flag, value]
    try:
        args = _build_parser().parse_args(argv)
    except SystemExit as exit_:
        assert exit_.code == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith("dqnlab: error:"), (argv, err)
        return
    try:
        config = _resolve_config(args)
    except DqnlabError as exc:
        assert str(exc) and "\n" not in str(exc), (argv, str(exc))
    else:
        assert isinstance(config, Config)
        given = dict(flags)
        assert config.env_id == env_id and config.preset == given.get("--preset", "dqn"), argv
        for flag, value in [("--steps", config.steps), ("--seed", config.seed), ("--num-envs", config.num_envs),
                            ("--checkpoint-every", config.checkpoint.every)]:  # fmt: skip
            if flag in given:
                assert value == int(given[flag]), (argv, flag, value)
        assert config.device == given.get("--device", config.device), argv
        if "--set" in given:
            _assert_values_taken(config, parse_assignments([given["--set"]]), argv)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_numbers_are_refused_where_they_would_break_training(value):
    for key in ("learning.lr", "learning.gamma", "learning.tau", "exploration.start", "replay.alpha"):
        with pytest.raises(DqnlabError):
            apply_overrides(Config(), parse_assignments([f"{key}={value}"]))
