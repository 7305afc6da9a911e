"""An experiment's plan: variants parsed from `--vary` and `--variant`, and one `dqnlab train` command per
variant and seed. Pure, so that it can be checked before any run starts."""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dqnlab.config import Config, apply_overrides, parse_assignments
from dqnlab.errors import ConfigError


@dataclass(frozen=True)
class Variant:
    label: str  # e.g. "learning.double=false replay.capacity=1000"
    assignments: tuple[str, ...]  # KEY=VALUE strings, passed to `train` as --set

    @property
    def slug(self) -> str:
        """The label as a directory name."""
        return re.sub(r"[^A-Za-z0-9._=+-]+", "_", self.label.replace(" ", "__")) or "base"


@dataclass(frozen=True)
class RunSpec:
    variant: Variant
    seed: int
    run_dir: Path
    log_path: Path
    command: tuple[str, ...]  # the `dqnlab train` process that starts the run
    population: tuple[int, ...] = ()  # the seeds, when the command trains them as one population
    merged: tuple[Variant, ...] = ()  # the variants whose seeds share that population, when several do

    @property
    def resume_command(self) -> tuple[str, ...]:
        """The process that finishes the run (or population) from its newest checkpoint."""
        return (sys.executable, "-m", "dqnlab.cli", "train", "--resume", str(self.run_dir), "--no-progress")

    @property
    def labelled_run_dirs(self) -> list[tuple[str, Path]]:
        """(variant label, run directory) of each run it writes: its own, its members' (`dqnlab train
        --seeds`), or, when variants are merged, each variant's members (`--seeds --variant`)."""
        if self.merged:
            return [
                (variant.label, self.run_dir / member_name(variant) / f"seed-{seed}")
                for variant in self.merged
                for seed in self.population
            ]
        if self.population:
            return [(self.variant.label, self.run_dir / f"seed-{seed}") for seed in self.population]
        return [(self.variant.label, self.run_dir)]

    @property
    def run_dirs(self) -> list[Path]:
        return [run_dir for _, run_dir in self.labelled_run_dirs]

    @property
    def label(self) -> str:
        """What the progress lines call it: the variant(s) and the seed(s)."""
        variants = " + ".join(variant.label for variant in self.merged) if self.merged else self.variant.label
        seeds = f"seeds {self.population[0]}-{self.population[-1]}" if self.population else f"seed {self.seed}"
        return f"{variants} {seeds}"


def member_name(variant: Variant) -> str:
    """A merged variant's directory in its population, also its `--variant NAME:` (a name has no '=')."""
    return variant.slug.replace("=", "-")


