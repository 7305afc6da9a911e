"""The CLI end to end: short training runs in-process, and bad input through the real command."""

import json
import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from dqnlab.cli import main

SHORT = [
    "--steps",
    "300",
    "--no-progress",
    "--set",
    "learning.learning_starts=100",
    "--set",
    "evaluation.every=150",
    "--set",
    "evaluation.episodes=2",
]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "cartpole"
    assert main(["train", "CartPole-v1", "--preset", "cartpole", "--seed", "3", "--run-dir", str(run_dir), *SHORT]) == 0
    return run_dir


def test_train_writes_the_run_directory(trained_run):
    for name in [
        "config.toml",
        "metrics.csv",
        "eval.csv",
        "summary.json",
        "checkpoints/best.pt",
        "checkpoints/last.pt",
    ]:
        assert (trained_run / name).is_file(), name
    assert any((trained_run / "tensorboard").iterdir())
    summary = json.loads((trained_run / "summary.json").read_text())
    assert summary["env"] == "CartPole-v1" and summary["preset"] == "cartpole" and summary["seed"] == 3
    assert summary["steps"] == 300 and summary["solved_at_step"] is None
    assert {"wall_s", "steps_per_s", "best_eval_return"} <= summary.keys()
    header = (trained_run / "metrics.csv").read_text().splitlines()[0]
    assert header == "step,episode,return,length,epsilon,loss,q_mean"
    assert (trained_run / "eval.csv").read_text().splitlines()[0] == "step,mean_return,std_return"
    assert "seed = 3" in (trained_run / "config.toml").read_text()


def test_evaluate_a_run_and_record_a_video(trained_run, tmp_path, capsys):
    video = tmp_path / "episode.gif"
    assert main(["evaluate", str(trained_run), "--episodes", "3", "--video", str(video)]) == 0
    out = capsys.readouterr().out
    assert "return" in out and "±" in out and "over 3 episodes" in out
    assert video.stat().st_size > 1000
    assert main(["evaluate", str(trained_run), "--episodes", "1"]) == 0
    assert "over 1 episode (epsilon" in capsys.readouterr().out


def test_evaluate_a_training_snapshot(tmp_path, capsys):
    """A resume snapshot (checkpoints/state-<step>/) evaluates as its step's weights; a run stopped
    before its end (no best.pt or last.pt) evaluates its newest snapshot; a damaged one gets one line."""
    from dqnlab import Agent

    run_dir = tmp_path / "kept"
    keep = ["--set", "checkpoint.every=150", "--set", "checkpoint.keep_final=true"]
    assert (
        main(["train", "CartPole-v1", "--preset", "cartpole", "--seed", "4", "--run-dir", str(run_dir), *SHORT, *keep])
        == 0
    )
    snapshot = run_dir / "checkpoints" / "state-000000000300"
    from_snapshot, from_last = Agent.load(snapshot), Agent.load(run_dir / "checkpoints" / "last.pt")
    assert from_snapshot.env_steps == from_last.env_steps == 300
    last_weights = from_last.q_network.state_dict()
    for name, tensor in from_snapshot.q_network.state_dict().items():
        assert torch.equal(tensor, last_weights[name]), name
    capsys.readouterr()
    assert main(["evaluate", str(snapshot), "--episodes", "2"]) == 0
    assert "state-000000000300" in capsys.readouterr().out

    for name in ("best.pt", "last.pt"):
        (run_dir / "checkpoints" / name).unlink()
    assert main(["evaluate", str(run_dir), "--episodes", "2"]) == 0
    assert "state-000000000300" in capsys.readouterr().out

    torch_file = snapshot / "torch.pt"
    torch_file.write_bytes(torch_file.read_bytes()[:-10])
    result = _cli("evaluate", str(snapshot))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "is not a usable checkpoint: torch.pt has" in lines[0]


def test_env_info_shows_spaces_and_tabular_size(capsys):
    assert main(["env-info", "ALE/SpaceInvaders-v5"]) == 0
    out = capsys.readouterr().out
    assert "Discrete(6)" in out and "action 1: FIRE" in out
    assert "256^(210·160·3·4)" in out


def test_env_info_names_the_actions_of_gymnasiums_own_envs(capsys):
    assert main(["env-info", "CartPole-v1"]) == 0  # CartPole has no get_action_meanings
    out = capsys.readouterr().out
    assert "  action 0: push cart left\n  action 1: push cart right\n" in out


def test_presets_lists_one_line_each(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("dqn ") for line in lines)
    assert any(line.startswith("cartpole ") for line in lines)


def test_existing_run_directory_is_never_overwritten(trained_run, capsys):
    before = (trained_run / "checkpoints" / "best.pt").read_bytes()
    assert main(["train", "CartPole-v1", "--run-dir", str(trained_run), *SHORT]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert (trained_run / "checkpoints" / "best.pt").read_bytes() == before


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "dqnlab.cli", *args], capture_output=True, text=True, cwd=cwd)


