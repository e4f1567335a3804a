"""Overlap reading with decoding and compressing: an ordered map over a bounded thread pool."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from ..bshuf import single_openmp_thread

if TYPE_CHECKING:
    from concurrent.futures import Future

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    fetch: Callable[[int], T],
    finish: Callable[[T], R],
    count: int,
    jobs: int = 1,
    batch: int = 1,
) -> Iterator[R]:
    """`finish(fetch(k))` for k in range(count), in order, with `finish` on `jobs` threads.

    `fetch` runs in the calling thread (h5py serialises HDF5 calls anyway); `finish` is the
    work that releases the GIL (inflate, bitshuffle). A thread takes `batch` items at a
    time (small frames: a hand-over per frame would cost more than its work). At most
    `2 * jobs + 1` batches are in flight, so memory is bounded whatever `count` is.
    `jobs <= 1` runs serially; the results are the same either way. bitshuffle runs
    single-threaded in every thread that calls `finish` (`single_openmp_thread`).

    Example:
        >>> list(ordered_map(lambda k: k, lambda x: x * x, 5, jobs=2, batch=2))
        [0, 1, 4, 9, 16]
    """
    if jobs <= 1:
        single_openmp_thread()
        for k in range(count):
            yield finish(fetch(k))
        return

    def finish_all(items: list[T]) -> list[R]:
        return [finish(item) for item in items]

    from concurrent.futures import ThreadPoolExecutor  # not needed by one job

    pending: deque[Future[list[R]]] = deque()
    pool = ThreadPoolExecutor(
        max_workers=jobs, thread_name_prefix="h5tocbors", initializer=single_openmp_thread
    )
    step = max(batch, 1)
    try:
        for start in range(0, count, step):
            items = [fetch(k) for k in range(start, min(start + step, count))]
            pending.append(pool.submit(finish_all, items))
            while pending and (len(pending) > 2 * jobs or pending[0].done()):
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
