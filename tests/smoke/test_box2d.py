"""LunarLander-v3 (Box2D, the `box2d` extra): trains, and checkpoints all but its physics world."""

from __future__ import annotations

from dqnlab import Agent, Config
from dqnlab.config import apply_overrides


def test_lunar_lander_trains_and_checkpoints_everything_but_its_world(tmp_path, capsys) -> None:
    config = apply_overrides(
        Config(env_id="LunarLander-v3", seed=0, steps=300, device="cpu", tensorboard=False),
        {
            "network": {"hidden_sizes": [16]},
            "learning": {"learning_starts": 100, "batch_size": 8},
            "evaluation": {"every": 0, "episodes": 1},
            "checkpoint": {"every": 100},
        },
    )
    summary = Agent(config).learn(run_dir=tmp_path / "run")
    assert summary["steps"] == 300 and summary["gradient_steps"] == 201
    assert capsys.readouterr().err.count("checkpoints hold everything but the state of") == 1
