"""Epsilon schedules for epsilon-greedy exploration: pure functions of progress."""

from __future__ import annotations

import math

from dqnlab.config import ExplorationConfig, LearningConfig


def linear_epsilon(step: int, start: float, end: float, decay_steps: int) -> float:
    """Moves linearly from `start` to `end` over `decay_steps` env steps, then stays at `end`."""
    fraction = min(step / decay_steps, 1.0)
    return start + fraction * (end - start)


def exponential_epsilon(episode: int, start: float, end: float, rate: float) -> float:
    """end + (start - end) * exp(-rate * episode): decays per finished episode."""
    return end + (start - end) * math.exp(-rate * episode)


def epsilon_at(config: ExplorationConfig, step: int, episode: int) -> float:
    """The exploration rate after `step` env steps and `episode` finished episodes."""
    if config.schedule == "linear":
        return linear_epsilon(step, config.start, config.end, config.decay_steps)
    if config.schedule == "exponential":
        return exponential_epsilon(episode, config.start, config.end, config.decay_rate)
    if config.schedule == "none":  # noisy nets do the exploring
        return 0.0
    return config.start


def learning_rate_at(config: LearningConfig, gradient_step: int) -> float:
    """The learning rate after `gradient_step` gradient steps: lr, moving linearly to lr_end.

    A decaying step size lets tabular and linear Q-learning settle instead of chasing the
    latest TD errors; any schedule with Σα = ∞ and Σα² < ∞ is what the convergence proofs ask
    for (Watkins & Dayan 1992), and a linear decay to a small floor is its practical stand-in.
    """
    if config.lr_end is None:
        return config.lr
    return linear_epsilon(gradient_step, config.lr, config.lr_end, config.lr_decay_steps)
