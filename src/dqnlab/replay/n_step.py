"""The n-step accumulator: turns env steps of N parallel envs into n-step transitions.

A transition (s_t, a_t, R, s_{t+k}, discount) holds R = r_t + gamma r_{t+1} + ... +
gamma^{k-1} r_{t+k-1}, so the learner's target R + discount * Q(s_{t+k}, .) is the n-step
return of Sutton (1988) and Hessel et al. (2018, eq. 2) whatever k is:

- in mid-episode k = n and discount = gamma^n;
- at a termination the tail of the episode is flushed with k = steps left and discount = 0:
  the return is cut, nothing is bootstrapped;
- at a truncation (a time limit) the tail is flushed with discount = gamma^k and next
  observation the real last one, so the target still bootstraps from where the episode was cut.

Each env has its own queue, so episodes never mix across envs or across an episode end.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

import numpy as np


def transition_discount(gamma: float, terminated: np.ndarray, n: int = 1) -> np.ndarray:
    """gamma**n where the episode goes on or was truncated (a time limit is not a terminal state:
    the target still bootstraps from s'), 0 where it terminated."""
    return np.where(terminated, 0.0, gamma**n).astype(np.float32)


class Transitions(NamedTuple):
    """M transitions ready for storage (M may be 0)."""

    obs: np.ndarray  # [M, *obs_shape]
    actions: np.ndarray  # [M] int64
    rewards: np.ndarray  # [M] float32, the discounted k-step returns
    next_obs: np.ndarray  # [M, *obs_shape]
    discounts: np.ndarray  # [M] float32, gamma^k, or 0 after a termination


class NStepAccumulator:
    """Keeps the last n-1 steps of each env and emits a transition once its return is known."""

    def __init__(self, n: int, gamma: float, num_envs: int) -> None:
        if n < 1:
            raise ValueError("n must be >= 1")
        self.n = n
        self.gamma = gamma
        self.queues: list[deque[tuple[np.ndarray, int, float]]] = [deque() for _ in range(num_envs)]
        self.gamma_powers = gamma ** np.arange(n + 1)  # gamma^0 .. gamma^n

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> Transitions:
        """Takes one step of every env ([N] leading axes; `next_obs` the real last observation
        where an episode ended) and returns the transitions it completes."""
        if self.n == 1:  # every step completes its own transition: no queue needed
            discounts = transition_discount(self.gamma, terminated)
            return Transitions(obs, np.asarray(actions, np.int64), np.asarray(rewards, np.float32), next_obs, discounts)
        out_obs, out_actions, out_returns, out_next, out_discounts = [], [], [], [], []
        for env, queue in enumerate(self.queues):
            queue.append((obs[env].copy(), int(actions[env]), float(rewards[env])))  # copy: envs may reuse buffers
            ended = bool(terminated[env] or truncated[env])
            if not ended and len(queue) < self.n:
                continue
            # at an episode end every queued step completes; otherwise only the oldest one
            for _ in range(len(queue) if ended else 1):
                steps = len(queue)  # k: the steps this transition's return sums
                rewards_k = np.fromiter((step[2] for step in queue), np.float64, count=steps)
                first_obs, first_action, _ = queue.popleft()
                out_obs.append(first_obs)
                out_actions.append(first_action)
                out_returns.append(float(rewards_k @ self.gamma_powers[:steps]))
                out_next.append(next_obs[env])
                out_discounts.append(0.0 if terminated[env] else self.gamma_powers[steps])
        if not out_obs:
            empty_obs = np.empty((0, *obs.shape[1:]), obs.dtype)
            return Transitions(
                empty_obs, np.empty(0, np.int64), np.empty(0, np.float32), empty_obs, np.empty(0, np.float32)
            )
        return Transitions(
            np.stack(out_obs),
            np.array(out_actions, np.int64),
            np.array(out_returns, np.float32),
            np.stack(out_next),
            np.array(out_discounts, np.float32),
        )

    def state_dict(self) -> dict[str, object]:
        """The pending steps of every env's queue, as arrays: lengths [N], obs [sum, ...], actions, rewards."""
        steps = [step for queue in self.queues for step in queue]
        return {
            "n": self.n,
            "lengths": np.array([len(queue) for queue in self.queues], np.int64),
            "obs": np.stack([step[0] for step in steps]) if steps else np.empty(0),
            "actions": np.array([step[1] for step in steps], np.int64),
            "rewards": np.array([step[2] for step in steps], np.float64),  # Python floats, exactly
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        lengths = np.asarray(state["lengths"])
        if int(state["n"]) != self.n or len(lengths) != len(self.queues):  # type: ignore[call-overload]
            raise ValueError(
                f"n-step queues for n={state['n']} and {len(lengths)} envs do not fit n={self.n} "
                f"and {len(self.queues)} envs"
            )
        obs = np.asarray(state["obs"])
        actions = np.asarray(state["actions"])
        rewards = np.asarray(state["rewards"])
        start = 0
        for queue, length in zip(self.queues, lengths.tolist(), strict=True):
            queue.clear()
            for index in range(start, start + length):
                queue.append((obs[index].copy(), int(actions[index]), float(rewards[index])))
            start += length
