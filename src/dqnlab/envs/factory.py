"""Makes single and vectorized Gymnasium envs, and checks that an id is one dqnlab can train on."""

from __future__ import annotations

import difflib
import importlib
import warnings
from importlib import metadata
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers import RecordEpisodeStatistics

from dqnlab.config import AtariConfig, EnvKwargs
from dqnlab.envs.atari import is_atari, make_atari_env
from dqnlab.errors import EnvError


class EnvSpaces(NamedTuple):
    observation_space: gym.spaces.Box
    action_space: gym.spaces.Discrete


_plugin_failures: dict[str, str] | None = None  # entry point -> why it failed; None until plugins are loaded


def load_env_plugins() -> dict[str, str]:
    """Runs the `gymnasium.envs` entry points of installed packages (MinAtar registers its games so),
    once per process; returns {entry point: error} for those that failed.

    Gymnasium 0.26-0.29 ran these at import; 1.x dropped its plugin loader and has no public
    replacement, so dqnlab does what it did: call each entry point, or import it if it names a module.
    """
    global _plugin_failures
    if _plugin_failures is None:
        _plugin_failures = {}
        for plugin in metadata.entry_points(group="gymnasium.envs"):
            try:
                loaded = plugin.load()
                if callable(loaded):
                    loaded()
            except Exception as exc:  # a broken plugin must not stop the envs of the others
                _plugin_failures[plugin.name] = f"{type(exc).__name__}: {exc}"
    return _plugin_failures


def _import_env_module(env_id: str) -> str:
    """For Gymnasium's `module:EnvId` form, imports the module (which registers the env); returns EnvId."""
    if ":" not in env_id:
        return env_id
    module, name = env_id.split(":", 1)
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise EnvError(f"cannot import module '{module}' named in env id '{env_id}': {exc}") from None
    except Exception as exc:  # the user's module runs at import and can fail in any way
        raise EnvError(
            f"importing module '{module}' for env id '{env_id}' raised {type(exc).__name__}: {exc}"
        ) from None
    return name


def registered_id(env_id: str) -> str:
    """The id under which `env_id` is registered, loading what registers it: ale-py for ALE ids, the
    module of a `module:EnvId` id, then the installed env plugins. EnvError names close matches if none."""
    name = _import_env_module(env_id)
    if name.startswith("ALE/") and name not in gym.registry:
        try:
            import ale_py

            gym.register_envs(ale_py)
        except ImportError:
            raise EnvError(f"{name} needs ale-py: pip install ale-py") from None
    if name not in gym.registry:
        failures = load_env_plugins()
        if name not in gym.registry:
            close = difflib.get_close_matches(name, list(gym.registry), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            broken = "".join(f"; env plugin '{plugin}' failed: {why}" for plugin, why in failures.items())
            raise EnvError(f"unknown env id '{env_id}'{hint}{broken}")
    return name


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
    env_kwargs: EnvKwargs = (),
) -> gym.Env:
    """One env as the agent sees it, with a clear error if it cannot be made.

    With `atari` an ALE game gets the DQN preprocessing (envs/atari.py); without it, the raw game.
    `env_kwargs` ((name, value) pairs) go to the env's constructor through `gym.make`.
    Every env records its episodes' real returns and lengths in `info["episode"]`.
    """
    name = registered_id(env_id)
    kwargs = dict(env_kwargs)
    try:
        if atari is not None and is_atari(name):
            return make_atari_env(name, atari, training, render_mode, kwargs)
        if render_mode:
            kwargs["render_mode"] = render_mode
        with warnings.catch_warnings():  # an older version asked for by name (MinAtar's v0: all 6 actions)
            warnings.filterwarnings("ignore", message=".*is out of date", category=DeprecationWarning)
            env = gym.make(name, **kwargs)  # type: ignore[arg-type]  # the env's own keyword arguments
    except EnvError:
        raise
    except Exception as exc:  # an env's own constructor can fail in any way (missing extras, a bad kwarg)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        given = f" with env_kwargs {kwargs_text(env_kwargs)}" if env_kwargs else ""
        raise EnvError(f"cannot make {env_id}{given}: {detail}") from None
    env = RecordEpisodeStatistics(env)
    if isinstance(env.observation_space, gym.spaces.Discrete):
        env = OneHotObservation(env)
    return env


def kwargs_text(env_kwargs: EnvKwargs) -> str:
    """`env_kwargs` as the user writes them: K=V, comma-separated."""
    return ", ".join(f"{key}={value!r}" for key, value in env_kwargs)


def env_spaces(env_id: str, atari: AtariConfig | None = None, env_kwargs: EnvKwargs = ()) -> EnvSpaces:
    """The observation and action spaces the agent sees in `env_id`, after checking DQN can act in it.

    With `env_kwargs` the env is also reset and stepped once, so that a value of the wrong kind
    is refused here, in one line, rather than at the first step of training.
    """
    env = make_env(env_id, atari=atari or AtariConfig(), env_kwargs=env_kwargs)
    try:
        obs_space, action_space = env.observation_space, env.action_space
        if env_kwargs and isinstance(action_space, gym.spaces.Discrete):
            try:
                env.reset(seed=0)
                env.step(0)
            except Exception as exc:
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise EnvError(
                    f"{env_id} with env_kwargs {kwargs_text(env_kwargs)} fails at its first step: "
                    f"{type(exc).__name__}: {detail}"
                ) from None
    finally:
        env.close()
    if not isinstance(action_space, gym.spaces.Discrete):
        raise EnvError(f"DQN needs a discrete action space; {env_id} has {action_space}")
    if not isinstance(obs_space, gym.spaces.Box):
        raise EnvError(f"dqnlab needs array observations; {env_id} has {obs_space}")
    return EnvSpaces(obs_space, action_space)


def reward_threshold(env_id: str) -> float | None:
    """The return at which the env counts as solved (its spec's reward_threshold), if any."""
    threshold = gym.spec(registered_id(env_id)).reward_threshold
    return None if threshold is None else float(threshold)


def make_vector_env(
    env_id: str, num_envs: int, atari: AtariConfig | None = None, training: bool = True, env_kwargs: EnvKwargs = ()
) -> gym.vector.SyncVectorEnv:
    """N copies of the env stepped together; an ended episode resets within the same step.

    With SAME_STEP autoreset the returned observation of an ended env is the first of its next
    episode, and the real last observation is in `info["final_obs"]`
    (see `real_next_observations`).
    """
    registered_id(env_id)
    return gym.vector.SyncVectorEnv(
        [
            lambda: make_env(env_id, atari=atari or AtariConfig(), training=training, env_kwargs=env_kwargs)
            for _ in range(num_envs)
        ],
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
