"""Where a dataset's chunks are stored, listed a window of chunks at a time.

HDF5 finds one chunk by its coordinates (`get_chunk_info_by_coord`) by walking the whole
chunk index, on every index type: a conversion asking chunk by chunk took time quadratic
in the chunks (5.5 s for 10,000 chunks of 2 bytes). One walk (`chunk_iter`, about a
microsecond a chunk) lists a window of up to `WINDOW_CHUNKS` stored chunks instead: those
from the chunk asked for on, in C order over the chunk grid (or up to it, for frames taken
backwards). A conversion walks the index once per window it reaches, however sparse the
index or the selection: once for datasets of up to half a million chunks. A walk stops
once its window is full where the index lists chunks in C order, as every index type does
(one that does not is sorted). Memory holds one window, 24 bytes a chunk: 12 MB, about twice
that while it is listed in order, five times out of order (measured: 27 MB at most, finding
1.2 million chunks of an extensible array in 5 s of CPU).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from math import prod

import h5py
import numpy as np

from .index import misreported
from .open import metadata_of

WINDOW_CHUNKS = 1 << 19
"""Stored chunks listed per walk of the chunk index at most."""


class ChunkMap:
    """The stored chunks of `dset` (chunked, in the file `filename`): `find(coord)` gives
    the (file offset, size) of the chunk at `coord` (its first element), or None when it is
    not stored as the filters say (unwritten, or a filter skipped). `descending`: chunks are
    asked for mostly backwards. Main thread only (it calls HDF5).

    A chunk the index lists outside the dataset's shape is left out (`index.check_chunks`
    refuses such a dataset first); a chunk left out is read by HDF5 instead, as are all
    chunks of an index that HDF5 misreports (`index.misreported`).

    Example:
        >>> ChunkMap(f["/entry/data"], "run.h5").find((7, 0, 0))  # doctest: +SKIP
        (48121, 38557)
    """

    def __init__(
        self, dset: h5py.Dataset, filename: str, descending: bool = False, window: int = 0
    ) -> None:
        self._id, self._name, self._filename = dset.id, dset.name, filename
        chunks = dset.chunks
        assert chunks is not None
        self._chunks: tuple[int, ...] = chunks
        self._grid = tuple(-(-n // c) for n, c in zip(dset.shape, chunks))
        self._strides = tuple(prod(self._grid[i + 1 :]) for i in range(len(self._grid)))
        self._descending = descending
        self.window = window or WINDOW_CHUNKS
        # a window starts at a row of chunks (along the first axis) where one fits: the
        # rows of a scan grid's chunks are asked for again, line by line
        self._row = self._strides[0] if self._strides and self._strides[0] <= self.window else 1
        self._lo, self._hi = 0, -1
        self._keys = self._offsets = self._sizes = array("Q")
        if misreported(dset):  # none found: HDF5 reads every chunk
            self._lo, self._hi = 0, prod(self._grid)

    def find(self, coord: tuple[int, ...]) -> tuple[int, int] | None:
        """Where the chunk at `coord` is stored: (offset in the file, size), or None."""
        index = 0
        for o, c, s in zip(coord, self._chunks, self._strides):
            index += o // c * s
        if not self._lo <= index <= self._hi:
            self._load(index)
        keys = self._keys
        i = bisect_left(keys, index)
        if i == len(keys) or keys[i] != index:
            return None
        return self._offsets[i], self._sizes[i]

    def _load(self, index: int) -> None:
        """List the window of stored chunks from the `index`-th chunk of the grid on (or up
        to it, descending)."""
        start = index - index % self._row
        if self._descending:
            bounds = [0, min(start + self._row, prod(self._grid)) - 1]
        else:
            bounds = [start, prod(self._grid) - 1]
        listed = keys, offsets, sizes = array("Q"), array("Q"), array("Q")
        ordered = [True]  # so far listed in C order, as the index types list them
        chunks, grid, strides = self._chunks, self._grid, self._strides

        def visit(info: h5py.h5d.StoreInfo) -> bool | None:
            at = 0
            for o, c, n, s in zip(info.chunk_offset, chunks, grid, strides):
                k, r = divmod(o, c)
                if r or k >= n:
                    return None  # outside the shape: refused by check_chunks, or read by HDF5
                at += k * s
            offset = info.byte_offset
            if bounds[0] <= at <= bounds[1] and offset is not None and info.filter_mask == 0:
                if keys and at <= keys[-1]:
                    ordered[0] = False
                keys.append(at)
                offsets.append(offset)
                sizes.append(info.size)
                if ordered[0] and not self._descending and len(keys) == self.window:
                    bounds[1] = at
                    return True  # the window is full: the walk stops (a chunk that an
                    # index out of order lists later is read by HDF5)
                if len(keys) >= 2 * self.window:
                    self._keep(listed, bounds, ordered[0])
            return None

        with metadata_of(self._filename, self._name):
            self._id.chunk_iter(visit)
        self._keep(listed, bounds, ordered[0])
        self._keys, self._offsets, self._sizes = listed
        self._lo, self._hi = bounds

    def _keep(self, listed: tuple[array[int], ...], bounds: list[int], ordered: bool) -> None:
        """Sort the chunks listed so far (unless `ordered`); keep the window nearest the
        chunk asked for and narrow `bounds` to it."""
        if ordered:
            cut = len(listed[0]) - self.window
            if cut > 0:  # descending: the last ones are nearest
                edge = listed[0][cut if self._descending else self.window - 1]
                bounds[not self._descending] = edge
                for column in listed:
                    if self._descending:
                        del column[:cut]
                    else:
                        del column[self.window :]
            return
        columns = [np.frombuffer(column, np.uint64).copy() for column in listed]
        order = np.argsort(columns[0], kind="stable")
        if len(order) > self.window:
            order = order[-self.window :] if self._descending else order[: self.window]
            edge = columns[0][order[0] if self._descending else order[-1]]
            bounds[not self._descending] = int(edge)
        for column, values in zip(listed, columns):
            del column[:]
            column.frombytes(values[order].tobytes())
