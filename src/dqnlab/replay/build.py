"""`build_replay`: the one place where a `Config` becomes a replay memory and its parts."""

from __future__ import annotations

import gymnasium
import numpy as np

from dqnlab.config import Config, ReplayConfig
from dqnlab.errors import ConfigError
from dqnlab.replay.frames import FrameStorage
from dqnlab.replay.memory import ReplayMemory, Sampler, Storage
from dqnlab.replay.n_step import NStepAccumulator
from dqnlab.replay.prioritized import PrioritizedSampler
from dqnlab.replay.storage import RingStorage
from dqnlab.replay.uniform import UniformSampler


def build_replay(
    config: Config, observation_space: gymnasium.spaces.Space, rng: np.random.Generator, *, beta_steps: int
) -> ReplayMemory:
    """The replay memory `config` describes, for `config.num_envs` envs with these observations.

    `rng` draws the samples; prioritized replay's beta reaches 1 after `beta_steps` env steps.
    `replay.frame_storage` "auto" stores frames once for stacked uint8 frames [k, H, W].
    `learning.gamma` enters replay here, and only here: the n-step accumulator sums discounted
    rewards and stores each transition's discount gamma^k (0 after a termination) for the target.
    """
    replay = config.replay
    shape, dtype = tuple(observation_space.shape or ()), np.dtype(observation_space.dtype)
    frames = len(shape) == 3 and dtype == np.uint8
    if replay.frame_storage == "on" and not frames:
        raise ConfigError(
            f'replay.frame_storage = "on" needs stacked uint8 frames [k, H, W]; '
            f"this env's observations are {dtype} {shape}"
        )
    storage: Storage
    if replay.frame_storage == "on" or (replay.frame_storage == "auto" and frames):
        storage = FrameStorage(
            replay.capacity,
            shape,
            dtype,
            num_envs=config.num_envs,
            n_step=replay.n_step,
            reserve_fraction=replay.reserve_fraction,
        )
    else:
        storage = RingStorage(replay.capacity, shape, dtype, replay.reserve_fraction)
    accumulator = NStepAccumulator(replay.n_step, config.learning.gamma, config.num_envs)
    return ReplayMemory(storage, build_sampler(replay, rng, beta_steps), accumulator)


def build_sampler(replay: ReplayConfig, rng: np.random.Generator, beta_steps: int) -> Sampler:
    """Prioritized or uniform sampling over `replay.capacity` slots, as `replay` says."""
    if not replay.prioritized:
        return UniformSampler(rng)
    return PrioritizedSampler(
        replay.capacity,
        rng,
        alpha=replay.alpha,
        beta_start=replay.beta_start,
        beta_steps=beta_steps,
        eps=replay.priority_eps,
    )
