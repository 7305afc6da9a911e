"""Seed populations: P members trained together in one process, by the one training loop.

    dqnlab train CartPole-v1 --seeds 0-9

Member k is the run `dqnlab train --seed k` would make (same env seeds, epsilon coins, noise and
replay indices), written to its own complete run directory under the population's directory; the
population adds population.json (its members) and, at the end, population_summary.json.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dqnlab.agent import Agent
from dqnlab.config import Config, NetworkConfig, config_from_dict
from dqnlab.diagnostics.figure import DrawBudget
from dqnlab.diagnostics.statistics import iqm, stratified_bootstrap_ci
from dqnlab.envs import EnvSpaces, env_spaces
from dqnlab.errors import CheckpointError, ConfigError
from dqnlab.population.collector import PopulationCollector
from dqnlab.population.learner import PopulationLearner
from dqnlab.replay import build_replay
from dqnlab.training.collectors import LocalCollector
from dqnlab.training.lane import Lane
from dqnlab.training.loop import TrainingLoop
from dqnlab.training.progress import ProgressMode

MANIFEST = "population.json"
SUMMARY = "population_summary.json"

NETWORK_SCALARS = ("noisy_sigma0",)  # only the initial noise scale may differ between members

# What members of one population must share: what shapes their stacked tensors, their replay
# ratio (they step in lockstep), and what picks the objective. Scalars (lr, gamma, epsilon values,
# target interval, tau, grad clip, PER alpha and beta, ...) may differ.
SHARED = (
    "env_id",
    "env_kwargs",
    "num_envs",
    "device",
    *(f"network.{field.name}" for field in dataclasses.fields(NetworkConfig) if field.name not in NETWORK_SCALARS),
    "learning.batch_size",
    "learning.learning_starts",
    "learning.train_freq",
    "learning.gradient_steps",
    "learning.double",
    "learning.loss",
    "learning.optimizer",
    "replay.n_step",
    "atari",
    "distributed",
)


def parse_seeds(text: str) -> list[int]:
    """`0-9` -> 0..9; `0,3,7` -> [0, 3, 7]; both mixed (`0-2,7`). Duplicates and empty lists are errors."""
    seeds: list[int] = []
    for part in (part.strip() for part in text.split(",")):
        single, span = re.fullmatch(r"\d+", part), re.fullmatch(r"(\d+)-(\d+)", part)
        if single:
            seeds.append(int(part))
        elif span and int(span[1]) <= int(span[2]):
            seeds.extend(range(int(span[1]), int(span[2]) + 1))
        elif part:
            raise ConfigError(f"--seeds {text}: '{part}' is not a seed or a range of seeds like 0-9")
    if not seeds:
        raise ConfigError(f"--seeds {text!r} names no seed; give e.g. 0-9 or 0,3,7")
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise ConfigError(f"--seeds {text}: seed {', '.join(map(str, repeated))} given twice")
    return seeds


def _value(config: Config, key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def check_shareable(configs: list[Config]) -> None:
    """Raises ConfigError naming the first setting the members do not share, or an unsupported one."""
    first = configs[0]
    for key in SHARED:
        values = {repr(_value(config, key)) for config in configs}
        if len(values) > 1:
            raise ConfigError(f"the members of a population must share {key}; they have {', '.join(sorted(values))}")
    if first.distributed.actors > 0:
        raise ConfigError("a seed population collects locally; --seeds cannot go with --actors")


def member_directory(config: Config) -> str:
    """A member's run directory under the population's: seed-K, as `dqnlab experiment` names seeds."""
    return f"seed-{config.seed}"


def build_population_loop(
    configs: list[Config],
    directory: Path | None,
    progress: bool | ProgressMode,
    names: list[str] | None = None,
    resume: list[tuple[dict[str, Any], dict[str, Any]]] | None = None,
    spaces: EnvSpaces | None = None,
) -> TrainingLoop:
    """The training loop of a population of `configs` (one member each), writing member k to
    `directory / names[k]` when a directory is given; `resume` holds each member's checkpoint."""
    check_shareable(configs)
    spaces = spaces or env_spaces(configs[0].env_id, configs[0].atari)
    names = names or [member_directory(config) for config in configs]
    if directory is not None and len(set(names)) < len(names):
        raise ConfigError(f"population members need distinct directory names; got {', '.join(names)}")
    agents = []
    for config in configs:
        agent = Agent(config, spaces)  # seeds torch's global generator with the member's seed
        agent.training_noise = torch.Generator().manual_seed(0)
        agent.training_noise.set_state(torch.get_rng_state())  # the numbers a single run would draw next
        agents.append(agent)
    learner = PopulationLearner([agent.learner for agent in agents], [agent.training_noise for agent in agents])
    lanes, members = [], []
    draw_budget = DrawBudget()  # the members' figures share a tenth of the wall time, not a tenth each
    for index, agent in enumerate(agents):
        steps = agent.config.steps if resume is None else int(resume[index][0]["loop"]["steps"])
        replay = build_replay(agent.config, spaces.observation_space, agent.replay_rng, beta_steps=steps)
        members.append(LocalCollector(agent, replay, lane=index))
        run_dir = None if directory is None else directory / names[index]
        lanes.append(Lane(agent, steps, run_dir, members[-1], resume=None if resume is None else resume[index]))
        lanes[-1].name = names[index]
        lanes[-1].draw_budget = draw_budget
    collector = PopulationCollector(members, learner)
    return TrainingLoop.of_lanes(lanes, collector, learner.update, progress, directory)


