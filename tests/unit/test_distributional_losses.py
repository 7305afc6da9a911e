"""C51's categorical projection and QR-DQN's quantile Huber loss, against hand-worked numbers."""

import math

import pytest
import torch

from dqnlab.losses import (
    categorical_cross_entropy,
    categorical_projection,
    categorical_target,
    quantile_huber_loss,
    quantile_midpoints,
    quantile_target,
)


def _t(values):
    return torch.tensor(values, dtype=torch.float32)


def test_projection_onto_a_shifted_support_dopamine_example():
    # Dopamine's example: [.1, .2, .1, .3, .3] on atoms 0..4, projected onto 3..7. Atoms 0, 1, 2
    # lie below the support and count as 3, where atom 3 already is: .1+.2+.1+.3 = .7; atom 4 -> .3.
    projected = categorical_projection(_t([[0, 1, 2, 3, 4]]), _t([[0.1, 0.2, 0.1, 0.3, 0.3]]), _t([3, 4, 5, 6, 7]))
    torch.testing.assert_close(projected, _t([[0.7, 0.3, 0.0, 0.0, 0.0]]))


def test_projection_splits_mass_between_neighbours_and_clips_outside_the_support():
    support = _t([0, 2, 4])  # dz = 2
    values = _t([[1.0, 3.5, -3.0, 10.0, 2.0]])  # between, between, below, above, exactly on an atom
    cases = [
        (0, [0.5, 0.5, 0.0]),  # 1 is halfway between 0 and 2
        (1, [0.0, 0.25, 0.75]),  # 3.5 is 1.5 from 2 and 0.5 from 4
        (2, [1.0, 0.0, 0.0]),  # below v_min: all on z_1
        (3, [0.0, 0.0, 1.0]),  # above v_max: all on z_Z
        (4, [0.0, 1.0, 0.0]),  # on an atom: all on it
    ]
    for index, expected in cases:
        probs = torch.zeros(1, 5)
        probs[0, index] = 1.0
        torch.testing.assert_close(categorical_projection(values, probs, support), _t([expected]))


def _closed_form_projection(values_BK, probs_BK, support_Z):
    """Rowland et al. (2018), eq. 7, computed densely: the reference for the scattering implementation."""
    delta_z = support_Z[1] - support_Z[0]
    clipped = values_BK.clamp(support_Z[0], support_Z[-1]).unsqueeze(2)
    share = (1 - (clipped - support_Z.view(1, 1, -1)).abs() / delta_z).clamp(min=0)
    return torch.einsum("bkz,bk->bz", share, probs_BK)


def test_projection_matches_the_closed_form_on_random_distributions():
    torch.manual_seed(0)
    support = torch.linspace(-10, 10, 51)
    values = torch.cat([torch.randn(32, 51) * 15, support.repeat(4, 1) * 0.5 + 5.0])  # on atoms, too
    probs = torch.softmax(torch.randn(36, 51), dim=1)
    torch.testing.assert_close(
        categorical_projection(values, probs, support), _closed_form_projection(values, probs, support)
    )


def test_categorical_target_by_hand_and_mass_is_kept():
    support = _t([0, 2, 4])
    # r = 1, discount 0.5: T z = [1, 2, 3]; 1 -> .1/.1 on atoms 0/2; 2 -> .3 on 2; 3 -> .25/.25 on 2/4
    target = categorical_target(_t([1.0, 1.0]), _t([0.5, 0.0]), _t([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]]), support)
    torch.testing.assert_close(target[0], _t([0.1, 0.65, 0.25]))
    torch.testing.assert_close(target[1], _t([0.5, 0.5, 0.0]))  # terminated: all the mass on r = 1
    random_probs = torch.softmax(torch.randn(16, 51), dim=1)
    projected = categorical_target(torch.randn(16) * 20, torch.rand(16), random_probs, torch.linspace(-10, 10, 51))
    torch.testing.assert_close(projected.sum(dim=1), torch.ones(16))


def test_cross_entropy_by_hand():
    loss = categorical_cross_entropy(torch.zeros(1, 3), _t([[0.1, 0.65, 0.25]]))  # uniform prediction
    assert loss.item() == pytest.approx(math.log(3), rel=1e-6)
    peaked = categorical_cross_entropy(_t([[0.0, math.log(2.0), 0.0]]), _t([[0.0, 1.0, 0.0]]))
    assert peaked.item() == pytest.approx(-math.log(0.5), rel=1e-6)  # predicted p = 2/4


def test_quantile_midpoints():
    torch.testing.assert_close(quantile_midpoints(4), _t([0.125, 0.375, 0.625, 0.875]))


def test_quantile_huber_loss_by_hand():
    # theta = [0, 2] at tau = [.25, .75]; targets [1, 3]; u_ij = T_j - theta_i
    # i=0: u = 1, 3 (>= 0, weight .25): huber .5, 2.5 -> .125, .625, mean .375
    # i=1: u = -1 (weight |.75 - 1| = .25), 1 (weight .75): huber .5, .5 -> .125, .375, mean .25
    loss = quantile_huber_loss(_t([[0.0, 2.0]]), _t([[1.0, 3.0]]))
    assert loss.item() == pytest.approx(0.625, rel=1e-6)


def test_quantile_huber_loss_tends_to_the_quantile_loss_as_kappa_shrinks():
    # |tau - 1{u<0}| |u|: i=0: .25*1, .25*3 -> mean .5; i=1: .25*1, .75*1 -> mean .5; total 1.0
    loss = quantile_huber_loss(_t([[0.0, 2.0]]), _t([[1.0, 3.0]]), kappa=1e-6)
    assert loss.item() == pytest.approx(1.0, rel=1e-4)


def test_quantile_regression_recovers_the_quantiles_of_a_distribution():
    theta = torch.zeros(1, 4, requires_grad=True)
    samples = (torch.arange(400, dtype=torch.float32).unsqueeze(0) + 0.5) / 50.0  # even grid on [0, 8]
    for _ in range(150):  # plain gradient descent; the gradient of quantile i is F(theta_i) - tau_i
        (gradient,) = torch.autograd.grad(quantile_huber_loss(theta, samples, kappa=1e-3).sum(), theta)
        theta = (theta - 2.0 * gradient).detach().requires_grad_()
    torch.testing.assert_close(theta.detach(), 8.0 * quantile_midpoints(4).unsqueeze(0), atol=0.1, rtol=0)


def test_quantile_target():
    torch.testing.assert_close(
        quantile_target(_t([1.0, 2.0]), _t([0.5, 0.0]), _t([[2.0, 4.0], [9.0, 9.0]])), _t([[2.0, 3.0], [2.0, 2.0]])
    )


def test_shape_mismatches_are_caught():
    with pytest.raises(AssertionError):
        categorical_projection(torch.zeros(2, 3), torch.zeros(2, 4), torch.linspace(0, 1, 3))
    with pytest.raises(AssertionError):
        categorical_cross_entropy(torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(AssertionError):
        quantile_huber_loss(torch.zeros(2, 3), torch.zeros(3, 3))
