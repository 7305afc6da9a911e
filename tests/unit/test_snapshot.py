"""Checkpoint folders: exact round trip of a state tree, checksums catching damage, a full disk
leaving the previous checkpoint intact, pruning, and envs and replay restored exactly."""

from __future__ import annotations

import errno
import random
from collections import deque

import numpy as np
import pytest
import torch
from gymnasium.spaces import Box

from dqnlab.config import Config, LearningConfig, ReplayConfig
from dqnlab.envs import make_vector_env
from dqnlab.envs.state import EnvStateError, env_state, restore_vector_env_state, vector_env_state
from dqnlab.errors import CheckpointError
from dqnlab.replay import ReplayMemory, RingStorage, UniformSampler, build_replay
from dqnlab.training import snapshot
from dqnlab.training.snapshot import latest_snapshot, list_snapshots, read_snapshot, write_snapshot


def _tree(step: int) -> dict:
    return {
        "step": step,
        "big": np.arange(10_000, dtype=np.float32) * step,  # a .npy file
        "small": np.array([1.5, np.nan, -np.inf]),  # inline
        "scalar": np.float32(0.1),
        "python_random": random.Random(step).getstate(),
        "queue": deque([np.ones(2), np.zeros(2)], maxlen=4),
        "nested": {"none": None, "flag": True, "text": "x", "inf": -float("inf"), "blob": b"\x00\xff"},
    }


def test_a_state_tree_round_trips_exactly(tmp_path):
    tree = _tree(3)
    write_snapshot(tmp_path, 3, tree, {"w": torch.arange(4.0)}, keep_last=2)
    step, folder = latest_snapshot(tmp_path)
    loaded, tensors = read_snapshot(folder)
    assert step == 3 and torch.equal(tensors["w"], torch.arange(4.0))
    np.testing.assert_array_equal(loaded["big"], tree["big"])
    np.testing.assert_array_equal(loaded["small"], tree["small"])
    assert loaded["scalar"] == tree["scalar"] and loaded["scalar"].dtype == np.float32
    assert loaded["python_random"] == tree["python_random"]
    assert isinstance(loaded["queue"], deque) and loaded["queue"].maxlen == 4
    assert loaded["nested"] == tree["nested"]
    assert (folder / "arrays" / "state.big.npy").is_file()


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    for step in (1, 2, 3, 4):
        write_snapshot(tmp_path, step, _tree(step), {}, keep_last=2)
    assert [step for step, _ in list_snapshots(tmp_path)] == [4, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state-000000000003", "state-000000000004"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "manifest"])
def test_a_damaged_checkpoint_is_skipped_for_the_previous_one(tmp_path, damage, capsys):
    write_snapshot(tmp_path, 1, _tree(1), {}, keep_last=3)
    newest = write_snapshot(tmp_path, 2, _tree(2), {}, keep_last=3)
    target = newest / "arrays" / "state.big.npy"
    if damage == "flip":
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "delete":
        target.unlink()
    else:
        (newest / "manifest.json").write_text("{not json")
    step, folder = latest_snapshot(tmp_path)
    assert step == 1
    reason = {
        "flip": "fails its checksum",
        "truncate": "has 100 bytes",
        "delete": "is missing",
        "manifest": "unreadable manifest.json",
    }[damage]
    err = capsys.readouterr().err
    assert "state-000000000002" in err and reason in err and "using state-000000000001" in err


def test_no_readable_checkpoint_says_why(tmp_path):
    folder = write_snapshot(tmp_path, 5, _tree(5), {}, keep_last=1)
    (folder / "torch.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match=r"no readable checkpoint .*state-000000000005: torch.pt has 4 bytes"):
        latest_snapshot(tmp_path)


def test_a_full_disk_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    write_snapshot(tmp_path, 1, _tree(1), {}, keep_last=1)
    write = snapshot._CrcWriter.write

    def fill_up(self, data):
        if self.size + len(data) > 1000:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(self, data)

    monkeypatch.setattr(snapshot._CrcWriter, "write", fill_up)
    with pytest.raises(CheckpointError, match="No space left on device; the checkpoint of step 1 is intact"):
        write_snapshot(tmp_path, 2, _tree(2), {}, keep_last=1)
    assert [p.name for p in tmp_path.iterdir()] == ["state-000000000001"]  # no temporary folder left
    step, folder = latest_snapshot(tmp_path)
    assert step == 1
    np.testing.assert_array_equal(read_snapshot(folder)[0]["big"], _tree(1)["big"])


def test_leftovers_of_a_killed_write_are_ignored_and_cleaned(tmp_path):
    write_snapshot(tmp_path, 1, _tree(1), {}, keep_last=2)
    (tmp_path / ".tmp-state-000000000002-999").mkdir()  # as kill -9 mid-write leaves it
    assert latest_snapshot(tmp_path)[0] == 1
    write_snapshot(tmp_path, 3, _tree(3), {}, keep_last=2)
    assert not (tmp_path / ".tmp-state-000000000002-999").exists()


def test_arrays_are_never_unpickled(tmp_path):
    folder = write_snapshot(tmp_path, 1, _tree(1), {}, keep_last=1)
    with pytest.raises(TypeError, match="object arrays"):
        write_snapshot(tmp_path, 2, {"bad": np.array([object()])}, {}, keep_last=1)
    assert latest_snapshot(tmp_path)[1] == folder


def _step(envs, rng, count):
    out = []
    for _ in range(count):
        obs, rewards, terminated, truncated, _ = envs.step(rng.integers(0, 2, envs.num_envs))
        out.append(np.concatenate([obs.ravel(), rewards, terminated, truncated]))
    return np.stack(out)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "FrozenLake-v1", "CliffWalking-v1"])
