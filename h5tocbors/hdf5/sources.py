"""Where a dataset's data lives outside it: external raw files and virtual dataset sources.

Every source is resolved before any frame is read: its file (by the path rule, `.` being
the virtual dataset's own file), the dataset inside it (links followed safely) and the
mapped selection. HDF5 would read fill values for a source that is missing, silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from math import gcd, prod

import h5py

from ..errors import H5ToCborsError
from .layout import FrameLayout
from .open import metadata_of, open_referenced
from .paths import (
    RAW,
    VIRTUAL,
    RefusedPath,
    folder_of,
    name_pattern,
    referenced_file,
    unescaped,
)
from .walk import follow

UNLIMITED = h5py.h5s.UNLIMITED
MAX_RANGES = 10_000
"""Index ranges kept per axis (or per check) before a selection is taken as its bounding box."""
MAX_DEPTH = 4
"""Virtual datasets over virtual datasets, checked this deep."""

Axes = tuple[tuple[range, ...], ...]
"""Per axis of a dataset, the indices a selection covers, as ranges."""


@dataclass(frozen=True)
class DataSource:
    """One place a dataset reads from: an external raw file or a virtual dataset mapping."""

    file: str
    """The file as the dataset names it; `.` for the virtual dataset's own file."""
    dataset: str | None
    """The source dataset of a virtual mapping; None for an external raw file."""
    problem: str | None
    """Why the data is not there (missing, refused, too small); None when it is."""
    axes: Axes | None = None
    """Which elements of the dataset this source fills, per axis; None for all of them."""
    unlimited: bool = False
    """A mapping whose extent HDF5 finds by opening the source (when asked for the shape)."""
    refused: bool = False
    """The problem is that the path rule refuses the source, not that it is missing."""

    @property
    def label(self) -> str:
        """`part1.h5:/data`, `this file:/entry/data/data_000001`, `raw.bin`."""
        where = "this file" if self.file == "." else self.file
        return where if self.dataset is None else f"{where}:{self.dataset}"


def data_sources(dset: h5py.Dataset, depth: int = 0) -> list[DataSource]:
    """Every external raw file or virtual mapping of `dset`, each checked; [] for neither.

    Asks HDF5 for no shape: sizing a virtual dataset with unlimited mappings opens their
    sources, which must pass the path rule first (see `unsized`).
    """
    with metadata_of(dset.file, dset.name):
        dcpl = dset.id.get_create_plist()
        if dcpl.get_layout() == h5py.h5d.VIRTUAL:
            opened: dict[str, h5py.File] = {".": dset.file}
            count = dcpl.get_virtual_count()
            return [_mapping(dset, dcpl, j, depth, opened) for j in range(count)]
        if dcpl.get_external_count() > 0:
            return _external(dset, dcpl)
    return []


UNSIZED = "its extent lies in sources that are missing or refused"
"""Why a dataset whose extent `unsized` hides has no shape to show."""


def unsized(sources: list[DataSource]) -> DataSource | None:
    """The unlimited mapping with a problem, which HDF5 must not be asked to size, or None."""
    return next((s for s in sources if s.unlimited and s.problem), None)


def check_sources(
    dset: h5py.Dataset,
    frames: range | None = None,
    sources: list[DataSource] | None = None,
    layout: FrameLayout | None = None,
) -> None:
    """Refuse `dset` if any source that the frames at `frames` (dataset frame indices, as
    `FrameSeries.indices`, in `layout`; None for all) read from is missing or refused.

    `sources` are `data_sources(dset)`, if known already.
    """
    sources = data_sources(dset) if sources is None else sources
    bad = [s for s in sources if s.problem]
    if not bad:
        return
    where = f"{dset.name} in {dset.file.filename}"
    first = unsized(bad)
    if first is not None:  # its extent is unknown: any frame may need it
        raise H5ToCborsError(f"virtual dataset {where} needs {first.label}: {first.problem}")
    shape = dset.shape
    axes = (layout or FrameLayout.stack(len(shape))).frame_axes
    lead = tuple(shape[i] for i in axes)
    for source in bad:
        picked = None if source.axes is None else tuple(source.axes[i] for i in axes)
        k = first_frame(picked, lead, frames)
        if k is None:
            continue
        if source.dataset is None:
            raise H5ToCborsError(
                f"{where} keeps its data in external file {source.file}: {source.problem}"
            )
        silent = "" if source.refused else "; HDF5 would return fill values instead"
        raise H5ToCborsError(
            f"virtual dataset {where} reads frame {k} (and maybe others) from {source.label}: "
            f"{source.problem}{silent}"
        )


