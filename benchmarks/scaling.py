"""Scaling: env steps/s against the number of parallel envs, and replay cost against capacity.

    python benchmarks/scaling.py [--steps 6000] [--envs 1,2,4,8] [--capacities 10000,100000,1000000]

Envs: the `cartpole` preset on CartPole-v1 without evaluation, collecting only (learning off:
acting is one batched forward pass for all envs) and training (the preset's gradient step every
2 env steps). Replay: one batch of 64 sampled and gathered, plus its priority update for
prioritized replay, from a memory filled to capacity with CartPole-sized transitions.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from gymnasium.spaces import Box

from dqnlab import Agent
from dqnlab.config import Config, ReplayConfig, apply_overrides
from dqnlab.presets import preset_config
from dqnlab.replay import build_replay


def env_steps_per_s(num_envs: int, steps: int, learn: bool) -> float:
    config = preset_config("cartpole", "CartPole-v1").replace(num_envs=num_envs, steps=steps, tensorboard=False)
    learning_starts = 1000 if learn else 10**9
    config = apply_overrides(
        config,
        {
            "learning": {"learning_starts": learning_starts},
            "evaluation": {"every": 0, "episodes": 1, "stop_at_target": False},
            "diagnostics": {"plot_every": 0},
            "checkpoint": {"every": 0},
        },
    )
    summary = Agent(config).learn()
    return steps / summary["train_s"]


def replay_us(capacity: int, prioritized: bool, batches: int = 500) -> float:
    rng = np.random.default_rng(0)
    chunk = min(capacity, 10_000)  # filled 10,000 "envs" at a time
    config = Config(num_envs=chunk, replay=ReplayConfig(capacity=capacity, prioritized=prioritized))
    memory = build_replay(config, Box(-1, 1, (4,), np.float32), rng, beta_steps=100_000)
    obs = rng.normal(size=(chunk, 4)).astype(np.float32)
    flags = np.zeros(chunk, dtype=bool)
    for _ in range(capacity // chunk):
        memory.add(obs, np.zeros(chunk, np.int64), np.ones(chunk, np.float32), obs, flags, flags)
    began = time.perf_counter()
    for _ in range(batches):
        batch = memory.sample(64)
        if prioritized:
            assert batch.indices is not None
            memory.update_priorities(batch.indices, rng.random(64))
    return (time.perf_counter() - began) / batches * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--envs", default="1,2,4,8")
    parser.add_argument("--capacities", default="10000,100000,1000000")
    args = parser.parse_args()
    print("| envs | collect only: env steps/s | training: env steps/s |")
    print("|---:|---:|---:|")
    for num_envs in (int(n) for n in args.envs.split(",")):
        collect = env_steps_per_s(num_envs, args.steps, learn=False)
        train = env_steps_per_s(num_envs, args.steps, learn=True)
        print(f"| {num_envs} | {collect:,.0f} | {train:,.0f} |", flush=True)
    print()
    print("| capacity | uniform: sample (µs) | prioritized: sample + update (µs) |")
    print("|---:|---:|---:|")
    for capacity in (int(c) for c in args.capacities.split(",")):
        print(f"| {capacity:,} | {replay_us(capacity, False):.1f} | {replay_us(capacity, True):.1f} |", flush=True)


if __name__ == "__main__":
    main()
