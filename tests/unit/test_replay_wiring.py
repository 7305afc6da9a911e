"""Every `replay.*` key (and the `learning.gamma` and `num_envs` that replay uses) changes what it
names in the memory `build_replay` makes from a `Config`, seen only through the memory's public calls:
discounts reveal n_step and gamma, weights reveal beta, sampling frequencies reveal alpha and
priority_eps, the slots that survive overflow reveal capacity and reserve_fraction."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from dqnlab.config import config_from_dict
from dqnlab.replay import build_replay

SPACE = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)


def _memory(num_envs: int = 1, gamma: float = 0.99, beta_steps: int = 10**9, **replay):
    values = {"num_envs": num_envs, "learning": {"batch_size": 1, "gamma": gamma}, "replay": replay}
    return build_replay(config_from_dict(values), SPACE, np.random.default_rng(0), beta_steps=beta_steps)


def _add_steps(memory, count: int, num_envs: int = 1) -> None:
    """`count` steps of `num_envs` envs that never end; env i's observation at step t is 100 i + t, reward 1."""
    offsets = 100.0 * np.arange(num_envs)
    for t in range(count):
        obs = (offsets + t).astype(np.float32)[:, None]
        none = np.zeros(num_envs, bool)
        memory.add(obs, np.zeros(num_envs, np.int64), np.ones(num_envs, np.float32), obs + 1, none, none)


def _stored_obs(memory) -> set[float]:
    return set(memory.sample(4000).obs[:, 0].tolist())


@pytest.mark.parametrize("n_step, gamma", [(1, 0.9), (3, 0.9), (3, 0.5)])
def test_n_step_and_gamma_set_the_discount_and_return_of_each_transition(n_step, gamma):
    memory = _memory(num_envs=2, gamma=gamma, n_step=n_step)
    _add_steps(memory, 10, num_envs=2)
    assert len(memory) == 2 * (10 - n_step + 1)
    batch = memory.sample(200)
    np.testing.assert_allclose(batch.discounts, gamma**n_step, rtol=1e-6)
    np.testing.assert_allclose(batch.rewards, sum(gamma**k for k in range(n_step)), rtol=1e-6)
    np.testing.assert_array_equal(batch.next_obs - batch.obs, n_step)  # s' is n steps on, in the same env


def test_capacity_keeps_the_newest_transitions():
    memory = _memory(capacity=5)
    _add_steps(memory, 12)
    assert len(memory) == 5 and _stored_obs(memory) == {7.0, 8.0, 9.0, 10.0, 11.0}


def test_reserve_fraction_keeps_the_first_transitions_through_overflow():
    memory = _memory(capacity=10, reserve_fraction=0.3)
    _add_steps(memory, 25)
    assert len(memory) == 10
    assert _stored_obs(memory) == {0.0, 1.0, 2.0, *map(float, range(18, 25))}


def test_prioritized_gives_weights_and_uniform_does_not():
    for prioritized in (True, False):
        memory = _memory(prioritized=prioritized)
        _add_steps(memory, 4)
        assert (memory.sample(8).weights is not None) == prioritized


def _prioritized_two(errors: tuple[float, float], beta_steps: int = 10**9, **replay):
    """A prioritized memory of two transitions (obs 0 and 1) whose errors are `errors`."""
    memory = _memory(prioritized=True, beta_steps=beta_steps, **replay)
    _add_steps(memory, 2)
    batch = memory.sample(64)
    memory.update_priorities(batch.indices, np.where(batch.obs[:, 0] == 1.0, errors[1], errors[0]))
    return memory


def _share_of_obs_one(memory) -> float:
    return float(np.mean([np.mean(memory.sample(64).obs[:, 0] == 1.0) for _ in range(200)]))


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_alpha_sets_the_sampling_frequencies(alpha):
    """Errors 1 and 3: P(second) = 3^alpha / (1 + 3^alpha): 0.5, 0.634, 0.75."""
    memory = _prioritized_two((1.0, 3.0), alpha=alpha, priority_eps=1e-9)
    assert _share_of_obs_one(memory) == pytest.approx(3**alpha / (1 + 3**alpha), abs=0.02)


def test_priority_eps_is_added_to_the_error():
    """Errors 0 and 1 with eps 1, alpha 1: priorities 1 and 2, so the second comes 2/3 of the time."""
    assert _share_of_obs_one(_prioritized_two((0.0, 1.0), alpha=1.0, priority_eps=1.0)) == pytest.approx(
        2 / 3, abs=0.02
    )
    assert _share_of_obs_one(_prioritized_two((0.0, 1.0), alpha=1.0, priority_eps=1e-6)) > 0.99


@pytest.mark.parametrize("beta_start", [0.0, 0.4, 1.0])
def test_beta_start_sets_the_importance_weights(beta_start):
    """Priorities 1 and 3 (alpha 1): weights (min p / p)^beta, so the frequent transition weighs 3^-beta."""
    memory = _prioritized_two((1.0, 3.0), alpha=1.0, priority_eps=1e-9, beta_start=beta_start)
    batch = memory.sample(64)
    assert batch.weights is not None
    np.testing.assert_allclose(batch.weights[batch.obs[:, 0] == 1.0], 3.0**-beta_start, rtol=1e-4)
    np.testing.assert_allclose(batch.weights[batch.obs[:, 0] == 0.0], 1.0)


def test_beta_reaches_one_after_beta_steps():
    """beta_steps 4: after the 2 env steps stored, beta is halfway from 0 to 1; after 4 more it is 1."""
    memory = _prioritized_two((1.0, 3.0), beta_steps=4, alpha=1.0, priority_eps=1e-9, beta_start=0.0)
    batch = memory.sample(64)
    np.testing.assert_allclose(batch.weights[batch.obs[:, 0] == 1.0], 3.0**-0.5, rtol=1e-4)
    _add_steps(memory, 4)
    batch = memory.sample(512)  # new transitions enter at the largest priority, 3
    assert batch.weights is not None and (batch.obs[:, 0] == 0.0).any()
    np.testing.assert_allclose(batch.weights.min() / batch.weights.max(), 1 / 3, rtol=1e-4)
