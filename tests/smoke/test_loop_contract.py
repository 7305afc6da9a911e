"""What a training run promises in the files it writes, for short CartPole runs: target updates every
`learning.target_update_interval` gradient steps, the epsilon schedule, parallel envs counted in env
steps (and `train_freq` with them), and early stopping at the first evaluation reaching the target or
when `evaluation.patience` runs out."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest

from conftest import config_from
from dqnlab import Agent


def _run(run_dir: Path, batch_sizes: list[int] | None = None, **values: Any) -> dict[str, Any]:
    """A short run writing to `run_dir`; with `batch_sizes`, the size of every batch learned from is appended."""
    base: dict[str, Any] = {
        "env_id": "CartPole-v1",
        "seed": 1,
        "steps": 400,
        "device": "cpu",
        "tensorboard": False,
        "network": {"hidden_sizes": [16]},
        "learning": {"learning_starts": 100, "batch_size": 16},
        "evaluation": {"every": 0, "episodes": 1, "stop_at_target": False},
        "diagnostics": {"plot_every": 0},
        "checkpoint": {"every": 0},
    }
    agent = Agent(config_from(base, values))
    if batch_sizes is not None:
        update = agent.learner.update

        def recorded_update(batch):  # type: ignore[no-untyped-def]
            batch_sizes.append(len(batch.actions))
            return update(batch)

        agent.learner.update = recorded_update  # type: ignore[method-assign]
    agent.learn(run_dir=run_dir)
    return json.loads((run_dir / "summary.json").read_text())


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_target_updates_csv_lists_every_interval_of_gradient_steps(tmp_path):
    """Updates from env step 100, one per env step: gradient step k is taken at env step 99 + k,
    so with an interval of 50 the target changes at env steps 149, 199, ..., 399."""
    batch_sizes: list[int] = []
    summary = _run(tmp_path, batch_sizes, learning={"target_update_interval": 50, "batch_size": 24})
    assert summary["gradient_steps"] == 301
    assert len(batch_sizes) == 301 and set(batch_sizes) == {24}  # learning.batch_size reaches the sampling
    steps = [int(row["step"]) for row in _rows(tmp_path / "target_updates.csv")]
    assert steps == [149, 199, 249, 299, 349, 399]


@pytest.mark.parametrize("schedule, decay_start", [("linear", 0), ("linear", 60), ("exponential", 0), ("constant", 0)])
def test_metrics_epsilon_follows_the_exploration_keys(tmp_path, schedule, decay_start):
    """Each episode's row holds the epsilon of its last step, taken before that step: the linear
    schedule at env step S - 1 (one env), held at its start for `decay_start` steps, the exponential
    one after the episodes finished before it."""
    exploration = {"schedule": schedule, "start": 0.8, "end": 0.1, "decay_steps": 200, "decay_rate": 0.3}
    _run(tmp_path, exploration={**exploration, "decay_start": decay_start}, learning={"learning_starts": 10**6})
    rows = _rows(tmp_path / "metrics.csv")
    assert len(rows) >= 5
    for row in rows:
        step, episode = int(row["step"]), int(row["episode"])
        expected = {
            "linear": 0.8 + min(max(step - 1 - decay_start, 0) / 200, 1.0) * (0.1 - 0.8),
            "exponential": 0.1 + 0.7 * math.exp(-0.3 * (episode - 1)),
            "constant": 0.8,
        }[schedule]
        assert float(row["epsilon"]) == pytest.approx(expected, rel=1e-5), row
    if decay_start:  # the episodes that end inside the hold are played at the start's epsilon
        assert any(int(row["step"]) <= decay_start and float(row["epsilon"]) == pytest.approx(0.8) for row in rows)


def test_parallel_envs_count_every_env_step_and_train_freq_counts_env_steps(tmp_path):
    """4 envs: env steps advance by 4 per vector step. train_freq 2 (env steps) and 2 gradient steps
    per update: from env step 100 to 400, 76 vector steps of 2 updates of 2 gradient steps each."""
    summary = _run(tmp_path, num_envs=4, learning={"train_freq": 2, "gradient_steps": 2})
    assert summary["steps"] == 400
    assert summary["gradient_steps"] == 76 * 2 * 2
    rows = _rows(tmp_path / "metrics.csv")
    assert len(rows) >= 8 and all(int(row["step"]) % 4 == 0 for row in rows)
    # the episodes' lengths (env steps of one env) add up to no more than all envs' steps together
    lengths = sum(int(row["length"]) for row in rows)
    assert 400 - 4 * 500 < lengths <= 400
    assert [int(row["episode"]) for row in rows] == list(range(1, len(rows) + 1))


EVALUATED = {"steps": 1500, "evaluation": {"every": 100, "episodes": 2}, "exploration": {"decay_steps": 500}}


@pytest.fixture(scope="module")
def reference_evaluations(tmp_path_factory) -> list[tuple[int, float]]:
    """(step, mean return) of every evaluation of a run that never stops early."""
    run = tmp_path_factory.mktemp("reference")
    _run(run, **EVALUATED)
    return [(int(row["step"]), float(row["mean_return"])) for row in _rows(run / "eval.csv")]


def test_stop_at_target_stops_at_the_first_evaluation_reaching_it(tmp_path, reference_evaluations):
    # a target first reached by a later evaluation, not the first: that evaluation is where the run must stop
    returns = [r for _, r in reference_evaluations]
    later = [i for i in range(1, len(returns)) if returns[i] > max(returns[:i])]
    assert later, f"the reference run never improved on its first evaluation: {returns}"
    solving = later[0]
    target = returns[solving]
    summary = _run(tmp_path, **{**EVALUATED, "evaluation": {**EVALUATED["evaluation"], "target_return": target,
                                                              "stop_at_target": True}})  # fmt: skip
    solving_step = reference_evaluations[solving][0]
    assert summary["steps"] == solving_step and summary["solved_at_step"] == solving_step, summary
    evaluations = _rows(tmp_path / "eval.csv")
    assert [int(row["step"]) for row in evaluations] == [s for s, _ in reference_evaluations[: solving + 1]]


def test_patience_stops_after_that_many_evaluations_without_improvement(tmp_path, reference_evaluations):
    patience = 2
    best, without, stop_index = -math.inf, 0, None
    for index, (_, mean_return) in enumerate(reference_evaluations):
        if mean_return > best:
            best, without = mean_return, 0
        else:
            without += 1
        if without >= patience:
            stop_index = index
            break
    assert stop_index is not None and stop_index < len(reference_evaluations) - 1, reference_evaluations
    summary = _run(tmp_path, **{**EVALUATED, "evaluation": {**EVALUATED["evaluation"], "patience": patience}})
    assert summary["steps"] == reference_evaluations[stop_index][0], (summary, reference_evaluations)
    assert len(_rows(tmp_path / "eval.csv")) == stop_index + 1
