"""The allocator setting that keeps freed tensor memory in the process."""

import platform

from dqnlab.allocator import keep_freed_memory


def test_freed_memory_is_kept_exactly_where_the_c_library_is_glibc() -> None:
    on_glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is on_glibc
    assert keep_freed_memory() is on_glibc  # idempotent: a second Agent in the process sets it again
