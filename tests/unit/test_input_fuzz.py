"""Fuzzing of config values and `train` arguments: every outcome is a valid Config or one clear line.

(hypothesis is not among the dependencies, so the examples are drawn from a seeded generator.)
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from dqnlab.cli import _build_parser, _resolve_config
from dqnlab.config import Config, apply_overrides, parse_assignments
from dqnlab.errors import DqnlabError

EXAMPLES = 600
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


def test_random_config_values_give_a_config_or_a_one_line_config_error():
    rng = random.Random(0)
    outcomes = {"config": 0, "error": 0}
    for _ in range(EXAMPLES):
        assignments = [f"{rng.choice(KEYS)}={rng.choice(VALUES)}" for _ in range(rng.randint(1, 2))]
        try:
            config = apply_overrides(Config(), parse_assignments(assignments))
        except DqnlabError as exc:
            message = str(exc)
            assert message and "\n" not in message, (assignments, message)
            outcomes["error"] += 1
        else:
            assert isinstance(config, Config)
            assert isinstance(config.to_toml(), str)  # what the run directory records
            outcomes["config"] += 1
    assert outcomes["config"] > 20 and outcomes["error"] > 100, outcomes


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


def test_random_train_arguments_give_a_config_or_a_one_line_error(capsys):
    rng = random.Random(1)
    parser = _build_parser()
    for _ in range(EXAMPLES):
        argv = ["train", rng.choice(["CartPole-v1", "CartPole-v1", "CartPol-v1", "Acrobot-v1"])]
        for flag in rng.sample(sorted(FLAGS), rng.randint(0, 3)):
            argv += [flag, rng.choice(FLAGS[flag])]
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit_:
            assert exit_.code == 2, argv
            err = capsys.readouterr().err
            assert len(err.strip().splitlines()) == 1 and err.startswith("dqnlab: error:"), (argv, err)
            continue
        try:
            config = _resolve_config(args)
        except DqnlabError as exc:
            assert str(exc) and "\n" not in str(exc), (argv, str(exc))
        else:
            assert isinstance(config, Config)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_numbers_are_refused_where_they_would_break_training(value):
    for key in ("learning.lr", "learning.gamma", "learning.tau", "exploration.start", "replay.alpha"):
        with pytest.raises(DqnlabError):
            apply_overrides(Config(), parse_assignments([f"{key}={value}"]))
