"""Where each frame of a series is stored in the input file, to read it without HDF5's lock."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from math import prod

import h5py

from ..buffers import Buffer, FileRange
from ..errors import H5ToCborsError
from .chunkmap import ChunkMap
from .frames import FrameSeries
from .open import metadata_of


class StoredBytes:
    """The stored bytes of one dataset, found through HDF5's chunk index a window of chunks
    at a time (`chunkmap`; `descending`: mostly backwards; main thread only).

    With `fd`, the dataset's file opened read-only, they are `FileRange`s, checked to lie
    inside the file: a corrupt chunk index can point anywhere (past the end, beyond 2**63),
    and that is corrupt metadata, named with the dataset, not a read that fails later on a
    worker thread. Without `fd` (another file driver, or no file to read from), they are
    the bytes `read_direct_chunk` returns. Failures of HDF5's index (a bad checksum) are
    corrupt metadata too.

    Example:
        >>> StoredBytes(f["/entry/data"], fd).chunk((0, 0, 0))  # doctest: +SKIP
        FileRange(fd=5, offset=4536, size=38557)
    """

    def __init__(self, dset: h5py.Dataset, fd: int | None, descending: bool = False) -> None:
        self.name, self._id = dset.name, dset.id
        self.filename = dset.file.filename  # for each chunk's metadata_of: asking HDF5 costs
        self.fd = fd if dset.file.driver == "sec2" else None
        self._end = os.fstat(self.fd).st_size if self.fd is not None else 0
        with metadata_of(self.filename, self.name):
            self.contiguous = dset.chunks is None
            self.start: int | None = self._id.get_offset() if self.contiguous else None
            self._map = None if self.contiguous else ChunkMap(dset, self.filename, descending)

    def chunk(self, coord: tuple[int, ...]) -> Buffer | None:
        """The stored chunk at `coord`, or None when it is not stored as the filters say
        (unwritten, or a filter skipped)."""
        assert self._map is not None
        found = self._map.find(coord)
        if found is None:
            return None
        if self.fd is None:
            with metadata_of(self.filename, self.name):
                return memoryview(self._id.read_direct_chunk(coord)[1])
        # the offset counts the userblock too: it is from the start of the file
        return self.range(found[0], found[1], f"chunk {list(coord)}")

    def frame(self, index: int, nbytes: int) -> FileRange | None:
        """The `index`-th frame of `nbytes` of a contiguous dataset (C order over the frame
        axes), or None when there are none: unallocated (all fill value), or no file."""
        if self.start is None or self.fd is None:
            return None
        return self.range(self.start + index * nbytes, nbytes, "the data")

    def range(self, offset: int, size: int, what: str) -> FileRange:
        """`size` bytes at `offset` of the file, which must hold them."""
        assert self.fd is not None
        if offset + size > self._end:
            raise H5ToCborsError(
                f"corrupt HDF5 metadata in {self.filename} at {self.name}: {what} is "
                f"stored at bytes {offset}..{offset + size}, beyond the end of the file "
                f"({self._end} bytes)"
            )
        return FileRange(self.fd, offset, size)


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
        self._stored = StoredBytes(self.series.dataset, self.fd, self.series.indices.step < 0)
        self.frame_bytes = self.series.frame_nbytes
        self._zeros = (0,) * len(self.series.frame_shape)

    def __call__(self, k: int) -> Buffer | None:
        stored = self._stored
        if not stored.contiguous:
            return stored.chunk(self.series.position(k) + self._zeros)
        return stored.frame(self.series.indices[k], self.frame_bytes)


@dataclass(frozen=True)
class Piece:
    """One stored chunk of a row: its bytes, the part of the decoded chunk that lies in the
    dataset (`take`), and where that part goes in the row's block (`put`)."""

    data: Buffer
    take: tuple[slice, ...]
    put: tuple[slice, ...]

    def covers(self, shape: tuple[int, ...]) -> bool:
        """True when this piece alone fills a block of `shape`."""
        return all(s.start == 0 and s.stop == n for s, n in zip(self.put, shape))


