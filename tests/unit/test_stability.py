"""Stability measures of an evaluation sequence against hand-made sequences: hold rate, last-10 mean, AUC."""

import pytest

from dqnlab.diagnostics.stability import hold_rate, last_mean, stability_summary

TARGET = 475.0


def test_hold_rate_counts_the_evaluations_after_the_first_solve():
    # solved at the second evaluation; of the four after it, 500, 475 and 490 hold and 300 does not
    assert hold_rate([100, 480, 500, 300, 475, 490], TARGET) == 0.75


def test_hold_rate_counts_a_return_exactly_at_the_target_as_held():
    assert hold_rate([475, 474.9, 475], TARGET) == 0.5


def test_hold_rate_of_a_run_that_never_fell_back_is_one():
    assert hold_rate([20, 500, 500, 500], TARGET) == 1.0


def test_hold_rate_of_a_run_that_never_came_back_is_zero():
    assert hold_rate([500, 9, 9], TARGET) == 0.0


@pytest.mark.parametrize(
    "returns, target",
    [
        ([10, 200, 474], TARGET),  # never solved
        ([10, 200, 500], TARGET),  # solved at the last evaluation: nothing after it to hold
        ([], TARGET),  # no evaluations
        ([10, 500, 500], None),  # no target
    ],
    ids=["never-solved", "solved-at-the-last", "empty", "no-target"],
)
def test_hold_rate_is_none_when_there_is_nothing_to_judge(returns, target):
    assert hold_rate(returns, target) is None


def test_hold_rate_with_negative_returns():
    """Acrobot's target is -100: -90 and -80 are above it, -120 below."""
    assert hold_rate([-500, -90, -120, -80], -100.0) == 0.5


def test_last_mean_takes_the_last_ten_or_all_when_fewer():
    assert last_mean(list(range(1, 13))) == 7.5  # mean of 3..12
    assert last_mean([1, 2, 3]) == 2.0
    assert last_mean([4.0]) == 4.0
    assert last_mean([]) is None


def test_stability_summary_by_hand():
    # AUC: trapezoids (0 + 500) / 2 * 2000 + (500 + 250) / 2 * 2000 = 1,250,000 over 4,000 steps = 312.5
    summary = stability_summary([0, 2000, 4000], [0.0, 500.0, 250.0], TARGET)
    assert summary == {"evaluations": 3, "hold_rate": 0.0, "last_10_mean": 250.0, "eval_auc": 312.5}


def test_stability_summary_rounds_to_six_significant_digits():
    # AUC: (10 + 20) / 2 * 1 + (20 + 20) / 2 * 2 = 55 over 3 steps = 18.333...; last-10 mean 50 / 3 = 16.666...
    summary = stability_summary([0, 1, 3], [10.0, 20.0, 20.0], None)
    assert summary["eval_auc"] == 18.3333 and summary["last_10_mean"] == 16.6667


def test_stability_summary_of_a_run_without_evaluations():
    assert stability_summary([], [], TARGET) == {
        "evaluations": 0,
        "hold_rate": None,
        "last_10_mean": None,
        "eval_auc": None,
    }
