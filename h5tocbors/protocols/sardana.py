"""Sardana's scan stream (typ `sardana`), rebuilt from a scan entry of an NXscan file.

dranspose's HTTP ingester records what Sardana's `JsonRecorder` posts, validated by
dranspose's models (`dranspose.data.sardana`) and dumped with `model_dump_json()`:
compact JSON, the declared fields first, NaN as `null`. The messages:

- `DataDescription` (start): `serialno`, `scandir`, `title`, `column_desc` (point
  number, motors, scalar channels, timestamp), `ref_moveables`, `starttime`,
  `counters`, `scanfile`;
- `RecordData`, one per point: `timestamp` (`dt`), the channels' values, `point_nb`
  (`Pt_No`), the motors' positions;
- `RecordEnd` (end): `endtime`.

Sardana's `NXscanH5_FileRecorder` wrote the same values into `/entryN/measurement`, one
dataset per column named by its sanitized label. Channels are keyed by that name unless
`StreamContext.keys` maps it to another (a Tango URI, as the experiment keyed them).
What the file does not hold (`deadtime`, `estimatedtime`, `total_scan_intervals`,
column metadata beyond name/label/dtype/shape and motors' ranges) is left out. The writer
takes a `ScanLayout` (where each part is): an NXscan entry's, or one a `--config` gives
by path (`sardana_layout`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import h5py
import numpy as np

from ..buffers import Buffer
from ..errors import H5ToCborsError, option, quoted
from ..hdf5.rebase import recorded
from ..hdf5.types import dtype_name
from . import MAX_STEPS, StepSpan, StreamContext, Writer
from .members import member_class, member_dataset, member_names
from .order import StreamInspector
from .rows import BlockRows
from .values import Comparer, is_plain_number, loaded_difference

TYP = "sardana"
NAME = "sardana"
"""The protocol's name in `--stream NAME=PATH:sardana`."""
POINT = "Pt_No"
"""The point number's column (label `#Pt No`, sanitized)."""
TIME = "dt"
"""The timestamp's column."""
MAX_TEXT = 1 << 16
"""Characters of one recorded string (title, time, reference) read at most."""
Reader = Callable[[int], object]
"""A column's value in the record of a point."""


def _where(obj: h5py.Group | h5py.Dataset) -> str:
    return f"{obj.name} in {obj.file.filename}"


def fits(obj: h5py.Group | h5py.Dataset) -> str | None:
    """None when `obj` is a Sardana scan entry (`/entryN` with `measurement/Pt_No`), else why."""
    if not isinstance(obj, h5py.Group):
        return "a dataset, not a Sardana scan entry"
    if member_class(obj, "measurement") is not h5py.Group:
        return "no measurement group (not a Sardana scan entry)"
    if member_class(obj["measurement"], POINT) is not h5py.Dataset:
        return f"no measurement/{POINT} (not a Sardana scan entry)"
    return None


def text(group: h5py.Group, name: str) -> str | None:
    """The string `group[name]` holds, or None when it has none."""
    dataset = member_dataset(group, name)
    return None if dataset is None else text_of(dataset)


def text_of(dataset: h5py.Dataset) -> str:
    """The string `dataset` holds (a scalar, or the first of a 1-D array)."""
    if h5py.check_string_dtype(dataset.dtype) is None or dataset.ndim > 1 or dataset.size == 0:
        raise H5ToCborsError(
            f"{_where(dataset)} is {dataset.shape} {dtype_name(dataset.dtype)}, not a string"
        )
    return string_at(dataset, () if dataset.ndim == 0 else 0)[:MAX_TEXT]


def string_at(dataset: h5py.Dataset, at: int | tuple[()]) -> str:
    """The string a string dataset holds at `at` (a point, or `()` for a scalar), as UTF-8
    with undecodable bytes replaced."""
    raw = dataset[at]
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def ctime(iso: str | None, where: str) -> str | None:
    """An ISO time as Sardana's JSON recorder gives it (`datetime.ctime()`).

    Example:
        >>> ctime("2024-11-21T12:21:01.532", "")
        'Thu Nov 21 12:21:01 2024'
    """
    if iso is None:
        return None
    try:
        return datetime.fromisoformat(iso).ctime()
    except ValueError as e:
        raise H5ToCborsError(f"{where}: {quoted(iso)} is no ISO time") from e


@dataclass(frozen=True)
class Column:
    """One column of `measurement`: its dataset, and how its rows become values."""

    name: str
    dataset: h5py.Dataset
    kind: str
    """`scalar`, `vector` (1-D channel), `text` (a reference string) or `vds`."""


