"""Replay memory: an n-step accumulator, storage and a sampler, behind the calls the training loop needs."""

from __future__ import annotations

import numpy as np

from dqnlab.config import ReplayConfig
from dqnlab.errors import ConfigError
from dqnlab.replay.frames import FramePool, FrameStacker, frame_pool_capacity
from dqnlab.replay.n_step import NStepAccumulator, Transitions
from dqnlab.replay.prioritized import PrioritizedSampler
from dqnlab.replay.storage import RingStorage
from dqnlab.replay.uniform import UniformSampler
from dqnlab.types import Batch


class ReplayMemory:
    """Stores env steps from N envs at a time as n-step transitions and samples training batches.

    Capacity 1 keeps only the latest transition, which turns DQN into online Q-learning.
    With `prioritized`, batches carry importance-sampling weights, and `update_priorities`
    must be given each sampled transition's new error; the weights' exponent beta moves
    linearly from `beta_start` to 1 over `beta_steps` stored env steps (Schaul et al. 2016).

    With `frame_storage` (stacked uint8 frames [k, H, W]), each frame is stored once and the
    stacks of s and s' are rebuilt at sampling (replay/frames.py); the stored "observations" are
    then stacks of frame serials. `episode_start_share` sizes the frame pool's allowance for the
    extra frame each episode start writes (see `frame_pool_capacity`).
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype,
        rng: np.random.Generator,
        *,
        gamma: float = 0.99,
        num_envs: int = 1,
        n_step: int = 1,
        reserve_fraction: float = 0.0,
        prioritized: bool = False,
        alpha: float = 0.6,
        beta_start: float = 0.4,
        beta_steps: int = 100_000,
        priority_eps: float = 1e-6,
        frame_storage: bool = False,
        episode_start_share: float = 0.03,
    ) -> None:
        self.frames: FramePool | None = None
        self.stacker: FrameStacker | None = None
        if frame_storage:
            if len(obs_shape) != 3:
                raise ValueError(f"frame storage needs stacked frames [k, H, W], got observations {obs_shape}")
            stack = obs_shape[0]
            reserved = int(capacity * reserve_fraction)  # as RingStorage counts it
            # the reserved transitions and the ring of the others each get their own allowance
            pool_size = frame_pool_capacity(capacity - reserved, num_envs, n_step, stack, episode_start_share)
            if reserved:
                pool_size += frame_pool_capacity(reserved, num_envs, n_step, stack, episode_start_share)
            self.frames = FramePool(pool_size, tuple(obs_shape[1:]), obs_dtype)
            self.stacker = FrameStacker(self.frames, num_envs, stack)
            obs_shape, obs_dtype = (stack,), np.dtype(np.int64)  # what storage holds: serial stacks
        self.storage = RingStorage(capacity, obs_shape, obs_dtype, reserve_fraction)
        self.frames_reserve_pending = self.frames is not None and self.storage.reserved > 0
        self.accumulator = NStepAccumulator(n_step, gamma, num_envs)
        self.sampler: UniformSampler | PrioritizedSampler
        if prioritized:
            self.sampler = PrioritizedSampler(capacity, alpha, beta_start, priority_eps, rng)
        else:
            self.sampler = UniformSampler(rng)
        self.beta_start = beta_start
        self.beta_steps = max(beta_steps, 1)
        self.env_steps = 0  # env steps given to `add`, all envs counted

    @classmethod
    def from_config(
        cls,
        config: ReplayConfig,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype,
        rng: np.random.Generator,
        *,
        gamma: float,
        num_envs: int,
        beta_steps: int,
    ) -> ReplayMemory:
        """The memory `config` describes, for envs with these observations; beta reaches 1 after `beta_steps`.

        `replay.frame_storage` "auto" stores frames once for image observations (3-D uint8).
        """
        frame_storage = use_frame_storage(config, obs_shape, obs_dtype)
        return cls(
            config.capacity,
            obs_shape,
            obs_dtype,
            rng,
            gamma=gamma,
            num_envs=num_envs,
            n_step=config.n_step,
            reserve_fraction=config.reserve_fraction,
            prioritized=config.prioritized,
            alpha=config.alpha,
            beta_start=config.beta_start,
            beta_steps=beta_steps,
            priority_eps=config.priority_eps,
            frame_storage=frame_storage,
        )

    def __len__(self) -> int:
        return self.storage.size

    @property
    def beta(self) -> float:
        """The importance-sampling exponent now: beta_start, annealed linearly to 1."""
        fraction = min(self.env_steps / self.beta_steps, 1.0)
        return self.beta_start + fraction * (1.0 - self.beta_start)

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
        self.env_steps += len(actions)
        if self.stacker is not None:
            if self.frames_reserve_pending:
                self._reserve_frames(len(actions))
            obs, next_obs = self.stacker.add(obs, next_obs, np.logical_or(terminated, truncated))
        transitions = self.accumulator.add(obs, actions, rewards, next_obs, terminated, truncated)
        if len(transitions.actions):
            slots = self.storage.add(*transitions)
            if isinstance(self.sampler, PrioritizedSampler):
                self.sampler.on_add(slots)

    def add_transitions(self, transitions: Transitions, errors: np.ndarray | None = None) -> np.ndarray:
        """Stores n-step transitions made elsewhere, e.g. by Ape-X actors that run their own
        `NStepAccumulator` (Horgan et al. 2018); returns the slots written.

        With prioritized replay, `errors` [M] are the transitions' initial |TD errors| (or losses),
        turned into priorities as `update_priorities` does; without them a transition enters with
        the largest priority so far, as in `add`. Each transition counts as one env step for beta.
        Frame storage is not supported here: the transitions hold whole observations.
        """
        if self.frames is not None:
            raise ValueError("add_transitions stores whole observations; build the memory without frame storage")
        self.env_steps += len(transitions.actions)
        if not len(transitions.actions):
            return np.empty(0, np.int64)
        slots = self.storage.add(*transitions)
        if isinstance(self.sampler, PrioritizedSampler):
            if errors is None:
                self.sampler.on_add(slots)
            else:
                self.sampler.update(slots, errors)
        return slots

    def sample(self, batch_size: int) -> Batch:
        """A batch of transitions; with prioritized replay, with weights normalized by their max."""
        slots, weights = self._sample_slots(batch_size)
        obs, actions, rewards, next_obs, discounts = self.storage.gather(slots)
        if self.frames is not None:  # serial stacks [B, k] -> frames [B, k, H, W]
            obs, next_obs = self.frames.read(obs), self.frames.read(next_obs)
        return Batch(obs, actions, rewards, next_obs, discounts, weights=weights, indices=slots)

    def _sample_slots(self, batch_size: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Slots to replay and their importance weights (None when uniform); with frame storage,
        only live slots, whose frames are all still in the pool.

        A transition that lost a frame (more episode starts than the frame pool allows for) is
        evicted: never replayed. Uniform sampling draws again in its place, which keeps the draw
        uniform over the live slots; prioritized sampling sets its priority to 0 and draws the
        batch again.
        """
        if isinstance(self.sampler, PrioritizedSampler):
            self.sampler.beta = self.beta
            for _ in range(100):
                slots, weights = self.sampler.sample(self.storage.size, batch_size)
                if self.frames is None:
                    return slots, weights
                dead = np.unique(slots[~self._live(slots)])
                if not len(dead):
                    return slots, weights
                self.sampler.tree.update(dead, np.zeros(len(dead)))
        else:
            slots = self.sampler.sample(self.storage.size, batch_size)
            for _ in range(1000):
                if self.frames is None:
                    return slots, None
                dead = np.flatnonzero(~self._live(slots))
                if not len(dead):
                    return slots, None
                slots[dead] = self.sampler.sample(self.storage.size, len(dead))
        raise RuntimeError("replay could not draw a batch of live transitions; the frame pool is too small")

    def _reserve_frames(self, num_envs: int) -> None:
        """Keeps for good the frames the reserved transitions (slots [0, storage.reserved)) refer to:
        fixed once they are all written, or before the frame pool first wraps around if that comes
        first (a reserved transition written later then keeps only frames still in the ring, and
        is evicted when it loses one)."""
        assert self.frames is not None and self.stacker is not None
        storage, frames = self.storage, self.frames
        written = min(storage.written, storage.reserved)
        about_to_wrap = frames.written + num_envs * (self.stacker.stack + 1) > frames.capacity
        if written < storage.reserved and not about_to_wrap:
            return
        newest = max(storage.obs[:written].max(initial=-1), storage.next_obs[:written].max(initial=-1))
        frames.keep_first(int(newest) + 1)
        self.frames_reserve_pending = False

    def _live(self, slots: np.ndarray) -> np.ndarray:
        """Whether every frame of the transitions at `slots` is still held by the frame pool."""
        assert self.frames is not None
        oldest = np.minimum(self.storage.obs[slots].min(axis=1), self.storage.next_obs[slots].min(axis=1))
        return self.frames.holds(oldest)

    def live_count(self) -> int:
        """Stored transitions that can be replayed: all of them, except those evicted from frame storage."""
        if self.frames is None:
            return self.storage.size
        return int(self._live(np.arange(self.storage.size)).sum())

    @property
    def nbytes(self) -> int:
        """Bytes held by the memory's arrays: storage, frame pool and sum tree (not Python overhead)."""
        total = sum(
            a.nbytes
            for a in (
                self.storage.obs,
                self.storage.next_obs,
                self.storage.actions,
                self.storage.rewards,
                self.storage.discounts,
            )
        )
        if self.frames is not None:
            total += self.frames.nbytes
        if isinstance(self.sampler, PrioritizedSampler):
            total += sum(level.nbytes for level in self.sampler.tree.levels)
        return total

    @property
    def bytes_per_transition(self) -> float:
        """`nbytes` over the capacity: what one stored transition costs when the memory is full."""
        return self.nbytes / self.storage.capacity

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """New priorities from the errors |delta| (or losses) of sampled transitions; a no-op when uniform."""
        if isinstance(self.sampler, PrioritizedSampler):
            self.sampler.update(indices, priorities)

    def state_dict(self) -> dict[str, object]:
        """Everything needed to go on sampling exactly as before: each part's own `state_dict`.

        Every part of replay (storage, accumulator, sampler; Atari's frame storage too) follows
        one protocol: `state_dict()` returns a nested dict of numpy arrays and plain scalars, and
        `load_state_dict(state)` copies it back into a part built from the same config. Arrays
        are written as .npy files (training/snapshot.py), never pickled.
        """
        return {
            "env_steps": self.env_steps,
            "beta_steps": self.beta_steps,
            "storage": self.storage.state_dict(),
            "accumulator": self.accumulator.state_dict(),
            "sampler": self.sampler.state_dict(),
            **(
                {}
                if self.frames is None or self.stacker is None
                else {"frames": self.frames.state_dict(), "stacker": self.stacker.state_dict()}
            ),
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.storage.load_state_dict(state["storage"])  # type: ignore[arg-type]
        self.accumulator.load_state_dict(state["accumulator"])  # type: ignore[arg-type]
        self.sampler.load_state_dict(state["sampler"])  # type: ignore[arg-type]
        if ("frames" in state) != (self.frames is not None):
            raise ValueError(
                "replay was saved with" + ("" if "frames" in state else "out") + " frame storage; "
                "this memory is configured the other way"
            )
        if self.frames is not None and self.stacker is not None:
            self.frames.load_state_dict(state["frames"])  # type: ignore[arg-type]
            self.stacker.load_state_dict(state["stacker"])  # type: ignore[arg-type]
            # the reserve of frames is fixed at the latest when the pool first wraps around
            self.frames_reserve_pending = (
                self.storage.reserved > 0 and self.frames.reserved == 0 and self.frames.written <= self.frames.capacity
            )
        self.env_steps = int(state["env_steps"])  # type: ignore[call-overload]
        self.beta_steps = int(state["beta_steps"])  # type: ignore[call-overload]


def use_frame_storage(config: ReplayConfig, obs_shape: tuple[int, ...], obs_dtype: np.dtype) -> bool:
    """Whether `config` asks for frame storage with these observations: "auto" picks it for stacked
    uint8 frames [k, H, W]; "on" requires such frames."""
    frames = len(obs_shape) == 3 and np.dtype(obs_dtype) == np.uint8
    if config.frame_storage == "on" and not frames:
        raise ConfigError(
            f'replay.frame_storage = "on" needs stacked uint8 frames [k, H, W]; '
            f"this env's observations are {np.dtype(obs_dtype)} {tuple(obs_shape)}"
        )
    chosen = config.frame_storage == "on" or (config.frame_storage == "auto" and frames)
    return chosen
