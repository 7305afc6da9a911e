"""Typed, validated configuration: one frozen dataclass per concern, nested in `Config`.

Each field's one-line doc, with its unit, is data (the field's metadata "doc"), which `dqnlab config`
prints and the README's table is written from (config_docs.py). *env steps* count every step of every
parallel env, *gradient steps* count optimizer updates. Values reach a config from, in order:
defaults, a preset, a TOML file, then `--set section.key=value` overrides; none is rewritten afterwards
(what "auto" values stand for is computed when they are used: `exploration_schedule`, `resolved_config`).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import tomli_w

from dqnlab.errors import ConfigError

# Keyword arguments for the env's constructor, as sorted (name, value) pairs so that a config stays
# hashable; written to TOML as a table, `[env_kwargs]`, and set by `--env-kwargs K=V` or `--set env_kwargs.K=V`.
EnvKwargs = tuple[tuple[str, bool | int | float | str], ...]


def _doc(default: Any, doc: str) -> Any:
    """A field with `default` and its one-line doc, unit included, kept as data in the field's metadata:
    `dqnlab config` and the README's configuration table show it."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class NetworkConfig:
    """The Q-function: which model, and its size."""

    q_function: Literal["mlp", "cnn", "linear", "table"] = _doc(
        "mlp", "Q model: mlp, cnn (Nature CNN on stacked frames), linear (on features φ(s)) or table"
    )
    torso: Literal["auto", "mlp", "minatar", "minatar_same"] = _doc(
        "auto", "under q_function mlp: auto = minatar for MinAtar's 10x10xC bool grids, else mlp (docs/minatar.md)"
    )
    hidden_sizes: tuple[int, ...] = _doc((256, 256), "units in each hidden layer of the MLP, input side first")
    layer_norm: bool = _doc(
        False, "mlp: LayerNorm after each hidden linear layer, before its ReLU, as PQN (Gallici et al. 2024)"
    )
    features: Literal["fourier", "polynomial", "rbf", "tiles"] = _doc(
        "fourier", "linear: basis φ(s) over the state normalized to [0, 1]"
    )
    order: int = _doc(3, "linear: fourier order n, (n+1)^K features; polynomial degree d, C(K+d, d) features")
    fourier_scaling: bool = _doc(False, "linear fourier: φ_i / sqrt(‖c_i‖), so SGD's rate is α/‖c_i‖ (Konidaris 2011)")
    bins: tuple[int, ...] = _doc(
        (10,), "count per state dimension (one value = all): table bins, tiles per tiling, or rbf centres"
    )
    tilings: int = _doc(8, "linear tiles: offset tilings, each adding one active feature")
    rbf_width: float | None = _doc(None, "linear rbf: Gaussian σ in normalized [0, 1] units; none = centre spacing")
    obs_bounds: tuple[tuple[float, float], ...] = _doc((), "linear, table: [low, high] per dimension; [] = env's")
    dueling: bool = _doc(False, "dueling head, Q = V + A - mean(A) (Wang et al. 2016)")
    dueling_hidden: int | None = _doc(
        None, "hidden units per dueling stream (cnn: replaces its shared 512 layer); none = no hidden layer"
    )
    noisy: bool = _doc(
        False, "factorized Gaussian noisy layers in the head (Fortunato et al. 2018); see exploration.schedule"
    )
    noisy_sigma0: float = _doc(
        0.5, "initial noise scale σ0 of noisy layers; each layer's σ starts at σ0 / sqrt(inputs)"
    )
    init: Literal["torch", "glorot_uniform"] = _doc(
        "torch", "mlp, cnn: torch = PyTorch's layer defaults; glorot_uniform, zero biases = flax's (Dopamine, JAX)"
    )
    distributional: Literal["expected", "c51", "qr"] = _doc(
        "expected",
        "expected: Q values; c51: return atoms (Bellemare et al. 2017); qr: quantiles (Dabney et al. 2018)",
    )
    atoms: int = _doc(51, "c51: number of atoms of the categorical support")
    v_min: float = _doc(-10.0, "c51: lowest return on the support, in reward units")
    v_max: float = _doc(10.0, "c51: highest return on the support, in reward units")
    quantiles: int = _doc(200, "qr: number of quantiles per action")

    def __post_init__(self) -> None:
        _require(len(self.hidden_sizes) > 0, "network.hidden_sizes must name at least one layer")
        _require(all(w > 0 for w in self.hidden_sizes), "network.hidden_sizes must be positive")
        _require(self.noisy_sigma0 > 0, f"network.noisy_sigma0 must be > 0, got {self.noisy_sigma0}")
        _require(self.atoms >= 2, f"network.atoms must be >= 2, got {self.atoms}")
        _require(self.v_min < self.v_max, f"network.v_min ({self.v_min}) must be below network.v_max ({self.v_max})")
        _require(self.quantiles >= 1, f"network.quantiles must be >= 1, got {self.quantiles}")
        _require(
            self.dueling_hidden is None or self.dueling_hidden >= 1,
            f"network.dueling_hidden must be >= 1 or none, got {self.dueling_hidden}",
        )
        _require(
            self.dueling or self.dueling_hidden is None,
            "network.dueling_hidden needs network.dueling = true; set it to none for a head without dueling",
        )
        _require(
            self.init == "torch" or self.q_function in ("mlp", "cnn"),
            f"network.init applies to mlp and cnn networks; {self.q_function} Q starts at θ = 0",
        )
        _require(self.order >= 1, f"network.order must be >= 1, got {self.order}")
        _require(len(self.bins) > 0 and min(self.bins) >= 1, f"network.bins must be >= 1, got {list(self.bins)}")
        _require(self.tilings >= 1, f"network.tilings must be >= 1, got {self.tilings}")
        _require(self.rbf_width is None or self.rbf_width > 0, f"network.rbf_width must be > 0, not {self.rbf_width}")
        _require(
            self.q_function != "linear" or self.features != "rbf" or min(self.bins) >= 2 or self.rbf_width is not None,
            "network.bins must be >= 2 for rbf centres, or set network.rbf_width",
        )
        _require(
            all(
                len(pair) == 2 and math.isfinite(pair[0]) and math.isfinite(pair[1]) and pair[0] < pair[1]
                for pair in self.obs_bounds
            ),
            f"network.obs_bounds must be finite [low, high] pairs with low < high, "
            f"got {[list(p) for p in self.obs_bounds]}",
        )
        _require(
            self.q_function == "mlp" or self.torso == "auto",
            f"network.torso '{self.torso}' is for q_function 'mlp'; q_function '{self.q_function}' has its own",
        )
        _require(
            self.q_function == "mlp" or not self.layer_norm,
            f"network.layer_norm applies to the mlp torso only, not to q_function '{self.q_function}'",
        )
        _require(
            self.q_function in ("mlp", "cnn") or not (self.dueling or self.noisy or self.distributional != "expected"),
            f"network.q_function '{self.q_function}' takes a plain Q head; turn off dueling, noisy and distributional",
        )


