"""Records an episode of a trained agent as MP4 or GIF from the env's RGB frames."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dqnlab.envs import make_env
from dqnlab.errors import DqnlabError

if TYPE_CHECKING:
    from dqnlab.agent import Agent

VIDEO_FPS = 30
MAX_FRAMES = 108_000


def record_episode(agent: Agent, path: str | Path, epsilon: float, seed: int) -> float:
    """Plays one episode, writes its frames to `path` (.mp4 or .gif) and returns its return."""
    import imageio.v2 as imageio

    path = Path(path)
    if path.suffix.lower() not in (".mp4", ".gif"):
        raise DqnlabError(f"--video must end in .mp4 or .gif, got {path.name}")
    env = make_env(agent.config.env_id, render_mode="rgb_array", atari=agent.config.atari, training=False)
    frames = []
    episode_return = 0.0
    try:
        obs, _ = env.reset(seed=seed)
        frames.append(env.render())
        for _ in range(MAX_FRAMES):
            action = agent.act(np.asarray(obs), epsilon)
            obs, reward, terminated, truncated, _ = env.step(action)
            episode_return += float(reward)
            frames.append(env.render())
            if terminated or truncated:
                break
    finally:
        env.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.suffix.lower() == ".gif":
            imageio.mimsave(path, frames, duration=1000 / VIDEO_FPS, loop=0)
        else:
            imageio.mimsave(path, frames, fps=VIDEO_FPS, macro_block_size=1)
    except (OSError, ValueError, RuntimeError) as exc:
        raise DqnlabError(f"cannot write video {path}: {exc}") from None
    return episode_return
