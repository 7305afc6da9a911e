"""Property-based fuzzing (hypothesis) of config values, `train` arguments and the files given to
`evaluate`, `--config` and `--resume`: every outcome is a valid Config (or a finished command) or one
clear line. Examples are derandomized so CI sees the same ones each run."""

from __future__ import annotations

import dataclasses
import json
import pickle
import shutil
import tempfile
import typing
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dqnlab.cli import _build_parser, _resolve_config, main
from dqnlab.config import Config, apply_overrides, parse_assignments
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
    """Each value given is the value the config holds, or its documented normalization: the config never
    rewrites what the user set (exploration for noisy nets is `exploration.schedule = "auto"`)."""
    for key, value in _leaves(given):
        *sections, name = key.split(".")
        owner: Any = config
        for section in sections:
            owner = getattr(owner, section)
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


# Files: whatever a user may hand to `evaluate`, `--config` or `--resume` by mistake or after damage.
FILE_FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TEXTS = [
    b"",
    b"step,episode,return,length,epsilon,loss,q_mean\n100,1,21.0,21,0.9,,\n",  # metrics.csv
    b'env_id = "CartPole-v1"\nseed = 3\n',  # config.toml
    b'{"env": "CartPole-v1", "steps": 300}\n',  # summary.json
    "ünïcode text\n".encode(),
    b"PK\x03\x04" + bytes(64),  # the start of a zip, then nothing
]
PICKLES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.binary(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=8,
).flatmap(lambda value: st.sampled_from([pickle.dumps(value, protocol=p) for p in (2, 4, 5)]))


def _damaged(original: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, fixed texts and plain pickles, or `original` truncated or with one bit flipped."""

    def flip(bit: int) -> bytes:
        damaged = bytearray(original)
        damaged[bit // 8] ^= 1 << (bit % 8)
        return bytes(damaged)

    return st.one_of(
        st.binary(max_size=512),
        st.sampled_from(TEXTS),
        PICKLES,
        st.integers(0, len(original) - 1).map(lambda size: original[:size]),
        st.integers(0, 8 * len(original) - 1).map(flip),
    )


def _assert_done_or_one_line(capsys, argv: list[str], allowed: tuple[int, ...] = (0, 2)) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code in allowed, (argv, code, err)
    if code != 0:
        assert len(err.strip().splitlines()) == 1 and err.startswith("dqnlab: error:"), (argv, err)


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory) -> bytes:
    from dqnlab import Agent

    path = tmp_path_factory.mktemp("checkpoint") / "agent.pt"
    Agent(Config(env_id="CartPole-v1", device="cpu")).save(path)
    return path.read_bytes()


@FILE_FUZZ
@given(data=st.data(), where=st.sampled_from(["file", "run directory", "directory"]))
def test_any_file_given_to_evaluate_is_evaluated_or_refused_in_one_line(capsys, checkpoint_bytes, data, where):
    content = data.draw(_damaged(checkpoint_bytes))
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "run"
        if where == "file":
            target.write_bytes(content)
        elif where == "run directory":  # evaluate RUN picks RUN/checkpoints/best.pt
            (target / "checkpoints").mkdir(parents=True)
            (target / "checkpoints" / "best.pt").write_bytes(content)
        else:
            target.mkdir()
        _assert_done_or_one_line(capsys, ["evaluate", str(target), "--episodes", "1"])


@FILE_FUZZ
@given(data=st.data(), a_directory=st.booleans())
def test_any_file_given_to_config_gives_a_config_or_one_line(data, a_directory):
    toml_lines = st.lists(st.tuples(st.sampled_from([*KEYS, "preset", "env_id"]), VALUE), max_size=3).map(
        lambda pairs: "".join(f"{key} = {value}\n" for key, value in pairs).encode()
    )
    content = data.draw(st.one_of(toml_lines, _damaged(b'preset = "cartpole"\n[learning]\nlr = 1e-3\n')))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        if a_directory:
            path.mkdir()
        else:
            path.write_bytes(content)
        args = _build_parser().parse_args(["train", "CartPole-v1", "--config", str(path)])
        try:
            config = _resolve_config(args)
        except DqnlabError as exc:
            assert str(exc) and "\n" not in str(exc), (content, str(exc))
        else:
            assert isinstance(config, Config)


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    """A run directory holding one training state (not resumable: it has no config, so a state that
    loads is refused before any training, in one line)."""
    import numpy as np
    import torch

    from dqnlab.training.snapshot import write_snapshot

    run = tmp_path_factory.mktemp("stopped") / "run"
    tree = {"version": -1, "replay": np.arange(5_000, dtype=np.float32), "counters": {"env_steps": 100}}
    tensors = {"q_network": {"weight": torch.ones(4, 2)}, "rng": torch.get_rng_state()}
    write_snapshot(run / "checkpoints", 100, tree, tensors, keep_last=1)
    return run


def _resign(folder: Path, name: str) -> None:
    """Rewrites the manifest's size and CRC of `name`, so damage done before checksumming reaches the loaders."""
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    data = (folder / name).read_bytes()
    manifest["files"][name] = {"bytes": len(data), "crc32": zlib.crc32(data)}
    manifest_path.write_text(json.dumps(manifest))


@FILE_FUZZ
@given(
    data=st.data(),
    name=st.sampled_from(["state.json", "torch.pt", "manifest.json", "arrays/state.replay.npy"]),
    resign=st.booleans(),
    a_directory=st.booleans(),
)
def test_any_damage_to_a_training_state_is_refused_in_one_line(capsys, stopped_run, data, name, resign, a_directory):
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(stopped_run, run)
        (folder,) = (run / "checkpoints").iterdir()
        target = folder / name
        if a_directory:  # a file replaced by a folder of the same name
            target.unlink()
            target.mkdir()
        else:
            target.write_bytes(data.draw(_damaged(target.read_bytes())))
            if resign and name != "manifest.json":
                _resign(folder, name)
        _assert_done_or_one_line(capsys, ["train", "--resume", str(run), "--no-progress"], allowed=(2,))


@FILE_FUZZ
@given(content=st.binary(max_size=64) | st.sampled_from(TEXTS))
def test_a_file_given_as_the_run_to_resume_is_refused_in_one_line(capsys, content):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "summary.json"
        path.write_bytes(content)
        _assert_done_or_one_line(capsys, ["train", "--resume", str(path)], allowed=(2,))
