"""Heads: feature vector -> a `NetworkOutput` with Q-values, one per discrete action.

A head is streams + readout. The streams map features [B, F] to K outputs per action,
[B, A, K], through one layer or through dueling value and advantage streams; the readout
says what the K outputs are: K = 1 Q-value (DQN), K logits over a fixed support of returns
(C51), or K quantiles of the return (QR-DQN). So dueling and noisy layers combine with
every kind of head.

Shapes: B = batch, F = features, A = actions, K = outputs per action (Z atoms, N quantiles).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from dqnlab.types import NetworkOutput

LinearFactory = Callable[[int, int], nn.Module]  # (in_features, out_features) -> nn.Linear or NoisyLinear


class LinearStreams(nn.Module):
    """One layer from features to K outputs per action: [B, F] -> [B, A, K]."""

    def __init__(self, in_features: int, num_actions: int, outputs: int = 1, linear: LinearFactory = nn.Linear):
        super().__init__()
        self.num_actions = num_actions
        self.outputs = outputs
        self.layer = linear(in_features, num_actions * outputs)

    def forward(self, features_BF: torch.Tensor) -> torch.Tensor:
        return self.layer(features_BF).view(-1, self.num_actions, self.outputs)


class DuelingStreams(nn.Module):
    """Value and advantage streams, combined as Q = V + A - mean_a A (Wang et al. 2016, eq. 9).

    Subtracting the mean advantage makes V and A identifiable, and every update moves V,
    whichever action it was for. With K outputs per action (C51 logits, quantiles) the
    combination is done per output k, as in Rainbow (Hessel et al. 2018, section 3).

    The paper gives each stream a hidden layer of its own (512 units on the Atari torso's
    convolutions): pass its width as `hidden` (`network.dueling_hidden`). Without it each stream
    is one layer on the torso's last hidden layer, which the streams share; that keeps the head,
    and its noisy layers, half as costly for the small MLPs of classic-control envs.
    """

    def __init__(
        self,
        in_features: int,
        num_actions: int,
        outputs: int = 1,
        linear: LinearFactory = nn.Linear,
        hidden: int | None = None,
    ) -> None:
        super().__init__()
        self.num_actions = num_actions
        self.outputs = outputs
        self.value: nn.Module
        self.advantage: nn.Module
        if hidden is None:
            self.value = linear(in_features, outputs)
            self.advantage = linear(in_features, num_actions * outputs)
        else:
            self.value = nn.Sequential(linear(in_features, hidden), nn.ReLU(), linear(hidden, outputs))
            self.advantage = nn.Sequential(
                linear(in_features, hidden), nn.ReLU(), linear(hidden, num_actions * outputs)
            )

    def forward(self, features_BF: torch.Tensor) -> torch.Tensor:
        value_B1K = self.value(features_BF).view(-1, 1, self.outputs)
        advantage_BAK = self.advantage(features_BF).view(-1, self.num_actions, self.outputs)
        return value_B1K + advantage_BAK - advantage_BAK.mean(dim=1, keepdim=True)


class QHead(nn.Module):
    """One Q-value per action (Mnih et al. 2015); plain linear streams unless others are given."""

    def __init__(self, in_features: int, num_actions: int, streams: nn.Module | None = None) -> None:
        super().__init__()
        self.streams = streams if streams is not None else LinearStreams(in_features, num_actions, 1)

    def forward(self, features_BF: torch.Tensor) -> NetworkOutput:
        return NetworkOutput(q_values=self.streams(features_BF).squeeze(2))


class CategoricalHead(nn.Module):
    """C51 (Bellemare et al. 2017): a softmax over Z atoms z_1 < ... < z_Z per action.

    Q(s, a) = sum_i z_i p_i(s, a), the mean of the categorical return distribution.
    """

    def __init__(self, in_features: int, num_actions: int, support_Z: torch.Tensor, streams: nn.Module) -> None:
        super().__init__()
        self.register_buffer("support", support_Z)
        self.streams = streams

    def forward(self, features_BF: torch.Tensor) -> NetworkOutput:
        logits_BAZ = self.streams(features_BF)
        q_values_BA = (logits_BAZ.softmax(dim=2) * self.support).sum(dim=2)
        return NetworkOutput(q_values=q_values_BA, logits=logits_BAZ)


class QuantileHead(nn.Module):
    """QR-DQN (Dabney et al. 2018): N quantiles of the return per action, at fractions (2i+1)/(2N).

    Q(s, a) = the mean of the quantiles (eq. 8's expectation of the uniform mixture of Diracs).
    """

    def __init__(self, in_features: int, num_actions: int, streams: nn.Module) -> None:
        super().__init__()
        self.streams = streams

    def forward(self, features_BF: torch.Tensor) -> NetworkOutput:
        quantiles_BAN = self.streams(features_BF)
        return NetworkOutput(q_values=quantiles_BAN.mean(dim=2), quantiles=quantiles_BAN)
