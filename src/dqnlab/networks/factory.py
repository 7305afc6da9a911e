"""Builds the configured Q-network: a torso named by `network.q_function`, then its head."""

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
    """torso + head; returns a `NetworkOutput` whose `q_values` are [B, A].

    `kind` ("expected", "c51" or "qr", as `network.distributional`) says which loss fits the output.
    """

    def __init__(self, torso: nn.Module, head: nn.Module, kind: str) -> None:
        super().__init__()
        self.torso = torso
        self.head = head
        self.kind = kind
        self.noisy_layers = [module for module in self.modules() if isinstance(module, NoisyLinear)]

    def reset_noise(self, generator: torch.Generator | None = None) -> None:
        """Draws new noise for every noisy layer, from `generator` or torch's global one; nothing to
        do without them."""
        for layer in self.noisy_layers:
            layer.reset_noise(generator)

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

# network.q_function -> its torso
TORSOS: dict[str, TorsoBuilder] = {
    "mlp": build_grid_or_vector_torso,  # MLP, or network.torso's MinAtar torso for 10x10xC grids
    # stacked frames [C, 84, 84] (Mnih et al. 2015); dueling streams with hidden layers of their
    # own take the place of its shared 512-unit layer, as in Wang et al. (2016)
    "cnn": lambda config, space: NatureCNNTorso(space.shape, 512 if config.dueling_hidden is None else None),
    "linear": build_linear_torso,  # normalized state -> polynomial, Fourier, RBF or tile features
    "table": build_table_torso,  # normalized state -> one-hot cell of a grid
}


def build_head(config: NetworkConfig, in_features: int, num_actions: int) -> nn.Module:
    """The head `config` asks for: its kind (Q, C51, QR), dueling or not, noisy layers or not.

    Noisy layers replace the head's linear layers, the torso staying deterministic, as Rainbow
    makes the fully connected layers after its convolutional torso noisy (Hessel et al. 2018).
    """
    linear: LinearFactory = partial(NoisyLinear, sigma0=config.noisy_sigma0) if config.noisy else nn.Linear

    def streams(outputs: int) -> nn.Module:
        """Features [B, F] -> `outputs` values per action [B, A, outputs]."""
        if config.dueling:
            return DuelingStreams(in_features, num_actions, outputs, linear, config.dueling_hidden)
        return LinearStreams(in_features, num_actions, outputs, linear)

    if config.distributional == "c51":
        support_Z = torch.linspace(config.v_min, config.v_max, config.atoms)
        return CategoricalHead(in_features, num_actions, support_Z, streams(config.atoms))
    if config.distributional == "qr":
        return QuantileHead(in_features, num_actions, streams(config.quantiles))
    return QHead(in_features, num_actions, streams(1))


def glorot_uniform_(network: nn.Module) -> None:
    """Every linear and convolutional layer of `network` to Glorot-uniform weights, U(±sqrt(6 / (fan_in +
    fan_out))) (Glorot & Bengio 2010), and zero biases: flax's defaults, so Dopamine's and other JAX agents'.
    Noisy layers keep their own initialization (Fortunato et al. 2018), as in those agents."""
    for module in network.modules():
        if isinstance(module, nn.Linear | nn.Conv2d):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def build_q_network(config: NetworkConfig, observation_space: gym.spaces.Box, num_actions: int) -> QNetwork:
    """The Q-network named by `config.q_function` for these spaces, initialized as `config.init` says."""
    torso = TORSOS[config.q_function](config, observation_space)
    assert isinstance(torso, nn.Module)
    if config.q_function in ("linear", "table"):
        # linear and tabular Q are θ·φ(s): the head is part of the model, bias-free, θ = 0 at start
        head: nn.Module = LinearQHead(torso.output_size, num_actions)
    else:
        head = build_head(config, torso.output_size, num_actions)
    network = QNetwork(torso, head, config.distributional)
    if config.init == "glorot_uniform":
        glorot_uniform_(network)
    return network
