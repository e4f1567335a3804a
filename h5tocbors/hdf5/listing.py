"""Describe every dataset of an HDF5 file: shape, type, storage, and how to convert it."""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field
from math import prod
from typing import Any

import h5py

from ..capture.names import MAX_STREAM_NAME, STREAM_NAME
from .filters import filter_names
from .frames import FrameSeries
from .layout import FRAME, FrameLayout, tiny_frames
from .open import metadata_of
from .passthrough import passthrough_refusal
from .resolve import image_shape, is_number, unconvertible
from .series import PART, is_series, series_order, series_parts, series_stream_name
from .sources import UNSIZED, DataSource
from .types import dtype_name, hdf5_type_name
from .walk import BrokenLink, Entry, follow, walk_datasets

GENERIC_NAMES = {"data", "frames", "images", "image", "value", "values", "raw", "counts"}
LAYOUTS = {
    h5py.h5d.COMPACT: "compact",
    h5py.h5d.CONTIGUOUS: "contiguous",
    h5py.h5d.CHUNKED: "chunked",
    h5py.h5d.VIRTUAL: "virtual",
}


@dataclass
class Source:
    """A place a virtual or external dataset reads from, and whether its data is there."""

    file: str
    """As the dataset names it; `.` for the virtual dataset's own file."""
    dataset: str | None
    """The source dataset of a virtual dataset or a series' data file; None for an external
    raw file."""
    exists: bool
    problem: str | None = None
    """Why it is not usable: missing, or refused by the path rule (`refused` is then true)."""
    refused: bool = False


@dataclass
class DatasetInfo:
    """What `h5tocbors ls` shows for one dataset, or for a link that leads to none."""

    path: str
    shape: list[int] | None
    """None when not known: a link to nothing, an extent only missing sources could tell."""
    dtype: str
    layout: str
    """`contiguous`, `chunked`, `compact`, `virtual`, `external`; `link` for a dangling link;
    `series` for an image series over several data files (a DECTRIS master's `/entry/data`)."""
    chunks: list[int] | None
    filters: list[str]
    image: bool
    fast_path: bool
    stream: str | None
    """The `--stream NAME=/path` argument for an image dataset whose data is there, else None."""
    protocol: str | None = None
    """The stream protocol this dataset or group makes (`stins`, `xspress`, ...), if any."""
    scan: str | None = None
    """The stream `convert --scan` makes of it, for a contrast master's detectors."""
    sources: list[Source] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    """Other paths (soft links) to the same dataset."""
    note: str = ""
    frames: int | None = None
    """The frames an image dataset becomes (see `layout`), else None."""
    frame_shape: list[int] | None = None
    axes: str | None = None
    """The role of each axis, as `--axes` spells it: `NHW`, `HW` (one frame), `NHWC`."""
    hint: str | None = None
    """For tiny frames, the `--axes` that would cut images (`layout.tiny_frames`)."""


def stream_name(path: str) -> str:
    """A stream name for a dataset path: its group for generic names like `data`.

    Example:
        >>> stream_name("/entry/instrument/eiger/data")
        'eiger'
    """
    parts = [p for p in path.split("/") if p]
    name = parts[-2] if len(parts) > 1 and parts[-1].lower() in GENERIC_NAMES else parts[-1]
    name = safe_name(name)
    return name if is_plain(name) else "stream"


def is_plain(name: str) -> bool:
    """True for a name that `--stream` takes (`capture.names.check_stream_name`)."""
    return len(name) <= MAX_STREAM_NAME and STREAM_NAME.match(name) is not None


def safe_name(text: str) -> str:
    """`text` with what a stream name cannot hold replaced by `_`.

    Example:
        >>> safe_name("pilatus 1M")
        'pilatus_1M'
    """
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text).lstrip(".") or "stream"


def stream_argument(path: str, protocol: str = "", name: str | None = None) -> str:
    """The `--stream` argument that converts the dataset (or group) at `path`, quoted for
    a shell; `protocol` is added when it must be named.

    Example:
        >>> stream_argument("/entry/pilatus 1M/data")
        "--stream 'pilatus_1M=/entry/pilatus 1M/data'"
    """
    return argument(name or stream_name(path), f"{path}:{protocol}" if protocol else path)


def argument(name: str, target: str) -> str:
    """`--stream NAME=TARGET`, quoted for a shell."""
    return f"--stream {shlex.quote(f'{name}={target}')}"


def sources_of(checked: list[DataSource]) -> list[Source]:
    """The distinct sources (file and dataset) of a dataset, in the order it names them."""
    unique: dict[tuple[str, str | None], Source] = {}
    for s in checked:
        seen = unique.setdefault(
            (s.file, s.dataset), Source(s.file, s.dataset, s.problem is None, s.problem, s.refused)
        )
        if s.problem and seen.exists:  # one of its mappings reads outside the source
            unique[s.file, s.dataset] = Source(s.file, s.dataset, False, s.problem, s.refused)
    return list(unique.values())


