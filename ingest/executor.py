"""Run tile jobs on Dask: a local cluster on this machine by default, or an existing one by address.

The steps (``ingest.ard.write_tile``) are small picklable functions; this module only decides where they run.
Results come back as they finish, so the caller records each tile at once and a killed run loses at most the
tiles in flight. Workers of a remote cluster must see the same file paths (input and data directory).
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import dask

from geo.errors import ConfigError

log = logging.getLogger(__name__)


@contextmanager
def dask_client(scheduler: str | None = None) -> Iterator[Any]:
    """A distributed client: ``scheduler`` (tcp://HOST:PORT), else Dask's ``scheduler-address`` config, else a
    local in-process cluster with one thread per core (GDAL and numpy release the GIL)."""
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.WARNING)   # its INFO lines would drown the progress bars
    address = scheduler or dask.config.get("scheduler-address", None)
    if address:
        try:
            client = Client(address, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {address} ({exc})") from exc
        log.info("ingest on the Dask cluster at %s", address)
        try:
            yield client
        finally:
            client.close()
        return
    keep_freed_memory()
    cluster = LocalCluster(processes=False, n_workers=1, threads_per_worker=os.cpu_count() or 1,
                           dashboard_address=None)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def keep_freed_memory() -> None:
    """Let glibc keep freed tile buffers (up to 32 MB each) for reuse instead of unmapping them: otherwise every
    tile's arrays are mapped afresh and zero-filled by the kernel, about a tenth of the ingest's CPU time.
    Memory still follows the tiles in flight, not the area. A no-op where libc is not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)      # M_MMAP_THRESHOLD: blocks below this come from the heap
        libc.mallopt(-1, 256 << 20)     # M_TRIM_THRESHOLD: free heap kept before giving it back
    except (OSError, AttributeError):
        pass


def run_jobs(fn: Callable[[Any], dict], jobs: Iterable[Any], *, scheduler: str | None = None,
             on_result: Callable[[dict], None]) -> None:
    """Run ``fn(job)`` for every job on Dask and hand each result to ``on_result`` as soon as it is done."""
    jobs = list(jobs)
    if not jobs:
        return
    from distributed import as_completed

    with dask_client(scheduler) as client:
        futures = client.map(fn, jobs, pure=False)
        for future in as_completed(futures):
            on_result(future.result())
            future.release()
