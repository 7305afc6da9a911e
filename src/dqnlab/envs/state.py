"""Saving and restoring the state of Gymnasium envs, for exact resumption of training.

Gymnasium has no generic get/set state, so an env's state is taken layer by layer along its
wrapper chain: each layer's plain attributes (numbers, bools, strings, None, numpy arrays and
scalars, and lists, tuples, deques and dicts of those), its own `np_random` generator as its
bit-generator state, and for ALE games the emulator through `ale.cloneState(include_rng=True)`
(which includes the sticky-action RNG). Restoring sets the same attributes on an env built and
reset in the same way.

Covered exactly: envs whose state lives in such attributes: the classic-control envs
(CartPole, Acrobot, MountainCar), the toy-text envs (FrozenLake, Taxi, CliffWalking,
Blackjack), ALE games with dqnlab's Atari preprocessing, MinAtar games (their game object's
attributes and its numpy RandomState), and the wrappers dqnlab adds (RecordEpisodeStatistics,
TimeLimit, OneHotObservation, the Atari wrappers).

An env holding anything else (a Box2D world, a MuJoCo simulator, a pygame window) cannot be
captured: `env_state` raises `EnvStateError` naming the attribute, and `vector_env_state` saves a
marker in its place, saying so once on stderr; `restore_vector_env_state` then starts that env on
a fresh episode. Training never depends on an env being capturable; only the exactness of a
resume does (docs/reliability.md).

Not state, and skipped: spaces (dqnlab never samples from them), the spec, metadata, the
constructor arguments, and references to the layer below.
"""

from __future__ import annotations

import enum
import sys
import weakref
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np

from dqnlab.errors import DqnlabError


class EnvStateError(DqnlabError):
    """An env whose state dqnlab cannot capture or restore exactly."""


# attributes that configure or link the layers rather than hold state
_SKIPPED = {
    "env",
    "envs",
    "env_fns",
    "_saved_kwargs",
    "_ezpickle_args",
    "_ezpickle_kwargs",
    "spec",
    "_cached_spec",
    "metadata",
    "_metadata",
    "_action_space",
    "_observation_space",
    "action_space",
    "observation_space",
    "single_action_space",
    "single_observation_space",
    "autoreset_mode",
    "_action_set",
    "ale",
    "P",  # the toy-text envs' transition tables: constants
}
_GENERATOR = "__generator__"
_RANDOM_STATE = "__random_state__"
_MINATAR = "__minatar__"
_NOT_CAPTURED = "__not_captured__"
_MINATAR_DISPLAY = {"cmap", "norm", "ax"}  # matplotlib objects of MinAtar's human rendering: not state
_warned_vector_envs: weakref.WeakSet[Any] = weakref.WeakSet()  # runs told that an env's state is not saved


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str | bytes | np.generic):
        return True
    if isinstance(value, np.ndarray):
        return not value.dtype.hasobject
    if isinstance(value, list | tuple | deque):
        return all(_is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_plain(item) for key, item in value.items())
    return False


def _copy(value: Any) -> Any:
    """A copy that later steps of the env cannot change (arrays are often updated in place)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_copy(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_copy(item) for item in value)
    if isinstance(value, deque):
        return deque((_copy(item) for item in value), maxlen=value.maxlen)
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    return value


def _layers(env: Any) -> list[Any]:
    layers = [env]
    while isinstance(getattr(layers[-1], "env", None), gym.Env):
        layers.append(layers[-1].env)
    return layers


def _random_state(value: Any) -> dict[str, Any] | None:
    """The saved form of a numpy random generator (new or legacy API); None for anything else."""
    if isinstance(value, np.random.Generator):
        return {_GENERATOR: value.bit_generator.state}
    if isinstance(value, np.random.RandomState):
        return {_RANDOM_STATE: value.get_state(legacy=False)}
    return None


def _attributes_state(obj: Any, where: str, skipped: set[str]) -> dict[str, Any]:
    """The plain attributes and random generators of one object; EnvStateError names any other."""
    state: dict[str, Any] = {}
    for name, value in vars(obj).items():
        if name in skipped or callable(value) and not isinstance(value, np.ndarray):
            continue
        if isinstance(value, gym.Space | enum.Enum | gym.envs.registration.EnvSpec):
            continue
        generator = _random_state(value)
        if generator is not None:
            state[name] = generator
        elif _is_plain(value):
            state[name] = _copy(value)
        elif _is_minatar(value):
            state[name] = {_MINATAR: _minatar_state(value, f"{where}.{name}")}
        else:
            raise EnvStateError(
                f"cannot save the state of {where}: its attribute '{name}' is a {type(value).__name__}, "
                "which dqnlab cannot capture exactly; resuming exactly is supported for classic-control, "
                "toy-text, Atari and MinAtar envs (see dqnlab/envs/state.py)"
            )
    return state


def _is_minatar(value: Any) -> bool:
    """Whether `value` is MinAtar's `Environment` (checked by name: minatar need not be installed)."""
    return type(value).__module__ == "minatar.environment" and type(value).__name__ == "Environment"


def _minatar_state(environment: Any, where: str) -> dict[str, Any]:
    """A MinAtar `Environment`: its own attributes (sticky-action state, RandomState) and its game's
    (positions, timers, entity lists, brick and alien maps, and the game's RandomState, the same
    object as the Environment's once seeded)."""
    return {
        "environment": _attributes_state(environment, where, {"env"} | _MINATAR_DISPLAY),
        "game": _attributes_state(environment.env, f"{where}.env", set()),
        "shared_random": environment.env.random is environment.random,
    }


