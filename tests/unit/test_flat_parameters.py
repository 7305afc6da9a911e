"""Flat parameter and gradient buffers give the same gradients, clipping and steps as per-layer tensors."""

from __future__ import annotations

import copy

import torch
from torch import nn

from dqnlab.networks.flat import clip_grad_norm_, flatten_parameters
from dqnlab.population.learner import clip_grad_norms_


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def _loss(net: nn.Module) -> torch.Tensor:
    x = torch.linspace(-2.0, 2.0, 20).reshape(5, 4)
    return (net(x) ** 2).sum() * 10.0  # large enough that a clip at norm 1 bites


def test_parameters_become_views_of_the_flat_buffer():
    net = _net()
    reference = [p.detach().clone() for p in net.parameters()]
    flat = flatten_parameters(net, gradients=True)
    assert flat.numel() == sum(p.numel() for p in reference)
    for parameter, before in zip(net.parameters(), reference, strict=True):
        assert torch.equal(parameter, before)
        assert parameter.untyped_storage().data_ptr() == flat.untyped_storage().data_ptr()
    with torch.no_grad():
        flat.add_(1.0)
    assert torch.equal(next(net.parameters()), reference[0] + 1.0)


def test_backward_accumulates_into_the_flat_gradient():
    plain, flattened = _net(), _net()
    flat = flatten_parameters(flattened, gradients=True)
    _loss(plain).backward()
    _loss(flattened).backward()
    expected = torch.cat([p.grad.reshape(-1) for p in plain.parameters()])
    assert flat.grad is not None and torch.allclose(flat.grad, expected)
    assert flat.grad.abs().sum() > 0
    flat.grad.zero_()
    _loss(flattened).backward()  # zeroed, not set to None: the views keep receiving gradients
    assert torch.allclose(flat.grad, expected)


def test_clip_matches_torch_and_leaves_small_gradients_alone():
    plain, flattened = _net(), _net()
    flat = flatten_parameters(flattened, gradients=True)
    _loss(plain).backward()
    _loss(flattened).backward()
    assert flat.grad is not None
    norm = clip_grad_norm_(flat.grad, 1.0)
    expected_norm = nn.utils.clip_grad_norm_(list(plain.parameters()), 1.0)
    assert norm > 1.0 and torch.allclose(norm, expected_norm)
    assert torch.allclose(flat.grad, torch.cat([p.grad.reshape(-1) for p in plain.parameters()]))
    assert torch.allclose(torch.linalg.vector_norm(flat.grad), torch.tensor(1.0), atol=1e-5)
    before = flat.grad.clone()
    clip_grad_norm_(flat.grad, 1e6)
    assert torch.equal(flat.grad, before)


def test_adam_on_the_flat_buffer_steps_like_adam_per_layer():
    plain = _net()
    flattened = copy.deepcopy(plain)
    flat = flatten_parameters(flattened, gradients=True)
    plain_adam = torch.optim.Adam(plain.parameters(), lr=0.01)
    flat_adam = torch.optim.Adam([flat], lr=0.01)
    for _ in range(3):
        plain_adam.zero_grad()
        _loss(plain).backward()
        plain_adam.step()
        assert flat.grad is not None
        flat.grad.zero_()
        _loss(flattened).backward()
        flat_adam.step()
    for a, b in zip(plain.parameters(), flattened.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(next(plain.parameters()), next(_net().parameters()))


def test_a_populations_clip_scales_each_members_gradient_as_its_single_run_bit_for_bit():
    """Members' own max norms come as a tensor; tensor / tensor rounds once where a single run's
    float / tensor (a reciprocal, then a product) rounds twice, so the factors differed for 10."""
    generator = torch.Generator().manual_seed(0)
    max_norms = [10.0, 0.3, 10.0, 1.0, float("inf")] * 20
    gradient_PD = torch.randn(len(max_norms), 300, generator=generator) * 3.0  # norms near 52: all clipped
    members = gradient_PD.clone()
    clip_grad_norms_(members, torch.tensor(max_norms).view(-1, 1))
    for row, max_norm in enumerate(max_norms):
        single = gradient_PD[row].clone()
        if max_norm != float("inf"):  # a single run without a clip leaves its gradient alone
            clip_grad_norm_(single, max_norm)
        assert torch.equal(members[row], single), (row, max_norm)
