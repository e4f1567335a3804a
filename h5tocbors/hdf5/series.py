"""Image series stored in several datasets: a DECTRIS Eiger master's data files, joined.

A DECTRIS master links its images as `/entry/data/data_000001`, `data_000002`, ..., each an
ExternalLink to `<prefix>_data_00000N.h5:/entry/data/data`, whose dataset carries the numbers
of its first and last image (`image_nr_low`, `image_nr_high`). Together they are one series,
in image-number order (in link-name order where the numbers are missing), with no image
missing or repeated; its frames are numbered from 0 across the files.

Example:
    >>> parts = ordered_parts(f["/entry/data"], series_parts(f["/entry/data"]))  # doctest: +SKIP
    >>> [(p.link, p.file, p.images) for p in parts]  # doctest: +SKIP
    [('data_000001', 'run_data_000001.h5', (1, 100)),
     ('data_000002', 'run_data_000002.h5', (101, 200))]
"""

from __future__ import annotations

import posixpath
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import accumulate
from math import prod

import h5py
import numpy as np
import numpy.typing as npt

from ..errors import H5ToCborsError
from .frames import FrameSeries
from .layout import FrameLayout, layout_of, tiny_frames
from .open import METADATA_ERRORS, metadata_of
from .selection import select_frames
from .sources import UNSIZED, data_sources, unsized
from .types import NoNumpyType, dtype_name, numpy_dtype
from .walk import BrokenLink, follow

PART = re.compile(r"data_(\d{6,})")
"""A DECTRIS master's link to one data file."""
MAX_PARTS = 100_000
IMAGE_NUMBERS = ("image_nr_low", "image_nr_high")


@dataclass(frozen=True)
class Part:
    """One link of a series group: the data file it names, and its dataset if it is there."""

    link: str
    """The link's name, `data_000002`."""
    file: str
    """The file the link names, as it names it (`run_data_000002.h5`); `.` for this file."""
    target: str
    """The path the link leads to in that file (`/entry/data/data`)."""
    dataset: h5py.Dataset | None
    shape: tuple[int, ...] | None = None
    dtype: np.dtype | None = None
    layout: FrameLayout | None = None
    """Which axes of its dataset count frames."""
    images: tuple[int, int] | None = None
    """`image_nr_low`, `image_nr_high` of its dataset, where it has both."""
    problem: str | None = None
    """Why it cannot be read (a missing or refused file, no dataset, bad image numbers),
    naming the link and the file."""
    refused: bool = False
    """The problem is that the path rule refuses its file, not that it is missing."""

    @property
    def label(self) -> str:
        """`run_data_000002.h5 (data_000002, images 4..6)`: its file, link and images."""
        name = f"this file's {self.target}" if self.file == "." else self.file
        if self.images is None:
            return f"{name} ({self.link})"
        return f"{name} ({self.link}, images {self.images[0]}..{self.images[1]})"

    @property
    def data(self) -> str:
        """`(3, 24, 40) uint32`: its shape and element type, as messages name them."""
        return f"{self.shape} {dtype_name(self.dtype) if self.dtype is not None else '?'}"

    @property
    def frames(self) -> int | None:
        """How many frames its dataset holds, when known."""
        if self.shape is None or self.layout is None:
            return None
        return prod(self.layout.lead_shape(self.shape))

    @property
    def frame_shape(self) -> tuple[int, ...] | None:
        """The shape of one frame, when known."""
        if self.shape is None or self.layout is None:
            return None
        return self.layout.frame_shape(self.shape)


def part_names(group: h5py.Group) -> list[str] | None:
    """The links of a series group in link-number order, or None when `group` is none: a
    series group has at least one member and every member is named `data_NNNNNN`."""
    names: list[str] = []
    try:
        with metadata_of(group.file, group.name):
            for name in group:  # stops at the first other name: most groups are no series
                if not PART.fullmatch(name) or len(names) == MAX_PARTS:
                    return None
                names.append(name)
    except H5ToCborsError:
        return None
    return sorted(names, key=lambda n: int(n[5:])) or None


def is_series(obj: h5py.Group | h5py.Dataset) -> bool:
    """True for a group whose members are the data files of one image series."""
    return isinstance(obj, h5py.Group) and part_names(obj) is not None


