"""Memory of long raster runs: freed buffers kept for reuse instead of being mapped and zero-filled afresh."""

from __future__ import annotations

import ctypes


def keep_freed_memory() -> None:
    """Let glibc keep freed buffers (up to 32 MB each) for reuse instead of unmapping them: otherwise every tile's
    or window's arrays are mapped afresh and zero-filled by the kernel, about a tenth of the ingest's CPU time.
    Memory still follows the work in flight, not the area. A no-op where libc is not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)      # M_MMAP_THRESHOLD: blocks below this come from the heap
        libc.mallopt(-1, 256 << 20)     # M_TRIM_THRESHOLD: free heap kept before giving it back
    except (OSError, AttributeError):
        pass
