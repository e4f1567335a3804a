"""STINS (stream1) messages: a header, one image message per frame, a series end.

Mirrors `dranspose.data.stream1`: event 0 carries `Stream1Start`, event k = 1..N carries
`Stream1Data` for frame k-1 followed by its payload, event N+1 carries `Stream1End`.
`msg_number` equals the event number.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from dranspose.data.stream1 import Stream1Data, Stream1End, Stream1Start

from ..capture import Buffer
from ..encoding import FrameEncoder
from . import FrameCounters

TYP = "STINS"


@dataclass
class StinsWriter:
    """The STINS messages of one image series.

    Example:
        >>> enc = FrameEncoder(FrameSeries.of(f["/entry/data"]), "bslz4")  # doctest: +SKIP
        >>> [len(m) for m in StinsWriter(enc)]  # header, 2 images, end  # doctest: +SKIP
        [1, 2, 2, 1]
    """

    encoder: FrameEncoder
    filename: str = ""
    typ: str = TYP
    counters: FrameCounters = field(default_factory=FrameCounters)

    def __len__(self) -> int:
        return len(self.encoder.series) + 2

    def __iter__(self) -> Iterator[Sequence[Buffer]]:
        series = self.encoder.series
        yield [Stream1Start(msg_number=0, filename=self.filename).model_dump_json().encode()]
        shape = list(series.frame_shape)
        dtype = series.dtype.name
        for k in range(len(series)):
            payload = self.encoder.encode(k)
            header = Stream1Data(
                msg_number=k + 1,
                frame=k,
                shape=shape,
                type=dtype,
                compression=self.encoder.compression,
            ).model_dump_json()
            self.counters.frames += 1
            self.counters.passthrough += payload.passthrough
            yield [header.encode(), payload.data]
        yield [Stream1End(msg_number=len(series) + 1).model_dump_json().encode()]
