"""Prioritized replay (Schaul et al. 2016): priorities, importance-sampling weights and beta, by hand."""

import numpy as np
import pytest

from dqnlab.replay import NStepAccumulator, PrioritizedSampler, ReplayMemory, RingStorage, UniformSampler
from dqnlab.replay.prioritized import priorities_from_errors


def _memory(capacity=8, sampler=None, *, alpha=0.6, eps=1e-6, beta_start=0.4, beta_steps=100_000):
    """A memory of one env's 1-step transitions [1]; prioritized unless another `sampler` is given."""
    rng = np.random.default_rng(0)
    if sampler is None:
        sampler = PrioritizedSampler(capacity, rng, alpha=alpha, beta_start=beta_start, beta_steps=beta_steps, eps=eps)
    return ReplayMemory(RingStorage(capacity, (1,), np.dtype(np.float32)), sampler, NStepAccumulator(1, 0.99, 1))


def _add(memory, values):
    obs = np.array(values, np.float32).reshape(-1, 1)
    count = len(values)
    memory.add(obs, np.array(values), np.zeros(count), obs, np.zeros(count, bool), np.zeros(count, bool))


def importance_weights(probabilities, size, beta):
    """The textbook weights: w_i = (N * P(i))^-beta, divided by the batch's largest (Schaul et al. 2016)."""
    weights = (size * probabilities) ** -beta
    return (weights / weights.max()).astype(np.float32)


def test_priority_is_error_plus_eps_to_the_alpha():
    np.testing.assert_allclose(priorities_from_errors(np.array([0.0, -3.0, 8.0]), alpha=0.5, eps=1.0), [1.0, 2.0, 3.0])


def test_importance_weights_by_hand():
    # P = [.1, .2, .3, .4], N = 4, beta = 0.5: w = (N P)^-beta / max w = (P / P_min)^-0.5
    weights = importance_weights(np.array([0.1, 0.2, 0.3, 0.4]), size=4, beta=0.5)
    np.testing.assert_allclose(weights, [1.0, 1 / np.sqrt(2), 1 / np.sqrt(3), 0.5], rtol=1e-6)
    np.testing.assert_allclose(importance_weights(np.array([0.1, 0.4]), size=4, beta=0.0), [1.0, 1.0])


def test_sampled_weights_follow_the_stored_priorities():
    sampler = PrioritizedSampler(4, np.random.default_rng(0), alpha=1.0, beta_start=1.0, beta_steps=1, eps=1e-9)
    sampler.tree.update(np.arange(4), np.array([1.0, 2.0, 3.0, 4.0]))
    for _ in range(10):
        slots, weights = sampler.sample(batch_size=4, size=4)
        # beta = 1: w_i = 1 / (N P_i), divided by the batch's largest: p_min / p_i with p_i = slot + 1
        priorities = slots + 1.0
        np.testing.assert_allclose(weights, priorities.min() / priorities, rtol=1e-6)


def test_new_transitions_enter_with_the_largest_priority_seen():
    memory = _memory(alpha=1.0, eps=1e-12)
    _add(memory, [0, 1, 2])
    np.testing.assert_allclose(memory.sampler.tree.leaves[:3], [1.0, 1.0, 1.0])  # nothing seen yet: 1
    memory.update_priorities(np.array([0, 1]), np.array([5.0, 0.5]))
    _add(memory, [3])
    np.testing.assert_allclose(memory.sampler.tree.leaves[:4], [5.0, 0.5, 1.0, 5.0], rtol=1e-9)


def test_update_priorities_changes_what_is_sampled():
    memory = _memory(capacity=4, alpha=1.0)
    _add(memory, [0, 1, 2, 3])
    memory.update_priorities(np.arange(4), np.array([0.0, 0.0, 0.0, 10.0]))  # only slot 3 matters
    batch = memory.sample(64)
    assert (batch.indices == 3).mean() > 0.99
    assert batch.weights is not None and batch.weights.dtype == np.float32 and batch.weights.max() == 1.0
    np.testing.assert_array_equal(batch.actions, batch.indices)  # fields and indices stay aligned


def test_beta_is_annealed_linearly_to_one_over_the_stored_steps():
    memory = _memory(capacity=200, beta_start=0.4, beta_steps=100)
    assert memory.sampler.beta == pytest.approx(0.4)
    _add(memory, list(range(50)))
    assert memory.sampler.beta == pytest.approx(0.7)
    _add(memory, list(range(100)))
    assert memory.sampler.beta == pytest.approx(1.0)


def test_uniform_memory_has_no_weights_and_ignores_priority_updates():
    memory = _memory(8, UniformSampler(np.random.default_rng(0)))
    _add(memory, [0, 1, 2])
    memory.update_priorities(np.array([0]), np.array([3.0]))
    assert memory.sample(4).weights is None


def test_weights_from_priorities_alone_equal_the_textbook_formula():
    from dqnlab.replay.prioritized import importance_weights_from_priorities

    priorities = np.array([0.5, 2.0, 3.0, 0.25])
    total, size = 20.0, 40  # other slots hold the rest of the total
    np.testing.assert_allclose(
        importance_weights_from_priorities(priorities, 0.6),
        importance_weights(priorities / total, size, 0.6),
        rtol=1e-6,
    )


def test_beta_counts_env_steps_even_before_the_n_step_accumulator_emits_a_transition():
    sampler = PrioritizedSampler(8, np.random.default_rng(0), alpha=1.0, beta_start=0.4, beta_steps=10, eps=1e-6)
    memory = ReplayMemory(RingStorage(8, (1,), np.dtype(np.float32)), sampler, NStepAccumulator(3, 0.99, num_envs=2))
    _add(memory, [0, 1])  # one step of 2 envs: 3-step queues still filling, nothing stored
    assert len(memory) == 0
    assert memory.sampler.beta == pytest.approx(0.4 + 0.6 * 2 / 10)  # 2 env steps of 10
