"""How a run collects experience and samples it back: one protocol, with local vector envs feeding a
replay memory here and Ray actors feeding replay shards in `distributed/apex.py`.

The training loop (loop.py) is written once against `Collector`; what differs between a
single-process and a distributed run is only where transitions come from and where they are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from dqnlab.envs import finished_episodes, make_vector_env, real_next_observations
from dqnlab.envs.state import restore_vector_env_state, vector_env_state
from dqnlab.errors import CheckpointError
from dqnlab.schedules import epsilon_at
from dqnlab.types import Batch

if TYPE_CHECKING:
    from dqnlab.agent import Agent
    from dqnlab.replay import ReplayMemory


@dataclass(frozen=True)
class Chunk:
    """Experience that reached replay: `steps` env steps (all envs counted), the episodes they finished
    as (return, length), and the epsilon they were collected with, for lane `lane` (a population's
    member; a single run is lane 0)."""

    steps: int
    episodes: list[tuple[float, int]]
    epsilon: float
    lane: int = 0


class EnvStepFailed(Exception):
    """An env raised while stepping; the loop turns it into one line with a resume hint."""

    def __init__(self, cause: Exception, lane: int = 0) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.lane = lane


class Collector(Protocol):
    """Where a run's experience comes from and is kept."""

    @property
    def updates_per_round(self) -> int | None:
        """Gradient steps the loop may take between two `collect` calls; None = all that are owed."""

    @property
    def origin(self) -> tuple[int, int]:
        """(env steps, gradient steps) of the agent when this collector's replay began: learning starts
        `learning.learning_starts` env steps after it (a loaded agent refills its replay first)."""

    def start(self, state: dict[str, Any] | None) -> None:
        """Opens envs or actors; `state` is this collector's part of a checkpoint when resuming."""

    def collect(self, learning_owed: bool) -> list[Chunk]:
        """The experience ready now: may be empty while `learning_owed` (the loop then learns)."""

    def sample(self, batch_size: int) -> Batch | None:
        """A batch from replay, or None when none is ready yet."""

    def update_priorities(self, batch: Batch, priorities: np.ndarray) -> None:
        """New priorities [B] for the transitions of `batch`, the last batch sampled."""

    def after_gradient_step(self, gradient_steps: int) -> None:
        """Called after every finite gradient step (Ape-X publishes weights here)."""

    def stop_lane(self, lane: int) -> None:
        """Lane `lane` stopped early: collect nothing more for it (a single run ends with its lane)."""

    def state_dict(self) -> dict[str, Any]: ...

    def summary(self) -> dict[str, Any]:
        """Entries this way of collecting adds to summary.json."""

    def close(self) -> None: ...


class LocalCollector:
    """`config.num_envs` envs in this process, stepped epsilon-greedily one vector step per `collect`,
    their transitions added to a replay memory. The agent keeps it between `learn` calls, so a second
    call goes on with the same replay and episodes."""

    updates_per_round: int | None = None

    def __init__(self, agent: Agent, replay: ReplayMemory, lane: int = 0) -> None:
        self.agent = agent
        self.lane = lane  # which member of a population this is; 0 in a single run
        self.config = agent.config
        self.replay = replay
        self.origin = (agent.env_steps, agent.learner.gradient_steps)
        self.envs: Any = None
        self.obs: np.ndarray | None = None  # the envs' current observations [N, *obs_shape]

    def start(self, state: dict[str, Any] | None) -> None:
        config = self.config
        if self.envs is not None and state is None:
            return  # a later `learn` call: the envs go on where they were
        self.envs = make_vector_env(config.env_id, config.num_envs, config.atari, True, config.env_kwargs)
        self.obs, _ = self.envs.reset(seed=config.seed)  # builds every wrapper's buffers
        if state is not None:
            try:
                self.replay.load_state_dict(state["replay"])
            except ValueError as exc:  # shapes and sizes; a missing key is a malformed state
                raise CheckpointError(f"the checkpoint's replay memory does not fit the run's config: {exc}") from None
            # envs whose state the checkpoint could not hold start a fresh episode
            restarted = restore_vector_env_state(self.envs, state["envs"], seed=config.seed + self.agent.env_steps)
            self.obs = np.array(state["obs"])  # off its memory map
            for index, first_obs in restarted.items():
                self.obs[index] = first_obs
            self.origin = tuple(state["origin"])

    def collect(self, learning_owed: bool) -> list[Chunk]:
        agent = self.agent
        assert self.obs is not None, "start() comes first"
        epsilon = epsilon_at(self.config, agent.env_steps, agent.episodes)
        actions = agent.explore_batch(self.obs, epsilon)
        return [self.step(actions, epsilon)]

    def step(self, actions: np.ndarray, epsilon: float) -> Chunk:
        """Steps the envs with `actions` [N], chosen with `epsilon`, and adds the step to replay."""
        assert self.obs is not None, "start() comes first"
        try:
            next_obs, rewards, terminated, truncated, infos = self.envs.step(actions)
        except Exception as exc:  # an env can fail in any way
            raise EnvStepFailed(exc, self.lane) from exc
        real_next_obs = real_next_observations(next_obs, terminated | truncated, infos)
        self.replay.add(self.obs, actions, rewards, real_next_obs, terminated, truncated)
        self.obs = next_obs
        return Chunk(len(actions), finished_episodes(infos), epsilon, self.lane)

    def sample(self, batch_size: int) -> Batch:
        return self.replay.sample(batch_size)

    def update_priorities(self, batch: Batch, priorities: np.ndarray) -> None:
        if batch.indices is not None:
            self.replay.update_priorities(batch.indices, priorities)

    def after_gradient_step(self, gradient_steps: int) -> None:
        pass

    def stop_lane(self, lane: int) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {
            "replay": self.replay.state_dict(),
            "envs": vector_env_state(self.envs),
            "obs": self.obs,
            "origin": list(self.origin),
        }

    def summary(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        if self.envs is not None:
            self.envs.close()
            self.envs = None
