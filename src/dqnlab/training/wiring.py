"""How a run's parts are built from its config, in one place (as dqn_zoo's `main` does): the Q-network
and its learner; the replay memory and the collector that fills it. Schedules (epsilon, beta, learning
rate) are pure functions of the config and the step counters (schedules.py, replay/prioritized.py).

`learning.gamma` reaches the TD target in three hops: `build_replay` gives it to the n-step
accumulator, which stores each transition's discount (gamma^k, 0 after a termination), which the
learner's target multiplies into the bootstrapped value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gymnasium as gym
import torch

from dqnlab.config import Config
from dqnlab.learner import DQNLearner
from dqnlab.networks import build_q_network
from dqnlab.replay import build_replay
from dqnlab.training.collectors import Collector, LocalCollector

if TYPE_CHECKING:
    from dqnlab.agent import Agent


def build_learner(
    config: Config, observation_space: gym.spaces.Box, num_actions: int, device: torch.device
) -> DQNLearner:
    """The online Q-network for `config.network`, its target copy and optimizer."""
    q_network = build_q_network(config.network, observation_space, num_actions)
    return DQNLearner(config.learning, q_network, device)


def build_collector(agent: Agent, steps: int, ray_address: str | None = None) -> Collector:
    """Ray actors with replay shards when `distributed.actors` > 0, else local vector envs with one
    replay memory, whose prioritized beta reaches 1 at the end of this run's `steps`."""
    config = agent.config
    if config.distributed.actors > 0:
        from dqnlab.distributed.apex import ApexCollector

        return ApexCollector(agent, steps, ray_address)
    replay = build_replay(config, agent.spaces.observation_space, agent.replay_rng, beta_steps=steps)
    return LocalCollector(agent, replay)