@dataclass(frozen=True)
class LearningConfig:
    """How Q is fitted to its TD target (Mnih et al. 2015; van Hasselt et al. 2016)."""

    gamma: float = _doc(0.99, "discount factor per env step, in (0, 1]")
    lr: float = _doc(1e-3, "optimizer step size (per gradient step); the start of the decay when lr_end is set")
    optimizer: Literal["adam", "rmsprop", "rmsprop_centered", "rmsprop_minatar", "sgd"] = _doc(
        "adam",
        "adam, rmsprop, rmsprop_centered (DeepMind's), rmsprop_minatar (Young & Tian's) or sgd (semi-gradient)",
    )
    optimizer_eps: float | None = _doc(
        None, "ε of the denominator (under the root if centered); none = default (1e-8; centered 1e-5; minatar 0.01)"
    )
    lr_end: float | None = _doc(None, "learning rate reached by linear decay from lr; none = constant lr")
    lr_decay_steps: int = _doc(100_000, "gradient steps over which lr decays linearly to lr_end")
    batch_size: int = _doc(64, "transitions sampled per gradient step")
    loss: Literal["huber", "mse"] = _doc("huber", "huber clips the TD error's gradient to [-1, 1]; mse does not")
    double: bool = _doc(True, "Double DQN: online net picks a', target net evaluates it")
    target_update_interval: int = _doc(500, "gradient steps between target-network updates")
    tau: float = _doc(1.0, "target <- tau·online + (1 - tau)·target at each target update; 1 = hard copy")
    max_grad_norm: float | None = _doc(10.0, "clip of the global gradient L2 norm at each gradient step; none = off")
    learning_starts: int = _doc(1000, "env steps of pure collection before the first update")
    train_freq: int = _doc(1, "env steps between updates")
    gradient_steps: int = _doc(1, "gradient steps per update")

    def __post_init__(self) -> None:
        _require(0.0 < self.gamma <= 1.0, f"learning.gamma must be in (0, 1], got {self.gamma}")
        _require(self.lr > 0, f"learning.lr must be > 0, got {self.lr}")
        _require(self.lr_end is None or self.lr_end > 0, f"learning.lr_end must be > 0 or none, got {self.lr_end}")
        _require(
            self.optimizer_eps is None or self.optimizer_eps > 0,
            f"learning.optimizer_eps must be > 0 or none, got {self.optimizer_eps}",
        )
        _require(self.lr_decay_steps >= 1, "learning.lr_decay_steps must be >= 1")
        _require(self.batch_size >= 1, "learning.batch_size must be >= 1")
        _require(self.target_update_interval >= 1, "learning.target_update_interval must be >= 1")
        _require(0.0 < self.tau <= 1.0, f"learning.tau must be in (0, 1], got {self.tau}")
        _require(
            self.max_grad_norm is None or self.max_grad_norm > 0,
            "learning.max_grad_norm must be > 0 or none",
        )
        _require(self.learning_starts >= 0, "learning.learning_starts must be >= 0")
        _require(self.train_freq >= 1, "learning.train_freq must be >= 1")
        _require(self.gradient_steps >= 1, "learning.gradient_steps must be >= 1")


