"""What every stream's inspector checks: start first, end last, and a bounded list of problems."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_PROBLEMS = 20
"""Problems kept per stream; a broken stream of a million messages must not fill memory."""


@dataclass
class MessageOrder:
    """The order of one stream's messages: `start` first, `end` last, each once.

    Example:
        >>> order = MessageOrder("contrast", start="started", end="finished")
        >>> order.add(0, "running"); order.add(1, "finished"); order.finish()
        ['contrast: first message (event 0) is running, not started']
    """

    name: str
    start: str
    end: str
    problems: list[str] = field(default_factory=list)
    seen: int = 0
    dropped: int = 0
    ended_at: int | None = None
    _end_reported: bool = False

    def note(self, problem: str) -> None:
        """Record a problem of this stream (the first `MAX_PROBLEMS`, then only a count)."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{self.name}: {problem}")
        else:
            self.dropped += 1

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

    def finish(self) -> list[str]:
        """The problems found, once every message was added."""
        if self.ended_at is None and not self._end_reported:
            self.note(f"no {self.end} message")
        if self.dropped:
            self.problems.append(f"{self.name}: ... and {self.dropped} more problems")
            self.dropped = 0
        return self.problems


@dataclass
class StreamInspector:
    """What `registry.Inspector` asks of every inspector; `order` checks the message order.

    `frames` counts the stream's data messages; `shape`, `type` and `compression` describe
    its data where it has arrays.
    """

    name: str
    frames: int = 0
    shape: list[int] | None = None
    type: str | None = None
    compression: str | None = None
    order: MessageOrder = field(init=False)

    def __post_init__(self) -> None:
        self.order = MessageOrder(self.name, *self.start_and_end())

    def start_and_end(self) -> tuple[str, str]:
        """The kinds of the stream's first and last message."""
        raise NotImplementedError

    def finish(self) -> list[str]:
        """The problems found, once every message was added."""
        return self.order.finish()
