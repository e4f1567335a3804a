"""PandA over MAX IV's zmq publisher (typ `PCAP`), as dranspose's `zmqsub_pcap` ingester
records it.

One JSON frame per message: `series-start` with `arm_time`, one `data` message per row
(`frame_number` k and every field under its dataset name), `series-end`. The start and end
are the publisher's own bytes (`json.dumps`, spaces after `:` and `,`), which the ingester
passes on; each data message is what the ingester makes of a row of a batch,
`PCAPData(**row).model_dump_json()`: compact, pydantic's number text (`1e-05` is
`0.00001`, NaN and inf `null`). The rows are serialized by `pydantic_core.to_json`, the
serializer `model_dump_json` calls, without building a model (and without importing
dranspose). `dranspose.middlewares.pcap.parse` reads every message back.

Source: a group of equal-length 1-D numeric datasets, one per field, in the file's order:
MAX IV's `scan-NNNN_pcap.h5` (`/entry/instrument/pandabox/data/i_0`, `timestamp`, ...),
PandABlocks-client's root datasets, contrast's PandA group. The file does not keep the
publisher's batches: each row is a batch of its own (`message_id` 2, 3, ...), as in CoSAXS'
capture. `arm_time` is the group's or file's attribute, else the file's modification time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import h5py
from pydantic_core import to_json

from ..buffers import Buffer
from ..errors import H5ToCborsError, quoted, shortened
from ..hdf5.selection import select_frames
from ..hdf5.types import dtype_name
from . import StreamContext, Writer
from .jsonframe import json_header
from .members import checked, member, member_names, unequal_lengths
from .order import StreamInspector
from .pcap_raw import arm_time
from .provenance import origin_fields
from .rows import BlockRows
from .values import Comparer, difference, is_integer, is_plain_number, show

TYP = "PCAP"
NAME = "pcap"
"""The protocol's name in `--stream NAME=PATH:pcap`."""
DECLARED = ("message_id", "version", "message_type", "frame_number")
"""`PCAPData`'s own fields, written first; no PandA field may take their names."""
MAX_FIELDS = 4096
"""Fields a group may have: a PandA captures a few hundred at most."""
KINDS = ("series-start", "data", "series-end")


def panda_fields(group: h5py.Group) -> tuple[dict[str, h5py.Dataset], str | None]:
    """The fields of a group of PandA datasets in the file's order, by their names in the
    group (not the name of a linked dataset's target), or why it is not one.

    Groups beside the datasets (another detector's data) are not looked at.

    Example:
        >>> fields, _ = panda_fields(f["/entry/instrument/pandabox/data"])  # doctest: +SKIP
        >>> list(fields)  # doctest: +SKIP
        ['i_0', 'i_t', 'timestamp']
    """
    names = member_names(group)
    if len(names) > MAX_FIELDS:
        return {}, f"{len(names):,} members, more than the {MAX_FIELDS} fields a PandA has"
    members = {n: member(group, n) for n in names}
    fields: dict[str, h5py.Dataset] = {}
    for name, obj in members.items():
        if isinstance(obj, h5py.Group):
            continue
        dataset = checked(obj)
        if dataset is None or dataset.ndim != 1 or not is_plain_number(dataset.dtype):
            what = "not a dataset"
            if dataset is not None:
                what = f"{dataset.shape} {dtype_name(dataset.dtype)}"
            return {}, f"{quoted(name)} is {what}, not one number per row"
        if name in DECLARED:
            return {}, f"{quoted(name)} is a field PCAPData declares itself"
        fields[name] = dataset
    if not fields:
        return {}, "no datasets"
    uneven = unequal_lengths("fields", [(quoted(n), d.shape[0]) for n, d in fields.items()])
    if uneven is not None:
        return {}, uneven
    if next(iter(fields.values())).shape[0] == 0:
        return {}, "its fields hold no rows"
    return fields, None


def fits(obj: h5py.Group | h5py.Dataset) -> str | None:
    """None when `obj` is a group of equal-length 1-D numeric datasets, else why not.

    Example:
        >>> fits(f["/entry/instrument/xspress3"])  # doctest: +SKIP
        "'data' is (20, 4, 4096) uint32, not one number per row"
    """
    if not isinstance(obj, h5py.Group):
        return "a dataset, not a group of PandA fields"
    return panda_fields(obj)[1]


