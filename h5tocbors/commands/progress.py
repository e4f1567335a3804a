"""The rich progress bar: events, frames/s and MB/s on stderr."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Frames per second and MB/s of a task whose `bytes` field counts bytes written."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        if elapsed <= 0:
            return Text("", style="progress.data.speed")
        frames = task.completed / elapsed
        mbytes = task.fields.get("bytes", 0) / elapsed / 1e6
        return Text(f"{frames:,.0f} frames/s {mbytes:,.1f} MB/s", style="progress.data.speed")


def rich_bar() -> Progress:
    """A transient progress bar on stderr."""
    return Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
