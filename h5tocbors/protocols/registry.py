"""Which protocol module understands which stream `typ`."""

from __future__ import annotations

from typing import Protocol

from .contrast import TYP as CONTRAST_TYP
from .contrast import ContrastInspector, describe_contrast
from .pcap_raw import TYP as PCAP_RAW_TYP
from .pcap_raw import PcapRawInspector, describe_pcap_raw
from .stins import TYP as STINS_TYP
from .stins import StinsInspector, describe_stins
from .xspress import TYP as XSPRESS_TYP
from .xspress import XspressInspector, describe_xspress


class Inspector(Protocol):
    """Follows one stream of a known `typ` through a capture."""

    frames: int
    shape: list[int] | None
    type: str | None
    compression: str | None

    def add(self, event: int, frames: list[bytes]) -> None: ...

    def finish(self) -> list[str]: ...


def inspector_for(typ: str, name: str) -> Inspector | None:
    """An inspector for streams of `typ`, or None when the typ is not parsed (listed only)."""
    if typ == STINS_TYP:
        return StinsInspector(name)
    if typ == XSPRESS_TYP:
        return XspressInspector(name)
    if typ == CONTRAST_TYP:
        return ContrastInspector(name)
    if typ == PCAP_RAW_TYP:
        return PcapRawInspector(name)
    return None


def describe_frames(typ: str, frames: list[bytes]) -> str:
    """A short description of one message's frames: parsed for known typs, sizes for all.

    contrast's pickles are read by the strict loader (`protocols.pickles.loads`) only.
    """
    sizes = "[" + ", ".join(str(len(f)) for f in frames) + "] bytes"
    if typ == STINS_TYP:
        return f"{describe_stins(frames)} {sizes}"
    if typ == XSPRESS_TYP:
        return f"{describe_xspress(frames)} {sizes}"
    if typ == CONTRAST_TYP:
        return f"{describe_contrast(frames)} {sizes}"
    if typ == PCAP_RAW_TYP:
        return f"{describe_pcap_raw(frames)} {sizes}"
    return sizes