def describe(path: str, dset: h5py.Dataset) -> DatasetInfo:
    """Describe one dataset."""
    checked, shape, cut, refusal, dtype = image_shape(dset)
    with metadata_of(dset.file, dset.name):
        dcpl = dset.id.get_create_plist()
        layout = LAYOUTS.get(dcpl.get_layout(), "unknown")
        if layout == "contiguous" and dcpl.get_external_count() > 0:
            layout = "external"
        if shape is None:
            refusal = UNSIZED
        elif len(shape) < 2 and refusal and dtype is not None and is_number(dtype):
            refusal = f"{len(shape)}-D"
        elif refusal is None and cut is not None:
            refusal = unconvertible(dset, shape, cut)
        missing = next((s for s in checked if s.problem), None)
        image = refusal is None and missing is None
        cut = cut if image else None
        slow = passthrough_refusal(FrameSeries(dset, range(0), cut)) if cut else None
        if refusal is not None:
            note = refusal
        elif missing is not None:
            what = "refused" if missing.refused else "missing"
            note = f"{what} source {missing.label}: {missing.problem}"
        else:
            note = f"encoded: {slow}" if slow else "no-recompression fast path"
        chunks = dset.chunks
        return DatasetInfo(
            path=path,
            shape=None if shape is None else list(shape),
            dtype=dtype_name(dtype) if dtype is not None else hdf5_type_name(dset.id.get_type()),
            layout=layout,
            chunks=list(chunks) if chunks else None,
            filters=filter_names(dset) if layout == "chunked" else [],
            image=image,
            fast_path=image and slow is None,
            stream=stream_argument(path) if image else None,
            protocol="stins" if image else None,
            sources=sources_of(checked),
            note=note,
            **frames_of(cut, shape),
        )


def frames_of(layout: FrameLayout | None, shape: tuple[int, ...] | None) -> dict[str, Any]:
    """The `frames`, `frame_shape` and `axes` of an image dataset, or nothing."""
    if layout is None or shape is None:
        return {}
    frame = layout.frame_shape(shape)
    return {
        "frames": prod(layout.lead_shape(shape)),
        "frame_shape": list(frame),
        "axes": layout.axes,
        "hint": tiny_frames(shape, layout),
    }


def dangling(entry: Entry) -> DatasetInfo:
    """A link that leads to no dataset: what is wrong with it."""
    return DatasetInfo(
        entry.path, None, "", "link", None, [], False, False, None, note=entry.problem or ""
    )


def list_datasets(f: h5py.File, paths: list[str]) -> list[DatasetInfo]:
    """Every dataset of `f` at `paths` (`listed_paths`: reachable by hard, soft or external
    links), once each, and every link that leads nowhere, in path order."""
    infos = []
    for entry in walk_datasets(f, paths):
        info = describe(entry.path, entry.dataset) if entry.dataset is not None else dangling(entry)
        info.links = entry.links
        infos.append(info)
    return sorted(fold_series(f, infos), key=lambda d: d.path)


def fold_series(f: h5py.File, infos: list[DatasetInfo]) -> list[DatasetInfo]:
    """`infos` with the links of each image series (a DECTRIS master's `data_000001`, ...)
    replaced by one row for the series, its data files as its sources."""
    by_path = {d.path: d for d in infos}
    groups = {posixpath.dirname(p) for p in by_path if PART.fullmatch(posixpath.basename(p))}
    for path in sorted(groups):
        try:
            group = follow(f, path)
        except BrokenLink:
            continue
        if not isinstance(group, h5py.Group) or not is_series(group):
            continue
        members = {link: by_path.pop(f"{path}/{link}", None) for link in group}
        by_path[path] = describe_series(path, group, members)
    return list(by_path.values())


def describe_series(
    path: str, group: h5py.Group, members: dict[str, DatasetInfo | None]
) -> DatasetInfo:
    """The row of an image series, from the rows of its links (`members`, by link name)."""
    order, problem = series_order(series_parts(group))
    rows = [m for m in (members.get(p.link) for p in order) if m is not None]
    first = rows[0] if rows else None
    image = problem is None and bool(rows) and all(m.image for m in rows)
    fast = image and all(m.fast_path for m in rows)
    slow = next((m.note for m in rows if not m.fast_path), first.note if first else "")
    part = order[0] if image else None  # the parts' frames, joined along one frame axis
    frame = part.frame_shape if part else None
    shape = [sum(p.frames or 0 for p in order), *frame] if part and frame else None
    layout = part.layout if part else None
    joined = FrameLayout(FRAME + layout.axes.replace(FRAME, "")) if shape and layout else None
    return DatasetInfo(
        path=path,
        shape=shape,
        dtype=first.dtype if first else "",
        layout="series",
        chunks=first.chunks if first else None,
        filters=first.filters if first else [],
        image=image,
        fast_path=fast,
        stream=stream_argument(path, name=series_stream_name(group)) if image else None,
        protocol="stins" if image else None,
        sources=[Source(p.file, p.target, p.problem is None, p.problem, p.refused) for p in order],
        note=f"image series: {problem}" if problem else slow,
        **frames_of(joined, tuple(shape) if shape else None),
    )
