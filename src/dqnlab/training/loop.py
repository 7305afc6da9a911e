"""The training loop: collect with N envs, store, learn, evaluate, log, checkpoint."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dqnlab.diagnostics.collapse import CollapseDetector, CollapseEvent, append_collapse
from dqnlab.diagnostics.figure import DiagnosticsPlotter, read_run_data
from dqnlab.diagnostics.logger import EpisodeRecord, EvalRecord, RunLogger
from dqnlab.envs import finished_episodes, make_vector_env, real_next_observations, reward_threshold
from dqnlab.envs.atari_scores import atari_summary
from dqnlab.replay import ReplayMemory
from dqnlab.schedules import epsilon_at
from dqnlab.training.evaluation import evaluate
from dqnlab.training.observers import Observer
from dqnlab.training.resume import (
    Checkpointer,
    env_failure,
    on_nonfinite_loss,
    parameters_finite,
    restore_training_state,
    truncate_logs,
)

if TYPE_CHECKING:
    from dqnlab.agent import Agent

EVAL_SEED_OFFSET = 10_000  # evaluation envs are seeded apart from the training envs


class TrainingLoop:
    """Runs `steps` env steps of DQN training for `agent`, writing to `run_dir` when given."""

    def __init__(
        self,
        agent: Agent,
        steps: int,
        run_dir: str | Path | None,
        progress: bool,
        observers: list[Observer] | None = None,
        resume: tuple[dict[str, Any], dict[str, Any]] | None = None,
    ) -> None:
        """`resume` is a checkpoint's (state tree, tensors), restored when the run starts (training/resume.py)."""
        self.agent = agent
        self.config = agent.config
        self.steps = steps
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.progress = progress
        threshold = self.config.evaluation.target_return
        self.target_return = threshold if threshold is not None else reward_threshold(self.config.env_id)
        space = agent.spaces.observation_space
        self.replay = ReplayMemory.from_config(
            self.config.replay,
            space.shape,
            space.dtype,
            agent.replay_rng,
            gamma=self.config.learning.gamma,
            num_envs=self.config.num_envs,
            beta_steps=steps,  # prioritized replay's beta reaches 1 at the end of this run
        )
        self.best_eval_return = -math.inf
        self.evals_without_improvement = 0
        self.solved_at_step: int | None = None
        self.solved_at_s: float | None = None
        self.eval_seconds = 0.0
        self.observers: list[Observer] = list(observers or [])
        self.start_step = agent.env_steps
        diagnostics = self.config.diagnostics
        self.collapse_detector = CollapseDetector(
            drop=diagnostics.collapse_drop, min_best=diagnostics.collapse_min_best, target=self.target_return
        )
        self.collapses: list[CollapseEvent] = []
        self.best_weights: dict[str, Any] | None = None  # the best evaluation's weights, kept for rollback
        self.bar: Any = None
        # what changes between env steps besides the agent and replay, kept here so a checkpoint can save it
        self.obs: Any = None  # the envs' current observations [N, *obs_shape]
        self.loss_sum = 0.0  # loss summed over the gradient steps since the last episode ended
        self.q_sum = 0.0
        self.update_count = 0
        self.nonfinite_rollbacks = 0
        self.resume = resume
        self.logger: RunLogger | None = None
        self.checkpointer = Checkpointer(self) if self.run_dir is not None else None

    def run(self) -> dict[str, Any]:
        config, agent = self.config, self.agent
        if self.run_dir is not None:
            (self.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.toml").write_text(config.to_toml())
            resume_step = None
            if self.resume is not None:
                resume_step = self.resume[0]["counters"]["env_steps"]
                truncate_logs(self.run_dir, self.resume[0]["logs"])
            self.logger = RunLogger(self.run_dir, config.tensorboard, resume_step)
            self.observers.insert(0, self.logger)
            plotter = DiagnosticsPlotter(
                self.run_dir,
                config.env_id,
                config.preset,
                config.seed,
                self.target_return,
                config.diagnostics.plot_every,
            )
            if self.resume is not None:
                plotter.data = read_run_data(self.run_dir)
            self.observers.append(plotter)
        bar = self.bar = self._progress_bar()
        envs = make_vector_env(config.env_id, config.num_envs, config.atari, True, config.env_kwargs)
        start = time.perf_counter()
        try:
            if self.checkpointer is not None:
                with self.checkpointer.stop_on_signals():
                    self._collect_and_learn(envs, bar)
            else:
                self._collect_and_learn(envs, bar)
        finally:
            envs.close()
            if bar is not None:
                bar.close()
            for observer in self.observers:
                observer.close()
        wall_s = time.perf_counter() - start
        summary = self._summary(wall_s)
        if self.run_dir is not None:
            agent.save(self.run_dir / "checkpoints" / "last.pt")
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if self.checkpointer is not None:
            self.checkpointer.remove_all()  # a finished run is not resumed; best.pt and last.pt stay
        return summary

    def _collect_and_learn(self, envs: Any, bar: Any) -> None:
        config, agent, learning = self.config, self.agent, self.config.learning
        num_envs = config.num_envs
        if self.resume is None:
            self.obs, _ = envs.reset(seed=config.seed)
            if self.checkpointer is not None:
                self.checkpointer.save(envs)  # so that a fault at any time leaves a checkpoint to resume
        else:
            restore_training_state(self, envs, *self.resume)
            self.resume = None  # the arrays it holds are no longer needed
            assert self.checkpointer is not None
            self.checkpointer.last_step = agent.env_steps
            if bar is not None:
                bar.update(agent.env_steps - self.start_step)
        end_step = self.start_step + self.steps
        eval_every = config.evaluation.every
        started = time.perf_counter()
        while agent.env_steps < end_step:
            epsilon = epsilon_at(config.exploration, agent.env_steps, agent.episodes)
            actions = agent.explore_batch(self.obs, epsilon)
            try:
                next_obs, rewards, terminated, truncated, infos = envs.step(actions)
            except Exception as exc:  # an env can fail in any way; say where, and how to resume
                raise env_failure(self, exc) from exc
            done = terminated | truncated
            real_next_obs = real_next_observations(next_obs, done, infos)
            self.replay.add(self.obs, actions, rewards, real_next_obs, terminated, truncated)
            self.obs = next_obs
            previous_step = agent.env_steps
            agent.env_steps += num_envs

            if agent.env_steps >= learning.learning_starts:
                updates = agent.env_steps // learning.train_freq - previous_step // learning.train_freq
                target_updates = agent.learner.target_updates
                for _ in range(updates * learning.gradient_steps):
                    batch = self.replay.sample(learning.batch_size)
                    stats = agent.learner.update(batch)
                    if not math.isfinite(stats.loss):
                        on_nonfinite_loss(self, stats.loss)  # raises, or rolls the networks back
                        continue
                    if batch.indices is not None:
                        self.replay.update_priorities(batch.indices, stats.td_abs)
                    self.loss_sum += stats.loss
                    self.q_sum += stats.q_mean
                    self.update_count += 1
                if agent.learner.target_updates != target_updates:
                    for observer in self.observers:
                        observer.on_target_update(agent.env_steps)

            for episode_return, episode_length in finished_episodes(infos):
                agent.episodes += 1
                record = EpisodeRecord(
                    step=agent.env_steps,
                    episode=agent.episodes,
                    episode_return=episode_return,
                    length=episode_length,
                    epsilon=epsilon,
                    loss=self.loss_sum / self.update_count if self.update_count else math.nan,
                    q_mean=self.q_sum / self.update_count if self.update_count else math.nan,
                )
                self.loss_sum = self.q_sum = 0.0
                self.update_count = 0
                for observer in self.observers:
                    observer.on_episode(record)
                if bar is not None:
                    bar.set_postfix(
                        ret=f"{record.episode_return:.1f}",
                        eps=f"{epsilon:.3f}",
                        best_eval=f"{self.best_eval_return:.1f}",
                        refresh=False,
                    )
            if bar is not None:
                bar.update(num_envs)

            due = eval_every > 0 and agent.env_steps // eval_every > previous_step // eval_every
            if due or agent.env_steps >= end_step:
                train_s = time.perf_counter() - started - self.eval_seconds
                if self._evaluate_and_decide_stop(train_s):
                    break
            if self.checkpointer is not None:
                self.checkpointer.after_step(envs, previous_step)

    def _evaluate_and_decide_stop(self, train_s: float) -> bool:
        """Evaluates greedily, keeps the best model, and says whether training should stop."""
        config, agent = self.config, self.agent
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
        self.eval_seconds += time.perf_counter() - began
        mean_return = float(returns.mean())
        for observer in self.observers:
            observer.on_evaluation(EvalRecord(agent.env_steps, mean_return, float(returns.std())))
        if mean_return > self.best_eval_return:
            self.best_eval_return = mean_return
            self.evals_without_improvement = 0
            if self.run_dir is not None and parameters_finite(agent.q_network):  # never a broken best.pt
                agent.save(self.run_dir / "checkpoints" / "best.pt")
            if config.diagnostics.on_collapse == "rollback":
                self.best_weights = {k: v.detach().clone() for k, v in agent.q_network.state_dict().items()}
        else:
            self.evals_without_improvement += 1
        if self.collapse_detector.update(mean_return) and self._on_collapse(mean_return):
            return True
        reached = self.target_return is not None and mean_return >= self.target_return
        if reached and self.solved_at_step is None:
            self.solved_at_step = agent.env_steps
            self.solved_at_s = train_s
        patience = config.evaluation.patience
        return (reached and config.evaluation.stop_at_target) or (
            patience > 0 and self.evals_without_improvement >= patience
        )

    def _on_collapse(self, mean_return: float) -> bool:
        """Reports a collapse (stderr, collapses.csv) and acts on it; True means stop training."""
        action = self.config.diagnostics.on_collapse
        if action == "rollback" and self.best_weights is None:
            action = "warn"  # pragma: no cover - a collapse always follows a best evaluation
        event = CollapseEvent(
            self.agent.env_steps, self.agent.episodes, mean_return, self.collapse_detector.best, action
        )
        self.collapses.append(event)
        if self.run_dir is not None:
            append_collapse(self.run_dir, event)
        consequence = {
            "warn": "training goes on",
            "stop": "stopping",
            "rollback": "restoring the best weights into the online and target networks",
        }[action]
        message = (
            f"dqnlab: collapse at step {event.step}: evaluation return {mean_return:.1f} "
            f"after a best of {event.best_return:.1f}; {consequence}"
        )
        if self.bar is not None:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stderr)
            self.bar.set_description(f"{self.config.env_id} [collapse x{len(self.collapses)}]", refresh=False)
        else:
            print(message, file=sys.stderr)
        if action == "rollback":
            assert self.best_weights is not None
            self.agent.learner.online.load_state_dict(self.best_weights)
            self.agent.learner.target.load_state_dict(self.best_weights)
            self.collapse_detector.reset()
        return action == "stop"

    def _progress_bar(self) -> Any:
        if not self.progress:
            return None
        from tqdm import tqdm

        return tqdm(total=self.steps, unit="step", dynamic_ncols=True, desc=self.config.env_id)

    def _summary(self, wall_s: float) -> dict[str, Any]:
        config = self.config
        return {
            "env": config.env_id,
            "preset": config.preset,
            "seed": config.seed,
            "steps": self.agent.env_steps,
            "episodes": self.agent.episodes,
            "gradient_steps": self.agent.learner.gradient_steps,
            "wall_s": round(wall_s, 3),
            "train_s": round(wall_s - self.eval_seconds, 3),
            "steps_per_s": round((self.agent.env_steps - self.start_step) / wall_s, 1) if wall_s > 0 else None,
            "best_eval_return": None if math.isinf(self.best_eval_return) else self.best_eval_return,
            "target_return": self.target_return,
            "solved_at_step": self.solved_at_step,
            "solved_at_s": None if self.solved_at_s is None else round(self.solved_at_s, 3),
            "collapses": len(self.collapses),
            **atari_summary(config.env_id, None if math.isinf(self.best_eval_return) else self.best_eval_return),
        }
