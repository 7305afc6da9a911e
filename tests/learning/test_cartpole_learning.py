"""The `cartpole` preset solves CartPole-v1: greedy mean return >= 475 over 10 episodes."""

import pytest

from dqnlab import Agent
from dqnlab.config import apply_overrides
from dqnlab.presets import preset_config

SOLVE_SEED = 7
STEP_BUDGET = 60_000  # env steps; seeds 0-9 solve in 3k-30k, seed 7 at 10k (BENCHMARKS.md, 20-episode criterion)


@pytest.mark.slow
def test_cartpole_preset_solves_cartpole(tmp_path, reevaluate):
    config = preset_config("cartpole", "CartPole-v1").replace(seed=SOLVE_SEED, steps=STEP_BUDGET, tensorboard=False)
    agent = Agent(config)
    summary = agent.learn(run_dir=tmp_path / "run")
    assert summary["solved_at_step"] is not None, summary
    assert summary["best_eval_return"] >= 475.0
    # the kept best model really is the solved one: evaluate it again on fresh seeds
    returns = reevaluate(tmp_path / "run")
    assert returns.mean() >= 400.0, returns


HOLD_SEED = 9  # in the 10-seed forgetting run (docs/forgetting.md) it solved at 6k and held 500 from 6k on
HOLD_BUDGET = 60_000  # env steps: the lr is annealed by about 41k; the last 10 evaluations span 42k-60k


@pytest.mark.slow
def test_cartpole_stable_stays_solved_after_it_solves(tmp_path):
    config = preset_config("cartpole-stable", "CartPole-v1").replace(
        seed=HOLD_SEED, steps=HOLD_BUDGET, tensorboard=False
    )
    config = apply_overrides(config, {"evaluation": {"every": 2000, "episodes": 20}})  # the forgetting protocol
    summary = Agent(config).learn(run_dir=tmp_path / "run")
    assert summary["steps"] == HOLD_BUDGET  # no stop at the target: it trains on
    assert summary["solved_at_step"] is not None and summary["solved_at_step"] <= 20_000, summary
    assert summary["last_10_mean"] >= 475.0, summary
