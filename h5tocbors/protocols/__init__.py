"""Protocol writers: one module per dranspose stream protocol, as in `dranspose.data`.

A protocol writer turns a source in the HDF5 file into the frames of one stream's
messages, in order: a start message, the data messages, an end message. It knows nothing
of events: the core (`h5tocbors.core.events`) places each message on an event by the
stream's cadence (one data message per scan point, or one per scan step), adds
`created_at` and writes captures. Each module holds its writer and its inspector side by
side, the way `dranspose.data.stream1` and `dranspose.middlewares.stream1` pair up.
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


@dataclass(frozen=True)
class Steps:
    """How a scan's points group into steps: step j covers points `ends[j-1]` to `ends[j]`.

    A step scan has one point per step; a fly scan of 11 lines of 101 points has 11 steps.

    Example:
        >>> steps = Steps.even(points=6, steps=2)
        >>> steps.ends, steps.points, steps.covering(1)
        ((3, 6), 6, range(3, 6))
    """

    ends: tuple[int, ...]

    @classmethod
    def even(cls, points: int, steps: int) -> Steps:
        """`steps` steps of `points // steps` points each (`points` must be a multiple)."""
        size = points // steps
        return cls(tuple(size * (j + 1) for j in range(steps)))

    @property
    def points(self) -> int:
        """The number of points of the scan."""
        return self.ends[-1] if self.ends else 0

    def __len__(self) -> int:
        return len(self.ends)

    def covering(self, j: int) -> range:
        """The points of step j."""
        return range(self.ends[j - 1] if j else 0, self.ends[j])


class MessageWriter(Protocol):
    """The frames of every message of one stream, start and end included, in order."""

    typ: str
    counters: FrameCounters

    @property
    def source(self) -> str:
        """The HDF5 path the stream is made from, for summaries."""
        ...

    @property
    def fast_path(self) -> str:
        """`passthrough` when stored payloads were copied, else why not (`""`: no payloads)."""
        ...

    def __len__(self) -> int:
        """Number of messages this stream will have, start and end included."""
        ...

    def __iter__(self) -> Iterator[Sequence[Buffer]]:
        """The zmq frames of each message, in order."""
        ...
