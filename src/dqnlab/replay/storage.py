"""Preallocated ring buffer of transitions in numpy, observation dtype preserved."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dqnlab.replay.n_step import Transitions

FIELDS = Transitions._fields  # a transition's arrays: obs, actions, rewards, next_obs, discounts
Live = Callable[[np.ndarray], "np.ndarray | None"]  # slots [B] -> whether each can be replayed; None: all can


def ring_slots(serials: np.ndarray, capacity: int, reserved: int) -> np.ndarray:
    """The slots of the `serials`-th items written (0-based) to a ring of `capacity` slots whose
    first `reserved` slots keep the first items for good: the ring wraps around past them."""
    return np.where(serials < capacity, serials, reserved + (serials - reserved) % (capacity - reserved))


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
        self.size = 0  # slots holding a transition

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (not Python overhead)."""
        return sum(getattr(self, name).nbytes for name in FIELDS)

    def encode(self, obs: np.ndarray, next_obs: np.ndarray, ended: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Observations as this storage keeps them: whole, as they are."""
        return obs, next_obs

    def add(self, transitions: Transitions) -> np.ndarray:
        """Writes M transitions (leading axis M, possibly 0); returns the slots written."""
        count = len(transitions.actions)
        slots = ring_slots(self.written + np.arange(count), self.capacity, self.reserved)
        for name, values in zip(FIELDS, transitions, strict=True):
            getattr(self, name)[slots] = values
        self.written += count
        self.size = min(self.size + count, self.capacity)
        return slots

    def gather(self, slots: np.ndarray) -> Transitions:
        """The transitions at `slots`."""
        return Transitions(*(getattr(self, name)[slots] for name in FIELDS))

    def live(self, slots: np.ndarray) -> None:
        """Whether each slot can be replayed: all can (None), since a ring never evicts a stored transition."""
        return None

    def state_dict(self) -> dict[str, object]:
        """The filled slots [0, size) and the write counters: numpy arrays and ints (no pickle needed)."""
        return {
            "capacity": self.capacity,
            "reserved": self.reserved,
            "written": self.written,
            "size": self.size,
            **{name: getattr(self, name)[: self.size] for name in FIELDS},
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Copies a `state_dict` into this storage, which must have the same capacity, reserve and shapes."""
        if (state["capacity"], state["reserved"]) != (self.capacity, self.reserved):
            raise ValueError(
                f"replay storage of capacity {state['capacity']} (reserve {state['reserved']}) "
                f"does not fit one of capacity {self.capacity} (reserve {self.reserved})"
            )
        size = int(state["size"])  # type: ignore[call-overload]
        for name in FIELDS:
            array = getattr(self, name)
            saved = np.asarray(state[name])
            if saved.shape != (size, *array.shape[1:]) or saved.dtype != array.dtype:
                expected = [size, *array.shape[1:]]
                raise ValueError(f"replay {name} is {saved.dtype}{list(saved.shape)}; expected {array.dtype}{expected}")
            array[:size] = saved  # copied slot by slot from a memory map: no second full copy in memory
        self.written = int(state["written"])  # type: ignore[call-overload]
        self.size = size
