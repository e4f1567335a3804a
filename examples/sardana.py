"""An example analysis of a Sardana scan: per point, the scanned motor's position and the
detector image's sum.

Run it over the captures of a scan converted with `h5tocbors convert SCANS.h5 --scan
--entry entryN`: `dranspose replay -w examples.sardana:SardanaWorker -r
examples.sardana:SardanaReducer -f out/*.cbors`. The worker reads the `sardana` stream with
`dranspose.middlewares.sardana.parse`, as MAX IV's Balder, DanMAX and FemtoMAX analyses do
(`getattr(record, description.ref_moveables[0])`), and the images with `stream1.parse`.
"""

from __future__ import annotations

from typing import Any

from dranspose.data.sardana import SardanaDataDescription, SardanaRecordData, SardanaRecordEnd
from dranspose.event import EventData, ResultData
from dranspose.middlewares import sardana

from .scan import image_total


class SardanaWorker:
    """Per event: the scan's description, a point's motor position, an image's sum."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.motor: str | None = None  # event 0 goes to every worker: each learns it

    def process_event(self, event: EventData, *args: Any, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, stream in event.streams.items():
            if stream.typ == "sardana":
                packet = sardana.parse(stream)
                if isinstance(packet, SardanaDataDescription):
                    self.motor = packet.ref_moveables[0] if packet.ref_moveables else None
                    result["scan"] = f"scan {packet.serialno}: {packet.title}"
                elif isinstance(packet, SardanaRecordData):
                    result["point"] = packet.point_nb
                    if self.motor is not None:
                        result["position"] = (self.motor, getattr(packet, self.motor))
                elif isinstance(packet, SardanaRecordEnd):
                    result["end"] = getattr(packet, "endtime", "")
            elif stream.typ == "STINS":
                total = image_total(stream)
                if total is not None:
                    result["image"] = (name, total)
        return result

    def finish(self, *args: Any, **kwargs: Any) -> None:
        pass


class SardanaReducer:
    """Prints each event's line and, at the end, how many points had a position and an image."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.publish: dict[str, Any] = {}
        self.lines: dict[int, str] = {}
        self.points = 0

    def process_result(self, result: ResultData, *args: Any, **kwargs: Any) -> None:
        r = result.payload
        parts = []
        if "scan" in r:
            parts.append(r["scan"])
        if "position" in r:
            motor, position = r["position"]
            parts.append(f"point {r['point']} {motor} {position:+.4f}")
        if "image" in r:
            parts.append(f"{r['image'][0]} sum {r['image'][1]:.0f}")
            self.points += "position" in r
        if "end" in r:
            parts.append(f"end {r['end']}")
        self.lines[result.event_number] = ", ".join(parts)

    def finish(self, *args: Any, **kwargs: Any) -> None:
        for event in sorted(self.lines):
            print(f"event {event:3d} {self.lines[event]}")
        print(f"{self.points} points with position and image")
