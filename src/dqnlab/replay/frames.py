"""Frame storage for stacked image observations: each frame is stored once, stacks are rebuilt at sampling.

An Atari observation is a stack of the last k = 4 frames [k, 84, 84] uint8, and consecutive
observations share k - 1 of them. Storing s and s' as stacks keeps every frame 2k = 8 times
(about 56 KB per transition); here each frame is written once into a `FramePool`, and a
transition holds two stacks of k frame *serial numbers* (s and s', 64 bytes), from which
`FramePool.read` rebuilds the frames at sampling: about 7.3 KB per transition in all.

Why serial-number stacks, rather than Dopamine's per-step store that rebuilds stacks by
walking back from an index: the stacks go through the same `NStepAccumulator` and
`RingStorage` as any observation (the accumulator is generic over observation arrays), so
n-step returns, truncation and prioritized sampling work with frames without a line of their
own, and episode boundaries need no look-back rule: a stack is exactly the frames the agent
saw, as the acting side (`FrameStacker`) recorded them.

- Episode boundaries: a stack is recorded as the env produced it and never built across
  episodes. Gymnasium's `FrameStackObservation(padding_type="reset")` fills an episode's first
  stack with its reset frame, so that frame is written once and referenced k times.
- Truncation: the real final observation's newest frame is written like any other, so s' of
  a truncated episode is its real last stack.
- Overwriting: the pool is a ring. A frame is overwritten `capacity` frames after it was
  written, and a transition is *live* while its oldest frame is still held
  (`FramePool.holds`). `frame_pool_capacity` sizes the pool so that, as long as episode starts
  stay within the allowance, every stored transition is live (the proof is in its docstring);
  beyond it, the memory never returns a transition with an overwritten frame: such a
  transition counts as evicted and is not sampled (`FrameStorage.live`).
- Reserve: the frames of the transitions a memory keeps for good (`replay.reserve_fraction`)
  are kept for good too (`FramePool.keep_first`), and the ring wraps around past them.
"""

from __future__ import annotations

import math

import numpy as np

from dqnlab.replay.n_step import Transitions
from dqnlab.replay.storage import RingStorage, ring_slots


def frame_pool_capacity(capacity: int, num_envs: int, n_step: int, stack: int, episode_start_share: float) -> int:
    """Frames the pool must hold so that none of the last `capacity` transitions loses a frame.

    Bound. Let T be a stored transition, of the step that `add` call t took. Its oldest frame was
    written at call t - k or later (the newest frame of the observation at step s is written at
    call s - 1, or at s for an episode's first observation). The memory holds the last
    `capacity` (C) transitions emitted, so fewer than C were emitted after T; the env steps of
    calls t+1 .. now are those, plus at most N(n-1) still queued in the n-step accumulator, plus
    at most N(n-1) emitted by the same calls as T but before it. Each env step writes one frame,
    so the frames written from T's oldest one on number at most

        N (k + 1)  +  C - 1 + 2 N (n - 1)  +  E  =  C + N (2n + k - 1) - 1 + E,

    E being the frames of the episode starts among them (one per start with reset padding).
    A pool of C + N (2n + k - 1) + ceil(share * C) frames thus keeps every stored transition
    whole while E <= share * C, i.e. while episodes last at least 1 / share env steps on average
    (33 steps for 3%, the memory's default; a random player's life in Breakout lasts
    about 40 steps, in Space Invaders hundreds).
    """
    return capacity + num_envs * (2 * n_step + stack - 1) + math.ceil(episode_start_share * capacity)


