"""Torsos: observation -> feature vector."""

from __future__ import annotations

import math

import torch
from torch import nn


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
