"""Which protocol module understands which stream `typ`.

A protocol module plugs in with one entry in `KNOWN`: a class that follows one stream
through a capture (an `Inspector`, made from the stream's name) and a function that
describes one message's frames in a few words. Streams of any other `typ` are listed by
their frame sizes only. contrast's pickles are read by the strict loader
(`protocols.pickles.loads`) only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from . import contrast, pcap_raw, stins, xspress


class Inspector(Protocol):
    """Follows one stream of a known `typ` through a capture."""

    frames: int
    shape: list[int] | None
    type: str | None
    compression: str | None

    def add(self, event: int, frames: list[bytes]) -> None: ...

    def finish(self) -> list[str]: ...


@dataclass(frozen=True)
class Known:
    """What h5tocbors can tell about streams of one `typ`."""

    inspector: Callable[[str], Inspector]
    describe: Callable[[list[bytes]], str]


KNOWN: dict[str, Known] = {
    stins.TYP: Known(stins.StinsInspector, stins.describe_stins),
    xspress.TYP: Known(xspress.XspressInspector, xspress.describe_xspress),
    contrast.TYP: Known(contrast.ContrastInspector, contrast.describe_contrast),
    pcap_raw.TYP: Known(pcap_raw.PcapRawInspector, pcap_raw.describe_pcap_raw),
}


def inspector_for(typ: str, name: str) -> Inspector | None:
    """An inspector for stream `name` of `typ`, or None when the typ is not parsed (listed only)."""
    known = KNOWN.get(typ)
    return known.inspector(name) if known is not None else None


def describe_frames(typ: str, frames: list[bytes]) -> str:
    """A short description of one message's frames: parsed for known typs, sizes for all.

    Example:
        >>> describe_frames("STINS", [b'{"htype": "series_end", "msg_number": 2}'])
        'series_end msg_number=2 [40] bytes'
    """
    sizes = "[" + ", ".join(str(len(f)) for f in frames) + "] bytes"
    known = KNOWN.get(typ)
    return f"{known.describe(frames)} {sizes}" if known is not None else sizes
