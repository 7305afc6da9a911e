"""Run MinAtar's own DQN (kenjyoung/MinAtar, examples/dqn.py) and log its episodes as a dqnlab run.

It tells dqnlab's training apart from the published curve's (docs/minatar.md, Breakout): the file
is imported as it is, not copied. Only its NUM_FRAMES is set, and the Environment it builds is
seeded and writes each finished episode to RUN_DIR/metrics.csv (step, episode, return, length),
which scripts/minatar_results.py reads. Python's, numpy's and torch's generators get the same seed.

    python scripts/minatar_reference_dqn.py --dqn-py MinAtar/examples/dqn.py --game breakout \
        --seed 0 --frames 1200000 --run-dir runs/bo-ref/seed-0
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch


def _load_reference(path: Path) -> Any:
    """dqn.py as a module (Any: its names are set at run time)."""
    if not path.is_file():
        raise SystemExit(f"error: no file {path}: give the path of examples/dqn.py in a MinAtar checkout")
    spec = importlib.util.spec_from_file_location("minatar_reference_dqn", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not all(hasattr(module, name) for name in ("NUM_FRAMES", "Environment", "main")):
        raise SystemExit(f"error: {path} is not MinAtar's examples/dqn.py (no NUM_FRAMES, Environment or main)")
    return module


def _logged_environment(base: type, seed: int, metrics_csv: Path) -> type:
    """MinAtar's Environment, seeded, appending each finished episode to `metrics_csv`."""

    class LoggedEnvironment(base):  # type: ignore[misc, valid-type]
        def __init__(self, game: str) -> None:
            super().__init__(game)
            self.seed(seed)
            self.log = metrics_csv.open("w", buffering=1)
            self.log.write("step,episode,return,length\n")
            self.frames = self.episodes = self.length = 0
            self.episode_return = 0.0

        def act(self, action: object) -> tuple[float, bool]:
            reward, terminal = super().act(action)
            self.frames += 1
            self.length += 1
            self.episode_return += float(reward)
            if terminal:
                self.episodes += 1
                self.log.write(f"{self.frames},{self.episodes},{self.episode_return},{self.length}\n")
                self.episode_return, self.length = 0.0, 0
            return reward, terminal

    return LoggedEnvironment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dqn-py", type=Path, required=True, help="examples/dqn.py of a MinAtar checkout")
    parser.add_argument("--game", required=True, help="breakout, space_invaders, ... (minatar.environments)")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--frames", type=int, required=True, help="its NUM_FRAMES (5,000,000 in the file)")
    parser.add_argument("--run-dir", type=Path, required=True, help="a new directory for metrics.csv and its output")
    parser.add_argument("--threads", type=int, default=1, help="torch's CPU threads")
    args = parser.parse_args()
    if args.frames < 1 or args.threads < 1:
        raise SystemExit(f"error: --frames ({args.frames}) and --threads ({args.threads}) must be at least 1")
    metrics_csv = args.run_dir / "metrics.csv"
    if metrics_csv.exists():
        raise SystemExit(f"error: {metrics_csv} exists; give a new --run-dir")
    reference = _load_reference(args.dqn_py)
    try:
        reference.Environment(args.game)
    except Exception as error:  # minatar names the bad game in its own words
        raise SystemExit(f"error: MinAtar has no game '{args.game}' ({error})") from None
    args.run_dir.mkdir(parents=True, exist_ok=True)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    reference.NUM_FRAMES = args.frames
    reference.Environment = _logged_environment(reference.Environment, args.seed, metrics_csv)
    sys.argv = ["dqn.py", "--game", args.game, "--verbose", "--output", str(args.run_dir / "dqn_py")]
    reference.main()


if __name__ == "__main__":
    main()
