"""STINS (stream1) messages: a header, one image message per frame, a series end.

Mirrors `dranspose.data.stream1`, whose models' JSON the headers are: event 0 carries
`Stream1Start`, event k = 1..N carries `Stream1Data` for frame k-1 followed by its payload,
event N+1 carries `Stream1End`. `msg_number` equals the event number. Where the images
come from a streaming-receiver file, the start message carries the detector's
configuration as a second JSON frame, as the receiver got it from the detector.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import h5py

from ..buffers import Buffer
from ..core.encoding import FrameEncoder
from ..errors import H5ToCborsError
from ..hdf5.frames import FrameSeries
from ..hdf5.resolve import is_image_dtype
from . import FrameCounters, StreamContext
from .jsonframe import json_frame
from .metadata import collect_metadata

TYP = "STINS"
NAME = "stins"
"""The protocol's name in `--stream NAME=PATH:stins`."""


@dataclass
class StinsWriter:
    """The STINS messages of one image series.

    Example:
        >>> enc = FrameEncoder(FrameSeries.of(f["/entry/data"]), "bslz4")  # doctest: +SKIP
        >>> [len(m) for m in StinsWriter(enc)]  # header, 2 images, end  # doctest: +SKIP
        [1, 2, 2, 1]
    """

    encoder: FrameEncoder
    filename: str = ""
    config: bytes | None = None
    """The start message's second frame: the detector's configuration as JSON."""
    typ: str = TYP
    counters: FrameCounters = field(default_factory=FrameCounters)

    @property
    def source(self) -> str:
        """The dataset the images come from."""
        return str(self.encoder.series.dataset.name)

    @property
    def fast_path(self) -> str:
        """`passthrough` when stored chunks were copied, else why they were not."""
        return fast_path(self.encoder, self.counters)

    def __len__(self) -> int:
        return len(self.encoder.series) + 2

    def __iter__(self) -> Iterator[Sequence[Buffer]]:
        series = self.encoder.series
        start = start_header(0, self.filename)
        yield [start] if self.config is None else [start, self.config]
        shape, dtype = list(series.frame_shape), series.dtype.name
        for k, payload in enumerate(self.encoder):
            self.counters.frames += 1
            self.counters.passthrough += payload.passthrough
            header = image_header(k + 1, k, shape, dtype, self.encoder.compression)
            yield [header, payload.data]
        yield [end_header(len(series) + 1)]


def fits(obj: h5py.Group | h5py.Dataset) -> str | None:
    """None for an image dataset (numbers, 2 or more dimensions), else why it is not one.

    Example:
        >>> fits(f["/entry/instrument/pilatus/data"]) is None  # doctest: +SKIP
        True
    """
    if not isinstance(obj, h5py.Dataset):
        return "a group, not an image dataset"
    if not is_image_dtype(obj.dtype):
        return f"{obj.dtype} data, not numbers"
    if obj.ndim < 2:
        return f"{obj.ndim}-D, not images"
    return None


def fast_path(encoder: FrameEncoder, counters: FrameCounters) -> str:
    """`passthrough` when `encoder` copied stored payloads, else why it did not."""
    if encoder.refusal:
        return encoder.refusal
    return "passthrough" if counters.passthrough else "nothing stored to pass through"


def open_writer(dataset: h5py.Group | h5py.Dataset, ctx: StreamContext) -> StinsWriter:
    """The STINS stream of an image dataset: its frames picked by `ctx.points`.

    Example:
        >>> w = open_writer(f["/entry/data"], StreamContext(InputFile().encoder))  # doctest: +SKIP
        >>> len(w)  # header, one message per frame, end  # doctest: +SKIP
        22
    """
    if not isinstance(dataset, h5py.Dataset):
        raise H5ToCborsError(f"{dataset.name} is a group, not an image dataset")
    series = FrameSeries.of(dataset, ctx.points)
    encoder = ctx.encoder(series, ctx.compression)
    return StinsWriter(encoder, filename=ctx.filename, config=receiver_config(dataset))


RECEIVER_DATASETS = ("sequence_number",)
"""What the streaming-receiver writes beside `data` that is not configuration."""


def receiver_config(dataset: h5py.Dataset) -> bytes | None:
    """The configuration frame for images from a detector group (NeXus `NXdetector`, as the
    streaming-receiver marks it): its settings as JSON, or None (another kind of group, or
    no settings).

    Example:
        >>> receiver_config(f["/entry/instrument/eiger/data"])  # doctest: +SKIP
        b'{"count_time":0.1,"nimages":20,"photon_energy":8000.0,"trigger_mode":"exts"}'
    """
    group = dataset.parent
    try:
        nx_class = group.attrs.get("NX_class")
    except (OSError, KeyError, TypeError, ValueError):
        return None
    if isinstance(nx_class, bytes):
        nx_class = nx_class.decode(errors="replace")
    if not isinstance(nx_class, str) or nx_class != "NXdetector":
        return None
    own = dataset.name.rsplit("/", 1)[-1]
    settings = collect_metadata(group, skip={own, *RECEIVER_DATASETS})
    return json_frame(settings) if settings else None


