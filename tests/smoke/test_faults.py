"""Faults during training: nan losses, an env that raises, a full disk, Ctrl-C, and bad --resume input.
Each stops with one clear line and leaves a checkpoint that resumes."""

from __future__ import annotations

import errno
import json
import math
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import gymnasium as gym
import pytest
import torch
from gymnasium.envs.classic_control import CartPoleEnv

from conftest import config_from
from dqnlab import Agent, Config
from dqnlab.cli import main
from dqnlab.errors import CheckpointError, EnvError, NonFiniteError, TrainingInterrupted
from dqnlab.learner import DQNLearner
from dqnlab.training import snapshot
from dqnlab.training.checkpointing import Checkpointer
from dqnlab.training.lane import Lane
from dqnlab.training.resume import resume_training
from dqnlab.training.snapshot import latest_snapshot, list_snapshots

FLAKY = "dqnlab-test/FlakyCartPole-v1"
_FAIL_AT_CALL = {"call": None, "calls": 0}  # module state, so the env's own state stays CartPole's


class FlakyCartPole(CartPoleEnv):
    """CartPole whose n-th step (counted over all instances) raises, as a crashing simulator would."""

    def step(self, action):  # type: ignore[no-untyped-def]
        _FAIL_AT_CALL["calls"] += 1
        if _FAIL_AT_CALL["calls"] == _FAIL_AT_CALL["call"]:
            raise RuntimeError("simulator lost its connection\nsecond line of detail")
        return super().step(action)


if FLAKY not in gym.registry:
    gym.register(FLAKY, entry_point=FlakyCartPole, max_episode_steps=500, reward_threshold=475.0)


def _config(**values) -> Config:
    base = {
        "env_id": "CartPole-v1",
        "seed": 3,
        "steps": 600,
        "device": "cpu",
        "tensorboard": False,
        "network": {"hidden_sizes": [16]},
        "learning": {"learning_starts": 100, "batch_size": 16},
        "evaluation": {"every": 200, "episodes": 2, "stop_at_target": False},
        "diagnostics": {"plot_every": 0},
        "checkpoint": {"every": 200},
    }
    return config_from(base, values)


def _nan_at(monkeypatch, gradient_step: int, poison_weights: bool = False) -> None:
    update = DQNLearner.update

    def faulty(self, batch):
        stats = update(self, batch)
        if self.gradient_steps == gradient_step:
            if poison_weights:  # weights go bad unnoticed; the next loss shows it
                with torch.no_grad():
                    next(self.online.parameters()).fill_(math.nan)
                return stats
            return stats._replace(loss=math.nan)
        return stats

    monkeypatch.setattr(DQNLearner, "update", faulty)


def test_a_nan_loss_stops_training_naming_the_step(tmp_path, monkeypatch):
    _nan_at(monkeypatch, 150)
    with pytest.raises(NonFiniteError) as error:
        Agent(_config()).learn(run_dir=tmp_path / "run")
    message = str(error.value)
    # updates start at env step 100, so gradient step 150 is taken at env step 249
    assert "non-finite loss (nan) at env step 249, gradient step 150; training stopped" in message
    assert f"the checkpoint of env step 200 can be resumed: dqnlab train --resume {tmp_path / 'run'}" in message
    assert "\n" not in message


