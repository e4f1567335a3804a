"""A dranspose worker and reducer for the end-to-end tests: record what a replay delivers.

`dranspose replay -w tests.replay_app:RecordingWorker -r tests.replay_app:RecordingReducer`
parses every message it is given with dranspose's own parsers (STINS images decoded,
xspress spectra and meta, contrast values, PandA fields over TCP and zmq, sardana records,
AlbaEM packets, legacy Eiger images)
and writes, at the end, one JSON file (the path in the environment variable
`H5TOCBORS_RECORD`) of the form
`{"events": {event_number: {stream: entry}}, "deliveries": [event_number, ...]}`.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np
from bitshuffle import decompress_lz4
from dranspose.data.albaem import AlbaemPacket
from dranspose.data.contrast import ContrastRunning
from dranspose.data.eiger_legacy import EigerLegacyHeader, EigerLegacyImage
from dranspose.data.positioncap import PositionCapEnd, PositionCapStart, PositionCapValues
from dranspose.data.stream1 import Stream1Data, Stream1Start
from dranspose.data.xspress3 import XspressImage, XspressStart
from dranspose.event import EventData, ResultData, StreamData
from dranspose.middlewares import contrast, eiger_legacy, pcap, sardana, xspress
from dranspose.middlewares.positioncap import PositioncapParser
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


def plain(value: Any) -> Any:
    """A parsed value as JSON can hold it exactly (arrays as lists with their dtype)."""
    if isinstance(value, np.ndarray):
        return {"dtype": value.dtype.str, "values": value.tolist()}
    if isinstance(value, dict):
        return {"keys": list(value), "items": {str(k): plain(v) for k, v in value.items()}}
    if isinstance(value, np.generic):
        return value.item()
    return value


def describe_xspress(stream: StreamData) -> dict[str, Any]:
    """An xspress message as `dranspose.middlewares.xspress.parse` gives it."""
    packet = xspress.parse(stream)
    entry: dict[str, Any] = {"typ": stream.typ, "htype": packet.htype, "parts": stream.length}
    if isinstance(packet, XspressStart):
        entry["filename"] = packet.filename
    elif isinstance(packet, XspressImage):
        data = np.ascontiguousarray(packet.data)
        entry.update(
            frame=packet.frame,
            shape=list(data.shape),
            type=packet.type,
            exptime=packet.exptime,
            sha256=hashlib.sha256(data.tobytes()).hexdigest(),
            meta=plain(packet.meta),
        )
    return entry


def describe_pcap(stream: StreamData, parser: PositioncapParser) -> dict[str, Any]:
    """A PandA position-capture message as the stateful `PositioncapParser` gives it."""
    packet = parser.parse(stream)
    entry: dict[str, Any] = {"typ": stream.typ}
    if isinstance(packet, PositionCapStart):
        entry.update(htype="start", arm_time=packet.arm_time.isoformat())
    elif isinstance(packet, PositionCapValues):
        entry.update(htype="values", fields={k: f.value for k, f in packet.fields.items()})
    elif isinstance(packet, PositionCapEnd):
        entry["htype"] = "end"
    return entry


def describe_eiger_legacy(stream: StreamData) -> dict[str, Any]:
    """A legacy Eiger message as `dranspose.middlewares.eiger_legacy.parse` gives it, the
    image's blob (12-byte bitshuffle header, then LZ4 blocks) decoded."""
    packet: Any = eiger_legacy.parse(stream)
    entry: dict[str, Any] = {"typ": stream.typ, "htype": packet.htype, "parts": stream.length}
    if isinstance(packet, EigerLegacyHeader):
        entry["info"] = packet.info
    elif isinstance(packet, EigerLegacyImage):
        data = packet.data
        buf = frame_bytes(data["buffer"])
        shape = tuple(data["shape"][::-1])
        image = decompress_lz4(np.frombuffer(buf, np.uint8)[12:], shape, np.dtype(data["type"]))
        entry.update(
            frame=packet.frame,
            series=packet.series,
            hash=packet.hash,
            md5=hashlib.md5(buf).hexdigest(),
            encoding=data["encoding"],
            shape=list(image.shape),
            sha256=hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest(),
            config=packet.config,
        )
    return entry


def describe(stream: StreamData, panda: PositioncapParser | None = None) -> dict[str, Any]:
    """What one stream of an event carried, as dranspose's parsers give it."""
    if stream.typ == "xspress":
        return describe_xspress(stream)
    if stream.typ == "contrast":
        packet = contrast.parse(stream)
        values = packet.model_dump()
        entry = {"typ": stream.typ, "status": packet.status, "values": plain(values)}
        if isinstance(packet, ContrastRunning):
            entry["dt"] = packet.dt
        return entry
    if stream.typ == "PCAP_RAW":
        return describe_pcap(stream, panda or PositioncapParser())
    if stream.typ == "albaem":  # no middleware: workers validate the one JSON frame
        packet = AlbaemPacket.validate_json(frame_bytes(stream.frames[0]))
        return {"typ": stream.typ, "parts": stream.length, "values": packet.model_dump()}
    if stream.typ == "PCAP":
        packet = pcap.parse(stream)
        return {"typ": stream.typ, "values": packet.model_dump(mode="json")}
    if stream.typ == "sardana":
        record = sardana.parse(stream)
        return {"typ": stream.typ, "type": record.type, "values": record.model_dump()}
    if stream.typ == "EIGER_LEGACY":
        return describe_eiger_legacy(stream)
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
    """Parses every stream of every event and returns a description per stream."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.panda: dict[str, PositioncapParser] = {}  # one stateful parser per stream

    def process_event(self, event: EventData, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {
            name: describe(stream, self.panda.setdefault(name, PositioncapParser()))
            for name, stream in event.streams.items()
        }

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
