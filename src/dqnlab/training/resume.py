"""Resuming a stopped run: finds its newest verified snapshot and continues training from it.

    dqnlab train --resume RUN_DIR

What is saved and how it is put back is checkpointing.py's job; this module sits above the
agent and the loop, which it builds from the snapshot's config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dqnlab.agent import Agent
from dqnlab.config import config_from_dict
from dqnlab.errors import CheckpointError, ConfigError
from dqnlab.training.checkpointing import STATE_VERSION
from dqnlab.training.loop import TrainingLoop
from dqnlab.training.progress import ProgressMode
from dqnlab.training.snapshot import latest_snapshot, list_snapshots, read_snapshot


def load_resume_state(run_dir: str | Path, extending: bool = False) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """The newest verified checkpoint of a run directory, with clear errors for anything else. A finished
    run (it has summary.json) is refused unless `extending` it, which needs its kept final state."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"no such run directory: {run_dir}")
    finished = (run_dir / "summary.json").is_file()
    if finished and not extending:
        raise CheckpointError(
            f"{run_dir} has finished (it has summary.json); to train it further: dqnlab train --resume {run_dir} "
            "--steps N"
        )
    directory = run_dir / "checkpoints"
    if not list_snapshots(directory):
        if finished:
            raise CheckpointError(
                f"{run_dir} finished without keeping its training state; only runs trained with "
                "checkpoint.keep_final = true can be extended"
            )
        raise CheckpointError(f"{run_dir} is not a resumable dqnlab run: no checkpoints/state-* folder in it")
    _, folder = latest_snapshot(directory)
    tree, tensors = read_snapshot(folder)
    if not isinstance(tree, dict) or tree.get("version") != STATE_VERSION:
        raise CheckpointError(f"{folder} is not a dqnlab training state this version can resume")
    return tree, tensors, folder


def resume_training(
    run_dir: str | Path,
    progress: bool | ProgressMode = False,
    ray_address: str | None = None,
    total_steps: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Continues the run in `run_dir` from its newest verified checkpoint; returns the run summary.

    `total_steps` sets the run's end to that many env steps in all: it extends a stopped or finished run
    (one trained with `checkpoint.keep_final`). `device` moves the networks (the arithmetic, and so the
    results, may then differ from an uninterrupted run). A distributed run (distributed.actors > 0) goes
    on with new actors on Ray, at `ray_address` or on this machine."""
    tree, tensors, folder = load_resume_state(run_dir, extending=total_steps is not None)
    try:
        config = config_from_dict(tree["config"])
    except (ConfigError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{folder}: its config is invalid: {exc}") from None
    try:
        start_step, reached = int(tree["loop"]["start_step"]), int(tree["counters"]["env_steps"])
        steps = int(tree["loop"]["steps"])
        tree["logs"].items()  # noqa: B018 - what the loop reads before restoring
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{folder}: the training state is malformed ({type(exc).__name__}: {exc})") from None
    if total_steps is not None:
        if total_steps <= reached:
            raise CheckpointError(f"--steps {total_steps} is not past the run's {reached} env steps")
        steps = tree["loop"]["steps"] = total_steps - start_step
        (Path(run_dir) / "summary.json").unlink(missing_ok=True)  # the run is under way again
    if device is not None:
        config = config.replace(device=device)
    agent = Agent(config)
    return TrainingLoop(agent, steps, run_dir, progress, resume=(tree, tensors), ray_address=ray_address).run()
