"""A dranspose worker and reducer for the end-to-end tests: record what a replay delivers.

`dranspose replay -w tests.replay_app:RecordingWorker -r tests.replay_app:RecordingReducer`
decodes every STINS message it is given and writes, at the end, one JSON file (the path in
the environment variable `H5TOCBORS_RECORD`) of the form
`{"events": {event_number: {stream: entry}}, "deliveries": [event_number, ...]}`.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np
from bitshuffle import decompress_lz4
from dranspose.data.stream1 import Stream1Data, Stream1Start
from dranspose.event import EventData, ResultData, StreamData
from dranspose.middlewares.stream1 import parse

RECORD_ENV = "H5TOCBORS_RECORD"


def frame_bytes(frame: Any) -> bytes:
    """The bytes of a zmq frame or of a frame read from a capture."""
    return bytes(frame.bytes) if hasattr(frame, "bytes") else bytes(frame)


def decode_image(packet: Stream1Data, buf: bytes) -> np.ndarray:
    """The image of a STINS data message, as a worker decodes it."""
    dtype = np.dtype(packet.type)
    if packet.compression == "bslz4":
        image: np.ndarray = decompress_lz4(np.frombuffer(buf, np.uint8), tuple(packet.shape), dtype)
        return image
    if packet.compression == "none":
        return np.frombuffer(buf, dtype).reshape(packet.shape)
    raise ValueError(f"unknown compression {packet.compression!r}")


def describe(stream: StreamData) -> dict[str, Any]:
    """What one stream of an event carried: its header fields and the decoded image's digest."""
    if stream.typ != "STINS":
        return {"typ": stream.typ}
    packet = parse(stream)
    entry: dict[str, Any] = {
        "typ": stream.typ,
        "htype": packet.htype,
        "msg_number": packet.msg_number,
        "parts": stream.length,
    }
    if isinstance(packet, Stream1Start):
        entry["filename"] = packet.filename
    elif isinstance(packet, Stream1Data):
        image = decode_image(packet, frame_bytes(stream.frames[1]))
        entry.update(
            frame=packet.frame,
            type=packet.type,
            compression=packet.compression,
            header_shape=list(packet.shape),
            shape=list(image.shape),
            dtype=image.dtype.str,
            sha256=hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest(),
        )
    return entry


class RecordingWorker:
    """Decodes every stream of every event and returns a description per stream."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def process_event(self, event: EventData, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {name: describe(stream) for name, stream in event.streams.items()}

    def finish(self, *args: Any, **kwargs: Any) -> None:
        pass


class RecordingReducer:
    """Collects the worker results by event number and writes them as JSON in `finish`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.publish: dict[str, Any] = {}
        self.events: dict[int, Any] = {}
        self.deliveries: list[int] = []

    def process_result(self, result: ResultData, *args: Any, **kwargs: Any) -> None:
        self.deliveries.append(result.event_number)
        self.events[result.event_number] = result.payload

    def finish(self, *args: Any, **kwargs: Any) -> None:
        record = {
            "events": {str(k): v for k, v in sorted(self.events.items())},
            "deliveries": self.deliveries,
        }
        with open(os.environ[RECORD_ENV], "w") as fh:
            json.dump(record, fh)
