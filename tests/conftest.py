"""Shared fixtures: tiny deterministic envs whose transitions can be worked out by hand, and the
re-evaluation of a run's kept model on fresh seeds for the learning tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from dqnlab.config import Config, apply_overrides


class CountingEnv(gym.Env):
    """Observation is [t, episode_index]; terminates at t == 3 (truncation is left to TimeLimit).

    Every step's observations are predictable, so stored transitions can be checked exactly.
    """

    observation_space = gym.spaces.Box(0.0, 1000.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, terminate_at: int = 3) -> None:
        self.terminate_at = terminate_at
        self.t = 0
        self.episode = -1

    def _obs(self) -> np.ndarray:
        return np.array([self.t, self.episode], dtype=np.float32)

    def reset(self, *, seed=None, options=None):  # type: ignore[no-untyped-def]
        super().reset(seed=seed)
        self.t = 0
        self.episode += 1
        return self._obs(), {}

    def step(self, action):  # type: ignore[no-untyped-def]
        self.t += 1
        return self._obs(), 1.0, self.t >= self.terminate_at, False, {}


COUNTING_TERMINATES = "dqnlab-test/CountingTerminates-v0"
COUNTING_TRUNCATES = "dqnlab-test/CountingTruncates-v0"

if COUNTING_TERMINATES not in gym.registry:
    gym.register(COUNTING_TERMINATES, entry_point=CountingEnv, kwargs={"terminate_at": 3})
    # never terminates within its time limit of 2 steps: every episode end is a truncation
    gym.register(COUNTING_TRUNCATES, entry_point=CountingEnv, kwargs={"terminate_at": 10**9}, max_episode_steps=2)


class OpaqueCountingEnv(CountingEnv):
    """CountingEnv holding an object dqnlab cannot capture (as a Box2D world would be): checkpoints
    save a marker for it, and a resume starts it on a fresh episode."""

    def __init__(self, terminate_at: int = 3) -> None:
        super().__init__(terminate_at)
        self.world = object()


OPAQUE = "dqnlab-test/Opaque-v0"

if OPAQUE not in gym.registry:
    gym.register(OPAQUE, entry_point=OpaqueCountingEnv, kwargs={"terminate_at": 7})


FRESH_SEED = 12345  # runs evaluate on seeds seed + 10,000 onwards (training/lane.py): these are new to them


@pytest.fixture
def reevaluate() -> Callable[..., np.ndarray]:
    """Learning tests keep the best model of a run on one hand-picked seed; this plays that kept model
    again on evaluation seeds the run never saw, so that a lucky evaluation cannot pass a test."""
    from dqnlab import Agent
    from dqnlab.training.evaluation import evaluate

    def returns_of_kept_model(run_dir: Path, episodes: int = 10) -> np.ndarray:
        """Returns of `episodes` greedy episodes of the run's checkpoints/best.pt, on fresh seeds."""
        agent = Agent.load(Path(run_dir) / "checkpoints" / "best.pt")
        config = agent.config
        return evaluate(agent.act_batch, config.env_id, episodes, config.evaluation.epsilon, FRESH_SEED, config.atari)

    return returns_of_kept_model


def config_from(base: dict[str, Any], overrides: dict[str, Any]) -> Config:
    """A `Config` from a test's small base values with `overrides` laid over them, one section deep:
    a dict merges into the section of the same name, any other value replaces the key."""
    values = dict(base)
    for key, value in overrides.items():
        values[key] = {**values.get(key, {}), **value} if isinstance(value, dict) else value
    return apply_overrides(Config(), values)
