"""Distributed dqnlab on Ray: Ape-X actors, replay shards, the learner, faults and resume, experiments as Ray tasks.

The pure parts (epsilons, priorities, replay insertion with priorities, the missing-Ray message)
run without Ray; the rest shares one local Ray instance (`ray_local`) and skips when Ray is not
installed. The whole file stays well under 90 s on two cores. Under `make test`'s two processes the
file runs on one of them (its xdist group), so one Ray instance starts, not one per process.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

from dqnlab.cli import main
from dqnlab.config import Config, LearningConfig, NetworkConfig, apply_overrides, parse_assignments
from dqnlab.distributed import RAY_MISSING, actor_epsilons
from dqnlab.envs import env_spaces
from dqnlab.errors import TrainingInterrupted
from dqnlab.learner import DQNLearner, batch_priorities
from dqnlab.networks import build_q_network
from dqnlab.replay import PrioritizedSampler, ReplayMemory, RingStorage
from dqnlab.replay.n_step import Transitions
from dqnlab.types import Batch

pytestmark = pytest.mark.xdist_group("ray")  # with --dist loadgroup: the module's tests on one process

# --- pure parts -----------------------------------------------------------------------------------


def test_actor_epsilons_follow_apex_formula():
    # eps_i = 0.4^(1 + 7 i / (N - 1)): the first actor 0.4, the last 0.4^8
    epsilons = actor_epsilons(3, 0.4, 7.0)
    assert epsilons == pytest.approx([0.4, 0.4**4.5, 0.4**8])
    assert actor_epsilons(1, 0.4, 7.0) == [0.4]


@pytest.mark.parametrize("distributional", ["expected", "c51", "qr"])
@pytest.mark.parametrize("double", [True, False])
def test_actor_priorities_match_the_learners(distributional, double):
    """What an actor computes with `batch_priorities` is what the learner's update returns as
    priorities for the same batch and weights (before its gradient step)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    spaces = env_spaces("CartPole-v1")
    network = NetworkConfig(hidden_sizes=(16,), distributional=distributional, atoms=11, quantiles=8)
    config = LearningConfig(double=double, batch_size=8)
    learner = DQNLearner(config, build_q_network(network, spaces.observation_space, 2), torch.device("cpu"))
    with torch.no_grad():  # a target different from the online net, so Double DQN matters
        for parameter in learner.target.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    batch = Batch(
        obs=rng.normal(size=(8, 4)).astype(np.float32),
        actions=rng.integers(0, 2, 8),
        rewards=rng.normal(size=8).astype(np.float32),
        next_obs=rng.normal(size=(8, 4)).astype(np.float32),
        discounts=np.array([0.99, 0.0] * 4, np.float32),
    )
    from_actor = batch_priorities(learner.online, learner.target, batch, config, torch.device("cpu"))
    from_learner = learner.update(batch).priorities
    assert from_actor.shape == (8,)
    np.testing.assert_allclose(from_actor, from_learner, rtol=1e-5, atol=1e-6)


def test_replay_takes_transitions_with_their_priorities():
    sampler = PrioritizedSampler(8, np.random.default_rng(0), alpha=0.5, beta_start=0.4, beta_steps=1, eps=0.0)
    memory = ReplayMemory(RingStorage(8, (1,), np.dtype(np.float32)), sampler)  # no accumulator: complete transitions
    obs = np.arange(3, dtype=np.float32)[:, None]
    transitions = Transitions(obs, np.zeros(3, np.int64), np.ones(3, np.float32), obs + 1, np.full(3, 0.9, np.float32))
    slots = memory.add_transitions(transitions, np.array([4.0, -9.0, 1.0]))
    assert list(slots) == [0, 1, 2] and len(memory) == 3
    np.testing.assert_allclose(memory.sampler.tree.get(slots), [2.0, 3.0, 1.0])  # |e|^0.5
    assert memory.add_transitions(transitions)[0] == 3  # no priorities: the largest so far
    assert memory.sampler.tree.get(np.array([3]))[0] == pytest.approx(3.0)


