"""Prove a scan's captures exact: every message made again from the HDF5 files and compared.

Each stream of the scan is planned as `convert` plans it (same streams, same events) and
its writer makes every message again; each message of a capture is compared with the one
for its stream, at the same event, by its protocol's comparer: images by their pixels,
spectra and meta bit for bit, PandA values exactly, contrast values key by key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import h5py

from ..buffers import Buffer, read_range
from ..capture.read import RawStream, read_messages
from ..core.events import PlacedStream
from ..errors import H5ToCborsError, UsageError, quoted, shortened
from ..payloads.encoding import InputFile
from ..protocols import StreamContext, contrast, stins
from ..protocols.registry import by_typ
from ..protocols.values import Comparer
from ..scan.config import ScanConfig
from ..scan.specs import EVERY
from ..scan.streams import open_streams, stream_names
from . import StreamCheck
from .images import made_elsewhere, recorded_origins


@dataclass
class Follow:
    """One stream of one capture, followed message by message against its writer."""

    placed: PlacedStream
    check: StreamCheck
    compare: Comparer
    expected: Iterator[tuple[int, Sequence[Buffer]]] = field(init=False)
    consumed: int = 0

    def __post_init__(self) -> None:
        self.expected = zip(self.placed.events, self.placed.writer)

    def add(self, event: int, stream: RawStream) -> None:
        """Compare the capture's next message of this stream with the expected one."""
        self.check.count(event, self._problem(event, stream))

    def _problem(self, event: int, stream: RawStream) -> str | None:
        if stream.typ != self.placed.writer.typ:
            return f"typ {quoted(stream.typ)}, not {self.placed.writer.typ}"
        expected = next(self.expected, None)
        if expected is None:
            return f"more messages than the source has ({len(self.placed.events)})"
        self.consumed += 1
        at, frames = expected
        if event != at:
            return f"message {self.consumed - 1} is at event {event}, the source puts it at {at}"
        return self.compare([bytes(read_range(b)) for b in frames], stream.frames)

    def finish(self) -> StreamCheck:
        """The check, with the messages the capture lacks counted."""
        self.check.missing = len(self.placed.events) - self.consumed
        if self.check.missing and self.check.first_difference is None:
            event = self.placed.events[self.consumed]
            self.check.first_difference = f"the capture ends before event {event}"
        return self.check


def verify_streams(
    f: h5py.File,
    captures: Sequence[str | os.PathLike[str]],
    streams: Mapping[str, str | None],
    *,
    scan: bool = False,
    config: ScanConfig | None = None,
    frames: slice | None = None,
    only: set[str] | None = None,
    axes: Mapping[str, str] | None = None,
    entry: str | None = None,
) -> list[StreamCheck]:
    """Compare every message of `captures` with the message `f` gives for it.

    Streams are planned as `convert` plans them from the same arguments (`streams`,
    `scan`, `config`, `frames`, `axes`, `entry`); streams of the captures outside `only`
    are left alone.

    Example:
        >>> checks = verify_streams(f, ["out/contrast.cbors"], {}, scan=True)  # doctest: +SKIP
        >>> [c.ok for c in checks]  # doctest: +SKIP
        [True]
    """
    ctx = StreamContext(InputFile().encoder, frames, "none", "")

    def plan_of(names: Mapping[str, str | None]) -> dict[str, PlacedStream]:
        cut = {n: a for n, a in (axes or {}).items() if n in names or n == EVERY}
        placed = open_streams(f, names, ctx, scan=scan, config=config, axes=cut, entry=entry)
        return {p.name: p for p in placed}

    # a scan's streams are planned one by one as the captures name them: a detector file
    # that is missing matters only when its capture is given
    lazy = not streams and (scan or config is not None)
    plan = {} if lazy else plan_of(streams)
    checks: list[StreamCheck] = []
    for capture in captures:
        followed: dict[str, Follow] = {}
        for msg in read_messages(capture):
            for name, stream in msg.streams.items():
                if only is not None and name not in only:
                    continue
                follow = followed.get(name)
                if follow is None:
                    if lazy and name not in plan:
                        plan |= planned_stream(capture, name, plan_of)
                    follow = followed[name] = start(f, capture, name, plan)
                follow.add(msg.event_number, stream)
        checks.extend(follow.finish() for follow in followed.values())
    unknown = sorted(set(axes or {}) - {EVERY} - set(plan))
    if unknown and (scan or config is not None):  # the conversion's --axes may name streams
        unknown = sorted(set(unknown) - set(stream_names(f, config, entry)))  # not checked here
    if unknown:
        name = unknown[0]
        raise UsageError(f"--axes {name}={(axes or {})[name]}: no stream {name} in {f.filename}")
    return checks