def test_nonfinite_weights_are_never_saved_as_best(tmp_path, monkeypatch):
    _nan_at(monkeypatch, 101, poison_weights=True)  # env step 200, just before its evaluation
    with pytest.raises(NonFiniteError, match="non-finite network parameters at env step 200: not checkpointed"):
        Agent(_config()).learn(run_dir=tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints" / "best.pt").exists()


def test_rollback_reloads_the_last_checkpoints_networks_and_goes_on(tmp_path, monkeypatch, capsys):
    """Both networks go non-finite after gradient step 150 (env step 249), so the next loss is nan; the
    rollback must bring back the networks of the newest checkpoint, env step 200, taken after gradient
    step 101: what the networks held when gradient step 102 began."""
    agent = Agent(_config(checkpoint={"on_nonfinite": "rollback"}))
    learner, update = agent.learner, agent.learner.update
    calls = 0
    networks_at: dict[int, dict[str, dict[str, torch.Tensor]]] = {}  # gradient step -> networks when it began

    def poisoned_after_150(batch):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls in (102, 152):  # the state at checkpoint 200; the first update after the rollback
            networks_at[calls] = {
                name: {key: value.detach().clone() for key, value in network.state_dict().items()}
                for name, network in (("online", learner.online), ("target", learner.target))
            }
        stats = update(batch)
        if calls == 150:  # weights go bad unnoticed; the next loss shows it
            with torch.no_grad():
                for parameter in [*learner.online.parameters(), *learner.target.parameters()]:
                    parameter.fill_(math.nan)
        return stats

    learner.update = poisoned_after_150  # type: ignore[method-assign]
    summary = agent.learn(run_dir=tmp_path / "run")
    assert summary["steps"] == 600
    err = capsys.readouterr().err
    assert "non-finite loss (nan) at env step 250, gradient step 151" in err
    assert "networks and optimizer rolled back to state-000000000200 (1 of 3 rollbacks)" in err
    for name, tensors in networks_at[102].items():
        for key, value in tensors.items():
            assert torch.equal(networks_at[152][name][key], value), (name, key)


def test_an_env_that_raises_stops_with_a_message_and_resumes_to_the_same_result(tmp_path, monkeypatch):
    config = _config(env_id=FLAKY)
    _FAIL_AT_CALL.update(call=None, calls=0)
    Agent(config).learn(run_dir=tmp_path / "reference")
    _FAIL_AT_CALL.update(call=560, calls=0)  # steps of training and evaluation envs together (670 in all)
    run = tmp_path / "run"
    wall_s = Lane.wall_s
    monkeypatch.setattr(Lane, "wall_s", lambda lane: wall_s(lane) + 1000.0)  # a first process of 1000 s
    with pytest.raises(EnvError) as error:
        Agent(config).learn(run_dir=run)
    monkeypatch.undo()
    message = str(error.value)
    assert message.startswith(f"env {FLAKY} raised RuntimeError: simulator lost its connection at env step ")
    step, _ = latest_snapshot(run / "checkpoints")
    assert step > 0 and f"the checkpoint of env step {step} can be resumed: dqnlab train --resume {run}" in message
    assert "\n" not in message
    _FAIL_AT_CALL.update(call=None)
    summary = resume_training(run)
    assert (run / "metrics.csv").read_bytes() == (tmp_path / "reference" / "metrics.csv").read_bytes()
    # the time spent before the fault counts: the checkpoint carries it to the summary
    assert 1000.0 < summary["wall_s"] < 1000.0 + 300
    assert summary["steps_per_s"] == round(summary["steps"] / summary["wall_s"], 1)


def test_a_full_disk_stops_training_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch, capsys):
    write = snapshot._CrcWriter.write
    full = {"on": False}

    def maybe_full(self, data):
        if full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(self, data)

    monkeypatch.setattr(snapshot._CrcWriter, "write", maybe_full)
    original_write_snapshot = snapshot.write_snapshot

    def fill_disk_after_step_200(directory, step, *args, **kwargs):
        full["on"] = step > 200
        return original_write_snapshot(directory, step, *args, **kwargs)

    monkeypatch.setattr("dqnlab.training.checkpointing.write_snapshot", fill_disk_after_step_200)
    run = tmp_path / "run"
    with pytest.raises(
        CheckpointError, match="step 400 .*No space left on device; the checkpoint of step 200 is intact"
    ):
        Agent(_config()).learn(run_dir=run)
    assert [step for step, _ in list_snapshots(run / "checkpoints")] == [200, 0]
    monkeypatch.undo()
    assert resume_training(run)["steps"] == 600


def test_resume_refuses_what_it_cannot_resume_in_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    finished = tmp_path / "finished"
    finished.mkdir()
    (finished / "summary.json").write_text("{}")
    cases = [
        (["train", "--resume", str(tmp_path / "missing")], "no such run directory"),
        (["train", "--resume", str(tmp_path / "empty")], "is not a resumable dqnlab run: no checkpoints/state-*"),
        (["train", "--resume", str(finished)], "has finished (it has summary.json); to train it further"),
        (
            ["train", "CartPole-v1", "--resume", str(finished), "--seed", "5"],
            "--resume continues a run with its own config; drop env_id, --seed",
        ),
        (["train", "--resume", str(finished), "--steps", "0"], "--steps must be >= 1"),
        (["train"], "train needs an env id"),
        (["train", "CartPole-v1", "--checkpoint-every", "-1"], "checkpoint.every must be >= 0"),
        (["train", "CartPole-v1", "--set", "checkpoint.keep_last=0"], "checkpoint.keep_last must be >= 1"),
        (["train", "CartPole-v1", "--set", "checkpoint.on_nonfinite=retry"], "checkpoint.on_nonfinite must be one of"),
        (["train", "CartPole-v1", "--seed", "-1"], "seed must be in [0, 2^32)"),
        (["train", "CartPole-v1", "--run-dir", str(finished / "summary.json")], "is a file, not a directory"),
        (
            ["train", "CartPole-v1", "--run-dir", str(tmp_path / "huge"), "--set", "replay.capacity=1000000000000"],
            "out of memory: Unable to allocate",
        ),
    ]
    for args, message in cases:
        assert main(args) == 2, args
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], (args, lines)


