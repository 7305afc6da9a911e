"""Distributed dqnlab on Ray: Ape-X actors, sharded prioritized replay and one learner
(docs/distributed.md); experiments whose runs are Ray tasks live in experiments/ray_tasks.py.

Ray is an optional extra, installed from the clone (dqnlab is not on PyPI); nothing here imports
it at module level, and `require_ray` turns its absence into one clear line.
"""

from __future__ import annotations

import logging
import os
from types import ModuleType

from dqnlab.errors import DqnlabError

RAY_INSTALL = "pip install -c constraints.txt -e '.[distributed]' in a clone of dqnlab"
RAY_MISSING = f"--actors needs Ray: {RAY_INSTALL}"


def require_ray(message: str = RAY_MISSING) -> ModuleType:
    """The `ray` module, or a DqnlabError with `message` (the CLI prints it in one line, exit 2)."""
    try:
        import ray
    except ImportError:
        raise DqnlabError(message) from None
    return ray


def init_ray(address: str | None, message: str = RAY_MISSING) -> ModuleType:
    """Connects to the Ray cluster at `address`, or without one (or "local") starts Ray on this
    machine with its cores and no dashboard. Does nothing when Ray is already initialized.

    Ray's own log lines (its token-authentication notice, "Started a local Ray instance") would
    break through the progress bar: only its errors reach the terminal, and workers' output not at all."""
    ray = require_ray(message)
    if ray.is_initialized():
        return ray
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address in (None, "local"):
        ray.init(include_dashboard=False, num_cpus=os.cpu_count() or 1, **quiet)
    else:
        ray.init(address=address, **quiet)
    return ray


def actor_epsilons(actors: int, epsilon: float, alpha: float) -> list[float]:
    """epsilon_i = epsilon^(1 + alpha * i / (N - 1)) for i = 0 .. N-1 (Horgan et al. 2018, §4.1);
    one actor gets epsilon itself."""
    if actors == 1:
        return [epsilon]
    return [epsilon ** (1 + alpha * i / (actors - 1)) for i in range(actors)]
