"""Which protocol module understands which stream `typ`."""

from __future__ import annotations

from typing import Protocol

from .stins import TYP as STINS_TYP
from .stins import StinsInspector, describe_stins


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
    return None


def describe_frames(typ: str, frames: list[bytes]) -> str:
    """A short description of one message's frames: parsed for known typs, sizes for all.

    Payloads are never unpickled: contrast and xspress frames are pickles.
    """
    sizes = "[" + ", ".join(str(len(f)) for f in frames) + "] bytes"
    if typ == STINS_TYP:
        return f"{describe_stins(frames)} {sizes}"
    return sizes
