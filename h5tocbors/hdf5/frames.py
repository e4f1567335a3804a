"""A dataset seen as a series of frames, read one frame at a time."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import prod

import h5py
import numpy as np
import numpy.typing as npt

from ..errors import H5ToCborsError
from .filters import check_filters_available
from .index import check_chunks
from .open import load_filters
from .selection import select_frames


@dataclass(frozen=True)
class FrameSeries:
    """The frames of `dataset` picked by a selection, in order.

    Axis 0 is the frame axis of a 2-D or 3-D dataset; a dataset of 4 or more
    dimensions (a scan grid such as `(ny, nx, H, W)`) is a sequence of its
    last-two-axes images in C order over the leading axes.

    Example:
        >>> series = FrameSeries.of(f["/entry/data"], slice(0, 10))  # doctest: +SKIP
        >>> series.frame_shape, len(series)  # doctest: +SKIP
        ((195, 487), 10)
    """

    dataset: h5py.Dataset
    indices: range

    @classmethod
    def of(cls, dataset: h5py.Dataset, selection: slice | None = None) -> FrameSeries:
        """The series of `dataset`'s frames chosen by `selection` (all when None).

        A dataset whose filters cannot all be decoded here is refused now, not mid-way, as
        is one whose chunk index does not fit its shape (`index.check_chunks`).
        """
        lead = lead_shape(dataset.shape)
        count = prod(lead)
        if count == 0:
            raise H5ToCborsError(f"{dataset.name} holds no frames (shape {dataset.shape})")
        check_filters_available(dataset)
        indices = select_frames(selection, count)
        check_chunks(dataset, len(lead), len(indices))
        return cls(dataset, indices)

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """Shape of one frame: the trailing one (2-D data) or two axes."""
        shape: tuple[int, ...] = self.dataset.shape
        return shape[len(lead_shape(shape)) :]

    @property
    def dtype(self) -> np.dtype:
        """The little-endian dtype frames are delivered in."""
        return little_endian(self.dataset.dtype)

    @property
    def frame_nbytes(self) -> int:
        """Bytes of one decoded frame."""
        return prod(self.frame_shape) * self.dtype.itemsize

    @cached_property
    def lead_shape(self) -> tuple[int, ...]:
        """The axes that enumerate frames (h5py's `shape` costs a call into HDF5 each time)."""
        return lead_shape(self.dataset.shape)

    def position(self, k: int) -> tuple[int, ...]:
        """The dataset index of the leading axes for the k-th frame of the series."""
        lead = self.lead_shape
        if len(lead) == 1:
            return (self.indices[k],)
        return tuple(int(i) for i in np.unravel_index(self.indices[k], lead))

    def read(self, k: int) -> npt.NDArray[np.generic]:
        """Read and decode the k-th frame of the series as a C-contiguous little-endian array."""
        position = self.position(k)
        load_filters()
        try:
            frame = self.dataset[position]
        except (OSError, ValueError, RuntimeError) as e:
            raise H5ToCborsError(
                f"frame {k} ({self.dataset.name}{list(position)}) failed to read or decode: {e}"
            ) from e
        return np.ascontiguousarray(frame, dtype=self.dtype)


def lead_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes that enumerate frames: all but the last one (2-D) or two (3-D and more)."""
    return shape[:1] if len(shape) == 2 else shape[:-2]


def little_endian(dtype: np.dtype) -> np.dtype:
    """`dtype` with little-endian byte order (single-byte types are unchanged).

    Example:
        >>> little_endian(np.dtype(">u2")).str
        '<u2'
    """
    return dtype.newbyteorder("<")
