"""Protocol writers: one module per dranspose stream protocol, as in `dranspose.data`.

A protocol writer turns a source into the frames of one stream's messages, in event
order: the i-th item it yields belongs to event i. The core (`h5tocbors.convert`) numbers
events, adds `created_at` and writes captures; it knows nothing of any one protocol.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..buffers import Buffer


@dataclass
class FrameCounters:
    """What a writer has produced so far: data frames, of which passed through unchanged."""

    frames: int = 0
    passthrough: int = 0


class MessageWriter(Protocol):
    """The frames of every message of one stream, message i for event i."""

    typ: str
    counters: FrameCounters

    def __len__(self) -> int:
        """Number of messages (events) this stream will have."""
        ...

    def __iter__(self) -> Iterator[Sequence[Buffer]]:
        """The zmq frames of each message, in event order."""
        ...
