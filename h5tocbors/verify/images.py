"""Prove a conversion exact: decode every image of a capture and compare it with its HDF5 source."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import h5py
import numpy as np

from ..bshuf import single_openmp_thread
from ..capture.read import read_messages
from ..errors import H5ToCborsError, shortened
from ..hdf5.images import resolve_images
from ..hdf5.series import ImageSeries
from ..protocols.jsonframe import json_header
from ..protocols.provenance import Origin
from ..protocols.stins import TYP as STINS
from ..protocols.stins import decode_stins, header_problem, image_dtype, stins_header
from ..scan.specs import axes_for
from . import StreamCheck


@dataclass(frozen=True)
class Source:
    """A stream's source frames, with their count, shape and dtype read once (h5py is slow)."""

    series: ImageSeries
    count: int
    shape: tuple[int, ...]
    dtype: np.dtype

    @classmethod
    def of(cls, series: ImageSeries) -> Source:
        return cls(series, len(series), series.frame_shape, series.dtype)


def recorded_origins(capture: str | os.PathLike[str]) -> dict[str, tuple[str, Origin]]:
    """The typ and recorded origin of each stream whose start message (in the capture's
    first message) says what it was made from (`protocols.provenance`)."""
    first = next(read_messages(capture), None)  # the reader closes the file when dropped
    found = {}
    for name, stream in first.streams.items() if first is not None else ():
        origin = start_origin(json_header(stream.frames))
        if origin is not None:
            found[name] = (stream.typ, origin)
    return found


START_KINDS = (("htype", "header"), ("message_type", "series-start"))
"""What marks a start message: STINS and xspress `header`, PCAP and AlbaEM `series-start`."""


def start_origin(header: dict[str, object] | None) -> Origin | None:
    """The origin a start message's header records (`protocols.provenance`), or None."""
    start = header is not None and any(header.get(k) == v for k, v in START_KINDS)
    return Origin.from_header(header) if start else None


def made_elsewhere(origin: Origin | None, f: h5py.File) -> str | None:
    """The recorded input, when it is another file than `f` (moved data, found by the same
    name, counts as the same), else None."""
    if origin is None:
        return None
    try:
        same = os.path.samefile(origin.input, f.filename)
    except OSError:
        same = os.path.basename(origin.input) == os.path.basename(f.filename)
    return None if same else origin.input


@dataclass(frozen=True)
class Given:
    """What the command line says of a stream's source (None: not said)."""

    path: str | None
    frames: slice | None
    axes: str | None


def recorded_images(
    f: h5py.File,
    capture: str | os.PathLike[str],
    name: str,
    given: Given,
    origin: Origin | None,
) -> ImageSeries:
    """The source images of a stream: at the path given or recorded, or found by name; the
    frames and axes given or recorded. A recorded source that is not there is named with
    the record."""
    if origin is None:
        return resolve_images(f, name, given.path, given.frames, given.axes)
    frames = origin.selection if given.frames is None else given.frames
    axes = given.axes or origin.axes or None
    try:
        return resolve_images(f, name, given.path or origin.path, frames, axes)
    except H5ToCborsError as e:
        raise H5ToCborsError(f"{capture} stream {name} was made from {origin}: {e}") from e


def verify_capture(
    f: h5py.File,
    capture: str | os.PathLike[str],
    datasets: Mapping[str, str | None],
    frames: slice | None = None,
    axes: Mapping[str, str] | None = None,
    typs: dict[str, str] | None = None,
) -> list[StreamCheck]:
    """Compare every STINS image of `capture` bit for bit with its source frame in `f`.

    Streams are resolved like `convert` does: `datasets` maps a stream name to a
    dataset path, or the dataset is found by the stream's name; `axes` cuts datasets into
    frames by stream name (`"*"`: the others; see `scan.specs.parse_axes_options`). Where
    the capture records what it was made from (`protocols.provenance`), that path, those
    frames and axes are used, unless given. Memory holds one message (and one block of
    frames, see `hdf5.slabs`) and the numbers of the frames seen, whatever the capture
    declares.

    Example:
        >>> [c.ok for c in verify_capture(f, "out/pilatus.cbors", {})]  # doctest: +SKIP
        [True]
    """
    single_openmp_thread()  # bitshuffle decodes every image: no spinning OpenMP threads
    sources: dict[str, Source] = {}
    checks: dict[str, StreamCheck] = {}
    seen: dict[str, set[int]] = {}
    for msg in read_messages(capture):
        for name, stream in msg.streams.items():
            if typs is not None:
                typs.setdefault(name, stream.typ)
            if stream.typ != STINS:
                continue
            header = stins_header(stream.frames)
            if name not in sources:
                origin = start_origin(header)
                # refuses sources that are missing: their fill values are not the data
                given = Given(datasets.get(name), frames, axes_for(axes, name))
                images = recorded_images(f, capture, name, given, origin)
                sources[name] = Source.of(images)
                checks[name] = StreamCheck(
                    str(capture),
                    name,
                    images.name,
                    0,
                    0,
                    0,
                    None,
                    made_from=made_elsewhere(origin, f),
                )
                seen[name] = set()
            if header is not None and header.get("htype") != "image":
                continue
            problem = (
                compare(sources[name], header, stream.frames, seen[name])
                if header is not None
                else "no STINS JSON header"
            )
            checks[name].count(msg.event_number, problem)
    for name, check in checks.items():
        check.missing = sources[name].count - len(seen[name])
        if check.missing and check.first_difference is None:
            absent = next(k for k in range(sources[name].count) if k not in seen[name])
            check.first_difference = f"source frame {absent} is missing from the capture"
    return list(checks.values())


def compare(
    source: Source, header: dict[str, object], frames: list[bytes], seen: set[int]
) -> str | None:
    """Why an image message differs from its source frame, or None if it is identical.

    The header is checked first, and its shape and type against the source's, so that
    nothing it declares is decoded unless it is the source frame's size.
    """
    problem = header_problem(header)
    if problem is not None:
        return f"bad image header: {problem}"
    k = header["frame"]
    assert isinstance(k, int)  # checked by header_problem
    count, shape, dtype = source.count, source.shape, source.dtype
    if not 0 <= k < count:
        return f"frame {k} is not in the {count}-frame source series"
    if k in seen:
        return f"frame {k} appears twice"
    seen.add(k)
    if len(frames) != 2:
        return f"frame {k} has {len(frames)} zmq frames, not 2"
    if header["shape"] != list(shape) or image_dtype(header["type"]) != dtype:
        return (
            f"frame {k} is {shortened(str(header['shape']))} {shortened(str(header['type']))}, "
            f"source is {list(shape)} {dtype}"
        )
    try:
        image = decode_stins(frames[1], shape, dtype, str(header["compression"]))
    except (ValueError, TypeError, KeyError, RuntimeError) as e:
        return f"frame {k} fails to decode: {e}"
    original = source.series.read(k)
    if image.tobytes() != original.tobytes():
        where = np.flatnonzero(image.view(np.uint8) != original.view(np.uint8))
        return f"frame {k} differs from the source ({len(where)} byte(s) differ)"
    return None
