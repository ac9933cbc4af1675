"""The worker processes' set-up (``api.worker``), in a process of its own: it changes the
process's allocator for good."""

import subprocess
import sys
import textwrap

import pytest

# Where glibc puts a 48 MB array, before and after the worker's allocator setting: the bytes
# it has mapped on its own while the array lives (``hblkhd``), and the free bytes its heap
# keeps once the array is freed (``fordblks``), from mallinfo2.
_PLACES = textwrap.dedent(
    """
    import ctypes

    import numpy as np

    from api.worker import keep_freed_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2

    def places(size):
        array = np.empty(size, np.uint8)
        mapped = libc.mallinfo2().hblkhd
        del array
        return mapped, libc.mallinfo2().fordblks

    default = places(48 << 20)
    kept = keep_freed_memory()
    print(*default, kept, *places(48 << 20))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_keep_freed_memory_keeps_a_large_array_in_the_heap_for_the_next() -> None:
    run = subprocess.run(
        [sys.executable, "-c", _PLACES], capture_output=True, text=True, check=True
    )
    mapped, free, kept, mapped_after, free_after = run.stdout.split()
    size = 48 << 20
    # By default the array is mapped on its own and given back when freed...
    assert int(mapped) >= size
    assert int(free) < size
    assert kept == "True"
    # ...and with the setting it comes from the heap, which keeps it once freed.
    assert int(mapped_after) < size
    assert int(free_after) >= size
