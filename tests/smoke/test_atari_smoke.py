"""Space Invaders from pixels, in-process: a few hundred steps of the atari-dqn preset, then an
evaluation with a video, through the API and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dqnlab.agent import Agent
from dqnlab.cli import main
from dqnlab.config import apply_overrides
from dqnlab.envs.atari_scores import human_normalized_score
from dqnlab.presets import preset_config
from dqnlab.replay import FrameStorage
from dqnlab.training.loop import TrainingLoop

SPACE_INVADERS = "ALE/SpaceInvaders-v5"
# Short: learning from step 100, a small replay, one evaluation game cut at 400 frames (100 steps).
SMALL = {
    "tensorboard": False,
    "learning": {"learning_starts": 100},
    "replay": {"capacity": 1000},
    "evaluation": {"every": 0, "episodes": 1},
    "atari": {"max_episode_frames": 400},
}


@pytest.mark.parametrize("preset", ["atari-dqn", "atari-rainbow"])
def test_atari_presets_train_space_invaders_from_frames_and_report_the_normalized_score(preset, tmp_path):
    config = apply_overrides(preset_config(preset, SPACE_INVADERS), SMALL)
    agent = Agent(config)
    loop = TrainingLoop(agent, 300, tmp_path / "run", progress=False)
    summary = loop.run()
    assert isinstance(loop.collector.replay.storage, FrameStorage)  # image observations chose frame storage
    assert summary["steps"] == 300 and summary["gradient_steps"] == (300 - 100) // 4 + 1
    assert summary["best_eval_score"] == summary["best_eval_return"]
    expected = human_normalized_score(SPACE_INVADERS, summary["best_eval_score"])
    assert summary["human_normalized_score"] == pytest.approx(expected, abs=1e-4)
    written = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert written["human_normalized_score"] == summary["human_normalized_score"]
    batch = loop.collector.replay.sample(4)
    assert batch.obs.shape == (4, 4, 84, 84) and batch.obs.dtype == np.uint8


def test_cli_trains_atari_dqn_and_evaluates_with_a_video(tmp_path, capsys):
    run_dir = tmp_path / "run"
    overrides = [
        "tensorboard=false",
        "learning.learning_starts=100",
        "replay.capacity=1000",
        "evaluation.every=0",
        "evaluation.episodes=1",
        "atari.max_episode_frames=400",
    ]
    args = ["train", SPACE_INVADERS, "--preset", "atari-dqn", "--steps", "200", "--run-dir", str(run_dir)]
    for override in overrides:
        args += ["--set", override]
    assert main(args) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["preset"] == "atari-dqn" and "human_normalized_score" in summary
    video = tmp_path / "game.mp4"
    assert main(["evaluate", str(run_dir), "--episodes", "1", "--video", str(video)]) == 0
    assert video.stat().st_size > 1000
