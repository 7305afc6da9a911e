"""Atari throughput: dqnlab against Stable-Baselines3 DQN on ALE/SpaceInvaders-v5, Nature DQN settings.

    python benchmarks/atari_vs_sb3.py [--warmup 2000] [--steps 20000] [--capacity 100000] [--threads 2]
                                      [--device cpu|cuda] [--num-envs 1] [--only dqnlab|sb3]

Both libraries: batch 32, one gradient step every 4 env steps (over all envs), the Nature CNN, standard
preprocessing (no-op starts, frame skip 4 with max-pool, 84x84 gray, 4 stacked frames, episodic
life, reward clipping, sticky actions 0.25). SB3 uses its memory-optimized buffer
(`optimize_memory_usage=True`); dqnlab its frame storage. Each library runs in its own process
twice — the warm-up alone, then warm-up plus the measured steps — so the rate is
steps / (t_both - t_warmup): the training phase alone, after a filled warm-up. Peak RSS is the
process's maximum resident memory (ru_maxrss) in the longer run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

ENV_ID = "ALE/SpaceInvaders-v5"


def run_dqnlab(args: argparse.Namespace) -> float:
    from dqnlab import Agent
    from dqnlab.config import apply_overrides
    from dqnlab.presets import preset_config

    config = preset_config("atari-dqn", ENV_ID).replace(
        seed=0,
        steps=args.total,
        tensorboard=False,
        torch_threads=args.threads,
        device=args.device,
        num_envs=args.num_envs,
    )
    config = apply_overrides(
        config,
        {
            "learning": {"learning_starts": args.warmup},
            "replay": {"capacity": args.capacity},
            "evaluation": {"every": 0, "episodes": 1, "stop_at_target": False},
            "checkpoint": {"every": 0},
            "diagnostics": {"plot_every": 0},
        },
    )
    summary = Agent(config).learn()
    return float(summary["train_s"])


def run_sb3(args: argparse.Namespace) -> float:
    import ale_py
    import gymnasium as gym
    import torch
    from stable_baselines3 import DQN
    from stable_baselines3.common.atari_wrappers import AtariWrapper
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack, VecTransposeImage

    gym.register_envs(ale_py)
    torch.set_num_threads(args.threads)

    def make() -> gym.Env:
        env = gym.make(ENV_ID, frameskip=1, repeat_action_probability=0.25)
        return AtariWrapper(env)

    env = VecTransposeImage(VecFrameStack(DummyVecEnv([make] * args.num_envs), n_stack=4))
    model = DQN(
        "CnnPolicy",
        env,
        buffer_size=args.capacity,
        learning_starts=args.warmup,
        batch_size=32,
        # SB3 counts train_freq in vector steps: one gradient step per 4 env steps over all envs
        train_freq=max(1, 4 // args.num_envs),
        gradient_steps=max(1, args.num_envs // 4),
        target_update_interval=2500,
        learning_rate=2.5e-4,
        optimize_memory_usage=True,
        replay_buffer_kwargs={"handle_timeout_termination": False},
        seed=0,
        device=args.device,
        verbose=0,
    )
    began = time.perf_counter()
    model.learn(total_timesteps=args.total)
    return time.perf_counter() - began


def child(args: argparse.Namespace) -> None:
    runner = run_dqnlab if args.library == "dqnlab" else run_sb3
    seconds = runner(args)
    peak_rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    print(json.dumps({"seconds": seconds, "peak_rss_gb": peak_rss_gb}))


def measure(library: str, total: int, args: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", library, "--total", str(total), "--warmup", str(args.warmup),
               "--capacity", str(args.capacity), "--threads", str(args.threads), "--device", args.device,
               "--num-envs", str(args.num_envs)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description="dqnlab vs SB3 DQN on Space Invaders: env steps/s and peak RSS")
    parser.add_argument("--warmup", type=int, default=2000, help="env steps collected before learning")
    parser.add_argument("--steps", type=int, default=20_000, help="env steps measured after the warm-up")
    parser.add_argument("--capacity", type=int, default=100_000, help="replay capacity (transitions)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads for both libraries")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where both libraries train")
    parser.add_argument("--num-envs", type=int, default=1, help="envs stepped together (a batched forward pass)")
    parser.add_argument("--only", choices=["dqnlab", "sb3"], help="measure one library alone")
    parser.add_argument("--child", choices=["dqnlab", "sb3"], help=argparse.SUPPRESS)
    parser.add_argument("--total", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.library = args.child
        child(args)
        return
    rows = {}
    for library in [args.only] if args.only else ["dqnlab", "sb3"]:
        warm = measure(library, args.warmup, args)
        full = measure(library, args.warmup + args.steps, args)
        rows[library] = {"steps_per_s": args.steps / (full["seconds"] - warm["seconds"]),
                         "peak_rss_gb": full["peak_rss_gb"]}  # fmt: skip
    print(f"ALE/SpaceInvaders-v5, {args.steps:,} env steps after a {args.warmup:,}-step warm-up, "
          f"replay capacity {args.capacity:,}, {args.threads} torch threads, {args.device}, "
          f"{args.num_envs} envs")  # fmt: skip
    print("| library | env steps/s (training phase) | peak RSS (GB) |")
    print("|---|---:|---:|")
    for library, row in rows.items():
        print(f"| {library} | {row['steps_per_s']:.1f} | {row['peak_rss_gb']:.2f} |")
    if len(rows) == 2:
        print(f"dqnlab / SB3 env steps per second: {rows['dqnlab']['steps_per_s'] / rows['sb3']['steps_per_s']:.2f}x")


if __name__ == "__main__":
    main()