def _bad_inputs(tmp_path, trained_run):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    foreign = tmp_path / "foreign.pt"

    torch.save({"weights": torch.zeros(3)}, foreign)
    plain_pickle = tmp_path / "plain.pkl"
    plain_pickle.write_bytes(pickle.dumps({"weights": [0.0]}, protocol=4))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((trained_run / "checkpoints" / "best.pt").read_bytes()[:5000])
    no_cuda = [] if torch.cuda.is_available() else [(["train", "CartPole-v1", "--device", "cuda"], "no CUDA GPU")]
    return no_cuda + [
        (["train", "CartPol-v1"], "unknown env id 'CartPol-v1'; did you mean CartPole-v1"),
        (["train", "CartPole-v1", "--preset", "atari-dqn"], "CartPole-v1 observes shape (4,)"),
        (["train", "CartPole-v1", "--set", "network.q_function=cnn"], "network.q_function=cnn (the Nature CNN"),
        (
            ["experiment", "CartPol-v1", "--preset", "cartpole", "--seeds", "1", "--steps", "100", "--out", "ex"],
            "did you mean CartPole-v1",
        ),
        (["train", "Pendulum-v1"], "DQN needs a discrete action space; Pendulum-v1 has Box("),
        (["train", "CartPole-v1", "--set", "learning.gamma=1.5"], "learning.gamma must be in (0, 1]"),
        (["train", "CartPole-v1", "--set", "learning.lr=0"], "learning.lr must be > 0"),
        (["train", "CartPole-v1", "--set", "replay.capacity=10"], "is larger than replay.capacity (10)"),
        (["train", "CartPole-v1", "--set", "learning.gama=0.9"], "unknown config key 'learning.gama'"),
        (["train", "CartPole-v1", "--set", "nonsense"], "--set expects KEY=VALUE"),
        (["train", "CartPole-v1", "--preset", "nope"], "unknown preset 'nope'"),
        (["train", "CartPole-v1", "--config", str(tmp_path / "none.toml")], "config file not found"),
        (["train", "CartPole-v1", "--steps", "many"], "invalid int value: 'many'"),
        (["train", "CartPole-v1", "--device", "tpu"], "device must be one of"),
        (["evaluate", str(garbage)], "cannot read checkpoint"),
        (["evaluate", str(foreign)], "is not a dqnlab checkpoint"),
        (["evaluate", str(trained_run / "metrics.csv")], "not a file dqnlab saved, or a damaged one"),
        (["evaluate", str(plain_pickle)], "not a file dqnlab saved, or a damaged one"),
        (["evaluate", str(truncated)], "not a file dqnlab saved, or a damaged one"),
        (["evaluate", str(tmp_path / "missing")], "no such run directory or checkpoint"),
        (["evaluate", str(trained_run), "--video", str(tmp_path / "x.avi")], "--video must end in .mp4 or .gif"),
        (["env-info", "NoSuchEnv-v0"], "unknown env id"),
        (["frobnicate"], "invalid choice"),
    ]


def test_bad_input_gets_one_line_and_exit_status_2(tmp_path, trained_run):
    cases = _bad_inputs(tmp_path, trained_run)
    with ThreadPoolExecutor(max_workers=4) as pool:  # each case is a process of its own: start them together
        results = list(pool.map(lambda case: _cli(*case[0], cwd=tmp_path), cases))
    for (args, message), result in zip(cases, results, strict=True):
        assert result.returncode == 2, (args, result.returncode)  # the README's promise for bad input
        assert "Traceback" not in result.stderr, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, (args, result.stderr)
        assert message in lines[0], (args, lines[0])
    assert not (tmp_path / "runs").exists() and not (tmp_path / "ex").exists()  # refused runs leave nothing behind


def test_recording_a_video_prints_nothing_but_dqnlabs_lines(trained_run, tmp_path):
    """pygame's SDL printed "XDG_RUNTIME_DIR is invalid or not set" on machines without a display."""
    environ = {key: value for key, value in os.environ.items() if key not in ("XDG_RUNTIME_DIR", "SDL_VIDEODRIVER")}
    video = tmp_path / "episode.gif"
    result = subprocess.run(
        [sys.executable, "-m", "dqnlab.cli", "evaluate", str(trained_run), "--episodes", "1", "--video", str(video)],
        capture_output=True,
        text=True,
        env=environ,
    )
    assert result.returncode == 0 and video.is_file()
    assert result.stderr == ""


def test_the_nature_cnn_is_accepted_on_stacked_atari_frames():
    from dqnlab.cli import _check_can_start
    from dqnlab.envs import env_spaces
    from dqnlab.presets import preset_config

    config = preset_config("atari-dqn", "ALE/Pong-v5")
    _check_can_start(config.replace(device="cpu"), env_spaces(config.env_id, config.atari))  # no error


def test_a_video_file_name_is_refused_before_any_episode_is_played(trained_run, tmp_path):
    result = _cli("evaluate", str(trained_run), "--episodes", "50", "--video", str(tmp_path / "x.avi"))
    assert result.returncode == 2 and "--video must end in .mp4 or .gif" in result.stderr
    assert result.stdout == ""  # no "return ... over 50 episodes": nothing was evaluated
