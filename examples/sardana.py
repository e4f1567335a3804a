"""An example analysis of a Sardana scan: per point, the scanned motor's position and the image sum.

Run it over the captures of a Sardana NXscan file converted with `h5tocbors convert SCAN.h5
--scan`: `dranspose replay -w examples.sardana:PointWorker -r examples.sardana:PointReducer -f
out/*.cbors`. The `sardana` stream is parsed with `dranspose.middlewares.sardana.parse`, the
detectors with `stream1.parse`; the motor is read as MAX IV's workers read it,
`getattr(record, description.ref_moveables[0])`. A point's frames are summed over the events
up to its record (one for step and continuous scans, k for a burst scan's k frames per point).
"""

from __future__ import annotations

from typing import Any

from dranspose.data.sardana import (
    SardanaDataDescription,
    SardanaRecordData,
    SardanaRecordEnd,
)
from dranspose.event import EventData
from dranspose.middlewares import sardana

from .scan import ResultsByEvent, add_image_total


class PointWorker:
    """Per event: the scan's description, a point's motor position, the images' sums."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.description: SardanaDataDescription | None = None  # event 0 reaches every worker

    def process_event(self, event: EventData, *args: Any, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, stream in event.streams.items():
            if stream.typ == "sardana":
                packet = sardana.parse(stream)
                if isinstance(packet, SardanaDataDescription):
                    self.description = packet
                    result["scan"] = f"scan {packet.serialno}: {packet.title}"
                elif isinstance(packet, SardanaRecordData) and self.description is not None:
                    motor = self.description.ref_moveables[0]
                    result["point"] = (packet.point_nb, motor, getattr(packet, motor))
                elif isinstance(packet, SardanaRecordEnd):
                    result["end"] = getattr(packet, "endtime", "")
            elif stream.typ == "STINS":
                add_image_total(result, name, stream)
        return result

    def finish(self, *args: Any, **kwargs: Any) -> None:
        pass


class PointReducer(ResultsByEvent):
    """Prints one line per point in event order: motor position, frames and their image sums."""

    def finish(self, *args: Any, **kwargs: Any) -> None:
        sums: dict[str, float] = {}
        frames = points = 0
        for event, r in sorted(self.results.items()):
            if "scan" in r:
                print(f"event {event:3d} {r['scan']}")
            for name, total in r.get("images", {}).items():
                sums[name] = sums.get(name, 0.0) + total
            frames += bool(r.get("images"))
            if "point" in r:
                number, motor, position = r["point"]
                images = "".join(f", {k} sum {v:.0f}" for k, v in sums.items())
                where = f"event {event:3d} point {number} {motor} {position:+.4f}"
                print(f"{where}: {frames} frames{images}")
                sums, frames, points = {}, 0, points + 1
            if "end" in r:
                print(f"event {event:3d} scan ended {r['end']}")
        print(f"{points} points, events 0..{max(self.results)}")
