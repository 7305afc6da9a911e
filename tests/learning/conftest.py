"""Learning tests keep the best model of a run on one hand-picked seed; `reevaluate` plays that kept
model again on evaluation seeds the run never saw, so a lucky evaluation cannot pass a test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from dqnlab import Agent
from dqnlab.training.evaluation import evaluate

FRESH_SEED = 12345  # the runs evaluate on seeds seed + 10,000 onwards (training/loop.py)


@pytest.fixture
def reevaluate() -> Callable[..., np.ndarray]:
    def returns_of_kept_model(run_dir: Path, episodes: int = 10) -> np.ndarray:
        """Returns of `episodes` greedy episodes of the run's best.pt, on fresh seeds."""
        agent = Agent.load(Path(run_dir) / "checkpoints" / "best.pt")
        config = agent.config
        return evaluate(agent.act_batch, config.env_id, episodes, config.evaluation.epsilon, FRESH_SEED, config.atari)

    return returns_of_kept_model
