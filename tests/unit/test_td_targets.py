"""TD targets, discounts and losses against numbers worked by hand."""

import numpy as np
import pytest
import torch

from dqnlab.losses import q_learning_target, td_loss
from dqnlab.replay.n_step import transition_discount

# Two transitions, three actions. Worked by hand below.
REWARDS = torch.tensor([1.0, -0.5])
NEXT_Q_TARGET = torch.tensor([[1.0, 4.0, 2.0], [3.0, 0.0, 5.0]])
NEXT_Q_ONLINE = torch.tensor([[9.0, 0.0, 1.0], [0.0, 7.0, 1.0]])


def test_dqn_target_maxes_the_target_network():
    discounts = torch.tensor([0.9, 0.9])
    target = q_learning_target(REWARDS, discounts, NEXT_Q_TARGET)
    # 1 + 0.9 * max(1, 4, 2) = 4.6 ; -0.5 + 0.9 * max(3, 0, 5) = 4.0
    torch.testing.assert_close(target, torch.tensor([4.6, 4.0]))


def test_double_dqn_target_evaluates_the_online_argmax_with_the_target_network():
    discounts = torch.tensor([0.9, 0.9])
    target = q_learning_target(REWARDS, discounts, NEXT_Q_TARGET, NEXT_Q_ONLINE)
    # online picks a'=0 and a'=1; target net values them 1.0 and 0.0:
    # 1 + 0.9 * 1.0 = 1.9 ; -0.5 + 0.9 * 0.0 = -0.5
    torch.testing.assert_close(target, torch.tensor([1.9, -0.5]))


def test_terminated_stops_bootstrapping_but_truncated_does_not():
    terminated = np.array([True, False])  # the second transition was truncated by a time limit
    discounts = transition_discount(0.9, terminated)
    np.testing.assert_allclose(discounts, [0.0, 0.9])
    target = q_learning_target(REWARDS, torch.from_numpy(discounts), NEXT_Q_TARGET)
    # terminal: target is the reward alone; truncated: -0.5 + 0.9 * 5 = 4.0
    torch.testing.assert_close(target, torch.tensor([1.0, 4.0]))


def test_n_step_discount_is_gamma_to_the_n():
    np.testing.assert_allclose(transition_discount(0.5, np.array([False]), n=3), [0.125])


def test_huber_loss_clips_the_gradient_not_the_loss():
    q = torch.tensor([0.0, 0.0, 0.0], requires_grad=True)
    target = torch.tensor([0.5, 3.0, -10.0])
    loss, td_error = td_loss(q, target, "huber")
    loss.backward()
    # per sample: 0.5*0.5^2 = 0.125 ; |3|-0.5 = 2.5 ; 10-0.5 = 9.5 ; mean = 12.125 / 3
    assert loss.item() == pytest.approx(12.125 / 3)
    # d loss / d q = -clip(target - q, -1, 1) / 3: large errors still get a gradient of size 1/3
    torch.testing.assert_close(q.grad, torch.tensor([-0.5, -1.0, 1.0]) / 3)
    torch.testing.assert_close(td_error, target)


def test_mse_loss_gradient_is_the_raw_td_error():
    q = torch.tensor([0.0, 0.0], requires_grad=True)
    loss, _ = td_loss(q, torch.tensor([2.0, -4.0]), "mse")
    loss.backward()
    assert loss.item() == pytest.approx((0.5 * 4 + 0.5 * 16) / 2)
    torch.testing.assert_close(q.grad, torch.tensor([-2.0, 4.0]) / 2)


def test_importance_weights_scale_each_sample():
    q = torch.tensor([0.0, 0.0])
    loss, _ = td_loss(q, torch.tensor([1.0, 1.0]), "mse", weights_B=torch.tensor([1.0, 0.0]))
    assert loss.item() == pytest.approx(0.25)


def test_target_receives_no_gradient():
    q = torch.tensor([1.0], requires_grad=True)
    target = torch.tensor([3.0], requires_grad=True)
    loss, _ = td_loss(q, target, "huber")
    loss.backward()
    assert target.grad is None