def recorded_selection(captures: Sequence[str | os.PathLike[str]]) -> slice | None:
    """The frames that every stream of `captures` that records its origin was made from
    (a scan converted with `--frames 0:15`), or None when none records one or they differ.

    Example:
        >>> recorded_selection(["out/pilatus.cbors", "out/xspress3.cbors"])  # doctest: +SKIP
        slice(0, 15, None)
    """
    origins = [origin for c in captures for _, origin in recorded_origins(c).values()]
    same = len({origin.frames for origin in origins}) == 1
    return origins[0].selection if same else None


def verify_recorded(
    f: h5py.File,
    capture: str | os.PathLike[str],
    skip: Collection[str],
    frames: slice | None = None,
) -> list[StreamCheck]:
    """Compare the streams of `capture` other than STINS (checked by `verify_capture`) and
    `skip` whose start message records what they were made from (an xspress3 group), with
    what that source gives; `frames`, when given, replaces the recorded frames.

    Example:
        >>> [c.ok for c in verify_recorded(f, "out/xspress3.cbors", set())]  # doctest: +SKIP
        [True]
    """
    checks: list[StreamCheck] = []
    for name, (typ, origin) in recorded_origins(capture).items():
        module = by_typ(typ)
        if module is None or module is stins or name in skip:
            continue
        spec = {name: f"{origin.path}:{module.NAME}"}
        selection = origin.selection if frames is None else frames
        found = verify_streams(f, [capture], spec, frames=selection, only={name})
        for check in found:
            check.made_from = made_elsewhere(origin, f)
        checks += found
    return checks


def planned_stream(
    capture: str | os.PathLike[str],
    name: str,
    plan_of: Callable[[Mapping[str, str | None]], dict[str, PlacedStream]],
) -> dict[str, PlacedStream]:
    """Stream `name` of a capture, planned alone; why it cannot be names the capture."""
    try:
        return plan_of({name: None})
    except H5ToCborsError as e:
        raise H5ToCborsError(f"{capture} stream {quoted(name)}: {e}") from e


def unchecked_streams(
    typs: Mapping[str, Mapping[str, str]], checks: Sequence[StreamCheck]
) -> list[StreamCheck]:
    """A check that fails for each stream of the captures that no check in `checks` covers,
    saying what would check it; `typs` gives each capture's streams and their typs (as
    `verify_capture` collects them).

    Example:
        >>> typs = {"out/contrast.cbors": {"contrast": "contrast"}}
        >>> [c.unchecked for c in unchecked_streams(typs, [])]
        ['contrast stream; give --scan or --config']
    """
    done = {(c.capture, c.stream) for c in checks}
    return [
        StreamCheck(capture, name, "", 0, 0, 0, None, "messages", unchecked=how_to_check(name, typ))
        for capture, streams in typs.items()
        for name, typ in streams.items()
        if (capture, name) not in done
    ]


def how_to_check(name: str, typ: str) -> str:
    """What checks a stream of typ `typ` that records no source: the option to give."""
    module = by_typ(typ)
    if module is None:
        return f"typ {quoted(typ)} is no protocol h5tocbors makes"
    scan = f"{module.NAME} stream; give --scan or --config"
    if module is contrast:
        return scan
    return f"{scan}, or --stream {shortened(name)}=PATH:{module.NAME}"


def start(
    f: h5py.File, capture: str | os.PathLike[str], name: str, plan: Mapping[str, PlacedStream]
) -> Follow:
    """Begin following stream `name` of `capture`; it must be one of the planned streams."""
    placed = plan.get(name)
    if placed is None:
        raise H5ToCborsError(
            f"{capture}: stream {quoted(name)} is not among the streams checked in "
            f"{f.filename} ({', '.join(plan)}; see --stream)"
        )
    check = StreamCheck(str(capture), name, placed.source, 0, 0, 0, None, unit="messages")
    module = by_typ(placed.writer.typ)
    assert module is not None  # planned streams are of protocols h5tocbors writes
    return Follow(placed, check, module.comparer())
