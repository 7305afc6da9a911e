"""What `dqnlab env-info` shows: spaces, action meanings and the size a Q-table would need."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from dqnlab.envs.factory import OneHotBox

FRAME_STACK = 4  # frames DQN stacks to see motion in pixel observations
EXAMPLE_BINS = 10  # bins per dimension for the table size shown for continuous observations


# Gymnasium's classic-control and toy-text envs have no get_action_meanings; their documented
# actions, by env name (the same in every version).
ACTION_MEANINGS = {
    "CartPole": ("push cart left", "push cart right"),
    "MountainCar": ("accelerate left", "don't accelerate", "accelerate right"),
    "Acrobot": ("torque -1 on the actuated joint", "torque 0", "torque +1"),
    "FrozenLake": ("left", "down", "right", "up"),
    "CliffWalking": ("up", "right", "down", "left"),
    "Taxi": ("south", "north", "east", "west", "pick up the passenger", "drop off the passenger"),
    "Blackjack": ("stick", "hit"),
    "LunarLander": ("do nothing", "fire left engine", "fire main engine", "fire right engine"),
}


def action_meanings(env: gym.Env) -> list[str]:
    """What each action does: the env's own names (ALE's get_action_meanings), else the documented
    ones of a Gymnasium env; empty when neither is known."""
    own = getattr(env.unwrapped, "get_action_meanings", None)
    if callable(own):
        return list(own())
    known = ACTION_MEANINGS.get(env.spec.name, ()) if env.spec is not None else ()
    n = getattr(env.action_space, "n", None)
    return list(known) if n is not None and len(known) == int(n) else []


def _power(base: int, factors: tuple[int, ...]) -> str:
    return f"{base}^({'·'.join(str(f) for f in factors)})"


def tabular_size(space: gym.Space) -> str:
    """How many states a table indexed by this observation space would have, as a power.

    Integer and bool boxes count every value of every element (MinAtar's 10x10x6 bool grid:
    2^(10·10·6)); 8-bit images are also shown stacked as DQN sees them, 256^(210·160·3·4) for four
    Atari frames. Continuous boxes have no finite table.
    """
    if isinstance(space, OneHotBox):  # a Discrete space as the agent sees it
        return f"{space.states} states"
    if isinstance(space, gym.spaces.Discrete):
        return f"{int(space.n)} states"
    if isinstance(space, gym.spaces.MultiDiscrete):
        return f"{int(np.prod(space.nvec))} states"
    if isinstance(space, gym.spaces.Box):
        countable = np.issubdtype(space.dtype, np.integer) or np.issubdtype(space.dtype, np.bool_)
        if countable and space.is_bounded():
            values = (space.high.astype(np.int64) - space.low.astype(np.int64) + 1).ravel()
            if np.all(values == values[0]):
                base = int(values[0])
                single = _power(base, space.shape)
                digits = math.prod(space.shape) * math.log10(base)
                text = f"{single} states (about 10^{digits:,.0f})"
                if base == 256 and len(space.shape) in (2, 3):
                    stacked = _power(base, (*space.shape, FRAME_STACK))
                    text += f"; with a stack of {FRAME_STACK} frames, {stacked}"
                return text
            return f"{int(np.prod(values))} states"
        dims = math.prod(space.shape)
        cells = f"{EXAMPLE_BINS}^{dims} = {EXAMPLE_BINS**dims:,}" if dims <= 30 else f"{EXAMPLE_BINS}^{dims}"
        return f"infinite (continuous); discretized into {EXAMPLE_BINS} bins per dimension, {cells} cells"
    return f"not tabular: {space}"


def describe_env(env_id: str, env: gym.Env) -> str:
    """A few lines describing an env for people deciding how to learn in it."""
    obs_space, action_space = env.observation_space, env.action_space
    lines = [
        f"env:               {env_id}",
        f"observation space: {obs_space}"
        + (f", one-hot codes of Discrete({obs_space.states})" if isinstance(obs_space, OneHotBox) else ""),
        f"action space:      {action_space}",
    ]
    for index, meaning in enumerate(action_meanings(env)):
        lines.append(f"  action {index}: {meaning}")
    spec = env.spec
    if spec is not None:
        lines.append(f"reward threshold:  {spec.reward_threshold}")
        lines.append(f"max episode steps: {spec.max_episode_steps}")
    size = tabular_size(obs_space)
    lines.append(f"tabular Q size:    {size}")
    if isinstance(action_space, gym.spaces.Discrete):
        lines.append(f"                   x {int(action_space.n)} actions")
    else:
        lines.append(f"note: DQN needs a discrete action space; this env has {action_space}")
    return "\n".join(lines)
