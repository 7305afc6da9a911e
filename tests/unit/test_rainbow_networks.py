"""Dueling streams, factorized noisy layers, and the heads the factory builds from config."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from dqnlab.config import Config, NetworkConfig, apply_overrides
from dqnlab.errors import ConfigError
from dqnlab.networks import build_q_network
from dqnlab.networks.heads import DuelingStreams
from dqnlab.networks.noisy import NoisyLinear

SPACE = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)


@pytest.mark.parametrize("hidden", [None, 8])
def test_dueling_q_is_value_plus_advantage_minus_its_mean(hidden):
    torch.manual_seed(0)
    streams = DuelingStreams(6, num_actions=3, outputs=2, hidden=hidden)
    features = torch.randn(5, 6)
    q_BAK = streams(features)
    value_B1K = streams.value(features).view(-1, 1, 2)
    advantage_BAK = streams.advantage(features).view(-1, 3, 2)
    torch.testing.assert_close(q_BAK, value_B1K + advantage_BAK - advantage_BAK.mean(dim=1, keepdim=True))
    # the mean over actions of Q - V, the combined advantage, is zero
    torch.testing.assert_close((q_BAK - value_B1K).mean(dim=1), torch.zeros(5, 2), atol=1e-6, rtol=0)


def test_noisy_layer_is_factorized_and_uses_the_noise_it_holds():
    torch.manual_seed(0)
    layer = NoisyLinear(3, 2, sigma0=0.5)
    assert torch.all(layer.weight_sigma == 0.5 / np.sqrt(3))  # sigma0 / sqrt(inputs)
    assert layer.epsilon.numel() == 3 + 2  # in + out samples, not in * out
    noise = layer.weight_noise()
    torch.testing.assert_close(noise, torch.outer(layer.epsilon_out, layer.epsilon_in))
    assert torch.linalg.matrix_rank(noise) == 1
    x = torch.randn(4, 3)
    weight = layer.weight_mu + layer.weight_sigma * noise
    bias = layer.bias_mu + layer.bias_sigma * layer.epsilon_out
    torch.testing.assert_close(layer(x), x @ weight.T + bias)


def test_noise_is_f_of_gaussian_samples():
    torch.manual_seed(0)
    layer = NoisyLinear(2000, 2000)
    x = layer.epsilon  # f(x) = sgn(x) sqrt|x|: E f(x)^2 = E|x| = sqrt(2/pi)
    assert (x**2).mean().item() == pytest.approx(np.sqrt(2 / np.pi), abs=0.03)


def test_noisy_output_changes_after_a_reset_and_is_fixed_on_mean_weights():
    torch.manual_seed(0)
    layer = NoisyLinear(5, 3)
    x = torch.randn(2, 5)
    first = layer(x)
    torch.testing.assert_close(layer(x), first)  # same noise, same output
    layer.reset_noise()
    assert not torch.allclose(layer(x), first)
    layer.eval()
    mean_output = layer(x)
    torch.testing.assert_close(mean_output, x @ layer.weight_mu.T + layer.bias_mu)
    layer.reset_noise()
    torch.testing.assert_close(layer(x), mean_output)


@pytest.mark.parametrize("distributional", ["none", "c51", "qr"])
@pytest.mark.parametrize("dueling", [False, True])
@pytest.mark.parametrize("noisy", [False, True])
def test_factory_builds_every_combination(distributional, dueling, noisy):
    config = NetworkConfig(
        hidden_sizes=(16,),
        dueling=dueling,
        noisy=noisy,
        distributional=distributional,
        atoms=11,
        v_min=-5.0,
        v_max=5.0,
        quantiles=7,
    )
    network = build_q_network(config, SPACE, num_actions=3)
    output = network(torch.zeros(2, 4))
    assert output.q_values.shape == (2, 3)
    assert network.kind == distributional
    assert bool(network.noisy_layers) == noisy
    if distributional == "c51":
        assert output.logits is not None and output.logits.shape == (2, 3, 11)
        support = torch.linspace(-5, 5, 11)
        torch.testing.assert_close(output.q_values, (output.logits.softmax(dim=2) * support).sum(dim=2))
    if distributional == "qr":
        assert output.quantiles is not None and output.quantiles.shape == (2, 3, 7)
        torch.testing.assert_close(output.q_values, output.quantiles.mean(dim=2))


@pytest.mark.parametrize(
    "key, value",
    [("atoms", 1), ("v_min", 20.0), ("quantiles", 0), ("noisy_sigma0", 0.0)],
)
def test_bad_network_values_are_config_errors(key, value):
    with pytest.raises(ConfigError, match=f"network.{key}"):
        apply_overrides(Config(), {"network": {key: value}})


@pytest.mark.parametrize(
    "key, value",
    [("n_step", 0), ("alpha", -1.0), ("beta_start", 1.5), ("priority_eps", 0.0), ("reserve_fraction", 1.0)],
)
def test_bad_replay_values_are_config_errors(key, value):
    with pytest.raises(ConfigError, match=f"replay.{key}"):
        apply_overrides(Config(), {"replay": {key: value}})


def test_unknown_distributional_kind_is_a_config_error():
    with pytest.raises(ConfigError, match="network.distributional"):
        apply_overrides(Config(), {"network": {"distributional": "iqn"}})
