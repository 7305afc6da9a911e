"""Keeps freed tensor memory in the process, so that a training step's large temporaries do not
page-fault afresh each time.

glibc serves allocations above its mmap threshold with fresh pages from the kernel and gives the
heap's free top back at its trim threshold; either way, a step that allocates and frees the same
megabyte-sized tensors each time (a noisy layer's weight matrix, Atari activations) pays a page
fault per 4 KiB of them. Raising both thresholds keeps those blocks for reuse: the
`minatar-rainbow` gradient step went from 8.0 to 7.3 ms (BENCHMARKS.md, "Noisy layers factorized
up to 32 rows; freed memory kept").
"""

from __future__ import annotations

import ctypes

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's own ceiling for its dynamic threshold
TRIM_THRESHOLD_BYTES = 256 << 20  # free heap kept before any is given back
TOP_PAD_BYTES = 16 << 20  # extra heap taken per growth, so growing is rare


def keep_freed_memory() -> bool:
    """Raises glibc's mmap and trim thresholds for this process; True where that was done.

    A no-op returning False off glibc: macOS has no mallopt, musl's ignores these settings, and
    Windows has no process-wide C library to ask (`CDLL(None)` fails there).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the symbols the process already has, libc's among them
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    settings = (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
        (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
        (M_TOP_PAD, TOP_PAD_BYTES),
    )
    succeeded = [mallopt(parameter, value) == 1 for parameter, value in settings]
    return all(succeeded)
