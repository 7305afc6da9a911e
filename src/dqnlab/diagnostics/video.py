"""Records an episode of a trained agent as MP4 or GIF from the env's RGB frames."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dqnlab.envs import make_env
from dqnlab.errors import DqnlabError

if TYPE_CHECKING:
    from dqnlab.agent import Agent

VIDEO_FPS = 30
MAX_FRAMES = 108_000
VIDEO_SUFFIXES = (".mp4", ".gif")
# Gymnasium's env checker warns of a render without "render_fps" or with float frames (MinAtar's
# both): the video's fps is dqnlab's and `_rgb` converts the frames, so neither concerns the user.
HANDLED_RENDER_WARNINGS = (
    ".*No render fps was declared",
    ".*RGB-array rendering should return a numpy array with dtype uint8",
)


def check_video_path(path: str | Path) -> None:
    """Refuses a file name imageio would not write as MP4 or GIF, before any episode is played."""
    if Path(path).suffix.lower() not in VIDEO_SUFFIXES:
        raise DqnlabError(f"--video must end in .mp4 or .gif, got {Path(path).name}")


def record_episode(agent: Agent, path: str | Path, epsilon: float, seed: int) -> float:
    """Plays one episode, streams its frames to `path` (.mp4 or .gif) and returns its return.

    Frames go to the writer as they come, so a 27,000-step Atari game never sits in memory whole.
    """
    import imageio.v2 as imageio

    check_video_path(path)
    # Gymnasium's classic-control envs draw with pygame and initialize SDL's display even for
    # rgb_array frames; SDL's dummy driver needs no display (without it SDL looks for one and
    # prints "XDG_RUNTIME_DIR is invalid or not set"). A driver the user chose is kept.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    path = Path(path)
    suffix = path.suffix.lower()
    options: dict[str, Any] = (
        {"duration": 1000 / VIDEO_FPS, "loop": 0} if suffix == ".gif" else {"fps": VIDEO_FPS, "macro_block_size": 1}
    )
    env = make_env(
        agent.config.env_id,
        render_mode="rgb_array",
        atari=agent.config.atari,
        training=False,
        env_kwargs=agent.config.env_kwargs,
    )
    episode_return = 0.0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with imageio.get_writer(path, mode="I", **options) as writer, warnings.catch_warnings():
            for message in HANDLED_RENDER_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            obs, _ = env.reset(seed=seed)
            writer.append_data(_rgb(env))  # type: ignore[attr-defined]
            for _ in range(MAX_FRAMES):
                action = agent.act(np.asarray(obs), epsilon)
                obs, reward, terminated, truncated, _ = env.step(action)
                episode_return += float(reward)
                writer.append_data(_rgb(env))  # type: ignore[attr-defined]
                if terminated or truncated:
                    break
    except (OSError, ValueError, RuntimeError) as exc:
        raise DqnlabError(f"cannot write video {path}: {exc}") from None
    finally:
        env.close()
    return episode_return


MIN_VIDEO_SIDE = 160  # pixels: smaller frames (MinAtar's 10x10) are enlarged, each cell a block


def _rgb(env: Any) -> np.ndarray:
    """The env's current RGB frame [H, W, 3] as uint8. MinAtar renders floats in [0, 1] on a 10x10
    grid, which video writers refuse: they become bytes, and small frames are enlarged by whole cells."""
    frame = env.render()
    assert isinstance(frame, np.ndarray), "render_mode='rgb_array' returns an array"
    if np.issubdtype(frame.dtype, np.floating):
        frame = np.round(np.clip(frame, 0.0, 1.0) * 255).astype(np.uint8)
    scale = -(-MIN_VIDEO_SIDE // min(frame.shape[:2]))
    if scale > 1:
        frame = frame.repeat(scale, axis=0).repeat(scale, axis=1)
    return frame
