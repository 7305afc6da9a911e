"""Ape-X training on Ray (Horgan et al. 2018): N actors, sharded prioritized replay, one learner.

    dqnlab train CartPole-v1 --preset cartpole --actors 4 [--ray-address ADDR]

The learner runs in the driver process (on the GPU where there is one) and is a `TrainingLoop`
whose collection is done elsewhere: actors (actors.py) step their envs and send transitions with
initial priorities to replay shards; the driver samples a shard in proportion to its total
priority, then a batch from it, updates, sends the new priorities back, and every
`distributed.publish_every` gradient steps publishes the online and target weights with
`ray.put`, under a version number the actors compare with theirs. Evaluation, logging, best.pt,
last.pt and summary.json are the single-process loop's own, so a distributed run directory
reads like any other.

Deviations from the paper, on purpose:
- The learner never replays more per env step than `learning.train_freq` / `gradient_steps`
  allow a single-process run (it waits for data instead); when actors outpace it, it simply
  runs flat out, as Ape-X's does. This keeps small machines from over-training on little data.
- Replay stores whole observations (no frame storage); Atari transitions cost about 56 KB.
- A priority update can land on a slot that was overwritten since the batch was sampled,
  because batches are prefetched; the new transition then gets a stale priority once.

Fault tolerance: actors and shards are created with `max_restarts=-1` and `max_task_retries=-1`,
so an actor that dies is restarted by Ray (with fresh env seeds) and its pending `collect` call
is retried there; a restarted shard comes back empty and refills. A checkpoint holds the learner
(networks, optimizer, counters, evaluation state) and every shard's replay `state_dict`;
`dqnlab train --resume RUN_DIR` continues from it. The actors' envs and n-step queues are not
saved: they start new episodes, so a resumed distributed run is not bit-identical (an
asynchronous one never is).
"""

from __future__ import annotations

import math
import time
import uuid
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dqnlab.diagnostics.collapse import CollapseEvent
from dqnlab.diagnostics.logger import EpisodeRecord
from dqnlab.distributed import actor_epsilons, init_ray
from dqnlab.distributed.actors import ApexActor, ReplayShard
from dqnlab.errors import CheckpointError, NonFiniteError, TrainingInterrupted
from dqnlab.training.loop import TrainingLoop
from dqnlab.training.observers import Observer
from dqnlab.training.resume import (
    LOOP_FIELDS,
    _load_networks,
    learner_state,
    on_nonfinite_loss,
    parameters_finite,
    resume_command,
)
from dqnlab.training.snapshot import write_snapshot

if TYPE_CHECKING:
    from dqnlab.agent import Agent

PREFETCH = 2  # sample requests kept in flight, so the learner rarely waits for replay
BATCHES_PER_CALL = 4  # batches per sample request, and their priority updates sent back as one call:
# a Ray round trip costs about 1-2 ms, as much as a small network's gradient step


