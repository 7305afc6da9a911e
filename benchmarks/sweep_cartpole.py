"""Runs a CartPole preset over seeds with --set overrides; prints env steps and seconds to solve.

python benchmarks/sweep_cartpole.py --preset cartpole --seeds 0-4 [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import statistics

from dqnlab import Agent
from dqnlab.config import apply_overrides, parse_assignment
from dqnlab.presets import preset_config


def _seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cartpole")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    rows = []
    for seed in _seeds(args.seeds):
        config = preset_config(args.preset, args.env).replace(seed=seed, tensorboard=False)
        for assignment in args.overrides:
            config = apply_overrides(config, parse_assignment(assignment))
        summary = Agent(config).learn()
        rows.append(summary)
        print(
            f"seed {seed}: solved_at_step={summary['solved_at_step']} solved_at_s={summary['solved_at_s']} "
            f"wall_s={summary['wall_s']} best={summary['best_eval_return']}",
            flush=True,
        )
    solved = [r for r in rows if r["solved_at_step"] is not None]
    print(f"solved {len(solved)}/{len(rows)}", end="")
    if solved:
        print(
            f"; median steps {statistics.median(r['solved_at_step'] for r in solved)}, "
            f"median train seconds {statistics.median(r['solved_at_s'] for r in solved):.1f}"
        )
    print()


if __name__ == "__main__":
    main()