def test_envs_continue_exactly_after_a_restore(tmp_path, env_id):
    envs = make_vector_env(env_id, 2)
    envs.reset(seed=1)
    _step(envs, np.random.default_rng(0), 57)
    write_snapshot(tmp_path, 57, {"envs": vector_env_state(envs)}, {}, keep_last=1)
    expected = _step(envs, np.random.default_rng(1), 300)  # crosses several episode ends and resets
    restored = make_vector_env(env_id, 2)
    restored.reset(seed=123)
    restore_vector_env_state(restored, read_snapshot(latest_snapshot(tmp_path)[1])[0]["envs"])
    np.testing.assert_array_equal(_step(restored, np.random.default_rng(1), 300), expected)


def test_an_env_with_uncapturable_state_is_refused_by_name():
    import gymnasium as gym

    class Simulator:
        pass

    class Opaque(gym.Env):
        observation_space = gym.spaces.Box(0, 1, (1,))
        action_space = gym.spaces.Discrete(2)

        def __init__(self):
            self.world = Simulator()

    with pytest.raises(EnvStateError, match="'world' is a Simulator"):
        env_state(Opaque())


@pytest.mark.parametrize("prioritized, n_step", [(False, 1), (True, 3)])
def test_replay_memory_samples_the_same_after_a_round_trip(tmp_path, prioritized, n_step):
    def memory(seed):
        config = Config(
            num_envs=2,
            replay=ReplayConfig(capacity=50, n_step=n_step, prioritized=prioritized, reserve_fraction=0.1),
            learning=LearningConfig(batch_size=8),
        )
        return build_replay(config, Box(-10, 10, (3,), np.float32), np.random.default_rng(seed), beta_steps=100)

    rng = np.random.default_rng(0)
    original = memory(0)
    for t in range(80):  # wraps the ring past its reserve; leaves n-step queues pending
        obs = rng.normal(size=(2, 3)).astype(np.float32)
        done = rng.random(2) < 0.1
        original.add(obs, rng.integers(0, 2, 2), rng.normal(size=2), obs + 1, done, np.zeros(2, bool))
        if t > 10:
            batch = original.sample(8)
            original.update_priorities(batch.indices, rng.random(8))
    write_snapshot(
        tmp_path,
        80,
        {"replay": original.state_dict(), "rng": original.sampler.rng.bit_generator.state},
        {},
        keep_last=1,
    )
    tree = read_snapshot(latest_snapshot(tmp_path)[1])[0]
    copy = memory(99)
    copy.load_state_dict(tree["replay"])
    copy.sampler.rng.bit_generator.state = tree["rng"]
    for _ in range(5):
        obs = rng.normal(size=(2, 3)).astype(np.float32)
        for target in (original, copy):
            target.add(obs, np.array([0, 1]), np.array([1.0, 0.5]), obs, np.array([True, False]), np.zeros(2, bool))
        a, b = original.sample(16), copy.sample(16)
        for field_a, field_b in zip(a, b, strict=True):
            if field_a is None:
                assert field_b is None
            else:
                np.testing.assert_array_equal(field_a, field_b)


def test_replay_of_another_capacity_is_refused():
    rng = np.random.default_rng(0)
    small, large = (ReplayMemory(RingStorage(n, (3,), np.dtype(np.float32)), UniformSampler(rng)) for n in (10, 20))
    with pytest.raises(ValueError, match="capacity 10 .* does not fit one of capacity 20"):
        large.load_state_dict(small.state_dict())


def test_a_full_disk_while_saving_best_pt_keeps_the_previous_file(tmp_path, monkeypatch):
    from dqnlab.training import weights as checkpoint

    path = tmp_path / "best.pt"
    checkpoint.save_checkpoint(path, {"weights": torch.ones(3)})
    before = path.read_bytes()

    def full_disk(obj, handle):
        handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", full_disk)
    with pytest.raises(CheckpointError, match="best.pt: No space left on device; the previous one is intact"):
        checkpoint.save_checkpoint(path, {"weights": torch.zeros(3)})
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]
