"""The training loop's state as one value: saved whole in a checkpoint, restored whole on resume."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from dqnlab.diagnostics.collapse import CollapseDetector, CollapseEvent


@dataclass
class TrainingState:
    """What a run changes as it trains, besides the agent's networks and counters and the collector's
    replay and envs: the step budget, the per-episode loss and Q sums, evaluation and early-stop state,
    the evaluations so far, the collapse detector and its events, and the best weights kept for a
    collapse rollback."""

    steps: int  # env steps this run trains for
    start_step: int  # the agent's env steps when the run began
    collapse_detector: CollapseDetector
    best_eval_return: float = -math.inf
    evals_without_improvement: int = 0  # evaluations since the best one, for `evaluation.patience`
    solved_at_step: int | None = None  # env steps at the first evaluation at or above the target
    solved_at_s: float | None = None  # training seconds (evaluation excluded) by then
    eval_seconds: float = 0.0
    earlier_wall_s: float = 0.0  # wall seconds spent on this run by the processes before a resume
    loss_sum: float = 0.0  # loss summed over the gradient steps since the last episode ended
    q_sum: float = 0.0  # mean Q of the taken actions, summed likewise
    update_count: int = 0  # gradient steps since the last episode ended
    nonfinite_rollbacks: int = 0
    collapses: list[CollapseEvent] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)  # env steps of every evaluation so far, for the
    eval_returns: list[float] = field(default_factory=list)  # summary's stability measures, with their mean returns
    best_weights: dict[str, Any] | None = None  # the best evaluation's weights, kept for rollback

    @property
    def end_step(self) -> int:
        return self.start_step + self.steps

    def take_episode_means(self) -> tuple[float, float]:
        """(mean loss, mean Q) over the gradient steps since the last episode ended; resets the sums."""
        if self.update_count:
            means = (self.loss_sum / self.update_count, self.q_sum / self.update_count)
        else:
            means = (math.nan, math.nan)
        self.loss_sum = self.q_sum = 0.0
        self.update_count = 0
        return means

    def to_tree(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(plain values, tensors): the best weights go with the checkpoint's tensors."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "best_weights"}
        values["collapse_detector"] = dataclasses.asdict(self.collapse_detector)
        values["collapses"] = [list(event) for event in self.collapses]
        return values, self.best_weights or {}

    @classmethod
    def from_tree(cls, values: dict[str, Any], best_weights: dict[str, Any]) -> TrainingState:
        values = dict(values)
        values["collapse_detector"] = CollapseDetector(**values["collapse_detector"])
        values["collapses"] = [CollapseEvent(*event) for event in values["collapses"]]
        return cls(**values, best_weights=best_weights or None)
