"""LeCroy oscilloscope traces (typ `lecroy_9fwdWp6Rq7`), as dranspose's `zmqsub_lecroy`
ingester records what the scope's MAUI streamer sends.

A prepare message `{"htype": "msg", "what": 0, "frame": 0}`; one message per sequence of
1 + 3 x channels + 1 zmq frames: the sequence start (`what` 1: `ntriggers`, `seqno`,
`channels`), per channel a traces JSON (`ch`, `ts`, `frame`, `shape`, `horiz_offset`,
`horiz_interval`, `dtype`), the raw float64 traces (traces, points) and the pickled list
(protocol 4) of the traces' timestamps as Python floats, and the sequence end (`what` 2);
the end (`what` 3, `frames`). JSON is `json.dumps` with its default spacing, keys in the
scope's order: a message is byte for byte what the ingester records.

`frame` counts the traces messages sent: a traces message takes the count and adds one, a
sequence start, a sequence end and the end carry it. In continuous mode (`ntriggers` -1,
one trace per message) the ingester repeats the first sequence start (frame 0, seqno 0)
in every message. `dranspose.middlewares.lecroy.parse` gives `LecroyParsed`: per channel
`meta`, `data` and `timestamps`.

The source is a group of `waveform<k>` (traces, points) and `timestamp<k>` (one per trace)
per channel k, as FemtoMAX writes them. What the scope sends but these lack comes from the
file where it holds it, under the header's names: group attribute `ntriggers` (-1, else
the traces per sequence), waveform attributes `channel` and `horiz_interval`, datasets
`horiz_offset<k>` (one per trace); else the defaults: channel k, continuous, offset 0.0,
interval 1.0 (a time axis in samples). Waveforms, timestamps and offsets of other float or
integer types are sent as float64 when that keeps every value exactly (integers of 64 bits
beyond 2**53 are refused by dataset and row).
"""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import h5py
import numpy as np
import numpy.typing as npt

from ..buffers import Buffer
from ..errors import H5ToCborsError
from ..hdf5.selection import select_frames
from ..hdf5.types import dtype_name
from . import StreamContext, Writer
from .jsonframe import json_header
from .members import checked, member, member_dataset, member_names
from .order import StreamInspector
from .pickles import MAX_BYTES, RefusedPickle, loads
from .rows import BlockRows
from .values import (
    Comparer,
    array_difference,
    array_nbytes,
    bytes_difference,
    difference,
    frame_count_difference,
    is_plain_number,
    show,
)

TYP = "lecroy_9fwdWp6Rq7"
NAME = "lecroy"
"""The protocol's name in `--stream NAME=PATH:lecroy`."""

WAVEFORM = re.compile(r"waveform(0|[1-9][0-9]{0,5})")
TIMESTAMP = re.compile(r"timestamp(0|[1-9][0-9]{0,5})")
"""`<name><k>`, k as the writer spells it (no leading zero): `waveform01` is no channel."""
CONTINUOUS = -1
"""`ntriggers` of continuous mode: one trace per message."""
DEFAULT_INTERVAL = 1.0
MAX_CHANNELS = 64
MAX_MESSAGE_BYTES = 256 << 20
"""The most trace bytes one message may hold (what a capture reader accepts)."""
MAX_TRACES = MAX_BYTES // 10
"""The most traces per channel in one message: their timestamps pickle to 9 bytes each (and a
little framing), within what `pickles.loads` reads back for `inspect` and `verify`."""
EXACT_IN_DOUBLE = 2**53
PICKLE_PROTOCOL = 4
"""As the scope's streamer pickles (`\\x80\\x04` in the real dumps)."""
PREPARE, START, SEQEND, STOP = 0, 1, 2, 3
"""The `what` of each control message."""


@dataclass(frozen=True)
class Channel:
    """One scope channel: its number (`ch`), traces, timestamps, offsets (None: 0.0)."""

    number: int
    waveform: h5py.Dataset
    timestamps: h5py.Dataset
    offsets: h5py.Dataset | None
    interval: float


