"""Uniform sampling of replay slots, with replacement."""

from __future__ import annotations

import numpy as np


class UniformSampler:
    """Every stored transition is equally likely; importance weights are not needed."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def sample(self, size: int, batch_size: int) -> np.ndarray:
        """`batch_size` slots drawn uniformly from [0, size)."""
        return self.rng.integers(0, size, size=batch_size)

    def state_dict(self) -> dict[str, object]:
        """Nothing of its own: the random generator is the agent's, saved with it."""
        return {}

    def load_state_dict(self, state: dict[str, object]) -> None:
        pass
