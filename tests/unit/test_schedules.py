import math

import pytest

from dqnlab.config import Config, ExplorationConfig, NetworkConfig
from dqnlab.schedules import epsilon_at, exponential_epsilon, linear_epsilon


def test_linear_schedule_interpolates_then_holds():
    assert linear_epsilon(0, 1.0, 0.1, 100) == pytest.approx(1.0)
    assert linear_epsilon(50, 1.0, 0.1, 100) == pytest.approx(0.55)
    assert linear_epsilon(100, 1.0, 0.1, 100) == pytest.approx(0.1)
    assert linear_epsilon(10_000, 1.0, 0.1, 100) == pytest.approx(0.1)


def test_linear_schedule_holds_its_start_before_the_decay():
    """Young & Tian's MinAtar DQN: ε = 1 until frame 5,000 (REPLAY_START_SIZE), then 1 -> 0.1 over 100k frames,
    so 0.55 at frame 55,000 and 0.1 from frame 105,000 on."""
    assert linear_epsilon(0, 1.0, 0.1, 100_000, decay_start=5_000) == 1.0
    assert linear_epsilon(5_000, 1.0, 0.1, 100_000, decay_start=5_000) == 1.0
    assert linear_epsilon(55_000, 1.0, 0.1, 100_000, decay_start=5_000) == pytest.approx(0.55)
    assert linear_epsilon(104_999, 1.0, 0.1, 100_000, decay_start=5_000) > 0.1
    assert linear_epsilon(105_000, 1.0, 0.1, 100_000, decay_start=5_000) == pytest.approx(0.1)
    config = _exploring(schedule="linear", start=1.0, end=0.1, decay_steps=100_000, decay_start=5_000)
    assert epsilon_at(config, step=55_000, episode=0) == pytest.approx(0.55)


def test_exponential_schedule_by_episode():
    assert exponential_epsilon(0, 0.9, 0.05, 0.01) == pytest.approx(0.9)
    assert exponential_epsilon(100, 0.9, 0.05, 0.01) == pytest.approx(0.05 + 0.85 * math.exp(-1.0))
    assert exponential_epsilon(10**6, 0.9, 0.05, 0.01) == pytest.approx(0.05)


def _exploring(network: NetworkConfig | None = None, **exploration) -> Config:
    return Config(network=network or NetworkConfig(), exploration=ExplorationConfig(**exploration))


def test_schedule_dispatch_uses_steps_or_episodes():
    linear = _exploring(schedule="linear", start=1.0, end=0.0, decay_steps=10)
    assert epsilon_at(linear, step=5, episode=999) == pytest.approx(0.5)
    exponential = _exploring(schedule="exponential", start=1.0, end=0.0, decay_rate=1.0)
    assert epsilon_at(exponential, step=999, episode=1) == pytest.approx(math.exp(-1.0))
    constant = _exploring(schedule="constant", start=0.3)
    assert epsilon_at(constant, step=10**6, episode=10**3) == pytest.approx(0.3)


def test_auto_schedule_is_no_epsilon_for_default_noisy_nets_and_linear_otherwise():
    noisy = NetworkConfig(noisy=True)
    assert epsilon_at(_exploring(noisy), step=0, episode=0) == 0.0
    # without noise the defaults: 1 -> 0.05 over 10,000 env steps, so 1 - 0.95 * 0.25 at step 2,500
    assert epsilon_at(_exploring(), step=2_500, episode=0) == pytest.approx(0.7625)
    # noisy, but a value was set: epsilon-greedy with it, 1 -> 0.01 over 10,000 steps
    assert epsilon_at(_exploring(noisy, end=0.01), step=5_000, episode=0) == pytest.approx(0.505)
    assert epsilon_at(_exploring(noisy, end=0.01), step=20_000, episode=0) == pytest.approx(0.01)
    # an explicit schedule is kept, noisy or not
    assert epsilon_at(_exploring(noisy, schedule="linear"), step=2_500, episode=0) == pytest.approx(0.7625)
    assert epsilon_at(_exploring(schedule="none"), step=0, episode=0) == 0.0
