"""`dqnlab experiment --ray-address ADDR`: each variant x seed run as a Ray task on a cluster.

A task runs the very `dqnlab train` command a local experiment runs, as a process of its own on
whichever node Ray picks (so runs stay as independent as local ones), in a temporary directory
there; it then returns the run directory's files and the log, which the driver writes where a
local run would have written them. No shared file system is needed, and the report is built from
the same files. A config file (`--config`) travels with the task as text.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dqnlab.distributed import RAY_INSTALL, init_ray
from dqnlab.experiments.plan import RunSpec

RAY_MISSING = f"--ray-address needs Ray: {RAY_INSTALL}"


def train_in_task(command: tuple[str, ...], config_text: str | None) -> tuple[int, str, dict[str, bytes]]:
    """Runs a `python -m dqnlab.cli train ...` command on this node with this node's Python;
    returns (exit code, its output, {path in the run directory: bytes})."""
    args = list(command[1:])  # command[0] is the driver's Python, which may not exist here
    with tempfile.TemporaryDirectory(prefix="dqnlab-task-") as tmp:
        run_dir = Path(tmp) / "run"
        args[args.index("--run-dir") + 1] = str(run_dir)
        if config_text is not None and "--config" in args:
            config_path = Path(tmp) / "config.toml"
            config_path.write_text(config_text)
            args[args.index("--config") + 1] = str(config_path)
        result = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False)
        files = {}
        if run_dir.is_dir():
            files = {str(path.relative_to(run_dir)): path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
        return result.returncode, result.stdout + result.stderr, files


def ray_run_one(address: str, config_text: str | None) -> tuple[Callable[[RunSpec], tuple[RunSpec, int, float]], int]:
    """Connects to Ray at `address` ("local": on this machine) and returns (a `run_one` for
    `run_all` that runs a spec as a Ray task of one CPU, the cluster's CPU count); each task
    writes `config_text` to the file its command's `--config` names."""
    ray = init_ray(address, RAY_MISSING)
    task = ray.remote(num_cpus=1, max_retries=2)(train_in_task)

    def run_one(spec: RunSpec) -> tuple[RunSpec, int, float]:
        began = time.perf_counter()
        header = " ".join(spec.command) + "\n"
        try:
            returncode, output, files = ray.get(task.remote(spec.command, config_text))
        except ray.exceptions.RayError as exc:  # the task's node died and its retries were used up
            returncode, output, files = -1, f"Ray task failed: {exc}\n", {}
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        spec.log_path.write_text(header + output)
        for name, data in files.items():
            path = spec.run_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return spec, returncode, time.perf_counter() - began

    cpus: Any = ray.cluster_resources().get("CPU", 1)
    return run_one, max(int(cpus), 1)
