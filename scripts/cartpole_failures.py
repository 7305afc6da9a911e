"""How the final networks of CartPole runs fail: the pole falls, or the cart leaves the track
(docs/forgetting.md). For every finished run under the experiment directories given whose last-10
mean is below the target, plays greedy episodes with its last.pt and counts how each ends.

    python scripts/cartpole_failures.py RUNS/forgetting-cartpole RUNS/forgetting-cartpole-candidates* \
        [--drop EXPERIMENT:VARIANT] [--episodes 5]

`--drop` leaves out a variant of one experiment, as forgetting_report.py's does (a run made twice
would count twice). It prints one line per run, then the totals for the variants with LayerNorm
(`layer-norm` in the name or `stable+`) and for the others.

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

from dqnlab.agent import Agent
from dqnlab.experiments.run import planned_runs

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
    pairs = [item.rsplit(":", 1) for item in args.drop]
    if any(len(pair) != 2 for pair in pairs):
        parser.error("--drop takes EXPERIMENT:VARIANT")
    dropped = {(Path(experiment), variant) for experiment, variant in pairs}
    torch.set_num_threads(1)
    env = gym.make("CartPole-v1")
    totals = {"with LayerNorm": Counter[str](), "without": Counter[str]()}
    for experiment in args.experiments:
        for spec in planned_runs(experiment)[1]:
            for label, run_dir in spec.labelled_run_dirs:
                summary_path = run_dir / "summary.json"
                if (experiment, label) in dropped or not summary_path.is_file():
                    continue
                if json.loads(summary_path.read_text())["last_10_mean"] >= 475:
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
