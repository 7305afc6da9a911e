"""Learning for a seed population: one batched gradient step for all members.

The members' online and target networks are stacked (networks/stacked.py): one [P, D] buffer of
parameters each, member k's network a view of row k. A step runs every member's network in one
batched pass (`stacked_forward`), computes the single-run objective (learner.py) with the members
folded into the batch and averages its per-sample losses per member, backpropagates their sum
(each member's gradient depends on its own loss only), clips each member's gradient norm, and
steps the members' rows with the single run's optimizer kernel (fused Adam, SGD), one call per
group of members with the same learning rate; the other optimizers (the RMSprops) step each
member's own optimizer on its row. Members that stopped are masked: their rows do
not change. Each member's losses and gradients are its single run's, bit for bit on this CPU.

Each member's `DQNLearner` keeps its counters, and its `optimizer` reads and writes its row of the
population's optimizer state (or is its own optimizer, over its row), so a member's checkpoint is the
one a single run writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import numpy as np
import torch

from dqnlab.learner import DQNLearner, Outputs, TensorBatch, network_outputs, objective_for, to_tensors
from dqnlab.networks.flat import clip_coefficient
from dqnlab.networks.stacked import Stacked, stack_modules, stacked_forward, stacked_tensors
from dqnlab.schedules import learning_rate_at
from dqnlab.types import Batch, NetworkOutput, UpdateStats

BETA1, BETA2 = 0.9, 0.999  # torch.optim.Adam's defaults, which dqnlab's "adam" uses
STACKED_OPTIMIZERS = ("adam", "sgd")  # stepped for many members per kernel call; the others member by member


def optimizer_step_(
    kind: str,
    rows: list[int],
    parameters_PD: torch.Tensor,
    gradient_PD: torch.Tensor,
    exp_avg_PD: torch.Tensor,
    exp_avg_sq_PD: torch.Tensor,
    steps: list[torch.Tensor],
    lr: float,
    eps: float,
) -> None:
    """One step of the members `rows`, who share `lr` and `eps`, by the kernel a single run's
    optimizer uses (fused Adam, plain SGD), so each member's step is bit-identical to its single
    run's. `steps` are the members' 0-dim Adam step counts."""
    parameters = [parameters_PD[k] for k in rows]
    gradients = [gradient_PD[k] for k in rows]
    if kind == "sgd":
        torch._foreach_add_(parameters, gradients, alpha=-lr)
        return
    member_steps = [steps[k] for k in rows]
    torch._foreach_add_(member_steps, 1)
    torch._fused_adam_(
        parameters,
        gradients,
        [exp_avg_PD[k] for k in rows],
        [exp_avg_sq_PD[k] for k in rows],
        [],
        member_steps,
        lr=lr,
        beta1=BETA1,
        beta2=BETA2,
        weight_decay=0.0,
        eps=eps,
        amsgrad=False,
        maximize=False,
    )


def clip_grad_norms_(gradient_PD: torch.Tensor, max_norm_P1: torch.Tensor) -> None:
    """Scales each row down to an L2 norm of at most its `max_norm` (inf = no clip), as
    `networks.flat.clip_grad_norm_` does for one network."""
    norm_P1 = torch.linalg.vector_norm(gradient_PD, dim=1, keepdim=True)
    gradient_PD.mul_(clip_coefficient(max_norm_P1, norm_P1))


class MemberOptimizer:
    """Member k's view of the population's optimizer state, with torch.optim's `state_dict` format, so
    that checkpoints save and load it as they do a single run's optimizer."""

    def __init__(self, population: PopulationLearner, member: int, optimizer: torch.optim.Optimizer) -> None:
        self.population = population
        self.member = member
        self.optimizer = optimizer  # the member's own optimizer: only its format is used
        self.param_groups = optimizer.param_groups

    def state_dict(self) -> dict[str, Any]:
        population, k = self.population, self.member
        (parameter,) = self.optimizer.param_groups[0]["params"]
        self.optimizer.param_groups[0]["lr"] = population.lr[k]
        if population.kind == "adam" and population.steps[k] > 0:
            self.optimizer.state[parameter] = {
                "step": population.steps[k].clone(),
                "exp_avg": population.exp_avg_PD[k].clone(),
                "exp_avg_sq": population.exp_avg_sq_PD[k].clone(),
            }
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        population, k = self.population, self.member
        self.optimizer.load_state_dict(state)
        (parameter,) = self.optimizer.param_groups[0]["params"]
        population.lr[k] = self.optimizer.param_groups[0]["lr"]
        saved = self.optimizer.state.get(parameter, {})
        if population.kind == "adam":
            population.steps[k].fill_(float(saved["step"]) if saved else 0.0)
            population.exp_avg_PD[k] = saved["exp_avg"] if saved else 0.0
            population.exp_avg_sq_PD[k] = saved["exp_avg_sq"] if saved else 0.0
        self.optimizer.state.clear()


