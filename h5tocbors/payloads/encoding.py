"""Turn the frames of a series into payloads: bitshuffle-LZ4 (`bslz4`) or raw (`none`)."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import h5py
import numpy as np
import numpy.typing as npt

from ..bshuf import compress_lz4
from ..buffers import Buffer, InputChanged, nbytes, read_range
from ..errors import H5ToCborsError
from ..hdf5.decode import Decode, chunk_decoder, decodes_in_place
from ..hdf5.frames import FrameSeries
from ..hdf5.index import check_unwritten
from ..hdf5.locate import Row, StoredFrames, StoredRows
from ..hdf5.passthrough import StoredPayloads, passthrough_refusal, stored_whole
from ..hdf5.series import ImageSeries
from . import Compression
from .pipeline import ordered_map

MAX_CHUNKS_PER_FRAME = 4096
"""More chunks per frame than this (tiny chunks): HDF5 reads the frames instead."""
BATCH_BYTES = 64 << 10
"""Frames are handed to a worker thread this many bytes of them at a time (small frames)."""
MAX_BATCH = 64
"""Frames handed to a worker thread at once at most."""
MAX_ROW_BYTES = 1 << 30
"""A decoded row (the chunks along the frame axis that hold a run of frames) larger than
this is left to HDF5, which decodes chunk by chunk."""


@dataclass(frozen=True)
class Payload:
    """One frame's bytes as they go into a capture, and whether they were passed through."""

    data: Buffer
    passthrough: bool


class RowWork:
    """A row's chunks decoded into one block, shared by the frames of the row.

    Each worker thread that needs the block claims the chunks no one has claimed yet and
    decodes them, then waits until every chunk is in: each stored chunk is decoded once,
    by as many threads as need it, and dropped with the last frame that uses it.

    Example:
        >>> work = RowWork(rows.row(rows.key(0)), decoder, dataset.dtype)  # doctest: +SKIP
        >>> work.block()[0].shape  # the first frame  # doctest: +SKIP
        (4, 4096)
    """

    def __init__(
        self, row: Row, decode: Decode, dtype: np.dtype, scratch: Scratch | None = None
    ) -> None:
        self.row = row
        self._scratch = scratch
        self._pieces = row.pieces or ()
        self._decode = decode
        self._dtype = dtype
        self._whole = len(self._pieces) == 1 and self._pieces[0].covers(row.shape)
        self._block: npt.NDArray[np.generic] | None = None
        self._claimed = self._done = 0
        self._error: BaseException | None = None
        self._cond = threading.Condition()

    def block(self) -> npt.NDArray[np.generic]:
        """The decoded block (the frames along the leading axes, then a frame)."""
        with self._cond:
            if self._block is None and not self._whole:
                self._block = np.empty(self.row.shape, self._dtype)
        while True:
            with self._cond:
                if self._claimed == len(self._pieces):
                    break
                i = self._claimed
                self._claimed += 1
            try:
                self._fill(i)
            except BaseException as e:
                self._error = self._error or e
            finally:
                with self._cond:
                    self._done += 1
                    self._cond.notify_all()
        with self._cond:
            self._cond.wait_for(lambda: self._done == len(self._pieces))
        if self._error is not None:
            raise self._error
        assert self._block is not None
        return self._block

    def _fill(self, i: int) -> None:
        piece = self._pieces[i]
        try:
            into = self._scratch.get(nbytes(piece.data)) if self._scratch else None
            chunk = self._decode(read_range(piece.data, into))[piece.take]
        except ValueError as e:
            if self._whole:
                raise
            origin = self.row.start + tuple(s.start for s in piece.put[len(self.row.start) :])
            raise ValueError(f"chunk at {list(origin)}: {e}") from e
        if self._whole:
            self._block = chunk
        else:
            assert self._block is not None
            self._block[piece.put] = chunk


