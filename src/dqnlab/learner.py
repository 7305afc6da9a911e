"""Learning: fits the online Q-network to its target and keeps the target network in step.

One learner serves every head: the network's `kind` picks the objective that wires its output
to the pure losses of `dqnlab.losses`: the TD loss for expected Q, the cross-entropy to the
projected target distribution for C51, the quantile Huber loss for QR-DQN. Each returns the
(importance-weighted) loss and per-sample priorities for prioritized replay.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import numpy as np
import torch

from dqnlab.config import LearningConfig
from dqnlab.losses import (
    categorical_cross_entropy,
    categorical_target,
    q_learning_target,
    quantile_huber_loss,
    quantile_target,
    td_loss_per_sample,
)
from dqnlab.networks import QNetwork
from dqnlab.networks.flat import clip_grad_norm_, flatten_parameters
from dqnlab.optimizers import OPTIMIZERS
from dqnlab.schedules import learning_rate_at
from dqnlab.types import Batch, NetworkOutput, UpdateStats


class TensorBatch(NamedTuple):
    """The transitions of a batch as tensors: what an objective needs besides the network outputs."""

    actions_B: torch.Tensor  # int64
    rewards_B: torch.Tensor  # n-step returns
    discounts_B: torch.Tensor  # gamma^k, 0 after a termination
    weights_B: torch.Tensor | None  # importance-sampling weights; None = uniform replay


def to_tensors(batch: Batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, TensorBatch]:
    """(obs, next_obs, the rest) of a replay batch as tensors on `device`: the one numpy -> torch step."""

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, device=device)

    transitions = TensorBatch(
        actions_B=tensor(batch.actions).long(),
        rewards_B=tensor(batch.rewards).float(),
        discounts_B=tensor(batch.discounts).float(),
        weights_B=None if batch.weights is None else tensor(batch.weights).float(),
    )
    return tensor(batch.obs), tensor(batch.next_obs), transitions


class Outputs(NamedTuple):
    """The network outputs one update uses."""

    online: NetworkOutput  # online net at s, with gradients
    next_target: NetworkOutput  # target net at s'
    next_online_q_BA: torch.Tensor | None  # online net's Q at s' for Double DQN; None = plain max


class Objective(NamedTuple):
    loss_B: torch.Tensor  # importance-weighted loss of each sample; the loss is their mean
    q_taken_B: torch.Tensor  # Q(s, a) of the actions taken
    priorities_B: torch.Tensor  # per-sample priority for prioritized replay

    @property
    def loss(self) -> torch.Tensor:
        """The scalar loss: the mean over the batch."""
        return self.loss_B.mean()


def _weighted(per_sample_B: torch.Tensor, weights_B: torch.Tensor | None) -> torch.Tensor:
    if weights_B is None:
        return per_sample_B
    assert weights_B.shape == per_sample_B.shape, "one weight per sample"
    return per_sample_B * weights_B


def _next_actions(outputs: Outputs) -> torch.Tensor:
    """a* = argmax_a' Q(s', a'): of the online net with Double DQN, of the target net without. [B]"""
    q_BA = outputs.next_online_q_BA if outputs.next_online_q_BA is not None else outputs.next_target.q_values
    return q_BA.argmax(dim=1)


def _taken(values_BA_: torch.Tensor, actions_B: torch.Tensor) -> torch.Tensor:
    """values[b, actions[b]] for [B, A] or [B, A, K] values -> [B] or [B, K]."""
    return values_BA_[torch.arange(len(actions_B), device=actions_B.device), actions_B]


def expected_objective(outputs: Outputs, batch: TensorBatch, loss: str) -> Objective:
    """DQN and Double DQN: regress Q(s, a) on r + discount * Q_target(s', a*) with the `loss` ("huber"
    or "mse") of the TD error; priority |TD error|."""
    with torch.no_grad():
        target_B = q_learning_target(
            batch.rewards_B, batch.discounts_B, outputs.next_target.q_values, outputs.next_online_q_BA
        )
    q_taken_B = _taken(outputs.online.q_values, batch.actions_B)
    loss_B, td_error_B = td_loss_per_sample(q_taken_B, target_B, loss, batch.weights_B)
    return Objective(loss_B, q_taken_B, td_error_B.abs())


