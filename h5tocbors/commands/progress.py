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
from rich.table import Column
from rich.text import Text


class RateColumn(ProgressColumn):
    """Events per second and MB/s of a task whose `bytes` field counts bytes written."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        if elapsed <= 0:
            return Text("", style="progress.data.speed")
        events = task.completed / elapsed
        mbytes = task.fields.get("bytes", 0) / elapsed / 1e6
        return Text(f"{short(events)} ev/s {short(mbytes)} MB/s", style="progress.data.speed")


def short(value: float) -> str:
    """A rate in at most five characters: `950`, `12.3k`, `4.1M`.

    Example:
        >>> short(950.2), short(12345.0), short(4.1e6)
        ('950', '12.3k', '4.1M')
    """
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return (
                f"{value / scale:.1f}{unit}"
                if value < 100 * scale
                else f"{value / scale:.0f}{unit}"
            )
    return f"{value:.0f}"


def rich_bar(console: Console | None = None) -> Progress:
    """A transient progress bar on stderr, one line even on an 80-column terminal."""
    return Progress(
        TextColumn(
            "{task.description}",
            style="bold",
            markup=False,
            table_column=Column(max_width=14, no_wrap=True, overflow="ellipsis"),
        ),
        BarColumn(bar_width=10),
        MofNCompleteColumn(),
        RateColumn(table_column=Column(no_wrap=True)),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        transient=True,
    )
