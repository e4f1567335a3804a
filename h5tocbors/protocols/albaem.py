"""AlbaEM electrometer readings (typ `albaem`), as dranspose's `zmqsub_albaem` ingester records.

One JSON frame per message, as the electrometer publishes it (Python's `json.dumps`
spacing, floats as `repr`, the shortest text that reads back as the same double):

    {"version": 1, "message_type": "series-start", "message_id": 1}
    {"version": 1, "message_type": "data", "message_id": 2, "frame_number": 0,
     "timestamp": 7.72645192, "acquisition_timestamp": 1704807770443944912,
     "channel1": -2.8302592615927417e-11, ...}
    {"version": 1, "message_type": "series-end", "message_id": 6,
     "detector_specific": {"read_overflow": false, "memory_overflow": false}}

There is no middleware: workers call `dranspose.data.albaem.AlbaemPacket.validate_json`.

The source is a group of per-point 1-D datasets: `channel1` (required) to `channel4`, and
`timestamp` (seconds, float) and `acquisition_timestamp` (integer nanoseconds) where the
file has them. The model requires both timestamps: without them every point says 0.0 and
0. `message_id` counts messages from 1, `frame_number` the points of the stream from 0;
the end's `detector_specific` is always "no overflow". The start message records where the
stream came from (`provenance`), an extra field the model allows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import h5py
import numpy as np

from ..buffers import Buffer
from ..errors import H5ToCborsError, quoted
from ..hdf5.selection import select_frames
from ..hdf5.types import dtype_name
from . import StreamContext, Writer
from .jsonframe import json_header
from .members import member_dataset, member_names, unequal_lengths
from .order import StreamInspector
from .provenance import KEY, origin_fields
from .rows import BlockRows
from .values import Comparer, difference, is_integer, show

TYP = "albaem"
NAME = "albaem"
"""The protocol's name in `--stream NAME=PATH:albaem`."""

CHANNELS = ("channel1", "channel2", "channel3", "channel4")
TIMESTAMP = "timestamp"
ACQUISITION = "acquisition_timestamp"
KNOWN = (TIMESTAMP, ACQUISITION, *CHANNELS)
"""The datasets of an AlbaEM group, in the order a data message carries them."""
DEFAULTS: dict[str, float | int] = {TIMESTAMP: 0.0, ACQUISITION: 0}
"""What a data message says for a timestamp the file lacks (the model requires both)."""
START, DATA, END = "series-start", "data", "series-end"
NO_OVERFLOW = {"read_overflow": False, "memory_overflow": False}


def frame(message: dict[str, object]) -> bytes:
    """A message as the electrometer writes it: `json.dumps` with its default spacing.

    Example:
        >>> frame({"version": 1, "message_type": "data", "channel1": 0.1})
        b'{"version": 1, "message_type": "data", "channel1": 0.1}'
    """
    return json.dumps(message).encode()


def wire_kind(name: str, dtype: np.dtype) -> str | None:
    """`int` or `float`, how the values of dataset `name` are written; None when the
    dtype is not one a data message can carry exactly.

    `acquisition_timestamp` takes integers up to 64 bits, the others floats up to 64 bits
    and integers up to 32 (exact as doubles).

    Example:
        >>> wire_kind("channel1", np.dtype("f4")), wire_kind("channel1", np.dtype("i8"))
        ('float', None)
        >>> wire_kind("acquisition_timestamp", np.dtype("u8"))
        'int'
    """
    if dtype.fields is not None or dtype.subdtype is not None:
        return None
    if name == ACQUISITION:
        return "int" if dtype.kind in "iu" and dtype.itemsize <= 8 else None
    limit = 8 if dtype.kind == "f" else 4 if dtype.kind in "iu" else 0
    return "float" if dtype.itemsize <= limit else None


