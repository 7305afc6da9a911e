"""Acting: epsilon-greedy action selection, batched over parallel envs."""

from __future__ import annotations

import numpy as np
import torch

from dqnlab.networks import QNetwork


@torch.no_grad()
def greedy_actions(q_network: QNetwork, obs: np.ndarray, device: torch.device) -> np.ndarray:
    """argmax_a Q(s, a) for a batch of observations [N, *obs_shape] -> [N]."""
    q_values_NA = q_network.q_values(torch.as_tensor(obs, device=device))
    return q_values_NA.argmax(dim=1).cpu().numpy()


def epsilon_greedy(
    q_network: QNetwork,
    obs: np.ndarray,
    epsilon: float,
    num_actions: int,
    rng: np.random.Generator,
    device: torch.device,
) -> np.ndarray:
    """A uniformly random action with probability epsilon, else the greedy one, per env.

    The network is only run when at least one env acts greedily.
    """
    count = len(obs)
    explore = rng.random(count) < epsilon
    actions = rng.integers(0, num_actions, size=count)
    if not explore.all():
        greedy = greedy_actions(q_network, obs, device)
        actions = np.where(explore, actions, greedy)
    return actions
