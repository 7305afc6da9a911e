"""Statistics for comparing runs over seeds, as pure numpy functions.

The aggregate scores and their intervals follow Agarwal et al. 2021, "Deep Reinforcement
Learning at the Edge of the Statistical Precipice" (the `rliable` library): the interquartile
mean (IQM) as a robust, efficient point estimate, and 95% percentile intervals from the
*stratified* bootstrap, which resamples runs with replacement within each task. `rliable`'s own
bootstrap module does not import in this environment (its `arch` dependency breaks), so the same
method is written here; the IQM matches `rliable.metrics.aggregate_iqm` (scipy's `trim_mean` at 25%).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

DEFAULT_REPS = 2000  # bootstrap resamples; percentile ends of a 95% interval settle to ~1% by then
CONFIDENCE = 0.95
# Below this many seeds, a 95% percentile-bootstrap interval is about the seeds' min and max (with 2 seeds,
# resamples are 25% both-low and 25% both-high): too narrow to call a difference (Agarwal et al. 2021, §4).
MIN_SEEDS_FOR_INTERVALS = 5


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all `scores` (any shape, flattened): the mean of the middle half.

    Cuts `floor(0.25 * n)` scores from each end after sorting, as `scipy.stats.trim_mean(x, 0.25)`
    and rliable do; with n = 5 that is the mean of the middle three.
    """
    flat = np.sort(np.asarray(scores, dtype=float).ravel())
    if flat.size == 0:
        raise ValueError("iqm of no scores")
    cut = int(0.25 * flat.size)
    return float(flat[cut : flat.size - cut].mean())


def mean(scores: np.ndarray) -> float:
    """Plain mean of all `scores`, flattened."""
    return float(np.asarray(scores, dtype=float).mean())


AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {"mean": mean, "iqm": iqm}


def stratified_bootstrap_ci(
    scores_RT: np.ndarray,
    aggregate: Callable[[np.ndarray], float],
    reps: int = DEFAULT_REPS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile confidence interval of `aggregate(scores_RT)` from the stratified bootstrap.

    `scores_RT` holds R runs (seeds) of T tasks; a 1-D array is one task. Each resample draws R
    runs with replacement *within each task column* (the strata), so every task keeps its weight.
    Returns the (1-confidence)/2 and (1+confidence)/2 percentiles of the resampled aggregate.
    With one run there is nothing to resample: the interval is the point itself.
    """
    scores_RT = np.asarray(scores_RT, dtype=float)
    if scores_RT.ndim == 1:
        scores_RT = scores_RT[:, None]
    runs, tasks = scores_RT.shape
    if runs == 0:
        raise ValueError("bootstrap of no runs")
    rng = np.random.default_rng(seed)
    indices_KRT = rng.integers(0, runs, size=(reps, runs, tasks))
    resampled_KRT = np.take_along_axis(scores_RT[None].repeat(reps, axis=0), indices_KRT, axis=1)
    estimates_K = np.array([aggregate(sample) for sample in resampled_KRT])
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(estimates_K, [alpha, 1.0 - alpha])
    return float(low), float(high)


def bootstrap_mean_band(
    curves_RN: np.ndarray, reps: int = DEFAULT_REPS, confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean learning curve over R seeds at each of N grid points, with a percentile bootstrap band.

    Seeds are resampled whole (one index set per resample for all grid points), so the band is
    that of the mean curve. Returns (mean_N, low_N, high_N).
    """
    curves_RN = np.asarray(curves_RN, dtype=float)
    runs = curves_RN.shape[0]
    rng = np.random.default_rng(seed)
    indices_KR = rng.integers(0, runs, size=(reps, runs))
    means_KN = curves_RN[indices_KR].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low_N, high_N = np.quantile(means_KN, [alpha, 1.0 - alpha], axis=0)
    return curves_RN.mean(axis=0), low_N, high_N


def interpolate_curve(steps: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Piecewise-linear values of a learning curve on `grid` (env steps).

    Outside the run's recorded steps the nearest value is held: a run that stopped early keeps its
    last evaluation, which is what its final agent would score.
    """
    steps = np.asarray(steps, dtype=float)
    values = np.asarray(values, dtype=float)
    if steps.size == 0:
        raise ValueError("a learning curve needs at least one point")
    order = np.argsort(steps, kind="stable")
    return np.interp(np.asarray(grid, dtype=float), steps[order], values[order])


def trailing_episode_mean(end_steps: np.ndarray, returns: np.ndarray, at_step: int, window: int = 100) -> float:
    """Mean return of the last `window` training episodes that ended by env step `at_step`: the
    score Young & Tian (2019) report for MinAtar (last 100 episodes). NaN when none had ended."""
    ended = np.asarray(returns, dtype=float)[np.asarray(end_steps) <= at_step]
    return float(ended[-window:].mean()) if ended.size else math.nan


def span_episode_mean(end_steps: np.ndarray, returns: np.ndarray, at_step: int, span: int) -> float:
    """Mean return of the training episodes that ended in the `span` env steps up to `at_step`: the score
    Dopamine logs per iteration, and so Revisiting Rainbow's figures plot. NaN when none ended then."""
    end_steps = np.asarray(end_steps)
    ended = np.asarray(returns, dtype=float)[(end_steps > at_step - span) & (end_steps <= at_step)]
    return float(ended.mean()) if ended.size else math.nan


def normalized_auc(grid: np.ndarray, values: np.ndarray) -> float:
    """Area under a curve by the trapezoid rule, divided by the span of `grid`.

    The result is in the units of `values` (here: return), the curve's average height over the
    steps covered, so runs of different lengths stay comparable. One grid point gives its value.
    """
    grid = np.asarray(grid, dtype=float)
    values = np.asarray(values, dtype=float)
    if grid.size == 1:
        return float(values[0])
    span = grid[-1] - grid[0]
    if span <= 0:
        raise ValueError("grid must increase")
    area = float(np.sum((values[1:] + values[:-1]) * np.diff(grid)) / 2.0)
    return area / span


def steps_to_threshold(steps: np.ndarray, values: np.ndarray, threshold: float) -> int | None:
    """The first env step at which `values` reach `threshold`; None if they never do."""
    steps = np.asarray(steps)
    reached = np.flatnonzero(np.asarray(values, dtype=float) >= threshold)
    return int(steps[reached[0]]) if reached.size else None


def summarize(scores_RT: np.ndarray, reps: int = DEFAULT_REPS, seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """Mean and IQM of `scores_RT`, each as (estimate, ci_low, ci_high) with stratified-bootstrap CIs."""
    return {
        name: (
            aggregate(np.asarray(scores_RT, dtype=float)),
            *stratified_bootstrap_ci(scores_RT, aggregate, reps=reps, seed=seed),
        )
        for name, aggregate in AGGREGATES.items()
    }
