"""Experiments: every variant x seed trained as its own process, W at a time, then one report.

    dqnlab experiment CartPole-v1 --preset cartpole --vary learning.double=false,true --seeds 5

A variant is a set of config assignments. `--vary KEY=V1,V2` crosses values of one key with the
other `--vary`s; `--variant KEY=V,KEY=V` adds one variant with several keys set together (e.g.
no replay needs `replay.capacity=1,learning.batch_size=1`). Each run is
`python -m dqnlab.cli train ... --run-dir OUT/runs/VARIANT/seed-N --no-progress`, its output kept
in OUT/logs/. Separate processes keep runs independent (no shared RNG, torch threads or GPU
state) and let a crash in one run leave the others standing. With `--ray-address ADDR` (or
`--ray` for Ray on this machine) each run is the same command inside a Ray task on the cluster,
whose run directory comes back to OUT (dqnlab/distributed/experiment.py).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from dqnlab.config import Config, apply_overrides, parse_assignments
from dqnlab.errors import ConfigError, DqnlabError

FULL_BUDGET = "evaluation.stop_at_target=false"  # set on every run unless --set says otherwise


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
    command: tuple[str, ...]
    population: tuple[int, ...] = ()  # the seeds, when the command trains them as one population

    @property
    def run_dirs(self) -> list[Path]:
        """The run directories it writes: its own, or its members' (`dqnlab train --seeds`)."""
        return [self.run_dir / f"seed-{seed}" for seed in self.population] if self.population else [self.run_dir]

    @property
    def label(self) -> str:
        return f"seeds {self.population[0]}-{self.population[-1]}" if self.population else f"seed {self.seed}"


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


def plan_runs(
    env_id: str,
    preset: str,
    variants: Sequence[Variant],
    seeds: Sequence[int],
    out_dir: Path,
    steps: int | None,
    common: Sequence[str],
    config_file: str | None = None,
    population: bool = False,
) -> list[RunSpec]:
    """One `dqnlab train` command per variant and seed, or with `population` per variant, its seeds
    as one population (docs/populations.md); `common` assignments go before the variant's."""
    specs = []
    for variant in variants:
        if population:
            specs.append(_population_spec(env_id, preset, variant, list(seeds), out_dir, steps, common, config_file))
            continue
        for seed in seeds:
            run_dir = out_dir / "runs" / variant.slug / f"seed-{seed}"
            command = [sys.executable, "-m", "dqnlab.cli", "train", env_id, "--preset", preset]
            if config_file:
                command += ["--config", config_file]
            for assignment in (*common, *variant.assignments):
                command += ["--set", assignment]
            command += ["--seed", str(seed), "--run-dir", str(run_dir), "--no-progress"]
            if steps is not None:
                command += ["--steps", str(steps)]
            log_path = out_dir / "logs" / f"{variant.slug}-seed-{seed}.log"
            specs.append(RunSpec(variant, seed, run_dir, log_path, tuple(command)))
    return specs


def _population_spec(
    env_id: str,
    preset: str,
    variant: Variant,
    seeds: list[int],
    out_dir: Path,
    steps: int | None,
    common: Sequence[str],
    config_file: str | None,
) -> RunSpec:
    """The `dqnlab train --seeds` command of one variant; its members write the run directories
    the separate runs would (runs/VARIANT/seed-K)."""
    run_dir = out_dir / "runs" / variant.slug
    command = [sys.executable, "-m", "dqnlab.cli", "train", env_id, "--preset", preset]
    command += ["--config", config_file] if config_file else []
    for assignment in (*common, *variant.assignments):
        command += ["--set", assignment]
    command += ["--seeds", ",".join(map(str, seeds)), "--run-dir", str(run_dir), "--no-progress"]
    command += ["--steps", str(steps)] if steps is not None else []
    log_path = out_dir / "logs" / f"{variant.slug}-population.log"
    return RunSpec(variant, seeds[0], run_dir, log_path, tuple(command), population=tuple(seeds))


def _run_one(spec: RunSpec) -> tuple[RunSpec, int, float]:
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with open(spec.log_path, "w") as log:
        log.write(" ".join(spec.command) + "\n")
        log.flush()
        returncode = subprocess.run(spec.command, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    return spec, returncode, time.perf_counter() - began


def run_all(
    specs: Sequence[RunSpec],
    workers: int,
    echo: bool = True,
    run_one: Callable[[RunSpec], tuple[RunSpec, int, float]] = _run_one,
) -> list[RunSpec]:
    """Runs the specs, `workers` at a time, each by `run_one` (a local process by default, or a
    Ray task); returns those that succeeded."""
    done: list[RunSpec] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_one, spec) for spec in specs]
        try:
            for count, future in enumerate(as_completed(futures), start=1):
                spec, returncode, seconds = future.result()
                if returncode == 0:
                    done.append(spec)
                    status = ", ".join(_best_eval(run_dir) for run_dir in spec.run_dirs)
                else:
                    status = f"FAILED (exit {returncode}; see {spec.log_path})"
                if echo:
                    print(
                        f"[{count}/{len(specs)}] {spec.variant.label} {spec.label}: {status} ({seconds:.1f} s)",
                        flush=True,
                    )
        except BaseException:  # Ctrl-C: start no further runs (the running ones get the signal too)
            for future in futures:
                future.cancel()
            raise
    return done