def unasked(group: h5py.Group) -> str | None:
    """None when auto-detection and `ls` take a fitting `group` for this protocol unasked:
    MAX IV's `.../pandabox/data`, or a group with an `arm_time` attribute; else why not.
    Any other group of 1-D datasets is converted when named (`PATH:pcap`).

    Example:
        >>> unasked(f["/entry/measurement/pseudo"])  # doctest: +SKIP
        'not a pandabox/data group and no arm_time attribute (name it with :pcap)'
    """
    if group.name.endswith("/pandabox/data") or "arm_time" in group.attrs:
        return None
    return "not a pandabox/data group and no arm_time attribute (name it with :pcap)"


def start_frame(when: str, origin: dict[str, object]) -> bytes:
    """The publisher's `series-start`, `origin` (`provenance`) appended when recorded.

    Example:
        >>> start_frame("2024-10-30T10:32:07.097Z", {})[:59]
        b'{"message_id": 1, "message_type": "series-start", "version"'
        >>> start_frame("2024-10-30T10:32:07.097Z", {})[59:]
        b': 1, "arm_time": "2024-10-30T10:32:07.097Z"}'
    """
    start = {"message_id": 1, "message_type": "series-start", "version": 1, "arm_time": when}
    return json.dumps(start | origin).encode()


def end_frame(message_id: int) -> bytes:
    """The publisher's `series-end`.

    Example:
        >>> end_frame(5)
        b'{"message_id": 5, "message_type": "series-end", "version": 1}'
    """
    end = {"message_id": message_id, "message_type": "series-end", "version": 1}
    return json.dumps(end).encode()


def data_frame(message_id: int, frame_number: int, values: dict[str, object]) -> bytes:
    """One row as the ingester writes it, `PCAPData(**row).model_dump_json()`.

    Example:
        >>> data_frame(2, 0, {"i_0": 1e-05, "i_t": float("nan"), "n": 3})
        b'{"message_id":2,"version":1,"message_type":"data","frame_number":0,"i_0":0.00001,"i_t":null,"n":3}'
    """
    row = {"message_id": message_id, "version": 1, "message_type": "data"}
    return to_json(row | {"frame_number": frame_number} | values, inf_nan_mode="null")


@dataclass
class PcapWriter(Writer):
    """The PCAP messages of one PandA group: series-start, one row per message, series-end.

    Example:
        >>> w = open_writer(f["/entry/instrument/pandabox/data"], ctx)  # doctest: +SKIP
        >>> [bytes(m[0]) for m in w][-1]  # doctest: +SKIP
        b'{"message_id": 5, "message_type": "series-end", "version": 1}'
    """

    columns: dict[str, BlockRows]
    """Each field's rows, by its name in the group."""
    rows: range
    arm_time: str
    origin: dict[str, object] = field(default_factory=dict)
    typ: str = TYP

    def __len__(self) -> int:
        return len(self.rows) + 2

    def __iter__(self) -> Iterator[Sequence[Buffer]]:
        yield [start_frame(self.arm_time, self.origin)]
        names, readers = list(self.columns), list(self.columns.values())
        block = readers[0].block_rows
        k = 0
        for first in range(0, len(self.rows), block):
            part = self.rows[first : first + block]
            columns = [r.rows(part).tolist() for r in readers]
            for values in zip(*columns):
                self.counters.frames += 1
                yield [data_frame(k + 2, k, dict(zip(names, values)))]
                k += 1
        yield [end_frame(len(self.rows) + 2)]


def open_writer(group: h5py.Group | h5py.Dataset, ctx: StreamContext) -> PcapWriter:
    """The PCAP stream of a PandA group: its rows picked by `ctx.points`."""
    where = f"{group.name} in {group.file.filename}"
    if not isinstance(group, h5py.Group):
        raise H5ToCborsError(f"{where} is not a group of PandA fields")
    fields, problem = panda_fields(group)
    if problem is not None:
        raise H5ToCborsError(f"{where} is not a PandA group: {problem}")
    rows = select_frames(ctx.points, next(iter(fields.values())).shape[0], where)
    columns = {name: BlockRows(d, len(rows)) for name, d in fields.items()}  # unstored: refused
    origin = origin_fields(ctx.input, ctx.path or group.name, rows)
    return PcapWriter(columns, rows, arm_time(group), origin, source=group.name)


