"""Weight files (best.pt, last.pt): network weights and what rebuilds them, loadable without running code.

A training snapshot (`checkpoints/state-<step>/`, written for resuming) also holds the online network,
so it loads as a weight file too: a long run can be evaluated at any checkpointed step."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from dqnlab.errors import CheckpointError
from dqnlab.training.files import fsync_dir, load_tensors
from dqnlab.training.snapshot import latest_snapshot, list_snapshots, read_snapshot, verify_snapshot

FORMAT = "dqnlab-checkpoint-v1"


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Writes atomically: to a temporary file, fsynced, then renamed over `path`."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            torch.save({"format": FORMAT, **payload}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)  # the rename itself survives a power cut
    except OSError as exc:  # a full disk, say: the previous file at `path` is untouched
        tmp.unlink(missing_ok=True)
        kept = "the previous one is intact" if path.exists() else "nothing was written"
        raise CheckpointError(f"cannot write {path}: {exc.strerror or exc}; {kept}") from None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Reads a dqnlab checkpoint (a weight file or a training snapshot): weights and their config."""
    path = Path(path)
    if _is_snapshot(path):
        return _weights_of_snapshot(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    payload = load_tensors(path, "checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a dqnlab checkpoint")
    return payload


def _is_snapshot(path: Path) -> bool:
    return path.is_dir() and (path / "manifest.json").is_file()


def _weights_of_snapshot(folder: Path) -> dict[str, Any]:
    """A training snapshot's online network and config, as a weight file holds them."""
    problem = verify_snapshot(folder)
    if problem is not None:
        raise CheckpointError(f"{folder} is not a usable checkpoint: {problem}")
    tree, tensors = read_snapshot(folder)  # a replay memory's arrays come back as memory maps, unread
    try:
        return {
            "format": FORMAT,
            "config": tree["config"],
            "observation_shape": tree["observation_shape"],
            "num_actions": tree["num_actions"],
            "env_steps": tree["counters"]["env_steps"],
            "q_network": tensors["learner"]["online"],
        }
    except (KeyError, TypeError):
        raise CheckpointError(f"{folder} is not a dqnlab training snapshot") from None


def resolve_checkpoint(run_or_checkpoint: str | Path) -> Path:
    """A run directory means its best checkpoint, else its last, else its newest training snapshot
    (a run stopped before its end); a file or a snapshot folder means itself."""
    path = Path(run_or_checkpoint)
    if path.is_dir() and not _is_snapshot(path):
        for name in ("best.pt", "last.pt"):
            candidate = path / "checkpoints" / name
            if candidate.is_file():
                return candidate
        if list_snapshots(path / "checkpoints"):
            return latest_snapshot(path / "checkpoints")[1]
        raise CheckpointError(
            f"no checkpoint in {path}/checkpoints (expected best.pt, last.pt or a state-<step> folder)"
        )
    if not path.exists():
        raise CheckpointError(f"no such run directory or checkpoint: {path}")
    return path
