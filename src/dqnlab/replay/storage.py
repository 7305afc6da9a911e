"""Preallocated ring buffer of transitions in numpy, observation dtype preserved."""

from __future__ import annotations

import numpy as np


class RingStorage:
    """Holds the last `capacity` transitions (s, a, r, s', discount); the oldest is overwritten first.

    With `reserve_fraction` > 0 the first `int(capacity * reserve_fraction)` transitions ever
    written are kept for good: the ring wraps around past them, so early, exploratory experience
    stays in replay (a remedy for the forgetting that precedes a collapse of the learned policy).
    """

    def __init__(
        self, capacity: int, obs_shape: tuple[int, ...], obs_dtype: np.dtype, reserve_fraction: float = 0.0
    ) -> None:
        if not 0.0 <= reserve_fraction < 1.0:
            raise ValueError("reserve_fraction must be in [0, 1)")
        self.capacity = capacity
        self.reserved = int(capacity * reserve_fraction)  # slots [0, reserved) are never overwritten
        self.written = 0  # transitions written since the start
        self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.discounts = np.zeros(capacity, dtype=np.float32)
        self.position = 0  # next slot to write
        self.size = 0  # slots holding a transition

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        discounts: np.ndarray,
    ) -> np.ndarray:
        """Writes a batch of N transitions (leading axis N); returns the slots written."""
        count = len(actions)
        serial = self.written + np.arange(count)
        ring = self.capacity - self.reserved
        slots = np.where(serial < self.capacity, serial, self.reserved + (serial - self.reserved) % ring)
        self.obs[slots] = obs
        self.next_obs[slots] = next_obs
        self.actions[slots] = actions
        self.rewards[slots] = rewards
        self.discounts[slots] = discounts
        self.written += count
        self.position = self._slot(self.written)
        self.size = min(self.size + count, self.capacity)
        return slots

    def _slot(self, serial: int) -> int:
        """The slot of the `serial`-th transition written (0-based)."""
        if serial < self.capacity:
            return serial
        return self.reserved + (serial - self.reserved) % (self.capacity - self.reserved)

    def gather(self, slots: np.ndarray) -> tuple[np.ndarray, ...]:
        """The transitions at `slots`, as (obs, actions, rewards, next_obs, discounts)."""
        return (
            self.obs[slots],
            self.actions[slots],
            self.rewards[slots],
            self.next_obs[slots],
            self.discounts[slots],
        )

    def state_dict(self) -> dict[str, object]:
        """The filled slots [0, size) and the write counters: numpy arrays and ints (no pickle needed)."""
        return {
            "capacity": self.capacity,
            "reserved": self.reserved,
            "written": self.written,
            "position": self.position,
            "size": self.size,
            "obs": self.obs[: self.size],
            "next_obs": self.next_obs[: self.size],
            "actions": self.actions[: self.size],
            "rewards": self.rewards[: self.size],
            "discounts": self.discounts[: self.size],
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Copies a `state_dict` into this storage, which must have the same capacity, reserve and shapes."""
        if (state["capacity"], state["reserved"]) != (self.capacity, self.reserved):
            raise ValueError(
                f"replay storage of capacity {state['capacity']} (reserve {state['reserved']}) "
                f"does not fit one of capacity {self.capacity} (reserve {self.reserved})"
            )
        size = int(state["size"])  # type: ignore[call-overload]
        for name in ("obs", "next_obs", "actions", "rewards", "discounts"):
            array = getattr(self, name)
            saved = np.asarray(state[name])
            if saved.shape != (size, *array.shape[1:]) or saved.dtype != array.dtype:
                expected = [size, *array.shape[1:]]
                raise ValueError(f"replay {name} is {saved.dtype}{list(saved.shape)}; expected {array.dtype}{expected}")
            array[:size] = saved  # copied slot by slot from a memory map: no second full copy in memory
        self.written = int(state["written"])  # type: ignore[call-overload]
        self.position = int(state["position"])  # type: ignore[call-overload]
        self.size = size
