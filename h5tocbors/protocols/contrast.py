"""contrast's scan stream (typ `contrast`), rebuilt from the master file contrast recorded.

contrast's StreamRecorder pickles one dict per message (protocol 2): `started` (scannr,
path, pre-scan snapshot, description), one `running` `OrderedDict` per scan step with the
step's values, `dt` and then `status` last, and `finished` with the post-scan snapshot.
`dranspose.middlewares.contrast.parse` turns them into `ContrastStarted`,
`ContrastRunning` (values as attributes) and `ContrastFinished`.

Its Hdf5Recorder wrote the same values into `<path>/<scannr:06d>.h5`: `/entry/description`,
`/entry/snapshots/{pre_scan,post_scan}/<motor>`, and under `/entry/measurement` one row per
step for scalars (`dt` among them: its length is the number of steps), arrays concatenated
along axis 0 (per-point arrays of a fly scan: one row per point), dicts as groups, strings
and None as fixed-length strings (`'None'`), and links to detector files as HDF5 external
links (a group of per-step links `000000`, `000001`, ... for links that are not universal).
Reading it back, per step:

- a 1-D dataset directly under `measurement` with one row per step is a scalar (Python
  `float`, `int` or `bool`), as a motor position or counter is;
- a dataset with one row per point is sliced to the step's points (`pseudo/x`,
  `panda0/INENC2.VAL_Mean`: 1-D arrays, one element per point of the step);
- any other numeric dataset (rows a multiple of the steps) gives the step's rows;
- strings give `str`, `'None'` gives None; groups give dicts; external links give
  contrast's link dicts `{"type": "Link", "filename": <absolute>, "path": ..., "universal":
  True}` (an image detector's group `{"frames": {link}, "thumbs:": None}`).

Keys come in the file's order: creation order where the file tracks it, else HDF5's name
order (h5py's default, so contrast's recording order is lost there); `dt` and `status` last.
"""

from __future__ import annotations

import os
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from math import prod
from typing import TypeAlias

import h5py
import numpy as np

from ..buffers import Buffer
from ..errors import H5ToCborsError
from ..hdf5.frames import little_endian
from ..hdf5.types import dtype_name
from . import MAX_STEPS, Steps, StepSpan, StreamContext, Writer
from .members import OPEN_ERRORS, checked_member, member_class, member_dataset, member_names
from .order import StreamInspector
from .pickles import MAX_BYTES, RefusedPickle, dumps, loads
from .rows import BlockRows
from .values import Comparer, is_plain_number, loaded_difference

TYP = "contrast"
NAME = "contrast"
"""The protocol's name in `--stream NAME=PATH:contrast`."""
PICKLE_PROTOCOL = 2
"""As contrast's StreamRecorder pickles (`send_pyobj(dct, protocol=2)`)."""
MAX_DEPTH = 16
MAX_MEMBERS = 10_000
"""Members of a scan in all: contrast records tens; a hostile file could link millions."""
LINK_LIST = re.compile(r"[0-9]{6}")
MAX_MESSAGE_BYTES = MAX_BYTES
"""The largest pickled message written: the largest the capture reader (`inspect`,
`verify`: the strict pickle loader) accepts."""


@dataclass
class _Tree:
    """A group under `/entry/measurement` and what it holds, links not followed."""

    group: h5py.Group
    members: list[tuple[str, Member]]


@dataclass
class _LinkList:
    """A group of per-step external links (`000000`, `000001`, ...): a link that is not
    universal."""

    group: h5py.Group
    links: dict[str, h5py.ExternalLink]


Member: TypeAlias = "h5py.Dataset | h5py.ExternalLink | _LinkList | _Tree"
Value = Callable[[StepSpan], object]
"""A step's value of one member, made from the step's rows."""


def _where(obj: h5py.Group | h5py.Dataset, name: str = "") -> str:
    path = f"{obj.name.rstrip('/')}/{name}" if name else obj.name
    return f"{path} in {obj.file.filename}"


