"""Where a case's time goes, timed inside this process: inflating a gzip chunk (zlib,
libdeflate, ISA-L) and reading stored frames (memory map or `pread`)."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import bitshuffle
import h5py
import numpy as np

from .runner import DATASET, MB


def inflate_timings(path: Path, repeats: int = 20) -> str:
    """Median ms to inflate one stored gzip chunk of `path` with zlib, libdeflate and ISA-L
    (in this process, one thread): why h5tocbors inflates with libdeflate."""
    import zlib

    import deflate

    with h5py.File(path, "r") as f:
        dset = f[DATASET]
        raw = bytes(dset.id.read_direct_chunk((0,) * dset.ndim)[1])
        size = int(np.prod(dset.chunks)) * dset.dtype.itemsize
    candidates = {"zlib": zlib.decompress, "libdeflate": lambda c: deflate.zlib_decompress(c, size)}
    try:
        from isal import isal_zlib

        candidates["ISA-L"] = lambda c: isal_zlib.decompress(c, bufsize=size)
    except ImportError:
        pass
    parts = []
    for name, inflate in candidates.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            inflate(raw)
            times.append(time.perf_counter() - start)
        parts.append(f"{name} {1e3 * statistics.median(times):.1f} ms")
    missing = "" if "ISA-L" in candidates else " (ISA-L: the `isal` package is not installed)"
    return (
        f"inflate of one stored chunk ({len(raw) / MB:.2f} MB -> {size / MB:.1f} MB), "
        f"median of {repeats}: " + ", ".join(parts) + missing
    )


def read_path_timings(path: Path, rounds: int = 5) -> str:
    """Seconds to turn every stored frame of `path` (unfiltered, one per chunk) into a
    bitshuffle-LZ4 payload on one thread, reading it through a memory map (h5tocbors before
    it used `pread`: pages dropped after use) or with `preadv`: into a new buffer each time,
    or into one buffer per thread, as h5tocbors does where no frame still uses it."""
    import mmap

    from h5tocbors.bshuf import single_openmp_thread
    from h5tocbors.buffers import FileRange, read_range

    single_openmp_thread()
    with h5py.File(path, "r") as f:
        dset = f[DATASET]
        ranges = [dset.id.get_chunk_info(i) for i in range(dset.id.get_num_chunks())]
        shape, dtype = dset.shape[1:], dset.dtype
    fd = os.open(path, os.O_RDONLY)
    try:
        mapped = mmap.mmap(fd, 0, prot=mmap.PROT_READ)

        def via_mmap(offset: int, size: int) -> None:
            view = memoryview(mapped)[offset : offset + size]
            bitshuffle.compress_lz4(np.frombuffer(view, dtype).reshape(shape))
            view.release()
            start = offset - offset % 65536
            mapped.madvise(
                mmap.MADV_DONTNEED, start, min(offset + size + 65536, len(mapped)) - start
            )

        def via_pread(offset: int, size: int) -> None:
            data = read_range(FileRange(fd, offset, size))
            bitshuffle.compress_lz4(np.frombuffer(data, dtype).reshape(shape))

        reused = np.empty(max(info.size for info in ranges), np.uint8)

        def via_pread_reused(offset: int, size: int) -> None:
            data = read_range(FileRange(fd, offset, size), reused.data)
            bitshuffle.compress_lz4(np.frombuffer(data, dtype).reshape(shape))

        ways = {
            "memory map (before)": via_mmap,
            "pread into a new buffer": via_pread,
            "pread into a reused buffer (now)": via_pread_reused,
        }
        times: dict[str, list[float]] = {name: [] for name in ways}
        for r in range(rounds):
            for name in list(ways)[r % 3 :] + list(ways)[: r % 3]:
                start = time.perf_counter()
                for info in ranges:
                    ways[name](info.byte_offset, info.size)
                times[name].append(time.perf_counter() - start)
        mapped.close()
    finally:
        os.close(fd)
    parts = [f"{name} {statistics.median(t):.2f} s" for name, t in times.items()]
    return (
        f"stored frame -> bitshuffle-LZ4 payload, {len(ranges)} frames on one thread, "
        f"median of {rounds}: " + ", ".join(parts)
    )


# ---------------------------------------------------------------------------- reporting
