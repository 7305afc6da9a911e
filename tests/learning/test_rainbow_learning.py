"""The `cartpole-rainbow` preset learns CartPole-v1 within a bounded budget.

Threshold, honestly: a greedy mean return of at least 150 over 10 evaluation episodes within
6,000 env steps, seed 1. An untrained policy scores about 10-25; solved is 475. With this
budget (which also sets prioritized replay's beta schedule) the evaluations of seed 1 climb
18.6, 128, 121, 121, 159 (step 5,000, where the test stops), 174.5 on the 2-core CPU with
torch 2.13; given 14,000 steps the same seed reaches 373. On a 16-core machine (torch 2.11)
seeds 1-4 reached 475 at 5k-13k steps (docs/rainbow.md). Solving takes one to two minutes of a
CPU core, so this test shows learning, not solving, and stays under 90 s.
"""

import pytest

from dqnlab import Agent
from dqnlab.config import apply_overrides
from dqnlab.presets import preset_config

SEED = 1
STEP_BUDGET = 6_000  # env steps
THRESHOLD = 150.0  # greedy mean return over 10 episodes


@pytest.mark.slow
def test_cartpole_rainbow_learns_within_a_bounded_budget():
    config = preset_config("cartpole-rainbow", "CartPole-v1").replace(seed=SEED, steps=STEP_BUDGET, tensorboard=False)
    config = apply_overrides(config, {"evaluation": {"every": 1000, "episodes": 10, "target_return": THRESHOLD}})
    assert config.network.noisy and config.replay.prioritized and config.network.distributional == "c51"
    summary = Agent(config).learn()
    assert summary["solved_at_step"] is not None, summary  # stops at the first evaluation >= THRESHOLD
    assert summary["best_eval_return"] >= THRESHOLD


QR_SEED = 2
QR_STEP_BUDGET = 20_000  # env steps; seed 2 solves at 8,000 (38 s on the 2-core CPU, torch 2.13)


@pytest.mark.slow
def test_qr_dqn_solves_cartpole():
    """QR-DQN (Dabney et al. 2018) in the cartpole-rainbow agent, 50 quantiles, epsilon-greedy in
    place of noisy nets: greedy mean >= 475 over 10 episodes, CartPole-v1's reward threshold.
    With noisy nets on, the same head had not solved seeds 1 and 3 within 15-20k steps."""
    config = preset_config("cartpole-rainbow", "CartPole-v1").replace(
        seed=QR_SEED, steps=QR_STEP_BUDGET, tensorboard=False
    )
    config = apply_overrides(config, {"network": {"distributional": "qr", "quantiles": 50, "noisy": False}})
    assert config.replay.prioritized and config.replay.n_step == 3 and config.exploration.schedule == "linear"
    summary = Agent(config).learn()
    assert summary["solved_at_step"] is not None, summary
    assert summary["best_eval_return"] >= 475.0
