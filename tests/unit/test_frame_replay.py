"""Frame storage: each frame stored once, stacks of s and s' rebuilt exactly as the agent saw them.

The oracle is a replay memory that stores whole stacks (frame_storage off), fed the same steps:
both memories write the same transitions to the same slots, so every slot can be compared.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers import FrameStackObservation, TimeLimit

from dqnlab.config import Config, ReplayConfig
from dqnlab.envs import make_vector_env, real_next_observations
from dqnlab.errors import ConfigError
from dqnlab.replay import (
    FrameStorage,
    NStepAccumulator,
    PrioritizedSampler,
    ReplayMemory,
    RingStorage,
    SumTree,
    UniformSampler,
    build_replay,
)
from dqnlab.replay.frames import FramePool, frame_pool_capacity

FRAME = (12, 12)  # small frames: the layout does not depend on their size


class FrameEnv(gym.Env):
    """Each frame is unique: it encodes (env, episode, step). Episodes end at random, by
    termination or (through TimeLimit) truncation."""

    action_space = gym.spaces.Discrete(3)
    observation_space = gym.spaces.Box(0, 255, FRAME, np.uint8)

    def __init__(self, env_index: int = 0, mean_length: int = 20) -> None:
        self.env_index = env_index
        self.mean_length = mean_length
        self.episode = -1
        self.t = 0

    def frame(self) -> np.ndarray:
        frame = np.zeros(FRAME, np.uint8)
        frame[0, :3] = (self.env_index, self.episode % 256, self.t % 256)
        frame[1, :2] = (self.episode // 256, self.t // 256)
        return frame

    def reset(self, *, seed=None, options=None):  # type: ignore[no-untyped-def]
        super().reset(seed=seed)
        self.episode += 1
        self.t = 0
        return self.frame(), {}

    def step(self, action):  # type: ignore[no-untyped-def]
        self.t += 1
        terminated = bool(self.np_random.random() < 1.0 / self.mean_length)
        return self.frame(), float(self.np_random.integers(-1, 2)), terminated, False, {}


def frame_envs(num_envs: int, mean_length: int, time_limit: int) -> gym.vector.SyncVectorEnv:
    def make(index: int):  # type: ignore[no-untyped-def]
        return lambda: FrameStackObservation(TimeLimit(FrameEnv(index, mean_length), time_limit), 4)

    return gym.vector.SyncVectorEnv([make(i) for i in range(num_envs)], autoreset_mode=AutoresetMode.SAME_STEP)


def memory(storage, num_envs=1, n_step=1, gamma=0.99, prioritized=False, alpha=0.6, seed=1):  # type: ignore[no-untyped-def]
    """A memory over `storage`, its sampler seeded with `seed`."""
    rng = np.random.default_rng(seed)
    capacity = storage.capacity
    sampler = PrioritizedSampler(capacity, rng, alpha=alpha, beta_start=0.4, beta_steps=10**5, eps=1e-6)
    return ReplayMemory(
        storage, sampler if prioritized else UniformSampler(rng), NStepAccumulator(n_step, gamma, num_envs)
    )


def memories(capacity: int, num_envs: int, reserve_fraction=0.0, episode_start_share=0.03, **kwargs):  # type: ignore[no-untyped-def]
    """A frame memory and its oracle (whole stacks), with samplers seeded alike."""
    shape, uint8, n_step = (4, *FRAME), np.dtype(np.uint8), kwargs.get("n_step", 1)
    pool = FrameStorage(
        capacity,
        shape,
        uint8,
        num_envs=num_envs,
        n_step=n_step,
        reserve_fraction=reserve_fraction,
        episode_start_share=episode_start_share,
    )
    stacks = RingStorage(capacity, shape, uint8, reserve_fraction)
    return memory(pool, num_envs, **kwargs), memory(stacks, num_envs, **kwargs)


def drive(envs, steps: int, *targets: ReplayMemory, seed: int = 0) -> list:  # type: ignore[no-untyped-def]
    """Steps `envs` with random actions, giving every step to every memory; returns the
    (real final observation, truncated) of each ended episode."""
    rng = np.random.default_rng(seed)
    obs, _ = envs.reset(seed=seed)
    endings = []
    for _ in range(steps):
        actions = rng.integers(0, envs.single_action_space.n, size=envs.num_envs)
        next_obs, rewards, terminated, truncated, infos = envs.step(actions)
        real_next = real_next_observations(next_obs, terminated | truncated, infos)
        for memory in targets:
            memory.add(obs, actions, rewards, real_next, terminated, truncated)
        endings += [(real_next[i].copy(), bool(truncated[i])) for i in np.flatnonzero(terminated | truncated)]
        obs = next_obs
    return endings


def assert_same_contents(frames: ReplayMemory, stacks: ReplayMemory) -> None:
    """Every stored transition of `frames`, rebuilt, equals the oracle's."""
    assert len(frames) == len(stacks)
    slots = np.arange(len(stacks))
    assert frames.storage.live_count() == len(stacks)
    for got, expected in zip(frames.storage.gather(slots), stacks.storage.gather(slots), strict=True):
        np.testing.assert_array_equal(got, expected)


