"""PandA position capture over TCP (typ `PCAP_RAW`), as dranspose's TCP ingester records it.

One arm for the whole scan: a header message (`arm_time:` ... `fields:`, one line per
field, the blank line), one message per row (`" v1 v2 ...\\n"`), `END <rows> Disarmed`.
`dranspose.middlewares.positioncap.PositioncapParser` gives each row's values under
`BLOCK.FIELD.Capture` names, exactly the float64 values of the HDF5 file: doubles are
written with `repr`, the shortest text that reads back as the same float.

Sources: contrast's PandA group (per-point 1-D datasets `BLOCK.FIELD_Capture`, e.g.
`/entry/measurement/panda0/INENC2.VAL_Mean`) and PandABlocks-client's files (root datasets
`BLOCK.FIELD.Capture`, file attribute `arm_time`). Without an `arm_time` attribute the
header says when the file was last modified (UTC), which is when the scan wrote it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import h5py
import numpy as np
import numpy.typing as npt

from ..buffers import Buffer
from ..errors import H5ToCborsError, quoted
from ..hdf5.layout import text_attr
from ..hdf5.selection import select_frames
from ..hdf5.types import dtype_name
from . import StreamContext, Writer
from .members import checked, member, member_names, unequal_lengths
from .order import StreamInspector
from .rows import BlockRows
from .values import Comparer, difference, is_plain_number

TYP = "PCAP_RAW"
NAME = "pcap-raw"
"""The protocol's name in `--stream NAME=PATH:pcap-raw`."""

FIELD = re.compile(
    r"(?P<field>[A-Za-z][A-Za-z0-9_]*\.[A-Za-z][A-Za-z0-9_]*)[_.](?P<capture>[A-Za-z]+)"
)
"""`INENC2.VAL_Mean` (contrast), `PCAP.TS_TRIG.Value` (PandABlocks-client): field, capture."""
EXACT_IN_DOUBLE = 2**53
UINT32_MAX = 2**32 - 1


@dataclass(frozen=True)
class Field:
    """One captured field: its dataset, its PandA name and capture, its wire type."""

    dataset: h5py.Dataset
    name: str
    capture: str
    type: str
    """`double` or `uint32`, the two types `PositioncapParser` knows."""

    @property
    def header_line(self) -> str:
        """The field's line in the header, as the PandA server writes it."""
        if self.type == "double":
            return f" {self.name} double {self.capture} scale: 1 offset: 0 units: \n"
        return f" {self.name} {self.type} {self.capture}\n"

    def column(self, values: npt.NDArray[np.generic], first: int) -> list[str]:
        """The text of `values` (rows from `first`), each reading back exactly as its type."""
        kind = values.dtype.kind
        if self.type == "uint32":
            if kind == "u" and values.size and int(values.max()) > UINT32_MAX:
                big = np.greater(values, UINT32_MAX)
                self._refuse(values, big, first, "does not fit uint32")
            return list(map(str, values.astype(np.uint64).tolist()))
        if kind == "i" and values.dtype.itemsize == 8 and values.size:
            wide = values.astype(np.int64)
            too_big = (wide > EXACT_IN_DOUBLE) | (wide < -EXACT_IN_DOUBLE)
            if too_big.any():
                self._refuse(values, too_big, first, "is not exact as a double")
        return list(map(repr, values.astype(np.float64).tolist()))

    def _refuse(
        self, values: npt.NDArray[np.generic], bad: npt.NDArray[np.bool_], first: int, why: str
    ) -> None:
        row = int(np.argmax(bad))
        raise H5ToCborsError(
            f"{self.dataset.name} row {first + row}: value {values[row]} {why}, "
            "which PCAP_RAW cannot carry"
        )


def wire_type(dtype: np.dtype) -> str | None:
    """`uint32` for unsigned integers and booleans, `double` for floats and signed integers;
    None for others (`float128` among them: a double cannot carry it)."""
    if not is_plain_number(dtype):
        return None
    if dtype.kind in "ub":
        return "uint32"
    return "double" if dtype.kind in "if" else None


