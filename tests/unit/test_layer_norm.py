"""`network.layer_norm`: LayerNorm between each hidden Linear and its ReLU of the MLP torso (PQN, Gallici et
al. 2024), off by default with the network unchanged, refused where there is no MLP, saved and loaded."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from dqnlab import Agent, Config
from dqnlab.config import NetworkConfig, apply_overrides
from dqnlab.errors import ConfigError
from dqnlab.networks import build_q_network
from dqnlab.networks.torsos import MLPTorso

SPACE = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)


def test_each_hidden_layer_is_linear_then_layer_norm_then_relu_and_the_head_is_not_normalized():
    network = build_q_network(NetworkConfig(hidden_sizes=(8, 5), layer_norm=True), SPACE, num_actions=2)
    kinds = [type(layer) for layer in network.torso.layers]
    assert kinds == [nn.Linear, nn.LayerNorm, nn.ReLU, nn.Linear, nn.LayerNorm, nn.ReLU]
    assert [layer.normalized_shape for layer in network.torso.layers if isinstance(layer, nn.LayerNorm)] == [
        (8,),
        (5,),
    ]
    assert not any(isinstance(module, nn.LayerNorm) for module in network.head.modules())


def test_layer_norm_by_hand():
    """Identity weights: [1, 2, 3] has mean 2 and variance 2/3, so it normalizes to ±sqrt(3/2) and 0;
    the learned scale and shift then apply per unit, and the ReLU cuts what is negative."""
    torso = MLPTorso((3,), (3,), layer_norm=True)
    linear, norm = torso.layers[0], torso.layers[1]
    with torch.no_grad():
        linear.weight.copy_(torch.eye(3))
        linear.bias.zero_()
        norm.weight.copy_(torch.tensor([2.0, 1.0, 0.5]))
        norm.bias.copy_(torch.tensor([3.0, 0.25, -1.0]))
    features = torso(torch.tensor([[1.0, 2.0, 3.0]]))
    root = np.sqrt(1.5)
    expected = [max(0.0, -2.0 * root + 3.0), 0.25, max(0.0, 0.5 * root - 1.0)]
    np.testing.assert_allclose(features.detach().numpy()[0], expected, rtol=1e-5)


def test_off_by_default_with_the_same_layers_names_and_weights_as_before():
    """Existing checkpoints name the torso's weights layers.0 and layers.2; the switch must not move them,
    and the same seed must draw the same weights with or without it (LayerNorm draws nothing)."""
    assert NetworkConfig().layer_norm is False
    torch.manual_seed(0)
    plain = build_q_network(NetworkConfig(hidden_sizes=(4, 4)), SPACE, 2)
    assert not any(isinstance(module, nn.LayerNorm) for module in plain.modules())
    assert [name for name in plain.state_dict() if name.startswith("torso")] == [
        "torso.layers.0.weight",
        "torso.layers.0.bias",
        "torso.layers.2.weight",
        "torso.layers.2.bias",
    ]
    torch.manual_seed(0)
    normed = build_q_network(NetworkConfig(hidden_sizes=(4, 4), layer_norm=True), SPACE, 2)
    torch.testing.assert_close(normed.torso.layers[0].weight, plain.torso.layers[0].weight)
    torch.testing.assert_close(normed.torso.layers[3].weight, plain.torso.layers[2].weight)
    torch.testing.assert_close(normed.head.state_dict(), plain.head.state_dict())


@pytest.mark.parametrize("q_function", ["cnn", "linear", "table"])
def test_layer_norm_without_an_mlp_is_refused(q_function):
    with pytest.raises(ConfigError, match="network.layer_norm applies to the mlp torso only"):
        NetworkConfig(q_function=q_function, layer_norm=True)


def test_layer_norm_is_learned_saved_and_loaded(tmp_path):
    """The LayerNorm's scale and shift are trained with the rest (they sit in the learner's flat buffer)
    and come back from a saved agent, which acts the same."""
    config = apply_overrides(
        Config(env_id="CartPole-v1", seed=1, steps=400, device="cpu", tensorboard=False),
        {
            "network": {"hidden_sizes": [16], "layer_norm": True},
            "learning": {"learning_starts": 100, "batch_size": 16},
            "evaluation": {"every": 0, "episodes": 1},
        },
    )
    agent = Agent(config)
    agent.learn()
    norm = agent.q_network.torso.layers[1]
    assert isinstance(norm, nn.LayerNorm)
    assert not torch.equal(norm.weight, torch.ones(16)) and not torch.equal(norm.bias, torch.zeros(16))
    agent.save(tmp_path / "agent.pt")
    loaded = Agent.load(tmp_path / "agent.pt")
    assert loaded.config.network.layer_norm
    torch.testing.assert_close(loaded.q_network.state_dict(), agent.q_network.state_dict(), rtol=0, atol=0)
    obs = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.act_batch(obs, 0.0), agent.act_batch(obs, 0.0))