def episode_of(stack: np.ndarray) -> np.ndarray:
    """(env, episode) of each frame of a stack [k, H, W], as [k] codes."""
    stack = stack.astype(np.int64)
    return stack[:, 0, 0] * 1_000_000 + stack[:, 1, 0] * 256 + stack[:, 0, 1]


@pytest.mark.parametrize("n_step", [1, 3])
def test_rebuilt_stacks_equal_the_observations_seen_across_resets_and_truncations(n_step):
    # episodes of ~9 steps: an episode start (one extra frame) every 9 steps needs an allowance of 1/9
    frames, stacks = memories(150, num_envs=2, n_step=n_step, gamma=0.9, episode_start_share=0.2)
    endings = drive(frame_envs(2, mean_length=12, time_limit=15), 400, frames, stacks)
    assert any(truncated for _, truncated in endings) and not all(truncated for _, truncated in endings)
    assert_same_contents(frames, stacks)  # after wrapping around the 150 slots more than 5 times

    batch, oracle = frames.sample(64), stacks.sample(64)  # same rng: same slots
    np.testing.assert_array_equal(batch.indices, oracle.indices)
    for name in ("obs", "next_obs", "actions", "rewards", "discounts"):
        np.testing.assert_array_equal(getattr(batch, name), getattr(oracle, name))
    # no stack mixes episodes: all 4 frames of s, and of s', come from one episode
    for stack in np.concatenate([batch.obs, batch.next_obs]):
        assert len(set(episode_of(stack))) == 1


def test_an_episodes_first_stack_is_its_reset_frame_four_times_and_truncation_keeps_the_real_last_stack():
    frames, _ = memories(100, num_envs=1)
    envs = frame_envs(1, mean_length=10**6, time_limit=6)  # every episode is truncated after 6 steps
    endings = drive(envs, 12, frames)
    assert [truncated for _, truncated in endings] == [True, True]
    stored = frames.storage.gather(np.arange(7))
    first = stored.obs[0]
    assert (first == first[0]).all() and first[0, 0, 2] == 0  # the reset frame (t = 0), repeated
    truncated_slot = 5  # the 6th step of the first episode
    np.testing.assert_array_equal(stored.next_obs[truncated_slot], endings[0][0])
    assert stored.discounts[truncated_slot] > 0  # a truncation keeps its bootstrap
    second = stored.obs[truncated_slot + 1]
    assert second[0, 0, 1] == 1 and (second == second[0]).all()  # episode 1 starts afresh
    # frames written: 1 reset frame + 6 step frames per episode, each frame once
    assert frames.storage.pool.written == 14


def test_prioritized_replay_with_frames_samples_the_same_transitions_and_updates_priorities():
    frames, stacks = memories(120, num_envs=2, n_step=3, prioritized=True, alpha=0.5, episode_start_share=0.1)
    drive(frame_envs(2, mean_length=15, time_limit=30), 300, frames, stacks)
    assert_same_contents(frames, stacks)
    for _ in range(5):
        batch, oracle = frames.sample(32), stacks.sample(32)
        np.testing.assert_array_equal(batch.indices, oracle.indices)
        np.testing.assert_array_equal(batch.weights, oracle.weights)
        np.testing.assert_array_equal(batch.obs, oracle.obs)
        np.testing.assert_array_equal(batch.next_obs, oracle.next_obs)
        errors = np.abs(batch.rewards) + 0.1
        frames.update_priorities(batch.indices, errors)
        stacks.update_priorities(oracle.indices, errors)


