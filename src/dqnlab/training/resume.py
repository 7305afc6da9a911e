"""Full training state: saved every `checkpoint.every` env steps and on SIGINT/SIGTERM, restored by
`dqnlab train --resume RUN_DIR` so that the resumed run is indistinguishable from one that never stopped.

What a checkpoint holds (training/snapshot.py writes it, crash-safe and checksummed):
  networks, target network, optimizer, and the best weights kept for a collapse rollback;
  replay memory (each part's `state_dict`: storage, n-step queues, sum tree, frame pool);
  every RNG: Python's `random`, the agent's numpy generators (acting, replay), torch CPU (and
  CUDA), each env's and the vector env's generators;
  the envs themselves (envs/state.py), the current observations and the per-episode loss and Q
  sums; counters (env steps, episodes, gradient steps, target updates) from which every
  schedule is computed; the loop's evaluation state (best return, patience, solved step,
  collapse detector); and the byte length of every log file, which a resume cuts them back to,
  with TensorBoard's events after the checkpoint purged.

On CPU, resuming gives bit-identical metrics.csv and final weights (tests/learning/test_resume.py).
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from dqnlab.config import config_from_dict
from dqnlab.diagnostics.collapse import CollapseEvent
from dqnlab.envs.state import restore_vector_env_state, vector_env_state
from dqnlab.errors import CheckpointError, ConfigError, EnvError, NonFiniteError, TrainingInterrupted
from dqnlab.training.snapshot import (
    clean_leftovers,
    latest_snapshot,
    list_snapshots,
    read_snapshot,
    remove_snapshot,
    write_snapshot,
)

if TYPE_CHECKING:
    from dqnlab.training.loop import TrainingLoop

STATE_VERSION = 1
LOG_FILES = ("metrics.csv", "eval.csv", "target_updates.csv", "collapses.csv")
LOOP_FIELDS = (
    "steps",
    "start_step",
    "best_eval_return",
    "evals_without_improvement",
    "solved_at_step",
    "solved_at_s",
    "eval_seconds",
    "obs",
    "loss_sum",
    "q_sum",
    "update_count",
    "nonfinite_rollbacks",
)
MAX_NONFINITE_ROLLBACKS = 3  # rollbacks to the last checkpoint before a run with nan losses stops


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def resume_command(run_dir: Path) -> str:
    return f"dqnlab train --resume {run_dir}"


def parameters_finite(module: torch.nn.Module) -> bool:
    """Whether every parameter and buffer of `module` is finite (one reduction per tensor)."""
    return all(bool(torch.isfinite(t).all()) for t in module.state_dict().values() if t.is_floating_point())


def _log_sizes(loop: TrainingLoop) -> dict[str, int]:
    """Byte length of each log file, flushed and fsynced so the checkpoint never runs ahead of them."""
    assert loop.run_dir is not None
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


def learner_state(loop: TrainingLoop) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state tree, tensors) that every run's checkpoint holds: config, counters, loop and collapse
    state, log sizes, networks and optimizer. Single-process and Ape-X runs add their own parts."""
    agent, learner = loop.agent, loop.agent.learner
    detector = loop.collapse_detector
    tree = {
        "version": STATE_VERSION,
        "config": agent.config.to_dict(),
        "observation_shape": list(agent.spaces.observation_space.shape),
        "num_actions": agent.num_actions,
        "counters": {
            "env_steps": agent.env_steps,
            "episodes": agent.episodes,
            "gradient_steps": learner.gradient_steps,
            "target_updates": learner.target_updates,
        },
        "loop": {name: getattr(loop, name) for name in LOOP_FIELDS},
        "collapse": {
            "baseline": detector.baseline,
            "best": detector.best,
            "collapsed": detector.collapsed,
            "events": [list(event) for event in loop.collapses],
        },
        "logs": _log_sizes(loop) if loop.run_dir is not None else {},
    }
    tensors = {
        "online": learner.online.state_dict(),
        "target": learner.target.state_dict(),
        "optimizer": learner.optimizer.state_dict(),
        "best_weights": loop.best_weights if loop.best_weights is not None else {},
    }
    return tree, tensors


