"""Turn the frames of a series into payloads: bitshuffle-LZ4 (`bslz4`) or raw (`none`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from zlib import error as zlib_error

import bitshuffle
import numpy as np
import numpy.typing as npt

from ..buffers import Buffer, read_range
from ..errors import H5ToCborsError
from ..hdf5.decode import Decode, RawChunk, chunk_decoder
from ..hdf5.frames import FrameSeries
from ..hdf5.locate import InputMap, StoredFrames
from ..hdf5.passthrough import StoredPayloads, passthrough_refusal
from ..protocols import Compression
from .pipeline import ordered_map


@dataclass(frozen=True)
class Payload:
    """One frame's bytes as they go into a capture, and whether they were passed through."""

    data: Buffer
    passthrough: bool


Fetched = Payload | RawChunk | npt.NDArray[np.generic]


@dataclass
class FrameEncoder:
    """Encode a series frame by frame, passing stored payloads through where possible.

    With `fd`, the input file opened read-only, passed-through payloads are file ranges
    the kernel copies, and stored chunks are read from `mapped` without HDF5. With
    `jobs` > 1, frames are decoded and compressed on that many threads, in order; the
    payloads are the same as with one.

    Example:
        >>> enc = FrameEncoder(FrameSeries.of(f["/entry/data"]), "bslz4")  # doctest: +SKIP
        >>> enc.refusal is None  # the fast path applies  # doctest: +SKIP
        True
    """

    series: FrameSeries
    compression: Compression
    fd: int | None = None
    jobs: int = 1
    mapped: InputMap | None = None
    refusal: str | None = field(init=False)
    decoder: Decode | None = field(init=False)
    located: StoredFrames | None = field(init=False)
    stored: StoredPayloads | None = field(init=False)

    def __post_init__(self) -> None:
        self.refusal = passthrough_refusal(self.series, self.compression)
        self.decoder = chunk_decoder(self.series)
        located = self.refusal is None or self.decoder is not None
        self.located = StoredFrames(self.series, self.fd) if located else None
        self.stored = (
            StoredPayloads(self.located, self.compression)
            if self.refusal is None and self.located is not None
            else None
        )

    def fetch(self, k: int) -> Fetched:
        """What the main thread reads for frame k: a stored payload, a raw chunk, or the frame."""
        if self.stored is not None:
            stored = self.stored(k)
            if stored is not None:
                return Payload(stored, True)
        if self.decoder is not None and self.located is not None:
            raw = self.located(k)  # a file range is read on the worker thread
            if raw is not None:
                return RawChunk(raw)
        return self.series.read(k)  # unwritten chunks give HDF5's fill value

    def finish(self, fetched: Fetched, k: int) -> Payload:
        """Decode and compress what `fetch` returned (thread-safe)."""
        if isinstance(fetched, Payload):
            return fetched
        if isinstance(fetched, RawChunk):
            assert self.decoder is not None
            try:
                raw = self.mapped.read(fetched.data) if self.mapped else read_range(fetched.data)
                frame = self.decoder(raw)
            except (ValueError, RuntimeError, TypeError, OSError, zlib_error) as e:
                raise H5ToCborsError(
                    f"frame {k} ({self.series.dataset.name}) failed to decode: {e}"
                ) from e
            payload = self.encode_array(np.ascontiguousarray(frame, dtype=self.series.dtype))
            if self.mapped is not None:
                self.mapped.release(fetched.data)
            return payload
        return self.encode_array(fetched)

    def encode_array(self, frame: npt.NDArray[np.generic]) -> Payload:
        """The payload of a decoded frame."""
        if self.compression == "none":
            return Payload(frame.reshape(-1).view(np.uint8).data, False)
        return Payload(memoryview(bitshuffle.compress_lz4(frame)), False)

    def __iter__(self) -> Iterator[Payload]:
        return ordered_map(
            lambda k: (k, self.fetch(k)),
            lambda item: self.finish(item[1], item[0]),
            len(self.series),
            self.jobs,
        )


@dataclass(frozen=True)
class InputFile:
    """The input file as the encoders read it: opened read-only at the OS level (`fd`, for
    kernel copies) and `mapped`; `jobs` threads encode. Both serve only datasets stored in
    that file, not those behind an external link.

    Example:
        >>> enc = InputFile(fd, mapped, jobs=2).encoder(series, "bslz4")  # doctest: +SKIP
    """

    fd: int | None = None
    mapped: InputMap | None = None
    jobs: int = 1

    def encoder(self, series: FrameSeries, compression: Compression) -> FrameEncoder:
        """A `FrameEncoder` for `series`, reading stored bytes directly where it can."""
        here = self.fd is not None and same_file(self.fd, series.dataset.file.filename)
        return FrameEncoder(
            series,
            compression,
            fd=self.fd if here else None,
            jobs=self.jobs,
            mapped=self.mapped if here else None,
        )


def same_file(fd: int, path: str) -> bool:
    """True when the open file `fd` is the file at `path`."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False
