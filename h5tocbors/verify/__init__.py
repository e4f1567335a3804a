"""Proving captures exact against their HDF5 source: `images` decodes each STINS image and
compares it with its source frame by frame number; `streams` makes every message of any
protocol again, as `convert` plans it, and compares it with the capture's at the same event.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StreamCheck:
    """The outcome for one stream of one capture."""

    capture: str
    stream: str
    dataset: str
    frames: int
    """Images in the capture."""
    differing: int
    """Images that differ from their source frame, fail to decode, or repeat one."""
    missing: int
    """Source frames that no image of the capture carries."""
    first_difference: str | None
    unit: str = "frames"
    """What `frames` counts: images (STINS), or messages (every stream of a scan)."""
    made_from: str | None = None
    """The input the capture says it was made from, when that is another file."""
    unchecked: str | None = None
    """Why the stream was not checked at all, and the option that would check it."""

    def count(self, event: int, problem: str | None) -> None:
        """Count one message of the capture, at `event`, and what is wrong with it (None:
        nothing); the first problem is kept."""
        self.frames += 1
        if problem is not None:
            self.differing += 1
            if self.first_difference is None:
                self.first_difference = f"event {event}: {problem}"

    @property
    def ok(self) -> bool:
        return not self.unchecked and not self.differing and not self.missing and self.frames > 0
