"""xspress3 spectra (typ `xspress`), as the xspress3 streamer sends them and dranspose records.

A start message `{"htype":"header","filename":...,"overwritable":false}` (and where the stream
came from, `provenance`); per frame one
message of exactly three frames: a JSON header, the raw C-order spectra (channels, bins),
and the pickled list of that frame's per-channel meta arrays in the streamer's order;
an end message `{"htype":"series_end"}`. `dranspose.middlewares.xspress.parse` gives the
spectra as `data` and the meta as a dict (it names the first eight).

The source is the streamer's HDF5 group (`/entry/instrument/xspress3`): `data` (frames,
channels, bins) and the meta datasets (frames, channels), `window_counts` (frames, 2,
channels) where the streamer wrote it. `exptime` is not stored: it is
`clock_ticks[k][0] / 80e6`, the streamer's clock, as in every real capture.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import h5py
import numpy as np

from ..buffers import Buffer
from ..errors import H5ToCborsError
from ..hdf5.frames import FrameSeries
from ..hdf5.layout import FrameLayout
from ..hdf5.resolve import is_image_dtype
from ..hdf5.types import dtype_name
from ..payloads.encoding import FrameEncoder
from . import StreamContext
from .encoded import EncodedWriter
from .jsonframe import json_frame, json_header
from .members import member_dataset
from .order import StreamInspector
from .pickles import RefusedPickle, dumps, loads
from .provenance import origin_fields
from .rows import BlockRows
from .values import (
    Comparer,
    array_nbytes,
    bytes_difference,
    difference,
    frame_count_difference,
)

TYP = "xspress"
NAME = "xspress"
"""The protocol's name in `--stream NAME=PATH:xspress`."""

META = (
    "output_count_rate",
    "all_events",
    "all_good",
    "clock_ticks",
    "total_ticks",
    "reset_ticks",
    "event_width",
    "dead_time_correction",
)
"""The per-channel meta datasets, in the order of the pickled list."""
WINDOW_COUNTS = "window_counts"
"""Appended to the list by newer streamers, shape (2, channels) per frame."""
CLOCK_HZ = 80e6
PICKLE_PROTOCOL = 3
"""As the streamer's `send_pyobj` pickled (`\\x80\\x03` in real captures)."""


@dataclass(kw_only=True)
class XspressWriter(EncodedWriter[FrameEncoder]):
    """The xspress messages of one xspress3 group.

    Example:
        >>> w = open_writer(f["/entry/instrument/xspress3"], ctx)  # doctest: +SKIP
        >>> [len(m) for m in w]  # start, 2 frames of 3 parts, end  # doctest: +SKIP
        [1, 3, 3, 1]
    """

    meta: list[BlockRows]
    """The rows of the meta datasets, in the order of `META` (`window_counts` last, if any)."""
    filename: str
    typ: str = TYP

    def __iter__(self) -> Iterator[Sequence[Buffer]]:
        series = self.encoder.series
        start = {"htype": "header", "filename": self.filename, "overwritable": False}
        yield [json_frame(start | self.origin)]
        shape, dtype = list(series.frame_shape), series.dtype.name
        meta = self.meta
        clock = meta[META.index("clock_ticks")]
        for k, payload in self.payloads():
            index = series.indices[k]
            header = {
                "htype": "image",
                "exptime": int(clock.row(index)[0]) / CLOCK_HZ,
                "frame": k,
                "shape": shape,
                "type": dtype,
                "compression": "none",
            }
            values = [m.row(index) for m in meta]
            yield [json_frame(header), payload.data, dumps(values, PICKLE_PROTOCOL)]
        yield [json_frame({"htype": "series_end"})]


def fits(obj: h5py.Group | h5py.Dataset) -> str | None:
    """None when `obj` is an xspress3 group, else why not.

    Example:
        >>> fits(f["/entry/measurement/panda0"])  # doctest: +SKIP
        'no data dataset'
    """
    found = parts(obj)
    return found if isinstance(found, str) else None


