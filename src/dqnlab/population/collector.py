"""Collection for a seed population: every member's envs, acted on in one batched forward pass.

Each member keeps the envs and replay memory of a single run (a `LocalCollector` each, seeded and
drawing as `dqnlab train --seed k` does); what the population shares is the greedy action: one
batched forward pass of the stacked online networks over all members' observations. Each member
draws its own epsilon coins and random actions from its own generator, in the single run's order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dqnlab.acting import greedy_actions
from dqnlab.networks.stacked import stacked_forward, stacked_tensors
from dqnlab.population.learner import PopulationLearner
from dqnlab.schedules import epsilon_at
from dqnlab.training.collectors import Chunk, LocalCollector
from dqnlab.types import Batch


class PopulationCollector:
    """The `Collector` of a population: one vector step of every running member per `collect`."""

    updates_per_round: int | None = None

    def __init__(self, members: list[LocalCollector], learner: PopulationLearner) -> None:
        self.members = members
        self.learner = learner
        self.running = [True] * len(members)

    @property
    def origin(self) -> tuple[int, int]:
        """The members start together, so the first member's origin is every member's."""
        return self.members[0].origin

    def start(self, state: dict[str, Any] | None) -> None:
        """Starts every member fresh (a resume starts each member from its own checkpoint instead)."""
        assert state is None, "members resume one by one, from their own checkpoints"
        for member in self.members:
            member.start(None)

    def collect(self, learning_owed: bool) -> list[Chunk]:
        running = [k for k, on in enumerate(self.running) if on]
        epsilons, explores, randoms = {}, {}, {}
        for k in running:
            member = self.members[k]
            agent = member.agent
            epsilons[k] = epsilon_at(agent.config, agent.env_steps, agent.episodes)
            agent.q_network.reset_noise(agent.training_noise)  # noisy nets: new noise per acting step
            count = len(member.obs)  # type: ignore[arg-type]
            explores[k] = agent.acting_rng.random(count) < epsilons[k]  # epsilon_greedy's draws, in its order
            randoms[k] = agent.acting_rng.integers(0, agent.num_actions, size=count)
        greedy = None
        if not all(explores[k].all() for k in running):
            greedy = self._greedy_actions(running)
        chunks = []
        for row, k in enumerate(running):
            actions = randoms[k] if greedy is None else np.where(explores[k], randoms[k], greedy[row])
            chunks.append(self.members[k].step(actions, epsilons[k]))
        return chunks

    @torch.no_grad()
    def _greedy_actions(self, running: list[int]) -> np.ndarray:
        """argmax_a Q_k(s, a) for the observations of each running member k: [R, N]. A population of
        one acts on its member's own network, as its single run does."""
        learner = self.learner
        observations = []
        for k in running:
            obs = self.members[k].obs
            assert obs is not None, "start() comes first"
            observations.append(obs)
        if len(self.members) == 1:
            return greedy_actions(learner.module, observations[0], learner.device)[None]
        obs_PN = torch.as_tensor(np.stack(observations), device=learner.device)
        tensors = stacked_tensors(learner.online, running)
        q_values_PNA = stacked_forward(learner.module, tensors, obs_PN).q_values
        return q_values_PNA.argmax(dim=2).cpu().numpy()

    def sample(self, batch_size: int) -> Batch | None:
        raise NotImplementedError("each member's lane samples from its own replay")

    def update_priorities(self, batch: Batch, priorities: np.ndarray) -> None:
        raise NotImplementedError("each member's lane updates its own replay")

    def after_gradient_step(self, gradient_steps: int) -> None:
        pass

    def stop_lane(self, lane: int) -> None:
        self.running[lane] = False

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError("each member's lane checkpoints its own replay and envs")

    def summary(self) -> dict[str, Any]:
        return {"population": len(self.members)}

    def close(self) -> None:
        for member in self.members:
            member.close()
