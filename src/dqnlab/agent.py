"""The Agent: a Q-network that acts epsilon-greedily and learns by DQN, behind a small API.

from dqnlab import Agent, Config
agent = Agent(Config(env_id="CartPole-v1"))
agent.learn(50_000)
action = agent.act(observation)
agent.save("agent.pt"); agent = Agent.load("agent.pt")
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from dqnlab.acting import epsilon_greedy
from dqnlab.allocator import keep_freed_memory
from dqnlab.config import Config, config_from_dict
from dqnlab.envs import EnvSpaces, env_spaces
from dqnlab.errors import CheckpointError, ConfigError
from dqnlab.linear.bounds import with_observation_bounds
from dqnlab.training.weights import load_checkpoint, save_checkpoint
from dqnlab.training.wiring import build_learner

if TYPE_CHECKING:
    from dqnlab.training.collectors import Collector
    from dqnlab.training.progress import ProgressMode


def resolve_device(name: str) -> torch.device:
    """ "auto" picks CUDA when present; asking for CUDA without it is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' asked for, but no CUDA GPU is available")
    return torch.device(name)


class Agent:
    """Acting and learning for one env id, configured by a `Config`."""

    def __init__(self, config: Config, spaces: EnvSpaces | None = None) -> None:
        self.spaces = spaces or env_spaces(config.env_id, config.atari, config.env_kwargs)
        # Linear and tabular Q normalize by bounds that the run records in its config.
        config = with_observation_bounds(config, self.spaces.observation_space)
        self.config = config
        self.num_actions = int(self.spaces.action_space.n)
        self.device = resolve_device(config.device)
        torch.set_num_threads(config.torch_threads)
        keep_freed_memory()  # large per-step temporaries reuse their memory instead of page-faulting
        random.seed(config.seed)
        torch.manual_seed(config.seed)
        seeds = np.random.SeedSequence(config.seed).spawn(4)
        acting_seed, replay_seed, evaluation_seed, evaluation_noise_seed = seeds
        self.acting_rng = np.random.default_rng(acting_seed)
        self.replay_rng = np.random.default_rng(replay_seed)
        # Evaluation draws from streams of its own, for its ε-greedy choices and for its noisy nets'
        # noise (on the CPU, the same on every device), so how often and how long a run evaluates
        # never changes what it collects and learns.
        self.evaluation_rng = np.random.default_rng(evaluation_seed)
        self.evaluation_noise = torch.Generator().manual_seed(int(evaluation_noise_seed.generate_state(1)[0]))
        # Noise of noisy nets while training: torch's global generator, seeded above; a member of a
        # seed population draws the same numbers from a generator of its own (dqnlab.population).
        self.training_noise: torch.Generator | None = None
        self.learner = build_learner(config, self.spaces.observation_space, self.num_actions, self.device)
        self.collector: Collector | None = None  # kept between `learn` calls: its envs and replay go on
        self.env_steps = 0  # env steps collected by `learn`, all envs counted
        self.episodes = 0  # episodes finished by `learn`

    @property
    def q_network(self):  # type: ignore[no-untyped-def]
        return self.learner.online

    def describe_q_function(self) -> str:
        """One line on the Q-function's model and size, e.g. its feature count for linear Q."""
        parameters = sum(p.numel() for p in self.q_network.parameters())
        torso, name = self.q_network.torso, self.config.network.q_function
        description = getattr(torso, "description", None)  # set by the linear, tabular and MinAtar torsos
        if description is None:
            return f"{name}, {parameters:,} parameters"
        if name not in ("linear", "table"):  # a deep torso: its layers, not "features" of a linear model
            return f"{description}, {parameters:,} parameters"
        size = f"{torso.output_size:,} features x {self.num_actions} actions = {parameters:,} parameters"
        return f"{name} ({description}): {size}"

    def act_batch(self, obs: np.ndarray, epsilon: float) -> np.ndarray:
        """Epsilon-greedy actions [N] for a batch of observations [N, *obs_shape], as evaluation acts.

        Noisy nets act on their mean weights when `evaluation.mean_weights` is set, else on fresh noise.
        """
        network = self.q_network
        on_mean_weights = bool(network.noisy_layers) and self.config.evaluation.mean_weights
        if network.noisy_layers and not on_mean_weights:
            network.reset_noise(self.evaluation_noise)
        if on_mean_weights:
            network.eval()  # NoisyLinear uses its mean weights in eval mode
        try:
            return epsilon_greedy(network, obs, epsilon, self.num_actions, self.evaluation_rng, self.device)
        finally:
            if on_mean_weights:
                network.train()

    def explore_batch(self, obs: np.ndarray, epsilon: float) -> np.ndarray:
        """Actions [N] while training: noisy nets draw new noise for every acting step
        (Fortunato et al. 2018, Algorithm 1), then epsilon-greedy as `act_batch`."""
        self.q_network.reset_noise(self.training_noise)
        return epsilon_greedy(self.q_network, obs, epsilon, self.num_actions, self.acting_rng, self.device)

    def act(self, obs: np.ndarray, epsilon: float | None = None) -> int:
        """The action for one observation; epsilon defaults to the evaluation epsilon."""
        if epsilon is None:
            epsilon = self.config.evaluation.epsilon
        return int(self.act_batch(np.asarray(obs)[None], epsilon)[0])

    def learn(
        self,
        steps: int | None = None,
        run_dir: str | Path | None = None,
        progress: bool | ProgressMode = False,
        ray_address: str | None = None,
    ) -> dict[str, Any]:
        """Trains for `steps` env steps (default: config.steps) and returns the run summary.

        With `run_dir`, metrics, evaluations, checkpoints and TensorBoard events are written there.
        `progress`: True, "bar" or "log" show it on stderr (training/progress.py). A second call goes on
        with the same replay and episodes; a loaded agent collects `learning.learning_starts` env steps first.
        With `distributed.actors` > 0, Ape-X actors collect on Ray (at `ray_address`, else on this machine).
        """
        from dqnlab.training.loop import TrainingLoop

        loop = TrainingLoop(self, steps or self.config.steps, run_dir, progress, ray_address=ray_address)
        return loop.run()

    def check_fits(self, observation_shape: Any, num_actions: Any, source: str) -> None:
        """Refuses weights or a training state saved for other observations or actions than this env's."""
        saved_shape, env_shape = tuple(observation_shape), self.spaces.observation_space.shape
        if saved_shape != env_shape or num_actions != self.num_actions:
            raise CheckpointError(
                f"{source} was saved for observations {saved_shape} and {num_actions} actions; "
                f"{self.config.env_id} has {env_shape} and {self.num_actions}"
            )

    def rng_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(plain values, tensors): the state of every random stream the agent draws from."""
        plain = {
            "python": random.getstate(),
            "acting": self.acting_rng.bit_generator.state,
            "replay": self.replay_rng.bit_generator.state,
            "evaluation": self.evaluation_rng.bit_generator.state,
        }
        tensors = {
            # a population member's noise comes from a generator of its own, in place of torch's global one
            "torch": torch.get_rng_state() if self.training_noise is None else self.training_noise.get_state(),
            "evaluation_noise": self.evaluation_noise.get_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
        return plain, tensors

    def load_rng_state(self, plain: dict[str, Any], tensors: dict[str, Any]) -> None:
        """Restores `rng_state()`."""
        random.setstate(plain["python"])
        self.acting_rng.bit_generator.state = plain["acting"]
        self.replay_rng.bit_generator.state = plain["replay"]
        self.evaluation_rng.bit_generator.state = plain["evaluation"]
        if self.training_noise is None:
            torch.set_rng_state(tensors["torch"])
        else:
            self.training_noise.set_state(tensors["torch"])
        self.evaluation_noise.set_state(tensors["evaluation_noise"])
        if tensors["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(tensors["cuda"])

    def checkpoint_payload(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "observation_shape": list(self.spaces.observation_space.shape),
            "num_actions": self.num_actions,
            "env_steps": self.env_steps,
            "q_network": self.q_network.state_dict(),
        }

    def save(self, path: str | Path) -> None:
        """Saves the config and the online network's weights."""
        save_checkpoint(path, self.checkpoint_payload())

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> Agent:
        """Rebuilds an agent from a checkpoint; refuses one whose network does not fit its env."""
        payload = load_checkpoint(path)
        try:
            config = config_from_dict(payload["config"])
        except ConfigError as exc:
            raise CheckpointError(f"{path}: its config is invalid: {exc}") from None
        except (KeyError, TypeError):
            raise CheckpointError(f"{path} is not a dqnlab checkpoint") from None
        if device is not None:
            config = config.replace(device=device)
        agent = cls(config)
        agent.check_fits(payload.get("observation_shape", ()), payload.get("num_actions"), str(path))
        try:
            agent.q_network.load_state_dict(payload["q_network"])
        except (KeyError, RuntimeError) as exc:
            reason = str(exc).strip().splitlines()[0]
            raise CheckpointError(f"{path}: network does not match its config: {reason}") from None
        agent.learner.target.load_state_dict(agent.q_network.state_dict())
        agent.env_steps = int(payload.get("env_steps", 0))
        return agent
