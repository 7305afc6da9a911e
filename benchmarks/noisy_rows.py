"""A noisy layer's two ways of computing, and a noisy Rainbow step with and without freed memory kept.

    python benchmarks/noisy_rows.py [--in-features 1600] [--out-features 306] [--rows 1 8 32 64]
    python benchmarks/noisy_rows.py --step [--preset minatar-rainbow] [--env MinAtar/SpaceInvaders-v0]

Layer: for each row count, `NoisyLinear` itself, its threshold set either way: the forward pass
(no gradients) and the forward and backward pass that form the noisy weight matrix, against the
factorized product that never forms it; medians
of rounds that alternate the two, so load hits both alike. `NoisyLinear` takes the factorized
product up to `FACTORIZED_MAX_ROWS` rows.

`--step`: the preset's gradient step (batch from real transitions) timed in fresh processes,
alternately with and without `dqnlab.allocator.keep_freed_memory`, since glibc's settings cannot
be undone inside one process.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import torch
from minatar_cost import alternating_medians_us, median_us, random_play_replay  # this folder's, on the path

import dqnlab.agent
from dqnlab import Agent
from dqnlab.config import apply_overrides
from dqnlab.networks import noisy
from dqnlab.networks.noisy import NoisyLinear
from dqnlab.presets import preset_config

DEFAULT_MAX_ROWS = noisy.FACTORIZED_MAX_ROWS


def timed_call(layer: NoisyLinear, x: torch.Tensor, factorize: bool, backward: bool) -> Callable[[], None]:
    """One call of the layer itself, its threshold set so that it factorizes `x`'s rows or forms the matrix."""
    threshold = len(x) if factorize else 0

    def call() -> None:
        noisy.FACTORIZED_MAX_ROWS = threshold
        try:
            if backward:
                layer.zero_grad(set_to_none=True)
                layer(x).sum().backward()
            else:
                with torch.no_grad():
                    layer(x)
        finally:
            noisy.FACTORIZED_MAX_ROWS = DEFAULT_MAX_ROWS

    return call


def layer_table(in_features: int, out_features: int, rows: list[int], rounds: int, block: int) -> None:
    layer = NoisyLinear(in_features, out_features)
    print(f"NoisyLinear {in_features} -> {out_features}, one thread; factorized up to {DEFAULT_MAX_ROWS} rows")
    print("rows  pass                  formed µs  factorized µs")
    for count in rows:
        x = torch.randn(count, in_features).clamp_min(0)
        for backward in (False, True):
            calls = {way: timed_call(layer, x, way == "factorized", backward) for way in ("formed", "factorized")}
            medians = alternating_medians_us(calls, rounds, block)
            what = "forward and backward" if backward else "forward, no gradients"
            print(f"{count:4d}  {what:<21} {medians['formed']:9.0f}  {medians['factorized']:13.0f}")


def step_us(preset: str, env_id: str) -> float:
    """The preset's median gradient step in this process, on batches of random play's transitions."""
    # a small replay of whole frames: random play does not follow episode boundaries
    replay_settings = {"frame_storage": "off", "capacity": 10_000}
    overrides = {"device": "cpu", "tensorboard": False, "torch_threads": 1, "replay": replay_settings}
    config = apply_overrides(preset_config(preset, env_id), overrides)
    agent = Agent(config)
    _, _, replay = random_play_replay(config, agent, np.random.default_rng(0), 3000)
    batches = itertools.cycle([replay.sample(config.learning.batch_size) for _ in range(8)])
    return median_us(lambda: agent.learner.update(next(batches)), repeats=240, block=30)


def step_table(preset: str, env_id: str, pairs: int) -> None:
    print(f"{preset} on {env_id}: gradient step, median µs, fresh processes in alternation")
    times: dict[str, list[float]] = {"glibc's defaults": [], "keep_freed_memory": []}
    for _ in range(pairs):
        for name, keep in (("glibc's defaults", "0"), ("keep_freed_memory", "1")):
            command = [sys.executable, __file__, "--step-here", keep, "--preset", preset, "--env", env_id]
            output = subprocess.run(command, capture_output=True, text=True)
            if output.returncode != 0:
                sys.exit(f"the timed process failed: {output.stderr.strip().splitlines()[-1]}")
            times[name].append(float(output.stdout.split()[-1]))
    for name, values in times.items():
        print(f"  {name:<18} " + "  ".join(f"{value:7.0f}" for value in values))
    ratio = statistics.median(times["glibc's defaults"]) / statistics.median(times["keep_freed_memory"])
    print(f"  defaults / kept: {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-features", type=int, default=1600)
    parser.add_argument("--out-features", type=int, default=306)
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--block", type=int, default=50)
    parser.add_argument("--step", action="store_true", help="time the preset's gradient step instead")
    parser.add_argument("--preset", default="minatar-rainbow")
    parser.add_argument("--env", default="MinAtar/SpaceInvaders-v0")
    parser.add_argument("--pairs", type=int, default=3, help="--step: processes of each kind")
    parser.add_argument("--step-here", choices=["0", "1"], help=argparse.SUPPRESS)  # one timed process of --step
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.step_here is not None:
        if args.step_here == "0":
            dqnlab.agent.keep_freed_memory = lambda: False
        print(step_us(args.preset, args.env))
    elif args.step:
        step_table(args.preset, args.env, args.pairs)
    else:
        layer_table(args.in_features, args.out_features, args.rows, args.rounds, args.block)


if __name__ == "__main__":
    main()
