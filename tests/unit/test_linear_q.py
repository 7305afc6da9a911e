"""Linear and tabular Q through the shared learner: one SGD step on ½δ² is the textbook update."""

import math

import numpy as np
import pytest
import torch

from dqnlab.config import Config, LearningConfig, NetworkConfig, apply_overrides
from dqnlab.errors import ConfigError
from dqnlab.learner import DQNLearner
from dqnlab.linear.qfunctions import FeatureTorso, LinearQHead
from dqnlab.networks import build_q_network
from dqnlab.schedules import learning_rate_at
from dqnlab.types import Batch

R = math.sqrt(0.5)
UNIT_SQUARE = ((0.0, 1.0), (0.0, 1.0))


def _space():
    import gymnasium as gym

    return gym.spaces.Box(0.0, 1.0, (2,), np.float32)


def _learner(network: NetworkConfig, lr: float, **learning) -> DQNLearner:
    config = LearningConfig(
        optimizer="sgd", loss="mse", lr=lr, max_grad_norm=None, batch_size=1, target_update_interval=1, **learning
    )
    return DQNLearner(config, build_q_network(network, _space(), num_actions=2), torch.device("cpu"))


def _batch(obs, actions, rewards, next_obs, discounts) -> Batch:
    as32 = lambda values: np.asarray(values, dtype=np.float32)  # noqa: E731
    return Batch(as32(obs), np.asarray(actions, dtype=np.int64), as32(rewards), as32(next_obs), as32(discounts))


@pytest.mark.parametrize("double", [False, True])
def test_linear_q_update_is_semi_gradient_q_learning(double):
    """Fourier order 1 on [0, 1]²: φ(s) = cos(π c·s) for c = 00, 01, 10, 11.

    s = (0.25, 0.5): φ(s) = (1, 0, R, -R) with R = cos(π/4); s' = (0.5, 0): φ(s') = (1, 1, 0, 0).
    θ_0 = (0.5, -1, 2, 0), θ_1 = (1, 2, 0.5, 1): Q(s', ·) = (-0.5, 3), Q(s, 1) = 1 - R/2.
    a = 1, r = 1, discount 0.9: target 1 + 0.9·3 = 3.7, δ = 3.7 - (1 - R/2).
    Semi-gradient Q-learning: θ_1 += α·δ·φ(s), θ_0 unchanged. Double DQN picks the same a' here,
    since the target network starts as a copy of the online one.
    """
    alpha = 0.1
    learner = _learner(
        NetworkConfig(q_function="linear", features="fourier", order=1, obs_bounds=UNIT_SQUARE), alpha, double=double
    )
    theta = torch.tensor([[0.5, -1.0, 2.0, 0.0], [1.0, 2.0, 0.5, 1.0]])
    with torch.no_grad():
        learner.online.head.linear.weight.copy_(theta)
    learner.update_target()

    stats = learner.update(_batch([[0.25, 0.5]], [1], [1.0], [[0.5, 0.0]], [0.9]))

    phi_s = torch.tensor([1.0, 0.0, R, -R])
    delta = 3.7 - (1.0 - R / 2)
    expected = theta.clone()
    expected[1] += alpha * delta * phi_s
    torch.testing.assert_close(learner.online.head.linear.weight.detach(), expected)
    assert stats.priorities[0] == pytest.approx(delta, rel=1e-6)
    assert stats.loss == pytest.approx(0.5 * delta**2, rel=1e-6)


def test_table_update_is_tabular_q_learning_averaged_over_the_batch():
    """2x2 cells over [0, 1]²; Q starts at 0 except Q(cell 3, ·) = (2, 5).

    Transition 1: s in cell 0, a = 0, r = 1, s' in cell 3, discount 0.5: δ = 1 + 0.5·5 - 0 = 3.5.
    Transition 2: s in cell 1, a = 1, r = -1, terminal (discount 0): δ = -1.
    With a batch of 2 the mean loss gives each table entry α·δ/2.
    """
    alpha = 0.4
    learner = _learner(NetworkConfig(q_function="table", bins=(2,), obs_bounds=UNIT_SQUARE), alpha, double=False)
    assert isinstance(learner.online.torso, FeatureTorso) and isinstance(learner.online.head, LinearQHead)
    table = learner.online.head.linear.weight  # [A, cells]
    assert table.shape == (2, 4) and learner.online.head.linear.bias is None
    with torch.no_grad():
        table[:, 3] = torch.tensor([2.0, 5.0])
    learner.update_target()

    learner.update(_batch([[0.1, 0.2], [0.3, 0.9]], [0, 1], [1.0, -1.0], [[0.9, 0.9], [0.0, 0.0]], [0.5, 0.0]))

    expected = torch.zeros(2, 4)
    expected[:, 3] = torch.tensor([2.0, 5.0])
    expected[0, 0] = alpha * 3.5 / 2
    expected[1, 1] = alpha * -1.0 / 2
    torch.testing.assert_close(table.detach(), expected)


