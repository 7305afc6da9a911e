"""Gymnasium semantics: real final observations under vector autoreset, env checks."""

import numpy as np
import pytest

from conftest import COUNTING_TERMINATES, COUNTING_TRUNCATES
from dqnlab import Agent, Config
from dqnlab.envs import env_spaces, make_vector_env, real_next_observations
from dqnlab.envs.info import tabular_size
from dqnlab.errors import EnvError
from dqnlab.training.loop import TrainingLoop


def test_vector_env_transition_at_episode_end_keeps_the_real_final_observation():
    envs = make_vector_env(COUNTING_TERMINATES, 2)
    obs, _ = envs.reset(seed=0)
    for _ in range(2):
        obs, *_ = envs.step(np.zeros(2, dtype=np.int64))
    next_obs, _, terminated, truncated, infos = envs.step(np.zeros(2, dtype=np.int64))
    assert terminated.all()
    np.testing.assert_array_equal(next_obs[:, 0], [0, 0])  # already the next episode's first obs
    real = real_next_observations(next_obs, terminated | truncated, infos)
    np.testing.assert_array_equal(real, [[3, 0], [3, 0]])  # the real final obs of episode 0
    envs.close()


@pytest.mark.parametrize(("env_id", "expected_discount"), [(COUNTING_TERMINATES, 0.0), (COUNTING_TRUNCATES, 0.5)])
def test_training_loop_stores_final_transitions_correctly(env_id, expected_discount):
    """The loop stores s' = the real last obs, and bootstraps at a truncation but not a termination."""
    config = Config(env_id=env_id, num_envs=2, steps=6, tensorboard=False)
    config = config.replace(
        learning=config.learning.__class__(gamma=0.5, learning_starts=10**6, batch_size=1),
        evaluation=config.evaluation.__class__(every=0, episodes=1, target_return=1e9),
    )
    agent = Agent(config)
    loop = TrainingLoop(agent, steps=6, run_dir=None, progress=False)
    loop.run()
    storage = loop.collector.replay.storage
    episode_length = 3 if env_id == COUNTING_TERMINATES else 2
    final = np.flatnonzero(storage.next_obs[: storage.size, 0] == episode_length)
    assert len(final) > 0
    np.testing.assert_array_equal(storage.obs[final, 0], episode_length - 1)  # s and s' of one episode
    np.testing.assert_array_equal(storage.obs[final, 1], storage.next_obs[final, 1])
    np.testing.assert_allclose(storage.discounts[final], expected_discount)
    # transitions that start an episode begin at t = 0, never from a final observation
    assert not np.any(storage.obs[: storage.size, 0] == episode_length)


def test_unknown_env_id_suggests_close_matches():
    with pytest.raises(EnvError, match="unknown env id 'CartPol-v1'; did you mean CartPole-v1"):
        env_spaces("CartPol-v1")


def test_continuous_action_space_is_refused():
    with pytest.raises(EnvError, match=r"DQN needs a discrete action space; Pendulum-v1 has Box\("):
        env_spaces("Pendulum-v1")


def test_tabular_size_of_stacked_atari_frames_is_a_power():
    import gymnasium as gym

    frame = gym.spaces.Box(0, 255, (210, 160, 3), np.uint8)
    assert "256^(210·160·3·4)" in tabular_size(frame)
    assert tabular_size(gym.spaces.Discrete(16)) == "16 states"
    assert tabular_size(gym.spaces.Box(-1.0, 1.0, (4,), np.float32)).startswith("infinite")


def test_tabular_size_of_a_bool_grid_counts_two_values_a_cell_and_stacks_no_frames():
    """MinAtar's observation (10x10 cells, a bool channel per kind of object) is finite: 2^600
    states, 10^180.6. Its trail channels show motion, so no frame stack is added."""
    import gymnasium as gym

    grid = gym.spaces.Box(0, 1, (10, 10, 6), np.bool_)  # MinAtar's grid as dqnlab presents it
    assert tabular_size(grid) == "2^(10·10·6) states (about 10^181)"