def test_a_real_ale_game_is_rebuilt_exactly_through_life_losses():
    envs = make_vector_env("ALE/Breakout-v5", 1, training=True)  # episodic life: a random player loses lives fast
    frames = memory(FrameStorage(300, (4, 84, 84), np.dtype(np.uint8), episode_start_share=0.1))  # short lives
    stacks = memory(RingStorage(300, (4, 84, 84), np.dtype(np.uint8)))
    try:
        drive(envs, 400, frames, stacks)
    finally:
        envs.close()
    assert (stacks.storage.discounts[: len(stacks)] == 0).any()  # at least one life was lost
    assert_same_contents(frames, stacks)


def test_the_pool_bound_keeps_every_stored_transition_live_when_episodes_are_long_enough():
    # 1 / 0.03 = 33 steps per episode is the default allowance; episodes here last about 100 steps
    frames, stacks = memories(200, num_envs=3, n_step=5)
    drive(frame_envs(3, mean_length=100, time_limit=400), 2000, frames, stacks)
    assert frames.storage.pool.written > 5 * frames.storage.pool.capacity  # the pool wrapped around many times
    assert_same_contents(frames, stacks)


def test_too_many_episode_starts_evict_transitions_but_never_return_an_overwritten_frame():
    # episodes of ~2 steps write a reset frame every other step, far beyond the 3% allowance
    frames, stacks = memories(200, num_envs=2, n_step=3)
    drive(frame_envs(2, mean_length=2, time_limit=400), 1000, frames, stacks)
    live = frames.storage.live_count()
    assert 0 < live < len(frames)  # some transitions lost a frame ...
    for _ in range(20):  # ... and are never sampled: every sampled stack is the one the agent saw
        batch = frames.sample(32)
        expected = stacks.storage.gather(batch.indices)
        np.testing.assert_array_equal(batch.obs, expected[0])
        np.testing.assert_array_equal(batch.next_obs, expected[3])


def test_prioritized_replay_drops_evicted_transitions_from_the_tree():
    frames, stacks = memories(200, num_envs=1, prioritized=True)
    drive(frame_envs(1, mean_length=2, time_limit=400), 1000, frames, stacks)
    dead = np.flatnonzero(~frames.storage.live(np.arange(len(frames))))
    assert len(dead)
    mass_before = frames.sampler.tree.get(dead).sum()
    for _ in range(50):
        batch = frames.sample(32)
        assert not np.isin(batch.indices, dead).any()
        np.testing.assert_array_equal(batch.obs, stacks.storage.gather(batch.indices)[0])
    assert frames.sampler.tree.get(dead).sum() < mass_before  # the dead ones drawn now have priority 0


def test_bytes_per_transition_add_up_to_one_frame_plus_slack_and_fit_a_million_in_7_5_gb():
    capacity, frame_bytes = 10_000, 84 * 84
    frames = FrameStorage(capacity, (4, 84, 84), np.dtype(np.uint8))
    pool = frame_pool_capacity(capacity, num_envs=1, n_step=1, stack=4, episode_start_share=0.03)
    assert pool == capacity + 5 + 300
    # frames + two stacks of 4 int64 serials + action int64 + reward and discount float32
    expected = pool * frame_bytes + capacity * (2 * 4 * 8 + 8 + 4 + 4)
    assert frames.nbytes == expected
    stacked = RingStorage(capacity, (4, 84, 84), np.dtype(np.uint8))
    assert stacked.nbytes == capacity * (2 * 4 * frame_bytes + 16)
    assert stacked.nbytes / frames.nbytes > 7.5  # almost the 8 frames of s and s'
    # 1M transitions with prioritized replay: the same layout, plus the sum tree's float64 levels
    million = frame_pool_capacity(1_000_000, 1, 1, 4, 0.03) * frame_bytes + 1_000_000 * (2 * 4 * 8 + 16)
    million += sum(level.nbytes for level in SumTree(1_000_000).levels)
    assert million < 7.5e9


