"""When and what to snapshot: the full training state, every `checkpoint.every` env steps and on
SIGINT/SIGTERM, so that `dqnlab train --resume RUN_DIR` continues as if the run had not stopped.

What a snapshot holds (snapshot.py writes it, crash-safe and checksummed):
  the config; the agent's counters (env steps, episodes) and the learner's (gradient steps, target
  updates); the loop's `TrainingState` (evaluation, early-stop and collapse state, best weights);
  networks, target network and optimizer; every RNG (Python's `random`, the agent's numpy generators,
  torch CPU and CUDA); the collector's own state (collectors.py: replay memory, envs and their
  current observations; Ape-X: every replay shard); and the byte length of every log file, which a
  resume cuts them back to, with TensorBoard's events after the snapshot purged.

On CPU, resuming gives bit-identical metrics.csv and final weights (tests/learning/test_resume.py).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from dqnlab.errors import CheckpointError, NonFiniteError, TrainingInterrupted
from dqnlab.training.snapshot import clean_leftovers, list_snapshots, remove_snapshot, write_snapshot
from dqnlab.training.state import TrainingState

if TYPE_CHECKING:
    from dqnlab.learner import DQNLearner
    from dqnlab.training.lane import Lane

STATE_VERSION = 2
LOG_FILES = ("metrics.csv", "eval.csv", "target_updates.csv", "collapses.csv")


def resume_command(run_dir: Path) -> str:
    return f"dqnlab train --resume {run_dir}"


def parameters_finite(module: torch.nn.Module) -> bool:
    """Whether every parameter and buffer of `module` is finite (one reduction per tensor)."""
    return all(bool(torch.isfinite(t).all()) for t in module.state_dict().values() if t.is_floating_point())


def truncate_logs(run_dir: Path, sizes: dict[str, int]) -> None:
    """Cuts each log file back to its length at the checkpoint; removes logs begun after it."""
    for name in LOG_FILES:
        path = run_dir / name
        if name not in sizes:
            path.unlink(missing_ok=True)
            continue
        if not path.is_file() or path.stat().st_size < sizes[name]:
            raise CheckpointError(f"{path} is shorter than when the checkpoint was written; cannot resume exactly")
        os.truncate(path, sizes[name])


def load_learner(learner: DQNLearner, state: dict[str, Any], source: str) -> None:
    """Loads a snapshot's learner state (networks, optimizer and, when present, counters) into `learner`."""
    try:
        learner.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{source}: networks do not match the run's config: {reason}") from None


def capture_training_state(loop: Lane) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state tree of arrays and plain values, tensors) of the whole run, between two collections."""
    agent = loop.agent
    state_values, best_weights = loop.state.to_tree()
    state_values["earlier_wall_s"] = loop.wall_s()  # a resume goes on counting from here
    rng_values, rng_tensors = agent.rng_state()
    tree = {
        "version": STATE_VERSION,
        "config": agent.config.to_dict(),
        "observation_shape": list(agent.spaces.observation_space.shape),
        "num_actions": agent.num_actions,
        "counters": {"env_steps": agent.env_steps, "episodes": agent.episodes},
        "loop": state_values,
        "logs": _log_sizes(loop),
        "rng": rng_values,
        "collector": loop.collector.state_dict(),
    }
    tensors = {"learner": agent.learner.state_dict(), "best_weights": best_weights, "rng": rng_tensors}
    return tree, tensors


def restore_training_state(loop: Lane, tree: dict[str, Any], tensors: dict[str, Any]) -> None:
    """Puts a captured state back into a loop built from the same config, and starts its collector
    from the collector's part; the RNGs come last, so that starting envs or actors draws nothing."""
    try:
        _restore(loop, tree, tensors)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        # checksums passed, so the files are as written: a state from another dqnlab version, or edited
        detail = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        raise CheckpointError(f"the checkpoint's training state is malformed ({detail})") from None


def _restore(loop: Lane, tree: dict[str, Any], tensors: dict[str, Any]) -> None:
    agent = loop.agent
    source = f"checkpoint of step {tree['counters']['env_steps']}"
    agent.check_fits(tree["observation_shape"], tree["num_actions"], source)
    load_learner(agent.learner, tensors["learner"], source)
    agent.env_steps, agent.episodes = tree["counters"]["env_steps"], tree["counters"]["episodes"]
    loop.state = TrainingState.from_tree(tree["loop"], tensors["best_weights"])
    loop.collector.start(tree["collector"])
    agent.load_rng_state(tree["rng"], tensors["rng"])


def _log_sizes(loop: Lane) -> dict[str, int]:
    """Byte length of each log file, flushed and fsynced so the checkpoint never runs ahead of them."""
    if loop.run_dir is None:
        return {}
    if loop.logger is not None:
        loop.logger.flush()
    sizes = {}
    for name in LOG_FILES:
        path = loop.run_dir / name
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
            sizes[name] = path.stat().st_size
    return sizes


class Checkpointer:
    """Snapshots the training state of a loop with a run directory: every `checkpoint.every` env
    steps, when asked to stop by SIGINT/SIGTERM, and at the start of a fresh run."""

    def __init__(self, loop: Lane) -> None:
        assert loop.run_dir is not None
        self.loop = loop
        self.run_dir = loop.run_dir
        self.directory = loop.run_dir / "checkpoints"
        self.config = loop.config.checkpoint
        self.stop_signal: int | None = None
        self.last_step: int | None = None  # env step of the newest checkpoint written or resumed from

    def save(self) -> Path:
        loop = self.loop
        step = loop.agent.env_steps
        if not parameters_finite(loop.agent.learner.online):
            raise NonFiniteError(
                f"non-finite network parameters at env step {step}: not checkpointed, training "
                f"stopped; {self.resume_hint()}"
            )
        tree, tensors = capture_training_state(loop)
        folder = write_snapshot(self.directory, step, tree, tensors, self.config.keep_last)
        self.last_step = step
        return folder

    def after_step(self, previous_step: int) -> None:
        """Called after each collection: checkpoints when one is due or a stop was asked for."""
        step = self.loop.agent.env_steps
        every = self.config.every
        if self.stop_signal is not None:
            folder = self.save()
            name = signal.Signals(self.stop_signal).name
            message = f"{name} at env step {step}: checkpoint written to {folder}; resume with: "
            raise TrainingInterrupted(message + resume_command(self.run_dir), 128 + self.stop_signal)
        if every > 0 and step // every > previous_step // every:
            self.save()

    def remove_all(self, keep_newest: bool = False) -> None:
        """Deletes the run's state checkpoints (gigabytes with a large replay) once it has finished,
        but the newest when `keep_newest`."""
        for _, folder in list_snapshots(self.directory)[1 if keep_newest else 0 :]:
            remove_snapshot(folder)
        clean_leftovers(self.directory)

    def resume_hint(self) -> str:
        if self.last_step is None:
            return "no checkpoint was written"
        return f"the checkpoint of env step {self.last_step} can be resumed: {resume_command(self.run_dir)}"

    @contextmanager
    def stop_on_signals(self) -> Iterator[None]:
        """SIGINT and SIGTERM ask for a checkpoint and a stop after the current collection; a second
        SIGINT or SIGTERM interrupts at once (the checkpoints already written stay intact)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_signal(signum: int, frame: Any) -> None:
            if self.stop_signal is not None:
                raise KeyboardInterrupt
            self.stop_signal = signum

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