class Scratch(threading.local):
    """A read buffer per thread, reused from chunk to chunk: only for stored bytes that are
    done with before the thread reads again (decoded into new memory, or compressed)."""

    buffer: npt.NDArray[np.uint8] | None = None

    def get(self, size: int) -> memoryview:
        """A buffer of `size` bytes, the same memory each time where it is large enough."""
        if self.buffer is None or self.buffer.size < size:
            self.buffer = np.empty(size, np.uint8)
        return self.buffer.data[:size]


@dataclass(frozen=True)
class RowFrame:
    """A frame to cut from a row's block, once a worker thread has it decoded."""

    work: RowWork
    index: tuple[int, ...]


@dataclass(frozen=True)
class Chunk:
    """A stored chunk that holds exactly one frame (or a contiguous frame), to decode."""

    data: Buffer


Fetched = Payload | Chunk | RowFrame | npt.NDArray[np.generic]


@dataclass
class FrameEncoder:
    """Encode a series frame by frame, passing stored payloads through where possible.

    With `input`, the file that holds the series opened read-only, passed-through payloads
    are file ranges the kernel copies, and stored chunks are read with `pread` on the worker
    threads, without HDF5; `input` is checked for changes once the last frame is done.
    Chunks that hold many frames are decoded once for all of them. With `jobs` > 1, frames
    are decoded and compressed on that many threads, in order; the payloads are the same
    as with one.

    Example:
        >>> enc = FrameEncoder(FrameSeries.of(f["/entry/data"]), "bslz4")  # doctest: +SKIP
        >>> enc.refusal is None  # the fast path applies  # doctest: +SKIP
        True
    """

    series: FrameSeries
    compression: Compression
    jobs: int = 1
    input: InputFile | None = None
    refusal: str | None = field(init=False)
    decoder: Decode | None = field(init=False)
    stored: StoredPayloads | None = field(init=False)
    rows: StoredRows | None = field(init=False)

    def __post_init__(self) -> None:
        series = self.series
        fd = self.fd
        check_unwritten(series.dataset, series.layout.frame_axes, len(series))
        self.refusal = passthrough_refusal(self.series, self.compression)
        self.decoder = chunk_decoder(self.series)
        read_whole = self.refusal is None or self.decoder is not None
        frames = StoredFrames(series, fd) if read_whole and stored_whole(series) else None
        self.stored = None
        if self.refusal is None:
            assert frames is not None  # the fast path takes frames stored whole only
            self.stored = StoredPayloads(frames, self.compression)
        # frames stored whole, one a chunk: decoded chunk by chunk, without rows
        self._frames = frames if self.decoder is not None else None
        rows = StoredRows(series, fd) if self.decoder is not None and frames is None else None
        row_bytes = rows.frames_per_row * self.series.frame_nbytes if rows else 0
        self.rows = (
            rows
            if rows and rows.chunks_per_frame <= MAX_CHUNKS_PER_FRAME and row_bytes <= MAX_ROW_BYTES
            else None
        )
        self._key: tuple[int, ...] | None = None
        self._work: RowWork | None = None
        # reuse read buffers unless a frame may still be a view of one when its thread reads
        # again: stored bytes decoded in place, and a row shared by frames or a raw payload
        alone = self._frames is not None or (
            self.rows is not None and self.rows.frames_per_row == 1
        )
        shared = decodes_in_place(self.series) and not (alone and self.compression != "none")
        self._scratch = None if shared else Scratch()

    @property
    def fd(self) -> int | None:
        """The input file's descriptor, where stored bytes are read from (None: through HDF5)."""
        return self.input.fd if self.input is not None else None

    def fetch(self, k: int) -> Fetched:
        """What the main thread reads for frame k: a stored payload, where to find the frame
        in a row of chunks, or the frame as HDF5 decodes it."""
        if self.stored is not None:
            stored = self.stored(k)
            if stored is not None:
                return Payload(stored, True)
        if self._frames is not None:
            chunk = self._frames(k)
            return self.series.read(k) if chunk is None else Chunk(chunk)
        if self.rows is not None and self.decoder is not None:
            key = self.rows.key(k)
            if key != self._key or self._work is None:
                self._key = key
                self._work = RowWork(
                    self.rows.row(key), self.decoder, self.series.dataset.dtype, self._scratch
                )
            if self._work.row.pieces is not None:
                return RowFrame(self._work, self.rows.index(k, self._work.row))
        return self.series.read(k)  # unwritten chunks give HDF5's fill value

    def finish(self, fetched: Fetched, k: int) -> Payload:
        """Decode and compress what `fetch` returned (thread-safe)."""
        if isinstance(fetched, Payload):
            return fetched
        if isinstance(fetched, (Chunk, RowFrame)):
            try:
                frame = self._decoded(fetched)
            except (ValueError, RuntimeError, TypeError, OSError) as e:
                raise H5ToCborsError(
                    f"frame {k} ({self.series.dataset.name}) failed to decode: {e}"
                ) from e
            return self.encode_array(np.ascontiguousarray(frame, dtype=self.series.dtype))
        return self.encode_array(fetched)

    def _decoded(self, fetched: Chunk | RowFrame) -> npt.NDArray[np.generic]:
        """The frame in a stored chunk, or in a row's block, decoded."""
        if isinstance(fetched, RowFrame):
            frame: npt.NDArray[np.generic] = fetched.work.block()[fetched.index]
            return frame
        assert self.decoder is not None
        into = self._scratch.get(nbytes(fetched.data)) if self._scratch else None
        return self.decoder(read_range(fetched.data, into)).reshape(self.series.frame_shape)

    def encode_array(self, frame: npt.NDArray[np.generic]) -> Payload:
        """The payload of a decoded frame."""
        if self.compression == "none":
            return Payload(frame.reshape(-1).view(np.uint8).data, False)
        return Payload(compress_lz4(frame), False)

    def __iter__(self) -> Iterator[Payload]:
        # small frames go to the threads many at a time, where each holds no more than its
        # own bytes (not a row of chunks that frames share)
        small = BATCH_BYTES // max(self.series.frame_nbytes, 1)
        batch = min(max(small, 1), MAX_BATCH) if self.rows is None else 1
        # stored payloads need no work: a hand-over to a thread per frame would cost more
        # than a frame that is not passed through (unwritten, another block size) saves
        jobs = 1 if self.stored is not None else self.jobs
        yield from ordered_map(
            lambda k: (k, self.fetch(k)),
            lambda item: self.finish(item[1], item[0]),
            len(self.series),
            jobs,
            batch,
        )
        self._key = self._work = None
        if self.input is not None:
            self.input.check()  # every frame read: the file must not have changed meanwhile


