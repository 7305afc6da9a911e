"""The Python API and reproducibility."""

import numpy as np
import pytest
import torch

from dqnlab import Agent, Config
from dqnlab.config import apply_overrides
from dqnlab.presets import preset_config


def _short_config(seed: int) -> Config:
    config = preset_config("cartpole", "CartPole-v1").replace(seed=seed, tensorboard=False)
    return config.replace(
        learning=config.learning.__class__(**{**config.learning.__dict__, "learning_starts": 200}),
        evaluation=config.evaluation.__class__(every=500, episodes=2, stop_at_target=False),
    )


def test_api_learns_acts_saves_and_loads(tmp_path):
    agent = Agent(_short_config(0))
    summary = agent.learn(600)
    assert summary["steps"] == 600 and agent.learner.gradient_steps > 0
    action = agent.act(np.zeros(4, dtype=np.float32))
    assert action in (0, 1)
    agent.save(tmp_path / "a.pt")
    loaded = Agent.load(tmp_path / "a.pt")
    trained, got, fresh = (a.q_network.state_dict() for a in (agent, loaded, Agent(_short_config(0))))
    assert trained.keys() == got.keys()
    for name in trained:  # every tensor comes back, and none is what a fresh agent of the seed holds
        assert torch.equal(trained[name], got[name]) and not torch.equal(fresh[name], got[name]), name
    obs = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.act_batch(obs, 0.0), agent.act_batch(obs, 0.0))


@pytest.mark.slow
def test_same_seed_and_config_give_identical_metrics(tmp_path):
    """Reproducibility on CPU: two runs with one seed write byte-identical metrics and weights."""
    outputs = []
    for name in ("a", "b"):
        agent = Agent(_short_config(7))
        agent.learn(1500, run_dir=tmp_path / name)
        outputs.append(
            (
                (tmp_path / name / "metrics.csv").read_text(),
                (tmp_path / name / "eval.csv").read_text(),
                [p.detach().clone() for p in agent.q_network.parameters()],
            )
        )
    (metrics_a, eval_a, params_a), (metrics_b, eval_b, params_b) = outputs
    assert metrics_a == metrics_b and eval_a == eval_b
    assert all((a == b).all() for a, b in zip(params_a, params_b, strict=True))
    different = Agent(_short_config(8))
    different.learn(1500, run_dir=tmp_path / "c")
    assert (tmp_path / "c" / "metrics.csv").read_text() != metrics_a  # the seed does matter


@pytest.mark.parametrize(
    "network, mean_weights",
    [({}, True), ({"noisy": True}, True), ({"noisy": True}, False)],
    ids=["mlp", "noisy-mean-weights", "noisy-sampled-weights"],
)
def test_evaluation_does_not_change_what_training_collects_and_learns(network, mean_weights):
    """Evaluation acts with its own random stream: evaluating often, rarely or never leaves the
    training trajectory, and so the learned weights, exactly as they are. Noisy nets too, whether
    evaluation acts on their mean weights or on sampled noise."""
    weights = []
    for every, episodes in ((250, 3), (0, 1)):
        config = _short_config(3)
        config = config.replace(
            network=config.network.__class__(**{**config.network.__dict__, **network}),
            evaluation=config.evaluation.__class__(
                every=every, episodes=episodes, stop_at_target=False, mean_weights=mean_weights
            ),
        )
        agent = Agent(config)
        agent.learn(1000)
        assert agent.learner.gradient_steps > 0
        weights.append(torch.cat([p.detach().reshape(-1) for p in agent.learner.online.parameters()]))
    assert torch.equal(weights[0], weights[1])


@pytest.mark.parametrize("mean_weights", [True, False])
def test_evaluation_does_not_change_what_noisy_nets_learn(mean_weights):
    """Noisy nets evaluate on their mean weights, or on noise drawn from evaluation's own generator,
    never from torch's global one that training's noise draws from: evaluating every 250 steps
    or never leaves the learned weights exactly as they are."""
    weights = []
    for every in (250, 0):
        evaluation = {"every": every, "episodes": 2, "mean_weights": mean_weights, "stop_at_target": False}
        config = apply_overrides(_short_config(3), {"network": {"noisy": True}, "evaluation": evaluation})
        agent = Agent(config)
        agent.learn(1000)
        assert agent.learner.gradient_steps > 0
        weights.append(agent.learner.flat_online.detach().clone())
    assert torch.equal(weights[0], weights[1])


def test_training_leaves_subnormal_floats_alone_outside_its_gradient_steps():
    """The learner flushes subnormals to zero for speed, but only during its own steps: the CPU
    flag also governs numpy, and user code after `learn` must get IEEE arithmetic back."""
    agent = Agent(_short_config(0))
    agent.learn(400)
    assert agent.learner.gradient_steps > 0
    assert np.float32(1e-40) * np.float32(1.0) > 0