def test_config_chooses_frame_storage_for_uint8_stacks():
    def storage(frame_storage: str, space: gym.spaces.Box) -> object:
        config = Config(replay=ReplayConfig(capacity=100, frame_storage=frame_storage))  # type: ignore[arg-type]
        return build_replay(config, space, np.random.default_rng(0), beta_steps=1).storage

    frames, vector = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), gym.spaces.Box(-1, 1, (4,), np.float32)
    assert isinstance(storage("auto", frames), FrameStorage)
    assert isinstance(storage("auto", vector), RingStorage)
    assert isinstance(storage("off", frames), RingStorage)
    with pytest.raises(ConfigError, match="frame_storage"):
        storage("on", vector)


def test_observations_that_are_not_a_frame_stack_are_refused():
    frames = memory(FrameStorage(10, (4, *FRAME), np.dtype(np.uint8)))
    obs = np.random.default_rng(0).integers(0, 255, (1, 4, *FRAME), dtype=np.uint8)
    unrelated = np.random.default_rng(1).integers(0, 255, (1, 4, *FRAME), dtype=np.uint8)
    with pytest.raises(ValueError, match="next_obs"):
        frames.add(obs, np.array([0]), np.array([0.0]), unrelated, np.array([False]), np.array([False]))


def test_frame_pool_holds_only_its_last_capacity_frames():
    pool = FramePool(3, (2,), np.dtype(np.uint8))
    serials = pool.write(np.arange(10, dtype=np.uint8).reshape(5, 2))
    np.testing.assert_array_equal(serials, np.arange(5))
    np.testing.assert_array_equal(pool.holds(serials), [False, False, True, True, True])
    np.testing.assert_array_equal(pool.read(np.array([2, 4])), [[4, 5], [8, 9]])


def test_frame_storage_state_round_trips_and_sampling_goes_on_identically():
    frames, _ = memories(100, num_envs=2, n_step=3, prioritized=True)
    envs = frame_envs(2, mean_length=30, time_limit=60)
    drive(envs, 250, frames)
    state = frames.state_dict()
    copy, _ = memories(100, num_envs=2, n_step=3, prioritized=True)
    copy.load_state_dict(state)
    copy.sampler.rng = np.random.default_rng(5)
    frames.sampler.rng = np.random.default_rng(5)
    for a, b in zip(frames.sample(16), copy.sample(16), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(copy.storage.stacker.current, frames.storage.stacker.current)
    assert copy.storage.pool.written == frames.storage.pool.written


@pytest.mark.parametrize("mean_length", [60, 3])
def test_a_reserve_keeps_the_first_transitions_and_their_frames_for_good(mean_length):
    # 60-step episodes: within the allowance, every slot is live; 3-step episodes: far beyond it,
    # so ring transitions get evicted, but the reserve stays whole and nothing stale is returned
    frames, stacks = memories(200, num_envs=2, n_step=3, reserve_fraction=0.25)
    drive(frame_envs(2, mean_length=mean_length, time_limit=500), 1500, frames, stacks)
    ring, pool = frames.storage.ring, frames.storage.pool
    assert ring.written > 5 * ring.capacity
    assert pool.reserved > 0
    reserved = np.arange(ring.reserved)
    assert frames.storage.live(reserved).all()
    for got, expected in zip(frames.storage.gather(reserved), stacks.storage.gather(reserved), strict=True):
        np.testing.assert_array_equal(got, expected)
    if mean_length == 60:
        assert_same_contents(frames, stacks)
    else:
        assert frames.storage.live_count() < len(frames)
    live = np.flatnonzero(frames.storage.live(np.arange(len(frames))))
    for got, expected in zip(frames.storage.gather(live), stacks.storage.gather(live), strict=True):
        np.testing.assert_array_equal(got, expected)
    batch = frames.sample(64)
    np.testing.assert_array_equal(batch.next_obs, stacks.storage.gather(batch.indices)[3])


def test_a_frame_memory_state_does_not_load_into_whole_observation_storage_nor_the_reverse():
    frames, stacks = memories(50, num_envs=1)
    drive(frame_envs(1, mean_length=10, time_limit=20), 30, frames, stacks)
    with pytest.raises(ValueError, match="replay obs is int64"):
        memory(RingStorage(50, (4, *FRAME), np.dtype(np.uint8))).load_state_dict(frames.state_dict())
    with pytest.raises(ValueError, match="replay obs is uint8"):
        memory(FrameStorage(50, (4, *FRAME), np.dtype(np.uint8))).load_state_dict(stacks.state_dict())
