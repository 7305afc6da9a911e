"""Where a gradient step's time goes: one preset's update, timed and broken down by torch op.

    python benchmarks/profile_update.py [--preset cartpole] [--env CartPole-v1] [--updates 2000] [--set K=V ...]

Times `DQNLearner.update` on a fixed random batch (replay sampling left out), then runs the
torch profiler over a few hundred more updates and prints the ops that take the most time.
The profiler adds its own overhead, so read its table for proportions, the first line for time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.profiler import profile

from dqnlab import Agent
from dqnlab.config import apply_overrides, parse_assignment
from dqnlab.presets import preset_config
from dqnlab.types import Batch


def random_batch(agent: Agent, rng: np.random.Generator) -> Batch:
    """A batch of the preset's size and the env's observation shape and dtype; values do not matter."""
    space = agent.spaces.observation_space
    size = agent.config.learning.batch_size

    def observations() -> np.ndarray:
        if np.issubdtype(space.dtype, np.integer):
            return rng.integers(0, 256, (size, *space.shape)).astype(space.dtype)
        return rng.standard_normal((size, *space.shape)).astype(space.dtype)

    weights = np.ones(size, np.float32) if agent.config.replay.prioritized else None
    return Batch(
        obs=observations(),
        actions=rng.integers(0, agent.num_actions, size),
        rewards=rng.standard_normal(size).astype(np.float32),
        next_obs=observations(),
        discounts=np.full(size, agent.config.learning.gamma, np.float32),
        weights=weights,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cartpole")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=15, help="ops to list")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    config = preset_config(args.preset, args.env).replace(tensorboard=False)
    for assignment in args.overrides:
        config = apply_overrides(config, parse_assignment(assignment))
    agent = Agent(config)
    batch = random_batch(agent, np.random.default_rng(0))
    for _ in range(min(200, args.updates)):  # warm-up
        agent.learner.update(batch)
    began = time.perf_counter()
    for _ in range(args.updates):
        agent.learner.update(batch)
    per_update_us = (time.perf_counter() - began) / args.updates * 1e6
    parameters = agent.learner.flat_online.numel()
    print(
        f"{args.preset} on {args.env}: {per_update_us:.0f} µs per update (batch {config.learning.batch_size}, "
        f"{parameters:,} parameters, {torch.get_num_threads()} torch threads)"
    )
    with profile() as profiler:
        for _ in range(200):
            agent.learner.update(batch)
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