def test_actors_without_ray_is_one_line_and_exit_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    assert main(["train", "CartPole-v1", "--actors", "2", "--run-dir", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == f"dqnlab: error: {RAY_MISSING}\n"
    assert not (tmp_path / "run").exists()


def test_ray_address_without_actors_is_refused(tmp_path, capsys):
    assert main(["train", "CartPole-v1", "--ray-address", "auto", "--run-dir", str(tmp_path / "run")]) == 2
    assert "add --actors N" in capsys.readouterr().err


# --- on a local Ray instance ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(include_dashboard=False, num_cpus=2, log_to_driver=False)
    yield ray
    ray.shutdown()


def apex_config(*assignments: str) -> Config:
    from dqnlab.presets import preset_config

    config = preset_config("cartpole", "CartPole-v1")
    return apply_overrides(
        config,
        parse_assignments(
            [
                "distributed.actors=2",
                "replay.prioritized=true",
                "tensorboard=false",
                "learning.learning_starts=500",
                "evaluation.episodes=3",
                "diagnostics.plot_every=0",
                *assignments,
            ]
        ),
    )


def start_apex(config: Config, steps: int, run_dir, **kwargs):
    from dqnlab.agent import Agent
    from dqnlab.training.loop import TrainingLoop

    return TrainingLoop(Agent(config), steps, run_dir, False, **kwargs)


class When:
    """Runs `action` in a thread as soon as `condition()` holds, watching until `stop()` (call it once
    the run has returned) or a generous ceiling; `fired` says whether the action ran."""

    def __init__(self, condition, action, ceiling_s: float = 600.0) -> None:
        self.fired = threading.Event()
        self._stopped = threading.Event()

        def watch() -> None:
            deadline = time.monotonic() + ceiling_s
            while not self._stopped.is_set() and time.monotonic() < deadline:
                if condition():
                    action()
                    self.fired.set()
                    return
                time.sleep(0.01)

        self._thread = threading.Thread(target=watch, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()


def test_killed_actor_is_replaced_and_weights_reach_actors(ray_local, tmp_path):
    loop = start_apex(apex_config("evaluation.every=3500", "learning.train_freq=4"), 7000, tmp_path / "run")
    at_kill = {}

    def kill() -> None:
        at_kill["updates"] = loop.agent.learner.gradient_steps
        # a crash of every actor: Ray restarts them. With one survivor, a fast machine could finish the
        # run before a restarted actor sends data; with none, the run can only go on with their data.
        for actor in loop.collector.actors:
            ray_local.kill(actor, no_restart=False)

    killer = When(lambda: len(loop.collector.actors) == 2 and loop.agent.env_steps >= 1000, kill)
    summary = loop.run()
    killer.stop()
    assert killer.fired.is_set(), f"no actor was killed: the run ended ({summary['steps']} steps) before the kill"

    assert summary["steps"] >= 7000 and summary["actor_restarts"] >= 1  # the new actor sent data
    assert summary["gradient_steps"] > at_kill["updates"] + 100  # learning went on after the kill
    assert summary["weights_version"] > 2
    assert min(summary["actor_weight_versions"]) > 1  # every actor pulled weights published after the start
    assert summary["actor_epsilons"] == pytest.approx([0.4, 0.4**8], rel=1e-3)  # rounded to 6 digits
    run = tmp_path / "run"
    for name in [
        "config.toml",
        "metrics.csv",
        "eval.csv",
        "summary.json",
        "checkpoints/best.pt",
        "checkpoints/last.pt",
    ]:
        assert (run / name).is_file(), name
    assert (run / "metrics.csv").read_text().splitlines()[0] == "step,episode,return,length,epsilon,loss,q_mean"
    assert len((run / "eval.csv").read_text().splitlines()) == 3  # header and 2 evaluations
    assert "actors = 2" in (run / "config.toml").read_text()


def test_interrupted_run_resumes_from_its_checkpoint(ray_local, tmp_path):
    run = tmp_path / "run"
    loop = start_apex(
        apex_config(
            "evaluation.every=0",
            "checkpoint.every=500",
            "distributed.actors=1",
            "distributed.replay_shards=2",
            "learning.train_freq=4",
        ),
        2000,
        run,
    )
    assert loop.checkpointer is not None

    def ask_to_stop() -> None:
        loop.checkpointer.stop_signal = signal.SIGTERM  # what SIGTERM's handler does

    stopper = When(lambda: loop.agent.env_steps >= 1000, ask_to_stop)
    try:
        loop.run()
    except TrainingInterrupted:
        pass
    else:
        pytest.fail("the run finished without stopping: the stop was asked for too late or not at all")
    finally:
        stopper.stop()
    assert stopper.fired.is_set()
    interrupted_updates = loop.agent.learner.gradient_steps
    assert interrupted_updates > 0

    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] >= 2000 and summary["replay_shards"] == 2
    assert summary["gradient_steps"] > interrupted_updates  # counters go on from the checkpoint
    steps = [int(line.split(",")[0]) for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == sorted(steps)  # logs cut back to the checkpoint, then appended to
    assert not list((run / "checkpoints").glob("state-*"))  # a finished run keeps best.pt and last.pt only


def test_train_with_actors_through_the_cli(ray_local, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "CartPole-v1", "--preset", "cartpole", "--actors", "1", "--steps", "600", "--no-progress"]
    args += ["--run-dir", str(run), "--set", "learning.learning_starts=300", "--set", "evaluation.episodes=2"]
    assert main(args) == 0
    config = (run / "config.toml").read_text()
    assert "actors = 1" in config and "prioritized = true" in config  # --actors replays by priority
    summary = json.loads((run / "summary.json").read_text())
    assert summary["actors"] == 1 and summary["steps"] >= 600 and summary["gradient_steps"] > 0
    out = capsys.readouterr().out
    assert "run directory:" in out
    assert "--actors: replay.prioritized = true, as in Ape-X" in out  # said, not done silently


@pytest.mark.slow
def test_two_actors_learn_cartpole(ray_local, tmp_path):
    # Bounded: at most 50k env steps, stopping once an evaluation reaches 150, far above a random
    # policy's 20 though short of solving (475): on two cores, asynchronous runs reached 150 between 5k
    # and 12.5k steps, and plateaus of 100-180 happened, which a higher bar would turn into flakes. The
    # budget is wide because actors outpace a learner that shares a busy machine (it then takes fewer
    # gradient steps per env step, as Ape-X's does): beside four training jobs, one run's best in 25k
    # steps was 129.4.
    config = apex_config("evaluation.every=2500", "evaluation.episodes=5", "evaluation.target_return=150")
    summary = start_apex(config, 50_000, tmp_path / "run").run()
    assert summary["best_eval_return"] >= 150, summary


def test_experiment_through_ray_writes_the_same_report_files(ray_local, tmp_path):
    args = [
        "experiment",
        "CartPole-v1",
        "--preset",
        "cartpole",
        "--seeds",
        "1",
        "--steps",
        "200",
        "--set",
        "learning.learning_starts=100",
        "--set",
        "evaluation.every=100",
        "--set",
        "evaluation.episodes=2",
        "--set",
        "tensorboard=false",
    ]
    assert main([*args, "--out", str(tmp_path / "local")]) == 0
    assert main([*args, "--ray", "--out", str(tmp_path / "ray")]) == 0

    def files(root):
        return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())

    assert files(tmp_path / "ray") == files(tmp_path / "local")
    local = json.loads((tmp_path / "local" / "runs" / "base" / "seed-0" / "summary.json").read_text())
    remote = json.loads((tmp_path / "ray" / "runs" / "base" / "seed-0" / "summary.json").read_text())
    assert remote["steps"] == local["steps"] == 200
    # the same seed on the same machine: the same run, wherever it ran
    assert remote["best_eval_return"] == local["best_eval_return"]


def test_starting_ray_prints_nothing():
    """Ray's token-authentication warning and "Started a local Ray instance" came through the progress bar."""
    pytest.importorskip("ray")
    starts_and_stops = "from dqnlab.distributed import init_ray; init_ray(None).shutdown()"
    result = subprocess.run([sys.executable, "-c", starts_and_stops], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_config_rejects_bad_distributed_values():
    from dqnlab.errors import ConfigError

    with pytest.raises(ConfigError, match="distributed.actors"):
        dataclasses.replace(Config().distributed, actors=-1)
