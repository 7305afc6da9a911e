"""Tabular Q-learning on Discrete-state envs: a table of n states (not a grid over the one-hot vector)
learns the toy-text tasks within a bounded budget.

Both use one table entry per (state, action), started at 0, updated by SGD on 0.5*δ² (the tabular
update Q(s, a) += α·δ per sampled transition) from replay, with the target refreshed every step.
"""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

from dqnlab import Agent
from dqnlab.config import Config, apply_overrides
from dqnlab.envs.factory import make_env

NOT_SLIPPERY = "dqnlab-test/FrozenLakeNotSlippery-v1"  # FrozenLake-v1's 4x4 map, moves as chosen


def tabular_config(env_id: str, seed: int, steps: int, gamma: float, epsilon: tuple[float, float]) -> Config:
    return apply_overrides(
        Config(),
        {
            "env_id": env_id,
            "seed": seed,
            "steps": steps,
            "device": "cpu",
            "tensorboard": False,
            "network": {"q_function": "table"},
            "learning": {
                "optimizer": "sgd",
                "loss": "mse",
                "lr": 2.0,  # per transition α = 2/32: a batch's mean gradient spreads the step over its 32
                "gamma": gamma,
                "batch_size": 32,
                "double": False,
                "target_update_interval": 1,
                "learning_starts": 32,
                "max_grad_norm": None,
            },
            "replay": {"capacity": 10_000},
            "exploration": {"start": epsilon[0], "end": epsilon[1], "decay_steps": steps},
            "evaluation": {"every": 0, "stop_at_target": False},
            "diagnostics": {"plot_every": 0},
        },
    )


def greedy_return(agent: Agent, env_id: str, max_steps: int = 100) -> float:
    """The return of one greedy episode, cut at `max_steps` (an unlearned greedy policy can loop forever)."""
    env = make_env(env_id)
    obs, _ = env.reset(seed=0)
    total = 0.0
    for _ in range(max_steps):
        obs, reward, terminated, truncated, _ = env.step(int(agent.act_batch(obs[None], 0.0)[0]))
        total += float(reward)
        if terminated or truncated:
            break
    return total


def test_a_discrete_env_gets_a_table_of_its_states() -> None:
    agent = Agent(tabular_config("CliffWalking-v1", 0, 100, 1.0, (0.1, 0.1)))
    assert agent.describe_q_function().startswith("table (a table of 48 states (one-hot)): 48 features x 4 actions")


@pytest.mark.slow
def test_tabular_q_reaches_the_goal_of_a_frozen_lake_that_does_not_slip() -> None:
    """Reward 1 only at the goal: ε stays 1 (Q-learning is off-policy), so random walks find the goal
    (6 times in 3,000 steps for seed 0); replay carries its value back to the start. The greedy
    policy then walks the 6-step path."""
    if NOT_SLIPPERY not in gym.registry:
        gym.register(
            NOT_SLIPPERY,
            "gymnasium.envs.toy_text.frozen_lake:FrozenLakeEnv",
            max_episode_steps=100,
            kwargs={"map_name": "4x4", "is_slippery": False},
        )
    agent = Agent(tabular_config(NOT_SLIPPERY, 0, 3_000, 0.9, (1.0, 1.0)))
    agent.learn()
    assert greedy_return(agent, NOT_SLIPPERY) == 1.0
    with torch.no_grad():
        start_values = agent.q_network(torch.eye(16)[:1]).q_values
    assert float(start_values.max()) == pytest.approx(0.9**5, abs=0.05)  # 6 steps to the goal: γ^5 at the start


@pytest.mark.slow
def test_tabular_q_walks_the_cliff_edge() -> None:
    """Rewards of -1 a step make Q = 0 optimistic, so ε = 0.1 is enough exploration; within 3,000 steps the
    greedy policy takes the optimal 13-step path along the cliff (return -13; the safe path scores -17)."""
    agent = Agent(tabular_config("CliffWalking-v1", 0, 3_000, 1.0, (0.1, 0.1)))
    agent.learn()
    assert greedy_return(agent, "CliffWalking-v1") == -13.0
