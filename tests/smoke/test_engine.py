"""The one training loop: its replay-ratio formula, collectors that deliver experience in irregular
chunks (as Ape-X's actors do), learning that goes on across `learn` calls, extending a finished run,
and what it prints while it trains."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import config_from
from dqnlab import Agent, Config
from dqnlab.cli import main
from dqnlab.config import LearningConfig
from dqnlab.training.collectors import Chunk
from dqnlab.training.loop import TrainingLoop, gradient_steps_due
from dqnlab.training.progress import ProgressLog


def _config(**overrides) -> Config:
    values = {
        "env_id": "CartPole-v1",
        "seed": 5,
        "steps": 600,
        "device": "cpu",
        "tensorboard": False,
        "network": {"hidden_sizes": [16]},
        "learning": {"learning_starts": 200, "batch_size": 16, "train_freq": 2, "target_update_interval": 50},
        "exploration": {"decay_steps": 400},
        "evaluation": {"every": 0, "episodes": 1, "stop_at_target": False},
        "diagnostics": {"plot_every": 0},
        "checkpoint": {"every": 0},
    }
    return config_from(values, overrides)


@pytest.mark.parametrize(
    ("env_steps", "num_envs", "expected"),
    [
        (999, 1, 0),  # before learning_starts
        (1000, 1, 1),  # 1000 // 4 - 999 // 4 = 250 - 249
        (1003, 1, 1),
        (1004, 1, 2),
        (1000, 8, 2),  # a vector of 8 passes 992 before 1000: 250 - 248
        (1008, 8, 4),  # 252 - 248
    ],
)
def test_gradient_steps_due_by_hand(env_steps, num_envs, expected):
    learning = LearningConfig(learning_starts=1000, train_freq=4, gradient_steps=1)
    assert gradient_steps_due(env_steps, learning, num_envs) == expected


def test_gradient_steps_due_counts_gradient_steps_per_update_and_starts_at_zero():
    learning = LearningConfig(learning_starts=0, train_freq=1, gradient_steps=3)
    assert gradient_steps_due(5, learning, 1) == 15  # from step 0 on: 5 updates of 3 gradient steps


class ChunkyCollector:
    """Hands the loop experience in irregular chunks, as Ape-X's actors do, and takes one gradient
    step per look like ApexCollector; samples from a local replay so that the learner really learns."""

    updates_per_round = 1

    def __init__(self, local, sizes):
        self.local, self.sizes, self.origin = local, list(sizes), local.origin

    def start(self, state):
        self.local.start(state)

    def collect(self, learning_owed):
        if learning_owed or not self.sizes:
            return []
        steps, episodes = 0, []
        for _ in range(self.sizes.pop(0)):
            chunk = self.local.collect(False)[0]
            steps += chunk.steps
            episodes += chunk.episodes
        return [Chunk(steps, episodes, chunk.epsilon)]

    def sample(self, batch_size):
        return self.local.sample(batch_size)

    def __getattr__(self, name):
        return getattr(self.local, name)


def test_a_chunked_collector_never_learns_ahead_of_the_local_replay_ratio(monkeypatch):
    """Ape-X's learner and a local run obey one formula: the learner takes a gradient step only while
    fewer than `gradient_steps_due` have been taken, and catches up to exactly that many."""
    config = _config()
    local_agent = Agent(config)
    local_agent.learn(600)
    assert local_agent.learner.gradient_steps == gradient_steps_due(600, config.learning, 1) == 201

    agent = Agent(config)
    loop = TrainingLoop(agent, 600, None, progress=False)
    loop.collector = ChunkyCollector(loop.collector, [150, 7, 13, 90, 40, 300])
    update = agent.learner.update

    def checked_update(batch):
        assert agent.learner.gradient_steps < gradient_steps_due(agent.env_steps, config.learning, 1)
        return update(batch)

    monkeypatch.setattr(agent.learner, "update", checked_update)
    loop.run()
    assert agent.env_steps == 600
    # the learner caught up with every chunk before the next; the last one ends the run after one step
    assert agent.learner.gradient_steps == gradient_steps_due(300, config.learning, 1) + 1


def test_a_second_learn_goes_on_with_the_same_replay_and_counts():
    agent = Agent(_config(replay={"n_step": 3}))
    agent.learn(300)
    replay = agent.collector.replay
    size = len(replay)
    agent.learn(300)
    assert agent.collector.replay is replay and len(replay) > size
    assert agent.env_steps == 600
    assert agent.learner.gradient_steps == gradient_steps_due(600, agent.config.learning, 1)


def test_two_learn_calls_learn_what_one_does():
    one = Agent(_config())
    one.learn(600)
    two = Agent(_config())
    two.learn(250)
    two.learn(350)
    for a, b in zip(one.q_network.parameters(), two.q_network.parameters(), strict=True):
        assert bool((a == b).all())


def test_a_loaded_agent_refills_its_replay_before_learning_again(tmp_path):
    agent = Agent(_config())
    agent.learn(400)
    agent.save(tmp_path / "a.pt")
    loaded = Agent.load(tmp_path / "a.pt")
    assert loaded.env_steps == 400
    loaded.learn(150)  # fewer than learning_starts (200) new steps: no gradient step on a near-empty replay
    assert loaded.learner.gradient_steps == 0
    loaded.learn(150)  # 300 new steps: learning started 200 steps after the load, every 2 env steps
    assert loaded.learner.gradient_steps == gradient_steps_due(300, loaded.config.learning, 1) == 51


def _train_cli(run, *extra):
    return main(["train", "CartPole-v1", "--run-dir", str(run), "--no-progress", *extra])


SHORT = ["--seed", "5", "--set", "network.hidden_sizes=[16]", "--set", "learning.learning_starts=200"]
SHORT += ["--set", "evaluation.every=0", "--set", "evaluation.episodes=1", "--set", "tensorboard=false"]
SHORT += ["--set", "diagnostics.plot_every=0", "--set", "evaluation.stop_at_target=false"]


def test_a_finished_run_that_kept_its_state_extends_to_what_one_longer_run_learns(tmp_path, capsys):
    """`train --resume RUN --steps N` goes on from the kept final state: its metrics are the
    uninterrupted longer run's, byte for byte."""
    assert _train_cli(tmp_path / "long", "--steps", "800", *SHORT) == 0
    assert _train_cli(tmp_path / "short", "--steps", "400", "--set", "checkpoint.keep_final=true", *SHORT) == 0
    assert main(["train", "--resume", str(tmp_path / "short"), "--steps", "800", "--no-progress"]) == 0
    assert "resuming" in capsys.readouterr().err
    long_metrics = (tmp_path / "long" / "metrics.csv").read_bytes()
    assert (tmp_path / "short" / "metrics.csv").read_bytes() == long_metrics
    assert json.loads((tmp_path / "short" / "summary.json").read_text())["steps"] == 800