def categorical_objective(outputs: Outputs, batch: TensorBatch, support_Z: torch.Tensor) -> Objective:
    """C51: cross-entropy from the target distribution at (s', a*), projected onto the atoms
    `support_Z`, to the online distribution at (s, a); priority the cross-entropy."""
    assert outputs.online.logits is not None and outputs.next_target.logits is not None, "C51 outputs logits"
    with torch.no_grad():
        next_probs_BZ = _taken(outputs.next_target.logits, _next_actions(outputs)).softmax(dim=1)
        target_BZ = categorical_target(batch.rewards_B, batch.discounts_B, next_probs_BZ, support_Z)
    per_sample_B = categorical_cross_entropy(_taken(outputs.online.logits, batch.actions_B), target_BZ)
    q_taken_B = _taken(outputs.online.q_values, batch.actions_B)
    return Objective(_weighted(per_sample_B, batch.weights_B), q_taken_B, per_sample_B.detach())


def quantile_objective(outputs: Outputs, batch: TensorBatch) -> Objective:
    """QR-DQN: quantile Huber loss against r + discount * theta_target(s', a*); priority the loss."""
    assert outputs.online.quantiles is not None and outputs.next_target.quantiles is not None, "QR outputs quantiles"
    with torch.no_grad():
        next_quantiles_BM = _taken(outputs.next_target.quantiles, _next_actions(outputs))
        targets_BM = quantile_target(batch.rewards_B, batch.discounts_B, next_quantiles_BM)
    per_sample_B = quantile_huber_loss(_taken(outputs.online.quantiles, batch.actions_B), targets_BM)
    q_taken_B = _taken(outputs.online.q_values, batch.actions_B)
    return Objective(_weighted(per_sample_B, batch.weights_B), q_taken_B, per_sample_B.detach())


ObjectiveFn = Callable[[Outputs, TensorBatch], Objective]


def objective_for(network: QNetwork, config: LearningConfig) -> ObjectiveFn:
    """The objective that fits `network`'s kind of output, bound to what it needs beyond the batch."""
    if network.kind == "c51":
        support_Z = network.head.support  # the categorical head's atoms z_1 < ... < z_Z
        assert isinstance(support_Z, torch.Tensor)
        return partial(categorical_objective, support_Z=support_Z)
    if network.kind == "qr":
        return quantile_objective
    return partial(expected_objective, loss=config.loss)


def network_outputs(
    online: QNetwork, target: QNetwork, obs: torch.Tensor, next_obs: torch.Tensor, double: bool
) -> Outputs:
    """The outputs one update needs: the online net at s (with gradients unless the caller turns
    them off), the target net at s', and with Double DQN the online net's Q at s' (detached)."""
    with torch.no_grad():
        next_target = target(next_obs)
    if double:
        # One online pass over s and s' together: a forward pass fewer on the hot path. Only
        # the s half enters the loss; the s' half picks a* and is detached.
        both = online(torch.cat([obs, next_obs]))
        online_output = NetworkOutput._make(None if field is None else field[: len(obs)] for field in both)
        return Outputs(online_output, next_target, both.q_values[len(obs) :].detach())
    return Outputs(online(obs), next_target, None)