@dataclass(frozen=True)
class Layout:
    """The channels of a LeCroy group, their trace count and the traces per message."""

    channels: list[Channel]
    traces: int
    ntriggers: int

    @property
    def per_message(self) -> int:
        """Traces per channel in one message: 1 in continuous mode, else `ntriggers`."""
        return 1 if self.ntriggers == CONTINUOUS else self.ntriggers

    @property
    def messages(self) -> int:
        """The data messages of the whole group: traces (continuous) or sequences."""
        return self.traces // self.per_message


def msg(**fields: object) -> bytes:
    """A control message as the scope writes it (`json.dumps` spacing, `htype` first).

    Example:
        >>> msg(what=3, frame=4, frames=4)
        b'{"htype": "msg", "what": 3, "frame": 4, "frames": 4}'
    """
    return json.dumps({"htype": "msg", **fields}).encode()


def exact_float64(values: npt.NDArray[np.generic], dataset: h5py.Dataset, first: int) -> np.ndarray:
    """`values` (rows from `first` of `dataset`) as little-endian float64, each exactly.

    Example:
        >>> exact_float64(np.array([1, 2], np.int16), None, 0)
        array([1., 2.])
    """
    if values.dtype.kind in "iu" and values.dtype.itemsize == 8 and values.size:
        big = np.greater(values, EXACT_IN_DOUBLE) | np.less(values, -EXACT_IN_DOUBLE)
        big = big.reshape(len(values), -1).any(axis=1)  # compared as integers, not rounded
        if big.any():
            row = int(np.argmax(big))
            raise H5ToCborsError(
                f"{dataset.name} row {first + row}: a value is not exact as a float64, "
                "which the LeCroy stream carries"
            )
    return np.asarray(values, dtype="<f8")


class ChannelRows:
    """The traces messages of one channel, read a block at a time."""

    def __init__(self, channel: Channel, traces: int) -> None:
        """`traces`: how many of its traces will be read (rows never written are refused)."""
        self.channel = channel
        self.waveform = BlockRows(channel.waveform, traces)
        self.timestamps = BlockRows(channel.timestamps, traces)
        offsets = channel.offsets
        self.offsets = BlockRows(offsets, traces) if offsets is not None else None

    def message(self, rows: range, frame: int) -> list[Buffer]:
        """The traces JSON, raw traces and pickled timestamps of traces `rows`."""
        c = self.channel
        traces = exact_float64(self.waveform.rows(rows), c.waveform, rows[0])
        stamps = exact_float64(self.timestamps.rows(rows), c.timestamps, rows[0]).tolist()
        offset = 0.0
        if self.offsets is not None and c.offsets is not None:
            offset = float(exact_float64(self.offsets.rows(rows[:1]), c.offsets, rows[0])[0])
        meta = {
            "htype": "traces",
            "ch": c.number,
            "ts": stamps[0],
            "frame": frame,
            "shape": list(traces.shape),
            "horiz_offset": offset,
            "horiz_interval": c.interval,
            "dtype": "float64",
        }
        return [json.dumps(meta).encode(), traces.tobytes(), pickle.dumps(stamps, PICKLE_PROTOCOL)]


@dataclass
class LecroyWriter(Writer):
    """The LeCroy messages of one group: prepare, one per trace or sequence, end.

    Example:
        >>> w = open_writer(f["/data"], ctx)  # doctest: +SKIP
        >>> [len(m) for m in w]  # prepare, 2 sequences of 2 channels, end  # doctest: +SKIP
        [1, 8, 8, 1]
    """

    layout: Layout
    selected: range
    readers: list[ChannelRows]
    """Each channel's rows, in the order of `layout.channels`."""
    typ: str = TYP

    def __len__(self) -> int:
        return len(self.selected) + 2

    def __iter__(self) -> Iterator[Sequence[Buffer]]:
        yield [msg(what=PREPARE, frame=0)]
        layout, per = self.layout, self.layout.per_message
        readers = self.readers
        channels = [c.number for c in layout.channels]
        frame = 0
        for m, j in enumerate(self.selected):
            continuous = layout.ntriggers == CONTINUOUS
            start = msg(
                what=START,
                frame=0 if continuous else frame,
                ntriggers=layout.ntriggers,
                seqno=0 if continuous else m,
                channels=channels,
            )
            frames: list[Buffer] = [start]
            for reader in readers:
                frames += reader.message(range(j * per, (j + 1) * per), frame)
                frame += 1
            frames.append(msg(what=SEQEND, frame=frame))
            self.counters.frames += 1
            yield frames
        yield [msg(what=STOP, frame=frame, frames=frame)]


