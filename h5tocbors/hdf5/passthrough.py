"""The no-recompression fast path: payloads that are already stored in the input file.

A chunk written by the HDF5 bitshuffle filter (id 32008) in LZ4 mode is a 12-byte
header (uint64 big-endian decoded size, uint32 big-endian block size in bytes)
followed by exactly what `bitshuffle.compress_lz4` returns for the frame, provided
the block size is the default that `decompress_lz4` assumes. Likewise an unfiltered
little-endian frame is stored as its raw bytes, which are the `none` payload. Such
payloads are passed through: as a `FileRange` the kernel copies when the input's file
descriptor is given, else as the bytes `read_direct_chunk` returns.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..buffers import Buffer, nbytes, read_start, slice_of
from ..errors import option
from .filters import (
    BITSHUFFLE_FILTER,
    BITSHUFFLE_LZ4,
    bitshuffle_mode,
    describe_filters,
    filters,
    is_external,
)
from .frames import FrameSeries
from .locate import StoredFrames

HEADER = struct.Struct(">QI")


def default_block_bytes(itemsize: int) -> int:
    """The block size, in bytes, that bitshuffle picks when asked for block size 0.

    Example:
        >>> default_block_bytes(4)
        8192
    """
    elements = max((8192 // itemsize) // 8 * 8, 128)
    return elements * itemsize


def one_frame_per_chunk(series: FrameSeries) -> bool:
    """True when every chunk of the dataset holds exactly one whole frame."""
    chunks = series.dataset.chunks
    lead = series.dataset.ndim - len(series.frame_shape)
    return chunks is not None and chunks == (1,) * lead + series.frame_shape


def stored_whole(series: FrameSeries) -> bool:
    """True when each frame is stored whole on its own: one frame per chunk, or contiguous
    (frames on the leading axes)."""
    return series.layout.leading and (series.dataset.chunks is None or one_frame_per_chunk(series))


def passthrough_refusal(series: FrameSeries, compression: str = "bslz4") -> str | None:
    """Why `series` cannot take the fast path to `compression` payloads, or None if it can.

    Example:
        >>> passthrough_refusal(FrameSeries.of(f["/entry/data"]))  # doctest: +SKIP
        'filters are gzip, not bitshuffle alone'
    """
    dset = series.dataset
    if not series.layout.leading:
        return hyperslab_reason(series)
    if dset.is_virtual:
        return "virtual dataset"
    if is_external(dset):
        return "external raw data"
    if dset.dtype.byteorder == ">":
        return "big-endian data"
    if dset.chunks is None:  # contiguous frames are raw bytes: `none` payloads as they are
        return None if compression == "none" else "not chunked"
    if not one_frame_per_chunk(series):
        return f"chunks {dset.chunks} do not hold exactly one frame"
    pipeline = filters(dset)
    if compression == "none":
        return f"filters are {describe_filters(pipeline)}" if pipeline else None
    if len(pipeline) != 1 or pipeline[0][0] != BITSHUFFLE_FILTER:
        return f"filters are {describe_filters(pipeline)}, not bitshuffle alone"
    values = pipeline[0][1]
    if bitshuffle_mode(values) != BITSHUFFLE_LZ4:
        return "bitshuffle without LZ4 (e.g. zstd)"
    itemsize = dset.dtype.itemsize
    if values[3] not in (0, default_block_bytes(itemsize) // itemsize):
        return f"block size {values[3]} is not bitshuffle's default"
    return None


def hyperslab_reason(series: FrameSeries) -> str:
    """Why frames that are not on the leading axes are decoded: `frames along axis 2 (axes
    HWN), read with HDF5 hyperslabs`."""
    axes = series.layout.frame_axes
    along = ("axis " if len(axes) == 1 else "axes ") + ", ".join(map(str, axes))
    return f"frames along {along} ({option('axes', series.layout.axes)}), read with HDF5 hyperslabs"


@dataclass
class StoredPayloads:
    """The payloads of a series as stored: `stored(k)` is frame k's, or None to encode it.

    Use only when `passthrough_refusal(series, compression)` is None. With `fd`, the
    input file opened read-only, payloads are `FileRange`s; else bytes from HDF5.

    Example:
        >>> stored = StoredPayloads(StoredFrames(series, fd), "bslz4")  # doctest: +SKIP
        >>> stored(0)  # doctest: +SKIP
        FileRange(fd=5, offset=4548, size=38545)
    """

    frames: StoredFrames
    compression: str

    def __post_init__(self) -> None:
        itemsize = self.frames.series.dtype.itemsize
        self._header = (self.frames.frame_bytes, default_block_bytes(itemsize))
        self._skip = HEADER.size if self.compression == "bslz4" else 0

    def __call__(self, k: int) -> Buffer | None:
        stored = self.frames(k)
        if stored is None:
            return None
        if not self._skip:
            return stored if nbytes(stored) == self.frames.frame_bytes else None
        header = read_start(stored, HEADER.size)
        if len(header) < HEADER.size or HEADER.unpack(header) != self._header:
            return None  # another block size, or not one whole frame
        return slice_of(stored, HEADER.size)
