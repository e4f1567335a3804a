"""What every stream's inspector checks: start first, end last, and a bounded list of problems."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import Problems
from .provenance import Origin


@dataclass
class MessageOrder:
    """The order of one stream's messages: `start` first, `end` last, each once.

    Example:
        >>> order = MessageOrder("contrast", start="started", end="finished")
        >>> order.add(0, "running"); order.add(1, "finished"); order.finish().report()
        ['contrast: first message (event 0) is running, not started']
    """

    name: str
    start: str
    end: str
    problems: Problems = field(default_factory=Problems)
    """The first problems, then only a count: a broken stream must not fill memory."""
    seen: int = 0
    ended_at: int | None = None
    _end_reported: bool = False

    def note(self, problem: str) -> None:
        """Record a problem of this stream."""
        self.problems.add(f"{self.name}: {problem}")

    def add(self, event: int, kind: str) -> None:
        """The next message, at `event`, is of `kind` (`start`, `end` or any other)."""
        self.seen += 1
        if self.ended_at is not None:
            self.note(
                f"{self.end} at event {self.ended_at} is not the last message "
                f"({kind} at event {event} follows)"
            )
            self.ended_at, self._end_reported = None, True
        if kind == self.start and self.seen != 1:
            self.note(f"{self.start} at event {event} is not the first message")
        elif kind != self.start and self.seen == 1:
            self.note(f"first message (event {event}) is {kind}, not {self.start}")
        if kind == self.end:
            self.ended_at = event

    def finish(self) -> Problems:
        """The problems found, once every message was added."""
        if self.ended_at is None and not self._end_reported:
            self.note(f"no {self.end} message")
        return self.problems


@dataclass
class StreamInspector:
    """What `registry.Inspector` asks of every inspector; `order` checks the message order.

    `frames` counts the stream's data messages; `shape`, `type` and `compression` describe
    its data where it has arrays; `origin` what the stream was made from, where its start
    message records it (`provenance`).
    """

    name: str
    frames: int = 0
    shape: list[int] | None = None
    type: str | None = None
    compression: str | None = None
    origin: Origin | None = None
    order: MessageOrder = field(init=False)

    def __post_init__(self) -> None:
        self.order = MessageOrder(self.name, *self.start_and_end())

    def start_and_end(self) -> tuple[str, str]:
        """The kinds of the stream's first and last message."""
        raise NotImplementedError

    @property
    def details(self) -> list[str]:
        """What a summary shows beyond counts, shape and type (meta names, keys, fields):
        here, what the stream was made from."""
        return [f"made from {self.origin}"] if self.origin is not None else []

    def start(self, header: dict[str, object]) -> None:
        """Take the stream's start message's JSON header: what it was made from."""
        self.origin = Origin.from_header(header)

    def finish(self) -> Problems:
        """The problems found, once every message was added."""
        return self.order.finish()