@torch.no_grad()
def batch_priorities(
    online: QNetwork, target: QNetwork, batch: Batch, config: LearningConfig, device: torch.device
) -> np.ndarray:
    """The priority [B] that `DQNLearner.update` would give each transition of `batch` before its
    gradient step: |TD error| for expected Q, the loss for C51 and QR, from the same objective.

    Ape-X actors compute the initial priorities of the transitions they send with this function
    and their copy of the networks (Horgan et al. 2018, Algorithm 1 line 10), so replay never
    holds a priority of another formula than the learner's. Importance weights do not enter the
    per-sample priority. Noisy layers use whatever noise the networks hold.
    """
    obs, next_obs, transitions = to_tensors(batch._replace(weights=None), device)
    outputs = network_outputs(online, target, obs, next_obs, config.double)
    return objective_for(online, config)(outputs, transitions).priorities_B.cpu().numpy()


class DQNLearner:
    """Owns the online and target networks and the optimizer; one `update` is one gradient step."""

    def __init__(self, config: LearningConfig, q_network: QNetwork, device: torch.device) -> None:
        self.config = config
        self.device = device
        self.online = q_network.to(device)
        self.target = copy.deepcopy(self.online)
        self.target.requires_grad_(False)
        # Each network's parameters live in one flat buffer (networks/flat.py): zeroing, clipping,
        # the optimizer step and the target copy are one operation each, not one per layer.
        self.flat_online = flatten_parameters(self.online, gradients=True)
        self.flat_target = flatten_parameters(self.target, gradients=False)
        self.optimizer = OPTIMIZERS[config.optimizer]([self.flat_online], config.lr, config.optimizer_eps)
        self.gradient_steps = 0
        self.target_updates = 0
        self.objective = objective_for(self.online, config)

    def update(self, batch: Batch) -> UpdateStats:
        """One gradient step on `batch`; updates the target network when its interval comes.

        Subnormal floats (below 1.2e-38) are flushed to zero during the step. Adam's second
        moments of near-zero gradients decay into that range, where x86 CPUs compute many
        times slower: +25-35% env steps/s on CartPole (BENCHMARKS.md). The CPU flag also
        governs numpy in this thread, so it is set for the step alone, and cleared after.
        """
        torch.set_flush_denormal(True)
        try:
            return self._gradient_step(batch)
        finally:
            torch.set_flush_denormal(False)

    def _gradient_step(self, batch: Batch) -> UpdateStats:
        obs, next_obs, transitions = to_tensors(batch, self.device)
        # Noisy nets draw fresh noise for each update, independently for the two networks.
        self.online.reset_noise()
        self.target.reset_noise()
        outputs = network_outputs(self.online, self.target, obs, next_obs, self.config.double)
        loss_B, q_taken_B, priorities_B = self.objective(outputs, transitions)
        loss = loss_B.mean()

        gradient = self.flat_online.grad
        assert gradient is not None, "the flat gradient is kept defined"
        gradient.zero_()
        loss.backward()
        if self.config.max_grad_norm is not None:
            clip_grad_norm_(gradient, self.config.max_grad_norm)
        self.optimizer.step()

        self.gradient_steps += 1
        if self.config.lr_end is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate_at(self.config, self.gradient_steps)
        if self.gradient_steps % self.config.target_update_interval == 0:
            self.update_target()
        return UpdateStats(
            loss=loss.item(),
            q_mean=q_taken_B.detach().mean().item(),
            priorities=priorities_B.cpu().numpy(),
        )

    @torch.no_grad()
    def update_target(self) -> None:
        """target <- tau * online + (1 - tau) * target; tau = 1 is the hard copy of Mnih et al."""
        tau = self.config.tau
        if tau == 1.0:
            self.flat_target.copy_(self.flat_online)
        else:
            self.flat_target.lerp_(self.flat_online, tau)
        self.target_updates += 1

    def state_dict(self) -> dict[str, Any]:
        """Networks, optimizer and counters: everything that resuming the learner needs."""
        return {
            "online": self.online.state_dict(),
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "gradient_steps": self.gradient_steps,
            "target_updates": self.target_updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores `state_dict()`; without counters (a rollback to saved weights) they stay as they are."""
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.gradient_steps = state.get("gradient_steps", self.gradient_steps)
        self.target_updates = state.get("target_updates", self.target_updates)
