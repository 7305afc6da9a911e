"""Replay memory, composed of an n-step accumulator, storage, and a uniform or prioritized sampler.

Each part saves and loads its own state: `state_dict()` returns a nested dict of numpy arrays and
plain scalars (int, float, bool, str), and `load_state_dict(state)` restores it into a part built
from the same config. Checkpoints write the arrays as .npy files, never pickled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dqnlab.replay.memory import ReplayMemory
from dqnlab.replay.n_step import NStepAccumulator
from dqnlab.replay.prioritized import PrioritizedSampler
from dqnlab.replay.storage import RingStorage
from dqnlab.replay.sum_tree import SumTree
from dqnlab.replay.uniform import UniformSampler

if TYPE_CHECKING:
    import gymnasium as gym

    from dqnlab.config import Config


def build_replay(
    config: Config, observation_space: gym.spaces.Box, rng: np.random.Generator, *, beta_steps: int
) -> ReplayMemory:
    """Temporary shim (tests branch): the memory `config` describes; the engine rebuild provides the real one."""
    return ReplayMemory.from_config(
        config.replay,
        observation_space.shape,
        observation_space.dtype,
        rng,
        gamma=config.learning.gamma,
        num_envs=config.num_envs,
        beta_steps=beta_steps,
    )


__all__ = [
    "build_replay",
    "NStepAccumulator",
    "PrioritizedSampler",
    "ReplayMemory",
    "RingStorage",
    "SumTree",
    "UniformSampler",
]
