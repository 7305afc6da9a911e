"""Builds the configured Q-network from a registry of torsos."""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
from torch import nn

from dqnlab.config import NetworkConfig
from dqnlab.linear.qfunctions import LinearQHead, build_linear_torso, build_table_torso
from dqnlab.networks.heads import QHead
from dqnlab.networks.torsos import MLPTorso
from dqnlab.types import NetworkOutput


class QNetwork(nn.Module):
    """torso + head; returns a `NetworkOutput` whose `q_values` are [B, A]."""

    def __init__(self, torso: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.torso = torso
        self.head = head

    def forward(self, obs):  # type: ignore[no-untyped-def]
        return self.head(self.torso(obs))

    def q_values(self, obs):  # type: ignore[no-untyped-def]
        output: NetworkOutput = self(obs)
        return output.q_values


TorsoBuilder = Callable[[NetworkConfig, gym.spaces.Box], nn.Module]

TORSOS: dict[str, TorsoBuilder] = {
    "mlp": lambda config, space: MLPTorso(space.shape, config.hidden_sizes),
    "linear": build_linear_torso,  # normalized state -> polynomial, Fourier, RBF or tile features
    "table": build_table_torso,  # normalized state -> one-hot cell of a grid
}

HeadBuilder = Callable[[int, int], nn.Module]  # (features, actions) -> head returning NetworkOutput

# Q-functions whose head is part of the model: linear and tabular Q are θ·φ(s), bias-free, θ = 0 at start.
FIXED_HEADS: dict[str, HeadBuilder] = {"linear": LinearQHead, "table": LinearQHead}


def build_q_network(config: NetworkConfig, observation_space: gym.Space, num_actions: int) -> QNetwork:
    """The Q-network named by `config.q_function` for these spaces."""
    torso = TORSOS[config.q_function](config, observation_space)
    head_builder = FIXED_HEADS.get(config.q_function, QHead)
    return QNetwork(torso, head_builder(torso.output_size, num_actions))
