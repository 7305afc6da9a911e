"""Centered RMSProp with ε under the square root (TensorFlow, optax, DeepMind's DQN), on the flat buffer."""

import copy
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from dqnlab.config import LearningConfig, NetworkConfig
from dqnlab.learner import DQNLearner
from dqnlab.networks import build_q_network
from dqnlab.networks.flat import flatten_parameters
from dqnlab.optimizers import CenteredRMSprop
from dqnlab.types import Batch

LR, GRADIENT = 2.5e-4, 1e-3  # Dopamine's DQN step size; a small, steady gradient


def _move_after(steps: int, optimizer_class, **settings) -> float:
    """How far a parameter at 0 moves after `steps` updates with the constant gradient GRADIENT."""
    parameter = torch.zeros(1, requires_grad=True)
    optimizer = optimizer_class([parameter], lr=LR, **settings)
    for _ in range(steps):
        parameter.grad = torch.full((1,), GRADIENT)
        optimizer.step()
    return -parameter.item()


def test_first_step_divides_by_the_root_of_variance_plus_eps():
    # m = 0.05 g, v = 0.05 g^2: v - m^2 = 0.0475e-6; sqrt(0.0475e-6 + 1e-5) = 3.16978e-3
    assert _move_after(1, CenteredRMSprop) == pytest.approx(2.5e-7 / math.sqrt(0.0475e-6 + 1e-5), rel=1e-6)
    assert _move_after(1, CenteredRMSprop) == pytest.approx(7.88698e-5, rel=1e-5)


def test_200_steps_of_a_constant_gradient_move_0_0158_not_0_97():
    """After t steps m = (1 - a) g and v = (1 - a) g^2, a = 0.95^t, so the variance is a (1 - a) g^2:
    the step is lr g / sqrt(a (1 - a) g^2 + eps), about lr g / sqrt(eps) = 7.9e-5 once a is small.
    PyTorch's RMSprop divides by sqrt(a (1 - a) g^2) + eps instead, which goes to eps."""
    hand_worked = sum(LR * GRADIENT / math.sqrt(0.95**t * (1 - 0.95**t) * GRADIENT**2 + 1e-5) for t in range(1, 201))
    assert hand_worked == pytest.approx(0.01577, abs=1e-5)
    assert _move_after(200, CenteredRMSprop) == pytest.approx(hand_worked, rel=1e-5)
    pytorch = _move_after(200, torch.optim.RMSprop, alpha=0.95, centered=True, eps=1e-5)
    assert pytorch == pytest.approx(0.970, abs=1e-3)  # the semantics it replaces


def test_learner_steps_the_flat_buffer_and_resumes_from_the_optimizer_state():
    """`rmsprop_centered` updates the learner's one flat parameter tensor, and a copy of its state
    continues exactly: what a checkpoint relies on."""
    config = LearningConfig(optimizer="rmsprop_centered", lr=LR)
    network = build_q_network(NetworkConfig(hidden_sizes=(8,)), gym.spaces.Box(-1, 1, (4,), np.float32), 2)
    learner = DQNLearner(config, network, torch.device("cpu"))
    assert isinstance(learner.optimizer, CenteredRMSprop)
    assert learner.optimizer.param_groups[0]["params"] == [learner.flat_online]
    rng = np.random.default_rng(0)
    obs = rng.random((16, 4), dtype=np.float32)
    batch = Batch(obs, rng.integers(0, 2, 16), np.ones(16, np.float32), obs, np.full(16, 0.9, np.float32))
    before = learner.flat_online.detach().clone()
    learner.update(batch)
    assert not torch.equal(learner.flat_online, before)
    twin_network = build_q_network(NetworkConfig(hidden_sizes=(8,)), gym.spaces.Box(-1, 1, (4,), np.float32), 2)
    twin = DQNLearner(config, twin_network, torch.device("cpu"))
    twin.online.load_state_dict(learner.online.state_dict())
    twin.target.load_state_dict(learner.target.state_dict())
    twin.optimizer.load_state_dict(copy.deepcopy(learner.optimizer.state_dict()))  # as a checkpoint holds it
    learner.update(batch)
    twin.update(batch)
    assert torch.equal(twin.flat_online, learner.flat_online)


def test_flat_buffer_and_per_tensor_parameters_take_the_same_step():
    torch.manual_seed(0)
    layers = [torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)]
    layers[1].load_state_dict(layers[0].state_dict())
    flat = flatten_parameters(layers[0], gradients=True)
    on_flat, per_tensor = CenteredRMSprop([flat], lr=0.1), CenteredRMSprop(layers[1].parameters(), lr=0.1)
    x = torch.randn(5, 3)
    for _ in range(3):
        flat.grad.zero_()
        per_tensor.zero_grad()
        layers[0](x).square().sum().backward()
        layers[1](x).square().sum().backward()
        on_flat.step()
        per_tensor.step()
    for a, b in zip(layers[0].parameters(), layers[1].parameters(), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("centered, eps", [(True, 0.01), (False, 1e-8), (True, 1e-8)])
def test_dqnlab_rmsprop_matches_torch_bit_for_bit_with_dead_units(centered, eps):
    """dqnlab's RMSprop (`rmsprop`, `rmsprop_minatar`) avoids torch's slow root of zeros by raising
    the root's argument to the smallest normal float; the parameters must stay torch's, bit for bit,
    where a third of the gradient is always zero (dead units: v - m² exactly 0), a third faint
    (1e-21: v - m² below the smallest normal, where a higher floor would show), the rest of order 1.
    A torch state_dict loads into it, and the two go on alike (runs checkpointed under torch's)."""
    from dqnlab.optimizers import RMSprop

    generator = torch.Generator().manual_seed(0)
    kind = torch.randint(0, 3, (3000,), generator=generator)
    scale = torch.tensor([0.0, 1e-21, 1.0])[kind]  # dead, faint, live
    ours, theirs = torch.zeros(3000, requires_grad=True), torch.zeros(3000, requires_grad=True)
    settings = {"lr": 2.5e-4, "alpha": 0.95, "eps": eps, "centered": centered}
    optimizers = RMSprop([ours], **settings), torch.optim.RMSprop([theirs], **settings)

    def step_both(steps: int) -> None:
        for _ in range(steps):
            gradient = torch.randn(3000, generator=generator) * scale
            for parameter, optimizer in zip((ours, theirs), optimizers, strict=True):
                parameter.grad = gradient.clone()
                optimizer.step()

    step_both(300)
    assert torch.equal(ours, theirs) and ours.abs().max() > 0
    resumed = RMSprop([ours], **settings)
    resumed.load_state_dict(copy.deepcopy(optimizers[1].state_dict()))  # as read from a checkpoint
    optimizers = resumed, optimizers[1]
    step_both(50)
    assert torch.equal(ours, theirs)