class _MemberBatch(NamedTuple):
    obs: torch.Tensor
    next_obs: torch.Tensor
    transitions: TensorBatch


def _stack_batches(batches: list[Batch], device: torch.device) -> _MemberBatch:
    """The members' batches as tensors with a leading member axis [P, B, ...]; uniform replay's
    missing weights become ones (x * 1 is exact, so loss and gradient are the single run's)."""
    size = len(batches[0].actions)
    weights = [np.ones(size, np.float32) if batch.weights is None else batch.weights for batch in batches]
    stacked = Batch(
        obs=np.stack([batch.obs for batch in batches]),
        actions=np.stack([batch.actions for batch in batches]),
        rewards=np.stack([batch.rewards for batch in batches]),
        next_obs=np.stack([batch.next_obs for batch in batches]),
        discounts=np.stack([batch.discounts for batch in batches]),
        weights=np.stack(weights),
    )
    obs, next_obs, transitions = to_tensors(stacked, device)
    return _MemberBatch(obs, next_obs, transitions)


class PopulationLearner:
    """Trains the online networks of `learners` (one per member, one architecture) together."""

    def __init__(self, learners: list[DQNLearner], training_noise: list[torch.Generator | None]) -> None:
        self.learners = learners
        self.training_noise = training_noise
        first = learners[0]
        configs = [learner.config for learner in learners]
        self.kind = first.config.optimizer
        self.device = first.device
        self.module = first.online  # its architecture is every member's
        self.double = first.config.double
        self.online: Stacked = stack_modules([learner.online for learner in learners], gradients=True)
        self.target: Stacked = stack_modules([learner.target for learner in learners], gradients=False)
        self.objective = objective_for(first.online, first.config)
        members, device = len(learners), self.device

        self.lr = [learning_rate_at(learner.config, learner.gradient_steps) for learner in learners]
        self.eps = [1e-8 if config.optimizer_eps is None else config.optimizer_eps for config in configs]
        max_norms = [np.inf if config.max_grad_norm is None else config.max_grad_norm for config in configs]
        self.max_norm_P1 = torch.tensor(max_norms, dtype=torch.float32, device=device).view(members, 1)
        self.steps = [torch.zeros((), device=device) for _ in learners]  # Adam's step count per member
        self.exp_avg_PD = torch.zeros_like(self.online.parameters_PD)
        self.exp_avg_sq_PD = torch.zeros_like(self.online.parameters_PD)
        for member, learner in enumerate(learners):
            if self.kind in STACKED_OPTIMIZERS:
                learner.optimizer = cast(torch.optim.Optimizer, MemberOptimizer(self, member, learner.optimizer))
            else:  # the member's own optimizer steps its flat buffer, which is now its row of the stack
                learner.flat_online.data = self.online.parameters_PD.data[member]

    def update(self, batches: Sequence[Batch | None]) -> list[UpdateStats | None]:
        """One gradient step for each member with a batch (None = masked); their stats, as
        `DQNLearner.update` reports them. Subnormals flush to zero during the step, as there."""
        torch.set_flush_denormal(True)
        try:
            return self._gradient_step(batches)
        finally:
            torch.set_flush_denormal(False)

    def _gradient_step(self, batches: Sequence[Batch | None]) -> list[UpdateStats | None]:
        active = [k for k, batch in enumerate(batches) if batch is not None]
        for k in active:  # fresh noise for each update, online then target, as DQNLearner draws it
            self.learners[k].online.reset_noise(self.training_noise[k])
            self.learners[k].target.reset_noise(self.training_noise[k])
        member_batch = _stack_batches([batch for batch in batches if batch is not None], self.device)
        losses_A, q_means_A, priorities_AB = self._losses(member_batch, active)

        gradient_PD = self.online.parameters_PD.grad
        assert gradient_PD is not None, "the stacked gradient is kept defined"
        if losses_A.requires_grad:  # a population of one has its gradient already
            gradient_PD.zero_()
            losses_A.sum().backward()
        clip_grad_norms_(gradient_PD, self.max_norm_P1)
        with torch.no_grad():
            if self.kind in STACKED_OPTIMIZERS:
                self._stacked_optimizer_step(active, gradient_PD)
            else:
                self._member_optimizer_steps(active, gradient_PD)
        self._after_step(active)
        stats: list[UpdateStats | None] = [None] * len(batches)
        priorities = priorities_AB.cpu().numpy()
        for row, (k, loss, q_mean) in enumerate(zip(active, losses_A.tolist(), q_means_A.tolist(), strict=True)):
            stats[k] = UpdateStats(loss, q_mean, priorities[row])
        return stats

    def _stacked_optimizer_step(self, active: list[int], gradient_PD: torch.Tensor) -> None:
        """Fused Adam or SGD: one kernel call per group of members with the same lr and eps."""
        groups: dict[tuple[float, float], list[int]] = {}
        for k in active:
            groups.setdefault((self.lr[k], self.eps[k]), []).append(k)
        for (lr, eps), rows in groups.items():
            optimizer_step_(
                self.kind,
                rows,
                self.online.parameters_PD,
                gradient_PD,
                self.exp_avg_PD,
                self.exp_avg_sq_PD,
                self.steps,
                lr,
                eps,
            )

    def _member_optimizer_steps(self, active: list[int], gradient_PD: torch.Tensor) -> None:
        """Any other optimizer: each member's own, on its row, with its gradient."""
        for k in active:
            learner = self.learners[k]
            member_gradient = learner.flat_online.grad
            assert member_gradient is not None, "the flat gradient is kept defined"
            member_gradient.copy_(gradient_PD[k])
            learner.optimizer.step()

    def _losses(self, batch: _MemberBatch, active: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss [A], mean Q of the actions taken [A], priorities [A, B]) of the `active` members:
        the single-run objective on their outputs with the member axis folded into the batch, its
        per-sample losses averaged per member. Stopped members cost nothing."""
        if len(self.learners) == 1:
            return self._single_member_losses(batch)
        members, size = batch.transitions.actions_B.shape
        online = stacked_tensors(self.online, active)
        target = stacked_tensors(self.target, active)
        with torch.no_grad():
            next_target = stacked_forward(self.module, target, batch.next_obs)
        if self.double:  # one online pass over s and s', as network_outputs does
            both = stacked_forward(self.module, online, torch.cat([batch.obs, batch.next_obs], dim=1))
            online_output = NetworkOutput._make(None if field is None else field[:, :size] for field in both)
            next_online_q = both.q_values[:, size:].detach()
        else:
            online_output, next_online_q = stacked_forward(self.module, online, batch.obs), None

        def fold(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.reshape(members * size, *tensor.shape[2:])

        outputs = Outputs(
            NetworkOutput._make(None if field is None else fold(field) for field in online_output),
            NetworkOutput._make(None if field is None else fold(field) for field in next_target),
            None if next_online_q is None else fold(next_online_q),
        )
        transitions = TensorBatch._make(None if field is None else fold(field) for field in batch.transitions)
        loss_B, q_taken_B, priorities_B = self.objective(outputs, transitions)
        per_member = (members, size)
        return (
            loss_B.view(per_member).mean(1),
            q_taken_B.detach().view(per_member).mean(1),
            priorities_B.view(per_member),
        )

    def _single_member_losses(self, batch: _MemberBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A population of one computes as its single run does, on the member's own networks, and
        takes their gradient into the stacked one: the same kernels, so the same numbers."""
        (learner,) = self.learners
        transitions = TensorBatch._make(None if field is None else field[0] for field in batch.transitions)
        outputs = network_outputs(learner.online, learner.target, batch.obs[0], batch.next_obs[0], self.double)
        loss_B, q_taken_B, priorities_B = self.objective(outputs, transitions)
        loss = loss_B.mean()
        member_gradient = learner.flat_online.grad
        assert member_gradient is not None
        member_gradient.zero_()
        loss.backward()
        gradient_PD = self.online.parameters_PD.grad
        assert gradient_PD is not None
        gradient_PD[0].copy_(member_gradient)
        return loss.detach().view(1), q_taken_B.detach().mean().view(1), priorities_B.view(1, -1)

    @torch.no_grad()
    def _after_step(self, active: list[int]) -> None:
        """Counts the step for each active member; its learning-rate schedule and its target update
        (target <- tau * online + (1 - tau) * target when its interval comes), as DQNLearner does."""
        online_PD, target_PD = self.online.parameters_PD, self.target.parameters_PD
        for k in active:
            learner = self.learners[k]
            config = learner.config
            learner.gradient_steps += 1
            if config.lr_end is not None:
                self.lr[k] = learning_rate_at(config, learner.gradient_steps)
                if self.kind not in STACKED_OPTIMIZERS:
                    for group in learner.optimizer.param_groups:
                        group["lr"] = self.lr[k]
            if learner.gradient_steps % config.target_update_interval == 0:
                if config.tau == 1.0:
                    target_PD[k].copy_(online_PD[k])
                else:
                    target_PD[k].lerp_(online_PD[k], config.tau)
                learner.target_updates += 1
