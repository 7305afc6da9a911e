"""The comparison statistics, against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from dqnlab.diagnostics import statistics


def test_iqm_is_the_mean_of_the_middle_half() -> None:
    assert statistics.iqm(np.array([4.0, 1.0, 3.0, 2.0])) == pytest.approx(2.5)  # mean of 2, 3
    assert statistics.iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    # n = 5: floor(1.25) = 1 cut from each end, as scipy's trim_mean(x, 0.25): mean of 2, 4, 10
    assert statistics.iqm(np.array([10.0, 1.0, 4.0, 2.0, 100.0])) == pytest.approx(16.0 / 3.0)
    # all runs of all tasks are pooled
    assert statistics.iqm(np.array([[1.0, 2.0], [3.0, 4.0]])) == pytest.approx(2.5)


def test_iqm_matches_rliable() -> None:
    metrics = pytest.importorskip("rliable.metrics")
    scores = np.random.default_rng(3).normal(size=(7, 3))
    assert statistics.iqm(scores) == pytest.approx(metrics.aggregate_iqm(scores))


def test_iqm_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        statistics.iqm(np.array([]))


def test_bootstrap_ci_of_identical_scores_is_the_point() -> None:
    low, high = statistics.stratified_bootstrap_ci(np.full(5, 7.0), statistics.mean, reps=200)
    assert (low, high) == (7.0, 7.0)


def test_bootstrap_ci_of_two_seeds_spans_their_range() -> None:
    # Resampled means of [0, 1] are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: both 2.5% tails sit in the ends.
    low, high = statistics.stratified_bootstrap_ci(np.array([0.0, 1.0]), statistics.mean, reps=4000)
    assert (low, high) == (0.0, 1.0)


def test_bootstrap_ci_of_the_mean_matches_the_normal_approximation() -> None:
    scores = np.arange(100.0)  # mean 49.5, standard error 28.87 / sqrt(100) = 2.887
    low, high = statistics.stratified_bootstrap_ci(scores, statistics.mean, reps=4000, seed=1)
    assert low == pytest.approx(49.5 - 1.96 * 2.887, abs=0.6)
    assert high == pytest.approx(49.5 + 1.96 * 2.887, abs=0.6)


def test_bootstrap_is_stratified_by_task() -> None:
    # Each task (column) holds one value over its runs: resampling within columns never changes the
    # pooled mean, while resampling the four scores together would.
    scores_RT = np.array([[0.0, 10.0], [0.0, 10.0]])
    assert statistics.stratified_bootstrap_ci(scores_RT, statistics.mean, reps=500) == (5.0, 5.0)


def test_bootstrap_is_reproducible_for_a_seed() -> None:
    scores = np.random.default_rng(0).normal(size=9)
    first = statistics.stratified_bootstrap_ci(scores, statistics.iqm, reps=300, seed=5)
    assert first == statistics.stratified_bootstrap_ci(scores, statistics.iqm, reps=300, seed=5)


def test_mean_band_of_identical_curves_is_the_curve() -> None:
    curves_RN = np.tile(np.array([1.0, 2.0, 4.0]), (3, 1))
    mean_N, low_N, high_N = statistics.bootstrap_mean_band(curves_RN, reps=100)
    np.testing.assert_allclose(mean_N, [1.0, 2.0, 4.0])
    np.testing.assert_allclose(low_N, mean_N)
    np.testing.assert_allclose(high_N, mean_N)


def test_mean_band_contains_the_mean() -> None:
    curves_RN = np.array([[0.0, 0.0], [2.0, 4.0], [4.0, 8.0]])
    mean_N, low_N, high_N = statistics.bootstrap_mean_band(curves_RN, reps=500)
    np.testing.assert_allclose(mean_N, [2.0, 4.0])
    assert np.all(low_N <= mean_N) and np.all(mean_N <= high_N)
    assert np.all(low_N >= 0.0) and np.all(high_N <= [4.0, 8.0])


def test_interpolate_curve_holds_the_ends() -> None:
    grid = np.array([0, 100, 200, 300, 400])
    values = statistics.interpolate_curve(np.array([100, 300]), np.array([0.0, 10.0]), grid)
    np.testing.assert_allclose(values, [0.0, 0.0, 5.0, 10.0, 10.0])


def test_normalized_auc_by_hand() -> None:
    # trapezoids: (0 + 2) / 2 * 1 + (2 + 2) / 2 * 2 = 5 over a span of 3
    assert statistics.normalized_auc(np.array([0.0, 1.0, 3.0]), np.array([0.0, 2.0, 2.0])) == pytest.approx(5.0 / 3.0)
    assert statistics.normalized_auc(np.array([5.0]), np.array([7.0])) == 7.0
    assert statistics.normalized_auc(np.array([0.0, 10.0]), np.array([3.0, 3.0])) == pytest.approx(3.0)


def test_steps_to_threshold_is_the_first_step_at_or_above() -> None:
    steps, values = np.array([10, 20, 30]), np.array([1.0, 5.0, 3.0])
    assert statistics.steps_to_threshold(steps, values, 4.0) == 20
    assert statistics.steps_to_threshold(steps, values, 5.0) == 20
    assert statistics.steps_to_threshold(steps, values, 1.0) == 10
    assert statistics.steps_to_threshold(steps, values, 6.0) is None


def test_summarize_gives_estimate_and_interval_for_mean_and_iqm() -> None:
    summary = statistics.summarize(np.array([1.0, 2.0, 3.0, 4.0]), reps=300)
    assert set(summary) == {"mean", "iqm"}
    assert summary["mean"][0] == pytest.approx(2.5)
    assert summary["iqm"][0] == pytest.approx(2.5)
    for estimate, low, high in summary.values():
        assert low <= estimate <= high


def test_trailing_episode_mean_takes_the_last_episodes_ended_by_the_step() -> None:
    end_steps = np.array([10, 25, 40, 70, 100])
    returns = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    assert statistics.trailing_episode_mean(end_steps, returns, at_step=70, window=2) == 6.0  # (4 + 8) / 2
    assert (
        statistics.trailing_episode_mean(end_steps, returns, at_step=69, window=2) == 3.0
    )  # the episode at 70 had not ended
    assert (
        statistics.trailing_episode_mean(end_steps, returns, at_step=1000, window=100) == 31.0 / 5
    )  # fewer than the window
    assert np.isnan(statistics.trailing_episode_mean(end_steps, returns, at_step=5))


def test_span_episode_mean_takes_the_episodes_ended_in_the_span_up_to_the_step() -> None:
    end_steps = np.array([10, 25, 40, 70, 100])
    returns = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    assert statistics.span_episode_mean(end_steps, returns, at_step=70, span=45) == 6.0  # (25, 70]: 40 and 70
    assert statistics.span_episode_mean(end_steps, returns, at_step=70, span=46) == 14.0 / 3  # (24, 70]: 25 too
    assert statistics.span_episode_mean(end_steps, returns, at_step=100, span=100) == 31.0 / 5  # (0, 100]: all
    assert np.isnan(statistics.span_episode_mean(end_steps, returns, at_step=60, span=15))  # nothing in (45, 60]
