"""The ring buffer: wrap-around, dtype, capacity 1, uniform sampling."""

import numpy as np

from dqnlab.replay import NStepAccumulator, ReplayMemory, RingStorage, Transitions, UniformSampler


def _memory(capacity):
    """A uniform memory of one env's 1-step transitions with observations [1]."""
    storage = RingStorage(capacity, (1,), np.dtype(np.float32))
    return ReplayMemory(storage, UniformSampler(np.random.default_rng(0)), NStepAccumulator(1, 0.99, 1))


def _add(storage, values):
    count = len(values)
    obs = np.array(values, dtype=np.uint8).reshape(count, 1)
    storage.add(
        Transitions(obs, np.array(values), np.array(values, dtype=np.float32), obs + 1, np.full(count, 0.9, np.float32))
    )


def test_wraps_around_and_overwrites_the_oldest():
    storage = RingStorage(capacity=4, obs_shape=(1,), obs_dtype=np.dtype(np.uint8))
    _add(storage, [0, 1, 2])
    assert storage.size == 3
    _add(storage, [3, 4, 5])  # 4 and 5 overwrite slots 0 and 1
    assert storage.size == 4
    np.testing.assert_array_equal(storage.actions, [4, 5, 2, 3])
    np.testing.assert_array_equal(storage.obs[:, 0], [4, 5, 2, 3])
    np.testing.assert_array_equal(storage.next_obs[:, 0], [5, 6, 3, 4])


def test_observation_dtype_is_preserved():
    storage = RingStorage(capacity=2, obs_shape=(84, 84), obs_dtype=np.dtype(np.uint8))
    assert storage.obs.dtype == np.uint8 and storage.next_obs.dtype == np.uint8
    assert storage.obs.nbytes == 2 * 84 * 84


def test_capacity_one_keeps_only_the_latest_transition():
    memory = _memory(1)
    for value in range(5):
        obs = np.array([[value]], dtype=np.float32)
        memory.add(obs, np.array([value]), np.array([1.0]), obs, np.array([False]), np.array([False]))
    assert len(memory) == 1
    batch = memory.sample(1)
    assert batch.actions.tolist() == [4]


def test_uniform_sampling_covers_only_stored_slots_evenly():
    memory = _memory(100)
    obs = np.arange(10, dtype=np.float32).reshape(10, 1)
    memory.add(obs, np.arange(10), np.zeros(10), obs, np.zeros(10, bool), np.zeros(10, bool))
    counts = np.zeros(10)
    for _ in range(200):
        batch = memory.sample(50)
        assert batch.actions.max() < 10  # never an unwritten slot
        np.testing.assert_array_equal(batch.obs[:, 0], batch.actions)  # fields stay aligned
        counts += np.bincount(batch.actions, minlength=10)
    # 10,000 draws over 10 slots: each near 1,000 (binomial sd ~ 30)
    assert np.all(np.abs(counts - 1000) < 150)
