"""Replay memory: storage plus a sampler, behind the two calls the training loop needs."""

from __future__ import annotations

import numpy as np

from dqnlab.replay.storage import RingStorage
from dqnlab.replay.uniform import UniformSampler
from dqnlab.types import Batch


class ReplayMemory:
    """Stores transitions from N envs at a time and samples training batches.

    Capacity 1 keeps only the latest transition, which turns DQN into online Q-learning.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype,
        rng: np.random.Generator,
    ) -> None:
        self.storage = RingStorage(capacity, obs_shape, obs_dtype)
        self.sampler = UniformSampler(rng)

    def __len__(self) -> int:
        return self.storage.size

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        discounts: np.ndarray,
    ) -> None:
        """Stores one transition per env; `next_obs` must be the real final observation at an episode end."""
        self.storage.add(obs, actions, rewards, next_obs, discounts)

    def sample(self, batch_size: int) -> Batch:
        slots = self.sampler.sample(self.storage.size, batch_size)
        obs, actions, rewards, next_obs, discounts = self.storage.gather(slots)
        return Batch(obs, actions, rewards, next_obs, discounts, weights=None, indices=slots)
