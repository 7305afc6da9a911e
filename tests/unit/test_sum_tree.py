"""The sum tree: equivalent to a naive array of priorities over random operations, and samples in proportion."""

import numpy as np
import pytest

from dqnlab.replay.sum_tree import SumTree


class NaiveSumTree:
    """The obvious implementation: a flat array, cumulative sums computed on demand."""

    def __init__(self, capacity: int) -> None:
        self.priorities = np.zeros(capacity)

    def update(self, slots, priorities):
        for slot, priority in zip(slots, priorities, strict=True):  # in order, so the last of repeated slots wins
            self.priorities[slot] = priority

    def find(self, values):
        return np.searchsorted(np.cumsum(self.priorities), values, side="right")


@pytest.mark.parametrize("flat_top", [1, 8, 1024])  # 1: descend from the root; 1024: search small trees at once
@pytest.mark.parametrize("capacity, branching", [(1, 2), (7, 2), (10, 3), (100, 32), (1000, 16), (5000, 4)])
def test_matches_a_naive_tree_over_random_updates_and_finds(capacity, branching, flat_top):
    rng = np.random.default_rng(capacity)
    tree, naive = SumTree(capacity, branching, flat_top), NaiveSumTree(capacity)
    for _ in range(200):
        slots = rng.integers(0, capacity, size=rng.integers(1, 20))  # repeats included
        priorities = rng.random(len(slots)) * rng.choice([0.0, 1.0, 100.0])  # zeros included
        tree.update(slots, priorities)
        naive.update(slots, priorities)
        np.testing.assert_allclose(tree.leaves, naive.priorities)
        assert tree.total == pytest.approx(naive.priorities.sum(), rel=1e-12)
        if naive.priorities.sum() > 0:
            values = rng.random(50) * naive.priorities.sum()
            np.testing.assert_array_equal(tree.find(values), naive.find(values))


@pytest.mark.parametrize("flat_top", [1, 4, 1024])
def test_find_by_hand(flat_top):
    tree = SumTree(5, branching=2, flat_top=flat_top)
    tree.update(np.arange(5), np.array([1.0, 0.0, 2.0, 0.5, 0.5]))
    # intervals: slot 0 [0, 1), slot 1 empty, slot 2 [1, 3), slot 3 [3, 3.5), slot 4 [3.5, 4)
    assert tree.total == 4.0
    np.testing.assert_array_equal(tree.find(np.array([0.0, 0.99, 1.0, 2.99, 3.0, 3.5, 3.999])), [0, 0, 2, 2, 3, 4, 4])


def test_a_zero_priority_slot_is_never_sampled():
    tree = SumTree(8, branching=2)
    tree.update(np.array([0, 2, 7]), np.array([1.0, 3.0, 1e-9]))
    slots = tree.sample_stratified(10_000, np.random.default_rng(0))
    assert set(np.unique(slots)) <= {0, 2, 7}


def test_stratified_sampling_takes_one_value_from_each_segment():
    tree = SumTree(4, branching=2)
    tree.update(np.arange(4), np.ones(4))  # four equal intervals of length 1
    for seed in range(20):
        slots = tree.sample_stratified(4, np.random.default_rng(seed))
        np.testing.assert_array_equal(slots, [0, 1, 2, 3])  # segment i is exactly slot i's interval


def test_sampling_frequencies_match_priorities_chi_square():
    capacity = 10
    priorities = np.array([1.0, 2.0, 3.0, 4.0, 0.5, 0.5, 8.0, 1.0, 0.0, 5.0])
    tree = SumTree(capacity, branching=4)
    tree.update(np.arange(capacity), priorities)
    rng = np.random.default_rng(1234)
    counts = np.bincount(np.concatenate([tree.sample_stratified(32, rng) for _ in range(1000)]), minlength=capacity)
    assert counts[8] == 0  # priority 0
    expected = 32_000 * priorities / priorities.sum()
    positive = expected > 0
    chi_square = (((counts - expected) ** 2)[positive] / expected[positive]).sum()
    assert chi_square < 26.12  # the 0.999 quantile of chi-square with 9 - 1 = 8 degrees of freedom
    uniform = np.full(capacity, 3200.0)
    assert (((uniform - expected) ** 2)[positive] / expected[positive]).sum() > 1000  # the test can tell


def test_rejects_negative_or_nan_priorities():
    tree = SumTree(4)
    with pytest.raises(ValueError):
        tree.update(np.array([0]), np.array([-1.0]))
    with pytest.raises(ValueError):
        tree.update(np.array([0]), np.array([np.nan]))
    with pytest.raises(ValueError):
        tree.sample_stratified(2, np.random.default_rng(0))  # all priorities 0