def albaem_datasets(group: h5py.Group) -> dict[str, h5py.Dataset] | str:
    """The datasets of an AlbaEM group by name, in the order of `KNOWN`; or why it is not one.

    Example:
        >>> albaem_datasets(f["/entry/measurement/panda0"])  # doctest: +SKIP
        "names that are not AlbaEM datasets: 'INENC2.VAL_Mean'"
    """
    names = member_names(group)
    unknown = [n for n in names if n not in KNOWN]
    if unknown:
        listed = ", ".join(quoted(n) for n in unknown[:5])
        more = f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
        return f"names that are not AlbaEM datasets: {listed}{more}"
    if CHANNELS[0] not in names:
        return "no channel1 dataset"
    found: dict[str, h5py.Dataset] = {}
    for name in (n for n in KNOWN if n in names):
        dataset = member_dataset(group, name)
        if dataset is None:
            return f"{name} is not a dataset"
        if dataset.ndim != 1 or wire_kind(name, dataset.dtype) is None:
            wanted = "an integer" if name == ACQUISITION else "a number"
            return f"{name} is {dataset.shape} {dtype_name(dataset.dtype)}, not {wanted} per point"
        found[name] = dataset
    uneven = unequal_lengths("datasets", [(n, d.shape[0]) for n, d in found.items()])
    return uneven if uneven is not None else found


def fits(obj: h5py.Group | h5py.Dataset) -> str | None:
    """None when `obj` is an AlbaEM group (`channel1`, and only the AlbaEM names), else why not.

    Example:
        >>> fits(f["/entry/instrument/albaem"])  # doctest: +SKIP
    """
    if not isinstance(obj, h5py.Group):
        return "a dataset, not a group of AlbaEM channels"
    found = albaem_datasets(obj)
    return found if isinstance(found, str) else None


@dataclass
class AlbaemWriter(Writer):
    """The albaem messages of one AlbaEM group: series-start, one data per point, series-end.

    Example:
        >>> w = open_writer(f["/entry/instrument/albaem"], ctx)  # doctest: +SKIP
        >>> bytes(list(w)[-1][0])  # doctest: +SKIP
        b'{"version": 1, "message_type": "series-end", "message_id": 6, ...}'
    """

    readers: dict[str, BlockRows]
    """Each dataset's rows, by name, in the order of `KNOWN`."""
    points: range
    origin: dict[str, object] = field(default_factory=dict)
    typ: str = TYP

    def __len__(self) -> int:
        return len(self.points) + 2

    def __iter__(self) -> Iterator[Sequence[Buffer]]:
        yield [frame(_head(START, 1) | self.origin)]
        readers = self.readers
        block = min(r.block_rows for r in readers.values())
        for first in range(0, len(self.points), block):
            part = self.points[first : first + block]
            columns = {n: _values(n, r.rows(part)) for n, r in readers.items()}
            for k in range(len(part)):
                index = first + k
                message = _head(DATA, index + 2) | {"frame_number": index}
                message |= {n: columns[n][k] if n in columns else v for n, v in DEFAULTS.items()}
                message |= {n: columns[n][k] for n in CHANNELS if n in columns}
                self.counters.frames += 1
                yield [frame(message)]
        end = _head(END, len(self.points) + 2) | {"detector_specific": NO_OVERFLOW}
        yield [frame(end)]


def _head(message_type: str, message_id: int) -> dict[str, object]:
    return {"version": 1, "message_type": message_type, "message_id": message_id}


def _values(name: str, values: np.ndarray) -> list[int] | list[float]:
    """Python numbers, written exactly: integers for `acquisition_timestamp`, else doubles."""
    if name == ACQUISITION:
        return [int(v) for v in values.tolist()]
    return [float(v) for v in values.astype(np.float64).tolist()]


def open_writer(group: h5py.Group | h5py.Dataset, ctx: StreamContext) -> AlbaemWriter:
    """The albaem stream of an AlbaEM group: its points picked by `ctx.points`."""
    found = albaem_datasets(group) if isinstance(group, h5py.Group) else "not a group of channels"
    if isinstance(found, str):
        raise H5ToCborsError(
            f"{group.name} in {group.file.filename} is not an AlbaEM group: {found}"
        )
    points = select_frames(
        ctx.points, found[CHANNELS[0]].shape[0], f"{group.name} in {group.file.filename}"
    )
    origin = origin_fields(ctx.input, ctx.path or group.name, points)
    readers = {name: BlockRows(d, len(points)) for name, d in found.items()}  # unstored: refused
    return AlbaemWriter(readers, points, origin, source=group.name)


