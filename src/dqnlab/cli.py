"""The `dqnlab` command: train, evaluate, env-info, presets."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from dqnlab import __version__
from dqnlab.config import Config
from dqnlab.errors import ConfigError, DqnlabError, TrainingInterrupted

if TYPE_CHECKING:
    from dqnlab.training.progress import ProgressMode

DEFAULTS = Config()


class _HelpFormatter(argparse.HelpFormatter):
    """Ends each flag's help with its default, when it has one to show (not None, False or [])."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        shown = default is not None and default is not False and default != [] and default != argparse.SUPPRESS
        if shown and action.option_strings and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """Reports a bad flag in one line, without the usage block; every command's --help shows the defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"dqnlab: error: {message} (see {self.prog} --help)\n")


def _add_env_kwargs_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env-kwargs",
        action="append",
        default=[],
        metavar="K=V",
        help="a keyword argument for the env's constructor, e.g. sticky_action_prob=0.0 (env_kwargs; repeatable)",
    )


def _env_kwargs_assignments(texts: list[str]) -> list[str]:
    """`--env-kwargs K=V` flags as the config assignments `env_kwargs.K=V`, each checked to be K=V."""
    assignments = []
    for text in texts:
        name, equals, _ = text.partition("=")
        if not equals or not name.strip().isidentifier():
            raise DqnlabError(f"--env-kwargs expects NAME=VALUE with NAME a keyword argument, got '{text}'")
        assignments.append(f"env_kwargs.{text.strip()}")
    return assignments


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dqnlab", description="Value-based deep RL: train, evaluate and inspect DQN agents.")
    parser.add_argument("--version", action="version", version=f"dqnlab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train an agent on a Gymnasium env")
    train.add_argument("env_id", nargs="?", help="Gymnasium env id, e.g. CartPole-v1 (not with --resume)")
    _add_config_sources(train)
    _add_env_kwargs_flag(train)
    train.add_argument("--steps", type=int, default=None, help="env steps to train, at most (default: the preset's)")
    train.add_argument("--seed", type=int, default=None, help=f"random seed (default: the config's, {DEFAULTS.seed})")
    train.add_argument(
        "--seeds",
        default=None,
        metavar="SEEDS",
        help="train a population of these seeds together in one process, e.g. 0-9 or 0,3,7: each member "
        "is the run --seed k makes, written to RUN_DIR/seed-k (docs/populations.md)",
    )
    train.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="[NAME:]KEY=V[,KEY=V]",
        help="with --seeds: train the seeds once per --variant, each time with its values, in one population "
        "written to RUN_DIR/NAME/seed-k (a bare NAME: keeps the config as given); the variants may differ only "
        "in scalars such as lr or gamma (repeatable)",
    )
    train.add_argument(
        "--num-envs",
        type=int,
        default=None,
        help=f"parallel envs collecting experience (default: the config's, {DEFAULTS.num_envs})",
    )
    train.add_argument("--device", default=None, help=f"cpu, cuda or auto (default: the config's, {DEFAULTS.device})")
    train.add_argument("--run-dir", default=None, help="where to write the run (default runs/ENV-PRESET-SEED-TIME)")
    train.add_argument(
        "--progress",
        choices=["bar", "log", "off"],
        default=None,
        help="bar, a log line every 10 s, or off (default: a bar on a terminal, else log lines)",
    )
    train.add_argument("--no-progress", action="store_true", help="the same as --progress off")
    train.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="K",
        help="env steps between full checkpoints for --resume (checkpoint.every); 0 = only on stop "
        f"(default: the config's, {DEFAULTS.checkpoint.every})",
    )
    train.add_argument(
        "--resume",
        default=None,
        metavar="RUN_DIR",
        help="continue a stopped run from its newest checkpoint, exactly as if it had not stopped",
    )
    train.add_argument(
        "--actors",
        type=int,
        default=None,
        metavar="N",
        help="Ape-X: N Ray actors collect, one learner learns (distributed.actors; needs dqnlab[distributed]); "
        "turns replay.prioritized on unless the config file or --set sets it",
    )
    train.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="Ray cluster to run the actors on, e.g. auto or HOST:6379 (default: start Ray on this machine)",
    )

    evaluate = commands.add_parser("evaluate", help="evaluate a trained agent")
    evaluate.add_argument(
        "run",
        help="a run directory (its best checkpoint, else its last, else its newest state-<step> snapshot), "
        "a checkpoint file, or a snapshot folder",
    )
    evaluate.add_argument("--episodes", type=int, default=10, help="episodes to run")
    evaluate.add_argument("--epsilon", type=float, default=None, help="exploration while evaluating")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the evaluation envs")
    evaluate.add_argument("--video", default=None, help="record one episode to FILE.mp4 or FILE.gif")
    _add_env_kwargs_flag(evaluate)

    env_info = commands.add_parser("env-info", help="show an env's spaces and the size of a Q-table for it")
    env_info.add_argument("env_id", help="Gymnasium env id")

    commands.add_parser("presets", help="list the presets")
    _add_config_command(commands)

    plot = commands.add_parser("plot", help="redraw a run's diagnostics.png from its CSV files")
    plot.add_argument("run_dir", help="a run directory")

    experiment = commands.add_parser("experiment", help="train variants x seeds in parallel and report on them")
    experiment.add_argument("env_id", nargs="?", help="Gymnasium env id, e.g. CartPole-v1 (not with --resume)")
    experiment.add_argument("--preset", default=None, help="named config every run starts from (default: dqn)")
    experiment.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="values of one config key to compare; several --vary are crossed (repeatable)",
    )
    experiment.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="[NAME:]KEY=V[,KEY=V]",
        help="one variant setting keys together, e.g. no-replay:replay.capacity=1,"
        "learning.batch_size=1; NAME: alone = the preset as it is (repeatable)",
    )
    experiment.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config value for every run (repeatable)",
    )
    experiment.add_argument("--config", default=None, help="TOML file of config values for every run")
    _add_env_kwargs_flag(experiment)
    experiment.add_argument("--seeds", type=int, default=None, help="seeds per variant: 0 .. N-1 (default: 5)")
    experiment.add_argument(
        "--steps",
        type=int,
        default=None,
        help="env steps per run, all run: no stop at the target (default: the preset's)",
    )
    experiment.add_argument("--workers", type=int, default=None, help="runs at a time (default: CPU cores)")
    experiment.add_argument(
        "--separate-seeds",
        action="store_true",
        help="train each seed as a process of its own (default: each variant's seeds as one population)",
    )
    experiment.add_argument(
        "--merge-variants",
        action="store_true",
        help="train variants that differ only in scalars (lr, gamma, epsilon, target interval, ...) as one "
        "population: fewer, larger populations (docs/populations.md)",
    )
    experiment.add_argument(
        "--threshold", type=float, default=None, help="return for steps-to-threshold (default: the env's target return)"
    )
    experiment.add_argument("--out", default=None, help="output directory (default experiments/ENV-TIME)")
    experiment.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="run each run as a Ray task on this cluster (auto, HOST:6379, or local); needs dqnlab[distributed]",
    )
    experiment.add_argument(
        "--ray", dest="ray_address", action="store_const", const="local", help="same as --ray-address local"
    )
    experiment.add_argument("--device", default=None, help="cpu, cuda or auto, for every run")
    experiment.add_argument(
        "--resume",
        default=None,
        metavar="OUT",
        help="finish an interrupted experiment: unfinished runs go on from their checkpoints, then the report",
    )

    compare = commands.add_parser("compare", help="report on existing runs, grouped by their config differences")
    compare.add_argument("run_dirs", nargs="+", help="run directories")
    compare.add_argument("--out", required=True, help="directory for the report (refused if it holds files)")
    compare.add_argument("--overwrite", action="store_true", help="write the report into an --out that holds files")
    compare.add_argument(
        "--threshold", type=float, default=None, help="return for steps-to-threshold (default: the runs' target return)"
    )
    return parser


def _add_config_command(commands: Any) -> None:
    config = commands.add_parser("config", help="show every config key with its value, default and doc")
    config.add_argument("env_id", nargs="?", default=None, help="Gymnasium env id (default: the config's)")
    _add_config_sources(config)


def _add_config_sources(parser: Any) -> None:
    """--preset, --config and --set: where `train` and `config` take their values from, in that order."""
    parser.add_argument(
        "--preset",
        default=None,
        help="named config to start from (see `dqnlab presets`; default: the file's, else dqn)",
    )
    parser.add_argument("--config", default=None, help="TOML file of config values, applied after the preset")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set learning.lr=5e-4 (repeatable)",
    )


def _config(args: argparse.Namespace) -> int:
    """`dqnlab config`: the config `train` would run with these values, key by key."""
    from dqnlab.config import exploration_schedule
    from dqnlab.config_docs import console_table

    config = _resolve_config(args)
    print("* = differs from the default; set a key with --set KEY=VALUE or in a --config TOML file\n")
    print(console_table(config))
    if config.exploration.schedule == "auto":
        print(f"\nexploration.schedule auto stands for {exploration_schedule(config)} here")
    return 0


def _resolve_config(args: argparse.Namespace, variant: Sequence[str] = ()) -> Any:
    """The config `train` (or `config`) runs with: defaults, the preset, the config file, --set (then
    a population variant's assignments), then the flags."""
    from dqnlab.config import apply_overrides, load_toml, parse_assignments
    from dqnlab.presets import preset_config

    given = vars(args)  # `config` takes only env_id, --preset, --config and --set of train's flags
    file_values = load_toml(args.config) if args.config else {}
    env_kwargs = _env_kwargs_assignments(given.get("env_kwargs") or [])
    overrides = parse_assignments([*args.overrides, *env_kwargs, *variant])
    preset = args.preset or file_values.get("preset", "dqn")
    config = preset_config(preset, args.env_id)
    if given.get("actors"):
        config = _apex_replay(config, file_values, overrides)
    config = apply_overrides(config, {**file_values, "preset": preset})
    if args.env_id is not None:
        config = apply_overrides(config, {"env_id": args.env_id})
    config = apply_overrides(config, overrides)
    flags = {key: given.get(key) for key in ("steps", "seed", "num_envs", "device")}
    config = apply_overrides(config, {key: value for key, value in flags.items() if value is not None})
    if given.get("checkpoint_every") is not None:
        config = apply_overrides(config, {"checkpoint": {"every": given["checkpoint_every"]}})
    if given.get("actors") is not None:
        config = apply_overrides(config, {"distributed": {"actors": given["actors"]}})
    return config


def _apex_replay(config: Any, file_values: dict[str, Any], overrides: dict[str, Any]) -> Any:
    """Ape-X replays by priority: `--actors` turns replay.prioritized on, unless the config file or --set
    sets it, and says so in one line (config.toml then holds it)."""
    from dqnlab.config import apply_overrides

    chosen = any("prioritized" in values.get("replay", {}) for values in (file_values, overrides))
    if chosen or config.replay.prioritized:
        return config
    print("--actors: replay.prioritized = true, as in Ape-X (--set replay.prioritized=false to keep uniform replay)")
    return apply_overrides(config, {"replay": {"prioritized": True}})


NATURE_CNN_MIN_SIDE = 36  # the smallest frame side the Nature CNN's convolutions (8/4, 4/2, 3/1) accept


def _check_can_start(config: Any, spaces: Any) -> None:
    """Refuses, before anything is written, a config that cannot start on this env or machine:
    the Nature CNN on observations that are not stacked frames, or a device that is not there."""
    shape = tuple(spaces.observation_space.shape)
    if config.network.q_function == "cnn" and (len(shape) != 3 or min(shape[1:]) < NATURE_CNN_MIN_SIDE):
        raise DqnlabError(
            f"network.q_function=cnn (the Nature CNN of the atari-* presets) needs stacked frames [C, H, W] of at "
            f"least {NATURE_CNN_MIN_SIDE}x{NATURE_CNN_MIN_SIDE}, as ALE games give; {config.env_id} observes shape "
            f"{shape}: use network.q_function=mlp (e.g. --preset dqn)"
        )
    from dqnlab.agent import resolve_device  # imports torch: only once the cheap checks pass

    resolve_device(config.device)


def _check_experiment_can_start(args: argparse.Namespace) -> None:
    """`experiment`'s env id and preset, checked once here rather than failing in every run."""
    from dqnlab.envs.factory import env_spaces
    from dqnlab.presets import preset_config

    config = preset_config(args.preset or "dqn", args.env_id)
    _check_can_start(config, env_spaces(args.env_id, config.atari))


def _default_run_dir(config: Any, seeds: str | None = None) -> Path:
    """runs/ENV-PRESET-SEED-TIME, or runs/ENV-PRESET-seeds-SEEDS-TIME for a population; a run started
    in the same second as another gets -2, -3, ... rather than that run's directory."""
    env_name = config.env_id.replace("/", "_")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    seed = config.seed if seeds is None else "seeds-" + seeds.replace(",", "_")
    run_dir = Path("runs") / f"{env_name}-{config.preset}-{seed}-{stamp}"
    suffix = 2
    while run_dir.exists():
        run_dir = run_dir.with_name(f"{env_name}-{config.preset}-{seed}-{stamp}-{suffix}")
        suffix += 1
    return run_dir


@contextmanager
def _run_io_errors(run_dir: Path) -> Iterator[None]:
    """A file the run cannot write (a full disk, lost permissions) stops it in one line, with how to go on."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise DqnlabError(
            f"{exc.strerror or exc}{where}; training stopped; once fixed, resume from the last "
            f"checkpoint: dqnlab train --resume {run_dir}"
        ) from None


def _progress(args: argparse.Namespace) -> ProgressMode:
    """--progress, or off with --no-progress; by default a bar on a terminal, else log lines."""
    from dqnlab.training.progress import default_progress

    if args.no_progress:
        return "off"
    return args.progress or default_progress()


def _resume(args: argparse.Namespace) -> int:
    """`train --resume RUN_DIR [--steps N] [--device D]`: the run's own config, to `N` env steps in all
    when given (also for a finished run that kept its state); flags that would change what it learns are refused."""
    changing = {
        "env_id": args.env_id,
        "--preset": args.preset,
        "--config": args.config,
        "--set": args.overrides,
        "--env-kwargs": args.env_kwargs,
        "--seed": args.seed,
        "--num-envs": args.num_envs,
        "--run-dir": args.run_dir,
        "--checkpoint-every": args.checkpoint_every,
        "--actors": args.actors,
        "--seeds": args.seeds,
        "--variant": args.variant,
    }
    given = [name for name, value in changing.items() if value not in (None, [])]
    if given:
        raise DqnlabError(f"--resume continues a run with its own config; drop {', '.join(given)}")
    if args.steps is not None and args.steps < 1:
        raise DqnlabError(f"--steps must be >= 1, got {args.steps}")
    from dqnlab.population.run import is_population, resume_population

    if is_population(args.resume):
        if args.steps is not None or args.device is not None:
            raise DqnlabError("--resume of a population continues it as it was planned; drop --steps and --device")
        print(f"population directory: {args.resume}")
        with _run_io_errors(Path(args.resume)):
            summary = resume_population(args.resume, progress=_progress(args))
        print(json.dumps(summary, indent=2))
        return 0
    from dqnlab.training.resume import resume_training

    print(f"run directory: {args.resume}")
    with _run_io_errors(Path(args.resume)):
        summary = resume_training(
            args.resume, _progress(args), args.ray_address, total_steps=args.steps, device=args.device
        )
    print(json.dumps(summary, indent=2))
    return 0


def _train(args: argparse.Namespace) -> int:
    from dqnlab.envs.factory import env_spaces

    if args.seeds is not None and args.resume is None:
        return _train_population(args)
    if args.variant and args.resume is None:
        raise DqnlabError("--variant adds members to a population; give the seeds too, e.g. --seeds 0-4")
    if args.actors:
        from dqnlab.distributed import require_ray

        require_ray()  # before anything else: without Ray, one line and exit 2
    if args.resume is not None:
        return _resume(args)
    if args.env_id is None:
        raise DqnlabError("train needs an env id, e.g. dqnlab train CartPole-v1 (or --resume RUN_DIR)")
    config = _resolve_config(args)
    if args.ray_address is not None and config.distributed.actors == 0:
        raise DqnlabError("--ray-address runs Ape-X actors on a Ray cluster; add --actors N")
    spaces = env_spaces(config.env_id, config.atari, config.env_kwargs)
    _check_can_start(config, spaces)
    run_dir = Path(args.run_dir) if args.run_dir else _default_run_dir(config)
    _check_run_dir(run_dir)
    from dqnlab.agent import Agent

    agent = Agent(config, spaces)  # before the run directory exists: a start that fails leaves nothing behind
    _make_run_dir(run_dir)
    print(f"Q-function: {agent.describe_q_function()}")
    print(f"run directory: {run_dir}", flush=True)
    with _run_io_errors(run_dir):
        summary = agent.learn(run_dir=run_dir, progress=_progress(args), ray_address=args.ray_address)
    print(json.dumps(summary, indent=2))
    return 0


def _check_run_dir(run_dir: Path) -> None:
    """Refuses a run directory that is a file or holds files."""
    if run_dir.exists() and not run_dir.is_dir():
        raise DqnlabError(f"--run-dir {run_dir} is a file, not a directory")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise DqnlabError(f"run directory {run_dir} already holds files; choose another --run-dir")


def _make_run_dir(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DqnlabError(f"cannot create run directory {run_dir}: {exc.strerror or exc}") from None


def _train_population(args: argparse.Namespace) -> int:
    """`train ENV --seeds 0-9`: the seeds as one population, each member the run `--seed k` makes."""
    from dqnlab.envs.factory import env_spaces
    from dqnlab.population.run import check_shareable, member_directory, parse_seeds

    if args.env_id is None:
        raise DqnlabError("train needs an env id, e.g. dqnlab train CartPole-v1 --seeds 0-9")
    if args.seed is not None:
        raise DqnlabError("--seeds trains a population; drop --seed")
    if args.actors:
        raise DqnlabError("--seeds trains a population in this process; it cannot go with --actors (Ape-X)")
    if args.ray_address is not None:
        raise DqnlabError("--seeds trains a population in this process; drop --ray-address")
    seeds = parse_seeds(args.seeds)
    base = _resolve_config(args)
    configs = [base.replace(seed=seed) for seed in seeds]
    names = [member_directory(config) for config in configs]
    if args.variant:
        configs, names = _variant_members(args, seeds)
    check_shareable(configs)
    spaces = env_spaces(base.env_id, base.atari, base.env_kwargs)
    _check_can_start(base, spaces)
    population_dir = Path(args.run_dir) if args.run_dir else _default_run_dir(base, args.seeds)
    _check_run_dir(population_dir)
    _make_run_dir(population_dir)
    from dqnlab.population.run import train_population  # torch is imported only once the input is known to be good

    print(f"population directory: {population_dir}", flush=True)
    with _run_io_errors(population_dir):
        summary = train_population(configs, population_dir, progress=_progress(args), names=names, spaces=spaces)
    print(json.dumps(summary, indent=2))
    return 0


def _variant_members(args: argparse.Namespace, seeds: list[int]) -> tuple[list[Any], list[str]]:
    """`--seeds S --variant A:... --variant B:...`: every variant's config for every seed, named
    A/seed-k, B/seed-k, as `dqnlab experiment` lays out its runs."""
    from dqnlab.experiments.plan import build_variants

    configs, names = [], []
    for variant in build_variants([], args.variant):
        try:
            config = _resolve_config(args, variant.assignments)
        except ConfigError as exc:
            raise ConfigError(f"variant '{variant.label}': {exc}") from None
        configs += [config.replace(seed=seed) for seed in seeds]
        names += [f"{variant.slug}/seed-{seed}" for seed in seeds]
    if len(set(names)) < len(names):
        raise ConfigError("--variant: two variants have the same name")
    return configs, names


def _evaluate(args: argparse.Namespace) -> int:
    from dqnlab.agent import Agent
    from dqnlab.config import apply_overrides, parse_assignments
    from dqnlab.envs.factory import env_spaces
    from dqnlab.training.evaluation import evaluate
    from dqnlab.training.weights import resolve_checkpoint

    if args.episodes < 1:
        raise DqnlabError("--episodes must be >= 1")
    if args.epsilon is not None and not 0.0 <= args.epsilon <= 1.0:
        raise DqnlabError("--epsilon must be in [0, 1]")
    if args.video:
        from dqnlab.diagnostics.video import check_video_path

        check_video_path(args.video)  # before the episodes are played
    checkpoint = resolve_checkpoint(args.run)
    agent = Agent.load(checkpoint)
    if args.env_kwargs:  # over the run's own env_kwargs, for this evaluation (and its video) only
        agent.config = apply_overrides(agent.config, parse_assignments(_env_kwargs_assignments(args.env_kwargs)))
        env_spaces(agent.config.env_id, agent.config.atari, agent.config.env_kwargs)  # a bad one: one line now
    config = agent.config
    epsilon = config.evaluation.epsilon if args.epsilon is None else args.epsilon
    returns = evaluate(
        agent.act_batch, config.env_id, args.episodes, epsilon, args.seed, config.atari, config.env_kwargs
    )
    print(
        f"{agent.config.env_id} ({checkpoint}): return {returns.mean():.2f} ± {returns.std():.2f} "
        f"over {args.episodes} episode{'s' if args.episodes != 1 else ''} (epsilon {epsilon})"
    )
    if args.video:
        from dqnlab.diagnostics.video import record_episode

        episode_return = record_episode(agent, args.video, epsilon, args.seed)
        print(f"video of one episode (return {episode_return:.2f}): {args.video}")
    return 0


def _env_info(args: argparse.Namespace) -> int:
    from dqnlab.envs.factory import make_env
    from dqnlab.envs.info import describe_env

    env = make_env(args.env_id)
    try:
        print(describe_env(args.env_id, env))
    finally:
        env.close()
    return 0


def _presets(_: argparse.Namespace) -> int:
    from dqnlab.presets import PRESETS

    width = max(len(name) for name in PRESETS)
    for name, preset in PRESETS.items():
        print(f"{name:<{width}}  {preset.description}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from dqnlab.diagnostics.figure import plot_diagnostics

    print(plot_diagnostics(args.run_dir))
    return 0


def _experiment(args: argparse.Namespace) -> int:
    from dqnlab.experiments.run import resume_experiment, run_experiment

    if args.resume is not None:
        planned = {
            "env_id": args.env_id,
            "--preset": args.preset,
            "--seeds": args.seeds,
            "--vary": args.vary,
            "--variant": args.variant,
            "--set": args.overrides,
            "--config": args.config,
            "--steps": args.steps,
            "--out": args.out,
            "--ray-address": args.ray_address,
            "--device": args.device,
            "--separate-seeds": args.separate_seeds or None,
            "--merge-variants": args.merge_variants or None,
        }
        given = [name for name, value in planned.items() if value not in (None, [])]
        if given:
            raise DqnlabError(f"--resume finishes an experiment as it was planned; drop {', '.join(given)}")
        resume_experiment(args.resume, workers=args.workers, threshold=args.threshold)
        return 0
    if args.env_id is None:
        raise DqnlabError("experiment needs an env id, e.g. dqnlab experiment CartPole-v1 (or --resume OUT)")
    _check_experiment_can_start(args)
    out = args.out or Path("experiments") / f"{args.env_id.replace('/', '_')}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_experiment(
        args.env_id,
        args.preset or "dqn",
        args.vary,
        args.variant,
        5 if args.seeds is None else args.seeds,
        out,
        steps=args.steps,
        workers=args.workers,
        common=[*args.overrides, *_env_kwargs_assignments(args.env_kwargs)],
        config_file=args.config,
        threshold=args.threshold,
        ray_address=args.ray_address,
        population=not args.separate_seeds,
        merge_variants=args.merge_variants,
        device=args.device,
    )
    return 0


def _compare(args: argparse.Namespace) -> int:
    from dqnlab.diagnostics.report import (
        build_report,
        describe_variants,
        format_console_summary,
        group_by_config,
        keep_one_per_seed,
    )

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise DqnlabError(f"--out {out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise DqnlabError(f"{out} already holds files; choose another --out, or add --overwrite")
    groups = group_by_config(args.run_dirs)
    groups, repeats = keep_one_per_seed(groups)
    for note in repeats:
        print(f"dqnlab: warning: {note}", file=sys.stderr)
    context = ["dqnlab compare " + " ".join(args.run_dirs)]
    context += [f"{label}: {text}" for label, text in describe_variants(groups).items() if text != label] + repeats
    report = build_report(groups, out, threshold=args.threshold, context=context)
    print(format_console_summary(out))
    print(f"report: {report} (and report.md)")
    return 0


COMMANDS = {
    "train": _train,
    "evaluate": _evaluate,
    "env-info": _env_info,
    "presets": _presets,
    "config": _config,
    "plot": _plot,
    "experiment": _experiment,
    "compare": _compare,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except TrainingInterrupted as exc:
        print(f"dqnlab: stopped: {exc}", file=sys.stderr)
        return exc.exit_code
    except DqnlabError as exc:
        print(f"dqnlab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dqnlab: interrupted", file=sys.stderr)
        return 130
    except MemoryError as exc:  # a replay memory or network larger than this machine holds
        print(
            f"dqnlab: error: out of memory{': ' + str(exc) if str(exc) else ''}; "
            "reduce replay.capacity, the network or --num-envs",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
