"""What a run shows on the terminal while it trains: a progress bar on a terminal, else a line
every few seconds (a log file, CI, `experiment`'s logs), as SB3 prints its table."""

from __future__ import annotations

import math
import sys
import time
from collections import deque
from typing import Literal

from dqnlab.diagnostics.logger import EpisodeRecord, EvalRecord

ProgressMode = Literal["bar", "log", "off"]
RECENT_EPISODES = 10  # episodes in the "recent return" of the bar and the log lines


def default_progress() -> ProgressMode:
    """A bar when stderr is a terminal, else periodic log lines."""
    return "bar" if sys.stderr.isatty() else "log"


class Progress:
    """Follows a run's episodes, evaluations and steps; `say` prints a line without breaking the display.
    This base class shows nothing ("off")."""

    def __init__(self, env_id: str, total_steps: int, start_step: int) -> None:
        self.env_id = env_id
        self.total_steps = total_steps
        self.start_step = start_step
        self.step = start_step
        self.episodes = 0
        self.recent_returns: deque[float] = deque(maxlen=RECENT_EPISODES)
        self.epsilon = math.nan
        self.loss = math.nan
        self.last_eval = math.nan
        self.best_eval = -math.inf
        self.started = time.perf_counter()
        self.rate_from: tuple[int, float] | None = None  # (step, time) of the first advance: a resume's steps/s

    def on_episode(self, record: EpisodeRecord) -> None:
        self.episodes = record.episode
        self.recent_returns.append(record.episode_return)
        self.epsilon = record.epsilon
        if math.isfinite(record.loss):
            self.loss = record.loss

    def on_evaluation(self, record: EvalRecord) -> None:
        self.last_eval = record.mean_return
        self.best_eval = max(self.best_eval, record.mean_return)

    def on_target_update(self, step: int) -> None:
        pass

    def advance(self, step: int) -> None:
        """The run has reached env step `step`."""
        self.step = step
        if self.rate_from is None:
            self.rate_from = (step, time.perf_counter())

    def rate(self) -> float:
        """Env steps per second since the first `advance`: this process's, not the run's since step 0."""
        first_step, first_time = self.rate_from or (self.step, self.started)
        elapsed = time.perf_counter() - first_time
        return (self.step - first_step) / elapsed if elapsed > 0 else 0.0

    def say(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        pass

    def recent_return(self) -> float:
        return sum(self.recent_returns) / len(self.recent_returns) if self.recent_returns else math.nan


class ProgressBar(Progress):
    """A tqdm bar with the recent return, epsilon and the best evaluation, fitting 80 columns."""

    def __init__(self, env_id: str, total_steps: int, start_step: int) -> None:
        from tqdm import tqdm

        super().__init__(env_id, total_steps, start_step)
        self.bar = tqdm(
            total=total_steps,
            unit="step",
            dynamic_ncols=True,
            desc=env_id,
            bar_format="{desc} {percentage:3.0f}%|{bar:10}| {n_fmt}/{total_fmt} {rate_fmt}{postfix}",
        )

    def _refresh(self) -> None:
        text = f"ret {_shown(self.recent_return())} eps {self.epsilon:.2f} best {_shown(self.best_eval)}"
        self.bar.set_postfix_str(text, refresh=False)

    def on_episode(self, record: EpisodeRecord) -> None:
        super().on_episode(record)
        self._refresh()

    def on_evaluation(self, record: EvalRecord) -> None:
        super().on_evaluation(record)
        self._refresh()

    def advance(self, step: int) -> None:
        self.bar.update(step - self.step)
        super().advance(step)

    def say(self, message: str) -> None:
        self.bar.write(message, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


class ProgressLog(Progress):
    """One line every `every_s` seconds and one at the end: step, episodes, recent return, last
    evaluation, epsilon, loss and env steps per second."""

    def __init__(self, env_id: str, total_steps: int, start_step: int, every_s: float = 10.0) -> None:
        super().__init__(env_id, total_steps, start_step)
        self.every_s = every_s
        self.last_line = self.started

    def advance(self, step: int) -> None:
        super().advance(step)
        if time.perf_counter() - self.last_line >= self.every_s:
            self._line()

    def _line(self) -> None:
        rate = self.rate()
        self.last_line = time.perf_counter()
        self.say(
            f"{self.env_id} step {self.step:,}/{self.start_step + self.total_steps:,} | episodes {self.episodes:,} | "
            f"return {_shown(self.recent_return())} | eval {_shown(self.last_eval)} | eps {self.epsilon:.3f} | "
            f"loss {self.loss:.4g} | {rate:,.0f} steps/s"
        )

    def close(self) -> None:
        if self.step > self.start_step:
            self._line()


def _shown(value: float) -> str:
    """A value to one decimal, or "-" before there is one."""
    return f"{value:.1f}" if math.isfinite(value) else "-"


def make_progress(mode: ProgressMode, env_id: str, total_steps: int, start_step: int) -> Progress:
    if mode == "bar":
        return ProgressBar(env_id, total_steps, start_step)
    if mode == "log":
        return ProgressLog(env_id, total_steps, start_step)
    return Progress(env_id, total_steps, start_step)