@dataclass
class PcapInspector(StreamInspector):
    """Follows one PCAP stream: start, rows counting up from frame 0, the same fields each.

    Example:
        >>> check = PcapInspector("pcap_proc")
        >>> check.add(0, [b'{"message_id":2,"version":1,"message_type":"data","frame_number":0}'])
        >>> check.finish().report()[0]
        'pcap_proc: first message (event 0) is data, not series-start'
    """

    fields: list[str] | None = None
    """The fields of the first row, in its order."""

    def start_and_end(self) -> tuple[str, str]:
        return "series-start", "series-end"

    @property
    def details(self) -> list[str]:
        """What a summary shows: rows and fields."""
        fields = self.fields or []
        shown = ", ".join(shortened(f) for f in fields[:20])
        more = f" and {len(fields) - 20} more" if len(fields) > 20 else ""
        rows = f"{self.frames} rows" + (f", fields {shown}{more}" if fields else "")
        return [rows, *super().details]

    def add(self, event: int, frames: list[bytes]) -> None:
        """Take the zmq frames of this stream in the next message (at `event`)."""
        message = json_header(frames) if len(frames) == 1 else None
        kind = message.get("message_type") if message is not None else None
        if message is None or kind not in KINDS:
            self.order.add(event, "unparsable" if message is None else "unknown")
            what = "not one JSON object" if message is None else f"message_type {show(kind)}"
            self.order.note(f"event {event} is {what}")
            return
        self.order.add(event, str(kind))
        problem = base_problem(message)
        if problem is not None:
            self.order.note(f"{kind} at event {event} has {problem}")
        if kind == "series-start":
            self._start(event, message)
        elif kind == "data":
            self._row(event, message)

    def _start(self, event: int, message: dict[str, object]) -> None:
        self.start(message)
        when = message.get("arm_time")
        try:
            datetime.fromisoformat(str(when).replace("Z", "+00:00"))
        except ValueError:
            self.order.note(f"series-start at event {event} has arm_time {show(when)}")

    def _row(self, event: int, message: dict[str, object]) -> None:
        number = message.get("frame_number")
        if number != self.frames or isinstance(number, bool):
            shown = show(number)
            self.order.note(f"row at event {event} is frame_number {shown}, not {self.frames}")
        self.frames += 1
        names = [k for k in message if k not in DECLARED]
        if self.fields is None:
            self.fields = names
        elif names != self.fields:
            self.order.note(f"row at event {event} has other fields than the first row")


def base_problem(message: dict[str, object]) -> str | None:
    """What `PCAPBase`, which `parse` validates every message with, refuses (no `message_id`,
    a `version` other than 1) or the publisher never writes (a `message_id` not an integer).

    Example:
        >>> base_problem({"message_id": "2", "version": 1})
        "message_id '2', not an integer"
    """
    found, version = message.get("message_id"), message.get("version")
    if not is_integer(found):
        return f"message_id {show(found)}, not an integer"
    if version != 1:
        return f"version {show(version)}, not 1"
    return None


def inspector(name: str) -> PcapInspector:
    """Follows stream `name` through a capture, for `inspect`."""
    return PcapInspector(name)


def describe(frames: list[bytes]) -> str:
    """`series-start arm_time=...`, `data frame_number=3 fields=12`, `series-end`, or
    `unparsable`.

    Example:
        >>> describe([b'{"message_id":2,"version":1,"message_type":"data","frame_number":0,"x":1}'])
        'data frame_number=0 fields=1'
    """
    message = json_header(frames)
    if message is None or "message_type" not in message:
        return "unparsable"
    kind = message["message_type"]
    if kind == "series-start":
        return f"series-start arm_time={shortened(str(message.get('arm_time')), 40)}"
    if kind == "data":
        fields = len([k for k in message if k not in DECLARED])
        return f"data frame_number={show(message.get('frame_number'))} fields={fields}"
    return kind if kind == "series-end" else f"message_type {show(kind)}"


def comparer() -> Comparer:
    """Compares a capture's PCAP messages with those made again from the HDF5 file."""
    return compare


def compare(expected: Sequence[bytes], actual: Sequence[bytes]) -> str | None:
    """Where a PCAP message differs: its kind, `arm_time`, `frame_number`, the fields and
    every value exactly. `message_id` (the publisher's batch, which the file does not keep)
    and the start's record of where the file was are not compared.

    Example:
        >>> want = [data_frame(2, 0, {"i_0": 0.5})]
        >>> compare(want, [data_frame(7, 0, {"i_0": 0.25})])
        'i_0 is 0.25, not 0.5'
    """
    want, got = json_header(expected), json_header(actual)
    if got is None or len(actual) != 1:
        return "not one JSON frame"
    assert want is not None
    if got.get("message_type") != want["message_type"]:
        return f"a {show(got.get('message_type'))} message, not {want['message_type']}"
    if want["message_type"] == "series-start":
        return difference(want.get("arm_time"), got.get("arm_time"), "arm_time")
    if want["message_type"] == "series-end":
        return None
    skip = ("message_id", "version", "message_type")
    return difference(
        {k: v for k, v in want.items() if k not in skip},
        {k: v for k, v in got.items() if k not in skip},
    )
