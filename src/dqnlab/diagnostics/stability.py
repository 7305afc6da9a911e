"""Did a run that reached its target stay there? Stability measures of one run's evaluation sequence, pure.

DQN can solve a task and then forget it (docs/forgetting.md); the best evaluation hides that, the
last one is one noisy sample. These measures read the whole sequence of evaluation returns:

- hold rate: the share of the evaluations after the first solve that are still at or above the target;
- last-10 mean: the mean of the last 10 evaluations, what the agent scores at the end of training;
- AUC: the area under the evaluation curve divided by its step span (the mean return over training).

The first solve (the env steps of the first evaluation at or above the target) is
`statistics.steps_to_threshold`; collapses are counted as they happen, by `collapse.CollapseDetector`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from dqnlab.diagnostics.statistics import normalized_auc

LAST_EVALUATIONS = 10  # evaluations averaged by the last-N mean


def hold_rate(returns_N: npt.ArrayLike, target: float | None) -> float | None:
    """The share of the evaluations after the first one at or above `target` that are at or above it too.

    None when there is nothing to hold or nothing to judge it by: no target, never solved, or solved only
    at the last evaluation. 1.0 means the agent never dropped below the target once it reached it.
    """
    returns_N = np.asarray(returns_N, dtype=float)
    if target is None:
        return None
    solved = np.flatnonzero(returns_N >= target)
    if solved.size == 0 or solved[0] == returns_N.size - 1:
        return None
    later_N = returns_N[solved[0] + 1 :]
    return float(np.mean(later_N >= target))


def last_mean(returns_N: npt.ArrayLike, count: int = LAST_EVALUATIONS) -> float | None:
    """The mean of the last `count` returns, or of all of them when there are fewer; None when there are none."""
    returns_N = np.asarray(returns_N, dtype=float)
    if returns_N.size == 0:
        return None
    return float(returns_N[-count:].mean())


def stability_summary(steps_N: npt.ArrayLike, returns_N: npt.ArrayLike, target: float | None) -> dict[str, Any]:
    """The stability measures of one run's evaluations (env steps, mean returns), as summary.json keys,
    to 6 significant digits as eval.csv writes returns (54.6061, not 54.60606060606061).

    `eval_auc` is over the run's own evaluations, from the first to the last; reports put every run on
    one common grid instead, so their AUC can differ slightly from this one.
    """
    steps_N = np.asarray(steps_N)
    returns_N = np.asarray(returns_N, dtype=float)
    measures = {
        "hold_rate": hold_rate(returns_N, target),
        "last_10_mean": last_mean(returns_N),
        "eval_auc": normalized_auc(steps_N, returns_N) if returns_N.size else None,
    }
    rounded = {key: None if value is None else float(f"{value:.6g}") for key, value in measures.items()}
    return {"evaluations": int(returns_N.size), **rounded}
