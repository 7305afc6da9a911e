"""Where a run's parts are chosen from its config: the collector, and the replay memory it fills."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dqnlab.replay import build_replay
from dqnlab.training.collectors import Collector, LocalCollector

if TYPE_CHECKING:
    from dqnlab.agent import Agent


def build_collector(agent: Agent, steps: int, ray_address: str | None = None) -> Collector:
    """Ray actors with replay shards when `distributed.actors` > 0, else local vector envs with one
    replay memory, whose prioritized beta reaches 1 at the end of this run's `steps`."""
    config = agent.config
    if config.distributed.actors > 0:
        from dqnlab.distributed.apex import ApexCollector

        return ApexCollector(agent, steps, ray_address)
    replay = build_replay(config, agent.spaces.observation_space, agent.replay_rng, beta_steps=steps)
    return LocalCollector(agent, replay)