def columns(measurement: h5py.Group) -> list[Column]:
    """Every column of a scan's `measurement` (datasets with one row per point), in the
    file's order; the pre-scan snapshot and Sardana's `_<label>` backups left out."""
    found = []
    for name in member_names(measurement):
        dataset = member_dataset(measurement, name)
        if dataset is None or (name.startswith("_") and name[1:] in measurement):
            continue
        found.append(Column(name, dataset, column_kind(dataset)))
    return found


def column_kind(dataset: h5py.Dataset) -> str:
    """How a column's rows become values: `scalar`, `vector`, `text` or `vds`."""
    if dataset.ndim == 0:
        raise H5ToCborsError(f"{_where(dataset)} is a single value, not one per point")
    if dataset.is_virtual:
        return "vds"
    if h5py.check_string_dtype(dataset.dtype) is not None:
        if dataset.ndim != 1:
            raise H5ToCborsError(f"{_where(dataset)} is an array of strings, not one per point")
        return "text"
    if not is_plain_number(dataset.dtype):
        raise H5ToCborsError(
            f"{_where(dataset)} has dtype {dtype_name(dataset.dtype)}: Sardana records numbers "
            "and strings"
        )
    if dataset.ndim == 1:
        return "scalar"
    if dataset.ndim == 2:
        return "vector"
    raise H5ToCborsError(
        f"{_where(dataset)} is {dataset.shape}: Sardana records scalars, 1-D channels and "
        "references per point"
    )


def vds_reference(dataset: h5py.Dataset, sources: Sequence[Any], point: int) -> str:
    """The `h5file:` reference a VDS column was made of, for one point: Sardana's recorder
    made one source per point, in order, of the reference's path (`///data/x.h5` in
    `h5file:///data/x.h5::dataset`) and dataset, as recorded (not as found beside).
    `sources` is `recorded(dataset).virtual_sources()`, listed once per column."""
    if point >= len(sources):
        raise H5ToCborsError(f"{_where(dataset)} has no source for point {point}")
    source = sources[point]
    return f"h5file:{source.file_name}::{source.dset_name}"


def motors(title: str, names: Sequence[str]) -> list[str]:
    """The scanned motors: the title's words that are columns, in the title's order.

    Example:
        >>> motors("dscan mot01 -1 1 10 0.1", ["Pt_No", "dt", "mot01", "ct01"])
        ['mot01']
    """
    known = set(names) - {POINT, TIME}
    return list(dict.fromkeys(word for word in title.split()[1:] if word in known))


def _range(dataset: h5py.Dataset) -> tuple[object, object]:
    """(min, max) of a 1-D column, NaN ignored, read a block at a time."""
    low: Any = None
    high: Any = None
    block = 1 << 16
    for start in range(0, dataset.shape[0], block):
        values = np.asarray(dataset[start : start + block])
        values = values[~np.isnan(values)] if values.dtype.kind == "f" else values
        if values.size:
            lo, hi = values.min().item(), values.max().item()
            low = lo if low is None else min(low, lo)
            high = hi if high is None else max(high, hi)
    return low, high


def _desc(column: Column, label: str, name: str, motor: bool = False) -> dict[str, object]:
    """One `column_desc` entry, as Sardana's `ColumnDesc.toDict()` orders its keys."""
    desc: dict[str, object] = {}
    if motor or name == "point_nb":
        desc["min_value"], desc["max_value"] = _range(column.dataset)
    desc.update(name=name, label=label, dtype=column.dataset.dtype.name, shape=[])
    return desc


@dataclass(frozen=True)
class ScanLayout:
    """Where one scan's parts are, whatever file recorded it: an NXscan entry
    (`nxscan_layout`) or a file a `--config` describes part by part (`configured_layout`).
    `point` and `time` may be missing (written: the point's index, 0.0)."""

    source: str
    """The scan's HDF5 path, for messages."""
    where: str
    title: str
    serialno: int
    recorded: str
    """The file's name where it was recorded."""
    starttime: str | None
    endtime: str | None
    motors: list[Column]
    channels: list[Column]
    point: Column | None = None
    time: Column | None = None

    @property
    def columns(self) -> list[Column]:
        """Every column the scan has: point number, time, motors, channels."""
        given = [c for c in (self.point, self.time) if c is not None]
        return [*given, *self.motors, *self.channels]

    @property
    def counted(self) -> Column:
        """The column whose length is the scan's points: the point number, else the first."""
        if not self.columns:
            raise H5ToCborsError(f"{self.where}: no column gives the scan's points")
        return self.columns[0]


