"""How the final networks of CartPole runs fail: the pole falls, or the cart leaves the track
(docs/forgetting.md). For every run of the finished variants under the experiment directories
given (as forgetting_report.py finds them) whose last-10 mean is below the target, plays greedy
episodes with its last.pt and counts how each ends.

    python scripts/cartpole_failures.py RUNS/forgetting-cartpole RUNS/forgetting-cartpole-candidates* \
        [--drop EXPERIMENT:VARIANT] [--episodes 5]

`--drop` leaves out a variant of one experiment, as forgetting_report.py's does (a variant name
planned by two experiments is refused: its runs would count twice). It prints one line per run,
then the totals for the variants with LayerNorm (`layer-norm` in the name or `stable+`) and for
the others.

CartPole-v1 terminates when |x| > 2.4 (the cart off the track) or |theta| > 12 degrees (the pole
down) and truncates at 500 steps.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import gymnasium as gym
import torch
from forgetting_report import dropped_variants, finished_variants

from dqnlab.agent import Agent

X_LIMIT = 2.4  # CartPole-v1's x_threshold
FIRST_RESET_SEED = 2000  # episodes unlike any evaluation's


def episode_end(agent: Agent, env: gym.Env, seed: int) -> str:
    """ "cart off the track", "pole down" or "500 steps" for one greedy episode."""
    obs, _ = env.reset(seed=seed)
    while True:
        obs, _, terminated, truncated, _ = env.step(agent.act(obs, 0.0))
        if terminated:
            return "cart off the track" if abs(obs[0]) > X_LIMIT else "pole down"
        if truncated:
            return "500 steps"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="+", type=Path)
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--drop", action="append", default=[], metavar="EXPERIMENT:VARIANT", help="leave this out")
    args = parser.parse_args()
    groups, _ = finished_variants(args.experiments, dropped_variants(parser, args.drop))
    torch.set_num_threads(1)
    env = gym.make("CartPole-v1")
    totals = {"with LayerNorm": Counter[str](), "without": Counter[str]()}
    for label, run_dirs in groups.items():
        for run_dir in run_dirs:
            if json.loads((run_dir / "summary.json").read_text())["last_10_mean"] >= 475:
                continue
            agent = Agent.load(run_dir / "checkpoints" / "last.pt")
            ends = Counter(episode_end(agent, env, FIRST_RESET_SEED + k) for k in range(args.episodes))
            print(f"{label}\t{run_dir.name}\t" + "\t".join(f"{kind}: {n}" for kind, n in sorted(ends.items())))
            layer_norm = "layer-norm" in label or label.startswith("stable+")
            totals["with LayerNorm" if layer_norm else "without"].update(ends)
    for group, ends in totals.items():
        print(f"total, {group}\t" + "\t".join(f"{kind}: {n}" for kind, n in sorted(ends.items())))


if __name__ == "__main__":
    main()
