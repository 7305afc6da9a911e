"""Replay sampling cost: microseconds per batch of 64 (sample + priority update) at capacity 1,000,000.

    .venv/bin/python benchmarks/replay_sampling.py [--capacity 1000000] [--batch 64] [--repeats 1000]

Times the index work the training loop does per gradient step, apart from gathering the
transitions (the same for every sampler): uniform sampling; prioritized sampling over the sum
tree (stratified draw, importance weights) plus the priority update, for several branchings
of the tree. Each row is the median of 5 rounds of `repeats` batches.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from dqnlab.replay import PrioritizedSampler, UniformSampler
from dqnlab.replay.sum_tree import SumTree


def _time_us(step: Callable[[], None], repeats: int, rounds: int = 5) -> float:
    for _ in range(min(repeats, 200)):  # warm-up
        step()
    per_round = []
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(repeats):
            step()
        per_round.append((time.perf_counter() - began) / repeats * 1e6)
    return statistics.median(per_round)


def _prioritized_row(
    capacity: int, batch: int, branching: int, repeats: int, rng: np.random.Generator
) -> tuple[str, float, float, float]:
    """Sample, update, and both, for a full prioritized sampler over a tree of this branching."""
    sampler = PrioritizedSampler(capacity, rng, alpha=0.5, beta_start=0.4, beta_steps=1, eps=1e-6)
    sampler.tree = SumTree(capacity, branching)
    sampler.tree.update(np.arange(capacity), rng.random(capacity) + 0.01)
    errors = rng.random(batch)
    drawn = [np.arange(batch)]

    def sample() -> None:
        drawn[0] = sampler.sample(batch, capacity)[0]

    def update() -> None:
        sampler.update_priorities(drawn[0], errors)

    def both() -> None:
        sample()
        update()

    name = f"prioritized, {branching}-ary tree ({len(sampler.tree.levels) - 1} levels)"
    return name, _time_us(sample, repeats), _time_us(update, repeats), _time_us(both, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=1_000_000, help="replay slots, all filled")
    parser.add_argument("--batch", type=int, default=64, help="transitions per batch")
    parser.add_argument("--repeats", type=int, default=1000, help="batches per timing round")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows: list[tuple[str, float, float, float]] = []

    uniform = UniformSampler(rng)
    us = _time_us(lambda: uniform.sample(args.batch, args.capacity), args.repeats)
    rows.append(("uniform", us, 0.0, us))

    for branching in (2, 16, 32):
        rows.append(_prioritized_row(args.capacity, args.batch, branching, args.repeats, rng))

    print(f"capacity {args.capacity:,}, batch {args.batch}; µs per batch (median of 5 rounds of {args.repeats:,})")
    print(f"| {'sampler':<38} | {'sample':>8} | {'update':>8} | {'sample + update':>15} |")
    print(f"| {'-' * 38} | {'-' * 7}: | {'-' * 7}: | {'-' * 14}: |")
    for name, sample_us, update_us, both_us in rows:
        update_text = f"{update_us:8.1f}" if update_us else f"{'-':>8}"
        print(f"| {name:<38} | {sample_us:8.1f} | {update_text} | {both_us:15.1f} |")


if __name__ == "__main__":
    main()
