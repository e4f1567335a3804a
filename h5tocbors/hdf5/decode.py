"""Decode stored chunks outside HDF5, so that many frames decode at once on worker threads.

h5py serialises every HDF5 call, filters included. For the common detector filters
(deflate, shuffle, bitshuffle), reading the raw chunk in the main thread and
decoding it here on a worker thread (zlib and bitshuffle release the GIL) uses every
core. Other filters are left to HDF5.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from math import prod

import bitshuffle
import numpy as np
import numpy.typing as npt

from ..buffers import Buffer
from .filters import BITSHUFFLE_FILTER, filters, is_external
from .frames import FrameSeries
from .passthrough import HEADER, one_frame_per_chunk

DEFLATE, SHUFFLE = 1, 2
BITSHUFFLE_DECODERS = {2: bitshuffle.decompress_lz4, 3: bitshuffle.decompress_zstd}

Decode = Callable[[bytes | memoryview], npt.NDArray[np.generic]]


@dataclass(frozen=True)
class RawChunk:
    """A chunk as stored (or where it is stored), to be read and decoded on a worker thread."""

    data: Buffer


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


def chunk_decoder(series: FrameSeries) -> Decode | None:
    """A function that decodes one stored chunk of `series` into a frame, or None.

    None when the chunks do not hold one frame each, or a filter is not one this
    module decodes; then HDF5 decodes.

    Example:
        >>> decode = chunk_decoder(FrameSeries.of(f["/entry/gzip_data"]))  # doctest: +SKIP
        >>> decode(f["/entry/gzip_data"].id.read_direct_chunk((0, 0, 0))[1]).shape  # doctest: +SKIP
        (195, 487)
    """
    dset = series.dataset
    if (
        dset.is_virtual
        or is_external(dset)
        or not (dset.chunks is None or one_frame_per_chunk(series))
    ):
        return None
    pipeline = filters(dset)
    codes = [code for code, _ in pipeline]
    shape, stored = series.frame_shape, dset.dtype
    if codes in ([], [DEFLATE], [SHUFFLE], [SHUFFLE, DEFLATE]):
        inflate = DEFLATE in codes
        unshuffle = SHUFFLE in codes and stored.itemsize > 1

        def decode(raw: bytes | memoryview) -> npt.NDArray[np.generic]:
            data = zlib.decompress(raw) if inflate else raw
            flat = np.frombuffer(data, np.uint8)
            if unshuffle:
                flat = flat.reshape(stored.itemsize, -1).T.copy()
            frame: npt.NDArray[np.generic] = flat.view(stored).reshape(shape)
            return frame

        return decode
    if codes == [BITSHUFFLE_FILTER]:
        values = pipeline[0][1]
        bs_decode = BITSHUFFLE_DECODERS.get(values[4] if len(values) > 4 else 0)
        if bs_decode is None:
            return None

        def decode_bitshuffle(raw: bytes | memoryview) -> npt.NDArray[np.generic]:
            size, block_bytes = HEADER.unpack_from(raw)
            block = block_bytes // stored.itemsize
            nelems = prod(shape)
            stream = memoryview(raw)[HEADER.size :]
            if size != nelems * stored.itemsize or not bitshuffle_framing_ok(
                stream, nelems, stored.itemsize, block
            ):
                raise ValueError("the chunk is not a bitshuffle stream of one frame")
            frame: npt.NDArray[np.generic] = bs_decode(
                np.frombuffer(stream, np.uint8), shape, stored, block
            )
            return frame

        return decode_bitshuffle
    return None
