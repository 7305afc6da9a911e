"""Torsos: observation -> feature vector."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from dqnlab.config import NetworkConfig
from dqnlab.errors import ConfigError


class MLPTorso(nn.Module):
    """Flattens the observation and applies Linear+ReLU layers of the given widths."""

    def __init__(self, obs_shape: tuple[int, ...], hidden_sizes: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = math.prod(obs_shape)
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.layers = nn.Sequential(*layers)
        self.output_size = width

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.layers(obs.flatten(1).float())


class NatureCNNTorso(nn.Module):
    """The convolutional torso of Nature DQN (Mnih et al. 2015): 3 conv layers, then 512 units.

    `hidden_size` None ends the torso at the flattened convolutions, for heads that bring their
    own hidden layers (dueling streams, Wang et al. 2016). Takes uint8 frames [B, C, 84, 84] as
    they come from replay, so only bytes cross to the device, and scales them to [0, 1] there.
    """

    def __init__(self, obs_shape: tuple[int, ...], hidden_size: int | None = 512) -> None:
        super().__init__()
        channels = obs_shape[0]
        self.convs = nn.Sequential(
            nn.Conv2d(channels, 32, kernel_size=8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, *obs_shape)).shape[1]
        self.fc = nn.Identity() if hidden_size is None else nn.Sequential(nn.Linear(flat, hidden_size), nn.ReLU())
        self.output_size = flat if hidden_size is None else hidden_size

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        scaled = obs.float() / 255.0 if obs.dtype == torch.uint8 else obs.float()
        return self.fc(self.convs(scaled))


def is_minatar_grid(space: gym.spaces.Box) -> bool:
    """Whether observations are MinAtar's: a 10x10 grid of bool channels, channels last."""
    shape = space.shape
    return len(shape) == 3 and tuple(shape[:2]) == (10, 10) and space.dtype == np.bool_


class MinAtarTorso(nn.Module):
    """One 3x3 convolution with 16 channels, stride 1, over MinAtar's 10x10xC bool grid, then ReLU.

    padding "valid" with `hidden_size` 128 is Young & Tian's network (2019; kenjyoung/MinAtar
    examples/dqn.py): 8x8x16 = 1024 features, then 128 ReLU units. padding "same" with no hidden
    layer is the MinAtar network of Revisiting Rainbow (Obando-Ceron & Castro 2021, networks_new.py
    with flax's default SAME padding and hidden_layer 0): the head reads the 10x10x16 = 1600 features.
    Takes observations [B, 10, 10, C] channels last, as the env gives them and replay stores them.
    """

    def __init__(self, obs_shape: tuple[int, ...], padding: str = "valid", hidden_size: int | None = 128) -> None:
        super().__init__()
        height, width, channels = obs_shape
        self.conv = nn.Conv2d(channels, 16, kernel_size=3, stride=1, padding=padding)
        side = (height, width) if padding == "same" else (height - 2, width - 2)
        flat = 16 * side[0] * side[1]
        self.fc = nn.Sequential(nn.Linear(flat, hidden_size), nn.ReLU()) if hidden_size else nn.Identity()
        self.output_size = hidden_size or flat
        layers = f"3x3 conv (16, {padding} padding)" + (f" -> {hidden_size}" if hidden_size else "")
        self.description = f"MinAtar torso: {layers}"

    def forward(self, obs_BHWC: torch.Tensor) -> torch.Tensor:
        grid_BCHW = obs_BHWC.permute(0, 3, 1, 2).float()
        return self.fc(torch.relu(self.conv(grid_BCHW)).flatten(1))


def build_grid_or_vector_torso(config: NetworkConfig, space: gym.spaces.Box) -> MLPTorso | MinAtarTorso:
    """The torso of q_function "mlp", by `network.torso`: "auto" picks MinAtar's for its grids."""
    torso = config.torso
    if torso == "auto":
        torso = "minatar" if is_minatar_grid(space) else "mlp"
    if torso == "mlp":
        return MLPTorso(space.shape, config.hidden_sizes)
    if len(space.shape) != 3:
        raise ConfigError(f"network.torso '{torso}' needs [H, W, C] grids; observations are {list(space.shape)}")
    if torso == "minatar":
        return MinAtarTorso(space.shape, padding="valid", hidden_size=128)
    return MinAtarTorso(space.shape, padding="same", hidden_size=None)
