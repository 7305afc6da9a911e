"""The diagnostics figure of one run: returns, loss, Q and epsilon over episodes.

    plot_diagnostics("runs/CartPole-v1-cartpole-0-...")   # -> .../diagnostics.png

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no global backend
state), so it is safe inside training processes and tests. How to read it: docs/diagnostics.md.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dqnlab.diagnostics.logger import EpisodeRecord, EvalRecord
from dqnlab.errors import DqnlabError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.text import Text

FIGURE_NAME = "diagnostics.png"
FIGURE_SIZE_IN = (11.0, 11.0)
FIGURE_DPI = 100  # 1100 x 1100 pixels
MAX_TARGET_MARKS = 2000  # more target-network updates than this are thinned for drawing
MAX_MOVING_AVERAGE = 100  # episodes; the usual window for "solved" criteria
COLLAPSE_LABEL_GAP_PX = 16  # collapses closer than this on screen share one label (8-point text is ~11 px)


@dataclass
class RunData:
    """What the figure shows, as arrays: one entry per episode, evaluation, update or collapse."""

    env_id: str = "?"
    preset: str = "?"
    seed: int | str = "?"
    target_return: float | None = None
    step: list[int] = field(default_factory=list)  # env steps at each episode's end
    episode: list[int] = field(default_factory=list)
    episode_return: list[float] = field(default_factory=list)
    epsilon: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    q_mean: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    eval_return: list[float] = field(default_factory=list)
    target_update_step: list[int] = field(default_factory=list)
    collapse_step: list[int] = field(default_factory=list)
    collapse_action: list[str] = field(default_factory=list)

    def add_episode(self, record: EpisodeRecord) -> None:
        self.step.append(record.step)
        self.episode.append(record.episode)
        self.episode_return.append(record.episode_return)
        self.epsilon.append(record.epsilon)
        self.loss.append(record.loss)
        self.q_mean.append(record.q_mean)

    def add_evaluation(self, record: EvalRecord) -> None:
        self.eval_step.append(record.step)
        self.eval_return.append(record.mean_return)


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def parse_float(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """The run's config.toml as a nested dict ({} when absent or unreadable)."""
    try:
        return tomllib.loads((run_dir / "config.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def run_target_return(run_dir: Path, config: dict[str, Any]) -> float | None:
    """The run's target return: from summary.json, else the config, else the env's threshold."""
    try:
        value = json.loads((run_dir / "summary.json").read_text()).get("target_return")
        if value is not None:
            return float(value)
    except (OSError, ValueError, AttributeError):
        pass
    configured = config.get("evaluation", {}).get("target_return", "none")
    if configured not in (None, "none"):
        return float(configured)
    try:
        from dqnlab.envs import reward_threshold

        threshold = reward_threshold(config.get("env_id", ""))
        return None if threshold is None else float(threshold)
    except Exception:  # an env that is not registered here still gets its figure
        return None


def read_run_data(run_dir: str | Path) -> RunData:
    """Reads a run directory's CSV files (metrics, eval, target updates, collapses)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DqnlabError(f"no such run directory: {run_dir}")
    if not (run_dir / "metrics.csv").is_file():
        raise DqnlabError(f"{run_dir} is not a run directory (no metrics.csv)")
    config = read_run_config(run_dir)
    data = RunData(
        env_id=str(config.get("env_id", "?")),
        preset=str(config.get("preset", "?")),
        seed=config.get("seed", "?"),
        target_return=run_target_return(run_dir, config),
    )
    for row in read_csv_rows(run_dir / "metrics.csv"):
        data.step.append(int(row["step"]))
        data.episode.append(int(row["episode"]))
        data.episode_return.append(parse_float(row["return"]))
        data.epsilon.append(parse_float(row["epsilon"]))
        data.loss.append(parse_float(row["loss"]))
        data.q_mean.append(parse_float(row["q_mean"]))
    for row in read_csv_rows(run_dir / "eval.csv"):
        data.eval_step.append(int(row["step"]))
        data.eval_return.append(parse_float(row["mean_return"]))
    data.target_update_step = [int(row["step"]) for row in read_csv_rows(run_dir / "target_updates.csv")]
    for row in read_csv_rows(run_dir / "collapses.csv"):
        data.collapse_step.append(int(row["step"]))
        data.collapse_action.append(row.get("action", ""))
    return data


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over the last `window` values (fewer at the start), same length as `values`."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values
    sums = np.cumsum(np.insert(values, 0, 0.0))
    ends = np.arange(1, values.size + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def _episode_of(steps: list[int], episode_steps: np.ndarray) -> np.ndarray:
    """Episodes finished by each of `steps`: places step-stamped events on the episode axis."""
    return np.searchsorted(episode_steps, np.asarray(steps), side="right").astype(float)


def group_collapses(
    episodes: Sequence[float] | np.ndarray, actions: Sequence[str], min_gap: float
) -> list[tuple[float, str]]:
    """One label per group of collapses, a group being those less than `min_gap` episodes after its first:
    (episode of the first, "collapse (rollback)" or "3 collapses (rollback, warn)")."""
    groups: list[tuple[float, list[str]]] = []
    for episode, action in sorted(zip(episodes, actions, strict=True)):
        if groups and episode - groups[-1][0] < min_gap:
            groups[-1][1].append(action)
        else:
            groups.append((float(episode), [action]))
    labels = []
    for episode, members in groups:
        kinds = ", ".join(dict.fromkeys(members))
        labels.append((episode, f"collapse ({kinds})" if len(members) == 1 else f"{len(members)} collapses ({kinds})"))
    return labels


def label_collapses(axis: Axes, episodes: Sequence[float] | np.ndarray, actions: Sequence[str]) -> list[Text]:
    """Writes the collapse labels inside `axis`, vertical, just below its top and beside their line; collapses
    too close for separate labels share one. Returns the labels."""
    if not len(episodes):
        return []
    low, high = axis.get_xlim()
    width_px = axis.get_window_extent().width
    min_gap = COLLAPSE_LABEL_GAP_PX * (high - low) / max(width_px, 1.0)
    texts: list[Text] = []
    for episode, text in group_collapses(episodes, actions, min_gap):
        left_of_line = episode - low > min_gap  # beside the line, on the side that has room
        texts.append(
            axis.annotate(
                text,
                (episode, 0.97),
                xycoords=("data", "axes fraction"),
                xytext=(-2 if left_of_line else 2, 0),
                textcoords="offset points",
                color="tab:red",
                fontsize=8,
                rotation=90,
                rotation_mode="anchor",
                ha="right",  # the text's end at the anchor: it runs down from just below the top
                va="bottom" if left_of_line else "top",
            )
        )
    return texts


def draw_diagnostics(data: RunData, path: str | Path) -> dict[str, np.ndarray]:
    """Draws the four-panel figure of `data` to `path` (PNG) and returns the arrays it plotted.

    Panels, sharing the episode axis: (1) episode returns as points, their trailing moving
    average, evaluation returns and the target return; (2) the mean TD loss of each episode's
    gradient steps, with faint vertical marks at target-network updates; (3) the mean Q(s, a)
    of the actions taken in those steps; (4) epsilon. Collapses are red vertical lines on (1).
    """
    from matplotlib.figure import Figure

    episodes = np.asarray(data.episode, dtype=float)
    steps = np.asarray(data.step)
    returns = np.asarray(data.episode_return, dtype=float)
    window = max(1, min(MAX_MOVING_AVERAGE, len(returns) // 10))
    plotted = {
        "episode": episodes,
        "return": returns,
        "moving_average": moving_average(returns, window),
        "loss": np.asarray(data.loss, dtype=float),
        "q_mean": np.asarray(data.q_mean, dtype=float),
        "epsilon": np.asarray(data.epsilon, dtype=float),
        "eval_episode": _episode_of(data.eval_step, steps),
        "eval_return": np.asarray(data.eval_return, dtype=float),
        "target_update_episode": np.unique(_episode_of(data.target_update_step, steps)),
        "collapse_episode": _episode_of(data.collapse_step, steps),
    }

    figure = Figure(figsize=FIGURE_SIZE_IN, dpi=FIGURE_DPI, layout="constrained")
    ax_return, ax_loss, ax_q, ax_eps = figure.subplots(4, 1, sharex=True)
    total_steps = max([0, *data.step[-1:], *data.eval_step[-1:]])
    figure.suptitle(
        f"{data.env_id} · preset {data.preset} · seed {data.seed}   "
        f"({len(episodes)} episodes, {total_steps:,} env steps)",
        fontsize=13,
    )

    ax_return.scatter(episodes, returns, s=6, alpha=0.35, color="tab:blue", label="episode return (training, ε-greedy)")
    ax_return.plot(
        episodes, plotted["moving_average"], color="tab:blue", lw=1.8, label=f"moving average ({window} episodes)"
    )
    if plotted["eval_return"].size:
        ax_return.plot(
            plotted["eval_episode"],
            plotted["eval_return"],
            "o-",
            color="tab:orange",
            ms=4,
            lw=1.2,
            label="evaluation return (greedy, mean)",
        )
    if data.target_return is not None:
        ax_return.axhline(
            data.target_return, color="tab:green", ls="--", lw=1.2, label=f"target return ({data.target_return:g})"
        )
    for x in plotted["collapse_episode"]:
        ax_return.axvline(x, color="tab:red", lw=1.5, alpha=0.8)
    label_collapses(ax_return, plotted["collapse_episode"], data.collapse_action)
    ax_return.set_ylabel("return (sum of rewards)")
    ax_return.legend(loc="upper left", fontsize=8)

    loss = plotted["loss"]
    ax_loss.plot(episodes, loss, color="tab:purple", lw=1.0, label="TD loss (mean over the episode's updates)")
    marks = plotted["target_update_episode"]
    if marks.size > MAX_TARGET_MARKS:
        marks = marks[:: math.ceil(marks.size / MAX_TARGET_MARKS)]
    if marks.size:
        ax_loss.vlines(
            marks,
            0,
            1,
            transform=ax_loss.get_xaxis_transform(),
            color="gray",
            alpha=0.25,
            lw=0.6,
            label="target-network update",
        )
    finite = loss[np.isfinite(loss)]
    if finite.size and np.all(finite > 0):
        ax_loss.set_yscale("log")
    ax_loss.set_ylabel("TD loss (log scale)" if ax_loss.get_yscale() == "log" else "TD loss")
    ax_loss.legend(loc="upper left", fontsize=8)

    ax_q.plot(episodes, plotted["q_mean"], color="tab:brown", lw=1.0)
    ax_q.set_ylabel("mean Q(s, a) of\nactions taken (return)")

    ax_eps.plot(episodes, plotted["epsilon"], color="tab:gray", lw=1.2)
    ax_eps.set_ylim(-0.02, 1.02)
    ax_eps.set_ylabel("ε (share of\nrandom actions)")
    ax_eps.set_xlabel("episode")

    for axis in (ax_return, ax_loss, ax_q, ax_eps):
        axis.grid(alpha=0.3)
    if not episodes.size:
        ax_return.text(0.5, 0.5, "no finished episodes yet", transform=ax_return.transAxes, ha="center")

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    figure.savefig(tmp, format="png")
    os.replace(tmp, path)  # a viewer refreshing the file never sees half an image
    return plotted


def plot_diagnostics(run_dir: str | Path, path: str | Path | None = None) -> Path:
    """Redraws `run_dir`/diagnostics.png (or `path`) from the run's CSV files; returns its path."""
    run_dir = Path(run_dir)
    data = read_run_data(run_dir)
    target = Path(path) if path is not None else run_dir / FIGURE_NAME
    draw_diagnostics(data, target)
    return target


class DrawBudget:
    """Paces the redraws of one process's figures so that drawing takes at most about `max_share`
    of its wall time: after a draw that took d seconds, the next waits d * (1 / max_share - 1).
    A population's members share one, so their figures together keep to the share one figure
    has; their due redraws take turns in the order they fell due, so none is starved (once the
    budget allows, a turn waits at most for the next episode of the plotter ahead of it)."""

    def __init__(self, max_share: float = 0.1, clock: Callable[[], float] = time.perf_counter) -> None:
        self.max_share = max_share
        self.clock = clock
        self.next_draw_at = 0.0  # clock() before which a redraw waits
        self.waiting: list[DiagnosticsPlotter] = []  # plotters with a redraw due, first due first

    def grants(self, plotter: DiagnosticsPlotter) -> bool:
        """Whether `plotter`'s due redraw may happen now; if not, it keeps its place in the queue."""
        if plotter not in self.waiting:
            self.waiting.append(plotter)
        return self.waiting[0] is plotter and self.clock() >= self.next_draw_at

    def spent(self, plotter: DiagnosticsPlotter, began: float, ended: float) -> None:
        """Books `plotter`'s draw from `began` to `ended` (clock values); its redraw is no longer due."""
        if plotter in self.waiting:
            self.waiting.remove(plotter)
        self.next_draw_at = ended + (ended - began) * (1.0 / self.max_share - 1.0)


class DiagnosticsPlotter:
    """Observer that redraws diagnostics.png once `plot_every` episodes have passed since its last
    draw (0: only at the end).

    A redraw takes about a second once there are thousands of episodes, so a due redraw waits for
    its `DrawBudget` (one for all of a population's members): drawing never takes more than about
    a tenth of the training's wall time. The final one always happens. Keeps what it plots in
    memory, so it never waits on the CSV writers' buffers; collapses are read from collapses.csv,
    which the loop writes as they happen.
    """

    def __init__(
        self,
        run_dir: Path,
        env_id: str,
        preset: str,
        seed: int,
        target_return: float | None,
        plot_every: int,
        budget: DrawBudget | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.plot_every = plot_every
        self.budget = budget or DrawBudget()
        self.data = RunData(env_id=env_id, preset=preset, seed=seed, target_return=target_return)
        self._drawn_at_episode = 0  # episodes plotted by the last draw

    def draw(self) -> Path:
        began = self.budget.clock()
        for row in read_csv_rows(self.run_dir / "collapses.csv")[len(self.data.collapse_step) :]:
            self.data.collapse_step.append(int(row["step"]))
            self.data.collapse_action.append(row.get("action", ""))
        path = self.run_dir / FIGURE_NAME
        draw_diagnostics(self.data, path)
        self._drawn_at_episode = len(self.data.episode)
        self.budget.spent(self, began, self.budget.clock())
        return path

    def on_episode(self, record: EpisodeRecord) -> None:
        self.data.add_episode(record)
        due = self.plot_every > 0 and len(self.data.episode) - self._drawn_at_episode >= self.plot_every
        if due and self.budget.grants(self):
            self.draw()

    def on_evaluation(self, record: EvalRecord) -> None:
        self.data.add_evaluation(record)

    def on_target_update(self, step: int) -> None:
        self.data.target_update_step.append(step)

    def close(self) -> None:
        self.draw()