def capture_training_state(loop: TrainingLoop, envs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state tree of arrays and plain values, tensors) of the whole training run, between two env steps."""
    agent = loop.agent
    tree, tensors = learner_state(loop)
    tree["rng"] = {
        "python": random.getstate(),
        "acting": agent.acting_rng.bit_generator.state,
        "replay": agent.replay_rng.bit_generator.state,
        "evaluation": agent.evaluation_rng.bit_generator.state,
    }
    tree["replay"] = loop.replay.state_dict()
    tree["envs"] = vector_env_state(envs)
    tensors["torch_rng"] = torch.get_rng_state()
    tensors["cuda_rng"] = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return tree, tensors


def _load_networks(loop: TrainingLoop, tensors: dict[str, Any], source: str) -> None:
    learner = loop.agent.learner
    try:
        learner.online.load_state_dict(tensors["online"])
        learner.target.load_state_dict(tensors["target"])
        learner.optimizer.load_state_dict(tensors["optimizer"])
    except (KeyError, RuntimeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{source}: networks do not match the run's config: {reason}") from None


def restore_training_state(loop: TrainingLoop, envs: Any, tree: dict[str, Any], tensors: dict[str, Any]) -> None:
    """Puts a captured state back into a loop built from the same config, and its freshly made envs."""
    try:
        _restore(loop, envs, tree, tensors)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        # checksums passed, so the files are as written: a state from another dqnlab version, or edited
        detail = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        raise CheckpointError(f"the checkpoint's training state is malformed ({detail})") from None


def _restore(loop: TrainingLoop, envs: Any, tree: dict[str, Any], tensors: dict[str, Any]) -> None:
    agent, learner = loop.agent, loop.agent.learner
    source = f"checkpoint of step {tree['counters']['env_steps']}"
    saved_shape = tuple(tree["observation_shape"])
    env_shape = agent.spaces.observation_space.shape
    if saved_shape != env_shape or tree["num_actions"] != agent.num_actions:
        raise CheckpointError(
            f"{source} was saved for observations {saved_shape} and {tree['num_actions']} actions; "
            f"{agent.config.env_id} has {env_shape} and {agent.num_actions}"
        )
    _load_networks(loop, tensors, source)
    counters = tree["counters"]
    agent.env_steps, agent.episodes = counters["env_steps"], counters["episodes"]
    learner.gradient_steps, learner.target_updates = counters["gradient_steps"], counters["target_updates"]
    try:
        loop.replay.load_state_dict(tree["replay"])
    except ValueError as exc:  # shapes and sizes; a missing key is a malformed state
        raise CheckpointError(f"{source}: its replay memory does not fit the run's config: {exc}") from None
    envs.reset(seed=agent.config.seed)  # builds every wrapper's buffers; the saved state then replaces them
    restarted = restore_vector_env_state(envs, tree["envs"], seed=agent.config.seed + agent.env_steps)
    for name in LOOP_FIELDS:
        setattr(loop, name, tree["loop"][name])
    loop.obs = np.array(loop.obs)  # off its memory map
    for index, first_obs in restarted.items():  # envs whose state the checkpoint could not hold
        loop.obs[index] = first_obs
    collapse = tree["collapse"]
    detector = loop.collapse_detector
    detector.baseline, detector.best, detector.collapsed = collapse["baseline"], collapse["best"], collapse["collapsed"]
    loop.collapses = [CollapseEvent(*event) for event in collapse["events"]]
    loop.best_weights = tensors["best_weights"] or None
    random.setstate(tree["rng"]["python"])
    agent.acting_rng.bit_generator.state = tree["rng"]["acting"]
    agent.replay_rng.bit_generator.state = tree["rng"]["replay"]
    agent.evaluation_rng.bit_generator.state = tree["rng"]["evaluation"]
    torch.set_rng_state(tensors["torch_rng"])
    if tensors["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(tensors["cuda_rng"])


class Checkpointer:
    """Writes the full training state of a loop with a run directory: every `checkpoint.every` env
    steps, when asked to stop by SIGINT/SIGTERM, and at the start of a fresh run (so that a fault
    at any time leaves a checkpoint to resume from)."""

    def __init__(self, loop: TrainingLoop) -> None:
        assert loop.run_dir is not None
        self.loop = loop
        self.run_dir = loop.run_dir
        self.directory = checkpoint_dir(loop.run_dir)
        self.config = loop.config.checkpoint
        self.stop_signal: int | None = None
        self.last_step: int | None = None  # env step of the newest checkpoint written or resumed from

    def save(self, envs: Any) -> Path:
        loop = self.loop
        step = loop.agent.env_steps
        if not parameters_finite(loop.agent.learner.online):
            raise NonFiniteError(
                f"non-finite network parameters at env step {step}: not checkpointed, training "
                f"stopped; {self.resume_hint()}"
            )
        tree, tensors = capture_training_state(loop, envs)
        folder = write_snapshot(self.directory, step, tree, tensors, self.config.keep_last)
        self.last_step = step
        return folder

    def after_step(self, envs: Any, previous_step: int) -> None:
        """Called between env steps: checkpoints when one is due or a stop was asked for."""
        step = self.loop.agent.env_steps
        every = self.config.every
        due = every > 0 and step // every > previous_step // every
        if self.stop_signal is not None:
            folder = self.save(envs)
            name = signal.Signals(self.stop_signal).name
            resume = resume_command(self.run_dir)
            message = f"{name} at env step {step}: checkpoint written to {folder}; resume with: {resume}"
            raise TrainingInterrupted(message, 128 + self.stop_signal)
        if due:
            self.save(envs)

    def remove_all(self) -> None:
        """Deletes the run's state checkpoints (gigabytes with a large replay) once it has finished."""
        for _, folder in list_snapshots(self.directory):
            remove_snapshot(folder)
        clean_leftovers(self.directory)

    def resume_hint(self) -> str:
        if self.last_step is None:
            return "no checkpoint was written"
        return f"the checkpoint of env step {self.last_step} can be resumed: {resume_command(self.run_dir)}"

    @contextmanager
    def stop_on_signals(self) -> Iterator[None]:
        """SIGINT and SIGTERM ask for a checkpoint and a stop after the current env step; a second
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


def env_failure(loop: TrainingLoop, exc: Exception) -> EnvError:
    """The one-line error for an env that raised while stepping."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    message = (
        f"env {loop.config.env_id} raised {type(exc).__name__}{': ' + detail if detail else ''} "
        f"at env step {loop.agent.env_steps}; training stopped"
    )
    if loop.checkpointer is not None:
        message += f"; {loop.checkpointer.resume_hint()}"
    return EnvError(message)


