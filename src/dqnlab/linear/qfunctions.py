"""Linear and tabular Q-functions as torsos of the shared `QNetwork`.

Linear Q (Sutton & Barto 2018, §10.1): Q̂_θ(s, a) = Σ_j θ_aj φ_j(s), the torso normalizes s and
computes φ(s), the head is one bias-free linear layer with one output per action. Its
gradient with respect to θ_a is φ(s), so an SGD step of size α on ½δ² with the target held
fixed is the semi-gradient Q-learning update θ_a ← θ_a + α·δ·φ(s) (ibid., eq. 10.3 with the
Q-learning target). A table is the same model with one-hot features of the discretized state, or of the state
itself when the env's states are Discrete (FrozenLake, CliffWalking).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import gymnasium as gym
import torch
from torch import nn

from dqnlab.config import NetworkConfig
from dqnlab.envs.factory import OneHotBox
from dqnlab.errors import ConfigError
from dqnlab.linear.bounds import Normalizer, observation_bounds
from dqnlab.linear.features import (
    DiscreteStates,
    FeatureMap,
    FourierFeatures,
    OneHotCells,
    PolynomialFeatures,
    RBFFeatures,
    TileCoding,
)
from dqnlab.types import NetworkOutput

MAX_FEATURES = 1_000_000  # features (or table cells) per action; beyond it, dense features cost too much

FeatureBuilder = Callable[[NetworkConfig, int], FeatureMap]


def per_dimension(values: tuple[int, ...], dims: int, key: str) -> tuple[int, ...]:
    """One value per state dimension: a single value is repeated, otherwise there must be `dims`."""
    if len(values) == 1:
        return values * dims
    if len(values) != dims:
        raise ConfigError(f"{key} has {len(values)} values; give one, or one for each of the {dims} dimensions")
    return values


# Feature count F for K state dimensions, known before a map is built, so that a basis too large
# to hold is refused before it is enumerated.
FEATURE_COUNTS: dict[str, Callable[[NetworkConfig, int], int]] = {
    "polynomial": lambda config, dims: math.comb(dims + config.order, config.order),
    "fourier": lambda config, dims: (config.order + 1) ** dims,
    "rbf": lambda config, dims: math.prod(per_dimension(config.bins, dims, "network.bins")),
    "tiles": lambda config, dims: (
        config.tilings * math.prod(b + 1 for b in per_dimension(config.bins, dims, "network.bins"))
    ),
}

FEATURE_MAPS: dict[str, FeatureBuilder] = {
    "polynomial": lambda config, dims: PolynomialFeatures(dims, config.order),
    "fourier": lambda config, dims: FourierFeatures(dims, config.order, config.fourier_scaling),
    "rbf": lambda config, dims: RBFFeatures(per_dimension(config.bins, dims, "network.bins"), config.rbf_width),
    "tiles": lambda config, dims: TileCoding(per_dimension(config.bins, dims, "network.bins"), config.tilings),
}


class FeatureTorso(nn.Module):
    """obs [B, K] -> φ(normalize(obs)) [B, F]; `output_size` = F, `description` names the features."""

    def __init__(self, normalizer: Normalizer, feature_map: FeatureMap) -> None:
        super().__init__()
        self.normalizer = normalizer
        self.feature_map = feature_map
        self.output_size: int = feature_map.size
        self.description: str = feature_map.description

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.feature_map(self.normalizer(obs.flatten(1)))


class LinearQHead(nn.Module):
    """Q(s, ·) = θ φ(s): a bias-free linear layer, started at θ = 0 so Q̂ ≡ 0.

    Zero is the usual start of linear and tabular Q-learning; with rewards of -1 per step
    (MountainCar) it is optimistic and drives exploration (Sutton & Barto 2018, §10.1).
    """

    def __init__(self, in_features: int, num_actions: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, num_actions, bias=False)
        nn.init.zeros_(self.linear.weight)

    def forward(self, features: torch.Tensor) -> NetworkOutput:
        return NetworkOutput(q_values=self.linear(features))


def _check_size(count: int, what: str) -> None:
    if count > MAX_FEATURES:
        raise ConfigError(
            f"{what} would have {count:,} features, more than {MAX_FEATURES:,}; lower network.order or network.bins"
        )


def build_linear_torso(config: NetworkConfig, space: gym.spaces.Box) -> FeatureTorso:
    """Normalization and the feature map named by `config.features`."""
    bounds = observation_bounds("the env", space, config.obs_bounds)
    _check_size(FEATURE_COUNTS[config.features](config, len(bounds)), f"linear Q on {config.features}")
    return FeatureTorso(Normalizer(bounds), FEATURE_MAPS[config.features](config, len(bounds)))


def build_table_torso(config: NetworkConfig, space: gym.spaces.Box) -> FeatureTorso:
    """Normalization and the one-hot cell of a grid of `config.bins` bins per dimension; for a Discrete
    state space, one entry per state (`network.bins` does not apply)."""
    bounds = observation_bounds("the env", space, config.obs_bounds)
    if isinstance(space, OneHotBox):
        return FeatureTorso(Normalizer(bounds), DiscreteStates(space.states))
    bins = per_dimension(config.bins, len(bounds), "network.bins")
    _check_size(math.prod(bins), "the table")
    return FeatureTorso(Normalizer(bounds), OneHotCells(bins))
