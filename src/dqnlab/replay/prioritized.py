"""Proportional prioritized sampling of replay slots (Schaul et al. 2016), over a sum tree."""

from __future__ import annotations

import numpy as np

from dqnlab.replay.storage import Live
from dqnlab.replay.sum_tree import SumTree


def priorities_from_errors(errors: np.ndarray, alpha: float, eps: float) -> np.ndarray:
    """p_i^alpha = (|delta_i| + eps)^alpha: what the tree stores, so P(i) = p_i^alpha / sum_k p_k^alpha (eq. 1)."""
    return (np.abs(errors).astype(np.float64) + eps) ** alpha


def importance_weights_from_priorities(priorities: np.ndarray, beta: float) -> np.ndarray:
    """Importance weights w_i = (N P(i))^-beta over the batch's largest, from the sampled slots'
    priorities p_i^alpha alone: N and the total cancel,

        (N P_i)^-beta / max_j (N P_j)^-beta = (min_j p_j / p_i)^beta.

    Schaul et al. (2016, Algorithm 1 line 10) divide by the largest weight; like most
    implementations (Dopamine's among them) we take it over the batch rather than the memory.
    """
    return ((priorities.min() / priorities) ** beta).astype(np.float32)


class PrioritizedSampler:
    """Draws slots with probability proportional to (|delta| + eps)^alpha, stratified over the batch.

    New slots enter with the largest priority seen so far, so every transition is replayed at
    least once soon after it is stored. The importance-sampling exponent beta moves linearly
    from `beta_start` to 1 over `beta_steps` env steps stored (Schaul et al. 2016).
    """

    def __init__(
        self, capacity: int, rng: np.random.Generator, *, alpha: float, beta_start: float, beta_steps: int, eps: float
    ) -> None:
        self.tree = SumTree(capacity)
        self.rng = rng
        self.alpha = alpha
        self.eps = eps
        self.beta_start = beta_start
        self.beta_steps = max(beta_steps, 1)
        self.env_steps = 0  # env steps stored, all envs counted: beta's clock
        self.max_priority = 1.0  # largest p^alpha given so far; the priority of new slots

    @property
    def beta(self) -> float:
        """The importance-sampling exponent now: beta_start, annealed linearly to 1."""
        fraction = min(self.env_steps / self.beta_steps, 1.0)
        return self.beta_start + fraction * (1.0 - self.beta_start)

    def on_add(self, slots: np.ndarray, env_steps: int, errors: np.ndarray | None = None) -> None:
        """Counts `env_steps` for beta and gives freshly written `slots` their priorities: from
        their initial `errors` when given (Ape-X actors compute them), else the largest so far."""
        self.env_steps += env_steps
        if not len(slots):
            return
        if errors is None:
            self.tree.update(slots, np.full(len(slots), self.max_priority))
        else:
            self.update_priorities(slots, errors)

    def sample(self, batch_size: int, size: int, live: Live | None = None) -> tuple[np.ndarray, np.ndarray]:
        """`batch_size` slots and their importance-sampling weights [B] (float32); `size` is unused
        (slots never written have priority 0).

        A slot that `live` rejects (evicted from frame storage) gets priority 0, so it is never
        drawn again, and the batch is drawn anew.
        """
        for _ in range(100):
            slots = self.tree.sample_stratified(batch_size, self.rng)
            alive = None if live is None else live(slots)
            if alive is None or alive.all():
                return slots, importance_weights_from_priorities(self.tree.get(slots), self.beta)
            dead = np.unique(slots[~alive])
            self.tree.update(dead, np.zeros(len(dead)))
        raise RuntimeError("replay could not draw a batch of live transitions; the frame pool is too small")

    def update_priorities(self, slots: np.ndarray, errors: np.ndarray) -> None:
        """Sets the priorities of `slots` from their new errors |delta| (or losses) [B]."""
        priorities = priorities_from_errors(errors, self.alpha, self.eps)
        self.tree.update(slots, priorities)
        self.max_priority = max(self.max_priority, float(priorities.max()))

    def state_dict(self) -> dict[str, object]:
        """The tree, the priority of new slots and beta's clock; the random generator is the agent's, saved with it."""
        return {
            "tree": self.tree.state_dict(),
            "max_priority": self.max_priority,
            "env_steps": self.env_steps,
            "beta_steps": self.beta_steps,
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.tree.load_state_dict(state["tree"])  # type: ignore[arg-type]
        self.max_priority = float(state["max_priority"])  # type: ignore[arg-type]
        self.env_steps = int(state["env_steps"])  # type: ignore[call-overload]
        self.beta_steps = int(state["beta_steps"])  # type: ignore[call-overload]
