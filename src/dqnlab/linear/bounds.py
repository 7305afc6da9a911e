"""The box that linear and tabular Q-functions normalize observations into [0, 1]^K with.

A bound comes, in order, from `network.obs_bounds`, from `DEFAULT_OBS_BOUNDS` for the env, or
from the observation space where it is finite. Gymnasium marks an unbounded dimension with
±inf (or float32's max), as for CartPole's velocities; such a dimension needs one of the first two.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from dqnlab.config import Config
from dqnlab.errors import ConfigError

Bounds = tuple[tuple[float, float], ...]  # (low, high) per observation dimension

UNBOUNDED = 1e6  # a space bound at or beyond this magnitude counts as no bound

# Ranges that states of these envs stay in; the space itself gives none (velocities) or a range
# twice as wide as the one before termination (CartPole's position and angle).
DEFAULT_OBS_BOUNDS: dict[str, Bounds] = {
    "CartPole-v0": ((-2.4, 2.4), (-3.0, 3.0), (-0.21, 0.21), (-3.5, 3.5)),
    "CartPole-v1": ((-2.4, 2.4), (-3.0, 3.0), (-0.21, 0.21), (-3.5, 3.5)),
}


def observation_bounds(env_id: str, space: gym.spaces.Box, configured: Bounds = ()) -> Bounds:
    """(low, high) per dimension of a flat observation space, or a ConfigError saying what is missing."""
    if len(space.shape) != 1:
        raise ConfigError(f"linear and tabular Q need a flat observation vector; {env_id} has shape {space.shape}")
    dims = space.shape[0]
    bounds = configured or DEFAULT_OBS_BOUNDS.get(env_id, ())
    if bounds:
        if len(bounds) != dims:
            raise ConfigError(
                f"network.obs_bounds has {len(bounds)} pairs; {env_id} observations have {dims} dimensions"
            )
        return tuple((float(low), float(high)) for low, high in bounds)
    low, high = space.low.astype(np.float64), space.high.astype(np.float64)
    unbounded = np.flatnonzero(
        ~(np.isfinite(low) & np.isfinite(high)) | (np.abs(low) >= UNBOUNDED) | (np.abs(high) >= UNBOUNDED)
    )
    if unbounded.size:
        raise ConfigError(
            f"{env_id}'s observation dimensions {unbounded.tolist()} are unbounded; "
            f"set network.obs_bounds to one [low, high] per dimension"
        )
    return tuple((float(a), float(b)) for a, b in zip(low, high, strict=True))


def with_observation_bounds(config: Config, space: gym.spaces.Box) -> Config:
    """`config` with `network.obs_bounds` filled in for linear and tabular Q, so the run records them."""
    if config.network.q_function not in ("linear", "table"):  # MLP and CNN take observations as they are
        return config
    bounds = observation_bounds(config.env_id, space, config.network.obs_bounds)
    return config.replace(network=dataclasses.replace(config.network, obs_bounds=bounds))


class Normalizer(nn.Module):
    """s -> (s - low) / (high - low), clipped to [0, 1]: a state outside the box counts as on its edge."""

    low_K: torch.Tensor
    range_K: torch.Tensor

    def __init__(self, bounds: Bounds) -> None:
        super().__init__()
        low_K, high_K = torch.tensor(bounds, dtype=torch.float32).T
        self.register_buffer("low_K", low_K)
        self.register_buffer("range_K", high_K - low_K)

    def forward(self, obs_BK: torch.Tensor) -> torch.Tensor:
        return ((obs_BK.float() - self.low_K) / self.range_K).clamp(0.0, 1.0)