@dataclass
class AlbaemInspector(StreamInspector):
    """Follows one albaem stream: series-start, data points counted, series-end; the channels
    of the first point; message ids and frame numbers counting up.

    Example:
        >>> check = AlbaemInspector("em")
        >>> check.add(0, [b'{"version": 1, "message_type": "series-start", "message_id": 1}'])
        >>> check.add(1, [b'{"version": 1, "message_type": "series-end", "message_id": 3}'])
        >>> check.finish().report()
        ['em: message_id 3 at event 1, not 2']
    """

    channels: list[str] = field(default_factory=list)
    """The channels of the first data message."""
    _next_id: int | None = None

    def start_and_end(self) -> tuple[str, str]:
        return START, END

    @property
    def details(self) -> list[str]:
        """What a summary shows: the points and channels."""
        channels = ", ".join(self.channels) or "none"
        return [f"{self.frames} point(s), channels {channels}", *super().details]

    def add(self, event: int, frames: list[bytes]) -> None:
        """Take the zmq frames of this stream in the next message (at `event`)."""
        message = json_header(frames)
        kind = message.get("message_type") if message is not None else None
        kind = kind if isinstance(kind, str) else "unparsable"
        self.order.add(event, kind[:40])
        if message is None or kind == "unparsable":
            self.order.note(f"event {event} is no AlbaEM JSON message")
            return
        if kind not in (START, DATA, END):
            self.order.note(f"event {event} has message_type {quoted(kind)}")
        if len(frames) != 1:
            self.order.note(f"{kind[:40]} at event {event} has {len(frames)} zmq frames, not 1")
        self._common(event, kind[:40], message)
        if kind == START:
            self.start(message)
        elif kind == DATA:
            self._data(event, message)

    def _common(self, event: int, kind: str, message: dict[str, object]) -> None:
        if message.get("version") != 1:
            self.order.note(f"{kind} at event {event} has version {_shown(message, 'version')}")
        found = message.get("message_id")
        if not is_integer(found):
            self.order.note(f"{kind} at event {event} has no integer message_id")
            return
        assert isinstance(found, int)
        if self._next_id is not None and found != self._next_id:
            self.order.note(f"message_id {show(found)} at event {event}, not {show(self._next_id)}")
        self._next_id = found + 1

    def _data(self, event: int, message: dict[str, object]) -> None:
        note = self.order.note
        number = message.get("frame_number")
        if not (is_integer(number) and number == self.frames):
            shown = _shown(message, "frame_number")
            note(f"data at event {event} has frame_number {shown}, not {self.frames}")
        self.frames += 1
        if not _is_number(message.get(TIMESTAMP)):
            note(f"data at event {event} has timestamp {_shown(message, TIMESTAMP)}")
        if not is_integer(message.get(ACQUISITION)):
            note(f"data at event {event} has acquisition_timestamp {_shown(message, ACQUISITION)}")
        channels = [k for k in message if k.startswith("channel")][:8]
        if self.frames == 1:
            self.channels = [k[:40] for k in channels]
        elif [k[:40] for k in channels] != self.channels:
            note(f"data at event {event} has other channels than the first")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(message: dict[str, object], key: str) -> str:
    return show(message.get(key))


def inspector(name: str) -> AlbaemInspector:
    """Follows stream `name` through a capture, for `inspect`."""
    return AlbaemInspector(name)


def describe(frames: list[bytes]) -> str:
    """`series-start id=1`, `data id=2 frame_number=0 4 channels`, `series-end id=6`, or
    `unparsable`.

    Example:
        >>> describe([b'{"version": 1, "message_type": "series-end", "message_id": 6}'])
        'series-end id=6'
    """
    message = json_header(frames)
    if message is None or "message_type" not in message:
        return "unparsable"
    kind = f"{str(message['message_type'])[:40]} id={_shown(message, 'message_id')}"
    if message["message_type"] != DATA:
        return kind
    channels = sum(1 for k in message if k.startswith("channel"))
    return f"{kind} frame_number={_shown(message, 'frame_number')} {channels} channels"


def comparer() -> Comparer:
    """Compares a capture's albaem messages with those made again from the HDF5 file."""
    return compare


def compare(expected: Sequence[bytes], actual: Sequence[bytes]) -> str | None:
    """Where an albaem message differs, field by field, values exactly (floats bit for bit,
    an integer is not a float); the start's record of where the stream came from is not
    compared (it names where the file was).

    Example:
        >>> compare([b'{"channel1": 0.1}'], [b'{"channel1": 0.10000000000000002}'])
        'channel1 is 0.10000000000000002, not 0.1'
    """
    want, got = json_header(expected), json_header(actual)
    if got is None:
        return "no AlbaEM JSON message"
    assert want is not None
    if len(actual) != 1:
        return f"the message has {len(actual)} zmq frames, not 1"
    want.pop(KEY, None)
    got.pop(KEY, None)
    return difference(want, got)
