"""Where each frame of a series is stored in the input file, to read it without HDF5's lock."""

from __future__ import annotations

import contextlib
import mmap
import os
from dataclasses import dataclass
from math import prod

from ..buffers import Buffer, FileRange, read_range
from .frames import FrameSeries


@dataclass
class StoredFrames:
    """`stored(k)`: the bytes that hold frame k as stored (its chunk, or its slice of a
    contiguous dataset), or None when there are none (unwritten, filter skipped).

    With `fd`, the input file opened read-only, they are `FileRange`s, read later on any
    thread with `read_range`; else the bytes `read_direct_chunk` returns. Needs one frame
    per chunk (or contiguous storage).

    Example:
        >>> StoredFrames(series, fd)(0)  # doctest: +SKIP
        FileRange(fd=5, offset=4536, size=38557)
    """

    series: FrameSeries
    fd: int | None = None

    def __post_init__(self) -> None:
        dset = self.series.dataset
        self._id = dset.id
        self._fd = self.fd if dset.file.driver == "sec2" else None
        self.frame_bytes = prod(self.series.frame_shape) * self.series.dtype.itemsize
        self._chunked = dset.chunks is not None
        self._start = None if self._chunked else dset.id.get_offset()
        self._zeros = (0,) * len(self.series.frame_shape)

    def __call__(self, k: int) -> Buffer | None:
        if not self._chunked:
            if self._start is None or self._fd is None:
                return None  # unallocated (all fill value), or no file to read from
            offset = self._start + self.series.indices[k] * self.frame_bytes  # from file start
            return FileRange(self._fd, offset, self.frame_bytes)
        position = self.series.position(k) + self._zeros
        info = self._id.get_chunk_info_by_coord(position)
        if info.byte_offset is None or info.filter_mask != 0:
            return None
        if self._fd is None:
            return memoryview(self._id.read_direct_chunk(position)[1])
        return FileRange(self._fd, info.byte_offset, info.size)  # counts the userblock too


FAULT_AROUND = max(65536, mmap.PAGESIZE)


class InputMap:
    """The input file mapped read-only: stored bytes read with no copy on any thread.

    Pages are handed back after use (`release`), so the mapping does not add the file to
    the process's resident memory.

    Example:
        >>> with InputMap(fd) as m:  # doctest: +SKIP
        ...     m.read(FileRange(fd, 4536, 38557)).nbytes
        38557
    """

    def __init__(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        self._map = mmap.mmap(fd, size, prot=mmap.PROT_READ) if size else None

    def read(self, buf: Buffer) -> bytes | memoryview:
        """The bytes of a `FileRange` (a view of the mapping, else `pread`); others as given."""
        if not isinstance(buf, FileRange):
            return buf
        if self._map is None or buf.offset + buf.size > len(self._map):
            return read_range(buf)
        return memoryview(self._map)[buf.offset : buf.offset + buf.size]

    def release(self, buf: Buffer) -> None:
        """Drop the pages of a range from this process (they stay in the page cache)."""
        if self._map is None or not isinstance(buf, FileRange):
            return
        # the kernel maps pages in 64 KiB windows around a fault: drop those windows whole
        start = buf.offset - buf.offset % FAULT_AROUND
        end = min(buf.offset + buf.size + FAULT_AROUND, len(self._map))
        if end > start:
            self._map.madvise(mmap.MADV_DONTNEED, start, end - start)

    def __enter__(self) -> InputMap:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._map is not None:
            with contextlib.suppress(BufferError):  # a view still alive: the GC closes it
                self._map.close()