def test_linear_q_starts_at_zero_without_bias():
    network = build_q_network(
        NetworkConfig(q_function="linear", features="tiles", bins=(3,), tilings=2, obs_bounds=UNIT_SQUARE),
        _space(),
        num_actions=3,
    )
    assert network.q_values(torch.rand(5, 2)).abs().max().item() == 0.0
    assert [name for name, _ in network.named_parameters()] == ["head.linear.weight"]
    assert network.head.linear.weight.shape == (3, 2 * 4 * 4)


def test_learning_rate_decays_linearly_to_its_floor():
    config = LearningConfig(lr=0.5, lr_end=0.1, lr_decay_steps=4)
    assert [learning_rate_at(config, step) for step in (0, 2, 4, 100)] == pytest.approx([0.5, 0.3, 0.1, 0.1])
    assert learning_rate_at(LearningConfig(lr=0.5), 100) == 0.5
    learner = _learner(
        NetworkConfig(q_function="table", bins=(2,), obs_bounds=UNIT_SQUARE), 0.5, lr_end=0.1, lr_decay_steps=4
    )
    batch = _batch([[0.1, 0.1]], [0], [1.0], [[0.1, 0.1]], [0.0])
    for _ in range(2):
        learner.update(batch)
    assert learner.optimizer.param_groups[0]["lr"] == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"network": {"order": 0}}, "network.order must be >= 1"),
        ({"network": {"bins": [4, 0]}}, "network.bins must be >= 1"),
        ({"network": {"obs_bounds": [[1.0, -1.0]]}}, "network.obs_bounds must be finite"),
        ({"network": {"obs_bounds": [[0.0, 1.0, 2.0]]}}, "network.obs_bounds must be finite"),
        ({"network": {"q_function": "linear", "dueling": True}}, "takes a plain Q head"),
        ({"network": {"q_function": "linear", "features": "rbf", "bins": [1]}}, "network.bins must be >= 2"),
        ({"network": {"q_function": "tree"}}, "network.q_function must be one of"),
        ({"learning": {"lr_end": 0.0}}, "learning.lr_end must be > 0"),
    ],
)
def test_bad_linear_config_is_one_clear_error(overrides, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Config(), overrides)


def test_too_many_features_are_refused_before_they_are_built():
    import gymnasium as gym

    space = gym.spaces.Box(-1.0, 1.0, (8,), np.float32)
    with pytest.raises(ConfigError, match="11\\^8|features, more than"):
        build_q_network(NetworkConfig(q_function="linear", order=10), space, num_actions=2)
    with pytest.raises(ConfigError, match="the table would have"):
        build_q_network(NetworkConfig(q_function="table", bins=(20,)), space, num_actions=2)


def test_obs_bounds_round_trip_through_toml():
    config = apply_overrides(Config(), {"network": {"q_function": "table", "obs_bounds": [[-1, 1], [0, 2.5]]}})
    assert config.network.obs_bounds == ((-1.0, 1.0), (0.0, 2.5))
    import tomllib

    from dqnlab.config import config_from_dict

    assert config_from_dict(tomllib.loads(config.to_toml())) == config


@pytest.mark.parametrize("features", ["polynomial", "fourier", "rbf", "tiles"])
def test_feature_counts_known_before_building_match_the_built_maps(features):
    from dqnlab.linear.qfunctions import FEATURE_COUNTS, FEATURE_MAPS

    config = NetworkConfig(q_function="linear", features=features, order=2, bins=(3, 4, 2), tilings=3)
    feature_map = FEATURE_MAPS[features](config, 3)
    assert FEATURE_COUNTS[features](config, 3) == feature_map.size
    assert feature_map(torch.rand(5, 3)).shape == (5, feature_map.size)
