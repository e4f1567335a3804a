"""Rows of a dataset along axis 0, read a block at a time: per-point meta, PandA values, steps.

Reading one row per HDF5 call costs tens of microseconds; reading a dataset whole breaks
the memory bound. `BlockRows` reads blocks of at most `BLOCK_BYTES` and serves rows and
row ranges from the block it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

import h5py
import numpy as np
import numpy.typing as npt

from ..errors import H5ToCborsError
from ..hdf5.frames import little_endian
from ..hdf5.index import check_unwritten
from ..hdf5.open import load_filters

BLOCK_BYTES = 1 << 20
BLOCK_ROWS = 4096


def read_rows(dataset: h5py.Dataset, rows: range) -> npt.NDArray[np.generic]:
    """Rows `rows` of `dataset` (any step, negative too) as a little-endian array.

    Example:
        >>> read_rows(f["/entry/measurement/dt"], range(2, 8, 3))  # doctest: +SKIP
        array([0.3, 0.6])
    """
    dtype = little_endian(dataset.dtype)
    if len(rows) == 0:
        return np.empty((0, *dataset.shape[1:]), dtype)
    load_filters()
    try:
        if rows.step > 0:
            data = dataset[rows.start : rows[-1] + 1 : rows.step]
        else:
            data = dataset[rows[-1] : rows.start + 1 : -rows.step][::-1]
    except (OSError, ValueError, RuntimeError, TypeError) as e:
        raise H5ToCborsError(
            f"cannot read rows {rows.start}..{rows[-1]} of {dataset.name} "
            f"in {dataset.file.filename}: {e}"
        ) from e
    return np.ascontiguousarray(data, dtype=dtype)


@dataclass
class BlockRows:
    """Rows of `dataset` served from blocks read ahead, for reading in increasing order.

    Example:
        >>> dt = BlockRows(f["/entry/measurement/dt"])  # doctest: +SKIP
        >>> dt.row(0), dt.rows(range(1, 3))  # one HDF5 read for both  # doctest: +SKIP
        (0.1, array([0.1, 0.1]))
    """

    dataset: h5py.Dataset
    selected: int | None = None
    """How many of its rows will be read (None: all), of which few may be unstored."""
    _start: int = 0
    _block: npt.NDArray[np.generic] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.dataset.ndim:  # the chunk index checked against the shape, by the way
            selected = len(self.dataset) if self.selected is None else self.selected
            check_unwritten(self.dataset, (0,), selected)

    @property
    def block_rows(self) -> int:
        """Rows per block: at most `BLOCK_ROWS`, and at most `BLOCK_BYTES` of them."""
        row_bytes = int(prod(self.dataset.shape[1:]) * self.dataset.dtype.itemsize)
        return max(1, min(BLOCK_ROWS, BLOCK_BYTES // max(row_bytes, 1)))

    def rows(self, rows: range) -> npt.NDArray[np.generic]:
        """Rows `rows`, from the block held when it has them, else read with what follows;
        rows spread wider than a block are read alone (not everything between them)."""
        if len(rows) == 0 or rows.step < 0 or rows[-1] - rows[0] >= self.block_rows:
            return read_rows(self.dataset, rows)
        first, last = rows[0], rows[-1]
        block = self._block
        if block is None or first < self._start or last >= self._start + len(block):
            stop = min(len(self.dataset), max(last + 1, first + self.block_rows))
            block = self._block = read_rows(self.dataset, range(first, stop))
            self._start = first
        part: npt.NDArray[np.generic] = block[
            first - self._start : last + 1 - self._start : rows.step
        ]
        return part

    def row(self, index: int) -> npt.NDArray[np.generic]:
        """Row `index` (a 0-d array for a 1-D dataset)."""
        row: npt.NDArray[np.generic] = self.rows(range(index, index + 1))[0]
        return row