def fits(obj: h5py.Group | h5py.Dataset) -> str | None:
    """None when `obj` is a LeCroy group (waveform<k> and timestamp<k> pairs), else why not.

    Example:
        >>> fits(f["/entry/instrument/xspress3"])  # doctest: +SKIP
        'no waveform<k> datasets'
    """
    found = layout(obj)
    return found if isinstance(found, str) else None


def layout(obj: h5py.Group | h5py.Dataset) -> Layout | str:
    """The channels of a LeCroy group in the order of k, or why it is not a usable one."""
    if not isinstance(obj, h5py.Group):
        return "a dataset, not a group of waveform<k> and timestamp<k> datasets"
    names = member_names(obj)
    numbers = sorted(int(m[1]) for n in names if (m := WAVEFORM.fullmatch(n)))
    if not numbers:
        return "no waveform<k> datasets"
    alone = [n for n in names if (m := TIMESTAMP.fullmatch(n)) and int(m[1]) not in numbers]
    if alone:
        return f"{alone[0]} has no waveform beside it"
    if len(numbers) > MAX_CHANNELS:
        return f"{len(numbers)} waveforms, more than {MAX_CHANNELS} channels"
    channels: list[Channel] = []
    for k in numbers:
        found = channel(obj, k)
        if isinstance(found, str):
            return found
        channels.append(found)
    return checked_layout(obj, channels)


def checked_layout(group: h5py.Group, channels: list[Channel]) -> Layout | str:
    """The layout of `channels`: one trace count, distinct numbers, a fitting `ntriggers`."""
    counts = {c.waveform.shape[0] for c in channels}
    if len(counts) > 1:
        listed = ", ".join(f"{c.waveform.shape[0]} in {base(c.waveform)}" for c in channels)
        return f"channels of different trace counts: {listed}"
    traces = counts.pop()
    if traces == 0 or any(c.waveform.shape[1] == 0 for c in channels):
        return f"{base(channels[0].waveform)} {channels[0].waveform.shape} holds no traces"
    numbers = [c.number for c in channels]
    if len(set(numbers)) != len(numbers):
        return f"channel numbers {numbers} repeat one"
    ntriggers = attribute(group, "ntriggers", CONTINUOUS)
    if not isinstance(ntriggers, int) or not (ntriggers == CONTINUOUS or ntriggers > 0):
        return f"attribute ntriggers {show(ntriggers)} is neither -1 (continuous) nor a trace count"
    if ntriggers != CONTINUOUS and traces % ntriggers:
        return f"ntriggers {ntriggers} does not divide the {traces} traces into sequences"
    per = 1 if ntriggers == CONTINUOUS else ntriggers
    size = per * sum(c.waveform.shape[1] for c in channels) * 8
    if size > MAX_MESSAGE_BYTES:
        return f"a message of {per} traces per channel is {size} bytes, over {MAX_MESSAGE_BYTES}"
    if per > MAX_TRACES:
        return f"a message of {per} traces per channel has more timestamps than {MAX_TRACES}"
    return Layout(channels, traces, ntriggers)