@dataclass(frozen=True)
class ReplayConfig:
    """Experience replay memory (Lin 1992; Mnih et al. 2015)."""

    capacity: int = _doc(100_000, "transitions kept; 1 = no replay (online Q-learning, with learning.batch_size = 1)")
    reserve_fraction: float = _doc(0.0, "share of capacity keeping the first transitions, never overwritten; in [0, 1)")
    n_step: int = _doc(1, "env steps summed into one transition's return (Sutton 1988; Hessel et al. 2018 use 3)")
    prioritized: bool = _doc(False, "proportional prioritized replay (Schaul et al. 2016)")
    alpha: float = _doc(0.6, "prioritized: priority exponent, P(i) ~ (|delta_i| + eps)^alpha; 0 = uniform")
    beta_start: float = _doc(
        0.4, "prioritized: importance-sampling exponent at env step 0, annealed linearly to 1 by the last"
    )
    priority_eps: float = _doc(1e-6, "prioritized: added to |delta| so no transition gets probability 0")
    frame_storage: Literal["auto", "on", "off"] = _doc(
        "auto", "store each frame once (auto: for uint8 [k, H, W] stacks)"
    )

    def __post_init__(self) -> None:
        _require(self.capacity >= 1, "replay.capacity must be >= 1")
        _require(
            0.0 <= self.reserve_fraction < 1.0,
            f"replay.reserve_fraction must be in [0, 1), got {self.reserve_fraction}",
        )
        _require(self.n_step >= 1, f"replay.n_step must be >= 1, got {self.n_step}")
        _require(self.alpha >= 0, f"replay.alpha must be >= 0, got {self.alpha}")
        _require(0.0 <= self.beta_start <= 1.0, f"replay.beta_start must be in [0, 1], got {self.beta_start}")
        _require(self.priority_eps > 0, f"replay.priority_eps must be > 0, got {self.priority_eps}")


@dataclass(frozen=True)
class ExplorationConfig:
    """Epsilon-greedy exploration while training."""

    schedule: Literal["auto", "linear", "exponential", "constant", "none"] = _doc(
        "auto", "auto: none for noisy nets with the values below at their defaults, else linear; none = ε 0"
    )
    start: float = _doc(1.0, "epsilon (probability of a random action) at env step 0; constant: the whole run")
    end: float = _doc(0.05, "epsilon after decay")
    decay_steps: int = _doc(10_000, "linear: env steps from start to end")
    decay_start: int = _doc(0, "linear: env steps held at start before the decay begins (MinAtar's DQN: 5,000)")
    decay_rate: float = _doc(0.01, "exponential: rate per finished episode in end + (start - end)·exp(-rate·episode)")

    def __post_init__(self) -> None:
        _require(0.0 <= self.start <= 1.0, "exploration.start must be in [0, 1]")
        _require(0.0 <= self.end <= 1.0, "exploration.end must be in [0, 1]")
        _require(self.decay_steps >= 1, "exploration.decay_steps must be >= 1")
        _require(self.decay_start >= 0, "exploration.decay_start must be >= 0")
        _require(self.decay_rate > 0, "exploration.decay_rate must be > 0")