def train_population(
    configs: list[Config],
    directory: Path | None,
    progress: bool | ProgressMode = False,
    names: list[str] | None = None,
    spaces: EnvSpaces | None = None,
) -> dict[str, Any]:
    """Trains the members of `configs` together; returns the population summary (also written to
    `directory`/population_summary.json, with each member's run directory beside it)."""
    names = names or [member_directory(config) for config in configs]
    loop = build_population_loop(configs, directory, progress, names, spaces=spaces)
    if directory is not None:
        manifest = {"members": names, "seeds": [config.seed for config in configs]}
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return _run(loop, directory, names)


def _run(loop: TrainingLoop, directory: Path | None, names: list[str]) -> dict[str, Any]:
    """Runs the loop and writes the population summary of the members `names`."""
    loop.run()
    summaries = loop.summaries
    if directory is not None:  # members that finished before a resume are read back from their directories
        summaries = [json.loads((directory / name / "summary.json").read_text()) for name in names]
    summary = population_summary(summaries, names, directory)
    if directory is not None:
        (directory / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def is_population(directory: str | Path) -> bool:
    """Whether `directory` is a population's (it has population.json), for `--resume`."""
    return (Path(directory) / MANIFEST).is_file()


def resume_population(directory: str | Path, progress: bool | ProgressMode = False) -> dict[str, Any]:
    """Continues a stopped population from its members' newest checkpoints, which must all be of
    one env step (a population checkpoints all its members together); finished members stay finished."""
    from dqnlab.training.resume import load_resume_state

    directory = Path(directory)
    if (directory / SUMMARY).is_file():
        raise CheckpointError(f"{directory} has finished (it has {SUMMARY}); there is nothing to resume")
    try:
        names = list(json.loads((directory / MANIFEST).read_text())["members"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{directory / MANIFEST} is not a population manifest ({exc})") from None
    running = [name for name in names if not (directory / name / "summary.json").is_file()]
    states, configs = [], []
    for name in running:
        tree, tensors, folder = load_resume_state(directory / name)
        try:
            configs.append(config_from_dict(tree["config"]))
        except (ConfigError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{folder}: its config is invalid: {exc}") from None
        states.append((tree, tensors))
    steps = {tree["counters"]["env_steps"] for tree, _ in states}
    if len(steps) > 1:
        raise CheckpointError(
            f"the members of {directory} were checkpointed at different env steps ({sorted(steps)}); "
            "resume them one by one with dqnlab train --resume MEMBER_DIR"
        )
    if not running:
        return _run_finished(directory, names)
    loop = build_population_loop(configs, directory, progress, running, resume=states)
    return _run(loop, directory, names)


def _run_finished(directory: Path, names: list[str]) -> dict[str, Any]:
    summaries = [json.loads((directory / name / "summary.json").read_text()) for name in names]
    summary = population_summary(summaries, names, directory)
    (directory / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _final_eval(run_dir: Path) -> float | None:
    """The mean return of a run's last evaluation, from its eval.csv."""
    path = run_dir / "eval.csv"
    if not path.is_file():
        return None
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return float(rows[-1]["mean_return"]) if rows else None


def _aggregate(values: list[float]) -> dict[str, Any] | None:
    """IQM and its 95% stratified-bootstrap interval over the members (Agarwal et al. 2021)."""
    if not values:
        return None
    scores = np.array(values, dtype=float)
    low, high = stratified_bootstrap_ci(scores, iqm)
    return {"iqm": round(iqm(scores), 4), "ci95": [round(low, 4), round(high, 4)], "members": len(values)}


def population_summary(summaries: list[dict[str, Any]], names: list[str], directory: Path | None) -> dict[str, Any]:
    """Per member: solved step, best and final evaluation; over members: their IQM with a 95%
    bootstrap interval (the solved step over the members that solved), wall time (the longest
    member's, resumes included: they trained together) and env steps/s."""
    members = []
    for name, summary in zip(names, summaries, strict=True):
        final = _final_eval(directory / name) if directory is not None else None
        members.append(
            {
                "member": name,
                "seed": summary["seed"],
                "steps": summary["steps"],
                "solved_at_step": summary["solved_at_step"],
                "best_eval_return": summary["best_eval_return"],
                "final_eval_return": final,
            }
        )
    env_steps = sum(summary["steps"] for summary in summaries)
    wall_s = max(summary["wall_s"] for summary in summaries)
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for member in members:  # members named VARIANT/seed-K (`--seeds --variant`) are aggregated per variant too
        variant, slash, _ = member["member"].rpartition("/")
        if slash:
            by_variant.setdefault(variant, []).append(member)
    return {
        "env": summaries[0]["env"],
        "preset": summaries[0]["preset"],
        "members": members,
        **_scores(members),
        **({"variants": {name: _scores(group) for name, group in by_variant.items()}} if by_variant else {}),
        "wall_s": round(wall_s, 3),
        "env_steps": env_steps,
        "env_steps_per_s": round(env_steps / wall_s, 1) if wall_s > 0 else None,
    }


def _scores(members: list[dict[str, Any]]) -> dict[str, Any]:
    """How many members solved, and the IQM with its interval of their solved step, best and final return."""

    def present(key: str) -> list[float]:
        return [member[key] for member in members if member[key] is not None]

    return {
        "solved": f"{len(present('solved_at_step'))}/{len(members)}",
        "solved_at_step": _aggregate(present("solved_at_step")),
        "best_eval_return": _aggregate(present("best_eval_return")),
        "final_eval_return": _aggregate(present("final_eval_return")),
    }
