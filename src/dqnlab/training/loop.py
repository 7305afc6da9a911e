"""The training loop, written once: collect, learn, record episodes, evaluate, checkpoint.

Where experience comes from is a `Collector` (collectors.py: local vector envs and a replay memory;
distributed/apex.py: Ray actors and replay shards). Everything else is here, once: how many
gradient steps are owed, the learn step, episode statistics, evaluation, early stop, collapse
handling, env faults, non-finite losses, and the observers that log and plot.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dqnlab.config import LearningConfig, resolved_config
from dqnlab.diagnostics.collapse import CollapseDetector, CollapseEvent, append_collapse
from dqnlab.diagnostics.figure import DiagnosticsPlotter, read_run_data
from dqnlab.diagnostics.logger import EpisodeRecord, EvalRecord, RunLogger
from dqnlab.diagnostics.stability import stability_summary
from dqnlab.envs import reward_threshold
from dqnlab.envs.atari_scores import atari_summary
from dqnlab.errors import EnvError, NonFiniteError
from dqnlab.training.checkpointing import (
    Checkpointer,
    load_learner,
    parameters_finite,
    restore_training_state,
    truncate_logs,
)
from dqnlab.training.collectors import Chunk, Collector, EnvStepFailed, LocalCollector
from dqnlab.training.evaluation import evaluate
from dqnlab.training.observers import Observer
from dqnlab.training.progress import Progress, ProgressMode, default_progress, make_progress
from dqnlab.training.snapshot import latest_snapshot, read_snapshot
from dqnlab.training.state import TrainingState

if TYPE_CHECKING:
    from dqnlab.agent import Agent

EVAL_SEED_OFFSET = 10_000  # evaluation envs are seeded apart from the training envs
MAX_NONFINITE_ROLLBACKS = 3  # rollbacks to the last checkpoint before a run with nan losses stops


def gradient_steps_due(env_steps: int, learning: LearningConfig, num_envs: int) -> int:
    """Gradient steps a run owes after `env_steps` env steps: `gradient_steps` for every `train_freq`
    env steps, counted from the last multiple of `num_envs` below `learning_starts` (the last env-step
    count a vector env passes through before learning starts). The one replay-ratio formula of dqnlab:
    a local run takes exactly these steps after each vector step; Ape-X's learner never runs ahead of them."""
    if env_steps < learning.learning_starts:
        return 0
    anchor = max(0, (learning.learning_starts - 1) // num_envs * num_envs)
    return learning.gradient_steps * (env_steps // learning.train_freq - anchor // learning.train_freq)


class TrainingLoop:
    """Runs `steps` env steps of DQN training for `agent`, writing to `run_dir` when given."""

    def __init__(
        self,
        agent: Agent,
        steps: int,
        run_dir: str | Path | None,
        progress: bool | ProgressMode,
        observers: list[Observer] | None = None,
        resume: tuple[dict[str, Any], dict[str, Any]] | None = None,
        ray_address: str | None = None,
    ) -> None:
        """`progress`: "bar", "log" (a line every few seconds), "off"; True picks a bar on a terminal, else lines.
        `resume` is a checkpoint's (state tree, tensors), restored when the run starts (checkpointing.py)."""
        from dqnlab.training.wiring import build_collector

        self.agent = agent
        self.config = agent.config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.progress_mode: ProgressMode = default_progress() if progress is True else progress or "off"
        self.progress = Progress(self.config.env_id, steps, agent.env_steps)  # replaced when the run starts
        threshold = self.config.evaluation.target_return
        self.target_return = threshold if threshold is not None else reward_threshold(self.config.env_id)
        diagnostics = self.config.diagnostics
        detector = CollapseDetector(
            drop=diagnostics.collapse_drop, min_best=diagnostics.collapse_min_best, target=self.target_return
        )
        self.state = TrainingState(steps=steps, start_step=agent.env_steps, collapse_detector=detector)
        # a local collector stays with the agent, so that a later `learn` call goes on with its replay
        self.collector: Collector = agent.collector or build_collector(agent, steps, ray_address)
        self.keep_collector = resume is None and isinstance(self.collector, LocalCollector)
        agent.collector = self.collector if self.keep_collector else None
        self.observers: list[Observer] = list(observers or [])
        self.resume = resume
        self.logger: RunLogger | None = None
        self.checkpointer = Checkpointer(self) if self.run_dir is not None else None

    def run(self) -> dict[str, Any]:
        agent = self.agent
        if self.run_dir is not None:
            self._open_run_dir()
        start = time.perf_counter()
        try:
            signals = self.checkpointer.stop_on_signals() if self.checkpointer else contextlib.nullcontext()
            with signals:
                self._start()
                self._train()
                if self.checkpointer is not None and self.config.checkpoint.keep_final:
                    self.checkpointer.save()  # the final state, from which `--resume RUN --steps N` goes on
        finally:
            if not self.keep_collector:
                self.collector.close()
            for observer in self.observers:
                observer.close()
        wall_s = time.perf_counter() - start
        summary = self._summary(wall_s)
        if self.run_dir is not None:
            agent.save(self.run_dir / "checkpoints" / "last.pt")
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if self.checkpointer is not None:  # best.pt and last.pt stay
            self.checkpointer.remove_all(keep_newest=self.config.checkpoint.keep_final)
        return summary

    def _open_run_dir(self) -> None:
        """Writes config.toml and plugs in the CSV/TensorBoard logger and the diagnostics plotter."""
        config, run_dir = self.config, self.run_dir
        assert run_dir is not None
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        resolved = resolved_config(config, device=self.agent.device.type, target_return=self.target_return)
        (run_dir / "config.toml").write_text(resolved.to_toml())
        resume_step = None
        if self.resume is not None:
            resume_step = self.resume[0]["counters"]["env_steps"]
            truncate_logs(run_dir, self.resume[0]["logs"])
        self.logger = RunLogger(run_dir, config.tensorboard, resume_step)
        self.observers.insert(0, self.logger)
        plotter = DiagnosticsPlotter(
            run_dir, config.env_id, config.preset, config.seed, self.target_return, config.diagnostics.plot_every
        )
        if self.resume is not None:
            plotter.data = read_run_data(run_dir)
        self.observers.append(plotter)

    def _start(self) -> None:
        """Restores a checkpoint or starts fresh; a fresh run with a run directory checkpoints at once,
        so that a fault at any time leaves a checkpoint to resume from."""
        resuming = self.resume is not None
        if self.resume is None:
            self.collector.start(None)
            if self.checkpointer is not None:
                self.checkpointer.save()
        else:
            restore_training_state(self, *self.resume)
            self.resume = None  # the arrays it holds are no longer needed
            assert self.checkpointer is not None
            self.checkpointer.last_step = self.agent.env_steps
        state = self.state
        self.progress = make_progress(self.progress_mode, self.config.env_id, state.steps, state.start_step)
        self.observers.append(self.progress)
        self.progress.advance(self.agent.env_steps)
        if resuming:
            self.progress.say(
                f"dqnlab: resuming {self.run_dir} at env step {self.agent.env_steps:,} of {state.end_step:,}"
            )

    def _train(self) -> None:
        agent, state, collector = self.agent, self.state, self.collector
        eval_every = self.config.evaluation.every
        started = time.perf_counter()
        while agent.env_steps < state.end_step:
            try:
                chunks = collector.collect(learning_owed=self._owed() > 0)
            except EnvStepFailed as exc:
                raise self._env_failure(exc.cause) from exc.cause
            if not chunks:
                self._learn()
                continue
            for chunk in chunks:
                previous_step = agent.env_steps
                agent.env_steps += chunk.steps
                self._learn()
                self._record_episodes(chunk)
                self.progress.advance(agent.env_steps)
                due = eval_every > 0 and agent.env_steps // eval_every > previous_step // eval_every
                if due or agent.env_steps >= state.end_step:
                    train_s = time.perf_counter() - started - state.eval_seconds
                    if self._evaluate_and_decide_stop(train_s):
                        return
                if self.checkpointer is not None:
                    self.checkpointer.after_step(previous_step)
                if agent.env_steps >= state.end_step:
                    return

    def _owed(self) -> int:
        """Gradient steps owed now by the replay ratio (`gradient_steps_due`), counted from the collector's origin."""
        origin_steps, origin_updates = self.collector.origin
        due = gradient_steps_due(self.agent.env_steps - origin_steps, self.config.learning, self.config.num_envs)
        return origin_updates + due - self.agent.learner.gradient_steps

    def _learn(self) -> None:
        """Takes the owed gradient steps (at most the collector's `updates_per_round`)."""
        learner, collector = self.agent.learner, self.collector
        owed = self._owed()
        if collector.updates_per_round is not None:
            owed = min(owed, collector.updates_per_round)
        target_updates = learner.target_updates
        for _ in range(owed):
            batch = collector.sample(self.config.learning.batch_size)
            if batch is None:
                break
            stats = learner.update(batch)
            if not math.isfinite(stats.loss):
                self._on_nonfinite_loss(stats.loss)  # raises, or rolls the networks back
                continue
            collector.update_priorities(batch, stats.priorities)
            self.state.loss_sum += stats.loss
            self.state.q_sum += stats.q_mean
            self.state.update_count += 1
            collector.after_gradient_step(learner.gradient_steps)
        if learner.target_updates != target_updates:
            for observer in self.observers:
                observer.on_target_update(self.agent.env_steps)

    def _record_episodes(self, chunk: Chunk) -> None:
        agent, state = self.agent, self.state
        for episode_return, episode_length in chunk.episodes:
            agent.episodes += 1
            loss, q_mean = state.take_episode_means()
            record = EpisodeRecord(
                step=agent.env_steps,
                episode=agent.episodes,
                episode_return=episode_return,
                length=episode_length,
                epsilon=chunk.epsilon,
                loss=loss,
                q_mean=q_mean,
            )
            for observer in self.observers:
                observer.on_episode(record)

    def _evaluate_and_decide_stop(self, train_s: float) -> bool:
        """Evaluates greedily, keeps the best model, and says whether training should stop."""
        config, agent, state = self.config, self.agent, self.state
        began = time.perf_counter()
        returns = evaluate(
            agent.act_batch,
            config.env_id,
            config.evaluation.episodes,
            config.evaluation.epsilon,
            seed=config.seed + EVAL_SEED_OFFSET,
            atari=config.atari,
            env_kwargs=config.env_kwargs,
        )
        state.eval_seconds += time.perf_counter() - began
        mean_return = float(returns.mean())
        state.eval_steps.append(agent.env_steps)
        state.eval_returns.append(mean_return)
        for observer in self.observers:
            observer.on_evaluation(EvalRecord(agent.env_steps, mean_return, float(returns.std())))
        if mean_return > state.best_eval_return:
            state.best_eval_return = mean_return
            state.evals_without_improvement = 0
            if self.run_dir is not None and parameters_finite(agent.q_network):  # never a broken best.pt
                agent.save(self.run_dir / "checkpoints" / "best.pt")
            if config.diagnostics.on_collapse == "rollback":
                state.best_weights = {k: v.detach().clone() for k, v in agent.q_network.state_dict().items()}
        else:
            state.evals_without_improvement += 1
        if state.collapse_detector.update(mean_return) and self._on_collapse(mean_return):
            return True
        reached = self.target_return is not None and mean_return >= self.target_return
        stop_solved = reached and config.evaluation.stop_at_target
        if reached and state.solved_at_step is None:
            state.solved_at_step = agent.env_steps
            state.solved_at_s = train_s
            then = "stopping (evaluation.stop_at_target)" if stop_solved else "training goes on"
            self._say(
                f"dqnlab: solved at env step {agent.env_steps:,}: evaluation return {mean_return:.1f} "
                f">= target {self.target_return:g}; {then}"
            )
        patience = config.evaluation.patience
        stop_patience = patience > 0 and state.evals_without_improvement >= patience
        if stop_patience:
            self._say(f"dqnlab: no better evaluation in {patience} evaluations (evaluation.patience); stopping")
        return stop_solved or stop_patience

    def _on_collapse(self, mean_return: float) -> bool:
        """Reports a collapse (stderr, collapses.csv) and acts on it; True means stop training."""
        state = self.state
        action = self.config.diagnostics.on_collapse
        if action == "rollback" and state.best_weights is None:
            action = "warn"  # pragma: no cover - a collapse always follows a best evaluation
        event = CollapseEvent(
            self.agent.env_steps, self.agent.episodes, mean_return, state.collapse_detector.best, action
        )
        state.collapses.append(event)
        if self.run_dir is not None:
            append_collapse(self.run_dir, event)
        consequence = {
            "warn": "training goes on",
            "stop": "stopping",
            "rollback": "restoring the best weights into the online and target networks",
        }[action]
        self._say(
            f"dqnlab: collapse at step {event.step}: evaluation return {mean_return:.1f} "
            f"after a best of {event.best_return:.1f}; {consequence}"
        )
        if action == "rollback":
            assert state.best_weights is not None
            self.agent.learner.online.load_state_dict(state.best_weights)
            self.agent.learner.target.load_state_dict(state.best_weights)
            state.collapse_detector.reset()
        return action == "stop"

    def _on_nonfinite_loss(self, loss: float) -> None:
        """A nan or inf loss: stops with the step named, or (checkpoint.on_nonfinite = "rollback") reloads
        the networks and optimizer of the newest checkpoint and goes on, at most MAX_NONFINITE_ROLLBACKS times."""
        agent, state, checkpointer = self.agent, self.state, self.checkpointer
        where = f"env step {agent.env_steps}, gradient step {agent.learner.gradient_steps}"
        if self.config.checkpoint.on_nonfinite == "rollback" and checkpointer is not None:
            if state.nonfinite_rollbacks < MAX_NONFINITE_ROLLBACKS:
                _, folder = latest_snapshot(checkpointer.directory)
                _, tensors = read_snapshot(folder)
                weights = {name: tensors["learner"][name] for name in ("online", "target", "optimizer")}
                load_learner(agent.learner, weights, folder.name)  # the counters go on
                state.nonfinite_rollbacks += 1
                self._say(
                    f"dqnlab: warning: non-finite loss ({loss}) at {where}; networks and optimizer rolled back to "
                    f"{folder.name} ({state.nonfinite_rollbacks} of {MAX_NONFINITE_ROLLBACKS} rollbacks)"
                )
                return
            where += f" after {MAX_NONFINITE_ROLLBACKS} rollbacks"
        raise NonFiniteError(f"non-finite loss ({loss}) at {where}; training stopped{self._resume_hint()}")

    def _env_failure(self, exc: Exception) -> EnvError:
        """The one-line error for an env that raised while stepping."""
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return EnvError(
            f"env {self.config.env_id} raised {type(exc).__name__}{': ' + detail if detail else ''} "
            f"at env step {self.agent.env_steps}; training stopped{self._resume_hint()}"
        )

    def _resume_hint(self) -> str:
        return f"; {self.checkpointer.resume_hint()}" if self.checkpointer is not None else ""

    def _say(self, message: str) -> None:
        """One line on stderr, above the progress bar when there is one."""
        self.progress.say(message)

    def _summary(self, wall_s: float) -> dict[str, Any]:
        config, agent, state = self.config, self.agent, self.state
        best = None if math.isinf(state.best_eval_return) else state.best_eval_return
        return {
            "env": config.env_id,
            "preset": config.preset,
            "seed": config.seed,
            "steps": agent.env_steps,
            "episodes": agent.episodes,
            "gradient_steps": agent.learner.gradient_steps,
            "wall_s": round(wall_s, 3),
            "train_s": round(wall_s - state.eval_seconds, 3),
            "steps_per_s": round((agent.env_steps - state.start_step) / wall_s, 1) if wall_s > 0 else None,
            "best_eval_return": best,
            "target_return": self.target_return,
            "solved_at_step": state.solved_at_step,
            "solved_at_s": None if state.solved_at_s is None else round(state.solved_at_s, 3),
            "collapses": len(state.collapses),
            **stability_summary(state.eval_steps, state.eval_returns, self.target_return),
            **atari_summary(config.env_id, best),
            **self.collector.summary(),
        }
