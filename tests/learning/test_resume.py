"""Resume equivalence: a run stopped at a checkpoint and resumed ends bit-identical to one that never
stopped (CPU): same metrics.csv, eval.csv, target_updates.csv bytes and the same final weights."""

from __future__ import annotations

import json
import math

import pytest
import torch

from conftest import config_from
from dqnlab import Agent, Config
from dqnlab.config import apply_overrides
from dqnlab.diagnostics.figure import read_csv_rows
from dqnlab.diagnostics.stability import stability_summary
from dqnlab.training.checkpointing import Checkpointer
from dqnlab.training.resume import resume_training
from dqnlab.training.snapshot import latest_snapshot, read_snapshot

LOGS = ("metrics.csv", "eval.csv", "target_updates.csv")


class _Stop(Exception):
    """Ends a run right after the checkpoint of a chosen step, as a crash there would."""


def _config(**overrides) -> Config:
    values = {
        "env_id": "CartPole-v1",
        "seed": 7,
        "steps": 1200,
        "device": "cpu",
        "tensorboard": False,
        "network": {"hidden_sizes": [32, 32]},
        "learning": {"learning_starts": 200, "batch_size": 32, "target_update_interval": 50},
        "exploration": {"decay_steps": 600},
        "evaluation": {"every": 400, "episodes": 2, "stop_at_target": False},
        "diagnostics": {"plot_every": 0},
        "checkpoint": {"every": 250, "keep_last": 2},
    }
    return config_from(values, overrides)


def _crash_at(monkeypatch, step: int) -> None:
    """Raises out of the loop at env `step` (after any checkpoint due there), as a crash would: what
    was logged since the last checkpoint is on disk and must be cut back on resume."""
    after_step = Checkpointer.after_step

    def after_step_then_crash(self, previous_step):
        after_step(self, previous_step)
        if self.loop.agent.env_steps == step:
            raise _Stop

    monkeypatch.setattr(Checkpointer, "after_step", after_step_then_crash)


def _logged_past_checkpoint(run_dir) -> bool:
    """Whether metrics.csv holds rows written after the newest checkpoint."""
    _, folder = latest_snapshot(run_dir / "checkpoints")
    recorded = read_snapshot(folder)[0]["logs"]["metrics.csv"]
    return (run_dir / "metrics.csv").stat().st_size > recorded


def _weights(run_dir):
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["q_network"]


# summary.json keys that measure time, not what was learned
TIMING_KEYS = {"wall_s", "train_s", "steps_per_s", "solved_at_s"}


def _assert_same_summary(reference, resumed):
    """The stability measures (over every evaluation, those before the stop included) and the rest of
    the summary are those of the uninterrupted run."""
    ref, got = (json.loads((run / "summary.json").read_text()) for run in (reference, resumed))
    assert ref["evaluations"] == got["evaluations"] == 3  # at 400 (before the stop), 800 and 1200
    rows = read_csv_rows(reference / "eval.csv")  # returns written to 6 significant digits
    from_log = stability_summary([int(r["step"]) for r in rows], [float(r["mean_return"]) for r in rows], 475.0)
    for key, value in from_log.items():
        assert ref[key] == (value if value is None else pytest.approx(value, rel=1e-5)), key
    assert {k: v for k, v in got.items() if k not in TIMING_KEYS} == {
        k: v for k, v in ref.items() if k not in TIMING_KEYS
    }


def _assert_same_run(reference, resumed):
    for name in LOGS:
        assert (resumed / name).read_bytes() == (reference / name).read_bytes(), name
    ref, got = _weights(reference), _weights(resumed)
    assert ref.keys() == got.keys()
    for key in ref:
        assert torch.equal(ref[key], got[key]), key


@pytest.mark.slow  # each case trains three runs of 1,200 steps: seconds, not milliseconds
@pytest.mark.parametrize(
    "overrides, crash_at",
    [
        ({}, 620),  # uniform replay, one env; checkpoint 500, crash 120 steps later
        ({"replay": {"n_step": 3, "prioritized": True}}, 880),  # sum tree, n-step queues; an evaluation in between
        ({"num_envs": 2}, 500),  # two envs; crash right after the checkpoint
        ({"network": {"layer_norm": True}}, 620),  # the LayerNorm's scale and shift come back with the weights
    ],
    ids=["uniform", "nstep3-prioritized", "two-envs", "layer-norm"],
)
def test_a_resumed_run_is_bit_identical_to_an_uninterrupted_one(tmp_path, monkeypatch, overrides, crash_at):
    config = _config(**overrides)
    reference = tmp_path / "reference"
    Agent(config).learn(run_dir=reference)

    stopped = tmp_path / "stopped"
    with monkeypatch.context() as patch:
        _crash_at(patch, crash_at)
        with pytest.raises(_Stop):
            Agent(config).learn(run_dir=stopped)
    assert not (stopped / "summary.json").exists()
    assert _logged_past_checkpoint(stopped) == (crash_at % 250 != 0)  # cut back on resume
    summary = resume_training(stopped)
    assert summary["steps"] == config.steps
    _assert_same_run(reference, stopped)
    _assert_same_summary(reference, stopped)


