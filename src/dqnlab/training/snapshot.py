"""Crash-safe checkpoint folders: a state tree as JSON, large arrays as .npy, tensors as .pt, checksummed.

A snapshot is a folder `checkpoints/state-<env step>/` holding

    state.json      the state tree; small arrays inline (base64), large ones as references to
    arrays/*.npy    one file per large array, streamed by `np.save` in 16 MiB chunks, so writing a
                    multi-GB replay memory never holds a second copy of it
    torch.pt        networks, optimizer and torch RNG: tensors and plain types, loaded with weights_only
    manifest.json   size and CRC-32 of every file above, written last

Writing goes to a hidden temporary folder; every file is fsynced, then the folder is renamed into
place and its parent fsynced. A crash at any moment (even `kill -9`) therefore leaves either the
complete new snapshot or none, and earlier snapshots are only deleted after a newer one is
complete. Loading picks the newest snapshot whose manifest verifies and says why it skipped others.
Nothing is unpickled: arrays load with `allow_pickle=False`, the .pt with `weights_only=True`.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import sys
import zlib
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from dqnlab.errors import CheckpointError
from dqnlab.training.files import fsync_dir, load_tensors

FORMAT = "dqnlab-state-v1"
PREFIX = "state-"
INLINE_BYTES = 4096  # arrays up to this size live inside state.json; larger ones get a .npy file
_NAME = re.compile(rf"^{PREFIX}(\d+)$")
_CHUNK = 1 << 20
_MARKERS = {"__ndarray__", "__npy__", "__npscalar__", "__bytes__", "__tuple__", "__deque__"}


def snapshot_name(step: int) -> str:
    return f"{PREFIX}{step:012d}"


class _CrcWriter:
    """A write-only file wrapper that keeps the CRC-32 and size of what passes through it.

    `np.save` sees no real file here, so it writes C-ordered chunks of at most 16 MiB instead
    of the whole array at once: memory stays flat however large the array is.
    """

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.crc = 0
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


def _crc_of_file(path: Path) -> tuple[int, int]:
    crc, size = 0, 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    return crc, size


class _Encoder:
    """Turns a state tree into JSON-able values, setting large arrays aside to be written as .npy."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def encode(self, value: Any, path: str) -> Any:
        if value is None or isinstance(value, bool | int | str):
            return value
        if isinstance(value, float):
            return value  # json writes nan and inf as NaN and Infinity, and reads them back
        if isinstance(value, np.generic):
            return {"__npscalar__": self.encode(np.asarray(value), path)}
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise TypeError(f"{path}: object arrays cannot be checkpointed")
            if value.nbytes <= INLINE_BYTES:
                data = np.ascontiguousarray(value).tobytes()
                return {
                    "__ndarray__": base64.b64encode(data).decode(),
                    "dtype": value.dtype.str,
                    "shape": list(value.shape),
                }
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", path) + ".npy"
            assert name not in self.arrays, name
            self.arrays[name] = value
            return {"__npy__": name}
        if isinstance(value, bytes):
            return {"__bytes__": base64.b64encode(value).decode()}
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{path}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, deque):
            return {"__deque__": [self.encode(v, f"{path}.{i}") for i, v in enumerate(value)], "maxlen": value.maxlen}
        if isinstance(value, list):
            return [self.encode(v, f"{path}.{i}") for i, v in enumerate(value)]
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                raise TypeError(f"{path}: only string keys can be checkpointed")
            if _MARKERS & value.keys():
                raise TypeError(f"{path}: the keys {sorted(_MARKERS)} are reserved")
            return {key: self.encode(v, f"{path}.{key}") for key, v in value.items()}
        raise TypeError(f"{path}: a {type(value).__name__} cannot be checkpointed")


def _decode(value: Any, load_array: Callable[[str], np.ndarray]) -> Any:
    if isinstance(value, list):
        return [_decode(v, load_array) for v in value]
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        data = base64.b64decode(value["__ndarray__"])
        return np.frombuffer(data, dtype=np.dtype(value["dtype"])).reshape(value["shape"]).copy()
    if "__npy__" in value:
        return load_array(value["__npy__"])
    if "__npscalar__" in value:
        return _decode(value["__npscalar__"], load_array)[()]
    if "__bytes__" in value:
        return base64.b64decode(value["__bytes__"])
    if "__tuple__" in value:
        return tuple(_decode(v, load_array) for v in value["__tuple__"])
    if "__deque__" in value:
        return deque((_decode(v, load_array) for v in value["__deque__"]), maxlen=value["maxlen"])
    return {key: _decode(v, load_array) for key, v in value.items()}


