"""Resolve stream names and paths to the image datasets of an HDF5 file."""

from __future__ import annotations

from math import prod
from typing import NamedTuple

import h5py
import numpy as np

from ..errors import H5ToCborsError, option
from .filters import filters_refusal
from .frames import FrameSeries
from .layout import FrameLayout, is_calibration, layout_of
from .open import metadata_of
from .series import series_group
from .sources import UNSIZED, DataSource, check_sources, data_sources, unsized
from .types import NoNumpyType, dtype_name, numpy_dtype
from .walk import BrokenLink, Entry, follow, link_paths, walk_datasets

MAX_LISTED = 8
"""Image datasets an error lists when a stream name finds none."""
MAX_FRAME_BYTES = 1 << 30
"""The largest frame h5tocbors converts (1 GiB): frames are read whole, several at once."""


def is_image_dtype(dtype: np.dtype) -> bool:
    """True for the numeric dtypes a STINS stream can carry (unsigned, signed, float, bool;
    up to 64 bits: numpy's `float128` is another format on another machine)."""
    return is_number(dtype) and dtype.itemsize <= 8


def is_number(dtype: np.dtype) -> bool:
    """True for plain numbers of any size (unsigned, signed, float, bool)."""
    return dtype.kind in "uifb" and dtype.fields is None and dtype.subdtype is None


def not_an_image(
    dtype: np.dtype, shape: tuple[int, ...] | None, layout: FrameLayout | None = None
) -> str | None:
    """Why data of `dtype` and `shape` (None: not known) cannot be a STINS image series,
    its frames cut as `layout` says (default: a stack).

    Example:
        >>> not_an_image(np.dtype("c16"), (3, 4, 5))
        'complex128 data: STINS images must be real numbers'
    """
    if not is_image_dtype(dtype):
        if is_number(dtype):
            return f"{dtype_name(dtype)} data: STINS images carry numbers of at most 64 bits"
        return f"{dtype_name(dtype)} data: STINS images must be real numbers"
    if shape is None:
        return None
    if len(shape) < 2:
        return f"{len(shape)} dimension(s) {shape}: frames need at least 2"
    frame = (layout or FrameLayout.stack(len(shape))).frame_shape(shape)
    size = prod(frame) * dtype.itemsize
    if size > MAX_FRAME_BYTES:
        shown = "x".join(map(str, frame))
        return (
            f"one frame ({shown} {dtype_name(dtype)}) is {size / 2**30:,.1f} GiB, more than "
            f"h5tocbors' limit of {MAX_FRAME_BYTES >> 30} GiB per frame"
        )
    return None


def safe_shape(dset: h5py.Dataset, sources: list[DataSource]) -> tuple[int, ...] | None:
    """The shape of `dset`, or None when asking HDF5 for it would open a refused or missing
    source (a virtual dataset with unlimited mappings finds its extent in its sources)."""
    if unsized(sources) is not None:
        return None
    with metadata_of(dset.file, dset.name):
        shape: tuple[int, ...] = dset.shape
    return shape


def open_object(f: h5py.File, path: str) -> h5py.Group | h5py.Dataset:
    """The group or dataset at `path`, every link followed safely, or an error naming why
    there is none (a missing name, a dangling or refused link).

    Example:
        >>> open_object(f, "/entry/measurement/xspress3")  # doctest: +SKIP
        <HDF5 group "/entry/instrument/xspress3" (9 members)>
    """
    try:
        obj = follow(f, path)
    except BrokenLink as e:
        raise H5ToCborsError(f"no dataset or group at {path} in {f.filename}: {e}") from e
    if not isinstance(obj, h5py.Group | h5py.Dataset):
        raise H5ToCborsError(f"{path} in {f.filename} is a named datatype, not data")
    return obj


def get_dataset(
    f: h5py.File, path: str, frames: slice | None = None, axes: str | None = None
) -> h5py.Dataset:
    """Return the dataset at `path`, checked to be an image series whose data is all there
    for the frames `frames` selects (all when None), its frames cut as `axes` says."""
    obj = open_object(f, path)
    if not isinstance(obj, h5py.Dataset):
        raise H5ToCborsError(f"{path} in {f.filename} is a group, not a dataset")
    return check_image(obj, frames, f"{path} in {f.filename}", axes)


def check_image(
    dset: h5py.Dataset, frames: slice | None = None, where: str = "", axes: str | None = None
) -> h5py.Dataset:
    """`dset`, checked to be an image series whose data is all there (see `image_series`)."""
    return image_series(dset, frames, where, axes).dataset


def image_series(
    dset: h5py.Dataset, frames: slice | None = None, where: str = "", axes: str | None = None
) -> FrameSeries:
    """The frames of `dset` that `frames` selects (all when None), checked to be an image
    series whose data is all there.

    Frames are cut as `axes` says (see `layout`; None: as the dataset's shape and hints
    say). Every source of the selected frames must be present: a virtual or external
    dataset whose data is missing is refused, not read as fill values.
    """
    where = where or f"{dset.name} in {dset.file.filename}"
    checked = image_shape(dset, axes)
    if checked.shape is None:
        check_sources(dset, None, checked.sources)  # raises: an unlimited mapping's is missing
    if checked.refusal is not None:
        raise H5ToCborsError(f"{where}: {checked.refusal}")
    series = FrameSeries.of(dset, frames, checked.layout)
    check_sources(dset, series.indices, checked.sources, series.layout)
    return series


