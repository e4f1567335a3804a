"""Overlap reading with decoding and compressing: an ordered map over a bounded thread pool."""

from __future__ import annotations

import ctypes
import functools
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

OPENMP_LIBRARY = re.compile(r"/lib[gi]?omp[^/]*\.so[^/]*$")
"""libgomp (GCC), libomp (LLVM), libiomp5 (Intel), as wheels bundle them (`libgomp-a3.so.1`)."""

T = TypeVar("T")
R = TypeVar("R")


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def single_openmp_thread() -> None:
    """Run bitshuffle's OpenMP regions started from the calling thread on that thread alone.

    bitshuffle parallelises each call over OpenMP threads that spin while they wait for
    work (libgomp's default). h5tocbors already runs one call per core on its own threads,
    so the extra OpenMP threads only compete: on a node where another process is busy,
    they made small-frame work several times slower (see BENCHMARKS.md). The setting is
    per thread (`omp_set_num_threads`), so it holds whenever bitshuffle was imported, and
    does not touch the environment. An `OMP_NUM_THREADS` set by the user is left in charge.

    Example:
        >>> single_openmp_thread()  # in each thread that calls bitshuffle
    """
    if "OMP_NUM_THREADS" in os.environ:
        return
    for runtime in openmp_runtimes():
        runtime.omp_set_num_threads(1)


@functools.cache
def openmp_runtimes() -> tuple[ctypes.CDLL, ...]:
    """The OpenMP runtimes loaded into this process once bitshuffle is (its own libgomp)."""
    import bitshuffle  # loads its OpenMP runtime, if it was built with one

    del bitshuffle
    try:
        with open("/proc/self/maps") as fh:  # Linux; elsewhere none is found
            paths = {line.split()[-1] for line in fh if OPENMP_LIBRARY.search(line)}
    except OSError:
        return ()
    runtimes = []
    for path in sorted(paths):
        try:
            runtime = ctypes.CDLL(path)
        except OSError:
            continue
        if hasattr(runtime, "omp_set_num_threads"):
            runtimes.append(runtime)
    return tuple(runtimes)


def ordered_map(
    fetch: Callable[[int], T], finish: Callable[[T], R], count: int, jobs: int = 1
) -> Iterator[R]:
    """`finish(fetch(k))` for k in range(count), in order, with `finish` on `jobs` threads.

    `fetch` runs in the calling thread (h5py serialises HDF5 calls anyway); `finish` is the
    work that releases the GIL (inflate, bitshuffle). At most `2 * jobs + 1` items are in
    flight, so memory is bounded whatever `count` is. `jobs <= 1` runs serially; the
    results are the same either way. bitshuffle runs single-threaded in every thread that
    calls `finish` (`single_openmp_thread`).

    Example:
        >>> list(ordered_map(lambda k: k, lambda x: x * x, 5, jobs=2))
        [0, 1, 4, 9, 16]
    """
    if jobs <= 1:
        single_openmp_thread()
        for k in range(count):
            yield finish(fetch(k))
        return
    pending: deque[Future[R]] = deque()
    pool = ThreadPoolExecutor(
        max_workers=jobs, thread_name_prefix="h5tocbors", initializer=single_openmp_thread
    )
    try:
        for k in range(count):
            pending.append(pool.submit(finish, fetch(k)))
            while pending and (len(pending) > 2 * jobs or pending[0].done()):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
