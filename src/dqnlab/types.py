"""Data passed between acting, replay and learning."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class Batch(NamedTuple):
    """A batch of B transitions, as numpy arrays from replay.

    `discounts` holds gamma**n for a transition that may bootstrap and 0 after a termination,
    so the TD target is r + discount * Q(s', ·) whatever n is; a truncated episode keeps its
    discount and its real final observation in `next_obs`.
    """

    obs: np.ndarray  # [B, *obs_shape]
    actions: np.ndarray  # [B] int64
    rewards: np.ndarray  # [B] float32
    next_obs: np.ndarray  # [B, *obs_shape]
    discounts: np.ndarray  # [B] float32
    weights: np.ndarray | None = None  # [B] importance-sampling weights; None = uniform
    indices: np.ndarray | None = None  # [B] replay slots, for priority updates


class NetworkOutput(NamedTuple):
    """What every Q-network returns, so one learner serves every head.

    `q_values` is always there (acting needs only it); a distributional head adds its
    return distribution, which its loss uses.
    """

    q_values: torch.Tensor  # [B, A]
    logits: torch.Tensor | None = None  # [B, A, Z] C51: unnormalized log-probabilities of the Z atoms
    quantiles: torch.Tensor | None = None  # [B, A, N] QR-DQN: return quantiles at fractions (2i+1)/(2N)


class UpdateStats(NamedTuple):
    """What one gradient step reports."""

    loss: float
    q_mean: float  # mean Q(s, a) of the actions taken in the batch
    priorities: np.ndarray  # [B] raw priority of each sample for prioritized replay: |TD error|; C51, QR: its loss