def split_top_level(text: str) -> list[str]:
    """Splits at commas outside brackets, so `network.hidden_sizes=[64,64],[128,128]` keeps its lists."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts]


def parse_vary(text: str) -> tuple[str, list[str]]:
    """`KEY=V1,V2,...` -> (KEY, [V1, V2, ...]), or a ConfigError saying what is wrong."""
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key):
        raise ConfigError(f"--vary expects KEY=V1,V2,..., e.g. learning.double=false,true; got '{text}'")
    items = split_top_level(values)
    if any(not item for item in items):
        raise ConfigError(f"--vary {key}: empty value in '{values}'")
    if len(set(items)) != len(items):
        raise ConfigError(f"--vary {key}: a value is repeated in '{values}'")
    return key, items


def parse_variant(text: str) -> tuple[str | None, list[str]]:
    """`[NAME:]KEY=V,KEY=V` -> (NAME or None, ["KEY=V", "KEY=V"]): one variant setting keys together.

    `NAME:` alone is the preset unchanged, under that name (e.g. `rainbow:` for the full agent of
    an ablation).
    """
    name, colon, rest = text.partition(":")
    if not colon or "=" in name:  # no name: the whole text is assignments
        name, rest = "", text
    elif not name.strip():
        raise ConfigError(f"--variant NAME: needs a name before ':', got '{text}'")
    name = name.strip()
    items = split_top_level(rest) if rest.strip() else []
    if (not items and not name) or any("=" not in item or not item.partition("=")[0].strip() for item in items):
        raise ConfigError(f"--variant expects [NAME:]KEY=VALUE[,KEY=VALUE...], got '{text}'")
    return name or None, items


def build_variants(vary: Sequence[str], variants: Sequence[str]) -> list[Variant]:
    """The variants: each `--variant` (or none) crossed with every combination of the `--vary` values."""
    axes = [parse_vary(text) for text in vary]
    keys = [key for key, _ in axes]
    if len(set(keys)) != len(keys):
        raise ConfigError("--vary names the same key twice; list all its values in one --vary")
    groups = [parse_variant(text) for text in variants] or [(None, [])]
    result = []
    for name, group in groups:
        for values in itertools.product(*(values for _, values in axes)):
            crossed = tuple(f"{key}={value}" for key, value in zip(keys, values, strict=True))
            assignments = tuple(group) + crossed
            parts = [name] if name else [assignment.replace(" ", "") for assignment in group]
            label = " ".join(parts + [assignment.replace(" ", "") for assignment in crossed]) or "base"
            result.append(Variant(label, assignments))
    labels = [variant.label for variant in result]
    if len(set(labels)) != len(labels):
        raise ConfigError("two variants are the same; check --vary and --variant")
    return result


def check_variants(base: Config, common: Sequence[str], variants: Sequence[Variant]) -> Config:
    """Applies the common and each variant's assignments to `base`, as `train` will, so that a bad
    key or value fails now, in one line, rather than in N processes. Returns base + common."""
    try:
        with_common = apply_overrides(base, parse_assignments(list(common)))
    except ConfigError as exc:
        raise ConfigError(f"--set: {exc}") from None
    for variant in variants:
        try:
            apply_overrides(base, parse_assignments([*common, *variant.assignments]))
        except ConfigError as exc:
            raise ConfigError(f"variant '{variant.label}': {exc}") from None
    return with_common


def merge_shareable(base: Config, common: Sequence[str], variants: Sequence[Variant]) -> list[list[str]]:
    """Groups of two or more variant labels whose runs may train as one population: they differ only
    in scalars (population/run.py SHARED), in the order given; each variant joins the first group it
    can share with."""
    from dqnlab.population.run import check_shareable

    groups: list[tuple[list[str], Config]] = []
    for variant in variants:
        config = apply_overrides(base, parse_assignments([*common, *variant.assignments]))
        for labels, first in groups:
            try:
                check_shareable([first, config])
            except ConfigError:
                continue
            labels.append(variant.label)
            break
        else:
            groups.append(([variant.label], config))
    names = [member_name(variant) for variant in variants]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"variants {', '.join(repeated)} would share a directory name; rename one to merge them")
    return [labels for labels, _ in groups if len(labels) > 1]


def plan_runs(
    env_id: str,
    preset: str,
    variants: Sequence[Variant],
    seeds: Sequence[int],
    out_dir: Path,
    steps: int | None,
    common: Sequence[str],
    config_file: str | None = None,
    device: str | None = None,
    population: bool = False,
    merged: Sequence[Sequence[str]] = (),
) -> list[RunSpec]:
    """One `dqnlab train` command per variant and seed, or with `population` per variant, its seeds
    as one population whose members write the run directories the separate runs would
    (runs/VARIANT/seed-K; docs/populations.md); `common` assignments go before the variant's.
    `merged` lists groups of variant labels whose seeds train together, as one population in
    runs/merged-I (members runs/merged-I/VARIANT/seed-K)."""
    head = [sys.executable, "-m", "dqnlab.cli", "train", env_id, "--preset", preset]
    head += ["--config", config_file] if config_file else []
    head += [word for assignment in common for word in ("--set", assignment)]
    tail = ["--no-progress"] + (["--steps", str(steps)] if steps is not None else [])
    tail += ["--device", device] if device is not None else []
    by_label = {variant.label: variant for variant in variants}
    specs = []
    for index, labels in enumerate(merged):
        group = tuple(by_label[label] for label in labels)
        run_dir = out_dir / "runs" / f"merged-{index}"
        members = [f"{member_name(variant)}:{','.join(variant.assignments)}" for variant in group]
        command = [*head, "--seeds", ",".join(map(str, seeds)), "--run-dir", str(run_dir), *tail]
        command += [word for member in members for word in ("--variant", member)]
        log_path = out_dir / "logs" / f"merged-{index}-population.log"
        specs.append(RunSpec(group[0], seeds[0], run_dir, log_path, tuple(command), tuple(seeds), group))
    in_merged = {label for labels in merged for label in labels}
    for variant in variants:
        if variant.label in in_merged:
            continue
        head_variant = [*head, *(word for assignment in variant.assignments for word in ("--set", assignment))]
        if population:
            run_dir = out_dir / "runs" / variant.slug
            command = [*head_variant, "--seeds", ",".join(map(str, seeds)), "--run-dir", str(run_dir), *tail]
            log_path = out_dir / "logs" / f"{variant.slug}-population.log"
            specs.append(RunSpec(variant, seeds[0], run_dir, log_path, tuple(command), population=tuple(seeds)))
            continue
        for seed in seeds:
            run_dir = out_dir / "runs" / variant.slug / f"seed-{seed}"
            command = [*head_variant, "--seed", str(seed), "--run-dir", str(run_dir), *tail]
            log_path = out_dir / "logs" / f"{variant.slug}-seed-{seed}.log"
            specs.append(RunSpec(variant, seed, run_dir, log_path, tuple(command)))
    return specs