@dataclass(frozen=True)
class EvaluationConfig:
    """Greedy evaluation on separate envs, best-model keeping and early stopping."""

    every: int = _doc(1000, "env steps between evaluations; 0 = only at the end")
    episodes: int = _doc(10, "episodes per evaluation")
    epsilon: float = _doc(0.0, "epsilon while evaluating; Atari presets: 0.001 as Dopamine (Nature DQN used 0.05)")
    target_return: float | None = _doc(
        None, "mean eval return (reward units) that counts as solved; none = env's reward_threshold"
    )
    stop_at_target: bool = _doc(True, "stop training once target_return is reached")
    patience: int = _doc(0, "evaluations without improvement before stopping; 0 = off")
    mean_weights: bool = _doc(True, "noisy nets act on their mean weights (no noise) when evaluating")

    def __post_init__(self) -> None:
        _require(self.every >= 0, "evaluation.every must be >= 0")
        _require(self.episodes >= 1, "evaluation.episodes must be >= 1")
        _require(0.0 <= self.epsilon <= 1.0, "evaluation.epsilon must be in [0, 1]")
        _require(self.patience >= 0, "evaluation.patience must be >= 0")


@dataclass(frozen=True)
class DiagnosticsConfig:
    """The diagnostics figure and collapse detection (see docs/diagnostics.md)."""

    plot_every: int = _doc(100, "episodes between redraws of diagnostics.png; 0 = only at the end")
    collapse_drop: float = _doc(0.75, "share of the eval-return gain (best - first eval) whose loss is a collapse")
    collapse_min_best: float | None = _doc(
        None, "best eval return (reward units) arming collapse detection; none = halfway to target"
    )
    on_collapse: Literal["warn", "stop", "rollback"] = _doc("warn", "rollback = restore the best weights and go on")

    def __post_init__(self) -> None:
        _require(self.plot_every >= 0, "diagnostics.plot_every must be >= 0")
        _require(
            0.0 < self.collapse_drop <= 1.0, f"diagnostics.collapse_drop must be in (0, 1], got {self.collapse_drop}"
        )


@dataclass(frozen=True)
class AtariConfig:
    """Preprocessing of ALE games (Mnih et al. 2015; Machado et al. 2018); ignored for other envs."""

    sticky_actions: float = _doc(0.25, "probability the previous action repeats, per frame (ALE v5's default)")
    noop_max: int = _doc(30, "at most this many no-op agent steps after each reset")
    frame_stack: int = _doc(4, "frames stacked into one observation")
    max_episode_frames: int = _doc(108_000, "game frames before truncation (30 minutes of play)")
    episodic_life: bool = _doc(True, "training only: a lost life ends the learner's episode")
    clip_rewards: bool = _doc(True, "training only: rewards become their sign")
    fire_reset: bool = _doc(True, "press FIRE after a reset in games that need it")

    def __post_init__(self) -> None:
        _require(0.0 <= self.sticky_actions < 1.0, "atari.sticky_actions must be in [0, 1)")
        _require(self.noop_max >= 0, "atari.noop_max must be >= 0")
        _require(self.frame_stack >= 1, "atari.frame_stack must be >= 1")
        _require(self.max_episode_frames >= 1, "atari.max_episode_frames must be >= 1")


@dataclass(frozen=True)
class CheckpointConfig:
    """Full training state saved for an exact resume (`dqnlab train --resume RUN_DIR`)."""

    every: int = _doc(10_000, "env steps between full checkpoints; 0 = only on Ctrl-C, SIGTERM and faults")
    keep_last: int = _doc(2, "full checkpoints kept; an older one is deleted only once a newer one is complete")
    on_nonfinite: Literal["stop", "rollback"] = _doc("stop", "nan/inf loss: stop, or reload the last checkpoint's nets")
    keep_final: bool = _doc(
        False, "keep a finished run's final full checkpoint, so `train --resume RUN --steps N` extends it"
    )

    def __post_init__(self) -> None:
        _require(self.every >= 0, f"checkpoint.every must be >= 0, got {self.every}")
        _require(self.keep_last >= 1, f"checkpoint.keep_last must be >= 1, got {self.keep_last}")


