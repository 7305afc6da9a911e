"""The MinAtar results table and learning curves (docs/minatar.md) from run directories.

    python scripts/minatar_results.py --frames 5000000 --figure docs/figures/minatar-si-dqn.png \
        --variant minatar-dqn=runs/si-dqn-0,runs/si-dqn-1 --published minatar-dqn=43 \
        --variant no-replay=runs/si-noreplay-0 --published no-replay=space_invaders/dqn-no-replay

Per variant, at `--frames` or at the fewest frames any of its seeds has reached, whichever is
smaller: the mean return of the last 100 training episodes (metrics.csv, the papers' score), and
dqnlab's greedy evaluation (the last one of eval.csv by then; "-" for runs without one), each as
the mean over seeds with a 95% bootstrap interval, and the published score. That is a number (the
paper's final figure) or GAME/AGENT, a curve of `--published-curves` (Young & Tian's, digitized by
scripts/digitize_minatar_curves.py), read at the same frames. The figure shows the training return
(mean of the last 100 episodes) over frames, the mean over seeds with its bootstrap band, and the
published score dotted. Works on unfinished runs: it reads what the runs have written so far.
`--iteration N` adds the mean return of the training episodes that ended in the last N frames:
Dopamine's per-iteration score, which Revisiting Rainbow's figures plot (N = 1,000,000).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dqnlab.diagnostics.figure import parse_float, read_csv_rows
from dqnlab.diagnostics.statistics import (
    bootstrap_mean_band,
    mean,
    span_episode_mean,
    stratified_bootstrap_ci,
    trailing_episode_mean,
)

WINDOW = 100  # Young & Tian's score: the last 100 training episodes
GRID_POINTS = 200
PUBLISHED_CURVES = Path(__file__).resolve().parents[1] / "docs/results/minatar/published/young-tian-2019.csv"


def _columns(path: Path, *names: str) -> list[np.ndarray]:
    rows = read_csv_rows(path)
    return [np.array([parse_float(row[name]) for row in rows]) for name in names]


def _mean_ci(values: list[float]) -> str:
    scores = np.array([value for value in values if np.isfinite(value)])
    if scores.size == 0:
        return "-"
    low, high = stratified_bootstrap_ci(scores, mean)
    return f"{scores.mean():.1f} [{low:.1f}, {high:.1f}]"


def _published_curve(spec: str, curves_csv: Path) -> tuple[np.ndarray, np.ndarray]:
    """(frames, scores) of a published result: a number holds at every frame; GAME/AGENT is a curve."""
    try:
        return np.array([0.0]), np.array([float(spec)])  # np.interp holds a single point everywhere
    except ValueError:
        pass
    if not curves_csv.is_file():
        raise SystemExit(f"error: '{spec}' is not a number, and there is no curves file {curves_csv}")
    game, _, agent = spec.partition("/")
    rows = [row for row in read_csv_rows(curves_csv) if row["game"] == game and row["agent"] == agent]
    if not rows:
        raise SystemExit(f"error: no curve '{spec}' in {curves_csv} (give GAME/AGENT or a number)")
    return np.array([float(row["frames"]) for row in rows]), np.array([float(row["score"]) for row in rows])


def _rolling_curve(end_steps: np.ndarray, returns: np.ndarray, grid: np.ndarray) -> np.ndarray:
    return np.array([trailing_episode_mean(end_steps, returns, int(step), WINDOW) for step in grid])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", required=True, help="NAME=RUN_DIR[,RUN_DIR...]")
    parser.add_argument("--published", action="append", default=[], help="NAME=SCORE or NAME=GAME/AGENT")
    parser.add_argument("--published-curves", type=Path, default=PUBLISHED_CURVES, help="game,agent,frames,score CSV")
    parser.add_argument("--frames", type=int, required=True, help="the frame count to compare at")
    parser.add_argument("--figure", type=Path, help="where to write the curves (png)")
    parser.add_argument("--iteration", type=int, help="also score the episodes of the last N frames (Dopamine's)")
    args = parser.parse_args()
    published = {}
    for item in args.published:
        name, spec = item.split("=", 1)
        published[name] = _published_curve(spec, args.published_curves)
    iteration = [f"episodes of the last {args.iteration:,} frames"] if args.iteration else []
    columns = ["variant", "seeds", "frames", "last-100 training episodes: mean [95% CI]", *iteration]
    columns += ["greedy eval", "published then"]
    print("| " + " | ".join(columns) + " |\n|---|---:|---:|---|" + "---|" * len(iteration) + "---|---:|")
    curves = {}
    for item in args.variant:
        name, dirs = item.split("=", 1)
        runs = [Path(directory) for directory in dirs.split(",")]
        episodes = [_columns(run / "metrics.csv", "step", "return") for run in runs]
        reached = min(int(steps[-1]) for steps, _ in episodes)
        frames = min(args.frames, reached)
        training = [trailing_episode_mean(steps, returns, frames, WINDOW) for steps, returns in episodes]
        evaluations = []
        for run in runs:
            if not (run / "eval.csv").is_file():  # a run of MinAtar's own dqn.py has no greedy evaluation
                evaluations.append(np.nan)
                continue
            eval_steps, eval_returns = _columns(run / "eval.csv", "step", "mean_return")
            by_then = eval_returns[eval_steps <= frames]
            evaluations.append(float(by_then[-1]) if by_then.size else np.nan)
        paper = f"{np.interp(frames, *published[name]):.1f}" if name in published else ""
        row = [name, str(len(runs)), f"{frames:,}", _mean_ci(training)]
        if args.iteration:
            row.append(
                _mean_ci([span_episode_mean(steps, returns, frames, args.iteration) for steps, returns in episodes])
            )
        row += [_mean_ci(evaluations), paper]
        print("| " + " | ".join(row) + " |")
        grid = np.linspace(0, frames, GRID_POINTS)[1:]
        curves[name] = (grid, np.array([_rolling_curve(steps, returns, grid) for steps, returns in episodes]))
    if args.figure is not None:
        _plot(curves, published, args.figure)


def _plot(
    curves: dict[str, tuple[np.ndarray, np.ndarray]], published: dict[str, tuple[np.ndarray, np.ndarray]], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.2))
    for name, (grid, curves_RN) in curves.items():
        mean, low, high = bootstrap_mean_band(np.nan_to_num(curves_RN))
        seeds = curves_RN.shape[0]
        (line,) = axis.plot(grid / 1e6, mean, label=f"{name} ({seeds} seed{'s' if seeds > 1 else ''})")
        axis.fill_between(grid / 1e6, low, high, color=line.get_color(), alpha=0.2)
        if name in published:
            paper_frames, paper_scores = published[name]
            paper = np.where(grid >= paper_frames[0], np.interp(grid, paper_frames, paper_scores), np.nan)
            axis.plot(grid / 1e6, paper, color=line.get_color(), linestyle=":", linewidth=1.2)
    axis.set_xlabel("frames (millions)")
    axis.set_ylabel(f"return, mean of the last {WINDOW} training episodes")
    axis.set_title("mean over seeds with a 95% bootstrap band; dotted: the published score or curve", fontsize=10)
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
