"""Gymnasium env construction and the checks that come before training."""

from dqnlab.envs.factory import (
    EnvSpaces,
    env_spaces,
    finished_episodes,
    make_env,
    make_vector_env,
    real_next_observations,
    reward_threshold,
)

__all__ = [
    "EnvSpaces",
    "env_spaces",
    "finished_episodes",
    "make_env",
    "make_vector_env",
    "real_next_observations",
    "reward_threshold",
]
