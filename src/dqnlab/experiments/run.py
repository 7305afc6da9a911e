"""Experiments: every variant x seed trained, W processes at a time, then one report.

    dqnlab experiment CartPole-v1 --preset cartpole --vary learning.double=false,true --seeds 5
    dqnlab experiment --resume OUT      # after Ctrl-C: finish the unfinished runs, then report

A variant is a set of config assignments (experiments/plan.py). By default each variant's seeds
train as one population, in one process (`python -m dqnlab.cli train ... --seeds 0,1,2,3,4
--run-dir OUT/runs/VARIANT`, docs/populations.md), each member writing OUT/runs/VARIANT/seed-N as
its separate run would. With `--separate-seeds` each run is `python -m dqnlab.cli train ...
--run-dir OUT/runs/VARIANT/seed-N --no-progress`: separate processes keep runs independent (no
shared RNG, torch threads or GPU state) and let a crash in one run leave the others standing.
Their output is kept in OUT/logs/. With `--ray-address ADDR` (or
`--ray` for Ray on this machine) each run is the same command inside a Ray task on the cluster,
whose run directory comes back to OUT (experiments/ray_tasks.py). OUT/experiment.json keeps the
plan, so `--resume` rebuilds it: finished runs are kept, checkpointed ones go on from their
newest checkpoint (`train --resume`), the others start. OUT/base.toml freezes the config the
variants change (the preset, `--config`, `--steps` and `--device` resolved when the experiment
was planned), and every run reads it with `--config`: a run started later, or by `--resume` after
dqnlab was updated, trains what was planned even where the preset has changed since.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from dqnlab.errors import DqnlabError
from dqnlab.experiments.plan import RunSpec, Variant, build_variants, check_variants, merge_shareable, plan_runs

FULL_BUDGET = "evaluation.stop_at_target=false"  # set on every run unless --set says otherwise
PLAN_FILE = "experiment.json"
BASE_FILE = "base.toml"  # the planned base config, frozen
RunOne = Callable[[RunSpec], tuple[RunSpec, int, float]]


def _run_one(spec: RunSpec) -> tuple[RunSpec, int, float]:
    """Runs the spec's command as a local process, its output appended to the spec's log."""
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with open(spec.log_path, "a") as log:
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
                        f"[{count}/{len(specs)}] {spec.label}: {status} ({seconds:.1f} s)",
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
    device: str | None = None,
    population: bool = True,
    merge_variants: bool = False,
) -> Path:
    """Validates, runs every variant x seed, and writes the report into `out_dir`; returns report.html.

    With `population` (the default) each variant's seeds train as one population, in one process;
    with `merge_variants` too, variants that differ only in scalars share one population.

    With `ray_address` ("local" for Ray on this machine) the runs are Ray tasks on that cluster,
    as many at a time as it has CPUs unless `workers` says otherwise. `device` goes to every run."""
    from dqnlab.config import apply_overrides, load_toml
    from dqnlab.presets import preset_config

    if seeds < 1:
        raise DqnlabError("--seeds must be >= 1")
    if steps is not None and steps < 1:
        raise DqnlabError("--steps must be >= 1")
    out_dir = Path(out_dir)
    if (out_dir / "runs").exists() and any((out_dir / "runs").iterdir()):
        raise DqnlabError(
            f"{out_dir} already holds runs; choose another --out, or finish them: dqnlab experiment --resume {out_dir}"
        )
    base = preset_config(preset, env_id)
    if config_file:
        base = apply_overrides(base, {**load_toml(config_file), "env_id": env_id, "preset": preset})
    if steps is not None:
        base = base.replace(steps=steps)
    if device is not None:
        base = apply_overrides(base, {"device": device})
    # Full budgets give every run the same step axis; stopping at the target would cut curves short.
    all_common = [FULL_BUDGET, *common]
    all_variants = build_variants(vary, variants)
    frozen_base = base.to_toml()
    base = check_variants(base, all_common, all_variants)
    run_one, workers = _runner(ray_address, frozen_base, workers)

    seed_list = list(range(seeds))
    if merge_variants and not population:
        raise DqnlabError("--merge-variants puts variants in one population; it cannot go with --separate-seeds")
    merged = merge_shareable(base, [], all_variants) if merge_variants else []
    specs = plan_runs(
        env_id,
        preset,
        all_variants,
        seed_list,
        out_dir,
        steps,
        all_common,
        str(out_dir / BASE_FILE),
        device,
        population,
        merged,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / BASE_FILE).write_text(frozen_base)
    command_line = _command_line(
        env_id, preset, vary, variants, seeds, steps, workers, common, config_file, device, out_dir
    )
    command_line += "" if population else " --separate-seeds"
    command_line += " --merge-variants" if merge_variants else ""
    plan = {
        "command": command_line,
        "env_id": env_id,
        "preset": preset,
        "variants": {variant.label: list(variant.assignments) for variant in all_variants},
        "common": all_common,
        "seeds": list(range(seeds)),
        "steps": base.steps,
        "steps_flag": steps,
        "config_file": config_file,
        "base_config": BASE_FILE,
        "device": device,
        "population": population,
        "merged": merged,
    }
    (out_dir / PLAN_FILE).write_text(json.dumps(plan, indent=2) + "\n")
    print(
        f"{len(specs)} {'populations' if population else 'runs'} ({len(all_variants)} variants x {seeds} seeds"
        f"{f', {len(merged)} groups of variants merged' if merged else ''}, "
        f"{base.steps:,} env steps each), "
        f"{workers} at a time, into {out_dir}",
        flush=True,
    )
    return _run_and_report(specs, specs, out_dir, workers, run_one, threshold, plan)


def resume_experiment(out_dir: str | Path, workers: int | None = None, threshold: float | None = None) -> Path:
    """Finishes the experiment in `out_dir` as planned in its experiment.json: finished runs are
    kept, runs with a checkpoint go on from it, the others start; then the report. Returns report.html."""
    out_dir = Path(out_dir)
    plan, specs = planned_runs(out_dir)
    run_one, workers = _runner(None, None, workers)
    pending = []
    for spec in specs:
        state = run_state(spec.run_dir)
        if state == "checkpointed":
            pending.append(dataclasses.replace(spec, command=spec.resume_command))
        elif state == "unstarted":
            if spec.run_dir.exists():  # stopped before its first checkpoint: nothing to go on from
                shutil.rmtree(spec.run_dir)
            pending.append(spec)
    resumed = sum(spec.command == spec.resume_command for spec in pending)
    if not plan.get("base_config"):
        print(
            f"{out_dir} was planned before experiments kept base.toml: "
            f"its runs read preset '{plan['preset']}' as it is now"
        )
    print(
        f"resuming {out_dir}: {len(specs) - len(pending)} of {len(specs)} runs finished, {resumed} continue from "
        f"a checkpoint, {len(pending) - resumed} start; {workers} at a time",
        flush=True,
    )
    return _run_and_report(specs, pending, out_dir, workers, run_one, threshold, plan)


def planned_runs(out_dir: Path) -> tuple[dict[str, Any], list[RunSpec]]:
    """The plan in `out_dir`/experiment.json and the runs it makes, wherever they are (merged or not)."""
    try:
        plan = json.loads((out_dir / PLAN_FILE).read_text())
        variants = [Variant(label, tuple(assignments)) for label, assignments in plan["variants"].items()]
        # experiments planned before base.toml read the preset (and --config) as they are now
        base_config = str(out_dir / plan["base_config"]) if plan.get("base_config") else plan.get("config_file")
        specs = plan_runs(
            plan["env_id"],
            plan["preset"],
            variants,
            plan["seeds"],
            out_dir,
            plan.get("steps_flag"),
            plan["common"],
            base_config,
            plan.get("device"),
            plan.get("population", False),
            plan.get("merged", []),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise DqnlabError(f"{out_dir} is not an experiment directory (no readable {PLAN_FILE})") from None
    return plan, specs


def run_state(run_dir: Path) -> str:
    """ "finished" (summary.json written), "checkpointed" (a training state to resume from) or "unstarted";
    a population's directory is finished with its population summary and checkpointed when every
    unfinished member has a training state."""
    from dqnlab.training.snapshot import list_snapshots

    manifest = run_dir / "population.json"
    if manifest.is_file():
        if (run_dir / "population_summary.json").is_file():
            return "finished"
        try:
            members = [run_dir / name for name in json.loads(manifest.read_text())["members"]]
        except (OSError, ValueError, KeyError, TypeError):
            return "unstarted"
        states = [run_state(member) for member in members]
        return "checkpointed" if "unstarted" not in states else "unstarted"
    if (run_dir / "summary.json").is_file():
        return "finished"
    if list_snapshots(run_dir / "checkpoints"):
        return "checkpointed"
    return "unstarted"


def _runner(ray_address: str | None, config_text: str | None, workers: int | None) -> tuple[RunOne, int]:
    """How each run is run (a local process, or a Ray task given `config_text` as its --config file)
    and how many at a time."""
    run_one: RunOne = _run_one
    cluster_cpus = None
    if ray_address is not None:
        from dqnlab.experiments.ray_tasks import ray_run_one

        run_one, cluster_cpus = ray_run_one(ray_address, config_text)
    workers = workers if workers is not None else (cluster_cpus or os.cpu_count() or 1)
    if workers < 1:
        raise DqnlabError("--workers must be >= 1")
    return run_one, workers


def _run_and_report(
    specs: Sequence[RunSpec],
    pending: Sequence[RunSpec],
    out_dir: Path,
    workers: int,
    run_one: RunOne,
    threshold: float | None,
    plan: dict[str, Any],
) -> Path:
    """Runs the `pending` specs, then reports on every spec of the plan that has finished."""
    from dqnlab.diagnostics.report import build_report, format_console_summary

    try:
        run_all(pending, workers, run_one=run_one)
    except KeyboardInterrupt:
        print(f"interrupted; to finish the runs: dqnlab experiment --resume {out_dir}", flush=True)
        raise
    finished = [spec for spec in specs if run_state(spec.run_dir) == "finished"]
    go_on = f"dqnlab experiment --resume {out_dir} goes on from their checkpoints or reruns them"
    if not finished:
        raise DqnlabError(f"no run finished; see the logs in {out_dir / 'logs'}; {go_on}")
    # in planned (seed) order, not completion order, so the report and its bootstrap are reproducible
    labels = list(plan["variants"])  # in planned order, merged or not
    labelled = [pair for spec in finished for pair in spec.labelled_run_dirs]
    groups = {label: [run_dir for of, run_dir in labelled if of == label] for label in labels}
    context = [plan["command"]]
    failed = len(specs) - len(finished)
    if failed:
        context.append(f"{failed} of {len(specs)} runs did not finish and are left out; see {out_dir / 'logs'}")
    report = build_report(
        groups,
        out_dir,
        threshold=threshold,
        title=f"{plan['env_id']}, preset {plan['preset']}: {len(labels)} variants x {len(plan['seeds'])} seeds",
        context=context,
    )
    print(format_console_summary(out_dir))
    print(f"report: {report} (and report.md)")
    if failed:
        raise DqnlabError(f"{failed} of {len(specs)} runs did not finish; the report covers the others; {go_on}")
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
    device: str | None,
    out_dir: Path,
) -> str:
    """The `dqnlab experiment` command that reproduces this experiment, for the report."""
    words = ["dqnlab", "experiment", env_id, "--preset", preset]
    words += [word for text in vary for word in ("--vary", text)]
    words += [word for text in variants for word in ("--variant", text)]
    words += [word for text in common for word in ("--set", text)]
    if config_file:
        words += ["--config", config_file]
    words += ["--seeds", str(seeds)] + (["--steps", str(steps)] if steps is not None else [])
    words += ["--device", device] if device is not None else []
    words += ["--workers", str(workers), "--out", str(out_dir)]
    return shlex.join(words)