def parts(obj: h5py.Group | h5py.Dataset) -> tuple[h5py.Dataset, list[h5py.Dataset]] | str:
    """The `data` of an xspress3 group and its meta datasets in the pickled list's order
    (`window_counts` last, where there is one), each opened once; or why it is not one."""
    if not isinstance(obj, h5py.Group):
        return "a dataset, not a group with data and the xspress3 meta datasets"
    data = member_dataset(obj, "data")
    if data is None:
        return "no data dataset"
    if data.ndim != 3 or not is_image_dtype(data.dtype):
        return (
            f"data is {data.shape} {dtype_name(data.dtype)}, "
            "not numbers of shape (frames, channels, bins)"
        )
    frames, channels = data.shape[:2]
    if frames == 0 or channels == 0:
        return f"data {data.shape} holds no spectra"
    found = {name: member_dataset(obj, name) for name in (*META, WINDOW_COUNTS)}
    missing = [name for name in META if found[name] is None]
    if missing:
        return f"no {', '.join(missing)} beside data (the xspress3 meta datasets)"
    shapes = {name: (frames, channels) for name in META} | {WINDOW_COUNTS: (frames, 2, channels)}
    meta = [(name, d) for name, d in found.items() if d is not None]
    for name, dataset in meta:
        if dataset.shape != shapes[name] or not is_image_dtype(dataset.dtype):
            return (
                f"{name} is {dataset.shape} {dtype_name(dataset.dtype)}, not numbers of shape "
                f"{shapes[name]} (frames, channels of data {data.shape})"
            )
    return data, [d for _, d in meta]


def open_writer(group: h5py.Group | h5py.Dataset, ctx: StreamContext) -> XspressWriter:
    """The xspress stream of an xspress3 group: its frames picked by `ctx.points`.

    The start message's `filename` is `ctx.filename`, or else the absolute name of the
    file holding the group, as the streamer announces the file it writes.
    """
    found = parts(group)
    if isinstance(found, str):
        raise H5ToCborsError(
            f"{group.name} in {group.file.filename} is not an xspress3 group: {found}"
        )
    data, meta = found
    series = FrameSeries.of(data, ctx.points, FrameLayout.first_axis(data.ndim))
    return XspressWriter(
        encoder=ctx.encoder(series, "none"),
        meta=[BlockRows(d, len(series)) for d in meta],  # unstored rows: refused now
        filename=ctx.filename or os.path.abspath(group.file.filename),
        source=group.name,
        origin=origin_fields(ctx.input, ctx.path or group.name, series.indices),
    )