def _tree(
    group: h5py.Group,
    ancestors: frozenset[tuple[int, int]] = frozenset(),
    budget: list[int] | None = None,
) -> _Tree:
    """What `group` holds, recursively, external links not followed. A group linked into
    itself, nesting deeper than `MAX_DEPTH`, or more than `MAX_MEMBERS` members in all (a
    group hard-linked many times counts each time) is an error."""
    budget = [MAX_MEMBERS] if budget is None else budget
    info = h5py.h5o.get_info(group.id)
    if (info.fileno, info.addr) in ancestors or len(ancestors) > MAX_DEPTH:
        raise H5ToCborsError(f"{_where(group)} is linked into itself or nested too deep")
    ancestors = ancestors | {(info.fileno, info.addr)}
    members: list[tuple[str, Member]] = []
    for name in member_names(group):
        budget[0] -= 1
        if budget[0] < 0:
            raise H5ToCborsError(f"{_where(group)}: more than {MAX_MEMBERS} members in all")
        link = group.get(name, getlink=True)
        found = None if isinstance(link, h5py.ExternalLink) else checked_member(group, name)
        member: Member
        if isinstance(link, h5py.ExternalLink):
            member = link
        elif isinstance(found, h5py.Dataset):
            member = found
        elif isinstance(found, h5py.Group):
            member = _link_list(found) or _tree(found, ancestors, budget)
        else:
            raise H5ToCborsError(f"{_where(group, name)} is a link that leads nowhere")
        members.append((name, member))
    return _Tree(group, members)


def _link_list(group: h5py.Group) -> _LinkList | None:
    names = member_names(group)
    links = {n: group.get(n, getlink=True) for n in names}
    if not names or not all(
        LINK_LIST.fullmatch(n) and isinstance(link, h5py.ExternalLink) for n, link in links.items()
    ):
        return None
    return _LinkList(group, links)


def _datasets(tree: _Tree) -> Iterator[h5py.Dataset]:
    for _, member in tree.members:
        if isinstance(member, h5py.Dataset):
            yield member
        elif isinstance(member, _Tree):
            yield from _datasets(member)


def _is_text(dataset: h5py.Dataset) -> bool:
    """One string per row: contrast's `str` values (arrays of strings are arrays)."""
    return dataset.ndim == 1 and h5py.check_string_dtype(dataset.dtype) is not None


def _measurement(entry: h5py.Group) -> tuple[h5py.Group, h5py.Dataset]:
    if member_class(entry, "measurement") is not h5py.Group:
        raise H5ToCborsError(f"{_where(entry)} has no measurement group: not a contrast scan")
    measurement = entry["measurement"]
    dt = member_dataset(measurement, "dt")
    if dt is None or dt.ndim != 1 or dt.dtype.kind not in "iuf":
        raise H5ToCborsError(
            f"{_where(measurement)} has no dt (one time per step): not a contrast scan"
        )
    if dt.shape[0] == 0:
        raise H5ToCborsError(f"{_where(dt)} is empty: the scan recorded no step")
    if dt.shape[0] > MAX_STEPS:
        raise H5ToCborsError(
            f"{_where(dt)} declares {dt.shape[0]:,} steps, more than h5tocbors takes "
            f"({MAX_STEPS:,})"
        )
    _check_number(dt)
    return measurement, dt


def _check_number(dataset: h5py.Dataset) -> None:
    if not is_plain_number(dataset.dtype):
        raise H5ToCborsError(
            f"{_where(dataset)} has dtype {dtype_name(dataset.dtype)}: contrast records "
            "numbers (of at most 64 bits) and strings"
        )


def _check_array(dataset: h5py.Dataset) -> None:
    """Refuse an array value the capture reader would refuse: numbers of at most 64 bits, or
    fixed-length byte strings (as numpy arrays of bytes); never variable-length strings."""
    if h5py.check_string_dtype(dataset.dtype) is not None and dataset.dtype.kind != "S":
        raise H5ToCborsError(
            f"{_where(dataset)} is an array of variable-length strings: contrast records "
            "arrays of strings as fixed-length ones"
        )
    if dataset.dtype.kind != "S":
        _check_number(dataset)
    try:
        loads(dumps(np.empty((0, *dataset.shape[1:]), little_endian(dataset.dtype))))
    except RefusedPickle as e:
        raise H5ToCborsError(
            f"{_where(dataset)} is {dataset.shape} {dtype_name(dataset.dtype)}, which a "
            f"capture's reader refuses ({e})"
        ) from e


def scan_shape(entry: h5py.Group) -> tuple[int, int]:
    """(points, steps) of a contrast scan: steps is the length of `measurement/dt`, points
    the length of its per-point arrays (a multiple of steps), or steps when it has none.

    Every dataset must have a multiple of steps rows. Where datasets of different lengths
    could be the per-point arrays (a fly scan's PandA fields beside a detector's spectra
    of several rows per step), the length most datasets have is the points'.

    Example:
        >>> scan_shape(f["/entry"])  # a fly scan of 11 lines of 101 points  # doctest: +SKIP
        (1111, 11)
    """
    measurement, dt = _measurement(entry)
    return _shape(_tree(measurement), dt.shape[0])