@pytest.mark.slow
def test_resume_twice_and_with_tensorboard(tmp_path, monkeypatch):
    config = _config(tensorboard=True, steps=900)
    reference = tmp_path / "reference"
    Agent(config).learn(run_dir=reference)
    stopped = tmp_path / "stopped"
    for step in (380, 820):  # checkpoints at 250 and 750; an evaluation at 800
        with monkeypatch.context() as patch:
            _crash_at(patch, step)
            with pytest.raises(_Stop):
                if step == 380:
                    Agent(config).learn(run_dir=stopped)
                else:
                    resume_training(stopped)
    resume_training(stopped)
    _assert_same_run(reference, stopped)
    # TensorBoard: the events logged after each checkpoint by the stopped runs are purged
    assert _tensorboard_scalars(stopped) == _tensorboard_scalars(reference)


def _tensorboard_scalars(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    return {
        tag: [(event.step, "nan" if math.isnan(event.value) else event.value) for event in events.Scalars(tag)]
        for tag in events.Tags()["scalars"]
    }


@pytest.mark.slow  # about 30 s each on an idle 2-core CPU: three short runs of a Nature CNN
@pytest.mark.parametrize("preset", ["atari-dqn", "atari-rainbow"])
def test_atari_with_frame_storage_resumes_bit_identically(tmp_path, monkeypatch, preset):
    """Space Invaders from pixels: the ALE emulator (cloneState with its RNG), the Atari wrappers'
    frame buffers and lives, and the frame-deduplicating replay all come back exactly."""
    from dqnlab.presets import preset_config

    small = {
        "seed": 1,
        "steps": 300,
        "device": "cpu",
        "tensorboard": False,
        "learning": {"learning_starts": 100},
        "replay": {"capacity": 1000},
        "evaluation": {"every": 0, "episodes": 1},
        "atari": {"max_episode_frames": 400},
        "diagnostics": {"plot_every": 0},
        "checkpoint": {"every": 100},
    }
    config = apply_overrides(preset_config(preset, "ALE/SpaceInvaders-v5"), small)
    reference = tmp_path / "reference"
    Agent(config).learn(run_dir=reference)
    stopped = tmp_path / "stopped"
    with monkeypatch.context() as patch:
        _crash_at(patch, 250)
        with pytest.raises(_Stop):
            Agent(config).learn(run_dir=stopped)
    resume_training(stopped)
    _assert_same_run(reference, stopped)


@pytest.mark.slow
@pytest.mark.parametrize(
    "preset, env_id, extra",
    [
        ("cartpole-rainbow", "CartPole-v1", {}),
        # evaluating on noise from evaluation's own generator, which the checkpoint at 300 carries
        # from the evaluation at 200 to the one at 400
        ("cartpole-rainbow", "CartPole-v1", {"evaluation": {"every": 200, "mean_weights": False}}),
        ("cartpole-linear", "CartPole-v1", {}),
        ("mountaincar-linear", "MountainCar-v0", {}),
    ],
)
def test_presets_resume_bit_identically(tmp_path, monkeypatch, preset, env_id, extra):
    """Noisy nets, dueling and C51 heads; linear Q with its feature map and SGD; a time-limited env."""
    from dqnlab.presets import preset_config

    small = {
        "seed": 2, "steps": 600, "device": "cpu", "tensorboard": False,
        "learning": {"learning_starts": 100},
        "evaluation": {"every": 400, "episodes": 2, "stop_at_target": False},
        "diagnostics": {"plot_every": 0}, "checkpoint": {"every": 300},
    }  # fmt: skip
    config = apply_overrides(apply_overrides(preset_config(preset, env_id), small), extra)
    reference = tmp_path / "reference"
    Agent(config).learn(run_dir=reference)
    stopped = tmp_path / "stopped"
    with monkeypatch.context() as patch:
        _crash_at(patch, 450)
        with pytest.raises(_Stop):
            Agent(config).learn(run_dir=stopped)
    resume_training(stopped)
    _assert_same_run(reference, stopped)
