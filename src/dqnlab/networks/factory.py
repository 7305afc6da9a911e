"""Builds the configured Q-network from registries of torsos, layers, streams and heads."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Protocol

import gymnasium as gym
import torch
from torch import nn

from dqnlab.config import NetworkConfig
from dqnlab.linear.qfunctions import LinearQHead, build_linear_torso, build_table_torso
from dqnlab.networks.heads import (
    CategoricalHead,
    DuelingStreams,
    LinearFactory,
    LinearStreams,
    QHead,
    QuantileHead,
)
from dqnlab.networks.noisy import NoisyLinear
from dqnlab.networks.torsos import NatureCNNTorso, build_grid_or_vector_torso
from dqnlab.types import NetworkOutput


class QNetwork(nn.Module):
    """torso + head; returns a `NetworkOutput` whose `q_values` are [B, A]."""

    def __init__(self, torso: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.torso = torso
        self.head = head
        self.kind: str = getattr(head, "kind", "none")  # "none", "c51" or "qr": which loss fits the output
        self.noisy_layers = [module for module in self.modules() if isinstance(module, NoisyLinear)]

    def reset_noise(self) -> None:
        """Draws new noise for every noisy layer; nothing to do without them."""
        for layer in self.noisy_layers:
            layer.reset_noise()

    def forward(self, obs):  # type: ignore[no-untyped-def]
        return self.head(self.torso(obs))

    def q_values(self, obs):  # type: ignore[no-untyped-def]
        output: NetworkOutput = self(obs)
        return output.q_values


class Torso(Protocol):
    """An nn.Module mapping observations [B, ...] to features [B, output_size]."""

    output_size: int

    def __call__(self, obs: torch.Tensor) -> torch.Tensor: ...


TorsoBuilder = Callable[[NetworkConfig, gym.spaces.Box], Torso]

TORSOS: dict[str, TorsoBuilder] = {
    "mlp": build_grid_or_vector_torso,  # MLP, or network.torso's MinAtar torso for 10x10xC grids
    "cnn": lambda config, space: NatureCNNTorso(space.shape),  # stacked frames [C, 84, 84], Mnih et al. 2015
    "linear": build_linear_torso,  # normalized state -> polynomial, Fourier, RBF or tile features
    "table": build_table_torso,  # normalized state -> one-hot cell of a grid
}

HeadBuilder = Callable[[int, int], nn.Module]  # (features, actions) -> head returning NetworkOutput

# Q-functions whose head is part of the model: linear and tabular Q are θ·φ(s), bias-free, θ = 0 at start.
FIXED_HEADS: dict[str, HeadBuilder] = {"linear": LinearQHead, "table": LinearQHead}


# network.noisy -> the layer the head is built from
LAYERS: dict[bool, Callable[[NetworkConfig], LinearFactory]] = {
    False: lambda config: nn.Linear,
    True: lambda config: partial(NoisyLinear, sigma0=config.noisy_sigma0),
}

StreamsBuilder = Callable[[int], nn.Module]  # outputs per action -> module [B, F] -> [B, A, K]

# network.dueling -> how features become K outputs per action
STREAMS: dict[bool, Callable[[int, int, int, LinearFactory], nn.Module]] = {
    False: LinearStreams,
    True: DuelingStreams,
}

# network.distributional -> (config, features, actions, streams builder) -> head
HEADS: dict[str, Callable[[NetworkConfig, int, int, StreamsBuilder], nn.Module]] = {
    "none": lambda config, features, actions, streams: QHead(features, actions, streams(1)),
    "c51": lambda config, features, actions, streams: CategoricalHead(
        features, actions, torch.linspace(config.v_min, config.v_max, config.atoms), streams(config.atoms)
    ),
    "qr": lambda config, features, actions, streams: QuantileHead(features, actions, streams(config.quantiles)),
}


def build_head(config: NetworkConfig, in_features: int, num_actions: int) -> nn.Module:
    """The head `config` asks for: its kind (Q, C51, QR), dueling or not, noisy layers or not.

    Noisy layers replace the head's linear layers, the torso staying deterministic, as Rainbow
    makes the fully connected layers after its convolutional torso noisy (Hessel et al. 2018).
    """
    linear = LAYERS[config.noisy](config)

    def streams(outputs: int) -> nn.Module:
        return STREAMS[config.dueling](in_features, num_actions, outputs, linear)

    return HEADS[config.distributional](config, in_features, num_actions, streams)


def build_q_network(config: NetworkConfig, observation_space: gym.spaces.Box, num_actions: int) -> QNetwork:
    """The Q-network named by `config.q_function` for these spaces."""
    torso = TORSOS[config.q_function](config, observation_space)
    assert isinstance(torso, nn.Module)
    fixed_head = FIXED_HEADS.get(config.q_function)
    if fixed_head is not None:
        return QNetwork(torso, fixed_head(torso.output_size, num_actions))
    return QNetwork(torso, build_head(config, torso.output_size, num_actions))
