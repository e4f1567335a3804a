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
from .layout import FrameLayout, layout_of
from .open import load_filters
from .selection import select_frames
from .slabs import Slabs


@dataclass(frozen=True)
class FrameSeries:
    """The frames of `dataset` picked by a selection, in order.

    `layout` says which axes count frames (see `layout`): axis 0 of a stack, none of a
    single image, the leading axes of a scan grid `(ny, nx, H, W)` in C order, the last
    axis of an `(H, W, N)` stack given as `--axes HWN`.

    Example:
        >>> series = FrameSeries.of(f["/entry/data"], slice(0, 10))  # doctest: +SKIP
        >>> series.frame_shape, len(series)  # doctest: +SKIP
        ((195, 487), 10)
    """

    dataset: h5py.Dataset
    indices: range
    layout: FrameLayout

    @classmethod
    def of(
        cls,
        dataset: h5py.Dataset,
        selection: slice | None = None,
        layout: FrameLayout | None = None,
    ) -> FrameSeries:
        """The series of `dataset`'s frames chosen by `selection` (all when None), in
        `layout` (default: what the dataset's shape and NeXus hints say).

        A dataset whose filters cannot all be decoded here is refused now, not mid-way, as
        is one whose chunk index does not fit its shape (`index.check_chunks`).
        """
        shape = dataset.shape
        layout = layout or layout_of(dataset, shape)
        count = prod(layout.lead_shape(shape))
        if count == 0:
            raise H5ToCborsError(f"{dataset.name} holds no frames (shape {shape})")
        check_filters_available(dataset)
        check_chunks(dataset)
        return cls(dataset, select_frames(selection, count), layout)

    def __len__(self) -> int:
        return len(self.indices)

    @cached_property
    def frame_shape(self) -> tuple[int, ...]:
        """Shape of one frame: the axes of the layout that are not frame axes (asked of
        HDF5 once: every row of chunks needs it)."""
        return self.layout.frame_shape(self.dataset.shape)

    @cached_property
    def dtype(self) -> np.dtype:
        """The little-endian dtype frames are delivered in (asked of HDF5 once: every frame
        that is encoded needs it)."""
        return little_endian(self.dataset.dtype)

    @cached_property
    def frame_nbytes(self) -> int:
        """Bytes of one decoded frame."""
        return prod(self.frame_shape) * self.dtype.itemsize

    @cached_property
    def chunk_shape(self) -> tuple[int, ...]:
        """The shape of the stored pieces: the dataset's chunks, or one frame when contiguous."""
        chunks = self.dataset.chunks
        return tuple(
            chunks or (1,) * (self.dataset.ndim - len(self.frame_shape)) + self.frame_shape
        )

    @cached_property
    def lead_shape(self) -> tuple[int, ...]:
        """The lengths of the frame axes (h5py's `shape` costs a call into HDF5 each time)."""
        return self.layout.lead_shape(self.dataset.shape)

    def position(self, k: int) -> tuple[int, ...]:
        """The index along the frame axes of the k-th frame of the series."""
        lead = self.lead_shape
        if len(lead) == 1:
            return (self.indices[k],)
        return tuple(int(i) for i in np.unravel_index(self.indices[k], lead))

    @cached_property
    def _slabs(self) -> Slabs:
        return Slabs(self.dataset, self.layout, self.frame_nbytes)

    def read(self, k: int) -> npt.NDArray[np.generic]:
        """Read and decode the k-th frame of the series as a C-contiguous little-endian array.

        Frames on the leading axes are read one by one; others (`--axes HWN`) a block of
        them at a time, with HDF5 hyperslabs (see `slabs`). Main thread only.
        """
        position = self.position(k)
        load_filters()
        try:
            leading = self.layout.leading
            frame = self.dataset[position] if leading else self._slabs.frame(position)
        except (OSError, ValueError, RuntimeError) as e:
            raise H5ToCborsError(
                f"frame {k} ({self.dataset.name}{list(position)}) failed to read or decode: {e}"
            ) from e
        return np.ascontiguousarray(frame, dtype=self.dtype)


def little_endian(dtype: np.dtype) -> np.dtype:
    """`dtype` with little-endian byte order (single-byte types are unchanged).

    Example:
        >>> little_endian(np.dtype(">u2")).str
        '<u2'
    """
    return dtype.newbyteorder("<")
