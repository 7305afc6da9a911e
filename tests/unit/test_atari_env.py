"""The DQN preprocessing of ALE games, and the human-normalized score."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import AtariPreprocessing

from dqnlab.config import AtariConfig
from dqnlab.envs import env_spaces, make_env
from dqnlab.envs.atari_scores import ATARI_REFERENCE_SCORES, atari_summary, human_normalized_score

SPACE_INVADERS = "ALE/SpaceInvaders-v5"


def record_raw_rewards(env: gym.Env) -> list[float]:
    """Taps the rewards of the game itself, below clipping and episodic life: returns the list they go to."""
    inner = env
    while not isinstance(inner, AtariPreprocessing):
        inner = inner.env  # type: ignore[attr-defined]
    raw: list[float] = []
    step = inner.step

    def recording_step(action):  # type: ignore[no-untyped-def]
        result = step(action)
        raw.append(float(result[1]))
        return result

    inner.step = recording_step  # type: ignore[method-assign]
    return raw


def test_observations_are_four_stacked_84x84_uint8_frames_and_space_invaders_has_6_actions():
    spaces = env_spaces(SPACE_INVADERS, AtariConfig())
    assert spaces.observation_space.shape == (4, 84, 84)
    assert spaces.observation_space.dtype == np.uint8
    assert spaces.action_space.n == 6
    env = make_env(SPACE_INVADERS, atari=AtariConfig(), training=True)
    try:
        obs, _ = env.reset(seed=0)
        assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
        assert all(np.array_equal(obs[i], obs[0]) for i in range(4))  # a reset stack repeats its frame
        next_obs, *_ = env.step(1)
        np.testing.assert_array_equal(next_obs[:3], obs[1:])  # one new frame per step
    finally:
        env.close()


def test_rewards_are_clipped_for_training_only():
    seen = {}
    for training in (True, False):
        env = make_env(SPACE_INVADERS, atari=AtariConfig(), training=training)
        try:
            env.reset(seed=1)
            rewards = []
            for step in range(300):
                _, reward, terminated, truncated, _ = env.step(1 if step % 2 else 3)  # fire, move
                rewards.append(reward)
                if terminated or truncated:
                    env.reset()
        finally:
            env.close()
        seen[training] = set(rewards)
    assert seen[True] <= {-1.0, 0.0, 1.0} and 1.0 in seen[True]
    assert max(seen[False]) >= 5.0  # an alien is worth 5 to 30 points


def test_a_lost_life_ends_the_learners_episode_but_the_reported_score_covers_the_whole_game():
    env = make_env(SPACE_INVADERS, atari=AtariConfig(), training=True)
    raw = record_raw_rewards(env)
    rng = np.random.default_rng(0)
    learner_episodes = 0
    clipped_return = 0.0
    try:
        env.reset(seed=2)
        lives = env.unwrapped.ale.lives()
        while True:
            _, reward, terminated, truncated, info = env.step(int(rng.integers(6)))
            clipped_return += reward
            if terminated or truncated:
                learner_episodes += 1
                if "episode" in info:  # the game is over: RecordEpisodeStatistics reports it whole
                    break
                env.reset()  # a life was lost: the game goes on
    finally:
        env.close()
    assert lives == 3 and learner_episodes == lives  # each life was an episode for the learner
    assert info["episode"]["r"] == pytest.approx(sum(raw))  # the real, unclipped score of the game
    assert info["episode"]["r"] > clipped_return > 0


def test_human_normalized_score_is_zero_for_random_and_one_for_human_play():
    assert human_normalized_score(SPACE_INVADERS, 148.0) == 0.0
    assert human_normalized_score(SPACE_INVADERS, 1668.7) == pytest.approx(1.0)
    assert human_normalized_score(SPACE_INVADERS, 908.35) == pytest.approx(0.5)
    assert human_normalized_score("ALE/Pong-v5", 21.0) == pytest.approx((21.0 + 20.7) / (14.6 + 20.7))
    assert math.isnan(human_normalized_score("ALE/Tetris-v5", 10.0))  # not one of the 57
    assert math.isnan(human_normalized_score("CartPole-v1", 10.0))
    summary = atari_summary(SPACE_INVADERS, 1668.7)
    assert summary["best_eval_score"] == 1668.7 and summary["human_normalized_score"] == pytest.approx(1.0)
    assert atari_summary("CartPole-v1", 500.0) == {}


def test_the_reference_table_names_57_ale_games():
    import ale_py

    gym.register_envs(ale_py)
    assert len(ATARI_REFERENCE_SCORES) == 57
    for game, scores in ATARI_REFERENCE_SCORES.items():
        assert f"ALE/{game}-v5" in gym.registry, game
        assert scores.random != scores.human


def test_atari_presets_count_their_periods_as_the_papers_do():
    from dqnlab.presets import preset_config

    frames_per_step = 4
    dqn = preset_config("atari-dqn", SPACE_INVADERS)
    assert dqn.steps * frames_per_step == 50_000_000
    assert dqn.learning.target_update_interval * dqn.learning.train_freq == 10_000  # agent steps
    assert (dqn.learning.batch_size, dqn.learning.learning_starts, dqn.replay.capacity) == (32, 50_000, 1_000_000)
    assert (dqn.exploration.end, dqn.exploration.decay_steps) == (0.1, 1_000_000)
    rainbow = preset_config("atari-rainbow", SPACE_INVADERS)
    assert rainbow.learning.target_update_interval * rainbow.learning.train_freq * frames_per_step == 32_000
    assert rainbow.learning.learning_starts * frames_per_step == 80_000
    assert (rainbow.learning.lr, rainbow.learning.optimizer_eps, rainbow.replay.n_step) == (6.25e-5, 1.5e-4, 3)
    der = preset_config("atari100k", SPACE_INVADERS)
    assert (der.steps, der.replay.n_step, der.learning.target_update_interval, der.learning.train_freq) == (
        100_000,
        10,  # DER.gin: update_horizon = 10, SPR's value (the DER paper used 20)
        2_000,
        1,
    )
    assert (der.learning.learning_starts, der.learning.lr, der.atari.sticky_actions) == (1_600, 1e-4, 0.0)
    # Dopamine's noisy agent acts at epsilon_train = 0.01 from the first step (identity_epsilon), Adam unclipped
    from dqnlab.schedules import epsilon_at

    assert [epsilon_at(der, step, 0) for step in (0, 1_599, 1_600, 100_000)] == [0.01] * 4
    assert der.learning.max_grad_norm is None and der.learning.optimizer_eps == 1.5e-4
    for config in (dqn, rainbow, der):
        assert config.network.q_function == "cnn" and config.evaluation.epsilon == 0.001


def test_centered_rmsprop_and_the_adam_epsilon_reach_the_optimizer():
    import torch

    from dqnlab.config import LearningConfig, NetworkConfig
    from dqnlab.learner import DQNLearner
    from dqnlab.networks import build_q_network
    from dqnlab.optimizers import CenteredRMSprop

    space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    network = build_q_network(NetworkConfig(hidden_sizes=(8,)), space, 2)
    rmsprop = DQNLearner(LearningConfig(optimizer="rmsprop_centered"), network, torch.device("cpu")).optimizer
    assert isinstance(rmsprop, CenteredRMSprop)
    group = rmsprop.param_groups[0]
    assert (group["decay"], group["eps"]) == (0.95, 1e-5)
    network = build_q_network(NetworkConfig(hidden_sizes=(8,)), space, 2)
    adam = DQNLearner(LearningConfig(optimizer="adam", optimizer_eps=1.5e-4), network, torch.device("cpu")).optimizer
    assert adam.param_groups[0]["eps"] == 1.5e-4
