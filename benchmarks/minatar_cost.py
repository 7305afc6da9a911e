"""What a MinAtar frame costs dqnlab: acting, the env step, replay sampling and the gradient step, on one thread.

    python benchmarks/minatar_cost.py [--preset minatar-dqn] [--env MinAtar/SpaceInvaders-v0] [--repeats 2000]

Times each part on its own (medians of blocks of 100 calls, after a warm-up), then a short real
run of the loop with its updates on and no evaluation, and prints the cost per frame and the wall
time that 5M frames would take at it. Read the parts for where the time goes, the run for the total.

For `minatar-dqn` it also times a plain PyTorch step of the same network and optimizer (an
`nn.Module` per layer, `torch.optim.RMSprop` over its tensors, the DQN target and Huber loss: the
step a reader would write from Young & Tian's description) against dqnlab's, alternating blocks
on the same batches, so that their ratio holds on a busy machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dqnlab import Agent
from dqnlab.config import Config, apply_overrides, parse_assignments
from dqnlab.envs import make_vector_env
from dqnlab.presets import preset_config
from dqnlab.replay import ReplayMemory, build_replay
from dqnlab.types import Batch

FRAMES = 5_000_000


def median_us(call: Callable[[], object], repeats: int, block: int = 100) -> float:
    """Median over blocks of `block` calls of the time per call, in microseconds."""
    for _ in range(min(block, repeats)):  # warm-up
        call()
    times = []
    for _ in range(max(1, repeats // block)):
        began = time.perf_counter()
        for _ in range(block):
            call()
        times.append((time.perf_counter() - began) / block * 1e6)
    return statistics.median(times)


def plain_step(
    config: Config, obs_shape: tuple[int, ...], num_actions: int, compiled: bool = False
) -> Callable[[Batch], float]:
    """A `minatar-dqn` gradient step written plainly: its network as layers, torch's RMSprop over
    their tensors, target max_a' Q(s', a'), Huber loss, a target copy every 1,000 steps. `compiled`:
    the loss (both forward passes, and so its backward) through `torch.compile`."""
    height, width, channels = obs_shape

    def network() -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(channels, 16, kernel_size=3),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(16 * (height - 2) * (width - 2), 128),
            nn.ReLU(),
            nn.Linear(128, num_actions),
        )

    online, target = network(), network()
    target.load_state_dict(online.state_dict())
    learning = config.learning
    optimizer = torch.optim.RMSprop(online.parameters(), lr=learning.lr, alpha=0.95, centered=True, eps=0.01)
    steps = 0

    def td_loss(
        obs: torch.Tensor, next_obs: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor, discounts: torch.Tensor
    ) -> torch.Tensor:
        with torch.no_grad():
            targets = rewards + discounts * target(next_obs).max(dim=1).values
        q_taken = online(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
        return F.smooth_l1_loss(q_taken, targets)

    loss_of = torch.compile(td_loss) if compiled else td_loss

    def step(batch: Batch) -> float:
        nonlocal steps
        loss = loss_of(
            torch.as_tensor(batch.obs).permute(0, 3, 1, 2).float(),
            torch.as_tensor(batch.next_obs).permute(0, 3, 1, 2).float(),
            torch.as_tensor(batch.actions).long(),
            torch.as_tensor(batch.rewards),
            torch.as_tensor(batch.discounts),
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps += 1
        if steps % learning.target_update_interval == 0:
            target.load_state_dict(online.state_dict())
        return loss.item()

    return step


def random_play_replay(
    config: Config, agent: Agent, rng: np.random.Generator, transitions: int
) -> tuple[gym.vector.VectorEnv, np.ndarray, ReplayMemory]:
    """(env, its last observation, a replay holding `transitions` of random play): real transitions
    to sample batches from."""
    envs = make_vector_env(config.env_id, 1, config.atari, env_kwargs=config.env_kwargs)
    obs, _ = envs.reset(seed=0)
    replay = build_replay(config, agent.spaces.observation_space, agent.replay_rng, beta_steps=FRAMES)
    for _ in range(transitions):
        actions = rng.integers(0, agent.num_actions, 1)
        next_obs, rewards, terminated, truncated, _ = envs.step(actions)
        replay.add(obs, actions, rewards, next_obs, terminated, truncated)
        obs = next_obs
    return envs, obs, replay


def alternating_medians_us(calls: dict[str, Callable[[], object]], rounds: int, block: int = 50) -> dict[str, float]:
    """Median time per call of each of `calls`, timed in alternating blocks so load hits all alike."""
    for call in calls.values():
        for _ in range(block):  # warm-up
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            began = time.perf_counter()
            for _ in range(block):
                call()
            times[name].append((time.perf_counter() - began) / block * 1e6)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="minatar-dqn")
    parser.add_argument("--env", default="MinAtar/SpaceInvaders-v0")
    parser.add_argument("--repeats", type=int, default=2000, help="calls timed per part")
    parser.add_argument(
        "--run-steps", type=int, default=4000, help="env steps of the real run, updating from the start"
    )
    parser.add_argument(
        "--compile", action="store_true", help="minatar-dqn: also time the plain step with torch.compile (inductor)"
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = apply_overrides(
        preset_config(args.preset, args.env),
        {"device": "cpu", "tensorboard": False, "torch_threads": 1, **parse_assignments(args.overrides)},
    )
    agent = Agent(config)
    rng = np.random.default_rng(0)
    envs, obs, replay = random_play_replay(config, agent, rng, 5000)
    batch_size = config.learning.batch_size

    def update() -> None:
        batch = replay.sample(batch_size)
        stats = agent.learner.update(batch)
        if batch.indices is not None:
            replay.update_priorities(batch.indices, stats.priorities)

    batch = replay.sample(batch_size)
    parts = {
        "act (greedy forward, 1 env)": median_us(lambda: agent.explore_batch(obs, 0.0), args.repeats),
        "env step": median_us(lambda: envs.step(rng.integers(0, agent.num_actions, 1)), args.repeats),
        "replay sample": median_us(lambda: replay.sample(batch_size), args.repeats),
        "gradient step": median_us(lambda: agent.learner.update(batch), args.repeats),
        "sample + step + priorities": median_us(update, args.repeats),
    }
    per_frame = (
        parts["act (greedy forward, 1 env)"]
        + parts["env step"]
        + parts["sample + step + priorities"] * config.learning.gradient_steps / config.learning.train_freq
    )
    print(f"{args.preset} on {config.env_id}, batch {batch_size}, one thread, torch {torch.__version__}")
    for name, microseconds in parts.items():
        print(f"  {name:<28} {microseconds:8.0f} µs")
    print(f"  per frame, from the parts: {per_frame:.0f} µs -> 5M frames in {per_frame * FRAMES / 3.6e9:.1f} h")
    if args.preset == "minatar-dqn":
        batches = [replay.sample(batch_size) for _ in range(16)]
        turn = iter(range(10**9))
        obs_shape = agent.spaces.observation_space.shape
        gradient_steps = {
            "dqnlab": lambda batch: agent.learner.update(batch),
            "plain PyTorch": plain_step(config, obs_shape, agent.num_actions),
        }
        if args.compile:
            gradient_steps["plain PyTorch, torch.compile"] = plain_step(
                config, obs_shape, agent.num_actions, compiled=True
            )
        medians = alternating_medians_us(
            {name: (lambda step=step: step(batches[next(turn) % 16])) for name, step in gradient_steps.items()},
            rounds=max(1, args.repeats // 100),
        )
        print(
            "  gradient step, alternating blocks: "
            + ", ".join(f"{name} {us:.0f} µs ({us / medians['dqnlab']:.2f}x dqnlab's)" for name, us in medians.items())
        )

    run = apply_overrides(
        config,
        {
            "steps": args.run_steps,
            "learning": {"learning_starts": batch_size},  # every frame pays its updates, as after warm-up
            "evaluation": {"every": 0, "episodes": 1},
            "diagnostics": {"plot_every": 0},
            "checkpoint": {"every": 0},
        },
    )
    began = time.perf_counter()
    Agent(run).learn()
    total = time.perf_counter() - began
    per_step_s = total / run.steps
    print(
        f"  real run of {run.steps} steps, one greedy episode at the end: {total:.1f} s, "
        f"{per_step_s * 1e6:.0f} µs per frame on average -> 5M frames in {per_step_s * FRAMES / 3600:.1f} h"
    )


if __name__ == "__main__":
    main()