def _external(dset: h5py.Dataset, dcpl: h5py.h5p.PropDCID) -> list[DataSource]:
    """The external raw files of `dset`, each checked to hold the bytes HDF5 reads there."""
    here = folder_of(dset.file)
    needed = prod(dset.id.shape) * dset.id.dtype.itemsize  # the dataspace: no source opened
    sources = []
    for i in range(dcpl.get_external_count()):
        raw, offset, size = dcpl.get_external(i)
        name = os.fsdecode(raw)
        take = min(needed, needed if size == UNLIMITED else size)
        needed -= take
        refused = False
        try:
            path = referenced_file(name, here, RAW)
            problem = None
            if take and os.path.getsize(path) < offset + take:
                problem = (
                    f"{path} has {os.path.getsize(path)} bytes, fewer than the "
                    f"{offset + take} the dataset reads there"
                )
        except RefusedPath as e:
            problem, refused = str(e), e.unsafe
        sources.append(DataSource(name, None, problem, refused=refused))
    return sources


def _mapping(
    dset: h5py.Dataset, dcpl: h5py.h5p.PropDCID, j: int, depth: int, opened: dict[str, h5py.File]
) -> DataSource:
    """Mapping `j` of a virtual dataset: its source file, dataset and selection, checked.

    `opened` holds the source files opened so far, by name.
    """
    vspace = dcpl.get_virtual_vspace(j)
    file_name = os.fsdecode(dcpl.get_virtual_filename(j))
    dset_name = os.fsdecode(dcpl.get_virtual_dsetname(j))
    axes, unlimited = covered(vspace)

    def source(problem: str | None, refused: bool = False) -> DataSource:
        return DataSource(file_name, dset_name, problem, axes, unlimited, refused)

    if name_pattern(file_name) or name_pattern(dset_name):
        return source("a name pattern (%b), which h5tocbors does not follow", True)
    try:
        if file_name not in opened:
            path = referenced_file(unescaped(file_name), folder_of(dset.file), VIRTUAL)
            opened[file_name] = open_referenced(path)
        src = follow(opened[file_name], unescaped(dset_name), beside=False)  # HDF5 reads it
    except RefusedPath as e:  # BrokenLink included
        return source(str(e), e.unsafe)
    if not isinstance(src, h5py.Dataset):
        return source("it is not a dataset")
    if src.id.get_create_plist().get_external_count() > 0:  # HDF5 would not look beside it
        return source(
            "it keeps its data in external raw files, which HDF5 looks for in the current "
            "directory when it reads a virtual dataset; refused",
            True,
        )
    nested = data_sources(src, depth + 1) if depth < MAX_DEPTH else []
    bad = next((s for s in nested if s.problem), None)
    if bad is not None:
        return source(f"its own source {bad.label} is not there: {bad.problem}", bad.refused)
    if depth >= MAX_DEPTH and src.is_virtual:
        return source(f"a virtual dataset nested more than {MAX_DEPTH} deep")
    return source(_selection_problem(dcpl.get_virtual_srcspace(j), vspace, unlimited, src))


def _selection_problem(
    selection: h5py.h5s.SpaceID, vspace: h5py.h5s.SpaceID, unlimited: bool, src: h5py.Dataset
) -> str | None:
    """Why the mapped `selection` of `src` does not lie within it, or None.

    HDF5 would read the fill value for what lies outside.
    """
    with metadata_of(src.file, src.name):
        shape = src.shape
        if selection.get_select_type() == h5py.h5s.SEL_ALL:  # the whole source, in C order
            needed, have = (0 if unlimited else vspace.get_select_npoints()), prod(shape)
            if have < needed:
                return f"it has shape {shape}: {have} elements, fewer than the {needed} mapped"
            return None
        if selection.get_select_type() == h5py.h5s.SEL_NONE:
            return None
        ends = _bounds(selection)[1]
    if len(ends) != len(shape):
        return f"it has {len(shape)} dimensions, not the {len(ends)} mapped"
    if any(end != UNLIMITED and end >= n for end, n in zip(ends, shape)):
        needed = tuple("unlimited" if end == UNLIMITED else end + 1 for end in ends)
        return f"it has shape {shape}, smaller than the mapped {needed}"
    return None


