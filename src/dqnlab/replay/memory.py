"""Replay memory: an n-step accumulator, storage and a sampler, behind the calls the training loop needs."""

from __future__ import annotations

import numpy as np

from dqnlab.config import ReplayConfig
from dqnlab.replay.n_step import NStepAccumulator
from dqnlab.replay.prioritized import PrioritizedSampler
from dqnlab.replay.storage import RingStorage
from dqnlab.replay.uniform import UniformSampler
from dqnlab.types import Batch


class ReplayMemory:
    """Stores env steps from N envs at a time as n-step transitions and samples training batches.

    Capacity 1 keeps only the latest transition, which turns DQN into online Q-learning.
    With `prioritized`, batches carry importance-sampling weights, and `update_priorities`
    must be given each sampled transition's new error; the weights' exponent beta moves
    linearly from `beta_start` to 1 over `beta_steps` stored env steps (Schaul et al. 2016).
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype,
        rng: np.random.Generator,
        *,
        gamma: float = 0.99,
        num_envs: int = 1,
        n_step: int = 1,
        reserve_fraction: float = 0.0,
        prioritized: bool = False,
        alpha: float = 0.6,
        beta_start: float = 0.4,
        beta_steps: int = 100_000,
        priority_eps: float = 1e-6,
    ) -> None:
        self.storage = RingStorage(capacity, obs_shape, obs_dtype, reserve_fraction)
        self.accumulator = NStepAccumulator(n_step, gamma, num_envs)
        self.sampler: UniformSampler | PrioritizedSampler
        if prioritized:
            self.sampler = PrioritizedSampler(capacity, alpha, beta_start, priority_eps, rng)
        else:
            self.sampler = UniformSampler(rng)
        self.beta_start = beta_start
        self.beta_steps = max(beta_steps, 1)
        self.env_steps = 0  # env steps given to `add`, all envs counted

    @classmethod
    def from_config(
        cls,
        config: ReplayConfig,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype,
        rng: np.random.Generator,
        *,
        gamma: float,
        num_envs: int,
        beta_steps: int,
    ) -> ReplayMemory:
        """The memory `config` describes, for envs with these observations; beta reaches 1 after `beta_steps`."""
        return cls(
            config.capacity,
            obs_shape,
            obs_dtype,
            rng,
            gamma=gamma,
            num_envs=num_envs,
            n_step=config.n_step,
            reserve_fraction=config.reserve_fraction,
            prioritized=config.prioritized,
            alpha=config.alpha,
            beta_start=config.beta_start,
            beta_steps=beta_steps,
            priority_eps=config.priority_eps,
        )

    def __len__(self) -> int:
        return self.storage.size

    @property
    def beta(self) -> float:
        """The importance-sampling exponent now: beta_start, annealed linearly to 1."""
        fraction = min(self.env_steps / self.beta_steps, 1.0)
        return self.beta_start + fraction * (1.0 - self.beta_start)

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> None:
        """Takes one step of each of the N envs ([N] leading axes).

        `next_obs` must be the real final observation where an episode ended. A termination
        cuts the return (discount 0); a truncation keeps the bootstrap from `next_obs`.
        """
        self.env_steps += len(actions)
        transitions = self.accumulator.add(obs, actions, rewards, next_obs, terminated, truncated)
        if len(transitions.actions):
            slots = self.storage.add(*transitions)
            if isinstance(self.sampler, PrioritizedSampler):
                self.sampler.on_add(slots)

    def sample(self, batch_size: int) -> Batch:
        """A batch of transitions; with prioritized replay, with weights normalized by their max."""
        if isinstance(self.sampler, PrioritizedSampler):
            self.sampler.beta = self.beta
            slots, weights = self.sampler.sample(self.storage.size, batch_size)
        else:
            slots, weights = self.sampler.sample(self.storage.size, batch_size), None
        obs, actions, rewards, next_obs, discounts = self.storage.gather(slots)
        return Batch(obs, actions, rewards, next_obs, discounts, weights=weights, indices=slots)

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """New priorities from the errors |delta| (or losses) of sampled transitions; a no-op when uniform."""
        if isinstance(self.sampler, PrioritizedSampler):
            self.sampler.update(indices, priorities)
