"""Seed populations against sequential runs, on CartPole-v1 with the `cartpole` preset (or any env
and preset: `--env MinAtar/SpaceInvaders-v0 --preset minatar-dqn`).

    python benchmarks/population.py throughput --members 10 --steps 5000   # env steps/s
    python benchmarks/population.py solve --seeds 0-9                      # wall time until every seed solved
    python benchmarks/population.py scaling --members 1,2,5,10,20,50 --steps 5000
    python benchmarks/population.py variants --variants 4 --members 5 --steps 5000  # merged variants
    python benchmarks/population.py bound --members 10 --steps 5000   # the most a population can gain here
    python benchmarks/population.py scaling --members 10,100,1000 --steps 1000 --learning-starts 500 --device cuda
    python benchmarks/population.py throughput --env MinAtar/SpaceInvaders-v0 --preset minatar-dqn --members 10 \
        --steps 3000 --learning-starts 1000

throughput: a population of P members, P sequential dqnlab runs and (when stable-baselines3 is
installed, on CartPole) P sequential SB3 runs with the rl-baselines3-zoo CartPole hyperparameters, each for
`--steps` env steps per seed without evaluation; env steps per second counts all seeds' steps.
solve: evaluation every 1,000 env steps (20 episodes, solved at a mean of 475, a member stops
when solved); wall time until every seed has solved, for the population, for the seeds one after
another, and for seed 0 alone (the goal: P seeds within 2x the wall time of one); and whether each
member's summary (solved step, episodes, gradient steps, evaluations) equals its single run's.
scaling: the population's env steps/s for each population size.
variants: V learning rates x P seeds as one population (`experiment --merge-variants`) against one
population per variant, one after another (`experiment` without it, on one worker).
bound: the part of a population's step that stacking cannot shrink on this machine: its matrix
products (self time of the product ops, from the torch profiler) and its members' Gymnasium env
steps (each member's own vector env, as a population runs them, random actions), against one
sequential run's time per env step; their ratio bounds the population's gain over sequential runs.
`--device` and `--learning-starts` apply to every dqnlab run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from dqnlab import Agent
from dqnlab.config import Config, apply_overrides
from dqnlab.envs import make_vector_env
from dqnlab.population.run import parse_seeds, train_population
from dqnlab.presets import preset_config

RUN = {"env": "CartPole-v1", "preset": "cartpole"}  # --env and --preset
NO_EVALUATION = {"evaluation": {"every": 0, "episodes": 1, "stop_at_target": False}, "tensorboard": False}
SOLVE = {
    "evaluation": {"every": 1000, "episodes": 20, "target_return": 475.0, "stop_at_target": True},
    "tensorboard": False,
}


def _sb3_benchmark() -> Any:
    """benchmarks/cartpole_vs_sb3.py, for its SB3 runs (zoo hyperparameters)."""
    path = Path(__file__).with_name("cartpole_vs_sb3.py")
    spec = importlib.util.spec_from_file_location("cartpole_vs_sb3", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SETTINGS: dict[str, Any] = {}  # --device and --learning-starts, for every dqnlab run


def _configs(seeds: list[int], steps: int, values: dict[str, Any]) -> list[Config]:
    base = preset_config(RUN["preset"], RUN["env"]).replace(steps=steps)
    base = apply_overrides(base, {**values, **SETTINGS})
    return [base.replace(seed=seed) for seed in seeds]


def population_rate(members: int, steps: int) -> tuple[float, float]:
    """(env steps/s of all members together, wall seconds) of a population without evaluation."""
    began = time.perf_counter()
    train_population(_configs(list(range(members)), steps, NO_EVALUATION), None)
    seconds = time.perf_counter() - began
    return members * steps / seconds, seconds


def sequential_rate(members: int, steps: int) -> tuple[float, float]:
    began = time.perf_counter()
    for config in _configs(list(range(members)), steps, NO_EVALUATION):
        Agent(config).learn()
    seconds = time.perf_counter() - began
    return members * steps / seconds, seconds


def sb3_rate(members: int, steps: int) -> tuple[float, float] | None:
    if RUN["env"] != "CartPole-v1" or importlib.util.find_spec("stable_baselines3") is None:
        return None
    sb3 = _sb3_benchmark()
    began = time.perf_counter()
    for seed in range(members):
        sb3.sb3_throughput(steps, seed, flush_denormal=True)
    seconds = time.perf_counter() - began
    return members * steps / seconds, seconds


def run_throughput(members: int, steps: int) -> None:
    population_rate(2, 300)  # warm-up: imports, first kernels
    rows = {"population": population_rate(members, steps), "sequential dqnlab": sequential_rate(members, steps)}
    sb3 = sb3_rate(members, steps)
    if sb3 is not None:
        rows["sequential SB3 (zoo)"] = sb3
    print(f"| {RUN['env']}, {RUN['preset']}: {members} seeds x {steps:,} steps | env steps/s | wall s |")
    print("|---|---|---|")
    for name, (rate, seconds) in rows.items():
        print(f"| {name} | {rate:,.0f} | {seconds:.1f} |")
    base = rows["population"][0]
    for name, (rate, _) in rows.items():
        if name != "population":
            print(f"population / {name}: {base / rate:.1f}x")


def _lane_eval_seconds(directory: Path) -> float:
    """Seconds the members of a population spent evaluating, from their summaries."""
    summaries = [json.loads(path.read_text()) for path in directory.glob("*/summary.json")]
    return sum(summary["wall_s"] - summary["train_s"] for summary in summaries)


SAME_RUN = ("solved_at_step", "episodes", "gradient_steps", "best_eval_return", "last_10_mean")


def run_solve(seeds: list[int], budget: int) -> None:
    """Wall time until every seed solved, with and without the evaluations' time; and whether each
    member made its single run (docs/populations.md: it should, bit for bit)."""
    with tempfile.TemporaryDirectory() as scratch:
        began = time.perf_counter()
        summary = train_population(_configs(seeds, budget, SOLVE), Path(scratch))
        population_s = time.perf_counter() - began
        population_eval_s = _lane_eval_seconds(Path(scratch))
        members = {
            run["seed"]: run for run in map(json.loads, map(Path.read_text, Path(scratch).glob("*/summary.json")))
        }
    sequential_s, sequential_eval_s, one, differ = 0.0, 0.0, None, []
    for config in _configs(seeds, budget, SOLVE):
        began = time.perf_counter()
        run = Agent(config).learn()
        seconds = time.perf_counter() - began
        sequential_s += seconds
        sequential_eval_s += run["wall_s"] - run["train_s"]
        one = one or (seconds, run["wall_s"] - run["train_s"], run["solved_at_step"])
        if any(members[config.seed][key] != run[key] for key in SAME_RUN):
            differ.append(config.seed)
    assert one is not None
    header = f"| {len(seeds)} seeds, {RUN['env']}, {RUN['preset']} preset, budget {budget:,} |"
    print(header + " wall s until all solved | without evaluation | solved |")
    print("|---|---|---|---|")
    print(f"| population | {population_s:.1f} | {population_s - population_eval_s:.1f} | {summary['solved']} |")
    print(f"| sequential dqnlab | {sequential_s:.1f} | {sequential_s - sequential_eval_s:.1f} | |")
    print(f"| seed {seeds[0]} alone | {one[0]:.1f} | {one[0] - one[1]:.1f} | solved at {one[2]} |")
    print(
        f"population / one seed: {population_s / one[0]:.2f}x the wall time "
        f"({(population_s - population_eval_s) / (one[0] - one[1]):.2f}x without evaluation); "
        f"sequential / population: {sequential_s / population_s:.1f}x"
    )
    print(
        f"members that made their single run ({', '.join(SAME_RUN)} equal): {len(seeds) - len(differ)}/{len(seeds)}"
        + (f"; not seeds {differ}" if differ else "")
    )


def run_scaling(sizes: list[int], steps: int) -> None:
    population_rate(2, 300)  # warm-up: imports, first kernels
    one_rate = None
    print(f"| members | env steps/s (all members) | wall s | vs {sizes[0]} |  ({steps:,} steps each)")
    print("|---|---|---|---|")
    for members in sizes:
        rate, seconds = population_rate(members, steps)
        one_rate = one_rate or rate
        print(f"| {members} | {rate:,.0f} | {seconds:.1f} | {rate / one_rate:.1f}x |", flush=True)


def run_variants(variants: int, members: int, steps: int) -> None:
    population_rate(2, 300)  # warm-up: imports, first kernels
    lrs = [1e-3 * 2 ** (index - variants // 2) for index in range(variants)]
    groups = [_configs(list(range(members)), steps, {**NO_EVALUATION, "learning": {"lr": lr}}) for lr in lrs]
    total = variants * members * steps
    began = time.perf_counter()
    train_population([config for group in groups for config in group], None)
    merged = time.perf_counter() - began
    began = time.perf_counter()
    for group in groups:
        train_population(group, None)
    apart = time.perf_counter() - began
    title = f"{RUN['env']}, {RUN['preset']}: {variants} lr variants x {members} seeds x {steps:,} steps"
    print(f"| {title} | env steps/s | wall s |")
    print("|---|---|---|")
    print(f"| one population of {variants * members} | {total / merged:,.0f} | {merged:.1f} |")
    print(f"| {variants} populations of {members}, one after another | {total / apart:,.0f} | {apart:.1f} |")
    print(f"merged / apart: {apart / merged:.1f}x")


PRODUCT_OPS = (
    "aten::bmm",
    "aten::baddbmm",
    "aten::mm",
    "aten::addmm",
    "aten::mkldnn_convolution",
    "aten::convolution_backward",
)


def env_seconds(members: int, steps: int) -> float:
    """Seconds for `steps` steps of `members` one-env vector envs (a population's members' envs)."""
    envs = [make_vector_env(RUN["env"], 1) for _ in range(members)]
    for seed, env in enumerate(envs):
        env.reset(seed=seed)
        env.action_space.seed(seed)
    actions = [[env.action_space.sample() for _ in range(steps)] for env in envs]
    began = time.perf_counter()
    for step in range(steps):
        for env, member_actions in zip(envs, actions, strict=True):
            env.step(member_actions[step])
    seconds = time.perf_counter() - began
    for env in envs:
        env.close()
    return seconds


def run_bound(members: int, steps: int) -> None:
    """The population's floor per step (products + env steps) against its time and sequential runs'."""
    population_rate(2, 300)  # warm-up
    single_rate, _ = sequential_rate(1, steps)
    population, _ = population_rate(members, steps)  # timed apart: the profiler slows every op it records
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        population_rate(members, steps)
    products_s = sum(row.self_cpu_time_total for row in profiler.key_averages() if row.key in PRODUCT_OPS) / 1e6
    envs_s = env_seconds(members, steps)
    sequential_us = members / single_rate * 1e6
    floor_us = (products_s + envs_s) / steps * 1e6
    print(f"| {RUN['env']}, {RUN['preset']}, {members} members: per population step | us |")
    print("|---|---:|")
    print(f"| {members} sequential runs ({single_rate:,.0f} env steps/s each) | {sequential_us:,.0f} |")
    print(f"| the population as it is ({population:,.0f} env steps/s) | {members / population * 1e6:,.0f} |")
    print(f"| the population's matrix products | {products_s / steps * 1e6:,.0f} |")
    print(f"| its members' env steps | {envs_s / steps * 1e6:,.0f} |")
    print(f"| floor: products + env steps | {floor_us:,.0f} |")
    print(f"most a population can gain over sequential runs here: {sequential_us / floor_us:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description="seed populations vs sequential runs (CartPole-v1 by default)")
    parser.add_argument("mode", choices=["throughput", "solve", "scaling", "variants", "bound"])
    parser.add_argument("--env", default=RUN["env"])
    parser.add_argument("--preset", default=RUN["preset"])
    parser.add_argument("--members", default="10", help="population size; for scaling a list, e.g. 1,2,5")
    parser.add_argument("--variants", type=int, default=4, help="variants: how many learning rates")
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--steps", type=int, default=5_000, help="env steps per member")
    parser.add_argument("--budget", type=int, default=50_000, help="solve: env steps per member at most")
    parser.add_argument("--device", default="cpu", help="cpu or cuda, for dqnlab")
    parser.add_argument("--learning-starts", type=int, default=None, help="learning.learning_starts (preset: 1000)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    RUN.update(env=args.env, preset=args.preset)
    SETTINGS["device"] = args.device
    if args.learning_starts is not None:
        SETTINGS["learning"] = {"learning_starts": args.learning_starts}
    if args.mode == "throughput":
        run_throughput(int(args.members), args.steps)
    elif args.mode == "solve":
        run_solve(parse_seeds(args.seeds), args.budget)
    elif args.mode == "variants":
        run_variants(args.variants, int(args.members), args.steps)
    elif args.mode == "bound":
        run_bound(int(args.members), args.steps)
    else:
        run_scaling([int(size) for size in args.members.split(",")], args.steps)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
