"""Saving and loading agents: weights round trip, and refusal of foreign or mismatched files."""

import pickle
import warnings

import numpy as np
import pytest
import torch

from dqnlab import Agent, Config
from dqnlab.errors import CheckpointError
from dqnlab.training.weights import load_checkpoint


def _agent(**network):
    config = Config(env_id="CartPole-v1", tensorboard=False)
    if network:
        config = config.replace(network=config.network.__class__(**network))
    return Agent(config)


def _trained_and_perturbed(agent: Agent) -> Agent:
    """Weights no fresh agent of the same seed has: a few gradient steps, then noise on every tensor."""
    agent.learn(150)
    assert agent.learner.gradient_steps > 0
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in agent.q_network.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))
    return agent


def test_save_and_load_round_trip_the_weights_and_the_policy(tmp_path):
    config = Config(env_id="CartPole-v1", device="cpu", tensorboard=False)
    config = config.replace(
        network=config.network.__class__(hidden_sizes=(16,)),
        learning=config.learning.__class__(learning_starts=50, batch_size=16),
        evaluation=config.evaluation.__class__(every=0, episodes=1),
    )
    agent = _trained_and_perturbed(Agent(config))
    path = tmp_path / "agent.pt"
    agent.save(path)
    loaded = Agent.load(path)
    assert loaded.config == agent.config
    saved, got, fresh = (a.q_network.state_dict() for a in (agent, loaded, Agent(config)))
    assert saved.keys() == got.keys()
    for name in saved:
        assert torch.equal(saved[name], got[name]), name
        assert not torch.equal(fresh[name], got[name]), f"{name}: a fresh agent of the same seed has it too"
    obs = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    np.testing.assert_array_equal(agent.act_batch(obs, 0.0), loaded.act_batch(obs, 0.0))


def test_checkpoints_hold_only_plain_data_loadable_with_weights_only(tmp_path):
    agent = _agent(hidden_sizes=(8,))
    path = tmp_path / "agent.pt"
    agent.save(path)
    payload = torch.load(path, weights_only=True)  # would raise if any object needed unpickling code
    assert payload["format"] == "dqnlab-checkpoint-v1"


def test_a_pickled_object_is_refused_without_running_it(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "dqnlab-checkpoint-v1", "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "content",
    [
        b"step,episode,return\n100,1,21.0\n",  # metrics.csv: torch's unpickler raised IndexError
        b"hello\n",  # torch's message advised weights_only=False
        pickle.dumps({"weights": [1.0, 2.0]}, protocol=4),  # torch warned about the protocol first
        b"",
    ],
)
def test_a_file_that_is_not_a_checkpoint_gets_one_line_without_torchs_advice_or_warnings(tmp_path, content):
    path = tmp_path / "file.pt"
    path.write_bytes(content)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(CheckpointError) as refused:
        warnings.simplefilter("always")
        load_checkpoint(path)
    assert not caught, [str(w.message) for w in caught]
    assert str(refused.value) == f"cannot read checkpoint {path}: not a file dqnlab saved, or a damaged one"


def test_a_network_of_another_shape_is_refused_with_the_reason(tmp_path):
    agent = _agent(hidden_sizes=(16,))
    path = tmp_path / "agent.pt"
    payload = agent.checkpoint_payload()
    payload["config"]["network"]["hidden_sizes"] = [32]
    from dqnlab.training.weights import save_checkpoint

    save_checkpoint(path, payload)
    with pytest.raises(CheckpointError, match="network does not match its config"):
        Agent.load(path)


def test_a_checkpoint_for_another_env_shape_is_refused(tmp_path):
    agent = _agent(hidden_sizes=(16,))
    payload = agent.checkpoint_payload()
    payload["observation_shape"] = [8]
    path = tmp_path / "agent.pt"
    from dqnlab.training.weights import save_checkpoint

    save_checkpoint(path, payload)
    with pytest.raises(CheckpointError, match=r"saved for observations \(8,\) and 2 actions; CartPole-v1 has \(4,\)"):
        Agent.load(path)
