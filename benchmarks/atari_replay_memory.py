"""Atari replay memory: bytes per transition of frame storage, and the RSS of a memory being filled.

    .venv/bin/python benchmarks/atari_replay_memory.py [--capacity 1000000] [--fill 200000]
        [--prioritized] [--n-step 1] [--episode-length 800]

Builds the replay memory an Atari run gets (4 stacked 84x84 uint8 frames, `replay.frame_storage`
auto), prints its accounting (the bytes its arrays hold, over the capacity) next to the stacked
layouts it replaces, then fills it with `--fill` synthetic steps (random frames, episodes of
`--episode-length` steps, reset-padded first stacks as FrameStackObservation makes them) and
prints the process's resident memory before and after, the time per step stored and per batch
of 32 sampled. Arrays are allocated zeroed and untouched pages cost no RAM, so the RSS grows
with the fill: a full memory costs `bytes per transition x capacity`.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from dqnlab.config import ReplayConfig
from dqnlab.replay import FrameStorage, NStepAccumulator, ReplayMemory, build_sampler

FRAME = (84, 84)
STACK = 4


def rss_bytes() -> int:
    """Resident set size of this process now (Linux /proc)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def fill(memory: ReplayMemory, steps: int, episode_length: int, rng: np.random.Generator) -> float:
    """Adds `steps` steps of one env with fresh random frames; returns seconds per step."""
    frames = rng.integers(0, 256, (1024, *FRAME), dtype=np.uint8)  # a bank to draw frames from cheaply
    obs = np.repeat(frames[:1][None], STACK, axis=1)  # [1, 4, 84, 84]: a reset-padded first stack
    began = time.perf_counter()
    for step in range(steps):
        newest = frames[step % len(frames)]
        next_obs = np.concatenate([obs[:, 1:], newest[None, None]], axis=1)
        ended = (step + 1) % episode_length == 0
        memory.add(
            obs, np.array([step % 6]), np.array([1.0], np.float32), next_obs, np.array([ended]), np.array([False])
        )
        obs = np.repeat(frames[(step * 7) % len(frames)][None, None], STACK, axis=1) if ended else next_obs
    return (time.perf_counter() - began) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=1_000_000, help="replay capacity, transitions")
    parser.add_argument("--fill", type=int, default=200_000, help="steps stored before measuring RSS")
    parser.add_argument("--prioritized", action="store_true", help="add prioritized replay's sum tree")
    parser.add_argument("--n-step", type=int, default=1, help="n-step returns")
    parser.add_argument("--episode-length", type=int, default=800, help="env steps per synthetic episode")
    args = parser.parse_args()

    rss_start = rss_bytes()
    storage = FrameStorage(args.capacity, (STACK, *FRAME), np.dtype(np.uint8), n_step=args.n_step)
    sampler = build_sampler(
        ReplayConfig(capacity=args.capacity, prioritized=args.prioritized), np.random.default_rng(0), 10**5
    )
    memory = ReplayMemory(storage, sampler, NStepAccumulator(args.n_step, 0.99, num_envs=1))
    frame_bytes = int(np.prod(FRAME))
    tree = getattr(sampler, "tree", None)
    tree_bytes = 0 if tree is None else sum(level.nbytes for level in tree.levels)
    nbytes = storage.nbytes + tree_bytes
    per_transition = nbytes / args.capacity
    naive = 2 * STACK * frame_bytes + 16
    sb3 = STACK * frame_bytes + 16  # SB3's optimize_memory_usage: s' read from the next slot
    print(
        f"frame storage, capacity {args.capacity:,}: {per_transition:,.1f} bytes per transition "
        f"= {nbytes / 1e9:.3f} GB ({nbytes / 2**30:.3f} GiB) when full"
    )
    print(
        f"  frame pool {storage.pool.capacity:,} frames x {frame_bytes} B; "
        f"serial stacks, action, reward, discount {2 * STACK * 8 + 16} B per transition"
        + (f"; sum tree {tree_bytes / args.capacity:.1f} B" if tree_bytes else "")
    )
    print(
        f"  stacked s and s': {naive:,} B ({naive * args.capacity / 1e9:.1f} GB); "
        f"stacked s only (SB3 optimized): {sb3:,} B ({sb3 * args.capacity / 1e9:.1f} GB); "
        f"frame storage is {naive / per_transition:.2f}x smaller than stacked s and s'"
    )

    rss_built = rss_bytes()
    seconds_per_step = fill(memory, args.fill, args.episode_length, np.random.default_rng(1))
    rss_filled = rss_bytes()
    began = time.perf_counter()
    for _ in range(200):
        memory.sample(32)
    sample_us = (time.perf_counter() - began) / 200 * 1e6
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        f"filled {args.fill:,} steps: RSS {rss_start / 1e9:.3f} GB at start, {rss_built / 1e9:.3f} GB built, "
        f"{rss_filled / 1e9:.3f} GB filled (+{(rss_filled - rss_built) / args.fill:,.0f} B per step stored); "
        f"peak {peak / 1e9:.3f} GB"
    )
    print(
        f"add: {seconds_per_step * 1e6:.1f} us per step; sample: {sample_us:.0f} us per batch of 32 "
        f"(frames rebuilt); live transitions {storage.live_count():,} of {len(memory):,}"
    )


if __name__ == "__main__":
    main()
