"""Epsilon-greedy acting: the share of random actions at epsilon 0, 0.3 and 1 over many draws, and
that the greedy action is the argmax, for `epsilon_greedy` and for the agent's `explore_batch`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dqnlab import Agent
from dqnlab.acting import epsilon_greedy
from dqnlab.config import config_from_dict

N = 20_000  # draws; the share of random actions is then within 0.01 of its expectation (> 4 sigma)
A = 4


class FixedQ:
    """A Q "network" whose values are given per observation: obs [N, 1] holds a row index into `q_values_SA`."""

    def __init__(self, q_values_SA: np.ndarray) -> None:
        self.q_values_SA = torch.as_tensor(q_values_SA, dtype=torch.float32)
        self.calls = 0

    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.q_values_SA[obs[:, 0].long()]


def _states(count: int) -> tuple[FixedQ, np.ndarray, np.ndarray]:
    """Q values of 8 states with the greedy action at a different place in each; `count`
    observations cycling over them, and their greedy actions."""
    rng = np.random.default_rng(0)
    q_values_SA = rng.normal(size=(8, A))
    obs = (np.arange(count) % 8).astype(np.float32)[:, None]
    return FixedQ(q_values_SA), obs, q_values_SA.argmax(axis=1)[obs[:, 0].astype(int)]


def test_epsilon_zero_always_takes_the_argmax():
    network, obs, greedy = _states(N)
    assert len(set(greedy)) > 1  # the argmax is not always the same action
    actions = epsilon_greedy(network, obs, 0.0, A, np.random.default_rng(1), torch.device("cpu"))
    np.testing.assert_array_equal(actions, greedy)


@pytest.mark.parametrize("epsilon", [0.3, 1.0])
def test_epsilon_is_the_share_of_uniformly_random_actions(epsilon):
    """A random action is greedy one time in A, so the share of non-greedy actions is epsilon (A-1)/A,
    and each non-greedy action comes up epsilon/A of the time."""
    network, obs, greedy = _states(N)
    actions = epsilon_greedy(network, obs, epsilon, A, np.random.default_rng(2), torch.device("cpu"))
    assert actions.shape == (N,) and actions.dtype.kind == "i"
    assert 0 <= actions.min() and actions.max() < A
    assert np.mean(actions != greedy) == pytest.approx(epsilon * (A - 1) / A, abs=0.01)
    for action in range(A):
        chosen_when_not_greedy = np.mean((actions == action) & (greedy != action)) / np.mean(greedy != action)
        assert chosen_when_not_greedy == pytest.approx(epsilon / A, abs=0.015), action


def test_epsilon_one_never_runs_the_network():
    network, obs, _ = _states(100)
    epsilon_greedy(network, obs, 1.0, A, np.random.default_rng(3), torch.device("cpu"))
    assert network.calls == 0


def _agent() -> Agent:
    values = {"env_id": "CartPole-v1", "device": "cpu", "tensorboard": False, "network": {"hidden_sizes": [16]}}
    return Agent(config_from_dict(values))


def test_explore_batch_is_epsilon_greedy_on_the_agents_network():
    agent = _agent()
    obs = np.random.default_rng(4).normal(size=(N, 4)).astype(np.float32)
    with torch.no_grad():
        greedy = agent.q_network(torch.as_tensor(obs)).q_values.argmax(dim=1).numpy()
    assert 0.05 < greedy.mean() < 0.95  # both actions are greedy somewhere
    np.testing.assert_array_equal(agent.explore_batch(obs, 0.0), greedy)
    for epsilon in (0.3, 1.0):  # two actions: a random one differs from the greedy one half the time
        assert np.mean(agent.explore_batch(obs, epsilon) != greedy) == pytest.approx(epsilon / 2, abs=0.01)
