"""Decode stored chunks outside HDF5, so that many chunks decode at once on worker threads.

h5py serialises every HDF5 call, filters included. For the common detector filters
(deflate, shuffle, zstd, bitshuffle), reading the raw chunk and decoding it here on a
worker thread uses every core: libdeflate, zstd and bitshuffle (called through
`h5tocbors.bshuf`) release the GIL. Other filters are left to HDF5.

Decoding here also checks more than HDF5's filters do: the zstd filter of hdf5plugin
returns whatever a damaged frame decodes to, sizes unchecked (even bytes it never wrote);
here a chunk must decode to exactly its size, from one whole zstd frame whose checksum
matches where it has one, and deflate streams must match their Adler-32 checksum.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from math import prod

import numpy as np
import numpy.typing as npt

from ..bshuf import decompress
from .filters import (
    BITSHUFFLE_FILTER,
    BITSHUFFLE_LZ4,
    BITSHUFFLE_ZSTD,
    DEFLATE,
    SHUFFLE,
    ZSTD,
    bitshuffle_mode,
    filters,
    is_external,
)
from .frames import FrameSeries
from .passthrough import HEADER

Decode = Callable[[bytes | memoryview], npt.NDArray[np.generic]]
"""Stored chunk -> the chunk's array (chunk shape, stored dtype); ValueError if it is damaged."""

Bytes = bytes | bytearray | memoryview


def bitshuffle_framing_ok(stream: memoryview, nelems: int, itemsize: int, block: int) -> bool:
    """True when `stream` is framed as bitshuffle frames `nelems` elements in blocks of `block`.

    Each block is a 4-byte big-endian length and that many compressed bytes; the last
    `nelems % 8` elements follow raw. bitshuffle trusts these lengths (a corrupt one
    makes it read out of bounds and crash the process), so they are checked first.

    Example:
        >>> import bitshuffle, numpy as np
        >>> s = bitshuffle.compress_lz4(np.arange(1000, dtype=np.uint16))
        >>> bitshuffle_framing_ok(memoryview(s), 1000, 2, 4096)
        True
    """
    if block <= 0 or block % 8:
        return False
    tail = nelems % block
    blocks = nelems // block + (1 if tail - tail % 8 else 0)
    pos, end = 0, len(stream)
    for _ in range(blocks):
        if pos + 4 > end:
            return False
        pos += 4 + int.from_bytes(stream[pos : pos + 4], "big")
        if pos > end:
            return False
    return end - pos == (nelems % 8) * itemsize


def inflate(data: Bytes, size: int) -> Bytes:
    """A zlib stream (HDF5's deflate filter) inflated by libdeflate: `size` bytes, checksum
    checked.

    Example:
        >>> import zlib
        >>> bytes(inflate(zlib.compress(b"abc" * 10), 30)[:6])
        b'abcabc'
    """
    import deflate  # imported by the first chunk that needs it

    try:
        out: bytearray = deflate.zlib_decompress(data, size)
    except deflate.DeflateError as e:
        raise ValueError("the deflate stream is damaged (libdeflate cannot inflate it)") from e
    if len(out) != size:
        raise ValueError(f"the deflate stream holds {len(out)} bytes, not {size}")
    return out


_zstd = threading.local()


def unzstd(data: Bytes, size: int) -> Bytes:
    """One whole zstd frame (HDF5 filter 32015) decoded to exactly `size` bytes; its checksum,
    where the frame has one, checked.

    Example:
        >>> import zstandard
        >>> unzstd(zstandard.ZstdCompressor().compress(b"abc" * 10), 30)[:6]
        b'abcabc'
    """
    import zstandard  # imported by the first chunk that needs it

    decompressor = getattr(_zstd, "decompressor", None)
    if decompressor is None:  # one per thread: a decompressor is not thread-safe
        decompressor = _zstd.decompressor = zstandard.ZstdDecompressor()
    try:
        declared = zstandard.get_frame_parameters(data).content_size
        if declared not in (size, zstandard.CONTENTSIZE_UNKNOWN):
            raise ValueError(f"the zstd frame says it holds {declared} bytes, not {size}")
        out: bytes = decompressor.decompress(data, max_output_size=size, allow_extra_data=False)
    except zstandard.ZstdError as e:
        raise ValueError(f"the zstd frame is damaged ({e})") from e
    if len(out) != size:
        raise ValueError(f"the zstd frame holds {len(out)} bytes, not {size}")
    return out


