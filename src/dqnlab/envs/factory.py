"""Makes single and vectorized Gymnasium envs, and checks that an id is one dqnlab can train on."""

from __future__ import annotations

import difflib
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers import RecordEpisodeStatistics

from dqnlab.config import AtariConfig
from dqnlab.envs.atari import is_atari, make_atari_env
from dqnlab.errors import EnvError


class EnvSpaces(NamedTuple):
    observation_space: gym.spaces.Box
    action_space: gym.spaces.Discrete


def _register_optional_envs(env_id: str) -> None:
    """Registers the Atari envs of ale-py (which ships its ROMs) when an ALE id is asked for."""
    if env_id.startswith("ALE/") and env_id not in gym.registry:
        try:
            import ale_py

            gym.register_envs(ale_py)
        except ImportError:
            raise EnvError(f"{env_id} needs ale-py: pip install ale-py") from None


def check_env_id(env_id: str) -> None:
    """Raises EnvError naming close matches when `env_id` is not registered."""
    _register_optional_envs(env_id)
    if env_id in gym.registry:
        return
    close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise EnvError(f"unknown env id '{env_id}'{hint}")


class OneHotBox(gym.spaces.Box):
    """Box(0, 1, (n,)) holding the one-hot codes of a Discrete(n) space's states: a network sees a vector,
    while a table (`network.q_function = "table"`) and env-info still know there are `states` states."""

    def __init__(self, states: int) -> None:
        super().__init__(0.0, 1.0, (states,), np.float32)
        self.states = states


class OneHotObservation(gym.ObservationWrapper):
    """Turns a Discrete observation (FrozenLake, Taxi) into a one-hot float vector."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.size = int(env.observation_space.n)  # type: ignore[attr-defined]
        self.observation_space = OneHotBox(self.size)

    def observation(self, observation: Any) -> np.ndarray:
        one_hot = np.zeros(self.size, dtype=np.float32)
        one_hot[int(observation)] = 1.0
        return one_hot


def make_env(
    env_id: str,
    render_mode: str | None = None,
    atari: AtariConfig | None = None,
    training: bool = False,
) -> gym.Env:
    """One env as the agent sees it, with a clear error if it cannot be made.

    With `atari` an ALE game gets the DQN preprocessing (envs/atari.py); without it, the raw game.
    Every env records its episodes' real returns and lengths in `info["episode"]`.
    """
    check_env_id(env_id)
    try:
        if atari is not None and is_atari(env_id):
            return make_atari_env(env_id, atari, training, render_mode)
        env = gym.make(env_id, render_mode=render_mode) if render_mode else gym.make(env_id)
    except EnvError:
        raise
    except Exception as exc:  # an env's own constructor can fail in any way (missing extras)
        raise EnvError(f"cannot make {env_id}: {exc}") from None
    env = RecordEpisodeStatistics(env)
    if isinstance(env.observation_space, gym.spaces.Discrete):
        env = OneHotObservation(env)
    return env


def env_spaces(env_id: str, atari: AtariConfig | None = None) -> EnvSpaces:
    """The observation and action spaces the agent sees in `env_id`, after checking DQN can act in it."""
    env = make_env(env_id, atari=atari or AtariConfig())
    try:
        obs_space, action_space = env.observation_space, env.action_space
    finally:
        env.close()
    if not isinstance(action_space, gym.spaces.Discrete):
        raise EnvError(f"DQN needs a discrete action space; {env_id} has {action_space}")
    if not isinstance(obs_space, gym.spaces.Box):
        raise EnvError(f"dqnlab needs array observations; {env_id} has {obs_space}")
    return EnvSpaces(obs_space, action_space)


def reward_threshold(env_id: str) -> float | None:
    """The return at which the env counts as solved (its spec's reward_threshold), if any."""
    check_env_id(env_id)
    threshold = gym.spec(env_id).reward_threshold
    return None if threshold is None else float(threshold)


def make_vector_env(
    env_id: str, num_envs: int, atari: AtariConfig | None = None, training: bool = True
) -> gym.vector.SyncVectorEnv:
    """N copies of the env stepped together; an ended episode resets within the same step.

    With SAME_STEP autoreset the returned observation of an ended env is the first of its next
    episode, and the real last observation is in `info["final_obs"]`
    (see `real_next_observations`).
    """
    check_env_id(env_id)
    return gym.vector.SyncVectorEnv(
        [lambda: make_env(env_id, atari=atari or AtariConfig(), training=training) for _ in range(num_envs)],
        autoreset_mode=AutoresetMode.SAME_STEP,
    )


def real_next_observations(next_obs: np.ndarray, done: np.ndarray, infos: dict[str, Any]) -> np.ndarray:
    """s' for each env: the observation returned by the step, except where the episode ended,
    where it is the real final observation rather than the first one after the reset."""
    if not done.any():
        return next_obs
    real = next_obs.copy()
    for index in np.flatnonzero(done):
        real[index] = infos["final_obs"][index]
    return real


def finished_episodes(infos: dict[str, Any]) -> list[tuple[float, int]]:
    """(return, length) of each whole episode that ended in this vector step.

    Read from RecordEpisodeStatistics, so an Atari game's score is the real one, unclipped and
    over all its lives, while the learner may see a life loss as the end of an episode.
    """
    final_info = infos.get("final_info")
    if not final_info or "episode" not in final_info:
        return []
    stats = final_info["episode"]
    return [(float(stats["r"][i]), int(stats["l"][i])) for i in np.flatnonzero(final_info["_episode"])]
