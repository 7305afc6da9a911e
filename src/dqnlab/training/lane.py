"""One run's share of the training loop: its state, run directory, observers, evaluation, early
stop, collapse handling and checkpoints.

A single run is one lane; a seed population (dqnlab.population) is P lanes that the one loop
(loop.py) drives in lockstep. Each lane writes the same run directory a single run writes.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dqnlab.config import resolved_config
from dqnlab.diagnostics.collapse import CollapseDetector, CollapseEvent, append_collapse
from dqnlab.diagnostics.figure import DiagnosticsPlotter, DrawBudget, read_run_data
from dqnlab.diagnostics.logger import EpisodeRecord, EvalRecord, RunLogger
from dqnlab.diagnostics.stability import stability_summary
from dqnlab.envs import reward_threshold
from dqnlab.envs.atari_scores import atari_summary
from dqnlab.errors import EnvError, NonFiniteError
from dqnlab.training.checkpointing import Checkpointer, load_learner, parameters_finite, truncate_logs
from dqnlab.training.collectors import Chunk, Collector
from dqnlab.training.evaluation import evaluate
from dqnlab.training.observers import Observer
from dqnlab.training.progress import Progress
from dqnlab.training.snapshot import latest_snapshot, read_snapshot
from dqnlab.training.state import TrainingState

if TYPE_CHECKING:
    from dqnlab.agent import Agent

EVAL_SEED_OFFSET = 10_000  # evaluation envs are seeded apart from the training envs
MAX_NONFINITE_ROLLBACKS = 3  # rollbacks to the last checkpoint before a run with nan losses stops


class Lane:
    """The bookkeeping of one run: `agent` learns from what `collector` (this lane's replay and envs)
    collects, for `steps` env steps, writing to `run_dir` when given."""

    def __init__(
        self,
        agent: Agent,
        steps: int,
        run_dir: str | Path | None,
        collector: Collector,
        observers: list[Observer] | None = None,
        resume: tuple[dict[str, Any], dict[str, Any]] | None = None,
    ) -> None:
        """`resume` is a checkpoint's (state tree, tensors), restored when the run starts (checkpointing.py)."""
        self.agent = agent
        self.config = agent.config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        threshold = self.config.evaluation.target_return
        self.target_return = threshold if threshold is not None else reward_threshold(self.config.env_id)
        diagnostics = self.config.diagnostics
        detector = CollapseDetector(
            drop=diagnostics.collapse_drop, min_best=diagnostics.collapse_min_best, target=self.target_return
        )
        self.state = TrainingState(steps=steps, start_step=agent.env_steps, collapse_detector=detector)
        self.collector = collector
        self.observers: list[Observer] = list(observers or [])
        self.resume = resume
        self.logger: RunLogger | None = None
        self.progress = Progress(self.config.env_id, steps, agent.env_steps)  # the loop's display once it runs
        self.name: str | None = None  # a population member's name, which its messages begin with
        self.draw_budget = DrawBudget()  # paces diagnostics.png's redraws; a population's members share one
        self.checkpointer = Checkpointer(self) if self.run_dir is not None else None
        self.stopped = False  # stopped early (target, patience, collapse, a fault): masked in a population
        self.finished: dict[str, Any] | None = None  # the summary, once written
        self.started = time.perf_counter()  # when this process began training the lane (the loop resets it)

    def wall_s(self) -> float:
        """Wall seconds this run has trained, counting the processes before a resume."""
        return self.state.earlier_wall_s + time.perf_counter() - self.started

    @property
    def done(self) -> bool:
        return self.stopped or self.agent.env_steps >= self.state.end_step

    def open_run_dir(self) -> None:
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
            run_dir,
            config.env_id,
            config.preset,
            config.seed,
            self.target_return,
            config.diagnostics.plot_every,
            self.draw_budget,
        )
        if self.resume is not None:
            plotter.data = read_run_data(run_dir)
        self.observers.append(plotter)

    def record_update(self, loss: float, q_mean: float) -> None:
        self.state.loss_sum += loss
        self.state.q_sum += q_mean
        self.state.update_count += 1

    def record_episodes(self, chunk: Chunk) -> None:
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

    def evaluate_and_decide_stop(self, train_s: float) -> bool:
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
            self.say(
                f"dqnlab: solved at env step {agent.env_steps:,}: evaluation return {mean_return:.1f} "
                f">= target {self.target_return:g}; {then}"
            )
        patience = config.evaluation.patience
        stop_patience = patience > 0 and state.evals_without_improvement >= patience
        if stop_patience:
            self.say(f"dqnlab: no better evaluation in {patience} evaluations (evaluation.patience); stopping")
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
        self.say(
            f"dqnlab: collapse at step {event.step}: evaluation return {mean_return:.1f} "
            f"after a best of {event.best_return:.1f}; {consequence}"
        )
        if action == "rollback":
            assert state.best_weights is not None
            self.agent.learner.online.load_state_dict(state.best_weights)
            self.agent.learner.target.load_state_dict(state.best_weights)
            state.collapse_detector.reset()
        return action == "stop"

    def on_nonfinite_loss(self, loss: float) -> None:
        """A nan or inf loss: stops with the step named, or (checkpoint.on_nonfinite = "rollback") reloads
        the networks and optimizer of the newest checkpoint and goes on, at most MAX_NONFINITE_ROLLBACKS
        times. A population member's networks and optimizer are views of the population's rows, so
        loading them rolls the member back alone."""
        agent, state, checkpointer = self.agent, self.state, self.checkpointer
        where = f"env step {agent.env_steps}, gradient step {agent.learner.gradient_steps}"
        if self.config.checkpoint.on_nonfinite == "rollback" and checkpointer is not None:
            if state.nonfinite_rollbacks < MAX_NONFINITE_ROLLBACKS:
                _, folder = latest_snapshot(checkpointer.directory)
                _, tensors = read_snapshot(folder)
                weights = {name: tensors["learner"][name] for name in ("online", "target", "optimizer")}
                load_learner(agent.learner, weights, folder.name)  # the counters go on
                state.nonfinite_rollbacks += 1
                self.say(
                    f"dqnlab: warning: non-finite loss ({loss}) at {where}; networks and optimizer rolled back to "
                    f"{folder.name} ({state.nonfinite_rollbacks} of {MAX_NONFINITE_ROLLBACKS} rollbacks)"
                )
                return
            where += f" after {MAX_NONFINITE_ROLLBACKS} rollbacks"
        raise NonFiniteError(f"non-finite loss ({loss}) at {where}; training stopped{self.resume_hint()}")

    def env_failure(self, exc: Exception) -> EnvError:
        """The one-line error for an env that raised while stepping."""
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return EnvError(
            f"env {self.config.env_id} raised {type(exc).__name__}{': ' + detail if detail else ''} "
            f"at env step {self.agent.env_steps}; training stopped{self.resume_hint()}"
        )

    def resume_hint(self) -> str:
        return f"; {self.checkpointer.resume_hint()}" if self.checkpointer is not None else ""

    def say(self, message: str) -> None:
        """One line on stderr, above the progress display when there is one; a member's names it."""
        if self.name is not None:
            message = message.replace("dqnlab: ", f"dqnlab: {self.name}: ", 1)
        self.progress.say(message)

    def save_final(self) -> None:
        """With `checkpoint.keep_final`, the final state (before the envs close), from which
        `--resume RUN --steps N` goes on."""
        if self.checkpointer is not None and self.config.checkpoint.keep_final:
            self.checkpointer.save()

    def close_observers(self) -> None:
        for observer in self.observers:
            observer.close()

    def finish(self, wall_s: float, collector_summary: dict[str, Any]) -> dict[str, Any]:
        """The run's summary; with a run directory, last.pt and summary.json written and the state
        checkpoints removed (but the final one with `checkpoint.keep_final`; best.pt and last.pt stay)."""
        summary = self.finished = self.summary(wall_s, collector_summary)
        if self.run_dir is not None:
            self.agent.save(self.run_dir / "checkpoints" / "last.pt")
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if self.checkpointer is not None:
            self.checkpointer.remove_all(keep_newest=self.config.checkpoint.keep_final)
        return summary

    def summary(self, wall_s: float, collector_summary: dict[str, Any]) -> dict[str, Any]:
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
            **collector_summary,
        }
