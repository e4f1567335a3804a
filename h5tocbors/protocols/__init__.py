"""Protocol writers: one module per dranspose stream protocol, as in `dranspose.data`.

A protocol writer turns a source in the HDF5 file into the frames of one stream's
messages, in order: a start message, the data messages, an end message. It knows nothing
of events: the core (`h5tocbors.core.events`) places each message on an event by the
stream's cadence (one data message per scan point, or one per scan step), adds
`created_at` and writes captures. Each module holds its writer and its inspector side by
side, the way `dranspose.data.stream1` and `dranspose.middlewares.stream1` pair up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..buffers import Buffer
from ..payloads import Compression

if TYPE_CHECKING:
    import h5py

    from ..hdf5.frames import FrameSeries
    from ..payloads.encoding import FrameEncoder
    from .values import Comparer

MAX_STEPS = 1 << 20
"""Steps a scan may have: each is planned ahead (its points, its event) before any is
written, so a master or config that declares 10**12 of them is refused, not run out of
memory on."""


@dataclass
class FrameCounters:
    """What a writer has produced so far: data frames, of which passed through unchanged."""

    frames: int = 0
    passthrough: int = 0


@dataclass(kw_only=True)
class Writer:
    """What every protocol writer keeps: the HDF5 path its stream is made from (`source`,
    for summaries) and its counters. Writers whose messages are made, not stored payloads
    passed through, keep the empty `fast_path`.
    """

    source: str
    counters: FrameCounters = field(default_factory=FrameCounters)

    @property
    def fast_path(self) -> str:
        """`passthrough` when stored payloads were copied, else why not (`""`: no payloads)."""
        return ""

    @property
    def hint(self) -> str:
        """Advice on how the stream was cut (tiny frames: a better `--axes`), else ""."""
        return ""


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

    @property
    def hint(self) -> str:
        """Advice on how the stream was cut (tiny frames: a better `--axes`), else ""."""
        ...

    def __len__(self) -> int:
        """Number of messages this stream will have, start and end included."""
        ...

    def __iter__(self) -> Iterator[Sequence[Buffer]]:
        """The zmq frames of each message, in order."""
        ...


@dataclass(frozen=True)
class StepSpan:
    """One scan step as a step-wise stream writes it: its index in the file, and the points
    (indices into the file's per-point data) that it covers within the selection."""

    index: int
    points: range


EncoderFactory = Callable[["FrameSeries", Compression], "FrameEncoder"]


@dataclass(frozen=True)
class StreamContext:
    """What a protocol writer is told besides its HDF5 source.

    `points` selects the data messages of a point-wise stream (a slice over its frames or
    rows, as `--frames`); `steps` are the steps a step-wise stream writes; `encoder` makes a
    `FrameEncoder` for a frame series, bound to the input's file, mapping and threads;
    `axes` cuts an image dataset into frames (`--axes`, see `hdf5.layout`; None: as its
    shape and NeXus hints say). `input` is the input file a start message records as the
    stream's origin ("": none), `path` the stream's source in it as asked for or found (a
    DECTRIS master's `/entry/data`, where the writer's object is a group or a dataset in a
    linked file). `keys` maps a scan's channel names (datasets) to the keys its records
    are written with (a Sardana scan's; identity for names not in it).
    """

    encoder: EncoderFactory
    points: slice | None = None
    compression: Compression = "bslz4"
    filename: str = ""
    steps: Sequence[StepSpan] = field(default_factory=tuple)
    axes: str | None = None
    input: str = ""
    path: str = ""
    keys: Mapping[str, str] = field(default_factory=dict)
    parts: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """The HDF5 paths a `--config` gives for a stream's parts, by part (a Sardana scan's
    title, motors, channels: see `sardana_layout`); empty: as the stream's source says."""


@dataclass
class Problems:
    """What an inspector found wrong: the first `limit` problems kept, the rest only counted,
    so that a hostile capture with a problem in every message cannot fill the memory.

    Example:
        >>> p = Problems(limit=1)
        >>> p.add("a"); p.add("b"); p.add("c")
        >>> p.report()
        ['a', '... and 2 more problem(s)']
    """

    limit: int = 50
    kept: list[str] = field(default_factory=list)
    dropped: int = 0

    def add(self, problem: str) -> None:
        """Note one problem."""
        if len(self.kept) < self.limit:
            self.kept.append(problem)
        else:
            self.dropped += 1

    def extend(self, other: Problems) -> None:
        """Note `other`'s problems too: those it kept as they come, those it dropped counted."""
        for problem in other.kept:
            self.add(problem)
        self.dropped += other.dropped

    @property
    def total(self) -> int:
        """How many problems were noted, kept or not."""
        return len(self.kept) + self.dropped

    def report(self) -> list[str]:
        """The problems kept, and how many more there were."""
        more = [f"... and {self.dropped} more problem(s)"] if self.dropped else []
        return self.kept + more


class Inspector(Protocol):
    """Follows one stream of a known `typ` through a capture (`inspect`)."""

    frames: int
    shape: list[int] | None
    type: str | None
    compression: str | None

    @property
    def details(self) -> list[str]: ...

    def add(self, event: int, frames: list[bytes]) -> None: ...

    def finish(self) -> Problems: ...


class ProtocolModule(Protocol):
    """What each protocol module (`stins`, `xspress`, `contrast`, `pcap_raw`) provides."""

    @property
    def TYP(self) -> str:
        """The stream `typ` dranspose's parser asserts."""
        ...

    @property
    def NAME(self) -> str:
        """The protocol's spelling in `--stream NAME=PATH:PROTOCOL`."""
        ...

    def fits(self, obj: h5py.Group | h5py.Dataset) -> str | None:
        """None when `obj` is a source of this protocol, else why it is not."""
        ...

    def open_writer(self, obj: h5py.Group | h5py.Dataset, ctx: StreamContext) -> MessageWriter:
        """The writer of the stream made from `obj`."""
        ...

    def comparer(self) -> Comparer:
        """Compares a capture's messages with those the writer makes again (for `verify`)."""
        ...

    def inspector(self, name: str) -> Inspector:
        """Follows stream `name` through a capture (for `inspect`)."""
        ...

    def describe(self, frames: list[bytes]) -> str:
        """One message's frames in a few words (for `inspect --events`)."""
        ...
