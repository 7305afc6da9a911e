"""Saving and restoring the state of Gymnasium envs, for exact resumption of training.

Gymnasium has no generic get/set state, so an env's state is taken layer by layer along its
wrapper chain: each layer's plain attributes (numbers, bools, strings, None, numpy arrays and
scalars, and lists, tuples, deques and dicts of those), its own `np_random` generator as its
bit-generator state, and for ALE games the emulator through `ale.cloneState(include_rng=True)`
(which includes the sticky-action RNG). Restoring sets the same attributes on an env built and
reset in the same way.

Covered exactly: envs whose state lives in such attributes: the classic-control envs
(CartPole, Acrobot, MountainCar), the toy-text envs (FrozenLake, Taxi, CliffWalking,
Blackjack), ALE games with dqnlab's Atari preprocessing, and the wrappers dqnlab adds
(RecordEpisodeStatistics, TimeLimit, OneHotObservation, the Atari wrappers). An env holding
anything else (a Box2D world, a MuJoCo simulator, a pygame window) is refused with
`EnvStateError` naming the attribute, rather than resumed wrongly.

Not state, and skipped: spaces (dqnlab never samples from them), the spec, metadata, the
constructor arguments, and references to the layer below.
"""

from __future__ import annotations

import enum
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


def _layer_state(layer: Any, where: str) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for name, value in vars(layer).items():
        if name in _SKIPPED or callable(value) and not isinstance(value, np.ndarray):
            continue
        if isinstance(value, gym.Space | enum.Enum | gym.envs.registration.EnvSpec):
            continue
        if isinstance(value, np.random.Generator):
            state[name] = {_GENERATOR: value.bit_generator.state}
        elif _is_plain(value):
            state[name] = _copy(value)
        else:
            raise EnvStateError(
                f"cannot save the state of {where}: its attribute '{name}' is a {type(value).__name__}, "
                "which dqnlab cannot capture exactly; resuming is supported for classic-control, toy-text "
                "and Atari envs (see dqnlab/envs/state.py)"
            )
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
    """The state of a synchronous vector env: its own buffers and RNG, and each env's state."""
    if not isinstance(envs, gym.vector.SyncVectorEnv):
        raise EnvStateError(f"only SyncVectorEnv can be saved, not {type(envs).__name__}")
    return {"vector": _layer_state(envs, "the vector env"), "envs": [env_state(env) for env in envs.envs]}


def restore_vector_env_state(envs: gym.vector.SyncVectorEnv, state: dict[str, Any]) -> None:
    """Restores `vector_env_state` into a vector env built and reset the same way."""
    if len(state["envs"]) != len(envs.envs):
        raise EnvStateError(f"the checkpoint holds {len(state['envs'])} envs; this run has {len(envs.envs)}")
    _restore_layer(envs, state["vector"], "the vector env")
    for env, env_saved in zip(envs.envs, state["envs"], strict=True):
        restore_env_state(env, env_saved)