@dataclass
class SeriesEncoder:
    """The payloads of an image series, its datasets encoded one after the other: the data
    files of a DECTRIS master become one run of payloads. Each part has its own
    `FrameEncoder`, bound to the file its dataset is in (`InputFile.encoder`).

    Example:
        >>> images = open_images(f["/entry/data"])  # doctest: +SKIP
        >>> parts = [source.encoder(p, "bslz4") for p in images.parts]  # doctest: +SKIP
        >>> enc = SeriesEncoder(images, parts)  # doctest: +SKIP
        >>> sum(1 for _ in enc) == len(images)  # doctest: +SKIP
        True
    """

    series: ImageSeries
    parts: Sequence[FrameEncoder]

    @property
    def compression(self) -> Compression:
        """The payloads' compression (that of every part)."""
        return self.parts[0].compression

    @property
    def refusal(self) -> str | None:
        """Why some part cannot take the fast path, or None when every part can."""
        return next((p.refusal for p in self.parts if p.refusal is not None), None)

    def __iter__(self) -> Iterator[Payload]:
        for part in self.parts:
            try:
                yield from part
            except InputChanged:
                raise
            except H5ToCborsError as e:
                if len(self.parts) == 1:
                    raise
                raise H5ToCborsError(f"{part.series.dataset.file.filename}: {e}") from e


