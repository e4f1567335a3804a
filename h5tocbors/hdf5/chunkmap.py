"""Where a dataset's chunks are stored, listed a window of chunks at a time.

HDF5 finds one chunk by its coordinates (`get_chunk_info_by_coord`) by walking the whole
chunk index, on every index type: a conversion asking chunk by chunk took time quadratic
in the chunks (7 s for 10,000 chunks of 2 bytes). One walk (`chunk_iter`, about a
microsecond a chunk) lists a window of up to `WINDOW_CHUNKS` chunks instead, in C order
over the chunk grid; a conversion walks the index once per window it reaches (once for
datasets of up to a million chunks), and memory stays at 16 bytes a chunk of one window.
"""

from __future__ import annotations

from math import prod

import h5py
import numpy as np

from .open import metadata_of

WINDOW_CHUNKS = 1 << 20
"""Chunks listed per walk of the chunk index at most (16 MB of table)."""
ABSENT = (1 << 64) - 1
"""A chunk that is not stored as the filters say: unwritten, or a filter skipped."""


class ChunkMap:
    """The stored chunks of `dset` (chunked, opened in `filename`): `find(coord)` gives the
    (file offset, size) of the chunk at `coord` (its first element), or None when it is not
    stored as the filters say. Main thread only (it calls HDF5).

    A chunk the index lists outside the dataset's shape is left out (`index.check_chunks`
    refuses such a dataset before); one that is left out is read by HDF5 instead.

    Example:
        >>> ChunkMap(f["/entry/data"], "run.h5").find((7, 0, 0))  # doctest: +SKIP
        (48121, 38557)
    """

    def __init__(self, dset: h5py.Dataset, filename: str, window: int = WINDOW_CHUNKS) -> None:
        self._id, self._name, self._filename = dset.id, dset.name, filename
        chunks = dset.chunks
        assert chunks is not None
        self._chunks: tuple[int, ...] = chunks
        self._grid = tuple(-(-n // c) for n, c in zip(dset.shape, chunks))
        self._strides = tuple(prod(self._grid[i + 1 :]) for i in range(len(self._grid)))
        # whole rows of chunks (the chunks of one index along the first axes) per window
        row = next((s for s in self._strides if s <= window), 1)
        self.span = max(window // row, 1) * row
        self._lo = self._hi = 0
        self._offsets = np.empty(0, np.uint64)
        self._sizes = np.empty(0, np.uint64)

    def find(self, coord: tuple[int, ...]) -> tuple[int, int] | None:
        """Where the chunk at `coord` is stored: (offset in the file, size), or None."""
        index = 0
        for o, c, s in zip(coord, self._chunks, self._strides):
            index += o // c * s
        if not self._lo <= index < self._hi:
            self._load(index)
        offset = int(self._offsets[index - self._lo])
        if offset == ABSENT:
            return None
        return offset, int(self._sizes[index - self._lo])

    def _load(self, index: int) -> None:
        """List the window of chunks that holds the `index`-th chunk of the grid."""
        lo = index - index % self.span
        hi = min(lo + self.span, prod(self._grid))
        offsets = np.full(max(hi - lo, 0), ABSENT, np.uint64)
        sizes = np.zeros(max(hi - lo, 0), np.uint64)
        chunks, grid, strides = self._chunks, self._grid, self._strides

        def visit(info: h5py.h5d.StoreInfo) -> None:
            at = 0
            for o, c, n, s in zip(info.chunk_offset, chunks, grid, strides):
                k, r = divmod(o, c)
                if r or k >= n:
                    return  # outside the shape: refused by check_chunks, or read by HDF5
                at += k * s
            if lo <= at < hi and info.byte_offset is not None and info.filter_mask == 0:
                offsets[at - lo] = info.byte_offset
                sizes[at - lo] = info.size

        with metadata_of(self._filename, self._name):
            self._id.chunk_iter(visit)
        self._offsets, self._sizes, self._lo, self._hi = offsets, sizes, lo, hi
