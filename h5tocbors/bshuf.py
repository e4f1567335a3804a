"""bitshuffle calls that let threads run side by side: the GIL released, one OpenMP thread.

bitshuffle's Python functions (`compress_lz4`, `decompress_lz4`, ...) hold the GIL while
they work; their only parallelism is OpenMP threads inside each call, which spin while they
wait and so starve a node where anything else runs. Here the same C functions of the same
library (the `bitshuffle.ext` module exports them) are called through ctypes, which
releases the GIL, from threads whose OpenMP team is one thread: h5tocbors' worker threads
then compress and decode frames in parallel, and spin nowhere. The bytes are those of
`bitshuffle.compress_lz4` (tested). Where the library does not export them, bitshuffle's
own functions are used.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re

import bitshuffle
import bitshuffle.ext
import numpy as np
import numpy.typing as npt

OPENMP_LIBRARY = re.compile(r"/lib[gi]?omp[^/]*\.so[^/]*$")
"""libgomp (GCC), libomp (LLVM), libiomp5 (Intel), as wheels bundle them (`libgomp-a3.so.1`)."""

_SIZE = ctypes.c_size_t


@functools.cache
def library() -> ctypes.CDLL | None:
    """bitshuffle's C functions, called without the GIL; None where they are not exported."""
    try:
        lib = ctypes.CDLL(bitshuffle.ext.__file__)
        for name in ("compress_lz4", "decompress_lz4", "decompress_zstd"):
            fn = getattr(lib, f"bshuf_{name}")
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, _SIZE, _SIZE, _SIZE]
            fn.restype = ctypes.c_int64
        lib.bshuf_compress_lz4_bound.argtypes = [_SIZE, _SIZE, _SIZE]
        lib.bshuf_compress_lz4_bound.restype = _SIZE
    except (OSError, AttributeError):
        return None
    return lib


def compress_lz4(frame: npt.NDArray[np.generic]) -> memoryview:
    """`bitshuffle.compress_lz4(frame)`, byte for byte, with the GIL released.

    Example:
        >>> frame = np.arange(1000, dtype=np.uint16)
        >>> bytes(compress_lz4(frame)) == bitshuffle.compress_lz4(frame).tobytes()
        True
    """
    lib = library()
    if lib is None or frame.size == 0 or not frame.flags.c_contiguous:
        return memoryview(bitshuffle.compress_lz4(frame))
    size, itemsize = frame.size, frame.dtype.itemsize
    out = np.empty(compress_bound(size, itemsize), np.uint8)
    count = lib.bshuf_compress_lz4(frame.ctypes.data, out.ctypes.data, size, itemsize, 0)
    if count < 0:
        raise RuntimeError(f"bitshuffle failed to compress (error {count})")
    return out.data[:count]


@functools.lru_cache(maxsize=64)
def compress_bound(size: int, itemsize: int) -> int:
    """The most bytes `compress_lz4` can make of `size` items (kept: every frame asks)."""
    lib = library()
    assert lib is not None
    bound: int = lib.bshuf_compress_lz4_bound(size, itemsize, 0)
    return bound


def decompress(
    stream: npt.NDArray[np.uint8],
    shape: tuple[int, ...],
    dtype: np.dtype,
    block: int,
    zstd: bool = False,
) -> npt.NDArray[np.generic]:
    """`bitshuffle.decompress_lz4` (or `_zstd`) of a stream whose framing was checked
    (`bitshuffle_framing_ok`: the C code trusts it), with the GIL released.

    Raises ValueError when the stream does not decode to exactly `shape`.
    """
    lib = library()
    if lib is None or not stream.flags.c_contiguous:
        python = bitshuffle.decompress_zstd if zstd else bitshuffle.decompress_lz4
        try:
            frame: npt.NDArray[np.generic] = python(stream, shape, dtype, block)
        except RuntimeError as e:  # bitshuffle's "Failed. Error code -91."
            raise ValueError(f"bitshuffle cannot decode the chunk ({e.args[0]})") from e
        return frame
    out = np.empty(shape, dtype)
    decode = lib.bshuf_decompress_zstd if zstd else lib.bshuf_decompress_lz4
    count = decode(stream.ctypes.data, out.ctypes.data, out.size, dtype.itemsize, block)
    if count < 0:
        raise ValueError(f"bitshuffle cannot decode the chunk (error {count})")
    if count != stream.size:
        raise ValueError(f"bitshuffle decoded {count} of the chunk's {stream.size} bytes")
    return out


def single_openmp_thread() -> None:
    """Run bitshuffle's OpenMP regions started from the calling thread on that thread alone.

    bitshuffle parallelises each call over OpenMP threads that spin while they wait for
    work (libgomp's default). h5tocbors runs one call per core on its own threads instead,
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
    """The OpenMP runtimes loaded into this process (bitshuffle's own libgomp)."""
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