@dataclass(frozen=True)
class InputFile:
    """The input file as the encoders read it: opened read-only at the OS level (`fd`), for
    kernel copies and `pread`s of stored bytes; `jobs` threads encode. Datasets in files
    that the input links to (a DECTRIS master's data files) are read the same way, each
    file opened once (`linked`), when HDF5 has opened it already.

    `open` notes each file's size and modification time, and turns any failure after they
    change into `InputChanged`, which names the file: a file truncated or rewritten
    during a conversion is one clear error, not a crash or a decode error.

    Example:
        >>> with InputFile.open("run.h5", jobs=2) as source:  # doctest: +SKIP
        ...     enc = source.encoder(series, "bslz4")
    """

    fd: int | None = None
    jobs: int = 1
    name: str = "the input"
    state: tuple[int, int] | None = None
    linked: dict[tuple[int, int], InputFile] = field(default_factory=dict, compare=False)
    """Files behind the input's external links, by (device, inode), opened by `encoder`."""

    @classmethod
    @contextmanager
    def open(cls, path: str | os.PathLike[str], jobs: int = 1) -> Iterator[InputFile]:
        """The input at `path` opened read-only; failures after it changed name the change."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            raise H5ToCborsError(f"cannot open {path}: {e.strerror}") from e
        source: InputFile | None = None
        try:
            source = cls(fd, jobs, str(path), file_state(fd))
            try:
                yield source
            except Exception as e:
                changed = next((s for s in source.files() if s.changed()), None)
                if changed is not None:
                    raise InputChanged(changed.name) from e
                if isinstance(e, InputChanged):
                    raise InputChanged(source.name) from e
                raise
        finally:
            os.close(fd)
            for linked in source.linked.values() if source else ():
                if linked.fd is not None:
                    os.close(linked.fd)

    def files(self) -> list[InputFile]:
        """This file and the linked files opened so far."""
        return [self, *self.linked.values()]

    def changed(self) -> bool:
        """True when the file's size or modification time differ from when it was opened."""
        return self.fd is not None and file_state(self.fd) != self.state

    def check(self) -> None:
        """Raise `InputChanged` if the file changed since it was opened."""
        if self.changed():
            raise InputChanged(self.name)

    def encoder(self, series: FrameSeries, compression: Compression) -> FrameEncoder:
        """A `FrameEncoder` for `series`, reading stored bytes directly where it can: from
        this file, or from the linked file its dataset is in."""
        return FrameEncoder(
            series, compression, jobs=self.jobs, input=self.reading(series.dataset.file)
        )

    def reading(self, f: h5py.File) -> InputFile | None:
        """The open file that holds `f`'s bytes: this one, a linked one (opened now, once),
        or None (no file descriptor here, or `f` cannot be opened safely)."""
        if self.fd is None:
            return None
        if same_file(self.fd, f.filename):
            return self
        fd = open_beside(f)
        if fd is None:
            return None
        st = os.fstat(fd)
        known = self.linked.get((st.st_dev, st.st_ino))
        if known is not None:
            os.close(fd)
            return known
        opened = InputFile(fd, self.jobs, str(f.filename), file_state(fd))
        self.linked[st.st_dev, st.st_ino] = opened
        return opened


def open_beside(f: h5py.File) -> int | None:
    """The HDF5 file `f` opened read-only at the OS level, or None.

    The file is opened by the (real, checked) path HDF5 opened it by, without following a
    symlink there, and kept only if it is the very file HDF5 reads: a regular file with
    HDF5's own handle's device and inode. A file swapped in meanwhile is not read.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(f.filename, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and os.path.samestat(st, hdf5_file_stat(f)):
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def hdf5_file_stat(f: h5py.File) -> os.stat_result:
    """The status of the file HDF5 has open as `f`: by its own file handle (the `sec2`
    driver's), else by its name."""
    try:
        handle = f.id.get_vfd_handle()
    except (RuntimeError, OSError, ValueError, TypeError):
        handle = None
    if isinstance(handle, int) and f.driver == "sec2":
        return os.fstat(handle)
    return os.stat(f.filename)


def file_state(fd: int) -> tuple[int, int]:
    """The size and modification time (ns) of the open file `fd`."""
    st = os.fstat(fd)
    return st.st_size, st.st_mtime_ns


def same_file(fd: int, path: str) -> bool:
    """True when the open file `fd` is the file at `path`."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False