def start_header(msg_number: int, filename: str) -> bytes:
    """`Stream1Start(msg_number=..., filename=...).model_dump_json()`, byte for byte (tested).

    Written without pydantic: importing dranspose's models costs a tenth of a second.

    Example:
        >>> start_header(0, "")
        b'{"msg_number":0,"htype":"header","filename":""}'
    """
    return json_frame({"msg_number": msg_number, "htype": "header", "filename": filename})


def image_header(
    msg_number: int, frame: int, shape: list[int], dtype: str, compression: str
) -> bytes:
    """`Stream1Data(...).model_dump_json()` for an image, byte for byte (tested)."""
    return json_frame(
        {
            "msg_number": msg_number,
            "htype": "image",
            "frame": frame,
            "shape": shape,
            "type": dtype,
            "compression": compression,
        }
    )


def end_header(msg_number: int) -> bytes:
    """`Stream1End(msg_number=...).model_dump_json()`, byte for byte (tested)."""
    return json_frame({"msg_number": msg_number, "htype": "series_end"})


@dataclass
class StinsInspector:
    """Follows one STINS stream through a capture and names what is out of order.

    Example:
        >>> check = StinsInspector("pilatus")
        >>> check.add(0, [b'{"htype": "header", "msg_number": 0, "filename": ""}'])
        >>> check.finish()
        ['pilatus: no series_end message']
    """

    name: str
    frames: int = 0
    shape: list[int] | None = None
    type: str | None = None
    compression: str | None = None
    problems: list[str] = field(default_factory=list)
    _seen: int = 0
    _msg_number: int | None = None
    _frame: int | None = None
    _ended_at: int | None = None

    def add(self, event: int, frames: list[bytes]) -> None:
        """Take the zmq frames of this stream in the next message (at `event`)."""
        self._seen += 1
        try:
            header = json.loads(frames[0])
            htype = header["htype"]
        except (IndexError, ValueError, KeyError, TypeError, RecursionError):
            self.problems.append(f"{self.name}: event {event} has no STINS JSON header")
            return
        if self._ended_at is not None:
            self.problems.append(
                f"{self.name}: series_end at event {self._ended_at} is not the last message "
                f"({htype} at event {event} follows)"
            )
            self._ended_at = None
        if htype == "header" and self._seen != 1:
            self.problems.append(f"{self.name}: start (header) at event {event} is not first")
        elif htype != "header" and self._seen == 1:
            self.problems.append(
                f"{self.name}: first message (event {event}) is {htype}, not header"
            )
        self._check_sequence("msg_number", header.get("msg_number"), event)
        if htype == "image":
            self._image(event, header, frames)
        elif htype == "series_end":
            self._ended_at = event

    def finish(self) -> list[str]:
        """The problems found, once every message was added."""
        if self._ended_at is None and not any("series_end" in p for p in self.problems):
            self.problems.append(f"{self.name}: no series_end message")
        return self.problems

    def _image(self, event: int, header: dict[str, object], frames: list[bytes]) -> None:
        self.frames += 1
        if len(frames) != 2:
            self.problems.append(
                f"{self.name}: image at event {event} has {len(frames)} zmq frames, not 2"
            )
        shape, dtype, compression = (
            header.get("shape"),
            header.get("type"),
            header.get("compression"),
        )
        if self.frames == 1:
            self.shape = shape if isinstance(shape, list) else None
            self.type = dtype if isinstance(dtype, str) else None
            self.compression = compression if isinstance(compression, str) else None
        elif (shape, dtype, compression) != (self.shape, self.type, self.compression):
            self.problems.append(
                f"{self.name}: image at event {event} is {shape} {dtype} {compression}, "
                f"unlike the first ({self.shape} {self.type} {self.compression})"
            )
        self._check_sequence("frame", header.get("frame"), event)

    def _check_sequence(self, key: str, value: object, event: int) -> None:
        last = self._msg_number if key == "msg_number" else self._frame
        if not isinstance(value, int):
            self.problems.append(f"{self.name}: event {event} has no integer {key}")
            return
        if last is not None and value != last + 1:
            self.problems.append(
                f"{self.name}: {key} jumps from {last} to {value} at event {event}"
            )
        elif last is None and key == "frame" and value != 0:
            self.problems.append(f"{self.name}: first frame is {value}, not 0 (event {event})")
        if key == "msg_number":
            self._msg_number = value
        else:
            self._frame = value


def describe_stins(frames: list[bytes]) -> str:
    """`header`, `image frame=3 msg_number=4`, `series_end msg_number=21`, or `unparsable`."""
    try:
        header = json.loads(frames[0])
        htype = str(header["htype"])
    except (IndexError, ValueError, KeyError, TypeError, RecursionError):
        return "unparsable"
    keys = ["frame", "msg_number"] if htype == "image" else ["msg_number"]
    return " ".join([htype, *(f"{k}={header[k]}" for k in keys if k in header)])