def channel(group: h5py.Group, k: int) -> Channel | str:
    """Channel k of a LeCroy group: `waveform<k>`, `timestamp<k>`, `horiz_offset<k>`."""
    waveform = member_dataset(group, f"waveform{k}")
    if waveform is None:
        return f"waveform{k} is not a dataset"
    if waveform.ndim != 2 or not is_number(waveform.dtype):
        return (
            f"waveform{k} is {waveform.shape} {dtype_name(waveform.dtype)}, "
            "not numbers of shape (traces, points)"
        )
    traces = waveform.shape[0]
    per_trace = {}
    for name in (f"timestamp{k}", f"horiz_offset{k}"):
        found = member(group, name)
        if found is None and name.startswith("horiz"):
            continue
        dataset = checked(found)
        if dataset is None:
            return f"no {name} dataset beside waveform{k}"
        if dataset.ndim != 1 or not is_number(dataset.dtype):
            return (
                f"{name} is {dataset.shape} {dtype_name(dataset.dtype)}, not one number per trace"
            )
        if dataset.shape[0] != traces:
            return f"{name} has {dataset.shape[0]} values, waveform{k} {traces} traces"
        per_trace[name] = dataset
    number = attribute(waveform, "channel", k)
    if not isinstance(number, int) or not 0 <= number < 2**31:
        return f"attribute channel {show(number)} of waveform{k} is not a channel number"
    interval = attribute(waveform, "horiz_interval", DEFAULT_INTERVAL)
    if not isinstance(interval, float):
        return f"attribute horiz_interval {show(interval)} of waveform{k} is not a number"
    offsets = per_trace.get(f"horiz_offset{k}")
    return Channel(number, waveform, per_trace[f"timestamp{k}"], offsets, interval)


def is_number(dtype: np.dtype) -> bool:
    """Floats and integers (not booleans) of up to 64 bits: float64 carries them."""
    return is_plain_number(dtype) and dtype.kind in "iuf"


def attribute(obj: h5py.Group | h5py.Dataset, name: str, default: int | float) -> object:
    """Attribute `name` of `obj` as a Python int or float (a float for a float `default`),
    `default` when absent, else the value as stored (refused by the caller).

    Example:
        >>> attribute(f["/data/waveform1"], "channel", 1)  # doctest: +SKIP
        2
    """
    try:
        value = obj.attrs.get(name)
    except (OSError, TypeError, ValueError, KeyError) as e:
        raise H5ToCborsError(f"attribute {name} of {obj.name} cannot be read: {e}") from e
    if value is None:
        return default
    array = np.asarray(value)
    if array.size != 1 or not is_number(array.dtype):
        return value if array.size <= 8 else f"<{array.size} values>"
    item = array.reshape(()).item()
    if isinstance(default, float) and not np.isnan(float(item)) and float(item) == item:
        return float(item)
    return item


def base(dataset: h5py.Dataset) -> str:
    """The last part of a dataset's name."""
    return str(dataset.name).rsplit("/", 1)[-1]


def open_writer(group: h5py.Group | h5py.Dataset, ctx: StreamContext) -> LecroyWriter:
    """The LeCroy stream of a group: `ctx.points` selects traces (continuous) or sequences."""
    found = layout(group)
    if isinstance(found, str):
        raise H5ToCborsError(
            f"{group.name} in {group.file.filename} is not a LeCroy group: {found}"
        )
    messages = select_frames(ctx.points, found.messages, f"{group.name} in {group.file.filename}")
    traces = len(messages) * found.per_message
    readers = [ChannelRows(c, traces) for c in found.channels]  # unstored rows: refused now
    return LecroyWriter(found, messages, readers, source=group.name)


