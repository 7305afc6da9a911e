"""The learner's objectives: Double DQN with C51 and QR, importance weights, priorities, noise per update."""

import numpy as np
import pytest
import torch

from dqnlab.config import Config, LearningConfig, NetworkConfig, apply_overrides
from dqnlab.learner import (
    DQNLearner,
    Outputs,
    TensorBatch,
    categorical_objective,
    expected_objective,
    quantile_objective,
)
from dqnlab.losses import categorical_cross_entropy, categorical_target, quantile_huber_loss
from dqnlab.networks import build_q_network
from dqnlab.types import Batch, NetworkOutput

SUPPORT = torch.tensor([0.0, 1.0, 2.0])


def _c51_output(probs_BAZ):
    logits = torch.log(torch.tensor(probs_BAZ))
    return NetworkOutput(q_values=(logits.softmax(2) * SUPPORT).sum(2), logits=logits)


def test_double_c51_projects_the_target_distribution_of_the_online_nets_action():
    # at s', the target net prefers action 0 (mean 1.8 vs 0.2), the online net action 1
    next_target = _c51_output([[[0.1, 0.0 + 1e-9, 0.9], [0.8, 0.2, 1e-9]]])
    online_next_q = torch.tensor([[0.0, 5.0]])
    online = _c51_output([[[0.2, 0.3, 0.5], [0.5, 0.25, 0.25]]])
    batch = TensorBatch(torch.tensor([0]), torch.tensor([1.0]), torch.tensor([0.5]), None)
    double = categorical_objective(Outputs(online, next_target, online_next_q), batch, SUPPORT)
    # a* = 1: T z = 1 + 0.5 * [0, 1, 2] = [1, 1.5, 2] with probs [.8, .2, 0] -> [0, .8 + .1, .1]
    expected_target = torch.tensor([[0.0, 0.9, 0.1]])
    expected = categorical_cross_entropy(online.logits[:, 0], expected_target)
    assert double.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    torch.testing.assert_close(double.priorities_B, expected)
    plain = categorical_objective(Outputs(online, next_target, None), batch, SUPPORT)
    target_a0 = categorical_target(batch.rewards_B, batch.discounts_B, next_target.logits[:, 0].softmax(1), SUPPORT)
    expected_plain = categorical_cross_entropy(online.logits[:, 0], target_a0)
    assert plain.loss.item() == pytest.approx(expected_plain.item(), rel=1e-5)
    assert plain.loss.item() != pytest.approx(double.loss.item(), rel=1e-3)


def test_double_qr_bootstraps_from_the_online_nets_action():
    next_quantiles = torch.tensor([[[10.0, 12.0], [0.0, 2.0]]])  # target net prefers action 0
    next_target = NetworkOutput(q_values=next_quantiles.mean(2), quantiles=next_quantiles)
    online_quantiles = torch.tensor([[[0.0, 2.0], [5.0, 5.0]]])
    online = NetworkOutput(q_values=online_quantiles.mean(2), quantiles=online_quantiles)
    batch = TensorBatch(torch.tensor([0]), torch.tensor([1.0]), torch.tensor([0.5]), None)
    result = quantile_objective(Outputs(online, next_target, torch.tensor([[0.0, 1.0]])), batch)
    # a* = 1: targets 1 + 0.5 * [0, 2] = [1, 2]; theta = [0, 2] at tau [.25, .75]
    # i=0: u = 1, 2 -> .25 * (.5, 1.5) mean .25; i=1: u = -1, 0 -> .25 * .5, 0 -> mean .0625
    assert result.loss.item() == pytest.approx(0.3125, rel=1e-6)
    assert result.loss.item() == pytest.approx(
        quantile_huber_loss(torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 2.0]])).item()
    )


def test_importance_weights_scale_each_samples_loss_and_priorities_are_unweighted():
    q = torch.tensor([[0.0, 0.0], [0.0, 0.0]], requires_grad=True)
    online = NetworkOutput(q_values=q)
    next_target = NetworkOutput(q_values=torch.zeros(2, 2))
    weights = torch.tensor([1.0, 0.0])
    batch = TensorBatch(torch.tensor([0, 1]), torch.tensor([0.5, 3.0]), torch.tensor([0.9, 0.9]), weights)
    result = expected_objective(Outputs(online, next_target, None), batch, "mse")
    # sample 0: 0.5 * 0.5^2 = 0.125, weight 1; sample 1 (error 3) has weight 0; mean over 2 samples
    assert result.loss.item() == pytest.approx(0.0625)
    torch.testing.assert_close(result.priorities_B, torch.tensor([0.5, 3.0]))
    result.loss.backward()
    assert q.grad[1].abs().sum() == 0


def _batch(rng, size=8):
    obs = rng.random((size, 4), dtype=np.float32)
    return Batch(
        obs,
        rng.integers(0, 2, size),
        np.ones(size, np.float32),
        obs,
        np.full(size, 0.9, np.float32),
        weights=np.ones(size, np.float32),
        indices=np.arange(size),
    )


@pytest.mark.parametrize("distributional", ["expected", "c51", "qr"])
def test_update_resamples_noise_and_returns_one_priority_per_sample(distributional):
    import gymnasium as gym

    torch.manual_seed(0)
    config = NetworkConfig(
        hidden_sizes=(16,), noisy=True, dueling=True, distributional=distributional, atoms=11, quantiles=5
    )
    network = build_q_network(config, gym.spaces.Box(-1, 1, (4,), np.float32), 2)
    learner = DQNLearner(LearningConfig(), network, torch.device("cpu"))
    noise_before = learner.online.noisy_layers[0].epsilon.clone()
    stats = learner.update(_batch(np.random.default_rng(0)))
    assert not torch.equal(learner.online.noisy_layers[0].epsilon, noise_before)
    assert stats.priorities.shape == (8,) and np.all(stats.priorities >= 0) and np.isfinite(stats.loss)


def test_agent_evaluates_on_mean_weights_and_explores_with_fresh_noise():
    from dqnlab import Agent

    config = apply_overrides(Config(), {"network": {"noisy": True, "hidden_sizes": [8]}})
    agent = Agent(config)
    obs = np.random.default_rng(0).random((64, 4), dtype=np.float32)
    with torch.no_grad():
        agent.q_network.eval()
        mean_actions = agent.q_network.q_values(torch.as_tensor(obs)).argmax(1).numpy()
        agent.q_network.train()
    for _ in range(3):
        np.testing.assert_array_equal(agent.act_batch(obs, 0.0), mean_actions)
    assert agent.q_network.training  # left in training mode for the learner
    noise = agent.q_network.noisy_layers[0].epsilon.clone()
    agent.explore_batch(obs, 0.0)
    assert not torch.equal(agent.q_network.noisy_layers[0].epsilon, noise)
