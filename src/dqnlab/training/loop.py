"""The training loop, written once: collect, learn, record episodes, evaluate, checkpoint.

Where experience comes from is a `Collector` (collectors.py: local vector envs and a replay memory;
distributed/apex.py: Ray actors and replay shards; population/collector.py: the envs of a seed
population, acted on in one batch). What a run keeps for itself (its state, run directory,
observers, evaluation, early stop, collapse handling) is its `Lane` (lane.py). Everything else
is here, once: how many gradient steps are owed, the learn step, and the order of events. A single
run is one lane; a seed population is P lanes stepped in lockstep, learning in one batched step.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dqnlab.config import LearningConfig
from dqnlab.diagnostics.logger import EpisodeRecord, EvalRecord
from dqnlab.errors import TrainingInterrupted
from dqnlab.training.checkpointing import restore_training_state, resume_command
from dqnlab.training.collectors import Chunk, Collector, EnvStepFailed, LocalCollector
from dqnlab.training.lane import Lane
from dqnlab.training.observers import Observer
from dqnlab.training.progress import Progress, ProgressMode, default_progress, make_progress
from dqnlab.types import Batch, UpdateStats

if TYPE_CHECKING:
    from dqnlab.agent import Agent
    from dqnlab.training.state import TrainingState

# One batched gradient step for every lane: a batch per lane (None for a masked lane) -> its stats.
LaneUpdate = Callable[[Sequence[Batch | None]], list[UpdateStats | None]]


def gradient_steps_due(env_steps: int, learning: LearningConfig, num_envs: int) -> int:
    """Gradient steps a run owes after `env_steps` env steps: `gradient_steps` for every `train_freq`
    env steps, counted from the last multiple of `num_envs` below `learning_starts` (the last env-step
    count a vector env passes through before learning starts). The one replay-ratio formula of dqnlab:
    a local run takes exactly these steps after each vector step; Ape-X's learner never runs ahead of them."""
    if env_steps < learning.learning_starts:
        return 0
    anchor = max(0, (learning.learning_starts - 1) // num_envs * num_envs)
    return learning.gradient_steps * (env_steps // learning.train_freq - anchor // learning.train_freq)


def lockstep_rounds(chunks: list[Chunk]) -> list[list[Chunk]]:
    """Groups a collection's chunks into rounds of at most one chunk per lane, in order: a
    single-lane collector's chunks are one round each; a population's one vector step is one round."""
    rounds: list[list[Chunk]] = []
    for chunk in chunks:
        if not rounds or any(other.lane == chunk.lane for other in rounds[-1]):
            rounds.append([])
        rounds[-1].append(chunk)
    return rounds


class TrainingLoop:
    """Runs `steps` env steps of DQN training for `agent`, writing to `run_dir` when given; or, with
    `TrainingLoop.of_lanes`, the lanes of a seed population in lockstep."""

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

        # a local collector stays with the agent, so that a later `learn` call goes on with its replay
        collector: Collector = agent.collector or build_collector(agent, steps, ray_address)
        keep_collector = resume is None and isinstance(collector, LocalCollector)
        agent.collector = collector if keep_collector else None
        lane = Lane(agent, steps, run_dir, collector, observers, resume)

        def update(batches: Sequence[Batch | None]) -> list[UpdateStats | None]:
            (batch,) = batches
            assert batch is not None, "a single run's lane never stops while it learns"
            return [agent.learner.update(batch)]

        self._setup([lane], collector, update, progress)
        self.keep_collector = keep_collector

    @classmethod
    def of_lanes(
        cls,
        lanes: list[Lane],
        collector: Collector,
        update: LaneUpdate,
        progress: bool | ProgressMode,
        resume_dir: Path | None,
    ) -> TrainingLoop:
        """A loop over several lanes fed by one `collector` and learning by one `update` of them all;
        `resume_dir` is what `dqnlab train --resume` takes to continue them."""
        loop = cls.__new__(cls)
        loop._setup(lanes, collector, update, progress, resume_dir)
        return loop

    def _setup(
        self,
        lanes: list[Lane],
        collector: Collector,
        update: LaneUpdate,
        progress: bool | ProgressMode,
        resume_dir: Path | None = None,
    ) -> None:
        self.lanes = lanes
        self.collector = collector
        self.update = update
        self.progress_mode: ProgressMode = default_progress() if progress is True else progress or "off"
        self.resume_dir = resume_dir
        self.keep_collector = False

    # A single run's parts, by the names callers know them by.
    @property
    def agent(self) -> Agent:
        return self.lanes[0].agent

    @property
    def state(self) -> TrainingState:
        return self.lanes[0].state

    @property
    def config(self) -> Any:
        return self.lanes[0].config

    @property
    def run_dir(self) -> Path | None:
        return self.lanes[0].run_dir

    @property
    def logger(self) -> Any:
        return self.lanes[0].logger

    @property
    def checkpointer(self) -> Any:
        return self.lanes[0].checkpointer

    @property
    def progress(self) -> Progress:
        """The display every lane reports to (the lanes share it)."""
        return self.lanes[0].progress

    def run(self) -> dict[str, Any]:
        """Trains every lane to its end; returns the first lane's summary (`summaries` holds all)."""
        for lane in self.lanes:
            if lane.run_dir is not None:
                lane.open_run_dir()
        started = time.perf_counter()
        for lane in self.lanes:
            lane.started = started
        try:
            checkpointer = self.lanes[0].checkpointer
            signals = checkpointer.stop_on_signals() if checkpointer else contextlib.nullcontext()
            with signals:
                self._start()
                self._train()
                for lane in self.lanes:
                    if lane.finished is None:
                        lane.save_final()
        finally:
            if not self.keep_collector:
                self.collector.close()
            for lane in self.lanes:
                if lane.finished is None:
                    lane.close_observers()
            self.progress.close()
        collector_summary = self.collector.summary()
        self.summaries = [
            lane.finish(lane.wall_s(), collector_summary) if lane.finished is None else lane.finished
            for lane in self.lanes
        ]
        return self.summaries[0]

    def _start(self) -> None:
        """Restores the lanes' checkpoints or starts fresh; a fresh run with a run directory
        checkpoints at once, so that a fault at any time leaves a checkpoint to resume from.
        Then the progress display starts."""
        resuming = self.lanes[0].resume is not None
        if not resuming:
            self.collector.start(None)
            for lane in self.lanes:
                if lane.checkpointer is not None:
                    lane.checkpointer.save()
        for lane in self.lanes:
            if lane.resume is None:
                continue
            restore_training_state(lane, *lane.resume)
            lane.resume = None  # the arrays it holds are no longer needed
            assert lane.checkpointer is not None
            lane.checkpointer.last_step = lane.agent.env_steps
        state, env_id = self.state, self.config.env_id
        display = make_progress(
            self.progress_mode,
            env_id if len(self.lanes) == 1 else f"{env_id} x{len(self.lanes)}",
            state.steps,
            state.start_step,
        )
        for lane in self.lanes:
            lane.progress = display
            lane.observers.append(ProgressFeed(display))
        display.advance(self.agent.env_steps)
        if resuming:
            where = self.run_dir if len(self.lanes) == 1 else self.resume_dir
            display.say(f"dqnlab: resuming {where} at env step {self.agent.env_steps:,} of {state.end_step:,}")

    def _active(self) -> list[Lane]:
        """The lanes that have env steps to go."""
        return [lane for lane in self.lanes if not lane.done]

    def _learning(self) -> list[Lane]:
        """The lanes that learn: all but those stopped early (a lane at its last step still learns)."""
        return [lane for lane in self.lanes if not lane.stopped]

    def _train(self) -> None:
        collector = self.collector
        while self._active():
            try:
                chunks = collector.collect(learning_owed=self._owed() > 0)
            except EnvStepFailed as exc:
                lane = self.lanes[exc.lane]
                raise lane.env_failure(exc.cause) from exc.cause
            if not chunks:
                self._learn()
                continue
            for round_chunks in lockstep_rounds(chunks):
                self._after_collection(round_chunks)
                if not self._active():
                    return

    def _after_collection(self, chunks: list[Chunk]) -> None:
        """A round of collection reached replay: the lanes advance, learn, record their episodes,
        evaluate when due (and may stop), and checkpoint when due or asked to stop."""
        lanes = [self.lanes[chunk.lane] for chunk in chunks]
        previous_steps = [lane.agent.env_steps for lane in lanes]
        for lane, chunk in zip(lanes, chunks, strict=True):
            lane.agent.env_steps += chunk.steps
        self._learn()
        for lane, chunk, previous_step in zip(lanes, chunks, previous_steps, strict=True):
            lane.record_episodes(chunk)
            eval_every = lane.config.evaluation.every
            due = eval_every > 0 and lane.agent.env_steps // eval_every > previous_step // eval_every
            if due or lane.agent.env_steps >= lane.state.end_step:
                train_s = lane.wall_s() - lane.state.eval_seconds
                if lane.evaluate_and_decide_stop(train_s):
                    self._stop(lane)
        self.progress.advance(max(lane.agent.env_steps for lane in lanes))
        self._checkpoint(lanes, previous_steps)

    def _stop(self, lane: Lane) -> None:
        """Masks a lane that stopped early: it collects and learns no more."""
        lane.stopped = True
        self.collector.stop_lane(self.lanes.index(lane))
        if len(self.lanes) > 1:  # a population member finishes now, so a resume finds it finished
            lane.save_final()
            lane.close_observers()
            lane.finish(lane.wall_s(), self.collector.summary())

    def _checkpoint(self, lanes: list[Lane], previous_steps: list[int]) -> None:
        """Checkpoints each running lane when due; on SIGINT/SIGTERM (caught by the first lane's
        checkpointer), every running lane, then stops."""
        first = self.lanes[0].checkpointer
        interrupted: TrainingInterrupted | None = None
        for lane, previous_step in zip(lanes, previous_steps, strict=True):
            if lane.checkpointer is None or lane.stopped:
                continue
            if first is not None and lane.checkpointer is not first:
                lane.checkpointer.stop_signal = first.stop_signal
            try:
                lane.checkpointer.after_step(previous_step)
            except TrainingInterrupted as exc:
                interrupted = exc
        if interrupted is not None and len(self.lanes) > 1:
            message = str(interrupted).split(": checkpoint written", 1)[0]
            message += f": every member checkpointed; resume with: {resume_command(self.resume_dir or Path('.'))}"
            raise TrainingInterrupted(message, interrupted.exit_code)
        if interrupted is not None:
            raise interrupted

    def _owed(self) -> int:
        """Gradient steps owed now by the replay ratio (`gradient_steps_due`), counted from the origin
        of the lane's collector; the running lanes of a population share one replay ratio and step
        count, so the first running lane's count."""
        learning = self._learning()
        if not learning:
            return 0
        agent = learning[0].agent
        origin_steps, origin_updates = learning[0].collector.origin
        due = gradient_steps_due(agent.env_steps - origin_steps, agent.config.learning, agent.config.num_envs)
        return origin_updates + due - agent.learner.gradient_steps

    def _learn(self) -> None:
        """Takes the owed gradient steps (at most the collector's `updates_per_round`), all lanes at once."""
        collector, learning = self.collector, self._learning()
        owed = self._owed()
        if collector.updates_per_round is not None:
            owed = min(owed, collector.updates_per_round)
        target_updates = [lane.agent.learner.target_updates for lane in learning]
        for _ in range(owed):
            running = [index for index, lane in enumerate(self.lanes) if not lane.stopped]
            batches: list[Batch | None] = [None] * len(self.lanes)
            for index in running:
                lane = self.lanes[index]
                batches[index] = lane.collector.sample(lane.config.learning.batch_size)
            if not running or any(batches[index] is None for index in running):
                break
            stats = self.update(batches)
            finite = False
            for index in running:
                lane, batch, lane_stats = self.lanes[index], batches[index], stats[index]
                assert batch is not None and lane_stats is not None
                if not math.isfinite(lane_stats.loss):
                    self._on_nonfinite_loss(lane, lane_stats.loss)  # raises, rolls back, or stops the lane
                    continue
                finite = True
                lane.collector.update_priorities(batch, lane_stats.priorities)
                lane.record_update(lane_stats.loss, lane_stats.q_mean)
            if finite:
                collector.after_gradient_step(self.lanes[running[0]].agent.learner.gradient_steps)
        for lane, before in zip(learning, target_updates, strict=True):
            if lane.agent.learner.target_updates != before:
                for observer in lane.observers:
                    observer.on_target_update(lane.agent.env_steps)

    def _on_nonfinite_loss(self, lane: Lane, loss: float) -> None:
        """A run rolls back (as configured) or stops; a population member does so alone."""
        if len(self.lanes) == 1:
            lane.on_nonfinite_loss(loss)  # raises, or rolls the networks back
            return
        try:
            lane.on_nonfinite_loss(loss)
        except Exception as exc:  # the member's one line; the population goes on without it
            lane.say(f"dqnlab: {exc}")
            self._stop(lane)


class ProgressFeed:
    """Passes a lane's episodes and evaluations on to the loop's progress display, which the loop
    (not the lane) closes: a population's lanes share one display."""

    def __init__(self, display: Progress) -> None:
        self.display = display

    def on_episode(self, record: EpisodeRecord) -> None:
        self.display.on_episode(record)

    def on_evaluation(self, record: EvalRecord) -> None:
        self.display.on_evaluation(record)

    def on_target_update(self, step: int) -> None:
        pass

    def close(self) -> None:
        pass
