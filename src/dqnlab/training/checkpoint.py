"""Checkpoints: network weights plus what is needed to rebuild them, loadable without running code."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

from dqnlab.errors import CheckpointError

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
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)
    except OSError as exc:  # a full disk, say: the previous file at `path` is untouched
        tmp.unlink(missing_ok=True)
        kept = "the previous one is intact" if path.exists() else "nothing was written"
        raise CheckpointError(f"cannot write {path}: {exc.strerror or exc}; {kept}") from None


def load_tensors(path: Path, what: str) -> Any:
    """`torch.load(path, weights_only=True)`, so loading never runs code, for checkpoints and training
    states alike. Whatever the file holds (text, a CSV, a plain pickle, damaged bytes), torch's failure,
    of whatever type its unpickler happens to raise, becomes one CheckpointError line; its warnings and
    its advice to pass `weights_only=False` are for torch's users, not dqnlab's, and are not shown."""
    try:
        handle = open(path, "rb")
    except OSError as exc:  # the file itself: permissions, a disk error
        raise CheckpointError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    with handle, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return torch.load(handle, map_location="cpu", weights_only=True)
        except Exception:  # a truncated zip even raises OSError("Invalid argument") from a seek
            raise CheckpointError(f"cannot read {what} {path}: not a file dqnlab saved, or a damaged one") from None


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
