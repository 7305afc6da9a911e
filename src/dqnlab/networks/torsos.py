"""Torsos: observation -> feature vector."""

from __future__ import annotations

import math

import torch
from torch import nn

LAYER_NORM_EPS = 1e-6  # flax's nn.LayerNorm default, which PQN uses (torch's default is 1e-5)


class MLPTorso(nn.Module):
    """Flattens the observation and applies Linear+ReLU layers of the given widths.

    `layer_norm` puts a LayerNorm (learned scale and shift) between each Linear and its ReLU, as
    PQN's Q-network does (Gallici et al. 2024, purejaxql: Dense, LayerNorm, relu per hidden layer;
    the output layer is not normalized). It keeps the features' scale fixed as the weights grow,
    which is what lets PQN learn stably without a target network or replay.
    """

    def __init__(self, obs_shape: tuple[int, ...], hidden_sizes: tuple[int, ...], layer_norm: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = math.prod(obs_shape)
        for hidden in hidden_sizes:
            layers.append(nn.Linear(width, hidden))
            if layer_norm:
                layers.append(nn.LayerNorm(hidden, eps=LAYER_NORM_EPS))
            layers.append(nn.ReLU())
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
