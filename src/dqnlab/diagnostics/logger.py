"""Writes a run's metrics: metrics.csv (a row per episode), eval.csv, target_updates.csv
(env steps at which the target network was updated) and TensorBoard events."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import NamedTuple


class EpisodeRecord(NamedTuple):
    step: int  # env steps so far, all envs counted
    episode: int  # episodes finished so far
    episode_return: float
    length: int  # env steps in the episode
    epsilon: float
    loss: float  # mean loss of the gradient steps since the previous episode ended; nan if none
    q_mean: float  # mean Q(s, a) over the same gradient steps


class EvalRecord(NamedTuple):
    step: int
    mean_return: float
    std_return: float


METRICS_COLUMNS = ["step", "episode", "return", "length", "epsilon", "loss", "q_mean"]
EVAL_COLUMNS = ["step", "mean_return", "std_return"]


class RunLogger:
    """Appends episode and evaluation rows to CSV files and TensorBoard as they happen."""

    def __init__(self, run_dir: Path, tensorboard: bool, resume_step: int | None = None) -> None:
        """With `resume_step` (a resumed run) the CSV files, already cut back to the checkpoint, are
        appended to, and TensorBoard events after that env step are purged."""
        mode = "w" if resume_step is None else "a"
        self._metrics_file = open(run_dir / "metrics.csv", mode, newline="")
        self._eval_file = open(run_dir / "eval.csv", mode, newline="")
        self._metrics = csv.writer(self._metrics_file)
        self._eval = csv.writer(self._eval_file)
        self._target_file = open(run_dir / "target_updates.csv", mode)
        if resume_step is None:
            self._target_file.write("step\n")
            self._metrics.writerow(METRICS_COLUMNS)
            self._eval.writerow(EVAL_COLUMNS)
        self._tensorboard = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge_step = None if resume_step is None else resume_step + 1
            self._tensorboard = SummaryWriter(log_dir=str(run_dir / "tensorboard"), purge_step=purge_step)

    def flush(self) -> None:
        """Pushes buffered rows to the files (a checkpoint records their lengths)."""
        self._metrics_file.flush()
        self._eval_file.flush()
        self._target_file.flush()
        if self._tensorboard is not None:
            self._tensorboard.flush()

    def on_episode(self, record: EpisodeRecord) -> None:
        self._metrics.writerow(
            [
                record.step,
                record.episode,
                record.episode_return,
                record.length,
                f"{record.epsilon:.6g}",
                f"{record.loss:.6g}",
                f"{record.q_mean:.6g}",
            ]
        )
        if self._tensorboard is not None:
            self._tensorboard.add_scalar("episode/return", record.episode_return, record.step)
            self._tensorboard.add_scalar("episode/length", record.length, record.step)
            self._tensorboard.add_scalar("train/epsilon", record.epsilon, record.step)
            self._tensorboard.add_scalar("train/loss", record.loss, record.step)
            self._tensorboard.add_scalar("train/q_mean", record.q_mean, record.step)

    def on_evaluation(self, record: EvalRecord) -> None:
        self._eval.writerow([record.step, f"{record.mean_return:.6g}", f"{record.std_return:.6g}"])
        self._eval_file.flush()
        self._metrics_file.flush()
        if self._tensorboard is not None:
            self._tensorboard.add_scalar("eval/mean_return", record.mean_return, record.step)

    def on_target_update(self, step: int) -> None:
        self._target_file.write(f"{step}\n")

    def close(self) -> None:
        self._target_file.close()
        self._metrics_file.close()
        self._eval_file.close()
        if self._tensorboard is not None:
            self._tensorboard.close()