def _layer_state(layer: Any, where: str) -> dict[str, Any]:
    state = _attributes_state(layer, where, _SKIPPED)
    ale = getattr(layer, "ale", None)
    if ale is not None and layer is getattr(layer, "unwrapped", None):
        state["ale"] = {"__ale__": ale.cloneState(include_rng=True).serialize()}
    return state


def env_state(env: gym.Env) -> list[dict[str, Any]]:
    """The state of one env: a list of per-layer attribute dicts, outermost wrapper first."""
    return [_layer_state(layer, type(layer).__name__) for layer in _layers(env)]


def _restore_layer(layer: Any, state: dict[str, Any], where: str) -> None:
    for name, value in state.items():
        if isinstance(value, dict) and "__ale__" in value:
            from ale_py import ALEState

            layer.ale.restoreState(ALEState(value["__ale__"]))
        elif isinstance(value, dict) and _GENERATOR in value:
            generator = getattr(layer, name, None)
            if not isinstance(generator, np.random.Generator):
                generator = np.random.Generator(np.random.PCG64())
                setattr(layer, name, generator)
            try:
                generator.bit_generator.state = value[_GENERATOR]
            except (TypeError, ValueError) as exc:
                raise EnvStateError(f"cannot restore the random generator {where}.{name}: {exc}") from None
        elif isinstance(value, dict) and _RANDOM_STATE in value:
            random_state = getattr(layer, name, None)
            if not isinstance(random_state, np.random.RandomState):
                random_state = np.random.RandomState()
                setattr(layer, name, random_state)
            try:
                random_state.set_state(value[_RANDOM_STATE])
            except (TypeError, ValueError, KeyError) as exc:
                raise EnvStateError(f"cannot restore the random state {where}.{name}: {exc}") from None
        elif isinstance(value, dict) and _MINATAR in value:
            environment = getattr(layer, name)
            saved = value[_MINATAR]
            _restore_layer(environment, saved["environment"], f"{where}.{name}")
            _restore_layer(environment.env, saved["game"], f"{where}.{name}.env")
            if saved["shared_random"]:
                environment.env.random = environment.random
        else:
            setattr(layer, name, _copy(value))


def restore_env_state(env: gym.Env, state: list[dict[str, Any]]) -> None:
    """Puts a saved `env_state` back into an env built the same way (same id, wrappers and config)."""
    layers = _layers(env)
    names = [type(layer).__name__ for layer in layers]
    if len(layers) != len(state):
        raise EnvStateError(f"the env's wrappers {names} do not match the saved ones ({len(state)} layers)")
    for layer, layer_state in zip(layers, state, strict=True):
        _restore_layer(layer, layer_state, type(layer).__name__)


def vector_env_state(envs: gym.vector.SyncVectorEnv) -> dict[str, Any]:
    """The state of a synchronous vector env: its own buffers and RNG, and each env's state.

    An env whose state cannot be captured is saved as a marker (a resume starts it on a fresh
    episode); the first time a run's vector env has one, a line on stderr says so."""
    if not isinstance(envs, gym.vector.SyncVectorEnv):
        raise EnvStateError(f"only SyncVectorEnv can be saved, not {type(envs).__name__}")
    saved: list[Any] = []
    for env in envs.envs:
        try:
            saved.append(env_state(env))
        except EnvStateError as exc:
            saved.append({_NOT_CAPTURED: str(exc)})
            if envs not in _warned_vector_envs:
                _warned_vector_envs.add(envs)
                print(
                    f"dqnlab: warning: checkpoints hold everything but the state of {_env_name(env)} ({exc}); "
                    "a resume starts its envs on a fresh episode",
                    file=sys.stderr,
                )
    return {"vector": _layer_state(envs, "the vector env"), "envs": saved}


def _env_name(env: gym.Env) -> str:
    return env.spec.id if env.spec is not None else type(env.unwrapped).__name__


def restore_vector_env_state(envs: gym.vector.SyncVectorEnv, state: dict[str, Any], seed: int = 0) -> dict[int, Any]:
    """Restores `vector_env_state` into a vector env built and reset the same way.

    Envs saved as not capturable are reset instead, env i with seed `seed + i`, and one line on
    stderr says so; returns {index: first observation} of those, for the caller's current observations.
    """
    if len(state["envs"]) != len(envs.envs):
        raise EnvStateError(f"the checkpoint holds {len(state['envs'])} envs; this run has {len(envs.envs)}")
    _restore_layer(envs, state["vector"], "the vector env")
    restarted: dict[int, Any] = {}
    for index, (env, env_saved) in enumerate(zip(envs.envs, state["envs"], strict=True)):
        if isinstance(env_saved, dict) and _NOT_CAPTURED in env_saved:
            restarted[index], _ = env.reset(seed=seed + index)
        else:
            restore_env_state(env, env_saved)
    if restarted:
        print(
            f"dqnlab: warning: resuming with {len(restarted)} of {len(envs.envs)} {_env_name(envs.envs[0])} envs "
            "on a fresh episode: the checkpoint could not hold their state, so the run is continued, not "
            "reproduced exactly",
            file=sys.stderr,
        )
    return restarted
