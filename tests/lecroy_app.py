"""A dranspose worker for the LeCroy end-to-end test: every message through dranspose's own
`dranspose.middlewares.lecroy.parse`, described as JSON can hold it exactly.

`dranspose replay -w tests.lecroy_app:LecroyWorker -r tests.replay_app:RecordingReducer ...`
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from dranspose.data.lecroy import LecroyParsed
from dranspose.event import EventData, StreamData
from dranspose.middlewares.lecroy import parse


def describe(stream: StreamData) -> dict[str, Any]:
    """What `parse` gives for one LeCroy message: the packet, traces by digest and dtype."""
    packet = parse(stream)
    entry: dict[str, Any] = {"typ": stream.typ, "kind": type(packet).__name__}
    if isinstance(packet, LecroyParsed):
        entry.update(
            channels=packet.channels,
            seqno=packet.seqno,
            ntriggers=packet.ntriggers,
            meta=[m.model_dump() for m in packet.meta],
            data=[
                [a.dtype.str, list(a.shape), hashlib.sha256(np.ascontiguousarray(a)).hexdigest()]
                for a in packet.data
            ],
            timestamps=packet.timestamps,
            python_floats=all(type(t) is float for ts in packet.timestamps for t in ts),
        )
    else:
        entry["packet"] = packet.model_dump()
    return entry


class LecroyWorker:
    """Parses every LeCroy stream of every event."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def process_event(self, event: EventData, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {name: describe(stream) for name, stream in event.streams.items()}

    def finish(self, *args: Any, **kwargs: Any) -> None:
        pass
