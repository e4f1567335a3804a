"""An example dranspose reducer: collects the worker's summaries and prints them."""

from __future__ import annotations

from typing import Any

from dranspose.event import ResultData


class SummaryReducer:
    """Prints one line per image and a closing summary per stream."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.publish: dict[str, Any] = {}
        self.events: list[int] = []

    def process_result(self, result: ResultData, *args: Any, **kwargs: Any) -> None:
        self.events.append(result.event_number)
        for name, summary in result.payload.items():
            stream = self.publish.setdefault(name, {"frames": 0, "total": 0.0})
            if "frame" in summary:
                stream["frames"] += 1
                stream["total"] += summary["sum"]
                print(
                    f"event {result.event_number:4d} {name} frame {summary['frame']:4d} "
                    f"shape {summary['shape']} sum {summary['sum']:.0f}"
                )
            elif "end" in summary:
                stream["ended_at_event"] = result.event_number

    def finish(self, *args: Any, **kwargs: Any) -> None:
        for name, stream in self.publish.items():
            print(
                f"{name}: {stream['frames']} frames decoded, total counts {stream['total']:.0f}, "
                f"series_end at event {stream.get('ended_at_event')}, "
                f"events {min(self.events)}..{max(self.events)}"
            )