def on_nonfinite_loss(loop: TrainingLoop, loss: float) -> None:
    """A nan or inf loss: stops with the step named, or (checkpoint.on_nonfinite = "rollback") reloads
    the networks and optimizer of the newest checkpoint and goes on, at most MAX_NONFINITE_ROLLBACKS times."""
    agent = loop.agent
    where = f"env step {agent.env_steps}, gradient step {agent.learner.gradient_steps}"
    checkpointer = loop.checkpointer
    if loop.config.checkpoint.on_nonfinite == "rollback" and checkpointer is not None:
        if loop.nonfinite_rollbacks < MAX_NONFINITE_ROLLBACKS:
            _, folder = latest_snapshot(checkpointer.directory)
            _, tensors = read_snapshot(folder)
            _load_networks(loop, tensors, folder.name)
            loop.nonfinite_rollbacks += 1
            print(
                f"dqnlab: warning: non-finite loss ({loss}) at {where}; networks and optimizer rolled back to "
                f"{folder.name} ({loop.nonfinite_rollbacks} of {MAX_NONFINITE_ROLLBACKS} rollbacks)",
                file=sys.stderr,
            )
            return
        where += f" after {MAX_NONFINITE_ROLLBACKS} rollbacks"
    hint = f"; {checkpointer.resume_hint()}" if checkpointer is not None else ""
    raise NonFiniteError(f"non-finite loss ({loss}) at {where}; training stopped{hint}")


def load_resume_state(run_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """The newest verified checkpoint of a run directory, with clear errors for anything else."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"no such run directory: {run_dir}")
    if (run_dir / "summary.json").is_file():
        raise CheckpointError(f"{run_dir} has finished (it has summary.json); there is nothing to resume")
    if not list_snapshots(checkpoint_dir(run_dir)):
        raise CheckpointError(f"{run_dir} is not a resumable dqnlab run: no checkpoints/state-* folder in it")
    _, folder = latest_snapshot(checkpoint_dir(run_dir))
    tree, tensors = read_snapshot(folder)
    if not isinstance(tree, dict) or tree.get("version") != STATE_VERSION:
        raise CheckpointError(f"{folder} is not a dqnlab training state this version can resume")
    return tree, tensors, folder


def resume_training(run_dir: str | Path, progress: bool = False, ray_address: str | None = None) -> dict[str, Any]:
    """Continues the run in `run_dir` from its newest verified checkpoint; returns the run summary.

    A distributed run (distributed.actors > 0) goes on with new actors on Ray, at `ray_address`
    or on this machine."""
    from dqnlab.agent import Agent
    from dqnlab.training.loop import TrainingLoop

    tree, tensors, folder = load_resume_state(run_dir)
    try:
        config = config_from_dict(tree["config"])
    except (ConfigError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{folder}: its config is invalid: {exc}") from None
    agent = Agent(config)
    try:
        steps = int(tree["loop"]["steps"])
        tree["counters"]["env_steps"], tree["logs"].items()  # noqa: B018 - what the loop reads before restoring
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{folder}: the training state is malformed ({type(exc).__name__}: {exc})") from None
    if config.distributed.actors > 0:
        from dqnlab.distributed import require_ray

        require_ray()
        from dqnlab.distributed.apex import ApexLoop

        return ApexLoop(agent, steps, run_dir, progress, resume=(tree, tensors), ray_address=ray_address).run()
    loop = TrainingLoop(agent, steps, run_dir, progress, resume=(tree, tensors))
    return loop.run()
