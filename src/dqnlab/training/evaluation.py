"""Evaluation: whole episodes on separate envs, acting for all of them in one batch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dqnlab.config import AtariConfig, EnvKwargs
from dqnlab.envs import make_vector_env

Policy = Callable[[np.ndarray, float], np.ndarray]  # (obs [N, ...], epsilon) -> actions [N]

EPISODE_STEP_CAP = 108_000  # steps, for envs without a time limit of their own


def evaluate(
    policy: Policy,
    env_id: str,
    episodes: int,
    epsilon: float,
    seed: int,
    atari: AtariConfig | None = None,
    env_kwargs: EnvKwargs = (),
) -> np.ndarray:
    """Returns of `episodes` whole episodes, one per env, run side by side; env i is seeded seed + i.

    Atari games are played whole (all lives) with their real, unclipped score.
    """
    envs = make_vector_env(env_id, episodes, atari, training=False, env_kwargs=env_kwargs)
    try:
        obs, _ = envs.reset(seed=seed)
        returns = np.zeros(episodes)
        running = np.ones(episodes, dtype=bool)
        for _ in range(EPISODE_STEP_CAP):
            actions = policy(obs, epsilon)
            obs, rewards, terminated, truncated, _ = envs.step(actions)
            returns += np.where(running, rewards, 0.0)
            running &= ~(terminated | truncated)
            if not running.any():
                break
        return returns
    finally:
        envs.close()
