"""Epsilon schedules for epsilon-greedy exploration: pure functions of progress."""

from __future__ import annotations

import math

from dqnlab.config import Config, LearningConfig, exploration_schedule


def linear_epsilon(step: int, start: float, end: float, decay_steps: int, decay_start: int = 0) -> float:
    """Stays at `start` for `decay_start` env steps, moves linearly to `end` over the next `decay_steps`,
    then stays at `end` (Dopamine's linearly_decaying_epsilon, whose warm-up is min_replay_history)."""
    fraction = min(max(step - decay_start, 0) / decay_steps, 1.0)
    return start + fraction * (end - start)


def exponential_epsilon(episode: int, start: float, end: float, rate: float) -> float:
    """end + (start - end) * exp(-rate * episode): decays per finished episode."""
    return end + (start - end) * math.exp(-rate * episode)


def epsilon_at(config: Config, step: int, episode: int) -> float:
    """The exploration rate after `step` env steps and `episode` finished episodes, by the schedule
    `exploration_schedule(config)` names ("auto" needs the network's config to know what it stands for)."""
    exploration = config.exploration
    schedule = exploration_schedule(config)
    if schedule == "linear":
        return linear_epsilon(
            step, exploration.start, exploration.end, exploration.decay_steps, exploration.decay_start
        )
    if schedule == "exponential":
        return exponential_epsilon(episode, exploration.start, exploration.end, exploration.decay_rate)
    if schedule == "none":  # noisy nets do the exploring
        return 0.0
    return exploration.start


def learning_rate_at(config: LearningConfig, gradient_step: int) -> float:
    """The learning rate after `gradient_step` gradient steps: lr, moving linearly to lr_end.

    A decaying step size lets tabular and linear Q-learning settle instead of chasing the
    latest TD errors; any schedule with Σα = ∞ and Σα² < ∞ is what the convergence proofs ask
    for (Watkins & Dayan 1992), and a linear decay to a small floor is its practical stand-in.
    """
    if config.lr_end is None:
        return config.lr
    return linear_epsilon(gradient_step, config.lr, config.lr_end, config.lr_decay_steps)
