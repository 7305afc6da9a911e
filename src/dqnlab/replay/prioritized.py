"""Proportional prioritized sampling of replay slots (Schaul et al. 2016), over a sum tree."""

from __future__ import annotations

import numpy as np

from dqnlab.replay.sum_tree import SumTree


def priorities_from_errors(errors: np.ndarray, alpha: float, eps: float) -> np.ndarray:
    """p_i^alpha = (|delta_i| + eps)^alpha: what the tree stores, so P(i) = p_i^alpha / sum_k p_k^alpha (eq. 1)."""
    return (np.abs(errors).astype(np.float64) + eps) ** alpha


def importance_weights(probabilities: np.ndarray, size: int, beta: float) -> np.ndarray:
    """w_i = (N * P(i))^-beta, divided by the batch's largest weight so that weights only scale updates down.

    Schaul et al. (2016, Algorithm 1 line 10) divide by the largest weight; like most
    implementations (Dopamine's among them) we take it over the batch rather than the memory.
    """
    weights = (size * probabilities) ** -beta
    return (weights / weights.max()).astype(np.float32)


def importance_weights_from_priorities(priorities: np.ndarray, beta: float) -> np.ndarray:
    """`importance_weights` from the sampled slots' priorities p_i^alpha alone: N and the total cancel,

        (N P_i)^-beta / max_j (N P_j)^-beta = (min_j p_j / p_i)^beta,

    three numpy calls on [B] instead of a division by the total and two by N.
    """
    return ((priorities.min() / priorities) ** beta).astype(np.float32)


class PrioritizedSampler:
    """Draws slots with probability proportional to (|delta| + eps)^alpha, stratified over the batch.

    New slots enter with the largest priority seen so far, so every transition is replayed at
    least once soon after it is stored. `beta` is set by the memory as training goes on.
    """

    def __init__(self, capacity: int, alpha: float, beta: float, eps: float, rng: np.random.Generator) -> None:
        self.tree = SumTree(capacity)
        self.alpha = alpha
        self.beta = beta
        self.eps = eps
        self.rng = rng
        self.max_priority = 1.0  # largest p^alpha given so far; the priority of new slots

    def on_add(self, slots: np.ndarray) -> None:
        """Gives freshly written `slots` the largest priority seen so far."""
        if len(slots):
            self.tree.update(slots, np.full(len(slots), self.max_priority))

    def sample(self, size: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """`batch_size` slots and their importance-sampling weights [B] (float32)."""
        slots = self.tree.sample_stratified(batch_size, self.rng)
        return slots, importance_weights_from_priorities(self.tree.get(slots), self.beta)

    def update(self, slots: np.ndarray, errors: np.ndarray) -> None:
        """Sets the priorities of `slots` from their new errors |delta| (or losses) [B]."""
        priorities = priorities_from_errors(errors, self.alpha, self.eps)
        self.tree.update(slots, priorities)
        self.max_priority = max(self.max_priority, float(priorities.max()))

    def state_dict(self) -> dict[str, object]:
        """The tree and the priority of new slots; the random generator is the agent's, saved with it."""
        return {"tree": self.tree.state_dict(), "max_priority": self.max_priority, "beta": self.beta}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.tree.load_state_dict(state["tree"])  # type: ignore[arg-type]
        self.max_priority = float(state["max_priority"])  # type: ignore[arg-type]
        self.beta = float(state["beta"])  # type: ignore[arg-type]