@dataclass
class SardanaWriter(Writer):
    """The sardana messages of one scan: DataDescription, one RecordData per selected
    point, RecordEnd.

    Example:
        >>> w = open_writer(f["/entry12"], ctx)  # 5 points  # doctest: +SKIP
        >>> len(w), [json.loads(m[0])["type"] for m in w][:2]  # doctest: +SKIP
        (7, ['DataDescription', 'RecordData'])
    """

    description: dict[str, object]
    end: dict[str, object]
    channels: list[tuple[str, Column]]
    motors: list[Column]
    point: Column | None
    time: Column | None
    spans: Sequence[StepSpan]
    typ: str = TYP

    def __len__(self) -> int:
        return len(self.spans) + 2

    def __iter__(self) -> Iterator[Sequence[Buffer]]:
        yield [dumped(self.description)]
        every = [self.time, self.point, *self.motors, *(c for _, c in self.channels)]
        readers = {id(c): _reader(c) for c in every if c is not None}
        for span in self.spans:
            yield [dumped(self.record(span.index, readers))]
            self.counters.frames += 1
        yield [dumped(self.end)]

    def record(self, point: int, readers: Mapping[int, Reader]) -> dict[str, object]:
        """The RecordData of point `point`, keys as Sardana posts them; `readers` gives
        each column's value in a point (`_reader`), by the column's id."""
        time = 0.0 if self.time is None else readers[id(self.time)](point)
        record: dict[str, object] = {"type": "RecordData", "timestamp": time}
        for key, column in self.channels:
            record[key] = readers[id(column)](point)
        record["point_nb"] = point if self.point is None else readers[id(self.point)](point)
        for column in self.motors:
            record[column.name] = readers[id(column)](point)
        return record


def _reader(column: Column) -> Reader:
    """A column's value in a point's record: a reference string, a number, a list; what
    it needs for every point (a VDS's sources, a block of rows) read once."""
    dataset = column.dataset
    if column.kind == "vds":
        sources = recorded(dataset).virtual_sources()
        return lambda point: vds_reference(dataset, sources, point)
    if column.kind == "text":
        return lambda point: string_at(dataset, point)
    rows = BlockRows(dataset)
    if column.kind == "vector":
        return lambda point: rows.row(point).tolist()
    return lambda point: rows.row(point).item()


def dumped(message: Mapping[str, object]) -> bytes:
    """`message` validated by dranspose's models and dumped as its HTTP ingester records it."""
    from dranspose.data.sardana import SardanaPacket  # slow to import: only here

    try:
        packet = SardanaPacket.validate_python(dict(message))
    except ValueError as e:
        raise H5ToCborsError(f"a {message.get('type')} message is refused by dranspose: {e}") from e
    dump: str = packet.model_dump_json()
    return dump.encode()


def points_of(entry: h5py.Group) -> int:
    """The points a scan entry recorded: the length of `measurement/Pt_No`."""
    problem = fits(entry)
    if problem is not None:
        raise H5ToCborsError(f"{_where(entry)} is {problem}")
    dataset = member_dataset(entry["measurement"], POINT)  # as the writer opens it
    if dataset is None:  # fits() found it: only a race could lose it
        raise H5ToCborsError(f"{_where(entry)} has no measurement/{POINT}")
    if dataset.ndim != 1:
        raise H5ToCborsError(f"{_where(dataset)} is {dataset.shape}, not one number per point")
    return check_count(dataset)


def check_count(dataset: h5py.Dataset) -> int:
    """The points a column counts: its length, if h5tocbors takes that many."""
    if dataset.ndim == 0:
        raise H5ToCborsError(f"{_where(dataset)} is a single value, not one per point")
    if dataset.shape[0] > MAX_STEPS:
        raise H5ToCborsError(
            f"{_where(dataset)} declares {dataset.shape[0]:,} points, more than h5tocbors takes "
            f"({MAX_STEPS:,})"
        )
    return int(dataset.shape[0])


def check_lengths(found: Sequence[Column], counted: Column, needed: int) -> None:
    """Refuse a column shorter than the `needed` points (an aborted scan), naming it, the
    column that counts the points and the part all columns have."""
    short = [c for c in found if c.dataset.shape[0] < needed]
    if short:
        common = min(c.dataset.shape[0] for c in found)
        raise H5ToCborsError(
            f"{_where(short[0].dataset)} has {short[0].dataset.shape[0]} points, "
            f"{counted.name} has {counted.dataset.shape[0]}: an aborted scan? select the common "
            "part with " + option("frames", slice(0, common))
        )