def series_parts(group: h5py.Group, axes: str | None = None) -> list[Part]:
    """Every link of a series group, in link-number order, each followed safely; what is
    missing or refused is named on its part, not raised. `axes` cut each data file's
    dataset into frames (see `layout`; None: as its shape and hints say)."""
    parts = []
    for name in part_names(group) or []:
        with metadata_of(group.file, posixpath.join(group.name, name)):
            link = group.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            file, target = str(link.filename), str(link.path)
        else:
            file, target = ".", posixpath.join(group.name, name)
        try:
            found = follow(group, name)
        except BrokenLink as e:
            parts.append(Part(name, file, target, None, problem=str(e), refused=e.unsafe))
            continue
        if not isinstance(found, h5py.Dataset):
            part = Part(name, file, target, None)
            parts.append(replace(part, problem=f"{part.label} is not a dataset"))
            continue
        parts.append(_part(name, file, target, found, axes))
    return parts


def _part(name: str, file: str, target: str, dset: h5py.Dataset, axes: str | None) -> Part:
    """A part whose dataset is there: its shape (where HDF5 can tell it safely) and numbers."""
    if unsized(data_sources(dset)) is not None:
        part = Part(name, file, target, dset)
        problem = f"{part.label}: {UNSIZED}"
        return replace(part, problem=problem)
    try:
        dtype = numpy_dtype(dset)
    except NoNumpyType as e:
        part = Part(name, file, target, dset)
        return replace(part, problem=f"{part.label}: {e}")
    with metadata_of(dset.file, dset.name):
        shape: tuple[int, ...] = dset.shape
        numbers = [dset.attrs.get(key) for key in IMAGE_NUMBERS]
    part = Part(name, file, target, dset, shape, dtype, layout_of(dset, shape, axes))
    if any(n is None for n in numbers):
        return part
    values = [_image_number(n) for n in numbers]
    if values[0] is None or values[1] is None:
        shown = ", ".join(f"{k}={n!r}"[:80] for k, n in zip(IMAGE_NUMBERS, numbers))
        return replace(part, problem=f"{part.label}: {shown} are not image numbers")
    return replace(part, images=(values[0], values[1]))


def _image_number(value: object) -> int | None:
    """An attribute's value as an image number (a non-negative integer), or None."""
    array = np.asarray(value)
    if array.size != 1 or array.dtype.kind not in "iu":
        return None
    number = int(array.reshape(-1)[0])
    return number if number >= 0 else None


def ordered_parts(group: h5py.Group, parts: list[Part]) -> list[Part]:
    """The parts of a series in image order, checked to make one series: every file there,
    no image missing or repeated, one frame shape and type. A problem is an error naming
    the file."""
    order, problem = series_order(parts)
    if problem is not None:
        raise H5ToCborsError(f"image series {group.name} in {group.file.filename}: {problem}")
    return order


def series_order(parts: list[Part]) -> tuple[list[Part], str | None]:
    """The parts in image order, and what keeps them from being one series (None: nothing).

    By `image_nr_low` where every part has image numbers, else by link name.
    """
    if not parts:
        return parts, "no data_NNNNNN links"
    broken = next((p for p in parts if p.problem is not None), None)
    if broken is not None:
        return parts, broken.problem
    if all(p.images is not None for p in parts):
        order = sorted(parts, key=lambda p: p.images or (0, 0))
        return order, _numbering_problem(order) or _shape_problem(order)
    numbers = [int(p.link[5:]) for p in parts]
    for (a, m), (b, n) in zip(zip(parts, numbers), zip(parts[1:], numbers[1:])):
        if n != m + 1:
            return parts, f"no link data_{m + 1:06d} between {a.label} and {b.label}"
    return parts, _shape_problem(parts)


def _numbering_problem(order: list[Part]) -> str | None:
    """Why image-numbered parts do not follow each other image for image, or None."""
    previous: Part | None = None
    for part in order:
        assert part.images is not None
        low, high = part.images
        if high - low + 1 != part.frames:
            return f"{part.label} holds {part.frames} frames, not {high - low + 1}"
        if previous is not None:
            assert previous.images is not None
            last = previous.images[1]
            if low > last + 1:
                return (
                    f"images {last + 1}..{low - 1} are missing between {previous.label} "
                    f"and {part.label}"
                )
            if low <= last:
                return f"{part.label} overlaps {previous.label}"
        previous = part
    return None


def _shape_problem(order: list[Part]) -> str | None:
    """Why the parts' frames differ in shape or type, or None."""
    first = order[0]
    for part in order[1:]:
        if part.frame_shape != first.frame_shape or part.dtype != first.dtype:
            return f"{part.label} holds {part.data} data, unlike {first.label} ({first.data})"
    return None


