"""n-step transitions worked by hand: gamma = 0.5, n = 3, so gamma^k = 0.5, 0.25, 0.125."""

import numpy as np
import pytest

from dqnlab.replay import NStepAccumulator, ReplayMemory, RingStorage, Transitions, UniformSampler

GAMMA = 0.5


def _step(acc, obs, actions, rewards, next_obs, terminated=(False,), truncated=(False,)):
    """One step of len(obs) envs, each observation a single number."""
    return acc.add(
        np.array(obs, np.float32).reshape(-1, 1),
        np.array(actions),
        np.array(rewards, np.float32),
        np.array(next_obs, np.float32).reshape(-1, 1),
        np.array(terminated),
        np.array(truncated),
    )


def _rows(transitions):
    """(obs, action, return, next_obs, discount) per transition, for comparison with hand-made rows."""
    return [
        (float(o[0]), int(a), pytest.approx(float(r)), float(n[0]), pytest.approx(float(d)))
        for o, a, r, n, d in zip(*transitions, strict=True)
    ]


def test_termination_in_the_middle_cuts_the_return_and_the_next_episode_starts_afresh():
    acc = NStepAccumulator(3, GAMMA, num_envs=1)
    # episode 1: obs 0 -r1-> 1 -r2-> 2 (terminated)
    assert len(_step(acc, [0], [0], [1], [1]).actions) == 0
    out = _step(acc, [1], [1], [2], [2], terminated=[True])
    # both queued steps complete, with no bootstrap: R = 1 + 0.5*2 = 2 and R = 2, discount 0
    assert _rows(out) == [(0, 0, 2.0, 2, 0.0), (1, 1, 2.0, 2, 0.0)]
    # episode 2: obs 10 -r5-> 11 -r6-> 12 -r7-> 13 -r8-> 14; nothing of episode 1 is mixed in
    assert len(_step(acc, [10], [0], [5], [11]).actions) == 0
    assert len(_step(acc, [11], [1], [6], [12]).actions) == 0
    out = _step(acc, [12], [0], [7], [13])
    assert _rows(out) == [(10, 0, 5 + 0.5 * 6 + 0.25 * 7, 13, 0.125)]
    out = _step(acc, [13], [1], [8], [14])
    assert _rows(out) == [(11, 1, 6 + 0.5 * 7 + 0.25 * 8, 14, 0.125)]


def test_termination_after_more_than_n_steps_flushes_the_tail_with_discount_zero():
    acc = NStepAccumulator(3, GAMMA, num_envs=1)
    _step(acc, [0], [0], [1], [1])
    _step(acc, [1], [0], [2], [2])
    assert _rows(_step(acc, [2], [0], [3], [3])) == [(0, 0, 1 + 0.5 * 2 + 0.25 * 3, 3, 0.125)]
    out = _step(acc, [3], [0], [4], [4], terminated=[True])
    assert _rows(out) == [
        (1, 0, 2 + 0.5 * 3 + 0.25 * 4, 4, 0.0),
        (2, 0, 3 + 0.5 * 4, 4, 0.0),
        (3, 0, 4.0, 4, 0.0),
    ]


def test_truncation_bootstraps_from_the_real_last_observation_with_gamma_to_the_steps_left():
    acc = NStepAccumulator(3, GAMMA, num_envs=1)
    _step(acc, [0], [0], [1], [1])
    out = _step(acc, [1], [1], [2], [2], truncated=[True])
    # target = R + gamma^k Q(2, .): k = 2 from obs 0, k = 1 from obs 1
    assert _rows(out) == [(0, 0, 1 + 0.5 * 2, 2, 0.25), (1, 1, 2.0, 2, 0.5)]


def test_two_envs_ending_at_different_steps_keep_separate_queues():
    acc = NStepAccumulator(2, GAMMA, num_envs=2)
    # env 0 observes 0, 1, 2, ... and terminates on its 2nd step; env 1 observes 100, 101, ... and
    # is truncated on its 3rd step. Rewards: env 0 gets 1, 2; env 1 gets 10, 20, 30.
    assert len(_step(acc, [0, 100], [0, 1], [1, 10], [1, 101], [False, False], [False, False]).actions) == 0
    out = _step(acc, [1, 101], [0, 1], [2, 20], [2, 102], [True, False], [False, False])
    assert _rows(out) == [
        (0, 0, 1 + 0.5 * 2, 2, 0.0),  # env 0 ends: its two steps complete without bootstrap
        (1, 0, 2.0, 2, 0.0),
        (100, 1, 10 + 0.5 * 20, 102, 0.25),  # env 1's first 2-step transition
    ]
    # env 0 restarted at 50 (the loop passes the new episode's first observation)
    out = _step(acc, [50, 102], [1, 0], [3, 30], [51, 103], [False, False], [False, True])
    assert _rows(out) == [
        (101, 1, 20 + 0.5 * 30, 103, 0.25),  # env 1 truncated: bootstraps from 103
        (102, 0, 30.0, 103, 0.5),
    ]
    out = _step(acc, [51, 200], [0, 0], [4, 0], [52, 201], [False, False], [False, False])
    assert _rows(out) == [(50, 1, 3 + 0.5 * 4, 52, 0.25)]


def test_one_step_transitions_pass_straight_through():
    acc = NStepAccumulator(1, GAMMA, num_envs=2)
    out = _step(acc, [0, 100], [0, 1], [1, 10], [1, 101], [True, False], [False, True])
    assert _rows(out) == [(0, 0, 1.0, 1, 0.0), (100, 1, 10.0, 101, 0.5)]


def test_memory_stores_n_step_transitions():
    storage = RingStorage(10, (1,), np.dtype(np.float32))
    memory = ReplayMemory(storage, UniformSampler(np.random.default_rng(0)), NStepAccumulator(2, GAMMA, num_envs=1))
    for t, reward in enumerate([1.0, 2.0, 3.0]):
        memory.add(
            np.array([[t]], np.float32),
            np.array([0]),
            np.array([reward]),
            np.array([[t + 1]], np.float32),
            np.array([t == 2]),
            np.array([False]),
        )
    assert len(memory) == 3
    np.testing.assert_allclose(storage.rewards[:3], [1 + 0.5 * 2, 2 + 0.5 * 3, 3])
    np.testing.assert_allclose(storage.discounts[:3], [0.25, 0.0, 0.0])
    np.testing.assert_allclose(storage.next_obs[:3, 0], [2, 3, 3])


def test_reserve_fraction_keeps_the_first_transitions():
    storage = RingStorage(capacity=4, obs_shape=(1,), obs_dtype=np.dtype(np.float32), reserve_fraction=0.5)
    for value in range(7):
        obs = np.array([[value]], np.float32)
        storage.add(Transitions(obs, np.array([value]), np.zeros(1, np.float32), obs, np.ones(1, np.float32)))
    # slots 0 and 1 keep transitions 0 and 1; 2 and 3 cycle: 2, 3, then 4 -> slot 2, 5 -> 3, 6 -> 2
    np.testing.assert_array_equal(storage.actions, [0, 1, 6, 5])
    assert storage.size == 4 and storage.written == 7