def list_snapshots(directory: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every complete-looking snapshot in `directory`, newest first."""
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        match = _NAME.match(entry.name)
        if match and entry.is_dir():
            found.append((int(match.group(1)), entry))
    return sorted(found, reverse=True)


def remove_snapshot(path: Path) -> None:
    """Deletes a folder by renaming it to a hidden name first, so a half-deleted one is never mistaken
    for a snapshot."""
    trash = path.with_name(f".trash-{path.name}-{os.getpid()}")
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def clean_leftovers(directory: Path) -> None:
    """Removes temporary and half-deleted folders that a crash left behind."""
    if directory.is_dir():
        for entry in directory.iterdir():
            if entry.name.startswith((".tmp-", ".trash-")):
                shutil.rmtree(entry, ignore_errors=True)


def write_snapshot(directory: Path, step: int, tree: dict[str, Any], tensors: dict[str, Any], keep_last: int) -> Path:
    """Writes `tree` (state.json + .npy files) and `tensors` (torch.pt) as the snapshot of `step`.

    Keeps the newest `keep_last` snapshots. On any OSError (a full disk, say) the temporary folder
    is removed, earlier snapshots are untouched, and CheckpointError says what happened.
    """
    directory.mkdir(parents=True, exist_ok=True)
    clean_leftovers(directory)
    final = directory / snapshot_name(step)
    tmp = directory / f".tmp-{final.name}-{os.getpid()}"
    encoder = _Encoder()
    try:
        skeleton = encoder.encode(tree, "state")
        files: dict[str, dict[str, int]] = {}
        tmp.mkdir()
        (tmp / "arrays").mkdir()

        def write(name: str, fill: Callable[[_CrcWriter], object]) -> None:
            with open(tmp / name, "wb") as handle:
                writer = _CrcWriter(handle)
                fill(writer)
                handle.flush()
                os.fsync(handle.fileno())
            files[name] = {"bytes": writer.size, "crc32": writer.crc}

        for name, array in encoder.arrays.items():
            write(f"arrays/{name}", lambda w, a=array: np.save(w, a, allow_pickle=False))  # type: ignore[misc]
        buffer = io.BytesIO()
        torch.save(tensors, buffer)
        write("torch.pt", lambda w: w.write(buffer.getbuffer()))
        state_json = json.dumps({"format": FORMAT, "step": step, "state": skeleton}).encode()
        write("state.json", lambda w: w.write(state_json))
        manifest = json.dumps({"format": FORMAT, "step": step, "files": files}, indent=1).encode()
        write("manifest.json", lambda w: w.write(manifest))
        fsync_dir(tmp / "arrays")
        fsync_dir(tmp)
        if final.exists():
            remove_snapshot(final)
        os.replace(tmp, final)
        fsync_dir(directory)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        previous = [s for s, _ in list_snapshots(directory)]
        kept = f"the checkpoint of step {previous[0]} is intact" if previous else "no earlier checkpoint exists"
        reason = exc.strerror or str(exc)
        raise CheckpointError(f"cannot write the checkpoint of step {step} in {directory}: {reason}; {kept}") from None
    for _, old in list_snapshots(directory)[keep_last:]:
        try:
            remove_snapshot(old)
        except OSError:  # an old checkpoint left behind costs disk, not correctness
            pass
    return final


def verify_snapshot(folder: Path) -> str | None:
    """None when every file of the snapshot matches its manifest; else the first problem found."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except FileNotFoundError:
        return "no manifest.json"
    except (OSError, ValueError) as exc:
        return f"unreadable manifest.json ({exc})"
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or not isinstance(manifest.get("files"), dict)
    ):
        return "manifest.json is not a dqnlab manifest"
    match = _NAME.match(folder.name)
    if match and manifest.get("step") != int(match.group(1)):
        return f"manifest.json names step {manifest.get('step')}"
    for name, expected in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        try:
            if path.stat().st_size != expected["bytes"]:
                return f"{name} has {path.stat().st_size} bytes, the manifest says {expected['bytes']}"
            crc, _ = _crc_of_file(path)
        except (OSError, KeyError, TypeError) as exc:
            return f"cannot check {name} ({exc})"
        if crc != expected["crc32"]:
            return f"{name} fails its checksum"
    for required in ("state.json", "torch.pt"):
        if required not in manifest["files"]:
            return f"the manifest does not list {required}"
    return None


def read_snapshot(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (state tree, tensors) of a verified snapshot. Large arrays come back as read-only memory
    maps, so restoring a replay memory copies from the page cache without a second full copy."""

    def load_array(name: str) -> np.ndarray:
        path = folder / "arrays" / name
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception:  # numpy raises what the bytes provoke: EOFError, BadZipFile, ValueError, ...
            array = None
        if not isinstance(array, np.ndarray):  # a zip of arrays (.npz) is not one either
            raise CheckpointError(f"cannot read {path}: not an array dqnlab saved, or a damaged one")
        return array

    try:
        document = json.loads((folder / "state.json").read_text())
        tree = _decode(document["state"], load_array)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"cannot read {folder / 'state.json'}: {exc}") from None
    tensors = load_tensors(folder / "torch.pt", "training state")
    if not isinstance(tensors, dict):
        raise CheckpointError(f"{folder / 'torch.pt'} is not a dqnlab training state")
    return tree, tensors


def latest_snapshot(directory: Path, warn: bool = True) -> tuple[int, Path]:
    """The newest snapshot in `directory` whose files verify; damaged newer ones are reported and skipped."""
    problems: list[str] = []
    for step, folder in list_snapshots(directory):
        problem = verify_snapshot(folder)
        if problem is None:
            if problems and warn:
                print(
                    f"dqnlab: warning: skipped damaged checkpoint(s): {'; '.join(problems)}; using {folder.name}",
                    file=sys.stderr,
                )
            return step, folder
        problems.append(f"{folder.name}: {problem}")
    if problems:
        raise CheckpointError(f"no readable checkpoint in {directory}: {'; '.join(problems)}")
    raise CheckpointError(f"no checkpoint in {directory}")