def _interrupted_run(run: Path, monkeypatch, step: int, **config) -> None:
    """A run stopped at `step` as Ctrl-C stops it (in-process: the handler's flag is set at that step)."""
    after_step = Checkpointer.after_step

    def interrupt_at(self, previous_step):
        if self.loop.agent.env_steps == step:
            self.stop_signal = signal.SIGINT
        after_step(self, previous_step)

    with monkeypatch.context() as patch:
        patch.setattr(Checkpointer, "after_step", interrupt_at)
        with pytest.raises(TrainingInterrupted, match=f"SIGINT at env step {step}: checkpoint written"):
            Agent(_config(**config)).learn(run_dir=run)


def test_a_finished_run_keeps_its_networks_but_not_its_training_state(tmp_path):
    run = tmp_path / "run"
    Agent(_config(steps=200)).learn(run_dir=run)
    assert sorted(path.name for path in (run / "checkpoints").iterdir()) == ["best.pt", "last.pt"]


def test_a_run_with_all_checkpoints_damaged_says_so(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    _interrupted_run(run, monkeypatch, 150)
    for _, folder in list_snapshots(run / "checkpoints"):
        (folder / "state.json").write_text("{}")
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dqnlab: error: no readable checkpoint in") and "state.json has 2 bytes" in err


SUBPROCESS_CEILING_S = 180.0  # generous: a loaded 2-core machine can take a minute to start Python and torch


def _wait_for(predicate, what: str, timeout_s: float = SUBPROCESS_CEILING_S) -> None:
    """Waits until `predicate()` holds; fails naming `what` did not happen within the ceiling."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: did not happen within {timeout_s:.0f} s"
        time.sleep(0.05)


def _data_rows(path: Path) -> int:
    return max(len(path.read_text().splitlines()) - 1, 0) if path.is_file() else 0


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_writes_a_checkpoint_and_prints_the_resume_command(tmp_path, sig, code):
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "dqnlab.cli",
        "train",
        "CartPole-v1",
        "--steps",
        "100000",
        "--no-progress",
        "--run-dir",
        str(run),
        "--checkpoint-every",
        "0",
        "--set",
        "tensorboard=false",
        "--set",
        "network.hidden_sizes=[16]",
        "--set",
        "learning.learning_starts=50",
        "--set",
        "evaluation.every=200",
        "--set",
        "evaluation.episodes=1",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        # an evaluation row is written after the start's checkpoint, once training has gone past step 0
        _wait_for(
            lambda: (
                process.poll() is not None or (_data_rows(run / "eval.csv") > 0 and list_snapshots(run / "checkpoints"))
            ),
            "a first checkpoint and an evaluation row in eval.csv from the training process",
        )
        assert process.poll() is None, f"the training process exited early: {process.communicate()[1]}"
        process.send_signal(sig)
        try:
            _, err = process.communicate(timeout=SUBPROCESS_CEILING_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the training process did not exit within {SUBPROCESS_CEILING_S:.0f} s of {sig.name}")
    finally:
        process.kill()
    assert process.returncode == code
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"dqnlab: stopped: {sig.name} at env step ")
    assert lines[0].endswith(f"resume with: dqnlab train --resume {run}")
    step, _ = latest_snapshot(run / "checkpoints")
    assert step > 0 and f"env step {step}:" in lines[0]
    assert not (run / "summary.json").exists()


def _rewrite_state(folder: Path, edit) -> None:  # type: ignore[no-untyped-def]
    """Edits a checkpoint's state.json and updates its manifest, as a newer dqnlab or a person might."""
    document = json.loads((folder / "state.json").read_text())
    edit(document["state"])
    text = json.dumps(document).encode()
    (folder / "state.json").write_bytes(text)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["state.json"] = {"bytes": len(text), "crc32": zlib.crc32(text)}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_checkpoint_for_another_env_is_refused_on_resume(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _interrupted_run(run, monkeypatch, 150)
    _, folder = latest_snapshot(run / "checkpoints")
    # the run's config now names an env with other observations: resuming must refuse, not guess
    _rewrite_state(folder, lambda state: state["config"].update(env_id="Acrobot-v1"))
    with pytest.raises(CheckpointError, match=r"saved for observations \(4,\) and 2 actions; Acrobot-v1 has \(6,\)"):
        resume_training(run)


@pytest.mark.parametrize("key", ["rng", "collector/replay", "collector/envs", "collector/obs", "loop", "counters"])
def test_a_malformed_training_state_is_refused_in_one_line(tmp_path, monkeypatch, capsys, key):
    run = tmp_path / "run"
    _interrupted_run(run, monkeypatch, 150)
    _, folder = latest_snapshot(run / "checkpoints")
    *parents, last = key.split("/")

    def drop(state):
        for name in parents:
            state = state[name]
        state.pop(last)

    _rewrite_state(folder, drop)
    assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "malformed" in lines[0] and last in lines[0], lines


def test_kill_9_at_random_moments_never_leaves_an_unreadable_latest_checkpoint(tmp_path):
    """SIGKILL while training and checkpointing often; each time the newest checkpoint verifies and loads.
    (10 kills in the slow test below; 2 here.)"""
    _kill_repeatedly(tmp_path, kills=2)


@pytest.mark.slow  # each kill restarts python, torch and gymnasium: about 7 s a kill on the 2-core machine
def test_kill_9_ten_times_then_resume_to_completion_bit_identical(tmp_path):
    _kill_repeatedly(tmp_path, kills=10, compare=True)


def _newest(run: Path) -> int:
    found = list_snapshots(run / "checkpoints")
    return found[0][0] if found else -1


def _kill_repeatedly(tmp_path: Path, kills: int, compare: bool = False) -> None:
    import random

    from dqnlab.training.snapshot import read_snapshot

    run = tmp_path / "run"
    settings = ["tensorboard=false", "network.hidden_sizes=[16]", "learning.learning_starts=50", "evaluation.every=500",
                "evaluation.episodes=2", "diagnostics.plot_every=0", "checkpoint.keep_last=2", "replay.n_step=3",
                "replay.prioritized=true"]  # fmt: skip
    # long enough that every kill lands in training: a round trains at most a few hundred steps
    # (one checkpoint of 100, then under 0.4 s), however fast the machine
    args = ["--steps", str(600 * kills + 1000), "--seed", "5", "--no-progress", "--checkpoint-every", "100"]
    for setting in settings:
        args += ["--set", setting]
    fresh = [sys.executable, "-m", "dqnlab.cli", "train", "CartPole-v1", "--run-dir", str(run), *args]
    again = [sys.executable, "-m", "dqnlab.cli", "train", "--resume", str(run), "--no-progress"]
    rng = random.Random(0)
    done = 0
    for _ in range(kills):
        started = list_snapshots(run / "checkpoints")
        before = started[0][0] if started else -1
        process = subprocess.Popen(again if started else fresh, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # once the process has written a checkpoint of its own, it is training: kill it at a random moment
        _wait_for(
            lambda p=process, b=before: p.poll() is not None or _newest(run) > b,
            f"a checkpoint newer than step {before} from the (re)started run, or its exit",
        )
        time.sleep(rng.uniform(0.0, 0.4))  # short: a fast machine must not finish the run between kills
        process.kill()
        process.wait()
        if (run / "summary.json").exists():
            break
        assert process.returncode == -signal.SIGKILL, process.stderr.read() if process.stderr else ""
        step, folder = latest_snapshot(run / "checkpoints")
        read_snapshot(folder)  # loads: every file verified
        done += 1
    assert done == kills  # the run never finished before its last kill
    if compare:
        if not (run / "summary.json").exists():
            assert subprocess.run(again, capture_output=True).returncode == 0
        reference = tmp_path / "reference"
        assert subprocess.run([*fresh[:6], str(reference), *args], capture_output=True).returncode == 0
        assert (run / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()
        ref = torch.load(reference / "checkpoints" / "last.pt", weights_only=True)["q_network"]
        got = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["q_network"]
        assert all(torch.equal(ref[key], got[key]) for key in ref)


def test_a_full_disk_while_logging_stops_in_one_line_and_resumes(tmp_path, monkeypatch, capsys):
    from dqnlab.diagnostics.logger import RunLogger

    on_episode = RunLogger.on_episode

    def full_after_step_300(self, record):
        if record.step > 300:
            raise OSError(errno.ENOSPC, "No space left on device", "metrics.csv")
        on_episode(self, record)

    run = tmp_path / "run"
    argv = ["train", "CartPole-v1", "--steps", "500", "--run-dir", str(run), "--no-progress"]
    argv += ["--checkpoint-every", "200"]
    for setting in ["tensorboard=false", "network.hidden_sizes=[16]", "learning.learning_starts=100",
                    "evaluation.every=0", "evaluation.episodes=1"]:  # fmt: skip
        argv += ["--set", setting]
    with monkeypatch.context() as patch:
        patch.setattr(RunLogger, "on_episode", full_after_step_300)
        assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"dqnlab: error: No space left on device (metrics.csv); training stopped; once fixed, "
                     f"resume from the last checkpoint: dqnlab train --resume {run}"]  # fmt: skip
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
