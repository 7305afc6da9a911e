"""Ape-X training on Ray (Horgan et al. 2018): N actors, sharded prioritized replay, one learner.

    dqnlab train CartPole-v1 --preset cartpole --actors 4 [--ray-address ADDR]

The learner runs in the driver process (on the GPU where there is one) in the one `TrainingLoop`,
with this module's `ApexCollector` as its collector: actors (actors.py) step their envs and send transitions with
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

import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np

from dqnlab.distributed import actor_epsilons, init_ray
from dqnlab.distributed.actors import ApexActor, ReplayShard
from dqnlab.errors import CheckpointError
from dqnlab.training.collectors import Chunk
from dqnlab.types import Batch

if TYPE_CHECKING:
    from dqnlab.agent import Agent

PREFETCH = 2  # sample requests kept in flight, so the learner rarely waits for replay
BATCHES_PER_CALL = 4  # batches per sample request, and their priority updates sent back as one call:
# a Ray round trip costs about 1-2 ms, as much as a small network's gradient step


class ApexCollector:
    """The collecting side of an Ape-X run, seen from the learner: starts Ray (or joins `ray_address`),
    the replay shards and the actors; hands the loop what the actors have sent, and batches from the
    shards. The learner takes one gradient step between two looks at the actors (`updates_per_round`)."""

    updates_per_round: int | None = 1

    def __init__(self, agent: Agent, steps: int, ray_address: str | None = None) -> None:
        self.agent = agent
        self.config = config = agent.config
        self.steps = steps
        self.origin = (agent.env_steps, agent.learner.gradient_steps)
        self.ray_address = ray_address
        self.ray: Any = None
        self.epsilons = actor_epsilons(config.distributed.actors, config.distributed.epsilon, config.distributed.alpha)
        self.actors: list[Any] = []
        self.shards: list[Any] = []
        self.shard_names: list[str] = []
        self.in_flight: dict[Any, int] = {}  # collect calls not yet answered -> actor index
        self.sample_calls: deque[tuple[int, Any]] = deque()  # (shard, sample request in flight)
        self.batches: deque[tuple[int, Batch]] = deque()  # (shard, batch) fetched, not yet learned from
        self.last_shard = 0  # the shard of the batch handed out last
        self.new_priorities: list[tuple[int, np.ndarray, np.ndarray]] = []  # (shard, slots, errors) to send
        self.shard_weights = np.ones(config.distributed.replay_shards)
        self.weights_version = 0
        self.weights_box: list[Any] = []
        self.actor_versions = [-1] * config.distributed.actors  # newest weights version each actor reported
        self.actor_pids: list[int | None] = [None] * config.distributed.actors
        self.actor_restarts = 0  # actors seen coming back in a new process
        self.first_data_at: float | None = None  # when the first batch of experience arrived
        self.first_data_step = 0
        self.first_update_at: float | None = None
        self.first_update_step = 0
        self.last_at = 0.0

    def start(self, state: dict[str, Any] | None) -> None:
        ray = self.ray = init_ray(self.ray_address)
        self._start_replay(ray)
        if state is not None:
            self._restore(ray, state)
        self._publish()
        self._start_actors(ray)
        self.in_flight = {
            actor.collect.remote(self.weights_version, self.weights_box): index
            for index, actor in enumerate(self.actors)
        }

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

    def _publish(self) -> None:
        """Puts the online and target weights in Ray's object store under a new version number."""
        learner = self.agent.learner
        weights = {
            "online": {name: value.detach().cpu() for name, value in learner.online.state_dict().items()},
            "target": {name: value.detach().cpu() for name, value in learner.target.state_dict().items()},
        }
        self.weights_version += 1
        self.weights_box = [self.ray.put(weights)]

    def collect(self, learning_owed: bool) -> list[Chunk]:
        """What the actors sent since the last call; waits up to 20 ms for some when nothing is owed
        to the learner. Each answered actor is sent its next `collect` call at once."""
        ray, in_flight = self.ray, self.in_flight
        ready, _ = ray.wait(list(in_flight), num_returns=len(in_flight), timeout=0 if learning_owed else 0.02)
        chunks = []
        for ref in ready:
            index = in_flight.pop(ref)
            chunks.append(self._on_collect(ray.get(ref)))
            in_flight[self.actors[index].collect.remote(self.weights_version, self.weights_box)] = index
        return chunks

    def _on_collect(self, stats: dict[str, Any]) -> Chunk:
        index = stats["index"]
        self.last_at = time.perf_counter()
        if self.first_data_at is None:
            self.first_data_at, self.first_data_step = self.last_at, self.agent.env_steps
        self.actor_versions[index] = max(self.actor_versions[index], stats["version"])
        if self.actor_pids[index] is not None and self.actor_pids[index] != stats["pid"]:
            self.actor_restarts += 1
        self.actor_pids[index] = stats["pid"]
        return Chunk(stats["steps"], stats["episodes"], stats["epsilon"])

    def _pick_shard(self) -> int:
        """A shard drawn in proportion to its total priority (its size when uniform): with a batch
        then drawn from it by priority, each transition's probability is its share of all priorities."""
        weights = self.shard_weights
        if len(weights) == 1:
            return 0
        if weights.sum() <= 0:
            return int(self.agent.replay_rng.integers(len(weights)))
        return int(self.agent.replay_rng.choice(len(weights), p=weights / weights.sum()))

    def sample(self, batch_size: int) -> Batch | None:
        """The next prefetched batch; None while the shards have none (the learner then waits for data)."""
        ray = self.ray
        while len(self.sample_calls) < PREFETCH:
            shard = self._pick_shard()
            self.sample_calls.append((shard, self.shards[shard].sample.remote(batch_size, BATCHES_PER_CALL)))
        if not self.batches:
            self._send_priorities()
            shard, ref = self.sample_calls.popleft()
            batches, weight = ray.get(ref)
            self.shard_weights[shard] = weight
            self.batches.extend((shard, batch) for batch in batches)
            if not self.batches:
                return None
        self.last_shard, batch = self.batches.popleft()
        # arrays from Ray's object store are read-only; torch wants to own writable ones
        return batch._replace(**{k: np.array(v) for k, v in batch._asdict().items() if isinstance(v, np.ndarray)})

    def update_priorities(self, batch: Batch, priorities: np.ndarray) -> None:
        """Queued, and sent to the shards one call each before the next sample request is read."""
        assert batch.indices is not None
        self.new_priorities.append((self.last_shard, batch.indices, priorities))

    def _send_priorities(self) -> None:
        """Sends the priorities of the batches learned from since the last call, one call per shard."""
        for shard, handle in enumerate(self.shards):
            mine = [(indices, errors) for where, indices, errors in self.new_priorities if where == shard]
            if mine:
                handle.update_priorities.remote(
                    np.concatenate([i for i, _ in mine]), np.concatenate([e for _, e in mine])
                )
        self.new_priorities.clear()

    def after_gradient_step(self, gradient_steps: int) -> None:
        """Publishes the weights every `distributed.publish_every` gradient steps."""
        if self.first_update_at is None:
            self.first_update_at, self.first_update_step = time.perf_counter(), gradient_steps - 1
        if gradient_steps % self.config.distributed.publish_every == 0:
            self._publish()

    def stop_lane(self, lane: int) -> None:
        pass  # one lane: the run ends with it

    def state_dict(self) -> dict[str, Any]:
        """The weights version and every shard's replay (the actors' envs and n-step queues are not saved)."""
        shards = self.ray.get([shard.state_dict.remote() for shard in self.shards])
        return {"weights_version": self.weights_version, "shards": shards, "origin": list(self.origin)}

    def _restore(self, ray: Any, state: dict[str, Any]) -> None:
        if "shards" not in state:
            raise CheckpointError("the checkpoint is not one of a distributed run")
        shard_states = state["shards"]
        if len(shard_states) != len(self.shards):
            raise CheckpointError(
                f"the checkpoint has {len(shard_states)} replay shards; the run has {len(self.shards)}"
            )
        ray.get(
            [
                shard.load_state_dict.remote(_in_memory(saved))
                for shard, saved in zip(self.shards, shard_states, strict=True)
            ]
        )
        self.weights_version = int(state["weights_version"])
        self.origin = tuple(state["origin"])

    def summary(self) -> dict[str, Any]:
        learner = self.agent.learner
        collect_s = self.last_at - self.first_data_at if self.first_data_at is not None else 0.0
        learn_s = self.last_at - self.first_update_at if self.first_update_at is not None else 0.0
        updates = learner.gradient_steps - self.first_update_step
        return {
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

    def close(self) -> None:
        ray = self.ray
        if ray is None:
            return
        if self.in_flight:  # let the last calls finish, so that killing the actors retries nothing
            ray.wait(list(self.in_flight), num_returns=len(self.in_flight), timeout=5.0)
        for handle in [*self.actors, *self.shards]:
            ray.kill(handle)


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