def open_writer(
    entry: h5py.Group | h5py.Dataset, ctx: StreamContext, keys: Mapping[str, str] | None = None
) -> SardanaWriter:
    """The sardana stream of a scan entry, or of the scan `ctx.parts` describe (a
    `--config`'s paths, see `configured_layout`): one RecordData per span of `ctx.steps`
    (every point when it has none). `keys` maps channels' dataset names to the keys written
    (default: `ctx.keys`, else the names)."""
    if ctx.parts:
        from .sardana_layout import configured_layout  # it builds on this module

        layout = configured_layout(entry, ctx.parts)
    else:
        layout = nxscan_layout(entry)
    return writer_of(layout, ctx, ctx.keys if keys is None else keys)


def nxscan_layout(entry: h5py.Group | h5py.Dataset) -> ScanLayout:
    """Where the parts of an NXscan entry are: columns under `measurement`, the scanned
    motors named by the title."""
    problem = fits(entry)
    if problem is not None:
        raise H5ToCborsError(f"{_where(entry)} is {problem}")
    assert isinstance(entry, h5py.Group)
    points_of(entry)
    measurement = entry["measurement"]
    found = columns(measurement)
    by_name = {c.name: c for c in found}
    if TIME not in by_name or by_name[TIME].kind != "scalar":
        raise H5ToCborsError(f"{_where(measurement)} has no {TIME} column: not a Sardana scan")
    where = _where(entry)
    title = text(entry, "title") or ""
    moved = motors(title, list(by_name))
    return ScanLayout(
        source=entry.name,
        where=where,
        title=title,
        serialno=_serialno(entry),
        recorded=recorded_name(entry),
        starttime=text(entry, "macro_start_time") or text(entry, "start_time"),
        endtime=text(entry, "end_time"),
        motors=[by_name[m] for m in moved],
        channels=[c for c in found if c.name not in (POINT, TIME, *moved)],
        point=by_name[POINT],
        time=by_name[TIME],
    )


def writer_of(layout: ScanLayout, ctx: StreamContext, keys: Mapping[str, str]) -> SardanaWriter:
    """The writer of a scan wherever its parts are: its columns checked against the points."""
    points = check_count(layout.counted.dataset)
    spans = ctx.steps or [StepSpan(j, range(j, j + 1)) for j in range(points)]
    check_lengths(layout.columns, layout.counted, max((s.index for s in spans), default=-1) + 1)
    channels = layout.channels
    description = {
        "type": "DataDescription",
        "serialno": layout.serialno,
        "scandir": os.path.dirname(layout.recorded),
        "title": layout.title,
        "column_desc": [
            _point_desc(layout.point, points),
            *(_desc(m, m.name, m.name, motor=True) for m in layout.motors),
            *(_desc(c, c.name, keys.get(c.name, c.name)) for c in channels if c.kind == "scalar"),
            _time_desc(layout.time),
        ],
        "ref_moveables": [m.name for m in layout.motors],
        "starttime": ctime(layout.starttime, layout.where),
        "counters": [keys.get(c.name, c.name) for c in channels],
        "scanfile": os.path.basename(layout.recorded),
    }
    endtime = ctime(layout.endtime, layout.where)
    return SardanaWriter(
        source=layout.source,
        description={k: v for k, v in description.items() if v is not None},
        end={"type": "RecordEnd", **({"endtime": endtime} if endtime else {})},
        channels=[(keys.get(c.name, c.name), c) for c in channels],
        motors=layout.motors,
        point=layout.point,
        time=layout.time,
        spans=spans,
    )


def _point_desc(point: Column | None, points: int) -> dict[str, object]:
    if point is not None:
        return _desc(point, "#Pt No", "point_nb")
    low, high = (0, points - 1) if points else (None, None)
    return {
        "min_value": low,
        "max_value": high,
        "name": "point_nb",
        "label": "#Pt No",
        "dtype": "int64",
        "shape": [],
    }


def _time_desc(time: Column | None) -> dict[str, object]:
    if time is not None:
        return _desc(time, "dt", "timestamp")
    return {"name": "timestamp", "label": "dt", "dtype": "float64", "shape": []}


