"""Replay memory: storage, a sampler and an n-step accumulator, behind the calls the training loop needs."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from dqnlab.replay.n_step import NStepAccumulator, Transitions
from dqnlab.replay.storage import Live
from dqnlab.types import Batch


class Storage(Protocol):
    """Where transitions live: `RingStorage` (whole observations) or `FrameStorage` (each frame once)."""

    @property
    def size(self) -> int: ...
    def encode(self, obs: np.ndarray, next_obs: np.ndarray, ended: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
    def add(self, transitions: Transitions) -> np.ndarray: ...
    def gather(self, slots: np.ndarray) -> Transitions: ...
    def live(self, slots: np.ndarray) -> np.ndarray | None: ...
    def state_dict(self) -> dict[str, object]: ...
    def load_state_dict(self, state: dict[str, object]) -> None: ...


class Sampler(Protocol):
    """Which slots to replay: `UniformSampler`, or `PrioritizedSampler` with importance weights."""

    def on_add(self, slots: np.ndarray, env_steps: int, errors: np.ndarray | None = None) -> None: ...
    def sample(self, batch_size: int, size: int, live: Live | None = None) -> tuple[np.ndarray, np.ndarray | None]: ...
    def update_priorities(self, slots: np.ndarray, errors: np.ndarray) -> None: ...
    def state_dict(self) -> dict[str, object]: ...
    def load_state_dict(self, state: dict[str, object]) -> None: ...


class ReplayMemory:
    """Stores env steps from N envs at a time as n-step transitions and samples training batches.

    Its parts are injected (`build_replay` makes them from a config): the accumulator turns env
    steps into n-step transitions, the storage keeps them, the sampler picks what to replay. A
    memory without an accumulator takes only complete transitions (`add_transitions`).
    Capacity 1 keeps only the latest transition, which turns DQN into online Q-learning.
    """

    def __init__(self, storage: Storage, sampler: Sampler, accumulator: NStepAccumulator | None = None) -> None:
        self.storage = storage
        self.sampler = sampler
        self.accumulator = accumulator

    def __len__(self) -> int:
        return self.storage.size

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> None:
        """Takes one step of each of the N envs ([N] leading axes).

        `next_obs` must be the real final observation where an episode ended. A termination
        cuts the return (discount 0); a truncation keeps the bootstrap from `next_obs`.
        """
        if self.accumulator is None:
            raise ValueError("this replay memory has no n-step accumulator; give it complete transitions")
        obs, next_obs = self.storage.encode(obs, next_obs, np.logical_or(terminated, truncated))
        transitions = self.accumulator.add(obs, actions, rewards, next_obs, terminated, truncated)
        self.add_transitions(transitions, env_steps=len(actions))

    def add_transitions(
        self, transitions: Transitions, errors: np.ndarray | None = None, *, env_steps: int | None = None
    ) -> np.ndarray:
        """Stores n-step transitions, e.g. made by Ape-X actors that run their own `NStepAccumulator`
        (Horgan et al. 2018); returns the slots written.

        With prioritized replay, `errors` [M] are the transitions' initial |TD errors| (or losses),
        turned into priorities as `update_priorities` does; without them a transition enters with
        the largest priority so far. They took `env_steps` env steps (for beta), by default one each.
        """
        slots = self.storage.add(transitions)
        self.sampler.on_add(slots, len(transitions.actions) if env_steps is None else env_steps, errors)
        return slots

    def sample(self, batch_size: int) -> Batch:
        """A batch of transitions; with prioritized replay, with weights normalized by their max."""
        slots, weights = self.sampler.sample(batch_size, self.storage.size, self.storage.live)
        return Batch(*self.storage.gather(slots), weights=weights, indices=slots)

    def update_priorities(self, indices: np.ndarray, errors: np.ndarray) -> None:
        """New priorities from the errors |delta| (or losses) of sampled transitions; a no-op when uniform."""
        self.sampler.update_priorities(indices, errors)

    def state_dict(self) -> dict[str, object]:
        """Everything needed to go on sampling exactly as before: each part's own `state_dict` (see `dqnlab.replay`)."""
        return {name: part.state_dict() for name, part in self._parts().items()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        for name, part in self._parts().items():
            part.load_state_dict(state[name])  # type: ignore[arg-type]

    def _parts(self) -> dict[str, Storage | Sampler | NStepAccumulator]:
        parts: dict[str, Storage | Sampler | NStepAccumulator | None]
        parts = {"storage": self.storage, "sampler": self.sampler, "accumulator": self.accumulator}
        return {name: part for name, part in parts.items() if part is not None}