def _shape(tree: _Tree, steps: int) -> tuple[int, int]:
    lengths: list[int] = []
    for dataset in _datasets(tree):
        rows = dataset.shape[0] if dataset.ndim else None
        if rows is None:
            raise H5ToCborsError(f"{_where(dataset)} is a single value, not one per step")
        if _is_text(dataset) and rows != steps:
            raise H5ToCborsError(
                f"{_where(dataset)} has {rows} strings for {steps} steps (the length of dt)"
            )
        if rows % steps:
            raise H5ToCborsError(
                f"{_where(dataset)} has {rows} rows, not a multiple of the {steps} steps "
                "(the length of dt)"
            )
        if rows != steps:
            lengths.append(rows)
    counts = Counter(lengths).most_common(2)
    if len(counts) == 2 and counts[0][1] == counts[1][1]:
        raise H5ToCborsError(
            f"{tree.group.file.filename}: as many arrays have {counts[0][0]} rows as "
            f"{counts[1][0]}: which are the points? ({steps} steps)"
        )
    return (counts[0][0] if counts else steps), steps


def _decoded(raw: object, dataset: h5py.Dataset, row: int) -> str:
    """A string of `dataset` (row `row`) as contrast had it: UTF-8 exactly, else refused."""
    if not isinstance(raw, bytes):
        return str(raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise H5ToCborsError(
            f"{_where(dataset)}: row {row} is not UTF-8 ({e.reason} at byte {e.start}), so "
            "it is no string contrast recorded"
        ) from e


def _text(raw: object, dataset: h5py.Dataset, row: int) -> str | None:
    """A recorded string: decoded, `'None'` back to None."""
    text = _decoded(raw, dataset, row)
    return None if text == "None" else text


def _link(group: h5py.Group, link: h5py.ExternalLink, universal: bool) -> dict[str, object]:
    """contrast's dict for a link, its file named absolutely as the detector named it."""
    here = os.path.dirname(os.path.abspath(group.file.filename))
    filename = os.path.normpath(os.path.join(here, link.filename))
    return {"type": "Link", "filename": filename, "path": link.path, "universal": universal}


def _plan(
    tree: _Tree, points: int, steps: int, top: bool, size: _Size
) -> Callable[[StepSpan], dict[str, object]]:
    """How to make a step's dict of `tree`'s values (an `OrderedDict` at the top); adds
    to `size` the bytes of data a step's values hold at most."""
    values: list[tuple[str, Value]] = []
    for name, member in tree.members:
        if top and name == "dt":
            continue
        values.append((name, _value(tree.group, member, points, steps, top, size)))
    make = OrderedDict if top else dict

    def step(span: StepSpan) -> dict[str, object]:
        return make((name, value(span)) for name, value in values)

    return step


def _value(
    group: h5py.Group, member: Member, points: int, steps: int, top: bool, size: _Size
) -> Value:
    if isinstance(member, h5py.ExternalLink):
        link = _link(group, member, universal=True)
        return lambda span: dict(link)
    if isinstance(member, _LinkList):
        if len(member.links) != steps:
            raise H5ToCborsError(
                f"{_where(member.group)} holds {len(member.links)} links for {steps} steps"
            )
        links = [_link(member.group, member.links[n], False) for n in sorted(member.links)]
        return lambda span: dict(links[span.index])
    if isinstance(member, _Tree):
        return _plan(member, points, steps, top=False, size=size)
    return _dataset_value(member, points, steps, top, size)


def _dataset_value(dataset: h5py.Dataset, points: int, steps: int, top: bool, size: _Size) -> Value:
    if not dataset.ndim:  # the measurement's were refused by `_shape`; here a snapshot's
        raise H5ToCborsError(f"{_where(dataset)} is a single value, not one per step")
    count = dataset.shape[0]
    per_step = -(-points // steps) if count == points else count // steps
    size.add(dataset, 1 if _is_text(dataset) else per_step)
    rows = BlockRows(dataset)
    if _is_text(dataset):
        return lambda span: _text(rows.row(span.index), dataset, span.index)
    if top and dataset.ndim == 1 and count == steps:
        _check_number(dataset)
        return lambda span: rows.row(span.index).item()
    _check_array(dataset)
    if count == points:
        return lambda span: rows.rows(span.points)
    return lambda span: rows.rows(range(span.index * per_step, (span.index + 1) * per_step))


@dataclass
class _Size:
    """The bytes of data one message holds at most, counted as its values are planned."""

    total: int = 0

    def add(self, dataset: h5py.Dataset, rows: int) -> None:
        """Count `rows` rows of `dataset`; refuse a message that would be larger than
        `MAX_MESSAGE_BYTES` before anything is read."""
        row_bytes = dataset.dtype.itemsize * prod(dataset.shape[1:])
        self.total += rows * row_bytes
        if self.total > MAX_MESSAGE_BYTES:
            raise H5ToCborsError(
                f"{_where(dataset)}: a message would hold {self.total:,} bytes ("
                f"{rows * row_bytes:,} from here), more than the {MAX_MESSAGE_BYTES >> 20} MiB a "
                "capture's reader accepts"
            )


def _text_dataset(group: h5py.Group, name: str, size: _Size) -> str | None:
    """The string `group[name]` holds (its first), counted in `size`; None if it has none."""
    dataset = member_dataset(group, name)
    if dataset is None:
        return None
    string = h5py.check_string_dtype(dataset.dtype) is not None
    if not string or dataset.ndim > 1 or dataset.size == 0:
        raise H5ToCborsError(
            f"{_where(dataset)} is {dataset.shape} {dtype_name(dataset.dtype)}, not a string"
        )
    size.add(dataset, 1)
    return _decoded(dataset[()] if dataset.ndim == 0 else dataset[0], dataset, 0)


def _snapshot(entry: h5py.Group, which: str, size: _Size) -> dict[str, object]:
    """`/entry/snapshots/<which>` as contrast took it, counted in `size`; {} where it took
    none."""
    path = f"snapshots/{which}"
    try:
        present = member_class(entry, path) is h5py.Group
    except OPEN_ERRORS:
        present = False
    if not present:
        return {}
    values = _plan(_tree(entry[path]), 1, 1, top=True, size=size)(StepSpan(0, range(1)))
    return dict(values)


def scan_number(filename: str) -> int:
    """The scan number in contrast's file name `<scannr:06d>.h5` (trailing digits of the
    stem), or 0 for a file renamed without one.

    Example:
        >>> scan_number("/data/visitors/nanomax/000008.h5")
        8
    """
    found = re.search(r"([0-9]+)$", os.path.splitext(os.path.basename(filename))[0])
    return int(found.group(1)) if found else 0


@dataclass
class ContrastWriter(Writer):
    """The contrast messages of one scan: started, one running per step, finished.

    Example:
        >>> w = open_writer(f["/entry"], ctx)  # 11 steps  # doctest: +SKIP
        >>> len(w), [loads(m[0])["status"] for m in w][:2]  # doctest: +SKIP
        (13, ['started', 'running'])
    """

    started: dict[str, object]
    finished: dict[str, object]
    step: Callable[[StepSpan], dict[str, object]]
    dt: BlockRows
    spans: Sequence[StepSpan]
    where: str = ""
    """The scan's `/entry` and file, for errors."""
    typ: str = TYP

    def __len__(self) -> int:
        return len(self.spans) + 2

    def __iter__(self) -> Iterator[Sequence[Buffer]]:
        yield self.pickled(self.started, "started")
        for span in self.spans:
            message = self.step(span)
            message["dt"] = self.dt.row(span.index).item()
            message["status"] = "running"
            self.counters.frames += 1
            yield self.pickled(message, f"step {span.index}'s running")
        yield self.pickled(self.finished, "finished")

    def pickled(self, message: dict[str, object], what: str) -> list[Buffer]:
        """`message` pickled as contrast pickles it; refused if the reader would refuse it."""
        data = dumps(message, PICKLE_PROTOCOL)
        if len(data) > MAX_MESSAGE_BYTES:
            raise H5ToCborsError(
                f"{self.where}: the {what} message would be {len(data):,} bytes, more than "
                f"the {MAX_MESSAGE_BYTES >> 20} MiB a capture's reader accepts"
            )
        return [data]


def fits(obj: h5py.Group | h5py.Dataset) -> str | None:
    """None when `obj` is a contrast scan's `/entry`, else why not."""
    if not isinstance(obj, h5py.Group):
        return "a dataset, not a contrast scan's /entry"
    if member_class(obj, "measurement") is not h5py.Group:
        return "no measurement group (not a contrast scan's /entry)"
    if member_class(obj["measurement"], "dt") is not h5py.Dataset:
        return "no measurement/dt (not a contrast scan's /entry)"
    if member_dataset(obj, "description") is None:
        return "no description (not a contrast scan's /entry)"
    return None


def open_writer(entry: h5py.Group | h5py.Dataset, ctx: StreamContext) -> ContrastWriter:
    """The contrast stream of a scan's `/entry`: one running message per span of `ctx.steps`
    (every step of the scan when it has none)."""
    problem = fits(entry)
    if problem is not None:
        raise H5ToCborsError(f"{_where(entry)} is {problem}")
    assert isinstance(entry, h5py.Group)
    measurement, dt = _measurement(entry)
    tree = _tree(measurement)
    points, steps = _shape(tree, dt.shape[0])
    spans = ctx.steps or [StepSpan(j, Steps.even(points, steps).covering(j)) for j in range(steps)]
    head = _Size()  # the description is in the started and the finished message
    description = _text_dataset(entry, "description", head) or ""
    header = {
        "scannr": scan_number(entry.file.filename),
        "path": os.path.dirname(os.path.abspath(entry.file.filename)),
        "description": description,
    }
    return ContrastWriter(
        source=entry.name,
        started=_message("started", header, _snapshot(entry, "pre_scan", replace(head))),
        finished=_message("finished", header, _snapshot(entry, "post_scan", replace(head))),
        step=_plan(tree, points, steps, top=True, size=_Size()),
        dt=BlockRows(dt),
        spans=spans,
        where=_where(entry),
    )


def _message(
    status: str, header: dict[str, object], snapshot: dict[str, object]
) -> dict[str, object]:
    """A started or finished message, keys in contrast's order (`RecorderHeader`)."""
    return {
        "scannr": header["scannr"],
        "status": status,
        "path": header["path"],
        "snapshot": snapshot,
        "description": header["description"],
    }


@dataclass
class ContrastInspector(StreamInspector):
    """Follows one contrast stream: started first, running between, finished last; the
    keys of the running messages. Pickles are read by the strict loader only.

    Example:
        >>> check = ContrastInspector("contrast")
        >>> check.add(0, [dumps({"status": "running", "dt": 0.1})])
        >>> check.finish().report()[0]
        'contrast: first message (event 0) is running, not started'
    """

    keys: list[str] = field(default_factory=list)
    """The keys of the first running message, `status` left out."""

    def start_and_end(self) -> tuple[str, str]:
        return "started", "finished"

    @property
    def details(self) -> list[str]:
        """What a summary shows: the keys of the running messages."""
        return [f"keys {', '.join(self.keys)}"] if self.keys else []

    def add(self, event: int, frames: list[bytes]) -> None:
        """Take the zmq frames of this stream in the next message (at `event`)."""
        note = self.order.note
        message = _load(frames)
        if isinstance(message, str):
            self.order.add(event, "unparsable")
            note(f"event {event}: {message}")
            return
        status = str(message.get("status"))
        if status == "heartbeat":
            note(f"heartbeat at event {event} (dranspose's ingester drops them)")
            return
        self.order.add(event, status)
        if status == "running":
            self._running(event, message)
        elif status in ("started", "finished"):
            missing = [k for k in ("scannr", "path", "description") if k not in message]
            if missing:
                note(f"{status} at event {event} has no {', '.join(missing)}")
        else:
            note(f"event {event} has status {status!r}")

    def _running(self, event: int, message: dict[str, object]) -> None:
        self.frames += 1
        keys = [str(k) for k in message]
        if keys[-1:] != ["status"] or not isinstance(message.get("dt"), int | float):
            self.order.note(f"running at event {event} lacks a number dt or status last")
        if self.frames == 1:
            self.keys = keys[:-1]
        elif keys[:-1] != self.keys:
            self.order.note(f"running at event {event} has other keys than the first")


def _load(frames: list[bytes]) -> dict[str, object] | str:
    """The message's dict, or why there is none."""
    if len(frames) != 1:
        return f"{len(frames)} zmq frames, not 1"
    try:
        message = loads(frames[0])
    except RefusedPickle as e:
        return f"refused: {e}"
    if not isinstance(message, dict) or "status" not in message:
        return "not a dict with a status"
    return message


def inspector(name: str) -> ContrastInspector:
    """Follows stream `name` through a capture, for `inspect`."""
    return ContrastInspector(name)


def describe(frames: list[bytes]) -> str:
    """`started scannr=8`, `running dt=0.1 sx, sy, pseudo`, `finished scannr=8`, or why not."""
    message = _load(frames)
    if isinstance(message, str):
        return message
    status = str(message["status"])
    if status == "running":
        keys = ", ".join(str(k) for k in message if k not in ("dt", "status"))
        return f"running dt={message.get('dt')} {keys}"[:200]
    if status in ("started", "finished"):
        return f"{status} scannr={message.get('scannr')}"
    return status[:40]


def comparer() -> Comparer:
    """Compares a capture's contrast messages with those made again from the HDF5 file."""
    return compare


def compare(expected: Sequence[bytes], actual: Sequence[bytes]) -> str | None:
    """Where a contrast message differs, by key (`pseudo.x`, `snapshot.sx`), or None."""
    return loaded_difference(_load, expected, actual)
