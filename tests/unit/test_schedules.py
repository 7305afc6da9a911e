import math

import pytest

from dqnlab.config import ExplorationConfig
from dqnlab.schedules import epsilon_at, exponential_epsilon, linear_epsilon


def test_linear_schedule_interpolates_then_holds():
    assert linear_epsilon(0, 1.0, 0.1, 100) == pytest.approx(1.0)
    assert linear_epsilon(50, 1.0, 0.1, 100) == pytest.approx(0.55)
    assert linear_epsilon(100, 1.0, 0.1, 100) == pytest.approx(0.1)
    assert linear_epsilon(10_000, 1.0, 0.1, 100) == pytest.approx(0.1)


def test_exponential_schedule_by_episode():
    assert exponential_epsilon(0, 0.9, 0.05, 0.01) == pytest.approx(0.9)
    assert exponential_epsilon(100, 0.9, 0.05, 0.01) == pytest.approx(0.05 + 0.85 * math.exp(-1.0))
    assert exponential_epsilon(10**6, 0.9, 0.05, 0.01) == pytest.approx(0.05)


def test_schedule_dispatch_uses_steps_or_episodes():
    linear = ExplorationConfig(schedule="linear", start=1.0, end=0.0, decay_steps=10)
    assert epsilon_at(linear, step=5, episode=999) == pytest.approx(0.5)
    exponential = ExplorationConfig(schedule="exponential", start=1.0, end=0.0, decay_rate=1.0)
    assert epsilon_at(exponential, step=999, episode=1) == pytest.approx(math.exp(-1.0))
    constant = ExplorationConfig(schedule="constant", start=0.3)
    assert epsilon_at(constant, step=10**6, episode=10**3) == pytest.approx(0.3)
