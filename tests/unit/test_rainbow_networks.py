"""Dueling streams, factorized noisy layers, and the heads the factory builds from config."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from dqnlab.config import Config, NetworkConfig, apply_overrides
from dqnlab.errors import ConfigError
from dqnlab.networks import build_q_network
from dqnlab.networks.heads import DuelingStreams
from dqnlab.networks.noisy import FACTORIZED_MAX_ROWS, NoisyLinear

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


# up to FACTORIZED_MAX_ROWS rows (acting, a batch of 32) the layer computes without forming the
# noisy weights; above, it forms them: both must give the same outputs and the same gradients
@pytest.mark.parametrize("rows", [1, 4, FACTORIZED_MAX_ROWS, FACTORIZED_MAX_ROWS + 1, 64])
def test_noisy_layer_is_factorized_and_uses_the_noise_it_holds(rows):
    torch.manual_seed(0)
    layer = NoisyLinear(3, 2, sigma0=0.5)
    assert torch.all(layer.weight_sigma == 0.5 / np.sqrt(3))  # sigma0 / sqrt(inputs)
    assert layer.epsilon.numel() == 3 + 2  # in + out samples, not in * out
    noise = layer.weight_noise()
    torch.testing.assert_close(noise, torch.outer(layer.epsilon_out, layer.epsilon_in))
    assert torch.linalg.matrix_rank(noise) == 1
    x = torch.randn(rows, 3)
    weight = layer.weight_mu + layer.weight_sigma * noise
    bias = layer.bias_mu + layer.bias_sigma * layer.epsilon_out
    expected = x @ weight.T + bias
    output = layer(x)
    torch.testing.assert_close(output, expected)
    parameters = list(layer.parameters())
    upstream = torch.randn_like(output)
    gradients = torch.autograd.grad(output, parameters, upstream)
    expected_gradients = torch.autograd.grad(expected, parameters, upstream)
    for gradient, expected_gradient in zip(gradients, expected_gradients, strict=True):
        torch.testing.assert_close(gradient, expected_gradient)
    # by hand: dL/dsigma_w = (dL/dy)^T x scaled entrywise by eps_w
    torch.testing.assert_close(gradients[1], (upstream.T @ x) * noise)


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


@pytest.mark.parametrize("distributional", ["expected", "c51", "qr"])
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


@pytest.mark.parametrize("kind", ["iqn", "none"])  # "none" was the plain head's old name: no alias
def test_unknown_distributional_kind_is_a_config_error(kind):
    with pytest.raises(ConfigError, match="network.distributional"):
        apply_overrides(Config(), {"network": {"distributional": kind}})


def test_dueling_hidden_gives_each_stream_a_hidden_layer_and_needs_dueling():
    config = NetworkConfig(hidden_sizes=(16,), dueling=True, dueling_hidden=8)
    streams = build_q_network(config, SPACE, num_actions=3).head.streams
    assert [type(m) for m in streams.value] == [torch.nn.Linear, torch.nn.ReLU, torch.nn.Linear]
    assert streams.value[0].in_features == 16 and streams.value[0].out_features == 8
    assert streams.advantage[2].out_features == 3
    default = build_q_network(NetworkConfig(hidden_sizes=(16,), dueling=True), SPACE, num_actions=3).head.streams
    assert isinstance(default.value, torch.nn.Linear) and default.value.in_features == 16  # one layer, as before
    with pytest.raises(ConfigError, match="network.dueling_hidden needs network.dueling"):
        apply_overrides(Config(), {"network": {"dueling_hidden": 8}})
    with pytest.raises(ConfigError, match="network.dueling_hidden must be >= 1"):
        apply_overrides(Config(), {"network": {"dueling": True, "dueling_hidden": 0}})


def test_atari_rainbow_has_the_papers_noisy_512_unit_layer_per_stream_on_the_convolutions():
    """Hessel et al. (2018) on Wang et al. (2016): conv features go to a value and an advantage
    stream, each a noisy 512-unit hidden layer and a noisy output; no shared 512-unit layer."""
    from dqnlab.presets import preset_config

    config = preset_config("atari-rainbow").network
    network = build_q_network(config, gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), num_actions=6)
    assert network.torso.output_size == 64 * 7 * 7  # the flattened convolutions
    assert not any(isinstance(m, torch.nn.Linear) for m in network.torso.modules())
    streams = network.head.streams
    for stream, outputs in ((streams.value, 51), (streams.advantage, 6 * 51)):
        hidden, output = stream[0], stream[2]
        assert isinstance(hidden, NoisyLinear) and (hidden.in_features, hidden.out_features) == (3136, 512)
        assert isinstance(output, NoisyLinear) and (output.in_features, output.out_features) == (512, outputs)
    assert len(network.noisy_layers) == 4
    output = network(torch.zeros(2, 4, 84, 84, dtype=torch.uint8))
    assert output.logits.shape == (2, 6, 51)
    # atari100k keeps the one-layer streams on the Nature CNN's shared 512 units
    der = build_q_network(preset_config("atari100k").network, gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), 6)
    assert der.torso.output_size == 512 and isinstance(der.head.streams.value, NoisyLinear)


def test_glorot_uniform_init_bounds_every_linear_and_conv_layer_and_zeroes_their_biases():
    """network.init = glorot_uniform: weights in ±sqrt(6 / (fan_in + fan_out)) with the uniform's spread,
    biases 0; noisy layers keep sigma0 / sqrt(inputs). PyTorch's defaults (U(±1/sqrt(fan_in))) fail it."""
    grid = gym.spaces.Box(0, 1, (10, 10, 6), bool)

    def layers(init):
        torch.manual_seed(0)
        config = NetworkConfig(torso="minatar_same", dueling=True, noisy=True, init=init)
        network = build_q_network(config, grid, num_actions=6)
        return [m for m in network.modules() if isinstance(m, torch.nn.Linear | torch.nn.Conv2d)], network

    def glorot(layer):
        receptive = layer.weight[0, 0].numel()  # 3 x 3 for the conv, 1 for a linear layer
        fan_in, fan_out = layer.weight.shape[1] * receptive, layer.weight.shape[0] * receptive
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        weight = layer.weight.detach()
        return bool(
            weight.abs().max() <= bound
            and abs(weight.std().item() - bound / np.sqrt(3)) < 0.1 * bound / np.sqrt(3)
            and torch.all(layer.bias == 0)
        )

    glorot_layers, network = layers("glorot_uniform")
    assert [type(m).__name__ for m in glorot_layers] == ["Conv2d"]  # the head is noisy
    assert all(glorot(layer) for layer in glorot_layers)
    noisy = [m for m in network.modules() if isinstance(m, NoisyLinear)]
    assert noisy and all(torch.all(m.weight_sigma == 0.5 / np.sqrt(m.in_features)) for m in noisy)
    torch_layers, _ = layers("torch")
    assert not any(glorot(layer) for layer in torch_layers)

    torch.manual_seed(0)
    mlp = build_q_network(NetworkConfig(hidden_sizes=(64, 32), init="glorot_uniform"), SPACE, num_actions=3)
    linear = [m for m in mlp.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linear) == 3 and all(glorot(layer) for layer in linear)


def test_init_is_refused_for_linear_and_tabular_q():
    with pytest.raises(ConfigError, match="network.init applies to mlp and cnn"):
        apply_overrides(Config(), {"network": {"q_function": "linear", "init": "glorot_uniform"}})
