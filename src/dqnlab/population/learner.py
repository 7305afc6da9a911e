"""Learning for a seed population: one batched gradient step for all members.

The members' online and target networks are stacked (networks/stacked.py): one [P, D] buffer of
parameters each, member k's network a view of row k. A step computes every member's loss in one
vmapped call of the single-run objective (learner.py), backpropagates their sum (each member's
gradient depends on its own loss only), clips each member's gradient norm, and takes one Adam or
SGD step (the single run's kernels) over the members' rows, grouped by learning rate. Members that stopped are
masked: their rows do not change.

Each member's `DQNLearner` keeps its counters, and its `optimizer` reads and writes its row of the
population's optimizer state, so a member's checkpoint is the one a single run writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import numpy as np
import torch

from dqnlab.learner import DQNLearner, Outputs, TensorBatch, network_outputs, objective_for, to_tensors
from dqnlab.networks import QNetwork
from dqnlab.networks.stacked import Stacked, stack_modules, stackable_copy, unstack, vmap_members
from dqnlab.schedules import learning_rate_at
from dqnlab.types import Batch, UpdateStats

BETA1, BETA2 = 0.9, 0.999  # torch.optim.Adam's defaults, which dqnlab's "adam" uses
POPULATION_OPTIMIZERS = ("adam", "sgd")


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
    gradient_PD.mul_(torch.clamp(max_norm_P1 / (norm_P1 + 1e-6), max=1.0))


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
        self.module = stackable_copy(first.online)  # its code computes every member's forward pass
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
            learner.optimizer = cast(torch.optim.Optimizer, MemberOptimizer(self, member, learner.optimizer))

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
        present = [batch for batch in batches if batch is not None]
        # Masked members train on a copy of an active member's batch, and their step is masked.
        filled = [batch if batch is not None else present[0] for batch in batches]
        for k in active:  # fresh noise for each update, online then target, as DQNLearner draws it
            self.learners[k].online.reset_noise(self.training_noise[k])
            self.learners[k].target.reset_noise(self.training_noise[k])
        member_batch = _stack_batches(filled, self.device)
        losses_P, q_means_P, priorities_PB = self._losses(member_batch)

        gradient_PD = self.online.parameters_PD.grad
        assert gradient_PD is not None, "the stacked gradient is kept defined"
        gradient_PD.zero_()
        losses_P.sum().backward()
        clip_grad_norms_(gradient_PD, self.max_norm_P1)
        groups: dict[tuple[float, float], list[int]] = {}
        for k in active:
            groups.setdefault((self.lr[k], self.eps[k]), []).append(k)
        with torch.no_grad():
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
        self._after_step(active)
        losses, q_means, priorities = losses_P.tolist(), q_means_P.tolist(), priorities_PB.cpu().numpy()
        return [
            UpdateStats(losses[k], q_means[k], priorities[k]) if batches[k] is not None else None
            for k in range(len(batches))
        ]

    def _losses(self, batch: _MemberBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss [P], mean Q of the actions taken [P], priorities [P, B]) of every member, by the
        single-run objective vmapped over the members."""
        module, online, target = self.module, self.online, self.target

        def member(
            parameters_D: torch.Tensor,
            buffers_E: torch.Tensor,
            target_parameters_D: torch.Tensor,
            target_buffers_E: torch.Tensor,
            obs: torch.Tensor,
            next_obs: torch.Tensor,
            transitions: TensorBatch,
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            online_tensors = {
                **unstack(parameters_D, online.parameter_slots),
                **unstack(buffers_E, online.buffer_slots),
            }
            target_tensors = {
                **unstack(target_parameters_D, target.parameter_slots),
                **unstack(target_buffers_E, target.buffer_slots),
            }

            def online_network(x: torch.Tensor) -> Any:
                return torch.func.functional_call(module, online_tensors, (x,))

            def target_network(x: torch.Tensor) -> Any:
                return torch.func.functional_call(module, target_tensors, (x,))

            outputs: Outputs = network_outputs(
                cast(QNetwork, online_network), cast(QNetwork, target_network), obs, next_obs, self.double
            )
            objective = self.objective(outputs, transitions)
            return objective.loss, objective.q_taken_B.detach().mean(), objective.priorities_B

        return vmap_members(member)(
            online.parameters_PD,
            online.buffers_PE,
            target.parameters_PD,
            target.buffers_PE,
            batch.obs,
            batch.next_obs,
            batch.transitions,
        )

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
            if learner.gradient_steps % config.target_update_interval == 0:
                if config.tau == 1.0:
                    target_PD[k].copy_(online_PD[k])
                else:
                    target_PD[k].lerp_(online_PD[k], config.tau)
                learner.target_updates += 1
