"""The standard DQN preprocessing of Atari games (Mnih et al. 2015; Machado et al. 2018).

Wrapper order, innermost first:
  ALE env (frameskip 1, sticky actions, 108,000-frame cap)
  -> AtariPreprocessing         no-op starts, frame skip 4 with a max over the last two frames, 84x84 gray
  -> RecordEpisodeStatistics   real score and length (agent steps) of whole games, before any clipping
  -> EpisodicLife (training)    a lost life ends the learner's episode, the game goes on
  -> FireReset                  presses FIRE after a reset where the game needs it to start
  -> ClipReward (training)      rewards become their sign, in {-1, 0, 1}
  -> FrameStackObservation      the last 4 frames, [4, 84, 84] uint8
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation, RecordEpisodeStatistics

from dqnlab.config import AtariConfig

FRAMES_PER_STEP = 4  # ALE frames per agent step (frame skip)


def is_atari(env_id: str) -> bool:
    return env_id.startswith("ALE/")


class EpisodicLife(gym.Wrapper):
    """Ends the episode for the learner when a life is lost; only a real game over resets the game.

    Used for training only: evaluation and reported scores always cover whole games.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives = 0
        self.game_over = True

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()  # type: ignore[attr-defined]
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, float(reward), terminated, truncated, info

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        if self.game_over:
            obs, info = self.env.reset(**kwargs)
        else:  # a life was lost: carry on from where the game is, with a no-op step
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        self.lives = self.env.unwrapped.ale.lives()  # type: ignore[attr-defined]
        self.game_over = False
        return obs, info


class FireReset(gym.Wrapper):
    """Presses FIRE (then action 2) after each reset, for games that wait for it to start."""

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self.env.reset(**kwargs)
        for action in (1, 2):
            obs, _, terminated, truncated, info = self.env.step(action)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        return obs, info


class ClipReward(gym.RewardWrapper):
    """Rewards become their sign, {-1, 0, 1}, so one learning rate fits every game."""

    def reward(self, reward: SupportsFloat) -> float:
        return float(np.sign(float(reward)))


def needs_fire(env: gym.Env) -> bool:
    meanings = env.unwrapped.get_action_meanings()  # type: ignore[attr-defined]
    return len(meanings) >= 3 and meanings[1] == "FIRE"


def make_atari_env(
    env_id: str,
    config: AtariConfig,
    training: bool,
    render_mode: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> gym.Env:
    """An ALE game with the DQN preprocessing; `training` adds episodic life and reward clipping.
    `env_kwargs` go to the ALE env's constructor, after (and over) those the preprocessing sets."""
    kwargs: dict[str, Any] = {
        "frameskip": 1,
        "repeat_action_probability": config.sticky_actions,
        "max_num_frames_per_episode": config.max_episode_frames,
        **(env_kwargs or {}),
    }
    if render_mode:
        kwargs["render_mode"] = render_mode
    env: gym.Env = gym.make(env_id, **kwargs)
    env = AtariPreprocessing(env, noop_max=config.noop_max, frame_skip=FRAMES_PER_STEP, screen_size=84)
    env = RecordEpisodeStatistics(env)
    if training and config.episodic_life:
        env = EpisodicLife(env)
    if config.fire_reset and needs_fire(env):
        env = FireReset(env)
    if training and config.clip_rewards:
        env = ClipReward(env)
    return FrameStackObservation(env, config.frame_stack)