def panda_fields(group: h5py.Group) -> tuple[list[Field], str | None]:
    """The fields of a PandA group in its order, or why it is not one.

    Its datasets are the fields; groups beside them (another detector's data in a
    PandABlocks-client file) are not looked at.
    """
    members = {n: member(group, n) for n in member_names(group)}
    names = [n for n, obj in members.items() if not isinstance(obj, h5py.Group)]
    if not names:
        return [], "no datasets"
    unparsed = [n for n in names if not FIELD.fullmatch(n)]
    if unparsed:
        return [], (
            f"names that are not PandA fields (BLOCK.FIELD_Capture): {', '.join(unparsed[:5])}"
        )
    fields: list[Field] = []
    for name in names:
        dataset = checked(members[name])
        wire = wire_type(dataset.dtype) if dataset is not None else None
        if dataset is None or dataset.ndim != 1 or wire is None:
            what = "not a dataset"
            if dataset is not None:
                what = f"{dataset.shape} {dtype_name(dataset.dtype)}"
            return [], f"{name} is {what}, not one number per point"
        match = FIELD.fullmatch(name)
        assert match is not None
        fields.append(Field(dataset, match["field"], match["capture"], wire))
    uneven = unequal_lengths(
        "fields", [(f"{f.name}.{f.capture}", f.dataset.shape[0]) for f in fields]
    )
    return ([], uneven) if uneven is not None else (fields, None)


def fits(obj: h5py.Group | h5py.Dataset) -> str | None:
    """None when `obj` is a PandA group (contrast's or PandABlocks-client's), else why not.

    Example:
        >>> fits(f["/entry/instrument/xspress3"])  # doctest: +SKIP
        'names that are not PandA fields (BLOCK.FIELD_Capture): data, all_events, ...'
    """
    if not isinstance(obj, h5py.Group):
        return "a dataset, not a group of PandA fields"
    return panda_fields(obj)[1]


