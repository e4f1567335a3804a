"""An example dranspose worker: decodes every STINS image and returns a small summary.

Run it over a converted capture with
`dranspose replay -w examples.worker:ImageSumWorker -r examples.reducer:SummaryReducer
-f out/pilatus.cbors`.
"""

from __future__ import annotations

import os

# bitshuffle splits each call over OpenMP threads that spin while they wait for work. A
# worker decodes one image per event, so those threads mostly wait, and on a node where
# anything else runs they take the CPU from it (and from each other): a replay of 10,000
# small frames took 54 s instead of 1 s. One OpenMP thread per call avoids that. It must be
# set before bitshuffle loads its OpenMP runtime: here, before the import below, or in the
# environment that starts the worker (`OMP_NUM_THREADS=1 dranspose replay ...`), which also
# covers a bitshuffle that another module imported first.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from typing import Any

import numpy as np
from bitshuffle import decompress_lz4
from dranspose.data.stream1 import Stream1Data, Stream1End, Stream1Start
from dranspose.event import EventData
from dranspose.middlewares.stream1 import parse


def decode_image(packet: Stream1Data, frames: list[Any]) -> np.ndarray:
    """The image of a STINS data message, decompressed if it is bitshuffle-LZ4."""
    if packet.compression == "none":
        return np.asarray(packet.data)
    raw = frames[1]
    buf = raw.bytes if hasattr(raw, "bytes") else raw
    return decompress_lz4(np.frombuffer(buf, np.uint8), packet.shape, np.dtype(packet.type))


class ImageSumWorker:
    """Sums the counts of each image of every STINS stream in the event."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def process_event(self, event: EventData, *args: Any, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, stream in event.streams.items():
            if stream.typ != "STINS":
                continue
            packet = parse(stream)
            if isinstance(packet, Stream1Start):
                result[name] = {"start": packet.filename}
            elif isinstance(packet, Stream1End):
                result[name] = {"end": packet.msg_number}
            elif isinstance(packet, Stream1Data):
                image = decode_image(packet, stream.frames)
                gaps = image == np.iinfo(image.dtype).max if image.dtype.kind == "u" else False
                valid = image[~gaps] if image.dtype.kind == "u" else image
                result[name] = {
                    "frame": packet.frame,
                    "shape": list(image.shape),
                    "sum": float(valid.sum()),
                }
        return result

    def finish(self, *args: Any, **kwargs: Any) -> None:
        pass
