"""An example fluorescence analysis over a whole scan: contrast, xspress3, PandA and a detector.

Run it over the captures of a scan converted with `h5tocbors convert SCAN.h5 --scan`:
`dranspose replay -w examples.scan:FluorescenceWorker -r examples.scan:FluorescenceReducer
-f out/*.cbors`. Every stream is parsed with dranspose's own parsers; per scan point the
worker returns the sample position (PandA encoders), the spectrum's total counts and
dead-time correction (xspress3) and the detector image's total; per line, contrast's values.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
from bitshuffle import decompress_lz4
from dranspose.data.contrast import ContrastFinished, ContrastRunning, ContrastStarted
from dranspose.data.positioncap import PositionCapValues
from dranspose.data.stream1 import Stream1Data
from dranspose.data.xspress3 import XspressImage
from dranspose.event import EventData, ResultData, StreamData
from dranspose.middlewares import contrast, stream1, xspress
from dranspose.middlewares.positioncap import PositioncapParser


def image_total(stream: StreamData) -> float | None:
    """The total counts of a STINS image, or None for start and end messages."""
    packet = stream1.parse(stream)
    if not isinstance(packet, Stream1Data):
        return None
    raw = stream.frames[1]
    buf = raw.bytes if hasattr(raw, "bytes") else raw
    image = decompress_lz4(np.frombuffer(buf, np.uint8), packet.shape, np.dtype(packet.type))
    valid = image[image != np.iinfo(image.dtype).max] if image.dtype.kind == "u" else image
    return float(valid.sum())


def add_image_total(result: dict[str, Any], name: str, stream: StreamData) -> None:
    """Put a STINS image's total into `result["images"][name]` (start and end add nothing)."""
    total = image_total(stream)
    if total is not None:
        result.setdefault("images", {})[name] = total


class FluorescenceWorker:
    """Per point: position, spectrum counts and dead-time correction, image total."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.panda = PositioncapParser()  # stateful: it learns the fields from the header

    def process_event(self, event: EventData, *args: Any, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, stream in event.streams.items():
            if stream.typ == "contrast":
                packet = contrast.parse(stream)
                if isinstance(packet, ContrastStarted | ContrastFinished):
                    result["scan"] = f"{packet.status} scan {packet.scannr}: {packet.description}"
                elif isinstance(packet, ContrastRunning):
                    values = packet.model_dump()
                    result["line"] = {"sy": values.get("sy"), "dt": packet.dt}
            elif stream.typ == "xspress":
                with contextlib.redirect_stdout(io.StringIO()):  # dranspose 0.2.0 prints each
                    packet = xspress.parse(stream)
                if isinstance(packet, XspressImage):
                    result["counts"] = int(packet.data.sum())
                    result["dtc"] = float(np.mean(packet.meta["dtc"]))
            elif stream.typ == "PCAP_RAW":
                packet = self.panda.parse(stream)
                if isinstance(packet, PositionCapValues):
                    fields = packet.fields
                    result["x"] = fields["INENC2.VAL.Mean"].value
                    result["y"] = fields["INENC3.VAL.Mean"].value
            elif stream.typ == "STINS":
                add_image_total(result, name, stream)
        return result

    def finish(self, *args: Any, **kwargs: Any) -> None:
        pass


class ResultsByEvent:
    """A reducer that keeps every worker's result by event number, for `finish` to print."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.publish: dict[str, Any] = {}
        self.results: dict[int, dict[str, Any]] = {}

    def process_result(self, result: ResultData, *args: Any, **kwargs: Any) -> None:
        self.results[result.event_number] = result.payload


class FluorescenceReducer(ResultsByEvent):
    """Prints one line per point in event order, the lines' contrast values, and a summary."""

    def finish(self, *args: Any, **kwargs: Any) -> None:
        points = 0
        for event, r in sorted(self.results.items()):
            if "scan" in r:
                print(f"event {event:3d} {r['scan']}")
            if "counts" in r:
                points += 1
                images = "".join(f", {k} {v:.0f}" for k, v in r.get("images", {}).items())
                print(
                    f"event {event:3d} x {r['x']:+.4f} y {r['y']:+.4f} "
                    f"xspress3 {r['counts']} counts (dtc {r['dtc']:.4f}){images}"
                )
            if "line" in r:
                line = r["line"]
                print(
                    f"event {event:3d} contrast: line done, sy {line['sy']}, dt {line['dt']:.2f} s"
                )
        print(f"{points} points with position, spectrum and image, events 0..{max(self.results)}")
