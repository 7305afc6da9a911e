"""Envs from outside Gymnasium through the CLI: `module:EnvId`, `--env-kwargs`, MinAtar's plugin, and
one clear line for an id or keyword argument that does not exist."""

from __future__ import annotations

import csv
import textwrap

import pytest

from dqnlab.cli import main

QUICK = [
    "--steps", "60", "--no-progress",
    "--set", "learning.learning_starts=20", "--set", "learning.batch_size=8",
    "--set", "evaluation.every=0", "--set", "evaluation.episodes=2",
    "--set", "tensorboard=false", "--set", "diagnostics.plot_every=0",
]  # fmt: skip


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A user's module that registers its own env when imported, as `module:EnvId` expects."""
    source = """
        import gymnasium as gym
        from conftest import CountingEnv

        gym.register("DqnlabUser/Counting-v0", entry_point=CountingEnv)
    """
    (tmp_path / "dqnlab_user_envs.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "dqnlab_user_envs:DqnlabUser/Counting-v0"


def test_module_env_id_with_env_kwargs_trains_and_evaluates(tmp_path, user_module, capsys):
    """terminate_at=5 reaches the env: every training episode lasts 5 steps (the default is 3), and the
    run keeps the kwarg; evaluate --env-kwargs terminate_at=2 overrides it: 2 steps of reward 1."""
    run_dir = tmp_path / "run"
    assert main(["train", user_module, "--env-kwargs", "terminate_at=5", "--run-dir", str(run_dir), *QUICK]) == 0
    with open(run_dir / "metrics.csv") as handle:
        lengths = {row["length"] for row in csv.DictReader(handle)}
    assert lengths == {"5"}
    config = (run_dir / "config.toml").read_text()
    assert 'env_id = "dqnlab_user_envs:DqnlabUser/Counting-v0"' in config
    assert "[env_kwargs]\nterminate_at = 5" in config
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--episodes", "2", "--env-kwargs", "terminate_at=2"]) == 0
    assert "return 2.00 ± 0.00 over 2 episodes" in capsys.readouterr().out


def test_experiment_passes_env_kwargs_to_every_run(tmp_path, user_module):
    from dqnlab.cli import _env_kwargs_assignments
    from dqnlab.experiments.plan import build_variants, plan_runs

    common = _env_kwargs_assignments(["terminate_at=5"])
    specs = plan_runs(user_module, "dqn", build_variants([], []), [0], tmp_path, 10, common)
    assert "env_kwargs.terminate_at=5" in specs[0].command


def test_minatar_trains_from_its_plugin_and_records_a_video(tmp_path):
    """MinAtar renders 10x10 float frames, which the video writer refused with a traceback: they are
    written as bytes, each cell 16x16 pixels."""
    pytest.importorskip("minatar")
    import imageio.v2 as imageio

    run_dir = tmp_path / "minatar"
    args = ["train", "MinAtar/Breakout-v1", "--preset", "minatar-dqn", "--run-dir", str(run_dir), *QUICK]
    assert main([*args, "--env-kwargs", "sticky_action_prob=0.0"]) == 0
    assert (run_dir / "summary.json").is_file()
    video = tmp_path / "breakout.gif"
    assert main(["evaluate", str(run_dir), "--episodes", "1", "--video", str(video)]) == 0
    frame = imageio.get_reader(video).get_data(0)
    assert frame.shape == (160, 160, 3) and frame.dtype == "uint8" and frame.max() > 0


def _bad_inputs(tmp_path):
    return [
        (["train", "MinAtar/Breakot-v1"], "unknown env id 'MinAtar/Breakot-v1'; did you mean MinAtar/Breakout-v1"),
        (["train", "MinAtar/Breakout-v1", "--env-kwargs", "paddle=3"], "unexpected keyword argument 'paddle'"),
        (["train", "MinAtar/Breakout-v1", "--env-kwargs", "sticky_action_prob=often"], "fails at its first step"),
        (["train", "CartPole-v1", "--env-kwargs", "sticky"], "--env-kwargs expects NAME=VALUE"),
        (["train", "no_such_module_xyz:Env-v0"], "cannot import module 'no_such_module_xyz'"),
        (["train", "--resume", str(tmp_path), "--env-kwargs", "a=1"], "drop --env-kwargs"),
    ]


def test_bad_env_input_gets_one_line_and_exit_2(tmp_path, capsys):
    pytest.importorskip("minatar")
    for args, message in _bad_inputs(tmp_path):
        assert main([*args, "--run-dir", str(tmp_path / "never")] if "--resume" not in args else args) == 2, args
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1, (args, lines)
        assert message in lines[0], (args, lines[0])
    assert not (tmp_path / "never").exists()  # refused runs leave nothing behind
