"""The two file operations every saved file of a run shares: making a rename durable, and reading
tensors back without running code."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

from dqnlab.errors import CheckpointError


def fsync_dir(path: Path) -> None:
    """Flushes a folder's entries, so that a file renamed into it survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