class ApexLoop(TrainingLoop):
    """The learner's side of an Ape-X run: starts Ray (or joins `ray_address`), the replay shards and
    the actors, then learns from what they send until `steps` env steps have been collected."""

    def __init__(
        self,
        agent: Agent,
        steps: int,
        run_dir: str | Path | None,
        progress: bool,
        observers: list[Observer] | None = None,
        resume: tuple[dict[str, Any], dict[str, Any]] | None = None,
        ray_address: str | None = None,
    ) -> None:
        super().__init__(agent, steps, run_dir, progress, observers, resume)
        self.ray_address = ray_address
        self.epsilons = actor_epsilons(
            self.config.distributed.actors, self.config.distributed.epsilon, self.config.distributed.alpha
        )
        self.actors: list[Any] = []
        self.shards: list[Any] = []
        self.shard_names: list[str] = []
        self.in_flight: dict[Any, int] = {}  # collect calls not yet answered -> actor index
        self.sample_calls: deque[tuple[int, Any]] = deque()  # (shard, sample request in flight)
        self.batches: deque[tuple[int, Any]] = deque()  # (shard, batch) fetched, not yet learned from
        self.new_priorities: list[tuple[int, np.ndarray, np.ndarray]] = []  # (shard, slots, errors) to send
        self.shard_weights = np.ones(self.config.distributed.replay_shards)
        self.weights_version = 0
        self.weights_box: list[Any] = []
        self.actor_versions = [-1] * self.config.distributed.actors  # newest weights version each actor reported
        self.actor_pids: list[int | None] = [None] * self.config.distributed.actors
        self.actor_restarts = 0  # actors seen coming back in a new process
        self.first_data_at: float | None = None  # when the first batch of experience arrived
        self.first_data_step = 0
        self.first_update_at: float | None = None
        self.first_update_step = 0
        self.last_at = 0.0

    def _collect_and_learn(self, envs: Any, bar: Any) -> None:
        ray = init_ray(self.ray_address)
        try:
            self._start_replay(ray)
            if self.resume is not None:
                self._restore(ray, *self.resume)
                self.resume = None
                if self.checkpointer is not None:
                    self.checkpointer.last_step = self.agent.env_steps
                if bar is not None:
                    bar.update(self.agent.env_steps - self.start_step)
            elif self.checkpointer is not None:
                self._save_checkpoint(ray)  # so that a fault at any time leaves a checkpoint to resume
            self._publish(ray)
            self._start_actors(ray)
            self._run(ray, bar)
        finally:
            if self.in_flight:  # let the last calls finish, so that killing the actors retries nothing
                ray.wait(list(self.in_flight), num_returns=len(self.in_flight), timeout=5.0)
            for handle in [*self.actors, *self.shards]:
                ray.kill(handle)

    def _start_replay(self, ray: Any) -> None:
        config = self.config
        shards = config.distributed.replay_shards
        space = self.agent.spaces.observation_space
        shard_class = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(ReplayShard)
        # Replay lives next to the learner, which exchanges the most data with it.
        near_driver = _driver_node_strategy(ray)
        capacity = max(config.replay.capacity // shards, config.learning.batch_size)
        seeds = np.random.SeedSequence([config.seed, 1]).generate_state(shards)
        run_id = uuid.uuid4().hex[:12]  # names unique to this run, by which actors find the shards
        self.shard_names = [f"dqnlab-replay-{run_id}-{index}" for index in range(shards)]
        self.shards = [
            shard_class.options(scheduling_strategy=near_driver, name=name).remote(
                config, tuple(space.shape), np.dtype(space.dtype).str, capacity, max(self.steps // shards, 1), int(seed)
            )
            for name, seed in zip(self.shard_names, seeds, strict=True)
        ]

    def _start_actors(self, ray: Any) -> None:
        config = self.config
        actors = config.distributed.actors
        # A CPU each on a cluster; on a machine with fewer cores than actors, they share.
        cpus = min(1.0, float(ray.cluster_resources().get("CPU", 1.0)) / actors)
        actor_class = ray.remote(num_cpus=cpus, max_restarts=-1, max_task_retries=-1)(ApexActor)
        self.actors = [
            actor_class.remote(config, index, self.epsilons[index], self.shard_names) for index in range(actors)
        ]

    def _publish(self, ray: Any) -> None:
        """Puts the online and target weights in Ray's object store under a new version number."""
        learner = self.agent.learner
        weights = {
            "online": {name: value.detach().cpu() for name, value in learner.online.state_dict().items()},
            "target": {name: value.detach().cpu() for name, value in learner.target.state_dict().items()},
        }
        self.weights_version += 1
        self.weights_box = [ray.put(weights)]

    def _run(self, ray: Any, bar: Any) -> None:
        agent = self.agent
        end_step = self.start_step + self.steps
        eval_every = self.config.evaluation.every
        in_flight = self.in_flight = {
            actor.collect.remote(self.weights_version, self.weights_box): index
            for index, actor in enumerate(self.actors)
        }
        started = time.perf_counter()
        while agent.env_steps < end_step:
            learn = self._may_learn()
            ready, _ = ray.wait(list(in_flight), num_returns=len(in_flight), timeout=0 if learn else 0.02)
            for ref in ready:
                index = in_flight.pop(ref)
                previous_step = agent.env_steps
                self._on_collect(ray.get(ref), bar)
                in_flight[self.actors[index].collect.remote(self.weights_version, self.weights_box)] = index
                due = eval_every > 0 and agent.env_steps // eval_every > previous_step // eval_every
                if due or agent.env_steps >= end_step:
                    train_s = time.perf_counter() - started - self.eval_seconds
                    if self._evaluate_and_decide_stop(train_s):
                        return
                self._after_collect(ray, previous_step)
                if agent.env_steps >= end_step:
                    return
            if learn:
                self._learn_once(ray)

    def _may_learn(self) -> bool:
        """Whether the learner may take a gradient step: past `learning_starts`, and not ahead of the
        replay ratio a single-process run would have at this many env steps."""
        learning, steps = self.config.learning, self.agent.env_steps
        if steps < learning.learning_starts:
            return False
        allowed = ((steps - learning.learning_starts) // learning.train_freq + 1) * learning.gradient_steps
        return self.agent.learner.gradient_steps < allowed

    def _on_collect(self, stats: dict[str, Any], bar: Any) -> None:
        agent, index = self.agent, stats["index"]
        now = time.perf_counter()
        if self.first_data_at is None:
            self.first_data_at, self.first_data_step = now, agent.env_steps
        self.last_at = now
        agent.env_steps += stats["steps"]
        self.actor_versions[index] = max(self.actor_versions[index], stats["version"])
        if self.actor_pids[index] is not None and self.actor_pids[index] != stats["pid"]:
            self.actor_restarts += 1
        self.actor_pids[index] = stats["pid"]
        for episode_return, episode_length in stats["episodes"]:
            agent.episodes += 1
            record = EpisodeRecord(
                step=agent.env_steps,
                episode=agent.episodes,
                episode_return=episode_return,
                length=episode_length,
                epsilon=stats["epsilon"],
                loss=self.loss_sum / self.update_count if self.update_count else math.nan,
                q_mean=self.q_sum / self.update_count if self.update_count else math.nan,
            )
            self.loss_sum = self.q_sum = 0.0
            self.update_count = 0
            for observer in self.observers:
                observer.on_episode(record)
            if bar is not None:
                bar.set_postfix(ret=f"{episode_return:.1f}", best_eval=f"{self.best_eval_return:.1f}", refresh=False)
        if bar is not None:
            bar.update(stats["steps"])

    def _pick_shard(self) -> int:
        """A shard drawn in proportion to its total priority (its size when uniform): with a batch
        then drawn from it by priority, each transition's probability is its share of all priorities."""
        weights = self.shard_weights
        if len(weights) == 1:
            return 0
        if weights.sum() <= 0:
            return int(self.agent.replay_rng.integers(len(weights)))
        return int(self.agent.replay_rng.choice(len(weights), p=weights / weights.sum()))

    def _learn_once(self, ray: Any) -> None:
        agent, learning = self.agent, self.config.learning
        while len(self.sample_calls) < PREFETCH:
            shard = self._pick_shard()
            self.sample_calls.append((shard, self.shards[shard].sample.remote(learning.batch_size, BATCHES_PER_CALL)))
        if not self.batches:
            self._send_priorities()
            shard, ref = self.sample_calls.popleft()
            batches, weight = ray.get(ref)
            self.shard_weights[shard] = weight
            self.batches.extend((shard, batch) for batch in batches)
            if not self.batches:
                return
        shard, batch = self.batches.popleft()
        # arrays from Ray's object store are read-only; torch wants to own writable ones
        batch = type(batch)(*(np.array(field) if isinstance(field, np.ndarray) else field for field in batch))
        target_updates = agent.learner.target_updates
        stats = agent.learner.update(batch)
        if self.first_update_at is None:
            self.first_update_at, self.first_update_step = time.perf_counter(), agent.learner.gradient_steps - 1
        if not math.isfinite(stats.loss):
            on_nonfinite_loss(self, stats.loss)  # raises, or rolls the networks back
            return
        self.new_priorities.append((shard, batch.indices, stats.priorities))
        self.loss_sum += stats.loss
        self.q_sum += stats.q_mean
        self.update_count += 1
        if agent.learner.target_updates != target_updates:
            for observer in self.observers:
                observer.on_target_update(agent.env_steps)
        if agent.learner.gradient_steps % self.config.distributed.publish_every == 0:
            self._publish(ray)

    def _send_priorities(self) -> None:
        """Sends the priorities of the batches learned from since the last call, one call per shard."""
        for shard, handle in enumerate(self.shards):
            mine = [(indices, errors) for where, indices, errors in self.new_priorities if where == shard]
            if mine:
                handle.update_priorities.remote(
                    np.concatenate([i for i, _ in mine]), np.concatenate([e for _, e in mine])
                )
        self.new_priorities.clear()

    # checkpoints

    def _after_collect(self, ray: Any, previous_step: int) -> None:
        """Checkpoints when one is due or a stop was asked for (as `Checkpointer.after_step`)."""
        checkpointer = self.checkpointer
        if checkpointer is None:
            return
        step, every = self.agent.env_steps, self.config.checkpoint.every
        if checkpointer.stop_signal is not None:
            import signal

            folder = self._save_checkpoint(ray)
            name = signal.Signals(checkpointer.stop_signal).name
            message = (
                f"{name} at env step {step}: checkpoint written to {folder}; "
                f"resume with: {resume_command(checkpointer.run_dir)}"
            )
            raise TrainingInterrupted(message, 128 + checkpointer.stop_signal)
        if every > 0 and step // every > previous_step // every:
            self._save_checkpoint(ray)

    def _save_checkpoint(self, ray: Any) -> Path:
        """The learner's state and every shard's replay, as one snapshot (training/snapshot.py)."""
        assert self.checkpointer is not None
        agent, learner = self.agent, self.agent.learner
        step = agent.env_steps
        if not parameters_finite(learner.online):
            raise NonFiniteError(
                f"non-finite network parameters at env step {step}: not checkpointed, "
                f"training stopped; {self.checkpointer.resume_hint()}"
            )
        tree, tensors = learner_state(self)
        tree["distributed"] = {
            "weights_version": self.weights_version,
            "shards": ray.get([shard.state_dict.remote() for shard in self.shards]),
        }
        folder = write_snapshot(self.checkpointer.directory, step, tree, tensors, self.config.checkpoint.keep_last)
        self.checkpointer.last_step = step
        return folder

    def _restore(self, ray: Any, tree: dict[str, Any], tensors: dict[str, Any]) -> None:
        agent, learner = self.agent, self.agent.learner
        source = f"checkpoint of step {tree['counters']['env_steps']}"
        if "distributed" not in tree:
            raise CheckpointError(f"{source} is not one of a distributed run")
        if tuple(tree["observation_shape"]) != agent.spaces.observation_space.shape:
            raise CheckpointError(f"{source} was saved for observations {tuple(tree['observation_shape'])}")
        _load_networks(self, tensors, source)
        counters = tree["counters"]
        agent.env_steps, agent.episodes = counters["env_steps"], counters["episodes"]
        learner.gradient_steps, learner.target_updates = counters["gradient_steps"], counters["target_updates"]
        shard_states = tree["distributed"]["shards"]
        if len(shard_states) != len(self.shards):
            raise CheckpointError(f"{source} has {len(shard_states)} replay shards; the run has {len(self.shards)}")
        ray.get(
            [
                shard.load_state_dict.remote(_in_memory(state))
                for shard, state in zip(self.shards, shard_states, strict=True)
            ]
        )
        self.weights_version = int(tree["distributed"]["weights_version"])
        for name in LOOP_FIELDS:
            setattr(self, name, tree["loop"][name])
        collapse = tree["collapse"]
        detector = self.collapse_detector
        detector.baseline, detector.best, detector.collapsed = (
            collapse["baseline"],
            collapse["best"],
            collapse["collapsed"],
        )
        self.collapses = [CollapseEvent(*event) for event in collapse["events"]]
        self.best_weights = tensors["best_weights"] or None

    def _summary(self, wall_s: float) -> dict[str, Any]:
        summary = super()._summary(wall_s)
        learner = self.agent.learner
        collect_s = self.last_at - self.first_data_at if self.first_data_at is not None else 0.0
        learn_s = self.last_at - self.first_update_at if self.first_update_at is not None else 0.0
        updates = learner.gradient_steps - self.first_update_step
        summary.update(
            {
                "actors": self.config.distributed.actors,
                "replay_shards": self.config.distributed.replay_shards,
                "actor_epsilons": [round(epsilon, 6) for epsilon in self.epsilons],
                # from the first batch of experience on: Ray's start-up left out
                "actor_steps_per_s": round((self.agent.env_steps - self.first_data_step) / collect_s, 1)
                if collect_s > 0
                else None,
                "learner_updates_per_s": round(updates / learn_s, 1) if learn_s > 0 else None,
                "weights_version": self.weights_version,
                "actor_weight_versions": list(self.actor_versions),
                "actor_restarts": self.actor_restarts,
            }
        )
        return summary


def _driver_node_strategy(ray: Any) -> Any:
    """Soft affinity to the driver's node, where the learner runs."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=True)


def _in_memory(value: Any) -> Any:
    """A state tree with its memory-mapped arrays read into memory, to be sent to a replay actor."""
    if isinstance(value, dict):
        return {key: _in_memory(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return np.array(value)
    return value
