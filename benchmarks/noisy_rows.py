"""A noisy layer's two ways of computing, and a noisy Rainbow step with and without freed memory kept.

    python benchmarks/noisy_rows.py [--in-features 1600] [--out-features 306] [--rows 1 8 32 64]
    python benchmarks/noisy_rows.py --step [--preset minatar-rainbow] [--env MinAtar/SpaceInvaders-v0]

Layer: for each row count, the forward pass (no gradients) and the forward and backward pass
that forms the noisy weight matrix, against the factorized product that never forms it; medians
of rounds that alternate the two, so load hits both alike. `NoisyLinear` takes the factorized
product up to `FACTORIZED_MAX_ROWS` rows.

`--step`: the preset's gradient step (batch from real transitions) timed in fresh processes,
alternately with and without `dqnlab.allocator.keep_freed_memory`, since glibc's settings cannot
be undone inside one process.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections.abc import Callable

import torch
import torch.nn.functional as F
from minatar_cost import alternating_medians_us  # this folder's: python puts it on the path

from dqnlab.networks.noisy import FACTORIZED_MAX_ROWS, NoisyLinear


def formed(layer: NoisyLinear, x: torch.Tensor) -> torch.Tensor:
    """The noisy weight matrix formed, then one product."""
    weight = layer.weight_mu + layer.weight_sigma * layer.weight_noise()
    return F.linear(x, weight, layer.bias_mu + layer.bias_sigma * layer.epsilon_out)


def factorized(layer: NoisyLinear, x: torch.Tensor) -> torch.Tensor:
    """Two products, the noise applied to the input and to the output."""
    noise = F.linear(x * layer.epsilon_in, layer.weight_sigma, layer.bias_sigma)
    return F.linear(x, layer.weight_mu, layer.bias_mu) + layer.epsilon_out * noise


def timed_call(layer: NoisyLinear, way: Callable, x: torch.Tensor, backward: bool) -> Callable[[], None]:
    def call() -> None:
        if backward:
            layer.zero_grad(set_to_none=True)
            way(layer, x).sum().backward()
        else:
            with torch.no_grad():
                way(layer, x)

    return call


def layer_table(in_features: int, out_features: int, rows: list[int], rounds: int, block: int) -> None:
    layer = NoisyLinear(in_features, out_features)
    print(f"NoisyLinear {in_features} -> {out_features}, one thread; factorized up to {FACTORIZED_MAX_ROWS} rows")
    print("rows  pass                  formed µs  factorized µs")
    for count in rows:
        x = torch.randn(count, in_features).clamp_min(0)
        for backward in (False, True):
            calls = {way.__name__: timed_call(layer, way, x, backward) for way in (formed, factorized)}
            medians = alternating_medians_us(calls, rounds, block)
            what = "forward and backward" if backward else "forward, no gradients"
            print(f"{count:4d}  {what:<21} {medians['formed']:9.0f}  {medians['factorized']:13.0f}")


STEP_CHILD = """
import statistics, sys, time
import numpy as np, torch
import dqnlab.agent
from dqnlab import Agent
from dqnlab.config import apply_overrides
from dqnlab.envs import make_vector_env
from dqnlab.presets import preset_config
from dqnlab.replay import build_replay
preset, env_id, keep = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
if not keep:
    dqnlab.agent.keep_freed_memory = lambda: False
# a small replay of whole frames: this loop of random play does not follow episode boundaries
replay_settings = {"frame_storage": "off", "capacity": 10_000}
overrides = {"device": "cpu", "tensorboard": False, "torch_threads": 1, "replay": replay_settings}
config = apply_overrides(preset_config(preset, env_id), overrides)
agent = Agent(config)
rng = np.random.default_rng(0)
envs = make_vector_env(config.env_id, 1, config.atari, env_kwargs=config.env_kwargs)
obs, _ = envs.reset(seed=0)
replay = build_replay(config, agent.spaces.observation_space, agent.replay_rng, beta_steps=1_000_000)
for _ in range(3000):
    actions = rng.integers(0, agent.num_actions, 1)
    next_obs, rewards, terminated, truncated, _ = envs.step(actions)
    replay.add(obs, actions, rewards, next_obs, terminated, truncated)
    obs = next_obs
batches = [replay.sample(config.learning.batch_size) for _ in range(8)]
for i in range(20):
    agent.learner.update(batches[i % 8])
times = []
for _ in range(8):
    began = time.perf_counter()
    for i in range(30):
        agent.learner.update(batches[i % 8])
    times.append((time.perf_counter() - began) / 30 * 1e6)
print(statistics.median(times))
"""


def step_table(preset: str, env_id: str, pairs: int) -> None:
    print(f"{preset} on {env_id}: gradient step, median µs, fresh processes in alternation")
    times: dict[str, list[float]] = {"glibc's defaults": [], "keep_freed_memory": []}
    for _ in range(pairs):
        for name, keep in (("glibc's defaults", "0"), ("keep_freed_memory", "1")):
            command = [sys.executable, "-c", STEP_CHILD, preset, env_id, keep]
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
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.step:
        step_table(args.preset, args.env, args.pairs)
    else:
        layer_table(args.in_features, args.out_features, args.rows, args.rounds, args.block)


if __name__ == "__main__":
    main()