@dataclass(frozen=True)
class DistributedConfig:
    """Ape-X on Ray (Horgan et al. 2018): actors collect with their own epsilons, one learner (docs/distributed.md)."""

    actors: int = _doc(0, "Ray actors collecting experience (`train --actors N`); 0 = one process, no Ray")
    epsilon: float = _doc(0.4, "actor i of N explores with epsilon^(1 + alpha * i / (N - 1)) (Ape-X, eq. 1)")
    alpha: float = _doc(7.0, "spread of the actors' epsilons: actor N-1 gets epsilon^(1 + alpha)")
    send_every: int = _doc(50, "transitions an actor sends to replay per batch, with their initial priorities")
    publish_every: int = _doc(50, "learner gradient steps between weight publications to the actors")
    replay_shards: int = _doc(1, "replay actors; replay.capacity is split evenly between them")

    def __post_init__(self) -> None:
        _require(self.actors >= 0, f"distributed.actors must be >= 0, got {self.actors}")
        _require(0.0 <= self.epsilon <= 1.0, f"distributed.epsilon must be in [0, 1], got {self.epsilon}")
        _require(self.alpha >= 0, f"distributed.alpha must be >= 0, got {self.alpha}")
        _require(self.send_every >= 1, f"distributed.send_every must be >= 1, got {self.send_every}")
        _require(self.publish_every >= 1, f"distributed.publish_every must be >= 1, got {self.publish_every}")
        _require(self.replay_shards >= 1, f"distributed.replay_shards must be >= 1, got {self.replay_shards}")


@dataclass(frozen=True)
class Config:
    """Everything that defines a training run."""

    env_id: str = _doc(
        "CartPole-v1", "Gymnasium env id, e.g. CartPole-v1 or ALE/Pong-v5; module:EnvId imports the module first"
    )
    env_kwargs: EnvKwargs = _doc((), "keyword arguments for the env's constructor, e.g. sticky_action_prob = 0.0")
    preset: str = _doc("dqn", "the preset these values started from")
    seed: int = _doc(0, "seeds Python, numpy, torch and the envs; in [0, 2^32)")
    steps: int = _doc(100_000, "env steps to train, at most")
    num_envs: int = _doc(1, "parallel envs collecting experience; each of their steps is an env step")
    device: Literal["auto", "cpu", "cuda"] = _doc(
        "auto", "where the networks live; auto = cuda when available, else cpu"
    )
    torch_threads: int = _doc(1, "CPU threads for torch; small nets run fastest on one")
    tensorboard: bool = _doc(True, "also write TensorBoard event files to the run directory")
    network: NetworkConfig = field(default_factory=NetworkConfig)
    learning: LearningConfig = field(default_factory=LearningConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    exploration: ExplorationConfig = field(default_factory=ExplorationConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    atari: AtariConfig = field(default_factory=AtariConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)

    def __post_init__(self) -> None:
        _require(self.steps >= 1, "steps must be >= 1")
        _require(0 <= self.seed < 2**32, f"seed must be in [0, 2^32), got {self.seed}")
        _require(self.num_envs >= 1, "num_envs must be >= 1")
        _require(self.torch_threads >= 1, "torch_threads must be >= 1")
        _require(
            self.learning.batch_size <= self.replay.capacity,
            f"learning.batch_size ({self.learning.batch_size}) is larger than replay.capacity ({self.replay.capacity})",
        )

    def replace(self, **changes: Any) -> Config:
        """A copy with top-level fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict; `None` becomes the string "none" so TOML can hold it."""
        return _to_plain(self)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())


def exploration_schedule(config: Config) -> str:
    """The schedule `config` explores by: "auto" stands for none (ε = 0) when noisy nets explore through their
    weights (Fortunato et al. 2018; Hessel et al. 2018) and every other exploration value is at its default, and
    for linear otherwise; any other schedule is the one the user chose."""
    exploration = config.exploration
    if exploration.schedule != "auto":
        return exploration.schedule
    return "none" if config.network.noisy and exploration == ExplorationConfig() else "linear"


def resolved_config(config: Config, *, device: str, target_return: float | None) -> Config:
    """`config` with what its "auto" and "none" stand for in this run written out: the device the networks live
    on, the target return in use (still none when the env has none) and the exploration schedule. A run
    directory's config.toml holds it."""
    resolved = {"device": device, "evaluation": {"target_return": target_return}}
    return apply_overrides(config, {**resolved, "exploration": {"schedule": exploration_schedule(config)}})


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {
            f.name: dict(getattr(value, f.name)) if f.type == "EnvKwargs" else _to_plain(getattr(value, f.name))
            for f in fields(value)
        }
    if isinstance(value, tuple):
        return list(value)
    if value is None:
        return "none"
    return value


def _env_kwargs(value: Any, current: EnvKwargs, key: str) -> EnvKwargs:
    """A table of env constructor arguments merged over `current`, as sorted (name, value) pairs."""
    if not isinstance(value, dict):
        raise ConfigError(f"{key} must be a table of NAME = VALUE, e.g. {key}.sticky_action_prob=0.0")
    for name, item in value.items():
        if not name.isidentifier():
            raise ConfigError(f"{key}: '{name}' is not a keyword argument name")
        if not isinstance(item, bool | int | float | str):
            raise ConfigError(f"{key}.{name} must be a number, true/false or a string, got {item!r}")
    return tuple(sorted({**dict(current), **value}.items()))


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Converts a TOML or command-line value to the field's declared type, or says why not."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or (isinstance(value, str) and value.lower() in ("none", "null"))):
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if origin is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{key} must be one of {choices}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        return tuple(_coerce(v, args[0], key) for v in value)
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the float range
            number = math.inf
        if not math.isfinite(number):  # nan or inf would only break training later, and less clearly
            raise ConfigError(f"{key} must be a finite number, got {value!r}")
        return number
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {annotation}")  # pragma: no cover


def _merge(obj: Any, updates: dict[str, Any], prefix: str = "") -> Any:
    """Returns `obj` (a config dataclass) with nested `updates` applied and validated."""
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in fields(obj)}
    changes: dict[str, Any] = {}
    for name, value in updates.items():
        key = f"{prefix}{name}"
        if name not in names:
            raise ConfigError(f"unknown config key '{key}'{_suggest(key, names)}")
        annotation = hints[name]
        current = getattr(obj, name)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"'{key}' is a section; set its keys as {key}.KEY=VALUE")
            changes[name] = _merge(current, value, prefix=f"{key}.")
        elif annotation == EnvKwargs:
            changes[name] = _env_kwargs(value, current, key)
        else:
            changes[name] = _coerce(value, annotation, key)
    try:
        return dataclasses.replace(obj, **changes)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # pragma: no cover - defensive
        raise ConfigError(str(exc)) from exc


