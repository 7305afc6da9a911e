"""Uniform sampling of replay slots, with replacement."""

from __future__ import annotations

import numpy as np

from dqnlab.replay.storage import Live


class UniformSampler:
    """Every stored transition is equally likely: no importance weights, and priorities are ignored."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def on_add(self, slots: np.ndarray, env_steps: int, errors: np.ndarray | None = None) -> None:
        """Nothing to record: every slot is as likely as any other."""

    def sample(self, batch_size: int, size: int, live: Live | None = None) -> tuple[np.ndarray, None]:
        """`batch_size` slots drawn uniformly from [0, size), and no weights.

        A slot that `live` rejects (evicted from frame storage) is drawn again in its place,
        which keeps the draw uniform over the live slots.
        """
        slots = self.rng.integers(0, size, size=batch_size)
        for _ in range(1000):
            alive = None if live is None else live(slots)
            if alive is None or alive.all():
                return slots, None
            dead = np.flatnonzero(~alive)
            slots[dead] = self.rng.integers(0, size, size=len(dead))
        raise RuntimeError("replay could not draw a batch of live transitions; the frame pool is too small")

    def update_priorities(self, slots: np.ndarray, errors: np.ndarray) -> None:
        """Nothing to update: uniform sampling has no priorities."""

    def state_dict(self) -> dict[str, object]:
        """Nothing of its own: the random generator is the agent's, saved with it."""
        return {}

    def load_state_dict(self, state: dict[str, object]) -> None:
        pass