def _best_eval(run_dir: Path) -> str:
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return "done"
    best = summary.get("best_eval_return")
    return "done" if best is None else f"best eval return {best:.1f}"


def run_experiment(
    env_id: str,
    preset: str,
    vary: Sequence[str],
    variants: Sequence[str],
    seeds: int,
    out_dir: str | Path,
    steps: int | None = None,
    workers: int | None = None,
    common: Sequence[str] = (),
    config_file: str | None = None,
    threshold: float | None = None,
    ray_address: str | None = None,
    population: bool = True,
) -> Path:
    """Validates, runs every variant x seed, and writes the report into `out_dir`; returns report.html.

    With `population` (the default) each variant's seeds train as one population, in one process.

    With `ray_address` ("local" for Ray on this machine) the runs are Ray tasks on that cluster,
    as many at a time as it has CPUs unless `workers` says otherwise."""
    from dqnlab.config import load_toml
    from dqnlab.diagnostics.report import build_report, format_console_summary
    from dqnlab.presets import preset_config

    if seeds < 1:
        raise DqnlabError("--seeds must be >= 1")
    if steps is not None and steps < 1:
        raise DqnlabError("--steps must be >= 1")
    run_one: Callable[[RunSpec], tuple[RunSpec, int, float]] = _run_one
    cluster_cpus = None
    if ray_address is not None:
        from dqnlab.distributed.experiment import ray_run_one

        run_one, cluster_cpus = ray_run_one(ray_address, config_file)
    workers = workers if workers is not None else (cluster_cpus or os.cpu_count() or 1)
    if workers < 1:
        raise DqnlabError("--workers must be >= 1")
    out_dir = Path(out_dir)
    if (out_dir / "runs").exists() and any((out_dir / "runs").iterdir()):
        raise DqnlabError(f"{out_dir} already holds runs; choose another --out")

    base = preset_config(preset, env_id)
    if config_file:
        base = apply_overrides(base, {**load_toml(config_file), "env_id": env_id, "preset": preset})
    if steps is not None:
        base = base.replace(steps=steps)
    # Full budgets give every run the same step axis; stopping at the target would cut curves short.
    all_common = [FULL_BUDGET, *common]
    all_variants = build_variants(vary, variants)
    base = check_variants(base, all_common, all_variants)

    specs = plan_runs(env_id, preset, all_variants, range(seeds), out_dir, steps, all_common, config_file, population)
    out_dir.mkdir(parents=True, exist_ok=True)
    command_line = _command_line(env_id, preset, vary, variants, seeds, steps, workers, common, config_file, out_dir)
    command_line += "" if population else " --separate-seeds"
    (out_dir / "experiment.json").write_text(
        json.dumps(
            {
                "command": command_line,
                "env_id": env_id,
                "preset": preset,
                "variants": {variant.label: list(variant.assignments) for variant in all_variants},
                "common": all_common,
                "seeds": list(range(seeds)),
                "steps": base.steps,
            },
            indent=2,
        )
        + "\n"
    )
    print(
        f"{len(specs)} {'populations' if population else 'runs'} ({len(all_variants)} variants x {seeds} seeds, "
        f"{base.steps:,} env steps each), "
        f"{workers} at a time, into {out_dir}",
        flush=True,
    )
    done = run_all(specs, workers, run_one=run_one)
    if not done:
        raise DqnlabError(f"every run failed; see the logs in {out_dir / 'logs'}")
    # in planned (seed) order, not completion order, so the report and its bootstrap are reproducible
    groups = {
        variant.label: [
            run_dir for spec in specs if spec.variant == variant and spec in done for run_dir in spec.run_dirs
        ]
        for variant in all_variants
    }
    context = [command_line]
    failed = len(specs) - len(done)
    if failed:
        context.append(f"{failed} of {len(specs)} runs failed and are left out; see {out_dir / 'logs'}")
    report = build_report(
        groups,
        out_dir,
        threshold=threshold,
        title=f"{env_id}, preset {preset}: {len(all_variants)} variants x {seeds} seeds",
        context=context,
    )
    print(format_console_summary(out_dir))
    print(f"report: {report} (and report.md)")
    if failed:
        raise DqnlabError(f"{failed} of {len(specs)} runs failed; the report covers the others")
    return report


def _command_line(
    env_id: str,
    preset: str,
    vary: Sequence[str],
    variants: Sequence[str],
    seeds: int,
    steps: int | None,
    workers: int,
    common: Sequence[str],
    config_file: str | None,
    out_dir: Path,
) -> str:
    """The `dqnlab experiment` command that reproduces this experiment, for the report."""
    import shlex

    words = ["dqnlab", "experiment", env_id, "--preset", preset]
    words += [word for text in vary for word in ("--vary", text)]
    words += [word for text in variants for word in ("--variant", text)]
    words += [word for text in common for word in ("--set", text)]
    if config_file:
        words += ["--config", config_file]
    words += ["--seeds", str(seeds)] + (["--steps", str(steps)] if steps is not None else [])
    words += ["--workers", str(workers), "--out", str(out_dir)]
    return shlex.join(words)
