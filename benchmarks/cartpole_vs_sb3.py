"""dqnlab against Stable-Baselines3 DQN on CartPole-v1, run alternately in one process.

    python benchmarks/cartpole_vs_sb3.py solve --seeds 0-9          # time and steps to solve
    python benchmarks/cartpole_vs_sb3.py throughput --steps 20000   # env steps/s and updates/s

solve: dqnlab's `cartpole` preset vs SB3 DQN with the rl-baselines3-zoo CartPole-v1
hyperparameters. Solved = the greedy policy's mean return over 20 episodes first >= 475,
evaluated every 1,000 env steps; evaluation time is excluded from both libraries' seconds.

throughput: both libraries with the zoo hyperparameters (dqnlab set to match: no Double DQN,
Huber loss, grad-norm clip 10, hard target copy every 10 updates) for a fixed number of steps,
without evaluation. SB3 runs twice: with its defaults, and with subnormal floats flushed to
zero for its whole run (dqnlab flushes them during its gradient steps), which shows how much
of the ratio that one setting makes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from dqnlab import Agent
from dqnlab.config import apply_overrides
from dqnlab.presets import preset_config
from dqnlab.training.evaluation import evaluate

ENV_ID = "CartPole-v1"
SOLVE_AT = 475.0
EVAL_EVERY = 1000
EVAL_EPISODES = 20
BUDGET = 100_000

# rl-baselines3-zoo hyperparams/dqn.yml, CartPole-v1. The zoo trains 50k steps with exploration
# fraction 0.16 (epsilon reaches 0.04 after 8k steps); with our 100k budget, 0.08 keeps that schedule.
ZOO = dict(
    learning_rate=2.3e-3,
    batch_size=64,
    buffer_size=100_000,
    learning_starts=1000,
    gamma=0.99,
    target_update_interval=10,
    train_freq=256,
    gradient_steps=128,
    exploration_final_eps=0.04,
    policy_kwargs=dict(net_arch=[256, 256]),
)
ZOO_EPSILON_STEPS = 8_000

# The same settings in dqnlab's terms.
DQNLAB_AT_ZOO = {
    "network": {"hidden_sizes": [256, 256]},
    "learning": {
        "lr": 2.3e-3,
        "batch_size": 64,
        "learning_starts": 1000,
        "gamma": 0.99,
        "target_update_interval": 10,
        "train_freq": 256,
        "gradient_steps": 128,
        "double": False,
        "loss": "huber",
        "max_grad_norm": 10.0,
        "optimizer": "adam",
    },
    "replay": {"capacity": 100_000},
    "exploration": {"schedule": "linear", "start": 1.0, "end": 0.04, "decay_steps": ZOO_EPSILON_STEPS},
}


def _seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(s) for s in text.split(",")]


def dqnlab_solve(seed: int) -> dict[str, Any]:
    config = preset_config("cartpole", ENV_ID).replace(seed=seed, steps=BUDGET, tensorboard=False)
    config = apply_overrides(
        config, {"evaluation": {"every": EVAL_EVERY, "episodes": EVAL_EPISODES, "target_return": SOLVE_AT}}
    )
    summary = Agent(config).learn()
    return {"steps": summary["solved_at_step"], "seconds": summary["solved_at_s"]}


def sb3_solve(seed: int) -> dict[str, Any]:
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    class SolveCallback(BaseCallback):
        """Evaluates greedily every 1,000 steps, keeps evaluation out of the clock, stops when solved."""

        def __init__(self) -> None:
            super().__init__()
            self.eval_seconds = 0.0
            self.solved_at: int | None = None

        def _on_step(self) -> bool:
            if self.num_timesteps % EVAL_EVERY:
                return True
            began = time.perf_counter()

            def policy(obs: np.ndarray, epsilon: float) -> np.ndarray:
                return self.model.predict(obs, deterministic=True)[0]

            returns = evaluate(policy, ENV_ID, EVAL_EPISODES, 0.0, seed=seed + 10_000)
            self.eval_seconds += time.perf_counter() - began
            if returns.mean() >= SOLVE_AT:
                self.solved_at = self.num_timesteps
                return False
            return True

    env = gym.make(ENV_ID)
    model = DQN(
        "MlpPolicy", env, seed=seed, exploration_fraction=ZOO_EPSILON_STEPS / BUDGET, verbose=0, device="cpu", **ZOO
    )
    callback = SolveCallback()
    began = time.perf_counter()
    model.learn(total_timesteps=BUDGET, callback=callback)
    seconds = time.perf_counter() - began - callback.eval_seconds
    return {"steps": callback.solved_at, "seconds": round(seconds, 3) if callback.solved_at else None}


def dqnlab_throughput(steps: int, seed: int) -> dict[str, float]:
    config = preset_config("dqn", ENV_ID).replace(seed=seed, steps=steps, tensorboard=False)
    config = apply_overrides(
        config, {**DQNLAB_AT_ZOO, "evaluation": {"every": 0, "stop_at_target": False, "episodes": 1}}
    )
    agent = Agent(config)
    summary = agent.learn()
    return {
        "env_steps_per_s": steps / summary["train_s"],
        "updates_per_s": agent.learner.gradient_steps / summary["train_s"],
    }


def sb3_throughput(steps: int, seed: int, flush_denormal: bool = False) -> dict[str, float]:
    """SB3 leaves subnormal floats on (its default); `flush_denormal` gives it dqnlab's setting."""
    from stable_baselines3 import DQN

    torch.set_flush_denormal(flush_denormal)

    model = DQN(
        "MlpPolicy",
        gym.make(ENV_ID),
        seed=seed,
        exploration_fraction=ZOO_EPSILON_STEPS / steps,
        verbose=0,
        device="cpu",
        **ZOO,
    )
    began = time.perf_counter()
    model.learn(total_timesteps=steps)
    seconds = time.perf_counter() - began
    return {"env_steps_per_s": steps / seconds, "updates_per_s": model._n_updates / seconds}


