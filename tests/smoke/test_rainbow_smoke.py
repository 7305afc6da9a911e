"""Every Rainbow switch, alone and together, trains a few hundred steps in-process; the presets run from the CLI."""

import json

import numpy as np
import pytest
import torch

from dqnlab import Agent
from dqnlab.cli import main
from dqnlab.config import Config, apply_overrides

SHORT = {
    "steps": 300,
    "tensorboard": False,
    "network": {"hidden_sizes": [32]},
    "learning": {"learning_starts": 100, "batch_size": 32, "target_update_interval": 50},
    "replay": {"capacity": 1000},
    "evaluation": {"every": 150, "episodes": 2, "stop_at_target": False},
}

SWITCHES = {
    "prioritized": {"replay": {"prioritized": True}},
    "n_step": {"replay": {"n_step": 3}},
    "dueling": {"network": {"dueling": True}},
    "noisy": {"network": {"noisy": True}},
    "c51": {"network": {"distributional": "c51", "atoms": 11, "v_min": 0.0, "v_max": 50.0}},
    "qr": {"network": {"distributional": "qr", "quantiles": 8}},
    "c51-single": {"network": {"distributional": "c51"}, "learning": {"double": False}},
    "reserve": {"replay": {"reserve_fraction": 0.2}},
    "two-envs-all": {
        "num_envs": 2,
        "network": {"dueling": True, "noisy": True, "distributional": "qr"},
        "replay": {"prioritized": True, "n_step": 3},
    },
}


def _config(switch: dict) -> Config:
    merged = apply_overrides(Config(), SHORT)
    return apply_overrides(merged, switch)


@pytest.mark.parametrize("name", list(SWITCHES))
def test_each_switch_trains_and_reloads(name, tmp_path):
    agent = Agent(_config(SWITCHES[name]))
    summary = agent.learn()
    assert summary["steps"] == 300 and agent.learner.gradient_steps > 0
    assert summary["best_eval_return"] is not None and np.isfinite(summary["best_eval_return"])
    obs = np.zeros(4, dtype=np.float32)
    agent.save(tmp_path / "agent.pt")
    loaded = Agent.load(tmp_path / "agent.pt")
    assert loaded.act(obs) == agent.act(obs)  # evaluation acting: mean weights for noisy nets
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.q_network.q_values(torch.as_tensor(obs[None])), agent.q_network.q_values(torch.as_tensor(obs[None]))
        )


def test_prioritized_replay_priorities_move_during_training():
    agent = Agent(_config(SWITCHES["prioritized"]))
    from dqnlab.training.loop import TrainingLoop

    loop = TrainingLoop(agent, 300, None, progress=False)
    loop.run()
    leaves = loop.collector.replay.sampler.tree.leaves[: len(loop.collector.replay)]
    assert len(np.unique(leaves)) > 10  # updated from TD errors, not all left at the max priority


def test_presets_are_listed(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "rainbow " in out and "cartpole-rainbow" in out


@pytest.mark.parametrize("preset", ["rainbow", "cartpole-rainbow"])
def test_rainbow_presets_train_and_evaluate_from_the_cli(preset, tmp_path, capsys):
    run_dir = tmp_path / preset
    args = [
        "train",
        "CartPole-v1",
        "--preset",
        preset,
        "--steps",
        "300",
        "--no-progress",
        "--run-dir",
        str(run_dir),
        "--set",
        "learning.learning_starts=100",
        "--set",
        "evaluation.every=150",
        "--set",
        "evaluation.episodes=2",
        "--set",
        "tensorboard=false",
    ]
    assert main(args) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["preset"] == preset and summary["steps"] == 300
    config_text = (run_dir / "config.toml").read_text()
    assert 'distributional = "c51"' in config_text and "prioritized = true" in config_text
    assert main(["evaluate", str(run_dir), "--episodes", "2"]) == 0


def test_bad_rainbow_values_are_one_line_errors(capsys):
    assert main(["train", "CartPole-v1", "--set", "network.v_min=5", "--set", "network.v_max=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dqnlab: error: network.v_min") and len(err.strip().splitlines()) == 1
