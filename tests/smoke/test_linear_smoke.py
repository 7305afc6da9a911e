"""Every q_function and feature map trains a few hundred steps in-process, through the API and the CLI."""

import json
import tomllib

import numpy as np
import pytest
import torch

from dqnlab import Agent, Config
from dqnlab.cli import main
from dqnlab.config import apply_overrides

SHORT = {"steps": 300, "tensorboard": False, "evaluation": {"every": 300, "episodes": 2, "stop_at_target": False}}


@pytest.mark.parametrize(
    "network",
    [
        {"q_function": "table", "bins": [1, 1, 6, 6]},
        {"q_function": "linear", "features": "fourier", "order": 2},
        {"q_function": "linear", "features": "polynomial", "order": 2},
        {"q_function": "linear", "features": "rbf", "bins": [3]},
        {"q_function": "linear", "features": "tiles", "bins": [3], "tilings": 4},
        {"q_function": "mlp", "hidden_sizes": [32]},
    ],
    ids=["table", "fourier", "polynomial", "rbf", "tiles", "mlp"],
)
def test_each_q_function_trains_on_cartpole(network):
    lr = 1e-3 if network["q_function"] == "mlp" else 0.05  # online SGD at 0.05 sends the MLP to inf
    online = {
        "optimizer": "sgd",
        "loss": "mse",
        "lr": lr,
        "batch_size": 1,
        "learning_starts": 0,
        "target_update_interval": 1,
        "double": False,
        "max_grad_norm": None,
    }
    config = apply_overrides(Config(), {**SHORT, "network": network, "learning": online, "replay": {"capacity": 1}})
    agent = Agent(config)
    summary = agent.learn()
    assert summary["steps"] == 300 and summary["gradient_steps"] == 300
    assert all(np.isfinite(p.detach().numpy()).all() for p in agent.q_network.parameters())
    if network["q_function"] != "mlp":
        assert agent.config.network.obs_bounds[1] == (-3.0, 3.0)  # CartPole's default bounds are recorded


@pytest.mark.parametrize(
    ("preset", "env_id"), [("cartpole-linear", "CartPole-v1"), ("mountaincar-linear", "MountainCar-v0")]
)
def test_linear_presets_train_save_and_evaluate_through_the_cli(preset, env_id, tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = [
        "train",
        env_id,
        "--preset",
        preset,
        "--steps",
        "400",
        "--no-progress",
        "--run-dir",
        str(run_dir),
        "--set",
        "learning.learning_starts=100",
        "--set",
        "evaluation.every=400",
        "--set",
        "evaluation.episodes=2",
    ]
    assert main(args) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["preset"] == preset and summary["steps"] == 400
    config = tomllib.loads((run_dir / "config.toml").read_text())
    assert config["network"]["q_function"] == "linear" and len(config["network"]["obs_bounds"]) > 0
    assert main(["evaluate", str(run_dir), "--episodes", "2"]) == 0
    assert "over 2 episodes" in capsys.readouterr().out


def test_table_agent_saves_and_loads(tmp_path):
    """Learning from step 50, so the table is no longer all zeros; loaded, every entry is back."""
    learning = {"learning_starts": 50, "batch_size": 16}
    config = apply_overrides(Config(), {**SHORT, "network": {"q_function": "table", "bins": [4]}, "learning": learning})
    agent = Agent(config)
    agent.learn(200)
    weight = agent.q_network.head.linear.weight
    assert weight.shape == (2, 4**4) and torch.count_nonzero(weight) > 0
    agent.save(tmp_path / "table.pt")
    loaded = Agent.load(tmp_path / "table.pt")
    saved, got = agent.q_network.state_dict(), loaded.q_network.state_dict()
    assert saved.keys() == got.keys() and all(torch.equal(saved[key], got[key]) for key in saved)
    obs = np.random.default_rng(0).uniform(-1, 1, size=(100, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.act_batch(obs, 0.0), agent.act_batch(obs, 0.0))