class FramePool:
    """A ring of single frames, addressed by serial number: frame s sits in slot s % capacity.

    With a reserve (`keep_first`), the first `reserved` frames ever written are kept for good and
    the ring wraps around past them, as `RingStorage` does for reserved transitions.
    """

    def __init__(self, capacity: int, frame_shape: tuple[int, ...], dtype: np.dtype) -> None:
        if capacity < 1:
            raise ValueError("FramePool needs capacity >= 1")
        self.capacity = capacity
        self.frames = np.zeros((capacity, *frame_shape), dtype=dtype)
        self.written = 0  # frames written since the start; the next frame's serial
        self.reserved = 0  # frames [0, reserved) are never overwritten

    def write(self, frames: np.ndarray) -> np.ndarray:
        """Stores frames [M, *frame_shape], overwriting the oldest ones; returns their serials [M] int64."""
        serials = self.written + np.arange(len(frames), dtype=np.int64)
        self.frames[ring_slots(serials, self.capacity, self.reserved)] = frames
        self.written += len(frames)
        return serials

    def keep_first(self, count: int) -> None:
        """Keeps frames [0, count) for good; only possible before any frame was overwritten."""
        if self.written > self.capacity or count >= self.capacity:
            raise ValueError(f"cannot keep {count} frames of a pool of {self.capacity} that wrote {self.written}")
        self.reserved = count

    def holds(self, serials: np.ndarray) -> np.ndarray:
        """Whether each serial's frame is still in the pool (not yet overwritten), elementwise."""
        in_ring = serials >= self.written - (self.capacity - self.reserved)
        return (serials < self.written) & (in_ring | (serials < self.reserved))

    def read(self, serials: np.ndarray) -> np.ndarray:
        """The frames of `serials` [...], as [..., *frame_shape]; the caller checks `holds` first."""
        return self.frames[ring_slots(serials, self.capacity, self.reserved)]

    def state_dict(self) -> dict[str, object]:
        """The filled slots and the write counter (numpy arrays and ints)."""
        return {
            "capacity": self.capacity,
            "written": self.written,
            "reserved": self.reserved,
            "frames": self.frames[: min(self.written, self.capacity)],
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Copies a `state_dict` into this pool, which must have the same capacity and frame shape."""
        saved = np.asarray(state["frames"])
        if int(state["capacity"]) != self.capacity or saved.shape[1:] != self.frames.shape[1:]:  # type: ignore[call-overload]
            raise ValueError(
                f"a frame pool of {state['capacity']} frames {list(saved.shape[1:])} does not fit "
                f"one of {self.capacity} frames {list(self.frames.shape[1:])}"
            )
        self.frames[: len(saved)] = saved
        self.written = int(state["written"])  # type: ignore[call-overload]
        self.reserved = int(state.get("reserved", 0))  # type: ignore[call-overload]


class FrameStacker:
    """The acting side: turns N envs' stacked observations into stacks of frame serials.

    Each env step writes only its newest frame, the one s' adds to s; an episode's first
    observation writes its distinct frames (one, the reset frame, with reset padding). The
    stacks it returns are what the memory stores in place of observations.
    """

    def __init__(self, pool: FramePool, num_envs: int, stack: int) -> None:
        self.pool = pool
        self.stack = stack
        self.current = np.zeros((num_envs, stack), dtype=np.int64)  # serials of each env's observation now
        self.in_episode = np.zeros(num_envs, dtype=bool)  # False: the next observation starts an episode

    def add(self, obs: np.ndarray, next_obs: np.ndarray, done: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Serial stacks [N, k] of `obs` and `next_obs` ([N, k, *frame_shape]) for one step of N envs.

        `next_obs` is the real final observation where `done`. Raises ValueError when `next_obs`
        is not `obs` shifted by one frame, as a frame stack's next observation must be.
        """
        if obs.shape[1] != self.stack or next_obs.shape != obs.shape:
            raise ValueError(f"expected observations [N, {self.stack}, ...], got {obs.shape} and {next_obs.shape}")
        if not np.array_equal(next_obs[:, :-1], obs[:, 1:]):
            raise ValueError(
                "frame storage needs stacked frames, next_obs[:, :-1] equal to obs[:, 1:]; for image "
                'observations that are not frame stacks, set replay.frame_storage = "off"'
            )
        for env in range(len(obs)):
            # An env goes on where it stopped unless its episode ended, or its observation is not
            # the one recorded (the caller reset it without a done): then obs starts a new stack.
            if not self.in_episode[env] or not np.array_equal(obs[env, -1], self.pool.read(self.current[env, -1])):
                self.current[env] = self._write_first(obs[env])
        obs_ids = self.current.copy()
        newest = self.pool.write(next_obs[:, -1])
        next_ids = np.concatenate([obs_ids[:, 1:], newest[:, None]], axis=1)
        self.current = next_ids.copy()
        self.in_episode = ~np.asarray(done, dtype=bool)
        return obs_ids, next_ids

    def state_dict(self) -> dict[str, object]:
        """Each env's current serial stack and whether its episode goes on."""
        return {"current": self.current.copy(), "in_episode": self.in_episode.copy()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        current = np.asarray(state["current"])
        if current.shape != self.current.shape:
            raise ValueError(f"frame stacks {list(current.shape)} do not fit {list(self.current.shape)} (envs, stack)")
        self.current = current.astype(np.int64)
        self.in_episode = np.asarray(state["in_episode"], dtype=bool)

    def _write_first(self, stack: np.ndarray) -> np.ndarray:
        """Writes the frames of an episode's first observation [k, *frame_shape] once each; its serials [k]."""
        serials = np.empty(self.stack, dtype=np.int64)
        for i in range(self.stack):
            if i > 0 and np.array_equal(stack[i], stack[i - 1]):
                serials[i] = serials[i - 1]  # padding repeats a frame: reference it again
            else:
                serials[i] = self.pool.write(stack[i][None])[0]
        return serials


class FrameStorage:
    """Transitions of stacked frames [k, H, W]: a `RingStorage` of serial stacks [k] over a `FramePool`.

    `encode` writes the acting side's new frames and turns observations into serial stacks (before
    the n-step accumulator, which handles them as any observation); `gather` rebuilds the frames.
    `episode_start_share` sizes the pool's allowance for episode starts (`frame_pool_capacity`).
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype,
        *,
        num_envs: int = 1,
        n_step: int = 1,
        reserve_fraction: float = 0.0,
        episode_start_share: float = 0.03,
    ) -> None:
        if len(obs_shape) != 3:
            raise ValueError(f"frame storage needs stacked frames [k, H, W], got observations {obs_shape}")
        stack = obs_shape[0]
        self.capacity = capacity
        self.ring = RingStorage(capacity, (stack,), np.dtype(np.int64), reserve_fraction)
        reserved = self.ring.reserved
        # the reserved transitions and the ring of the others each get their own allowance
        parts = [count for count in (capacity - reserved, reserved) if count]
        pool_size = sum(frame_pool_capacity(count, num_envs, n_step, stack, episode_start_share) for count in parts)
        self.pool = FramePool(pool_size, tuple(obs_shape[1:]), obs_dtype)
        self.stacker = FrameStacker(self.pool, num_envs, stack)

    @property
    def size(self) -> int:
        return self.ring.size

    @property
    def nbytes(self) -> int:
        return self.ring.nbytes + self.pool.frames.nbytes

    def encode(self, obs: np.ndarray, next_obs: np.ndarray, ended: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Writes one step's new frames ([N, k, H, W] observations) and returns their serial stacks [N, k]."""
        self._reserve_frames(len(obs))
        return self.stacker.add(obs, next_obs, ended)

    def add(self, transitions: Transitions) -> np.ndarray:
        """Writes transitions of serial stacks (`RingStorage.add`); returns the slots written."""
        return self.ring.add(transitions)

    def gather(self, slots: np.ndarray) -> Transitions:
        """The transitions at `slots`, their serial stacks [B, k] rebuilt as frames [B, k, H, W]."""
        stored = self.ring.gather(slots)
        return stored._replace(obs=self.pool.read(stored.obs), next_obs=self.pool.read(stored.next_obs))

    def live(self, slots: np.ndarray) -> np.ndarray:
        """Whether every frame of the transitions at `slots` is still in the pool; a transition that
        lost one (more episode starts than the pool allows for) is evicted: never replayed."""
        oldest = np.minimum(self.ring.obs[slots].min(axis=1), self.ring.next_obs[slots].min(axis=1))
        return self.pool.holds(oldest)

    def live_count(self) -> int:
        """Stored transitions that can be replayed: all of them, except those evicted."""
        return int(self.live(np.arange(self.size)).sum())

    def _reserve_frames(self, num_envs: int) -> None:
        """Keeps for good the frames the reserved transitions (slots [0, ring.reserved)) refer to:
        fixed once they are all written, or before the frame pool first wraps around if that comes
        first (a reserved transition written later then keeps only frames still in the ring, and
        is evicted when it loses one)."""
        ring, pool = self.ring, self.pool
        if ring.reserved == 0 or pool.reserved > 0 or pool.written > pool.capacity:
            return  # no reserve, or its frames fixed already (at the latest when the pool first wrapped around)
        written = min(ring.written, ring.reserved)
        about_to_wrap = pool.written + num_envs * (self.stacker.stack + 1) > pool.capacity
        if written < ring.reserved and not about_to_wrap:
            return
        newest = max(ring.obs[:written].max(initial=-1), ring.next_obs[:written].max(initial=-1))
        pool.keep_first(int(newest) + 1)

    def state_dict(self) -> dict[str, object]:
        """The ring of serial stacks (whose [N, k] int64 arrays no ring of whole observations takes), the
        frame pool and the acting side's current stacks."""
        return {**self.ring.state_dict(), "pool": self.pool.state_dict(), "stacker": self.stacker.state_dict()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.ring.load_state_dict(state)
        self.pool.load_state_dict(state["pool"])  # type: ignore[arg-type]
        self.stacker.load_state_dict(state["stacker"])  # type: ignore[arg-type]