@dataclass
class LecroyInspector(StreamInspector):
    """Follows one LeCroy stream: channels, traces, sequences and the frame count.

    Example:
        >>> check = LecroyInspector("oscc_02_maui")
        >>> check.add(0, [msg(what=0, frame=0)]); check.add(1, [msg(what=3, frame=0, frames=2)])
        >>> check.finish().report()
        ['oscc_02_maui: end at event 1 says frames 2, the stream sent 0 traces messages']
    """

    channels: list[int] | None = None
    ntriggers: int | None = None
    traces: int = 0
    """Traces per channel, all messages."""
    sent: int = 0
    """Traces messages so far: the `frame` the next one carries."""

    def start_and_end(self) -> tuple[str, str]:
        return "prepare", "end"

    @property
    def details(self) -> list[str]:
        """Channels, traces and sequences."""
        if self.channels is None:
            return []
        mode = (
            "continuous" if self.ntriggers == CONTINUOUS else f"sequences of {show(self.ntriggers)}"
        )
        channels = show(self.channels)
        return [f"channels {channels}, {self.traces} traces each, {self.frames} messages ({mode})"]

    def add(self, event: int, frames: list[bytes]) -> None:
        """Take the zmq frames of this stream in the next message (at `event`)."""
        header = json_header(frames)
        kind = _kind(header)
        self.order.add(event, kind)
        if header is None or kind == "unparsable":
            self.order.note(f"event {event} is no LeCroy prepare, sequence or end message")
        elif kind == "sequence":
            self._sequence(event, header, frames)
        elif len(frames) != 1:
            self.order.note(f"{kind} at event {event} has {len(frames)} zmq frames, not 1")
        elif kind == "end" and (header.get("frames"), header.get("frame")) != (self.sent,) * 2:
            self.order.note(
                f"end at event {event} says frames {show(header.get('frames'))}, "
                f"the stream sent {self.sent} traces messages"
            )
        elif kind == "prepare" and header.get("frame") != 0:
            self.order.note(f"prepare at event {event} is frame {show(header.get('frame'))}, not 0")

    def _sequence(self, event: int, header: dict[str, object], frames: list[bytes]) -> None:
        note = self.order.note
        channels, ntriggers = header.get("channels"), header.get("ntriggers")
        if not isinstance(channels, list) or not isinstance(ntriggers, int):
            note(f"sequence at event {event} has no channels list and ntriggers")
            return
        if self.channels is None:
            self.channels, self.ntriggers = channels, ntriggers
        elif (channels, ntriggers) != (self.channels, self.ntriggers):
            note(
                f"sequence at event {event}: channels {show(channels)}, "
                f"ntriggers {show(ntriggers)}: unlike the first"
            )
            return
        continuous = ntriggers == CONTINUOUS
        want = (0, 0) if continuous else (self.sent, self.frames)
        if (header.get("frame"), header.get("seqno")) != want:
            note(
                f"sequence start at event {event} has frame {show(header.get('frame'))} seqno "
                f"{show(header.get('seqno'))}, not {want[0]} and {want[1]}"
            )
        self.frames += 1
        size = len(channels) * 3 + 2
        if len(frames) != size:
            note(f"sequence at event {event} has {len(frames)} zmq frames, not {size}")
            return
        for i, number in enumerate(channels):
            self._traces(event, number, frames[1 + 3 * i : 4 + 3 * i], first=i == 0)
        end = json_header(frames[-1:])
        if _kind(end) != "seqend" or end is None or end.get("frame") != self.sent:
            found = end.get("frame") if end is not None else None
            note(
                f"sequence end at event {event} is frame {show(found)}, "
                f"not {self.sent} (after the traces)"
            )

    def _traces(self, event: int, number: object, parts: list[bytes], first: bool) -> None:
        note, where = self.order.note, f"channel {show(number)} at event {event}"
        meta = json_header(parts)
        frame, self.sent = self.sent, self.sent + 1
        if meta is None or meta.get("htype") != "traces" or meta.get("ch") != number:
            note(f"{where} has no traces JSON of that channel")
            return
        if meta.get("frame") != frame:
            note(f"{where} is frame {show(meta.get('frame'))}, not {frame}")
        shape, dtype = meta.get("shape"), meta.get("dtype")
        per = 1 if self.ntriggers == CONTINUOUS else self.ntriggers
        size = array_nbytes(shape, dtype, 2)
        if size is None or not isinstance(shape, list) or shape[0] != per:
            note(f"{where} has shape {show(shape)} {show(dtype)}, not {per} traces of float64")
            return
        if size != len(parts[1]):
            note(f"{where} has {len(parts[1])} bytes of traces, not {show(size)}")
        elif self.shape is None:
            self.shape, self.type, self.compression = shape, str(dtype), "none"  # raw traces
        self.traces += shape[0] if first else 0
        try:
            stamps = loads(parts[2])
        except RefusedPickle as e:
            note(f"timestamps of {where} refused: {e}")
            return
        if not isinstance(stamps, list) or len(stamps) != shape[0]:
            note(f"timestamps of {where} are not a list of {shape[0]}")
        elif not all(type(t) is float for t in stamps):
            note(f"timestamps of {where} are not all Python floats")
        elif stamps and difference(stamps[0], meta.get("ts")) is not None:
            note(f"ts of {where} is {show(meta.get('ts'))}, not its first timestamp {stamps[0]}")