def series_group(f: h5py.File, paths: Sequence[str]) -> str | None:
    """The series group that the datasets at `paths` are all links of, or None.

    Example:
        >>> series_group(f, [f"/entry/data/data_00000{i}" for i in (1, 2)])  # doctest: +SKIP
        '/entry/data'
    """
    groups = {posixpath.dirname(p) for p in paths}
    if len(groups) != 1 or not all(PART.fullmatch(posixpath.basename(p)) for p in paths):
        return None
    (path,) = groups
    try:
        group = follow(f, path)
    except (BrokenLink, *METADATA_ERRORS):
        return None
    return path if is_series(group) else None


def series_stream_name(group: h5py.Group) -> str:
    """A stream name for a series: `eiger` for a DECTRIS Eiger master, else `detector`."""
    text: object = ""
    try:
        description = follow(group.file, "/entry/instrument/detector/description")
        if isinstance(description, h5py.Dataset):
            text = description.asstr(errors="replace")[()]
    except (BrokenLink, *METADATA_ERRORS, TypeError):
        pass
    return "eiger" if "eiger" in str(text).lower() else "detector"


@dataclass(frozen=True)
class ImageSeries:
    """The selected frames of an image series, in order: those of one dataset, or of several
    datasets joined end to end (a DECTRIS master's data files).

    `parts` holds, in the order the frames are read, each dataset's selected frames;
    `indices` numbers the selected frames over the whole series.

    Example:
        >>> whole = [FrameSeries.of(d) for d in data]  # 100 frames each  # doctest: +SKIP
        >>> images = ImageSeries.join("/entry/data", whole, slice(95, 105))  # doctest: +SKIP
        >>> [len(p) for p in images.parts], images.indices  # doctest: +SKIP
        ([5, 5], range(95, 105))
    """

    name: str
    """The path the series has in the input: the master's group, or the dataset's path."""
    parts: tuple[FrameSeries, ...]
    indices: range

    @classmethod
    def single(cls, name: str, series: FrameSeries) -> ImageSeries:
        """The frames of one dataset, as selected."""
        return cls(name, (series,), series.indices)

    @classmethod
    def join(
        cls, name: str, whole: Sequence[FrameSeries], selection: slice | None = None
    ) -> ImageSeries:
        """`whole` (every frame of each dataset, in series order) joined, and the frames
        `selection` picks of the joined series."""
        offsets = list(accumulate((len(s) for s in whole), initial=0))
        indices = select_frames(selection, offsets[-1])
        parts = [
            replace(s, indices=local)
            for s, lo, hi in zip(whole, offsets, offsets[1:])
            if (local := within(indices, lo, hi))
        ]
        return cls(name, tuple(parts if indices.step > 0 else parts[::-1]), indices)

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """Shape of one frame."""
        return self.parts[0].frame_shape

    @property
    def dtype(self) -> np.dtype:
        """The little-endian dtype frames are delivered in."""
        return self.parts[0].dtype

    @property
    def axes(self) -> str:
        """The frame layout of its datasets, as `--axes` spells it (`NHW`)."""
        return self.parts[0].layout.axes

    @property
    def hint(self) -> str:
        """For the tiny frames of one dataset, the `--axes` that would cut images; else ""."""
        part = self.parts[0]
        hint = tiny_frames(part.dataset.shape, part.layout) if len(self.parts) == 1 else None
        return hint or ""

    @cached_property
    def _ends(self) -> list[int]:
        return list(accumulate(len(p) for p in self.parts))

    def read(self, k: int) -> npt.NDArray[np.generic]:
        """Read and decode the k-th selected frame of the series."""
        i = bisect_right(self._ends, k)
        return self.parts[i].read(k - (self._ends[i - 1] if i else 0))


def within(indices: range, lo: int, hi: int) -> range:
    """The indices that lie in `lo..hi-1`, in their order, counted from `lo`; its stop is
    one step past its last index (as `range(n)[selection]` gives it).

    Example:
        >>> within(range(0, 20, 3), 5, 10), within(range(19, -1, -2), 5, 10)
        (range(1, 5, 3), range(4, -1, -2))
    """
    up = indices if indices.step > 0 else indices[::-1]
    part = up[bisect_left(up, lo) : bisect_left(up, hi)]
    if not part:
        return range(0)
    if indices.step < 0:
        part = part[::-1]
    return range(part[0] - lo, part[-1] - lo + (1 if part.step > 0 else -1), part.step)
