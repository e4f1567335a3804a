"""Summarize captures and name what is wrong with them, streaming message by message."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..protocols import Inspector, Problems
from ..protocols.registry import inspector_for
from .read import CaptureError, RawMessage, read_messages

MAX_PROBLEMS = Problems.limit
"""Problems listed per capture (beside where it breaks); the rest are counted."""


@dataclass
class StreamSummary:
    """One stream of a capture: `frames` are images for STINS, zmq frames for other typs."""

    typ: str
    messages: int = 0
    frames: int = 0
    shape: list[int] | None = None
    type: str | None = None
    compression: str | None = None
    bytes: int = 0
    created_at: list[str] | None = None
    """First and last `created_at` (ISO 8601), or None for captures without it."""
    details: list[str] = field(default_factory=list)
    """What its protocol's inspector adds: meta names (xspress), keys (contrast), fields."""


@dataclass
class CaptureSummary:
    """One capture file; `problems` is empty for a well-formed one, and starts with where the
    file breaks when it is not `intact`."""

    path: str
    messages: int = 0
    first_event: int | None = None
    last_event: int | None = None
    streams: dict[str, StreamSummary] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    intact: bool = True
    problem_count: int = 0
    """All problems found, listed or not (`problems` ends with how many more when it is cut)."""


@dataclass
class _Tracker:
    summary: StreamSummary
    inspector: Inspector | None
    first: datetime | None = None
    last: datetime | None = None


OnMessage = Callable[[RawMessage], None]


def inspect_capture(
    path: str | os.PathLike[str], on_message: OnMessage | None = None
) -> CaptureSummary:
    """Read a capture once and summarize it; a truncated or corrupt file becomes a problem.

    Memory does not grow with the capture: one message at a time, a bounded list of problems.

    Example:
        >>> s = inspect_capture("out/pilatus.cbors")  # doctest: +SKIP
        >>> s.messages, s.streams["pilatus"].frames, s.problems  # doctest: +SKIP
        (22, 20, [])
    """
    summary = CaptureSummary(str(path))
    trackers: dict[str, _Tracker] = {}
    problems = Problems()
    try:
        for msg in read_messages(path):
            if on_message is not None:
                on_message(msg)
            _check_event(summary, problems, msg)
            for name, stream in msg.streams.items():
                tracker = trackers.get(name)
                if tracker is None:
                    tracker = _Tracker(StreamSummary(stream.typ), inspector_for(stream.typ, name))
                    trackers[name] = tracker
                _add(tracker, msg, stream.frames)
    except CaptureError as e:
        summary.intact = False
        summary.problems.append(str(e))  # first, never cut
    if summary.messages == 0 and summary.intact:
        problems.add(f"{summary.path}: no messages")
    for name, tracker in trackers.items():
        summary.streams[name] = _finish(tracker, problems)
    summary.problems += problems.report()
    summary.problem_count = (not summary.intact) + problems.total  # where it breaks, first
    return summary


def _check_event(summary: CaptureSummary, problems: Problems, msg: RawMessage) -> None:
    """Events increase from message to message (without remembering them all)."""
    event, last = msg.event_number, summary.last_event
    if event == last:
        problems.add(f"event {event} repeated (message {msg.index})")
    elif last is not None and event < last:
        problems.add(f"event {event} after event {last} (message {msg.index})")
    summary.messages += 1
    if summary.first_event is None:
        summary.first_event = event
    summary.last_event = event


def _add(tracker: _Tracker, msg: RawMessage, frames: list[bytes]) -> None:
    s = tracker.summary
    s.messages += 1
    s.bytes += sum(len(f) for f in frames)
    if tracker.inspector is not None:
        tracker.inspector.add(msg.event_number, frames)
    else:
        s.frames += len(frames)
    if msg.created_at is not None:
        tracker.first = tracker.first or msg.created_at
        tracker.last = msg.created_at


def _finish(tracker: _Tracker, problems: Problems) -> StreamSummary:
    s, check = tracker.summary, tracker.inspector
    if check is not None:
        problems.extend(check.finish())
        s.frames, s.shape, s.type, s.compression = (
            check.frames,
            check.shape,
            check.type,
            check.compression,
        )
        s.details = check.details
    if tracker.first is not None and tracker.last is not None:
        s.created_at = [tracker.first.isoformat(), tracker.last.isoformat()]
    return s
