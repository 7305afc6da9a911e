"""Pure functions for TD targets and losses: expected, categorical (C51) and quantile (QR-DQN)."""

from dqnlab.losses.distributional import categorical_cross_entropy, categorical_projection, categorical_target
from dqnlab.losses.quantile import quantile_huber_loss, quantile_midpoints, quantile_target
from dqnlab.losses.td import q_learning_target, td_loss, td_loss_per_sample

__all__ = [
    "categorical_cross_entropy",
    "categorical_projection",
    "categorical_target",
    "q_learning_target",
    "quantile_huber_loss",
    "quantile_midpoints",
    "quantile_target",
    "td_loss",
    "td_loss_per_sample",
]
