"""The CLI's config surface: `dqnlab config`, --help defaults, --version, suggestions, explicit exploration,
what --actors changes, and the resolved config.toml of a run."""

import subprocess
import sys
import tomllib

import pytest

from dqnlab import __version__
from dqnlab.cli import _build_parser, _resolve_config, main
from dqnlab.config_docs import config_keys
from dqnlab.presets import preset_config
from dqnlab.schedules import linear_epsilon

SHORT = ["--steps", "300", "--seed", "3", "--no-progress"]
QUICK = ["--set", "learning.learning_starts=100", "--set", "evaluation.every=150", "--set", "evaluation.episodes=2"]


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_python_m_dqnlab_runs_the_command_and_prints_the_version():
    result = subprocess.run([sys.executable, "-m", "dqnlab", "--version"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"dqnlab {__version__}"


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("train", ["(default: the config's, 0)", "(default: the config's, auto)", "(default: the preset's)"]),
        ("evaluate", ["episodes to run (default: 10)", "(default: 0)"]),
        ("experiment", ["(default: dqn)", "(default: 5)"]),
    ],
)
def test_help_shows_the_defaults(command, shown, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for text in shown:
        assert text in out, (command, text)
    assert "(default: None)" not in out and "(default: False)" not in out


def test_config_prints_every_key_with_value_default_and_doc(capsys):
    assert main(["config", "--preset", "cartpole", "--set", "learning.lr=5e-4"]) == 0
    out = capsys.readouterr().out
    rows = {line[2:].split()[0]: line for line in out.splitlines() if line[:1] in ("*", " ") and line[2:3].strip()}
    assert {key.key for key in config_keys(preset_config("cartpole"))} <= rows.keys()
    assert rows["learning.lr"].split()[:4] == ["*", "learning.lr", "0.0005", "0.001"]
    assert "optimizer step size" in rows["learning.lr"]
    assert rows["learning.gamma"].split()[:3] == ["learning.gamma", "0.99", "0.99"]  # unchanged: no mark
    assert rows["learning.batch_size"].startswith("* ")  # the preset's 128
    assert "exploration.schedule auto stands for linear here" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["config", "--preset", "cartpol"], "unknown preset 'cartpol' (did you mean 'cartpole'?)"),
        (["train", "CartPole-v1", "--preset", "Rainbow"], "unknown preset 'Rainbow' (did you mean 'rainbow'?)"),
        (["config", "--set", "lr=1e-3"], "unknown config key 'lr' (did you mean 'learning.lr'?)"),
        (
            ["train", "CartPole-v1", "--set", "network.lr=1e-3"],
            "unknown config key 'network.lr' (did you mean 'learning.lr'?)",
        ),
        (["config", "--set", "learning.gama=0.9"], "unknown config key 'learning.gama' (did you mean 'gamma'?)"),
        (["config", "--set", "exploration.schedule=sometimes"], "exploration.schedule must be one of 'auto'"),
    ],
)
def test_bad_config_input_gets_one_line_with_a_suggestion(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    assert message in _one_error_line(capsys)
    assert not (tmp_path / "runs").exists()


def _config_for(*args: str):
    return _resolve_config(_build_parser().parse_args(["config", *args]))


def test_noisy_preset_keeps_an_explicit_linear_schedule(capsys):
    config = _config_for("--preset", "cartpole-rainbow", "--set", "exploration.schedule=linear")
    assert config.network.noisy and config.exploration.schedule == "linear"
    assert main(["config", "--preset", "cartpole-rainbow", "--set", "exploration.schedule=linear"]) == 0
    assert "* exploration.schedule" in capsys.readouterr().out


def test_ablating_the_noise_keeps_the_exploration_values_set(capsys):
    args = ["--preset", "rainbow", "--set", "network.noisy=false"]
    args += ["--set", "exploration.decay_steps=50000", "--set", "exploration.end=0.01"]
    config = _config_for(*args)
    assert (config.exploration.decay_steps, config.exploration.end) == (50_000, 0.01)
    assert main(["config", *args]) == 0
    assert "exploration.schedule auto stands for linear here" in capsys.readouterr().out


@pytest.mark.parametrize("preset", ["rainbow", "cartpole-rainbow"])
def test_noisy_presets_explore_by_noise_alone_until_told_otherwise(preset, capsys):
    assert main(["config", "--preset", preset]) == 0
    assert "exploration.schedule auto stands for none here" in capsys.readouterr().out
    assert main(["config", "--preset", preset, "--set", "network.noisy=false"]) == 0
    assert "exploration.schedule auto stands for linear here" in capsys.readouterr().out


def test_actors_says_it_turns_prioritized_replay_on(capsys):
    train = _build_parser()
    config = _resolve_config(train.parse_args(["train", "CartPole-v1", "--actors", "2"]))
    assert config.replay.prioritized and config.distributed.actors == 2
    assert capsys.readouterr().out.splitlines() == [
        "--actors: replay.prioritized = true, as in Ape-X (--set replay.prioritized=false to keep uniform replay)"
    ]
    args = ["train", "CartPole-v1", "--actors", "2", "--set", "replay.prioritized=false"]
    assert not _resolve_config(train.parse_args(args)).replay.prioritized
    assert _resolve_config(train.parse_args(["train", "CartPole-v1", "--preset", "rainbow", "--actors", "2"]))
    assert capsys.readouterr().out == ""  # chosen by --set, or already on: nothing changed, nothing said


def test_noisy_preset_with_an_epsilon_set_trains_with_it_and_writes_the_resolved_config(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["train", "CartPole-v1", "--preset", "cartpole-rainbow", "--set", "exploration.end=0.01"]
    assert main([*args, "--run-dir", str(run_dir), *SHORT, *QUICK]) == 0
    written = tomllib.loads((run_dir / "config.toml").read_text())
    assert written["device"] in ("cpu", "cuda")  # not "auto"
    assert written["evaluation"]["target_return"] == 475.0  # CartPole-v1's reward_threshold, not "none"
    assert written["exploration"]["schedule"] == "linear" and written["exploration"]["end"] == 0.01
    rows = [line.split(",") for line in (run_dir / "metrics.csv").read_text().splitlines()[1:]]
    assert rows
    for row in rows:  # step, episode, return, length, epsilon, ...: epsilon of the episode's last step
        step, epsilon = int(row[0]), float(row[4])
        assert epsilon == pytest.approx(linear_epsilon(step - 1, 1.0, 0.01, 10_000), abs=1e-3)