def run_solve(seeds: list[int]) -> None:
    rows = []
    print("| seed | dqnlab steps | dqnlab s | SB3 steps | SB3 s |")
    print("|---|---|---|---|---|")
    for seed in seeds:  # alternate the libraries so machine load affects both alike
        ours, theirs = dqnlab_solve(seed), sb3_solve(seed)
        rows.append((ours, theirs))
        print(f"| {seed} | {ours['steps']} | {ours['seconds']} | {theirs['steps']} | {theirs['seconds']} |", flush=True)
    for name, index in (("dqnlab", 0), ("SB3", 1)):
        solved = [row[index] for row in rows if row[index]["steps"] is not None]
        line = f"{name}: solved {len(solved)}/{len(rows)} within {BUDGET:,} steps"
        if solved:
            line += (
                f"; median {statistics.median(r['steps'] for r in solved):,.0f} steps, "
                f"{statistics.median(r['seconds'] for r in solved):.1f} s"
            )
        print(line)


def run_throughput(steps: int, repeats: int) -> None:
    results: dict[str, list[dict[str, float]]] = {"dqnlab": [], "SB3": [], "SB3, subnormals flushed": []}
    for repeat in range(repeats):
        results["dqnlab"].append(dqnlab_throughput(steps, repeat))
        results["SB3"].append(sb3_throughput(steps, repeat))
        results["SB3, subnormals flushed"].append(sb3_throughput(steps, repeat, flush_denormal=True))
    medians = {
        name: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for name, runs in results.items()
    }
    print(f"| library | env steps/s | updates/s |  ({steps:,} steps, median of {repeats})")
    print("|---|---|---|")
    for name, row in medians.items():
        print(f"| {name} | {row['env_steps_per_s']:,.0f} | {row['updates_per_s']:,.0f} |")
    for name in ("SB3", "SB3, subnormals flushed"):
        ratio = medians["dqnlab"]["env_steps_per_s"] / medians[name]["env_steps_per_s"]
        print(f"dqnlab / {name}, env steps per second: {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description="dqnlab vs Stable-Baselines3 DQN on CartPole-v1")
    parser.add_argument("mode", choices=["solve", "throughput"])
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)  # both libraries on one thread: small nets run fastest so
    if args.mode == "solve":
        run_solve(_seeds(args.seeds))
    else:
        run_throughput(args.steps, args.repeats)


if __name__ == "__main__":
    main()
