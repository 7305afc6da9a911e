"""Heads: feature vector -> Q-values, one per discrete action."""

from __future__ import annotations

import torch
from torch import nn

from dqnlab.types import NetworkOutput


class QHead(nn.Module):
    """A linear layer with one output per action (Mnih et al. 2015)."""

    def __init__(self, in_features: int, num_actions: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, num_actions)

    def forward(self, features: torch.Tensor) -> NetworkOutput:
        return NetworkOutput(q_values=self.linear(features))