class ImageShape(NamedTuple):
    """What `image_shape` finds of a dataset."""

    sources: list[DataSource]
    shape: tuple[int, ...] | None
    """None: it lies in sources that are missing."""
    layout: FrameLayout | None
    """Its frames, cut as `axes` says (None: no shape)."""
    refusal: str | None
    """Why it is no image series (None when it is one)."""
    dtype: np.dtype | None
    """Its element type (None: numpy has none, and `refusal` names the HDF5 type)."""


def image_shape(dset: h5py.Dataset, axes: str | None = None) -> ImageShape:
    """`dset`'s data sources, shape, frames cut as `axes` says (else as its shape and
    hints say), element type, and why it is no image series."""
    sources = data_sources(dset)
    shape = safe_shape(dset, sources)
    layout = layout_of(dset, shape, axes) if shape is not None else None
    try:
        dtype = numpy_dtype(dset)
    except NoNumpyType as e:
        return ImageShape(sources, shape, layout, str(e), None)
    return ImageShape(sources, shape, layout, not_an_image(dtype, shape, layout), dtype)


def find_dataset(
    f: h5py.File, name: str, frames: slice | None = None, axes: str | None = None
) -> h5py.Dataset:
    """Find the one dataset whose HDF5 path has a group or dataset called `name`.

    Stacks (several frames of 2 or more dimensions) win over single images (a 2-D
    dataset marked as one, an RGB image), which win over other 2-D datasets; soft links
    to the same dataset count once. `axes` then cuts the frames of the one found.

    Example:
        >>> find_dataset(f, "pilatus").name  # doctest: +SKIP
        '/entry/measurement/pilatus/frames'
    """
    return get_dataset(f, find_path(f, name), frames, axes)


def find_path(f: h5py.File, name: str) -> str:
    """The path of the one image dataset whose HDF5 path has a group or dataset called
    `name`, as `find_dataset` finds it; the links of one image series (a DECTRIS master's
    `data_000001`, `data_000002`, ...) give their group, the series.

    Example:
        >>> find_path(f, "data")  # doctest: +SKIP
        '/entry/data'
    """
    every = link_paths(f)
    found, refused = image_candidates(f, [p for p in every if name in p.split("/")])
    found = [c for c in found if not is_calibration(c.path) or c.path.endswith(f"/{name}")]
    best = max((c.rank for c in found), default=0)
    candidates = [c for c in found if c.rank == best]
    if not candidates:
        why = "; ".join(refused) or (
            f"no dataset of 2 or more dimensions has a group or dataset called {name!r} in its path"
        )
        found = image_candidates(f, every)[0]
        images = sorted(c for c in found if not is_calibration(c.path))
        listed = ", ".join(f"{c.path} {c.shape}" for c in images[:MAX_LISTED])
        more = f" and {len(images) - MAX_LISTED} more" if len(images) > MAX_LISTED else ""
        there = f"; its image datasets: {listed}{more}" if images else "; it has no image dataset"
        raise H5ToCborsError(
            f"no image dataset for stream {name!r} in {f.filename}: {why}{there}; "
            f"give one as {option('streams', {name: '/path/to/dataset'})}"
        )
    series = series_group(f, [c.path for c in candidates])
    if series is not None:
        return series
    if len(candidates) > 1:
        listed = ", ".join(f"{c.path} {c.shape}" for c in sorted(candidates))
        raise H5ToCborsError(
            f"several datasets match stream {name!r}: {listed}; "
            f"choose one with {option('streams', {name: candidates[0].path})}"
        )
    return candidates[0].path


class Candidate(NamedTuple):
    """An image dataset found by name: its path, shape, and how it ranks (`rank`)."""

    path: str
    shape: tuple[int, ...]
    layout: FrameLayout

    @property
    def rank(self) -> int:
        """2 for a stack of images, 1 for a single image (2-D or RGB), 0 for rows."""
        if len(self.layout.image_axes) < 2:
            return 0
        return 2 if self.layout.frame_axes else 1


def image_candidates(f: h5py.File, paths: list[str]) -> tuple[list[Candidate], list[str]]:
    """The image datasets `paths` lead to, with their shapes and layouts, and why others
    that could have been images are not."""
    found: list[Candidate] = []
    refused = []
    for entry in walk_datasets(f, paths):
        candidate, reason = _candidate(entry)
        if reason:
            refused.append(f"{entry.path}: {reason}")
        elif candidate is not None:
            found.append(candidate)
    return found, refused


def _candidate(entry: Entry) -> tuple[Candidate | None, str | None]:
    """An image dataset, or why a walked path that could be one is not (a dangling link,
    complex numbers, ...); (None, None) for what is plainly no image (1-D, scalar)."""
    if entry.dataset is None:
        return None, entry.problem
    checked = image_shape(entry.dataset)
    if checked.dtype is None:
        return None, checked.refusal
    if checked.shape is None:
        return None, UNSIZED
    if len(checked.shape) < 2:
        return None, None
    if checked.refusal is not None or checked.layout is None:
        return None, checked.refusal
    reason = unconvertible(entry.dataset, checked.shape, checked.layout)
    if reason is not None:
        return None, reason
    return Candidate(entry.path, checked.shape, checked.layout), None


def unconvertible(dset: h5py.Dataset, shape: tuple[int, ...], layout: FrameLayout) -> str | None:
    """Why `convert` would refuse an image dataset anyway, before reading it: it is empty,
    or a filter of its data is not available here (`ls` offers no `--stream` for it, and a
    stream name does not find it)."""
    if prod(layout.lead_shape(shape)) == 0:
        return "empty: no frames"
    return filters_refusal(dset)