@dataclass
class XspressInspector(StreamInspector):
    """Follows one xspress stream through a capture: order, image headers, spectra sizes, and
    each meta list, unpickled by the strict loader (a hostile pickle is a problem, not code).

    Example:
        >>> check = XspressInspector("xspress3")
        >>> check.add(0, [b'{"htype":"header","filename":"","overwritable":false}'])
        >>> check.finish().report()
        ['xspress3: no series_end message']
    """

    meta: list[str] = field(default_factory=list)
    """Names of the meta arrays of the first image, in the streamer's order."""

    def start_and_end(self) -> tuple[str, str]:
        return "header", "series_end"

    @property
    def details(self) -> list[str]:
        """What a summary shows beyond shape and type: the meta names."""
        return ([f"meta {', '.join(self.meta)}"] if self.meta else []) + super().details

    def add(self, event: int, frames: list[bytes]) -> None:
        """Take the zmq frames of this stream in the next message (at `event`)."""
        header = json_header(frames)
        htype = str(header.get("htype")) if header else "unparsable"
        self.order.add(event, htype)
        if header is None:
            self.order.note(f"event {event} has no xspress JSON header")
        elif htype == "header":
            self.start(header)
        elif htype == "image":
            self._image(event, header, frames)
        elif htype not in ("header", "series_end"):
            self.order.note(f"event {event} has htype {htype!r}")

    def _image(self, event: int, header: dict[str, object], frames: list[bytes]) -> None:
        note = self.order.note
        if header.get("frame") != self.frames:
            note(f"image at event {event} is frame {header.get('frame')}, not {self.frames}")
        self.frames += 1
        shape, dtype = header.get("shape"), header.get("type")
        if self.frames == 1:
            self.shape = shape if isinstance(shape, list) else None
            self.type = dtype if isinstance(dtype, str) else None
            self.compression = str(header.get("compression"))
        elif (shape, dtype) != (self.shape, self.type):
            note(f"image at event {event} is {shape} {dtype}, unlike the first")
        if len(frames) != 3:
            note(f"image at event {event} has {len(frames)} zmq frames, not 3")
            return
        size = array_nbytes(shape, dtype, 2)
        if size is None:
            note(f"image at event {event} has shape {shape} and type {dtype!r}")
        elif size != len(frames[1]):
            note(f"image at event {event} has {len(frames[1])} bytes of spectra, not {size}")
        self._meta(event, frames[2], shape)

    def _meta(self, event: int, pickled: bytes, shape: object) -> None:
        try:
            meta = loads(pickled)
        except RefusedPickle as e:
            self.order.note(f"meta of the image at event {event} refused: {e}")
            return
        if not isinstance(meta, list) or not all(isinstance(m, np.ndarray) for m in meta):
            self.order.note(f"meta at event {event} is not a list of arrays")
            return
        names = [*META, WINDOW_COUNTS][: len(meta)] + ["?"] * (len(meta) - len(META) - 1)
        if not self.meta:
            self.meta = names
        if len(meta) < len(META):
            self.order.note(f"meta at event {event} has {len(meta)} arrays, not {len(META)}")
        channels = shape[0] if isinstance(shape, list) and shape else None
        odd = [n for n, m in zip(names, meta) if m.shape[-1:] != (channels,)]
        if odd:
            self.order.note(f"meta {', '.join(odd)} at event {event} not one per channel")


def inspector(name: str) -> XspressInspector:
    """Follows stream `name` through a capture, for `inspect`."""
    return XspressInspector(name)


def describe(frames: list[bytes]) -> str:
    """`header`, `image frame=3 [4, 4096] uint32`, `series_end`, or `unparsable`."""
    header = json_header(frames)
    if header is None or "htype" not in header:
        return "unparsable"
    htype = str(header["htype"])
    if htype == "image":
        return f"image frame={header.get('frame')} {header.get('shape')} {header.get('type')}"
    return htype


def comparer() -> Comparer:
    """Compares a capture's xspress messages with those made again from the HDF5 file."""
    return compare


def compare(expected: Sequence[bytes], actual: Sequence[bytes]) -> str | None:
    """Where an xspress message differs: its header, its spectra bit for bit, or a meta array
    (by name); the start message's `filename` is not compared (it names where the file was).
    """
    want, got = json_header(expected), json_header(actual)
    if got is None:
        return "no JSON header"
    assert want is not None
    if got.get("htype") != want["htype"]:
        return f"a {got.get('htype')!r} message, not {want['htype']}"
    if want["htype"] != "image":
        return None
    found = frame_count_difference(expected, actual) or difference(want, got, "header")
    if found is not None:
        return found
    found = bytes_difference(bytes(expected[1]), bytes(actual[1]), "spectra")
    if found is not None:
        return found
    try:
        got_meta = loads(actual[2])
    except RefusedPickle as e:
        return f"meta refused: {e}"
    want_meta = loads(expected[2])
    names = [*META, WINDOW_COUNTS]
    if not isinstance(got_meta, list) or len(got_meta) != len(want_meta):
        return f"meta is not a list of {len(want_meta)} arrays"
    for name, want_array, got_array in zip(names, want_meta, got_meta):
        found = difference(want_array, got_array, f"meta {name}")
        if found is not None:
            return found
    return None