def _kind(header: dict[str, object] | None) -> str:
    """`prepare`, `sequence`, `seqend`, `end` or `unparsable`, by the message's `what`."""
    what = header.get("what") if header is not None and header.get("htype") == "msg" else None
    kinds = {PREPARE: "prepare", START: "sequence", SEQEND: "seqend", STOP: "end"}
    return kinds.get(what, "unparsable") if type(what) is int else "unparsable"


def inspector(name: str) -> LecroyInspector:
    """Follows stream `name` through a capture, for `inspect`."""
    return LecroyInspector(name)


def describe(frames: list[bytes]) -> str:
    """`prepare`, `sequence seqno=1 ntriggers=20 channels=[2, 4] frame=2`, `end frames=4`."""
    header = json_header(frames)
    kind = _kind(header)
    if header is None or kind == "unparsable":
        return "unparsable"
    if kind == "sequence":
        fields = ("seqno", "ntriggers", "channels", "frame")
        return "sequence " + " ".join(f"{k}={show(header.get(k))}" for k in fields)
    return f"end frames={show(header.get('frames'))}" if kind == "end" else kind


def comparer() -> Comparer:
    """Compares a capture's LeCroy messages with those made again from the HDF5 file."""
    return compare


def compare(expected: Sequence[bytes], actual: Sequence[bytes]) -> str | None:
    """Where a LeCroy message differs: a JSON value exactly, traces bit for bit, timestamps
    as floats (each frame named: `channel #1 traces`)."""
    found = frame_count_difference(expected, actual)
    for i, (want, got) in enumerate(zip(expected, actual)):
        if found is not None:
            return found
        where, part = _part(i, len(expected))
        if part == 1:
            found = _traces_difference(bytes(want), bytes(got), where)
        elif part == 2:
            found = _pickled_difference(bytes(want), bytes(got), where)
        else:
            found = _json_difference(bytes(want), bytes(got), where)
    return found


def _part(i: int, count: int) -> tuple[str, int]:
    """Frame i of a message of `count`: its name and what it is (0 JSON, 1 traces, 2 pickle).

    Example:
        >>> _part(0, 8), _part(4, 8), _part(6, 8), _part(7, 8)
        (('header', 0), ('channel #1 JSON', 0), ('channel #1 timestamps', 2), ('sequence end', 0))
    """
    if i == 0 or i == count - 1:
        return ("header" if i == 0 else "sequence end"), 0
    part = (i - 1) % 3
    return f"channel #{(i - 1) // 3} {('JSON', 'traces', 'timestamps')[part]}", part


def _traces_difference(want: bytes, got: bytes, where: str) -> str | None:
    """Traces bit for bit: their byte counts, else how many float64 values differ."""
    if len(want) != len(got) or len(want) % 8:
        return bytes_difference(want, got, where)
    return array_difference(np.frombuffer(want, "<f8"), np.frombuffer(got, "<f8"), where)


def _json_difference(want: bytes, got: bytes, where: str) -> str | None:
    found = json_header([got])
    if found is None:
        return f"{where} is no JSON object"
    return difference(json_header([want]), found, where)


def _pickled_difference(want: bytes, got: bytes, where: str) -> str | None:
    try:
        found = loads(got)
    except RefusedPickle as e:
        return f"{where} refused: {e}"
    return difference(loads(want), found, where)