def _bounds(space: h5py.h5s.SpaceID) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The corners of a selection; an unlimited axis ends at UNLIMITED."""
    if space.is_regular_hyperslab():
        start, stride, count, block = space.get_regular_hyperslab()
        end = tuple(
            UNLIMITED if UNLIMITED in (c, b) else s + (c - 1) * t + b - 1
            for s, t, c, b in zip(start, stride, count, block)
        )
        return tuple(start), end
    lo, hi = space.get_select_bounds()
    return tuple(lo), tuple(hi)


def covered(space: h5py.h5s.SpaceID) -> tuple[Axes | None, bool]:
    """Which indices, per axis, a selection covers, and whether it is unlimited.

    Example:
        >>> s = h5py.h5s.create_simple((10, 4))
        >>> s.select_hyperslab((1, 0), (3, 1), (4, 1), (1, 4))
        >>> covered(s)
        (((range(1, 13, 4),), (range(0, 4),)), False)
    """
    kind = space.get_select_type()
    if kind == h5py.h5s.SEL_ALL:
        return tuple((range(n),) for n in space.shape), False
    if kind == h5py.h5s.SEL_NONE:
        return tuple(() for _ in space.shape), False
    if kind == h5py.h5s.SEL_HYPERSLABS and space.is_regular_hyperslab():
        start, stride, count, block = space.get_regular_hyperslab()
        unlimited = UNLIMITED in count or UNLIMITED in block
        return tuple(map(_blocks, start, stride, count, block)), unlimited
    lo, hi = _bounds(space)
    return tuple((range(a, b + 1),) for a, b in zip(lo, hi)), False


def _blocks(start: int, stride: int, count: int, block: int) -> tuple[range, ...]:
    """The indices of `count` blocks of `block` every `stride` from `start`, as few ranges."""
    end = 2**63  # an unlimited axis
    if block == UNLIMITED:
        return (range(start, end),)
    if count == UNLIMITED:
        count = (end - start) // stride
    if min(block, count) > MAX_RANGES:
        return (range(start, start + (count - 1) * stride + block),)
    if block <= count:
        return tuple(range(start + b, start + b + count * stride, stride) for b in range(block))
    return tuple(range(start + i * stride, start + i * stride + block) for i in range(count))


def first_frame(axes: Axes | None, lead: tuple[int, ...], frames: range | None) -> int | None:
    """The first frame (flat index over the `lead` axes) among `frames` (all when None)
    whose position the selection `axes` covers, or None.

    Example:
        >>> first_frame(((range(0, 100, 2),),), (100,), range(1, 100, 2)) is None
        True
        >>> first_frame(((range(0, 100, 2),),), (100,), range(3, 9))
        4
    """
    wanted = range(prod(lead)) if frames is None else frames
    if axes is None:
        return wanted[0] if len(wanted) else None
    hits = [
        k
        for r in _flat_ranges(axes[: len(lead)], lead)
        if (k := first_common(wanted, r)) is not None
    ]
    return min(hits) if hits else None


def _flat_ranges(axes: Axes, lead: tuple[int, ...]) -> list[range]:
    """The covered frames as ranges of flat (C-order) indices over the `lead` axes."""
    clipped = [
        [range(r.start, min(r.stop, n), r.step) for r in rs if r.start < n]
        for rs, n in zip(axes, lead)
    ]
    if not lead:
        return [range(1)]
    strides = [prod(lead[i + 1 :]) for i in range(len(lead))]  # the last is 1
    flat = clipped[-1]
    for rs, stride in zip(reversed(clipped[:-1]), reversed(strides[:-1])):
        rs = [r for r in rs if r]
        flat = [r for r in flat if r]
        if not rs or not flat:
            return []
        if sum(map(len, rs)) * len(flat) > MAX_RANGES:  # too many: the bounding range
            lo = min(r[0] for r in rs) * stride + min(r[0] for r in flat)
            hi = max(r[-1] for r in rs) * stride + max(r[-1] for r in flat)
            flat = [range(lo, hi + 1)]
            continue
        flat = [
            range(i * stride + r.start, i * stride + r.stop, r.step)
            for s in rs
            for i in s
            for r in flat
        ]
    return flat


def first_common(a: range, b: range) -> int | None:
    """The smallest number in both ranges, or None.

    Example:
        >>> first_common(range(0, 100, 6), range(3, 100, 4)) is None
        True
        >>> first_common(range(0, 100, 6), range(2, 100, 4))
        6
    """
    a, b = (r if r.step > 0 else r[::-1] for r in (a, b))
    if not a or not b:
        return None
    lo, hi = max(a[0], b[0]), min(a[-1], b[-1])
    g = gcd(a.step, b.step)
    if lo > hi or (b[0] - a[0]) % g:
        return None
    m = b.step // g
    t = ((b[0] - a[0]) // g * pow(a.step // g, -1, m)) % m if m > 1 else 0
    step, x = a.step * m, a[0] + a.step * t
    if x < lo:
        x += -(-(lo - x) // step) * step
    return x if x <= hi else None
