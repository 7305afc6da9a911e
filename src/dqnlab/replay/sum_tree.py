"""A sum tree over replay slots, held in flat numpy arrays, with batched sampling and updates.

Every internal node holds the sum of its children, so the root is the total priority, and a
value u in [0, total) leads from the root to the leaf whose cumulative-sum interval holds it
in one pass down the tree. A batch of B values descends together: each level is a handful of
numpy operations on [B] or [B, k] arrays, and there is no Python loop over the batch.

The tree is k-ary (Schaul et al. 2016 use k = 2). A wider node makes the tree shallower:
with k = 32 a million slots need 4 levels instead of 20, and since every level costs a few
numpy calls whatever the batch size, the batch operations get several times faster
(benchmarks/replay_sampling.py compares branchings). Sampling also skips the top of the tree:
the deepest level of at most `flat_top` nodes (1,024 for a million slots) is searched at once,
by a cumulative sum and `np.searchsorted` over it, and the descent starts there.
"""

from __future__ import annotations

import math

import numpy as np


class SumTree:
    """Non-negative priorities of `capacity` slots; sums and sampling in O(depth) numpy calls."""

    def __init__(self, capacity: int, branching: int = 32, flat_top: int = 1024) -> None:
        if capacity < 1 or branching < 2:
            raise ValueError("SumTree needs capacity >= 1 and branching >= 2")
        self.capacity = capacity
        self.branching = branching
        depth = max(1, int(np.ceil(np.log(capacity) / np.log(branching) - 1e-9)))
        while branching**depth < capacity:  # guards the float logarithm
            depth += 1
        # levels[0] is the root; levels[-1] holds the leaves, branching**depth >= capacity of them,
        # the ones past `capacity` staying 0 so they are never sampled.
        self.levels = [np.zeros(branching**level, dtype=np.float64) for level in range(depth + 1)]
        # children [B, k] @ this = their exclusive prefix sums: one BLAS call, faster than cumsum on rows
        self._strictly_before = np.triu(np.ones((branching, branching)), k=1)
        self._ones = np.ones(branching)  # children [B, k] @ this = their sums, faster than .sum(axis=1)
        # each level below the root as rows of siblings [nodes above, k]: views, made once
        self._sibling_rows = [level.reshape(-1, branching) for level in self.levels[1:]]
        self._strata: dict[int, np.ndarray] = {}  # batch size -> [0, 1, ..., B-1], for stratified draws
        # where `find` starts: the deepest level of at most `flat_top` nodes (the root at least)
        self._top = max(level for level, nodes in enumerate(self.levels) if nodes.size <= max(flat_top, 1))

    @property
    def total(self) -> float:
        return float(self.levels[0][0])

    @property
    def leaves(self) -> np.ndarray:
        """[capacity] the slots' priorities (a view)."""
        return self.levels[-1][: self.capacity]

    def get(self, slots: np.ndarray) -> np.ndarray:
        return self.levels[-1][slots]

    def update(self, slots: np.ndarray, priorities: np.ndarray) -> None:
        """Sets the priorities of `slots` [B] and recomputes their ancestors, level by level.

        A parent is recomputed from its children rather than shifted by a difference, so rounding
        errors never accumulate. Repeated slots are fine: the last priority given wins, and
        recomputing the same parent twice writes the same sum.
        """
        slots = np.asarray(slots, dtype=np.int64)
        priorities = np.asarray(priorities, dtype=np.float64)
        assert slots.shape == priorities.shape, "one priority per slot"
        if priorities.size and not priorities.min() >= 0:  # NaN fails this too
            raise ValueError("priorities must be finite and >= 0")
        k = self.branching
        self.levels[-1][slots] = priorities
        nodes = slots
        for level in range(len(self.levels) - 2, -1, -1):
            nodes = nodes // k
            self.levels[level][nodes] = self._sibling_rows[level][nodes] @ self._ones
        if not math.isfinite(self.levels[0][0]):  # an infinite priority reaches the root
            raise ValueError("priorities must be finite and >= 0")

    def find(self, values: np.ndarray) -> np.ndarray:
        """The leaf [B] whose cumulative-priority interval [sum before it, sum through it) holds each value.

        `values` [B] must lie in [0, total). A leaf of priority 0 has an empty interval and is
        never returned.
        """
        values = np.asarray(values, dtype=np.float64)
        rows = np.arange(values.size)
        top = self.levels[self._top]
        through = np.cumsum(top)  # the first node whose interval ends beyond the value:
        nodes = np.minimum(np.searchsorted(through, values, side="right"), top.size - 1)
        values = values - (through[nodes] - top[nodes])
        for level in range(self._top + 1, len(self.levels)):
            children_BK = self._sibling_rows[level - 1][nodes]
            before_BK = children_BK @ self._strictly_before  # sum of the children left of each
            # the first child whose interval [before, before + priority) ends beyond the value
            child_B = (before_BK + children_BK <= values[:, None]).argmin(axis=1)
            values = values - before_BK[rows, child_B]
            nodes = nodes * self.branching + child_B
        # Rounding can carry a value past the sum of the node it descends into (a value within
        # about 1e-16, relative, of an interval's end); `argmin` then picks the node's first
        # child, a leaf of the wrong interval. That has a probability of order 1e-16 per draw
        # and is left alone; a leaf of priority 0, which must never be replayed, is corrected.
        zero = self.levels[-1][nodes] <= 0
        if zero.any():
            nodes[zero] = self._nearest_positive_leaf(nodes[zero])
        return nodes

    def _nearest_positive_leaf(self, leaves: np.ndarray) -> np.ndarray:
        """For each leaf, the last leaf at or before it with a positive priority (else the first one)."""
        positive = np.flatnonzero(self.leaves > 0)
        if positive.size == 0:
            raise ValueError("cannot sample from a sum tree whose priorities are all 0")
        before = np.searchsorted(positive, leaves, side="right") - 1
        return positive[np.maximum(before, 0)]

    def sample_stratified(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """`batch_size` leaves, one from each of `batch_size` equal segments of [0, total).

        Stratification (Schaul et al. 2016, appendix B.2.1) spreads a batch over the whole
        priority range; each leaf is still drawn with probability proportional to its priority.
        """
        total = self.total
        if total <= 0:
            raise ValueError("cannot sample from a sum tree whose priorities are all 0")
        strata = self._strata.get(batch_size)
        if strata is None:
            strata = self._strata[batch_size] = np.arange(batch_size, dtype=np.float64)
        values = (strata + rng.random(batch_size)) * (total / batch_size)
        return self.find(np.minimum(values, math.nextafter(total, 0.0)))

    def state_dict(self) -> dict[str, object]:
        """Every level of the tree, so that the sums are restored bit for bit rather than recomputed
        (the leaves only up to `capacity`: those past it are always 0)."""
        levels = [*self.levels[:-1], self.leaves]
        return {
            "capacity": self.capacity,
            "branching": self.branching,
            **{f"level_{index}": level for index, level in enumerate(levels)},
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        if (state["capacity"], state["branching"]) != (self.capacity, self.branching):
            raise ValueError(
                f"sum tree of capacity {state['capacity']} and branching {state['branching']} does not fit "
                f"one of capacity {self.capacity} and branching {self.branching}"
            )
        for index, level in enumerate([*self.levels[:-1], self.leaves]):
            saved = np.asarray(state[f"level_{index}"])
            if saved.shape != level.shape:
                raise ValueError(f"sum tree level {index} has shape {saved.shape}, expected {level.shape}")
            level[...] = saved
        self.levels[-1][self.capacity :] = 0.0
