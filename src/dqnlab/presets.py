"""Named configurations. Each preset is a nested dict of overrides applied to the defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dqnlab.config import Config, apply_overrides
from dqnlab.errors import ConfigError


@dataclass(frozen=True)
class Preset:
    description: str
    overrides: dict[str, Any]


PRESETS: dict[str, Preset] = {
    "dqn": Preset(
        "textbook Double DQN: replay 100k, hard target copy every 500 updates, Adam, Huber loss",
        {},
    ),
    "cartpole": Preset(
        "tuned to solve CartPole-v1 in few env steps and seconds",
        {
            "steps": 100_000,
            "network": {"hidden_sizes": [128, 128]},
            "learning": {
                "lr": 1e-3,
                "batch_size": 64,
                "gamma": 0.99,
                "target_update_interval": 100,
                "learning_starts": 1000,
                "train_freq": 1,
                "gradient_steps": 1,
                "max_grad_norm": 10.0,
            },
            "replay": {"capacity": 50_000},
            "exploration": {"start": 1.0, "end": 0.02, "decay_steps": 5_000},
            "evaluation": {"every": 1000, "episodes": 10},
        },
    ),
}


def preset_config(name: str, env_id: str | None = None) -> Config:
    """The config of preset `name`, for `env_id` when given."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}'; choose one of: {', '.join(PRESETS)}")
    config = apply_overrides(Config(), {**PRESETS[name].overrides, "preset": name})
    return config.replace(env_id=env_id) if env_id else config