def test_extending_a_run_without_its_state_or_backwards_is_refused_in_one_line(tmp_path, capsys):
    assert _train_cli(tmp_path / "run", "--steps", "300", *SHORT) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "run"), "--no-progress"]) == 2
    assert "--steps N" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "run"), "--steps", "600", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint.keep_final" in err[0]
    assert _train_cli(tmp_path / "kept", "--steps", "300", "--set", "checkpoint.keep_final=true", *SHORT) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "kept"), "--steps", "300", "--no-progress"]) == 2
    assert "not past the run's 300 env steps" in capsys.readouterr().err


def test_the_log_lines_say_step_return_epsilon_and_speed(capsys):
    log = ProgressLog("CartPole-v1", 1000, 0, every_s=0.0)
    log.advance(100)
    line = capsys.readouterr().err.strip()
    assert line.startswith("CartPole-v1 step 100/1,000 | episodes 0 | return - | eval - |"), line
    assert line.endswith("steps/s")


def test_a_resumed_runs_log_counts_the_speed_of_its_own_steps(capsys, monkeypatch):
    now = [100.0]
    monkeypatch.setattr("dqnlab.training.progress.time.perf_counter", lambda: now[0])
    log = ProgressLog("MinAtar/SpaceInvaders-v1", 5_000_000, 0, every_s=10.0)
    log.advance(500_000)  # resumed at env step 500,000 of a run that began at 0
    now[0] = 110.0
    log.advance(501_000)
    line = capsys.readouterr().err.strip()
    assert line.startswith("MinAtar/SpaceInvaders-v1 step 501,000/5,000,000 |") and line.endswith("| 100 steps/s"), line


def test_a_run_says_when_it_solves_and_stops(tmp_path, capsys):
    args = ["--steps", "2000", *SHORT, "--set", "evaluation.every=500", "--set", "evaluation.target_return=9"]
    assert _train_cli(tmp_path / "run", *args, "--set", "evaluation.stop_at_target=true", "--progress", "log") == 0
    captured = capsys.readouterr()
    assert "solved at env step 500" in captured.err and "stopping (evaluation.stop_at_target)" in captured.err
    assert captured.out.index("run directory:") < captured.out.index("{")  # printed before training
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 500


def test_default_progress_is_log_lines_off_a_terminal():
    from dqnlab.training.progress import default_progress

    assert default_progress() == "log"  # pytest captures stderr: not a terminal
    assert np.isnan(ProgressLog("x", 1, 0).recent_return())


def test_two_runs_started_in_the_same_second_get_their_own_directories(tmp_path, monkeypatch):
    """The default run directory is named to the second: a second run in that second must not be refused
    for finding the first one's files there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("time.strftime", lambda *args: "20261130-120000")
    args = ["train", "CartPole-v1", "--no-progress", "--steps", "50", *SHORT]
    assert main(args) == 0 and main(args) == 0
    names = sorted(path.name for path in (tmp_path / "runs").iterdir())
    assert names == ["CartPole-v1-dqn-5-20261130-120000", "CartPole-v1-dqn-5-20261130-120000-2"]
