"""The no-recompression fast path: pass bitshuffle-LZ4 chunks through as stored.

A chunk written by the HDF5 bitshuffle filter (id 32008) in LZ4 mode is a
12-byte header (uint64 big-endian decoded size, uint32 big-endian block size
in bytes) followed by exactly what `bitshuffle.compress_lz4` returns for the
frame, provided the block size is the default that `decompress_lz4` assumes.
"""

from __future__ import annotations

import struct
from math import prod

from .frames import FrameSeries

BITSHUFFLE_FILTER = 32008
BITSHUFFLE_LZ4 = 2
HEADER = struct.Struct(">QI")


def default_block_bytes(itemsize: int) -> int:
    """The block size, in bytes, that bitshuffle picks when asked for block size 0.

    Example:
        >>> default_block_bytes(4)
        8192
    """
    elements = max((8192 // itemsize) // 8 * 8, 128)
    return elements * itemsize


def passthrough_refusal(series: FrameSeries) -> str | None:
    """Why `series` cannot take the fast path, or None if it can.

    Example:
        >>> passthrough_refusal(FrameSeries.of(f["/entry/data"]))  # doctest: +SKIP
        'filters are gzip, not bitshuffle-LZ4 alone'
    """
    dset = series.dataset
    if dset.is_virtual:
        return "virtual dataset"
    if dset.chunks is None:
        return "not chunked"
    lead = len(dset.shape) - len(series.frame_shape)
    if dset.chunks != (1,) * lead + series.frame_shape:
        return f"chunks {dset.chunks} do not hold exactly one frame"
    if dset.dtype.byteorder == ">":
        return "big-endian data"
    dcpl = dset.id.get_create_plist()
    filters = [dcpl.get_filter(i) for i in range(dcpl.get_nfilters())]
    if len(filters) != 1 or filters[0][0] != BITSHUFFLE_FILTER:
        names = ", ".join(str(f[0]) for f in filters) or "none"
        return f"filters are {names}, not bitshuffle alone"
    values = filters[0][2]
    if len(values) < 5 or values[4] != BITSHUFFLE_LZ4:
        return "bitshuffle without LZ4 (e.g. zstd)"
    itemsize = dset.dtype.itemsize
    if values[3] not in (0, default_block_bytes(itemsize) // itemsize):
        return f"block size {values[3]} is not bitshuffle's default"
    return None


def read_stored_frame(series: FrameSeries, k: int) -> memoryview | None:
    """The k-th frame's stored bitshuffle-LZ4 stream without its header, or None.

    None means this chunk is not a default-block LZ4 stream of one whole frame
    (unwritten, filter skipped, other block size): read and compress it instead.
    """
    offset = series.position(k) + (0,) * len(series.frame_shape)
    try:
        mask, raw = series.dataset.id.read_direct_chunk(offset)
    except (OSError, KeyError, RuntimeError):
        return None
    if mask != 0 or len(raw) < HEADER.size:
        return None
    nbytes, block_bytes = HEADER.unpack_from(raw)
    itemsize = series.dtype.itemsize
    if nbytes != prod(series.frame_shape) * itemsize or block_bytes != default_block_bytes(
        itemsize
    ):
        return None
    return memoryview(raw)[HEADER.size :]
