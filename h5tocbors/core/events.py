"""Events as at the experiment: every stream's messages placed on one shared event counter.

Event 0 holds every stream's start message and the last event every stream's end message,
so every capture of a conversion ends on the same event (`dranspose replay -f` stops at the
first file that runs out). In between, a point-wise stream (detector frames, spectra,
PandA rows) puts point i on event i + 1; a step-wise stream (contrast's `running`) puts
step j on the event of the step's last point, and is absent from the other events.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from ..buffers import Buffer
from ..capture.encode import StreamPart
from ..errors import H5ToCborsError
from ..protocols import MessageWriter, Steps

Cadence = Literal["point", "step"]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default `created_at` clock, as dranspose's ingesters use."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Timeline:
    """The events of a conversion: 0 for the starts, one per point, `points + 1` for the ends.

    Example:
        >>> t = Timeline(points=6, steps=Steps.even(6, 2))
        >>> list(t.events("point")), list(t.events("step"))
        ([0, 1, 2, 3, 4, 5, 6, 7], [0, 3, 6, 7])
    """

    points: int
    steps: Steps | None = None

    @property
    def last(self) -> int:
        """The event of the end messages."""
        return self.points + 1

    def events(self, cadence: Cadence) -> Sequence[int]:
        """The events of a stream's messages, start and end included."""
        if cadence == "point" or self.steps is None:
            return range(self.last + 1)
        return [0, *self.steps.ends, self.last]


@dataclass(frozen=True)
class PlacedStream:
    """A stream's writer, the event of each of its messages, and the HDF5 path it was asked
    for (a master file's link, where the writer's source is the path in the linked file)."""

    name: str
    writer: MessageWriter
    events: Sequence[int]
    source: str = ""


def place(
    name: str, writer: MessageWriter, cadence: Cadence, timeline: Timeline, source: str = ""
) -> PlacedStream:
    """Place `writer`'s messages on `timeline`; its message count must fit the cadence."""
    events = timeline.events(cadence)
    if len(writer) != len(events):
        unit = "points" if cadence == "point" else "steps"
        raise H5ToCborsError(
            f"stream {name} has {len(writer) - 2} data messages, "
            f"the scan has {len(events) - 2} {unit}"
        )
    return PlacedStream(name, writer, events, source or writer.source)


def iter_events(
    streams: Sequence[PlacedStream], clock: Clock = utc_now
) -> Iterator[tuple[int, dict[str, StreamPart], datetime]]:
    """The messages of all streams merged by event: (event, {stream: part}, created_at).

    A stream with nothing at an event is absent from it.

    Example:
        >>> [(e, list(parts)) for e, parts, _ in iter_events(placed)]  # doctest: +SKIP
        [(0, ['pilatus', 'contrast']), (1, ['pilatus']), (2, ['pilatus', 'contrast']), ...]
    """

    def tagged(order: int, s: PlacedStream) -> Iterator[tuple[int, int, str, Sequence[Buffer]]]:
        for event, frames in zip(s.events, s.writer, strict=True):
            yield event, order, s.name, frames

    merged = heapq.merge(*(tagged(i, s) for i, s in enumerate(streams)))
    typs = {s.name: s.writer.typ for s in streams}
    for event, group in itertools.groupby(merged, key=lambda m: m[0]):
        yield event, {name: StreamPart(typs[name], frames) for _, _, name, frames in group}, clock()
