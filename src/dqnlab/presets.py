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
    # Hessel et al. (2018), Table 1, for envs of about 1e5 steps rather than Atari's 5e7 frames:
    # the same components, n = 3, alpha = 0.5, beta 0.4 -> 1, 51 atoms on [-10, 10], sigma0 = 0.5
    # and no epsilon; replay, warm-up and the target period shrink with the run (1M -> 100k
    # transitions, 20k -> 1k steps of warm-up, 8k -> 500 gradient steps between target copies),
    # and one update per env step with a larger step size (6.25e-5 -> 2.5e-4) fits a short run.
    "rainbow": Preset(
        "Rainbow (Hessel et al. 2018): prioritized replay, 3-step returns, dueling, noisy nets, C51, Double",
        {
            "network": {"dueling": True, "noisy": True, "distributional": "c51", "atoms": 51,
                        "v_min": -10.0, "v_max": 10.0},
            "learning": {"lr": 2.5e-4, "batch_size": 64, "target_update_interval": 500, "learning_starts": 1000,
                         "double": True},
            "replay": {"capacity": 100_000, "prioritized": True, "alpha": 0.5, "beta_start": 0.4, "n_step": 3},
            "exploration": {"schedule": "constant", "start": 0.0, "end": 0.0},
        },
    ),
    "cartpole-rainbow": Preset(
        "Rainbow tuned for CartPole-v1: the cartpole preset's net and pace, returns in [0, 100]",
        {
            "steps": 100_000,
            "network": {"hidden_sizes": [128, 128], "dueling": True, "noisy": True, "distributional": "c51",
                        "atoms": 51, "v_min": 0.0, "v_max": 100.0},  # returns of +1 per step are in [0, 1/(1-gamma)]
            "learning": {"lr": 1e-3, "batch_size": 64, "gamma": 0.99, "target_update_interval": 100,
                         "learning_starts": 1000, "train_freq": 1, "gradient_steps": 1, "max_grad_norm": 10.0},
            "replay": {"capacity": 50_000, "prioritized": True, "alpha": 0.5, "beta_start": 0.4, "n_step": 3},
            "exploration": {"schedule": "constant", "start": 0.0, "end": 0.0},
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