def arm_time(group: h5py.Group) -> str:
    """The `arm_time` attribute of the group or its file, else the file's modification time.

    Example:
        >>> arm_time(f["/"])  # doctest: +SKIP
        '2024-10-30T10:32:07.097Z'
    """
    for owner in (group, group.file):
        if "arm_time" not in owner.attrs:
            continue
        text = text_attr(owner, "arm_time")  # read only when short
        try:
            datetime.fromisoformat((text or "").replace("Z", ""))
        except ValueError:
            shown = "" if text is None else f" {quoted(text)}"
            raise H5ToCborsError(
                f"arm_time{shown} of {group.file.filename} is not an ISO 8601 time"
            ) from None
        assert text is not None
        return text
    mtime = os.stat(group.file.filename).st_mtime
    return datetime.fromtimestamp(mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class PcapRawWriter(Writer):
    """The PCAP_RAW messages of one PandA group: header, one row per point, END.

    Example:
        >>> w = open_writer(f["/entry/measurement/panda0"], ctx)  # doctest: +SKIP
        >>> [bytes(m[0]) for m in w][-1]  # doctest: +SKIP
        b'END 1111 Disarmed\\n'
    """

    fields: list[Field]
    readers: list[BlockRows]
    """Each field's rows, in the order of `fields`."""
    rows: range
    arm_time: str
    typ: str = TYP

    def __len__(self) -> int:
        return len(self.rows) + 2

    def header(self) -> bytes:
        """The header message, up to and including its blank line."""
        lines = [
            f"arm_time: {self.arm_time}\n",
            "missed: 0\nprocess: Scaled\nformat: ASCII\nfields:\n",
            *(f.header_line for f in self.fields),
            "\n",
        ]
        return "".join(lines).encode()

    def __iter__(self) -> Iterator[Sequence[Buffer]]:
        yield [self.header()]
        readers = self.readers
        block = readers[0].block_rows
        for start in range(0, len(self.rows), block):
            part = self.rows[start : start + block]
            columns = [f.column(r.rows(part), part[0]) for f, r in zip(self.fields, readers)]
            for values in zip(*columns):
                self.counters.frames += 1
                yield [(" " + " ".join(values) + "\n").encode()]
        yield [f"END {len(self.rows)} Disarmed\n".encode()]


def open_writer(group: h5py.Group | h5py.Dataset, ctx: StreamContext) -> PcapRawWriter:
    """The PCAP_RAW stream of a PandA group: its rows picked by `ctx.points`."""
    if not isinstance(group, h5py.Group):
        raise H5ToCborsError(
            f"{group.name} in {group.file.filename} is not a group of PandA fields"
        )
    fields, problem = panda_fields(group)
    if problem is not None:
        raise H5ToCborsError(
            f"{group.name} in {group.file.filename} is not a PandA group: {problem}"
        )
    rows = select_frames(
        ctx.points, fields[0].dataset.shape[0], f"{group.name} in {group.file.filename}"
    )
    readers = [BlockRows(f.dataset, len(rows)) for f in fields]  # unstored rows: refused now
    return PcapRawWriter(fields, readers, rows, arm_time(group), source=group.name)


@dataclass
class PcapRawInspector(StreamInspector):
    """Follows one PCAP_RAW stream: arms (header, rows, END), fields and row counts.

    Example:
        >>> check = PcapRawInspector("panda0")
        >>> check.add(0, [b"arm_time: 2024-10-30T10:32:07Z\\nfields:\\n X.Y double Value\\n\\n"])
        >>> check.add(1, [b" 1.5\\n"]); check.add(2, [b"END 2 Disarmed\\n"])
        >>> check.finish().report()
        ['panda0: END at event 2 says 2 rows, the arm had 1']
    """

    fields: list[str] = field(default_factory=list)
    """`INENC2.VAL.Mean double`, ..., as the first header lists them."""
    arms: int = 0
    _armed: list[str] | None = None
    _rows: int = 0

    def start_and_end(self) -> tuple[str, str]:
        return "header", "END"

    @property
    def details(self) -> list[str]:
        """What a summary shows: arms, rows and fields."""
        return [f"{self.arms} arm(s), {self.frames} rows, fields {', '.join(self.fields)}"]

    def add(self, event: int, frames: list[bytes]) -> None:
        """Take the zmq frames of this stream in the next message (at `event`)."""
        try:
            (text,) = (f.decode("ascii") for f in frames)
        except (ValueError, AttributeError):
            self.order.add(event, "unparsable")
            self.order.note(f"event {event} is not one ASCII frame")
            return
        if text.startswith("arm_time:"):
            self._header(event, text)
        elif text.startswith("END"):
            self._end(event, text)
        else:
            self._row(event, text)

    def _header(self, event: int, text: str) -> None:
        if self.arms and self._armed is None:
            self.order.ended_at = None  # a new arm after an END: the END was not the last
        self.order.add(event, "header" if self.arms == 0 else "arm")
        if self._armed is not None:
            self.order.note(f"header at event {event} inside an arm (no END before it)")
        self.arms += 1
        listed = [_field_name(line) for line in _field_lines(text)]
        if None in listed or not text.endswith("\n\n"):
            self.order.note(f"header at event {event} is not arm_time, fields and a blank line")
        self._armed = [f for f in listed if f is not None]
        if self.arms == 1:
            self.fields = self._armed
        elif self._armed != self.fields:
            self.order.note(
                f"arm at event {event} has other fields than the first "
                "(PositioncapParser keeps the first ones)"
            )
        self._rows = 0

    def _row(self, event: int, text: str) -> None:
        self.order.add(event, "row")
        self.frames += 1
        self._rows += 1
        if self._armed is None:
            self.order.note(f"row at event {event} outside an arm")
            return
        values = text.strip().split(" ")
        if len(values) != len(self._armed) or not text.startswith(" "):
            self.order.note(
                f"row at event {event} has {len(values)} values for {len(self._armed)} fields"
            )
            return
        for name, value in zip(self._armed, values):
            try:
                int(value) if name.endswith(" uint32") else float(value)
            except ValueError:
                self.order.note(f"row at event {event}: {value[:40]!r} is not a {name}")
                return

    def _end(self, event: int, text: str) -> None:
        self.order.add(event, "END")
        parts = text.split()
        if len(parts) < 2 or not parts[1].isdigit():
            self.order.note(f"END at event {event} has no row count")
        elif int(parts[1]) != self._rows:
            self.order.note(f"END at event {event} says {parts[1]} rows, the arm had {self._rows}")
        if self._armed is None:
            self.order.note(f"END at event {event} outside an arm")
        self._armed = None


def _field_lines(header: str) -> list[str]:
    return [line for line in header.split("\n") if line.startswith(" ")]


def _field_name(line: str) -> str | None:
    """`INENC2.VAL.Mean double` for ` INENC2.VAL double Mean ...`, None if it is not that."""
    parts = line.strip().split(" ")
    if len(parts) < 3 or parts[1] not in ("double", "uint32"):
        return None
    return f"{parts[0]}.{parts[2]} {parts[1]}"


def inspector(name: str) -> PcapRawInspector:
    """Follows stream `name` through a capture, for `inspect`."""
    return PcapRawInspector(name)


def describe(frames: list[bytes]) -> str:
    """`header arm_time=... fields=3`, `row 3 values`, `END 10 Disarmed`, or `unparsable`."""
    try:
        (text,) = (f.decode("ascii") for f in frames)
    except (ValueError, AttributeError):
        return "unparsable"
    if text.startswith("arm_time:"):
        when = text.split("\n", 1)[0][len("arm_time:") :].strip()
        return f"header arm_time={when} fields={len(_field_lines(text))}"
    if text.startswith("END"):
        return text.strip()[:60]
    return f"row {len(text.split())} values"


def comparer() -> Comparer:
    """Compares a capture's PCAP_RAW messages with those made again from the HDF5 file,
    value by value under the field names the header gives."""
    fields: list[str] = []  # `INENC2.VAL.Mean double`, from the header

    def compare(expected: Sequence[bytes], actual: Sequence[bytes]) -> str | None:
        want, got = bytes(expected[0]).decode("ascii"), _text(actual)
        if got is None:
            return "not one ASCII frame"
        if want.startswith("arm_time:"):
            fields[:] = [_field_name(line) or line for line in _field_lines(want)]
            if not got.startswith("arm_time:"):
                return "not the header"
            return difference(fields, [_field_name(x) or x for x in _field_lines(got)], "fields")
        if want.startswith("END"):
            same = got.split()[:2] == want.split()[:2]
            return None if same else f"{got.strip()[:40]!r}, not {want.strip()!r}"
        return row_difference(fields, want.split(), got.split())

    return compare


def row_difference(fields: list[str], want: list[str], got: list[str]) -> str | None:
    """The first field whose value differs, by value (`1.50` is `1.5`), or None."""
    if len(got) != len(want):
        return f"a row of {len(got)} values, not {len(want)}"
    for field_name, w, g in zip(fields, want, got):
        name, _, kind = field_name.partition(" ")
        number = int if kind == "uint32" else float
        try:
            found = difference(number(w), number(g), name)
        except ValueError:
            return f"{name} is {g[:40]!r}, not a number"
        if found is not None:
            return found
    return None


def _text(frames: Sequence[bytes]) -> str | None:
    """The one ASCII frame of a message, or None."""
    try:
        (frame,) = frames
        return bytes(frame).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