def did_you_mean(name: str, choices: list[str] | set[str]) -> str:
    """ " (did you mean 'X'?)" for the choice closest to a mistyped `name`, or "" when none is close
    (or `name`, read from a file, is no string)."""
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, sorted(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _suggest(key: str, names: set[str]) -> str:
    """A close name in the same section (a typo), else the keys of other sections ending in the same name
    (`lr` for `learning.lr`)."""
    name = key.rsplit(".", 1)[-1]
    typo = did_you_mean(name, names)
    if typo:
        return typo
    elsewhere = [other for other in _dotted_keys(Config()) if other.rsplit(".", 1)[-1] == name]
    return f" (did you mean {' or '.join(repr(k) for k in elsewhere)}?)" if elsewhere else ""


def _dotted_keys(obj: Any, prefix: str = "") -> list[str]:
    """Every key of a config dataclass as `--set` names it (`learning.lr`)."""
    keys: list[str] = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        keys += _dotted_keys(value, f"{prefix}{f.name}.") if dataclasses.is_dataclass(value) else [prefix + f.name]
    return keys


def apply_overrides(config: Config, updates: dict[str, Any]) -> Config:
    """Applies a nested dict of values (from TOML or a preset) to `config`."""
    return _merge(config, updates)


def parse_assignment(text: str) -> dict[str, Any]:
    """Turns `section.key=value` into a nested dict; the value is read as TOML, else as a string."""
    if "=" not in text:
        raise ConfigError(f"--set expects KEY=VALUE, got '{text}'")
    dotted, raw = text.split("=", 1)
    dotted = dotted.strip()
    if not dotted:
        raise ConfigError(f"--set expects KEY=VALUE, got '{text}'")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    nested: dict[str, Any] = {}
    cursor = nested
    parts = dotted.split(".")
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    return nested


def parse_assignments(texts: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Several `section.key=value` merged into one nested dict (later ones win), applied in one go
    so that values checked against each other (batch_size <= capacity) may be set in any order."""
    merged: dict[str, Any] = {}
    for text in texts:
        _deep_update(merged, parse_assignment(text))
    return merged


def _deep_update(into: dict[str, Any], values: dict[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_update(into[key], value)
        else:
            into[key] = value


def load_toml(path: str | Path) -> dict[str, Any]:
    """Reads a TOML config file into a nested dict, with a one-line error if it cannot."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def config_from_dict(values: dict[str, Any]) -> Config:
    """Builds a Config from a nested dict (as written by `Config.to_dict`)."""
    return apply_overrides(Config(), values)
