"""Weight files (best.pt, last.pt): network weights and what rebuilds them, loadable without running code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from dqnlab.errors import CheckpointError
from dqnlab.training.files import fsync_dir, load_tensors

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
    """Reads a dqnlab checkpoint: weights and the config they were trained with."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    payload = load_tensors(path, "checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a dqnlab checkpoint")
    return payload


def resolve_checkpoint(run_or_checkpoint: str | Path) -> Path:
    """A run directory means its best checkpoint (else its last); a file means itself."""
    path = Path(run_or_checkpoint)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            candidate = path / "checkpoints" / name
            if candidate.is_file():
                return candidate
        raise CheckpointError(f"no checkpoint in {path}/checkpoints (expected best.pt or last.pt)")
    if not path.exists():
        raise CheckpointError(f"no such run directory or checkpoint: {path}")
    return path
