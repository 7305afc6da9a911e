"""Collapse detection: the evaluation return falling far below the best it has reached.

DQN can learn a task and then forget it ("catastrophic forgetting"): once the replay memory
holds only the good policy's transitions, the rare failure states stop being replayed, Q
over-generalizes and the policy breaks. The evaluation return then drops from near its best to
near where it started. This module only *detects* such drops; the training loop acts on them
(warn, stop, or roll back to the best weights) as `diagnostics.on_collapse` says.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

COLLAPSE_COLUMNS = ["step", "episode", "eval_return", "best_return", "action"]


class CollapseEvent(NamedTuple):
    step: int  # env steps at the evaluation that detected the collapse
    episode: int  # episodes finished by then
    eval_return: float  # the evaluation's mean return
    best_return: float  # the best evaluation mean return seen before it
    action: str  # what the loop did: warn, stop or rollback


@dataclass
class CollapseDetector:
    """Decides, one evaluation at a time, whether training has collapsed.

    With `baseline` the first evaluation's return and `best` the best so far, a collapse is an
    evaluation return at or below `best - drop * (best - baseline)`: it has lost at least `drop`
    of the gain over the start. Detection arms only once `best` reaches the arming level, so
    early noise is not a collapse: `min_best` when given, else halfway from the baseline to
    `target` (the env's target return); with neither, detection stays off. A collapse is
    reported once; the detector re-arms after the return climbs back above the threshold (or
    after `reset`, as after a rollback).
    """

    drop: float  # fraction of the gain (best - first evaluation) that must be lost, in (0, 1]
    min_best: float | None = None  # best return that arms detection; None = halfway to `target`
    target: float | None = None  # the run's target return, used when `min_best` is None
    baseline: float | None = None
    best: float = -math.inf
    collapsed: bool = False

    def arming_level(self) -> float | None:
        """The best return from which on collapses are detected; None when it cannot be known."""
        if self.min_best is not None:
            return self.min_best
        if self.target is None or self.baseline is None:
            return None
        return self.baseline + 0.5 * (self.target - self.baseline)

    def threshold(self) -> float | None:
        """The return at or below which an evaluation counts as a collapse, or None while unarmed."""
        level = self.arming_level()
        if self.baseline is None or level is None or self.best < level:
            return None
        gain = self.best - self.baseline
        if gain <= 0:
            return None
        return self.best - self.drop * gain

    def update(self, eval_return: float) -> bool:
        """Takes the next evaluation return; True when it starts a new collapse."""
        if self.baseline is None:
            self.baseline = eval_return
        threshold = self.threshold()
        if threshold is not None and eval_return <= threshold:
            is_new = not self.collapsed
            self.collapsed = True
            return is_new
        self.collapsed = False
        self.best = max(self.best, eval_return)
        return False

    def reset(self) -> None:
        """Forgets the collapsed state (the best and the baseline stay), e.g. after a rollback."""
        self.collapsed = False


def append_collapse(run_dir: Path, event: CollapseEvent) -> None:
    """Appends `event` to run_dir/collapses.csv (written with its header on first use)."""
    path = run_dir / "collapses.csv"
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(COLLAPSE_COLUMNS)
        writer.writerow(
            [event.step, event.episode, f"{event.eval_return:.6g}", f"{event.best_return:.6g}", event.action]
        )