def _serialno(entry: h5py.Group) -> int:
    """The entry's `entry_identifier`, else the number in its name (`entry12` -> 12)."""
    given = text(entry, "entry_identifier") or entry.name.rsplit("/", 1)[-1].removeprefix("entry")
    try:
        return int(given)
    except ValueError as e:
        raise H5ToCborsError(f"{_where(entry)}: serial number {quoted(given)} is no integer") from e


def recorded_name(entry: h5py.Group | h5py.Dataset) -> str:
    """The file's name where it was recorded (root attribute `file_name`), else its name here."""
    name: Any = entry.file.attrs.get("file_name")
    if isinstance(name, np.ndarray) and name.size == 1:
        name = name.item()
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    if not isinstance(name, str) or not name:
        return os.path.abspath(str(entry.file.filename))
    return str(name)[:MAX_TEXT]


def _load(frames: Sequence[bytes]) -> dict[str, Any] | str:
    """The message's JSON object, or why there is none."""
    if len(frames) != 1:
        return f"{len(frames)} zmq frames, not 1"
    try:
        message = json.loads(frames[0])
    except (ValueError, RecursionError) as e:
        return f"not JSON ({str(e)[:80]})"
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "not a JSON object with a type"
    return message


@dataclass
class SardanaInspector(StreamInspector):
    """Follows one sardana stream: DataDescription first, RecordData between, RecordEnd
    last; the scan's serial number, title and motors.

    Example:
        >>> check = SardanaInspector("sardana")
        >>> check.add(0, [b'{"type":"RecordData","timestamp":0.1}'])
        >>> check.finish().report()[0]
        'sardana: first message (event 0) is RecordData, not DataDescription'
    """

    serialno: object = None
    title: str = ""
    moveables: list[str] = field(default_factory=list)
    points: list[object] = field(default_factory=list)

    def start_and_end(self) -> tuple[str, str]:
        return "DataDescription", "RecordEnd"

    @property
    def details(self) -> list[str]:
        """What a summary shows: serial number, title, motors, point numbers."""
        shown = [f"serialno {self.serialno}", f"title {self.title[:120]}"]
        if self.moveables:
            shown.append(f"motors {', '.join(self.moveables)}")
        if self.points:
            shown.append(f"point_nb {self.points[0]}..{self.points[-1]}")
        return shown if self.serialno is not None else []

    def add(self, event: int, frames: list[bytes]) -> None:
        """Take the zmq frames of this stream in the next message (at `event`)."""
        message = _load(frames)
        if isinstance(message, str):
            self.order.add(event, "unparsable")
            self.order.note(f"event {event}: {message}")
            return
        kind = str(message["type"])
        self.order.add(event, kind)
        if kind == "DataDescription":
            self.serialno = message.get("serialno")
            self.title = str(message.get("title", ""))
            moved = message.get("ref_moveables")
            self.moveables = [str(m) for m in moved] if isinstance(moved, list) else []
        elif kind == "RecordData":
            self.frames += 1
            if len(self.points) < 2:
                self.points.append(message.get("point_nb"))
            else:
                self.points[-1] = message.get("point_nb")
            if not isinstance(message.get("timestamp"), int | float):
                self.order.note(f"RecordData at event {event} has no number timestamp")
        elif kind != "RecordEnd":
            self.order.note(f"event {event} has type {quoted(kind, 40)}")


def inspector(name: str) -> SardanaInspector:
    """Follows stream `name` through a capture, for `inspect`."""
    return SardanaInspector(name)


def describe(frames: list[bytes]) -> str:
    """`DataDescription serialno=12 dscan ...`, `RecordData point_nb=3 timestamp=0.8 ct01=2.0
    mot01=0.5` (the numbers), or why not."""
    message = _load(frames)
    if isinstance(message, str):
        return message
    kind = str(message["type"])
    if kind == "DataDescription":
        return f"{kind} serialno={message.get('serialno')} {message.get('title')}"[:200]
    if kind == "RecordData":
        numbers = [k for k, v in message.items() if isinstance(v, int | float)]
        shown = " ".join(f"{k}={message[k]}" for k in numbers if k != "point_nb")
        return f"{kind} point_nb={message.get('point_nb')} {shown}"[:200]
    return kind[:40]


def comparer() -> Comparer:
    """Compares a capture's sardana messages with those made again from the NXscan file."""
    return compare


def compare(expected: Sequence[bytes], actual: Sequence[bytes]) -> str | None:
    """Where a sardana message differs, by key, or None."""
    return loaded_difference(_load, expected, actual)
