"""Stacked networks: P members computed together give each member's own outputs and gradients."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch

from dqnlab.config import NetworkConfig
from dqnlab.networks import build_q_network
from dqnlab.networks.flat import flatten_parameters
from dqnlab.networks.stacked import stack_modules, stacked_forward, stacked_tensors

VECTOR = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
FRAMES = gym.spaces.Box(0, 255, (4, 44, 44), np.uint8)
HEADS = {
    "q": NetworkConfig(hidden_sizes=(16, 16)),
    "dueling": NetworkConfig(hidden_sizes=(16,), dueling=True),
    "dueling-hidden": NetworkConfig(hidden_sizes=(16,), dueling=True, dueling_hidden=8),
    "c51-noisy-dueling": NetworkConfig(hidden_sizes=(16,), dueling=True, noisy=True, distributional="c51", atoms=5),
    "qr": NetworkConfig(hidden_sizes=(16,), distributional="qr", quantiles=3),
}


def _members(config: NetworkConfig, space: gym.spaces.Box, count: int = 3) -> list[torch.nn.Module]:
    members = []
    for seed in range(count):
        torch.manual_seed(seed)
        network = build_q_network(config, space, num_actions=2)
        network.reset_noise()
        members.append(network)
    return members


def _check(members: list[torch.nn.Module], obs: torch.Tensor) -> None:
    """Outputs and gradients of the stacked members equal each member's own, bit for bit."""
    originals = [{k: v.clone() for k, v in member.state_dict().items()} for member in members]
    stacked = stack_modules(members, gradients=True)
    for member, original in zip(members, originals, strict=True):  # stacking keeps every member's values
        assert all(torch.equal(member.state_dict()[k], v) for k, v in original.items())
    output = stacked_forward(members[0], stacked_tensors(stacked), obs)
    (output.q_values**2).sum().backward()
    gradient = stacked.parameters_PD.grad
    assert gradient is not None
    for index, member in enumerate(members):
        own = member(obs[index])
        assert torch.equal(output.q_values[index], own.q_values)
        parameters = list(member.parameters())
        own_gradients = torch.autograd.grad((own.q_values**2).sum(), parameters)
        assert torch.equal(gradient[index], torch.cat([g.reshape(-1) for g in own_gradients]))


@pytest.mark.parametrize("name", HEADS)
def test_stacked_mlp_networks_compute_each_members_outputs_and_gradients(name) -> None:
    _check(_members(HEADS[name], VECTOR), torch.randn(3, 7, 4))


def test_stacked_nature_cnns_compute_each_members_outputs_and_gradients() -> None:
    members = _members(NetworkConfig(q_function="cnn"), FRAMES, count=2)
    _check(members, torch.randint(0, 256, (2, 3, 4, 44, 44), dtype=torch.uint8))


@pytest.mark.parametrize(
    ("observation_size", "actions", "dueling"),
    [(4, 2, False), (6, 3, False), (4, 2, True)],
    ids=["cartpole", "acrobot", "dueling"],
)
def test_acting_on_one_observation_per_member_gives_each_members_own_values(observation_size, actions, dueling) -> None:
    """One env per member against single runs' own networks: products of one row, which PyTorch
    batches with a loop of its own, and weights placed at other alignments than a single run's
    buffer, both rounded unlike the single run; a last-bit difference can flip a near-tied action."""
    config = NetworkConfig(hidden_sizes=(64, 64), dueling=dueling)
    members, singles = _members_and_single_runs(config, observation_size, actions, count=10)
    stacked = stack_modules(members, gradients=True)
    obs = torch.randn(10, 50, 1, observation_size)
    with torch.no_grad():
        for step in range(50):
            q_values = stacked_forward(members[0], stacked_tensors(stacked), obs[:, step]).q_values
            for index, single in enumerate(singles):
                assert torch.equal(q_values[index], single(obs[index, step]).q_values), (step, index)


def _members_and_single_runs(
    config: NetworkConfig, observation_size: int, actions: int, count: int
) -> tuple[list[torch.nn.Module], list[torch.nn.Module]]:
    """`count` networks to stack, and a copy of each in its own flat buffer, as a single run's learner keeps it."""
    space = gym.spaces.Box(-1.0, 1.0, (observation_size,), np.float32)
    members, singles = [], []
    for seed in range(count):
        torch.manual_seed(seed)
        members.append(build_q_network(config, space, actions))
        singles.append(copy.deepcopy(members[-1]))
        flatten_parameters(singles[-1], gradients=True)
    return members, singles


@pytest.mark.parametrize("rows", [1, 32, 256])
def test_the_running_members_of_a_population_compute_as_their_single_runs(rows) -> None:
    """Stopped members are left out of the stacked pass; the others' weights keep their single runs'
    alignment there (a dueling head's advantage weights start 65 floats after its value weights)."""
    config = NetworkConfig(hidden_sizes=(64, 64), dueling=True)
    members, singles = _members_and_single_runs(config, 4, 3, count=5)
    stacked = stack_modules(members, gradients=True)
    running = [1, 2, 4]
    obs = torch.randn(len(running), rows, 4)
    q_values = stacked_forward(members[0], stacked_tensors(stacked, running), obs).q_values
    (q_values**2).sum().backward()
    gradient = stacked.parameters_PD.grad
    assert gradient is not None and not gradient[[0, 3]].any()  # the stopped members' rows get no gradient
    for row, member in enumerate(running):
        single = singles[member]
        own = single(obs[row]).q_values
        assert torch.equal(q_values[row], own)
        own_gradients = torch.autograd.grad((own**2).sum(), list(single.parameters()))
        assert torch.equal(gradient[member], torch.cat([g.reshape(-1) for g in own_gradients]))


def test_members_are_views_of_their_rows() -> None:
    members = _members(HEADS["q"], VECTOR, count=2)
    stacked = stack_modules(members, gradients=True)
    with torch.no_grad():
        stacked.parameters_PD[1].add_(1.0)
    assert torch.equal(members[1].torso.layers[0].bias, stacked_tensors(stacked)["torso.layers.0.bias"][1])
    members[0].load_state_dict({k: torch.zeros_like(v) for k, v in members[0].state_dict().items()})
    assert not stacked.parameters_PD[0].any() and stacked.parameters_PD[1].any()


def test_members_of_different_architectures_do_not_stack() -> None:
    with pytest.raises(ValueError, match="one network architecture"):
        stack_modules([*_members(HEADS["q"], VECTOR, 1), *_members(HEADS["dueling"], VECTOR, 1)], gradients=False)