@dataclass(frozen=True)
class Row:
    """The frames that share their chunks: a block of `shape` (the frames along the leading
    axes, then one frame) whose first frame is at dataset index `start`, and the chunks
    that hold it; `pieces` is None when some chunk is not stored as the filters say
    (unwritten, or a filter skipped), and HDF5 reads those frames."""

    start: tuple[int, ...]
    shape: tuple[int, ...]
    pieces: tuple[Piece, ...] | None


class StoredRows:
    """Where the chunks of each frame are stored, a row of chunks along the frame axes at
    a time: frames packed many per chunk (`(70, 1, 256)` chunks of `(N, 4, 4096)` spectra),
    one per chunk, or split over several.

    `key(k)` names frame k's row; `row(key)` finds its chunks (HDF5 calls: main thread);
    a contiguous dataset is a row of one frame per frame. With `fd` the chunks are
    `FileRange`s, read on any thread; else the bytes `read_direct_chunk` returns.

    Example:
        >>> rows = StoredRows(series, fd)  # doctest: +SKIP
        >>> rows.row(rows.key(0)).shape  # 70 spectra of 4 channels  # doctest: +SKIP
        (70, 4, 4096)
    """

    def __init__(self, series: FrameSeries, fd: int | None = None) -> None:
        self.series = series
        dset = series.dataset
        self._stored = StoredBytes(dset, fd, series.indices.step < 0)
        self._lead = series.lead_shape
        frame = series.frame_shape
        self.chunks = series.chunk_shape
        self._frame_chunks = self.chunks[len(self._lead) :]
        self._origins = list(
            itertools.product(*(range(0, n, max(c, 1)) for n, c in zip(frame, self._frame_chunks)))
        )

    @property
    def chunks_per_frame(self) -> int:
        """How many chunks hold one frame."""
        return len(self._origins)

    @property
    def frames_per_row(self) -> int:
        """How many frames a row holds (at most: fewer at the end of the dataset)."""
        return prod(self.chunks[: len(self._lead)])

    def key(self, k: int) -> tuple[int, ...]:
        """The row of the k-th frame of the series: its chunk index along the leading axes."""
        lead = self.chunks[: len(self._lead)]
        return tuple(p // c for p, c in zip(self.series.position(k), lead))

    def index(self, k: int, row: Row) -> tuple[int, ...]:
        """Where the k-th frame of the series lies in its row's block."""
        return tuple(p - s for p, s in zip(self.series.position(k), row.start))

    def row(self, key: tuple[int, ...]) -> Row:
        """The row `key`: its block's place and shape, and its stored chunks."""
        lead = self.chunks[: len(self._lead)]
        start = tuple(i * c for i, c in zip(key, lead))
        extents = tuple(min(c, n - s) for c, n, s in zip(lead, self._lead, start))
        frame = self.series.frame_shape
        shape = extents + frame
        if self._stored.contiguous:
            return Row(start, shape, self._contiguous_piece(start, shape))
        pieces = []
        for origin in self._origins:
            data = self._stored.chunk(start + origin)
            if data is None:
                return Row(start, shape, None)
            span = tuple(min(c, n - o) for c, n, o in zip(self._frame_chunks, frame, origin))
            whole = tuple(slice(0, e) for e in extents)
            pieces.append(
                Piece(
                    data,
                    whole + tuple(slice(0, s) for s in span),
                    whole + tuple(slice(o, o + s) for o, s in zip(origin, span)),
                )
            )
        return Row(start, shape, tuple(pieces))

    def _contiguous_piece(
        self, start: tuple[int, ...], shape: tuple[int, ...]
    ) -> tuple[Piece, ...] | None:
        index = 0
        for p, n in zip(start, self._lead):  # C order over the leading axes
            index = index * n + p
        data = self._stored.frame(index, self.series.frame_nbytes)
        if data is None:
            return None
        whole = tuple(slice(0, n) for n in shape)
        return (Piece(data, whole, whole),)
