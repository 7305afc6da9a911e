"""Epsilon schedules for epsilon-greedy exploration: pure functions of progress."""

from __future__ import annotations

import math

from dqnlab.config import ExplorationConfig


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
    return config.start
