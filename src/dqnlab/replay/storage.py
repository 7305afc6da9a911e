"""Preallocated ring buffer of transitions in numpy, observation dtype preserved."""

from __future__ import annotations

import numpy as np


class RingStorage:
    """Holds the last `capacity` transitions (s, a, r, s', discount); the oldest is overwritten first."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype: np.dtype) -> None:
        self.capacity = capacity
        self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.discounts = np.zeros(capacity, dtype=np.float32)
        self.position = 0  # next slot to write
        self.size = 0  # slots holding a transition

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        discounts: np.ndarray,
    ) -> np.ndarray:
        """Writes a batch of N transitions (leading axis N); returns the slots written."""
        count = len(actions)
        slots = (self.position + np.arange(count)) % self.capacity
        self.obs[slots] = obs
        self.next_obs[slots] = next_obs
        self.actions[slots] = actions
        self.rewards[slots] = rewards
        self.discounts[slots] = discounts
        self.position = int((self.position + count) % self.capacity)
        self.size = min(self.size + count, self.capacity)
        return slots

    def gather(self, slots: np.ndarray) -> tuple[np.ndarray, ...]:
        """The transitions at `slots`, as (obs, actions, rewards, next_obs, discounts)."""
        return (
            self.obs[slots],
            self.actions[slots],
            self.rewards[slots],
            self.next_obs[slots],
            self.discounts[slots],
        )
