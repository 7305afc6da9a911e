"""The Ray actors of Ape-X: an actor that collects experience, and a shard of replay.

Both are plain classes; `apex.py` turns them into Ray actors with `ray.remote(...)`, so this
module imports without Ray (the actor imports it only where it must, to pull weights).

Ape-X (Horgan et al. 2018, Algorithm 1): each actor steps its own envs with its own epsilon,
turns steps into n-step transitions with an `NStepAccumulator`, gives them initial priorities
from its copy of the networks (`batch_priorities`, the learner's own formula) and sends them in
batches to replay; it pulls newer weights when the learner has published some.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from typing import Any

import numpy as np
import torch

from dqnlab.acting import epsilon_greedy
from dqnlab.config import Config
from dqnlab.envs import env_spaces, finished_episodes, make_vector_env, real_next_observations
from dqnlab.learner import batch_priorities
from dqnlab.networks import build_q_network
from dqnlab.replay import NStepAccumulator, ReplayMemory, RingStorage, Transitions, build_sampler
from dqnlab.types import Batch


class ApexActor:
    """One actor: `config.num_envs` envs, epsilon `epsilon`, and a CPU copy of the online and target networks.

    The driver calls `collect` again and again. Each call first loads the newest published
    weights if their version is newer than the actor's, then steps the envs until at least
    `distributed.send_every` transitions are complete, and sends them to a replay shard with
    their priorities. Only one send is in flight per actor: the next call waits for the previous
    one, which is replay's back-pressure on fast actors.
    """

    def __init__(self, config: Config, index: int, epsilon: float, shard_names: list[str]) -> None:
        import ray

        torch.set_num_threads(1)  # an actor's forward passes are small; one thread per actor process
        self.config = config
        self.index = index
        self.epsilon = epsilon
        # Shards are looked up by name, not passed as handles: Ray restarts an actor reliably only
        # when its constructor arguments hold no object references (ray-project/ray#53727).
        self.shards = [ray.get_actor(name) for name in shard_names]
        self.device = torch.device("cpu")
        # An actor that Ray restarts after a crash starts from fresh seeds, not from the episodes it already played.
        restarted = ray.get_runtime_context().was_current_actor_reconstructed
        seeds = np.random.SeedSequence(None if restarted else [config.seed, index])
        env_seed, acting_seed = seeds.spawn(2)
        self.rng = np.random.default_rng(acting_seed)
        self.envs = make_vector_env(
            config.env_id, config.num_envs, config.atari, training=True, env_kwargs=config.env_kwargs
        )
        spaces = env_spaces(config.env_id, config.atari, config.env_kwargs)
        self.num_actions = int(spaces.action_space.n)
        torch.manual_seed(int(env_seed.generate_state(1)[0]))
        self.online = build_q_network(config.network, spaces.observation_space, self.num_actions)
        self.target = copy.deepcopy(self.online)
        self.online.requires_grad_(False)
        self.target.requires_grad_(False)
        self.accumulator = NStepAccumulator(config.replay.n_step, config.learning.gamma, config.num_envs)
        self.obs, _ = self.envs.reset(seed=int(env_seed.generate_state(1)[0]))
        self.version = -1  # version of the weights held; -1 = none yet
        self.sends = 0
        self.pending: Any = None  # the last send to replay, awaited before the next

    def collect(self, version: int, weights_box: list[Any]) -> dict[str, Any]:
        """Collects and sends one batch; returns what the driver logs.

        `weights_box` is [ObjectRef] of the newest published weights: wrapped in a list so that
        Ray hands over the reference, and the actor fetches the weights only when `version` is new.
        """
        import ray

        if version > self.version:
            weights = ray.get(weights_box[0])
            self.online.load_state_dict(weights["online"])
            self.target.load_state_dict(weights["target"])
            self.version = version
        parts: list[Transitions] = []
        complete = steps = 0
        episodes: list[tuple[float, int]] = []
        while complete < self.config.distributed.send_every:
            self.online.reset_noise()  # noisy nets: fresh noise per acting step, as in the single-process loop
            actions = epsilon_greedy(self.online, self.obs, self.epsilon, self.num_actions, self.rng, self.device)
            next_obs, rewards, terminated, truncated, infos = self.envs.step(actions)
            real_next_obs = real_next_observations(next_obs, terminated | truncated, infos)
            transitions = self.accumulator.add(self.obs, actions, rewards, real_next_obs, terminated, truncated)
            self.obs = next_obs
            steps += len(actions)
            episodes += finished_episodes(infos)
            if len(transitions.actions):
                parts.append(transitions)
                complete += len(transitions.actions)
        batch = Transitions(*(np.concatenate(arrays) for arrays in zip(*parts, strict=True)))
        errors = None
        if self.config.replay.prioritized:
            as_batch = Batch(batch.obs, batch.actions, batch.rewards, batch.next_obs, batch.discounts)
            errors = batch_priorities(self.online, self.target, as_batch, self.config.learning, self.device)
        if self.pending is not None:
            ray.get(self.pending)
        shard = self.shards[(self.index + self.sends) % len(self.shards)]
        self.pending = shard.add.remote(batch, errors)
        self.sends += 1
        return {
            "index": self.index,
            "steps": steps,
            "episodes": episodes,
            "epsilon": self.epsilon,
            "version": self.version,
            "pid": os.getpid(),
        }


class ReplayShard:
    """A prioritized (or uniform) replay memory of `capacity` transitions, filled by actors.

    Transitions arrive complete, with their initial errors (`ReplayMemory.add_transitions`), so
    the shard's memory has no n-step accumulator; observations are stored whole, never as
    frame serials. Beta is annealed over `beta_steps` transitions received by this shard.
    """

    def __init__(
        self, config: Config, obs_shape: tuple[int, ...], obs_dtype: str, capacity: int, beta_steps: int, seed: int
    ) -> None:
        replay = dataclasses.replace(config.replay, capacity=capacity)
        storage = RingStorage(capacity, tuple(obs_shape), np.dtype(obs_dtype), replay.reserve_fraction)
        self.memory = ReplayMemory(storage, build_sampler(replay, np.random.default_rng(seed), beta_steps))

    def add(self, transitions: Transitions, errors: np.ndarray | None) -> int:
        self.memory.add_transitions(Transitions(*transitions), errors)
        return len(self.memory)

    def sample(self, batch_size: int, count: int = 1) -> tuple[list[Batch], float]:
        """`count` batches (none while empty), and this shard's weight for choosing among shards: its
        total priority when prioritized (so that shard then slot is drawn in proportion to priority),
        else its size. The batches are drawn one after the other, before any of their priority updates."""
        if len(self.memory) == 0:
            return [], 0.0
        return [self.memory.sample(batch_size) for _ in range(count)], self._weight()

    def _weight(self) -> float:
        sampler = self.memory.sampler
        tree = getattr(sampler, "tree", None)
        return tree.total if tree is not None else float(len(self.memory))

    def update_priorities(self, indices: np.ndarray, errors: np.ndarray) -> None:
        self.memory.update_priorities(indices, errors)

    def size(self) -> int:
        return len(self.memory)

    def state_dict(self) -> dict[str, object]:
        return self.memory.state_dict()

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.memory.load_state_dict(state)
