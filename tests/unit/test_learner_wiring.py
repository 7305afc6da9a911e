"""The learner does what its `learning.*` keys say, seen through `Agent(config).learner` and hand-made
batches: when the target network changes and to what (hard copy, Polyak), Double DQN's target, the
loss kind, the learning rate and the gradient-norm clip inside a real gradient step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dqnlab import Agent
from dqnlab.config import config_from_dict
from dqnlab.types import Batch

B = 16


def _agent(**learning) -> Agent:
    values = {"env_id": "CartPole-v1", "device": "cpu", "tensorboard": False, "network": {"hidden_sizes": [8]}}
    values["learning"] = {"batch_size": B, **learning}
    return Agent(config_from_dict(values))


def _batch(seed: int = 0, scale: float = 1.0) -> Batch:
    rng = np.random.default_rng(seed)
    return Batch(
        obs=(scale * rng.normal(size=(B, 4))).astype(np.float32),
        actions=rng.integers(0, 2, B),
        rewards=(scale * rng.normal(size=B)).astype(np.float32),
        next_obs=(scale * rng.normal(size=(B, 4))).astype(np.float32),
        discounts=np.tile(np.array([0.9, 0.0], np.float32), B // 2),
    )


def _flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()]).clone()


def _fill(module: torch.nn.Module, value: float) -> None:
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.fill_(value)


def test_the_target_is_a_hard_copy_at_exactly_every_interval_of_gradient_steps():
    learner = _agent(target_update_interval=3, tau=1.0, optimizer="sgd", lr=0.1).learner
    batch = _batch()
    changed_at, online_after = [], {}
    for step in range(1, 8):
        before = _flat(learner.target)
        learner.update(batch)
        online_after[step] = _flat(learner.online)
        target = _flat(learner.target)
        if not torch.equal(target, before):
            changed_at.append(step)
            assert torch.equal(target, online_after[step]), f"target after step {step} is not the online net"
    assert changed_at == [3, 6]
    # between copies the target keeps the online weights of the last copy
    assert torch.equal(_flat(learner.target), online_after[6])


def test_polyak_averaging_moves_the_target_a_share_tau_towards_the_online_net():
    """tau 0.25, online weights 2, target weights 10: target' = 0.25 * 2 + 0.75 * 10 = 8 (a
    step of lr 1e-7 leaves the online weights at 2 to 1e-5). `lerp(online, 1 - tau)` gives 4."""
    learner = _agent(target_update_interval=1, tau=0.25, optimizer="sgd", lr=1e-7, max_grad_norm=None).learner
    _fill(learner.online, 2.0)
    _fill(learner.target, 10.0)
    learner.update(_batch())
    online = _flat(learner.online)
    torch.testing.assert_close(online, torch.full_like(online, 2.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(_flat(learner.target), 0.25 * online + 0.75 * 10.0)
    torch.testing.assert_close(_flat(learner.target), torch.full_like(online, 8.0), atol=1e-5, rtol=0)
    # and a second update moves it a quarter of the remaining way: 0.25 * 2 + 0.75 * 8 = 6.5
    learner.update(_batch())
    torch.testing.assert_close(_flat(learner.target), torch.full_like(online, 6.5), atol=1e-4, rtol=0)


def _target_values(agent: Agent, batch: Batch, double: bool) -> np.ndarray:
    """r + discount * Q_target(s', a*), computed here from the networks' outputs."""
    with torch.no_grad():
        next_obs = torch.as_tensor(batch.next_obs)
        q_target = agent.learner.target(next_obs).q_values.numpy()
        q_online = agent.learner.online(next_obs).q_values.numpy()
    chooser = q_online if double else q_target
    best = chooser.argmax(axis=1)
    return batch.rewards + batch.discounts * q_target[np.arange(B), best]


@pytest.mark.parametrize("double", [True, False])
def test_learning_double_picks_which_network_chooses_the_next_action(double):
    agent = _agent(double=double)
    torch.manual_seed(1)
    with torch.no_grad():  # a target net that disagrees with the online net on some a*
        for parameter in agent.learner.target.parameters():
            parameter.add_(torch.randn_like(parameter))
    batch = _batch(seed=2, scale=3.0)
    expected = {d: _target_values(agent, batch, d) for d in (True, False)}
    differs = ~np.isclose(expected[True], expected[False])
    assert differs.sum() >= 2, "the batch does not tell Double DQN from DQN"
    with torch.no_grad():
        q_taken = agent.learner.online(torch.as_tensor(batch.obs)).q_values.numpy()[np.arange(B), batch.actions]
    td_abs = agent.learner.update(batch).priorities
    np.testing.assert_allclose(td_abs, np.abs(expected[double] - q_taken), rtol=1e-5, atol=1e-5)
    assert not np.allclose(td_abs[differs], np.abs(expected[not double] - q_taken)[differs], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("loss", ["huber", "mse"])
def test_learning_loss_picks_the_loss(loss):
    """With TD errors well beyond 1, Huber is |d| - 0.5 and MSE 0.5 d^2 per sample."""
    agent = _agent(loss=loss, double=False)
    batch = _batch(seed=3)._replace(rewards=np.full(B, 50.0, np.float32))
    stats = agent.learner.update(batch)
    errors = stats.priorities.astype(np.float64)
    assert errors.min() > 1.0
    expected = np.mean(errors - 0.5) if loss == "huber" else np.mean(0.5 * errors**2)
    assert stats.loss == pytest.approx(expected, rel=1e-5)


def _sgd_step(lr: float, max_grad_norm: float | None) -> torch.Tensor:
    """The parameter change of one SGD step on the MSE loss of a batch with large TD errors."""
    agent = _agent(optimizer="sgd", lr=lr, loss="mse", max_grad_norm=max_grad_norm)
    before = _flat(agent.learner.online)
    agent.learner.update(_batch(seed=4)._replace(rewards=np.full(B, 20.0, np.float32)))
    return _flat(agent.learner.online) - before


def test_the_gradient_norm_is_clipped_inside_the_learners_step():
    """SGD with lr 1: the step is the gradient, so with max_grad_norm 0.5 the step has norm 0.5
    and the direction of the unclipped gradient (whose norm is far larger)."""
    unclipped = _sgd_step(1.0, None)
    clipped = _sgd_step(1.0, 0.5)
    assert torch.linalg.vector_norm(unclipped) > 5.0
    assert torch.linalg.vector_norm(clipped).item() == pytest.approx(0.5, rel=1e-4)
    torch.testing.assert_close(clipped, unclipped * (0.5 / torch.linalg.vector_norm(unclipped)), rtol=1e-4, atol=1e-7)
    # a bound above the norm leaves the gradient alone
    torch.testing.assert_close(_sgd_step(1.0, 1e6), unclipped)


def test_learning_lr_scales_the_step():
    torch.testing.assert_close(_sgd_step(0.25, None), 0.25 * _sgd_step(1.0, None), rtol=1e-5, atol=1e-8)


def test_lr_end_decays_the_rate_linearly_over_lr_decay_steps():
    """lr 1 -> 0.5 over 2 gradient steps: the second step is taken at lr 0.75, the third at 0.5,
    measured against a constant-lr twin that has taken the same first step."""
    decaying = _agent(optimizer="sgd", lr=1.0, lr_end=0.5, lr_decay_steps=2, loss="mse", max_grad_norm=None)
    constant = _agent(optimizer="sgd", lr=1.0, loss="mse", max_grad_norm=None)
    batch = _batch(seed=5)
    for agent in (decaying, constant):
        agent.learner.update(batch)
    torch.testing.assert_close(_flat(decaying.learner.online), _flat(constant.learner.online))
    for rate in (0.75, 0.5):
        before = _flat(constant.learner.online)
        decaying.learner.update(batch)
        constant.learner.update(batch)
        step = _flat(constant.learner.online) - before
        torch.testing.assert_close(_flat(decaying.learner.online), before + rate * step, rtol=1e-5, atol=1e-7)
        with torch.no_grad():  # the twins start each step from the same weights
            constant.learner.online.load_state_dict(decaying.learner.online.state_dict())