def unshuffle(data: Bytes, itemsize: int) -> Bytes:
    """Undo HDF5's byte shuffle: bytes grouped by their place in each element, back in order."""
    if itemsize == 1:
        return data
    return np.frombuffer(data, np.uint8).reshape(itemsize, -1).T.copy().reshape(-1).data


def pipeline_decoder(codes: list[int], shape: tuple[int, ...], dtype: np.dtype) -> Decode | None:
    """A decoder for chunks written through `codes` (deflate, zstd, shuffle in any order), or
    None when another filter is in the pipeline."""
    if any(code not in (DEFLATE, ZSTD, SHUFFLE) for code in codes):
        return None
    size = prod(shape) * dtype.itemsize

    def decode(raw: bytes | memoryview) -> npt.NDArray[np.generic]:
        data: Bytes = raw
        for code in reversed(codes):
            if code == DEFLATE:
                data = inflate(data, size)
            elif code == ZSTD:
                data = unzstd(data, size)
            else:
                data = unshuffle(sized(data, size), dtype.itemsize)
        chunk: npt.NDArray[np.generic] = (
            np.frombuffer(sized(data, size), np.uint8).view(dtype).reshape(shape)
        )
        return chunk

    return decode


def sized(data: Bytes, size: int) -> Bytes:
    """`data`, which must be `size` bytes long."""
    if len(data) != size:
        raise ValueError(f"the chunk holds {len(data)} bytes, not {size}")
    return data


def bitshuffle_decoder(
    values: tuple[int, ...], shape: tuple[int, ...], dtype: np.dtype
) -> Decode | None:
    """A decoder for chunks of the HDF5 bitshuffle filter with client values `values`."""
    mode = bitshuffle_mode(values)
    if mode not in (BITSHUFFLE_LZ4, BITSHUFFLE_ZSTD):
        return None
    zstd = mode == BITSHUFFLE_ZSTD
    nelems = prod(shape)

    def decode(raw: bytes | memoryview) -> npt.NDArray[np.generic]:
        size, block_bytes = HEADER.unpack_from(raw)
        block = block_bytes // dtype.itemsize
        stream = memoryview(raw)[HEADER.size :]
        if size != nelems * dtype.itemsize or not bitshuffle_framing_ok(
            stream, nelems, dtype.itemsize, block
        ):
            raise ValueError("the chunk is not a bitshuffle stream of its size")
        return decompress(np.frombuffer(stream, np.uint8), shape, dtype, block, zstd)

    return decode


def decodes_in_place(series: FrameSeries) -> bool:
    """True when a decoded chunk may be a view of the stored bytes given to the decoder (no
    filter that writes new memory: unfiltered data, or a byte shuffle of 1-byte items)."""
    dset = series.dataset
    codes = [code for code, _ in filters(dset)] if dset.chunks is not None else []
    copying = (DEFLATE, ZSTD, BITSHUFFLE_FILTER) + ((SHUFFLE,) if dset.dtype.itemsize > 1 else ())
    return not any(code in copying for code in codes)


def chunk_decoder(series: FrameSeries) -> Decode | None:
    """A function that decodes one stored chunk of `series` (one frame's bytes when the
    dataset is contiguous) into an array of the chunk's shape and stored dtype, or None.

    None when a filter is not one this module decodes (then HDF5 decodes), for virtual
    and external datasets, and for frames that are not on the leading axes.

    Example:
        >>> decode = chunk_decoder(FrameSeries.of(f["/entry/gzip_data"]))  # doctest: +SKIP
        >>> decode(f["/entry/gzip_data"].id.read_direct_chunk((0, 0, 0))[1]).shape  # doctest: +SKIP
        (1, 195, 487)
    """
    dset = series.dataset
    if dset.is_virtual or is_external(dset) or not series.layout.leading:
        return None
    shape, stored = series.chunk_shape, dset.dtype
    pipeline = filters(dset) if dset.chunks is not None else []
    if [code for code, _ in pipeline] == [BITSHUFFLE_FILTER]:
        return bitshuffle_decoder(pipeline[0][1], shape, stored)
    return pipeline_decoder([code for code, _ in pipeline], shape, stored)
