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
import numpy as np

from ..buffers import Buffer
from ..core.encoding import FrameEncoder
from ..errors import shortened
from ..hdf5.frames import FrameSeries
from ..hdf5.resolve import is_image_dtype
from . import FrameCounters, Problems, StreamContext
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


def fast_path(encoder: FrameEncoder, counters: FrameCounters) -> str:
    """`passthrough` when `encoder` copied stored payloads, else why it did not."""
    if encoder.refusal:
        return encoder.refusal
    return "passthrough" if counters.passthrough else "nothing stored to pass through"


def open_writer(dataset: h5py.Dataset, ctx: StreamContext) -> StinsWriter:
    """The STINS stream of an image dataset: its frames picked by `ctx.points`.

    Example:
        >>> w = open_writer(f["/entry/data"], StreamContext(InputFile().encoder))  # doctest: +SKIP
        >>> len(w)  # header, one message per frame, end  # doctest: +SKIP
        22
    """
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


HTYPES = ("header", "image", "series_end")
INTEGERS = {
    "header": ("msg_number",),
    "image": ("msg_number", "frame"),
    "series_end": ("msg_number",),
}
STRINGS = {"header": ("filename",), "image": ("type", "compression"), "series_end": ()}
"""The fields of `dranspose.data.stream1`'s models, by type (extra fields are allowed)."""


def stins_header(frames: list[bytes]) -> dict[str, object] | None:
    """The JSON object in the first frame of a STINS message, or None when there is none."""
    try:
        header = json.loads(frames[0])
    except (IndexError, ValueError, RecursionError):
        return None
    return header if isinstance(header, dict) else None


def header_problem(header: dict[str, object]) -> str | None:
    """Why a STINS header is not what dranspose's models declare, or None when it is.

    Checked without pydantic (slow to import), field by field as `Stream1Start`,
    `Stream1Data` and `Stream1End` declare them: `htype`, integer `msg_number` and `frame`,
    a list of integers `shape`, strings `filename`, `type` and `compression`. Stricter than
    pydantic's coercion: `true` or `"32"` where an integer belongs is a problem too, as no
    detector writes them. An image's `type` must also name a numeric numpy dtype.

    Example:
        >>> header_problem({"htype": "series_end", "msg_number": 3}) is None
        True
        >>> header_problem({"htype": "image", "msg_number": 1, "frame": True})
        'frame is true, not an integer'
    """
    htype = header.get("htype")
    if not isinstance(htype, str) or htype not in HTYPES:
        return f"htype is {_shown(header, 'htype')}, not header, image or series_end"
    for key in INTEGERS[htype]:
        if not _is_integer(header.get(key)):
            return f"{key} is {_shown(header, key)}, not an integer"
    for key in STRINGS[htype]:
        if not isinstance(header.get(key), str):
            return f"{key} is {_shown(header, key)}, not a string"
    if htype == "image":
        shape = header.get("shape")
        if not isinstance(shape, list) or not all(_is_integer(n) for n in shape):
            return f"shape is {_shown(header, 'shape')}, not a list of integers"
        if image_dtype(header["type"]) is None:
            return f"type is {_shown(header, 'type')}, not a numeric dtype"
    return None


def image_dtype(name: object) -> np.dtype | None:
    """The numpy dtype an image `type` names, or None when it names no numeric dtype.

    Example:
        >>> image_dtype("uint16"), image_dtype("V0"), image_dtype("S")
        (dtype('uint16'), None, None)
    """
    if not isinstance(name, str) or len(name) > 32:
        return None
    try:
        dtype = np.dtype(name)
    except (TypeError, ValueError, SyntaxError):
        return None
    return dtype if is_image_dtype(dtype) else None


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _plain(*values: object) -> str:
    """Header values for a message, shortened: `[195, 487] uint32 bslz4`."""
    return " ".join(shortened(v if isinstance(v, str) else json.dumps(v)) for v in values)


def _shown(header: dict[str, object], key: str) -> str:
    """A header's value as JSON, shortened (`true`, `"32"`), or `missing`."""
    return shortened(json.dumps(header[key])) if key in header else "missing"


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
    problems: Problems = field(default_factory=Problems)
    _seen: int = 0
    _msg_number: int | None = None
    _frame: int | None = None
    _ended_at: int | None = None
    _ended: bool = False

    def add(self, event: int, frames: list[bytes]) -> None:
        """Take the zmq frames of this stream in the next message (at `event`)."""
        self._seen += 1
        header = stins_header(frames)
        if header is None:
            self.problems.add(f"{self.name}: event {event} has no STINS JSON header")
            return
        problem = header_problem(header)
        if problem is not None:
            self.problems.add(f"{self.name}: event {event}: {problem}")
        htype = header.get("htype")
        if not isinstance(htype, str) or htype not in HTYPES:
            return
        if self._ended_at is not None:
            self.problems.add(
                f"{self.name}: series_end at event {self._ended_at} is not the last message "
                f"({htype} at event {event} follows)"
            )
            self._ended_at = None
        if htype == "header" and self._seen != 1:
            self.problems.add(f"{self.name}: start (header) at event {event} is not first")
        elif htype != "header" and self._seen == 1:
            self.problems.add(f"{self.name}: first message (event {event}) is {htype}, not header")
        self._check_sequence("msg_number", header.get("msg_number"), event)
        if htype == "image":
            self._image(event, header, frames, problem is None)
        elif htype == "series_end":
            self._ended_at = event
            self._ended = True

    def finish(self) -> list[str]:
        """The problems found, once every message was added."""
        if not self._ended:
            self.problems.add(f"{self.name}: no series_end message")
        return self.problems.report()

    def _image(self, event: int, header: dict[str, object], frames: list[bytes], ok: bool) -> None:
        self.frames += 1
        if len(frames) != 2:
            self.problems.add(
                f"{self.name}: image at event {event} has {len(frames)} zmq frames, not 2"
            )
        if ok:
            shape, dtype, compression = header["shape"], header["type"], header["compression"]
            assert isinstance(shape, list) and isinstance(dtype, str)  # checked by header_problem
            assert isinstance(compression, str)
            if self.frames == 1:
                self.shape, self.type, self.compression = shape, dtype, compression
            elif (shape, dtype, compression) != (self.shape, self.type, self.compression):
                first = (self.shape, self.type, self.compression)
                self.problems.add(
                    f"{self.name}: image at event {event} is {_plain(shape, dtype, compression)}, "
                    f"unlike the first ({_plain(*first)})"
                )
        self._check_sequence("frame", header.get("frame"), event)

    def _check_sequence(self, key: str, value: object, event: int) -> None:
        if not _is_integer(value):
            return  # named by header_problem
        assert isinstance(value, int)
        last = self._msg_number if key == "msg_number" else self._frame
        if last is not None and value != last + 1:
            self.problems.add(f"{self.name}: {key} jumps from {last} to {value} at event {event}")
        elif last is None and key == "frame" and value != 0:
            self.problems.add(f"{self.name}: first frame is {value}, not 0 (event {event})")
        if key == "msg_number":
            self._msg_number = value
        else:
            self._frame = value


def describe_stins(frames: list[bytes]) -> str:
    """`header`, `image frame=3 msg_number=4`, `series_end msg_number=21`, or `unparsable`."""
    header = stins_header(frames)
    htype = header.get("htype") if header is not None else None
    if header is None or not isinstance(htype, str) or htype not in HTYPES:
        return "unparsable"
    keys = ["frame", "msg_number"] if htype == "image" else ["msg_number"]
    return " ".join([htype, *(f"{k}={_shown(header, k)}" for k in keys if k in header)])
