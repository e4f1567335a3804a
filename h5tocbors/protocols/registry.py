"""Which protocol module understands which stream `typ`.

A protocol module plugs in with one entry in `MODULES`; for `inspect` it gives
`inspector(name)`, which follows one stream through a capture (an `Inspector`), and
`describe(frames)`, one message's frames in a few words. Streams of any other `typ` are
listed by their frame sizes only. contrast's pickles are read by the strict loader
(`protocols.pickles.loads`) only.
"""

from __future__ import annotations

from . import Inspector, ProtocolModule, contrast, pcap_raw, sardana, stins, xspress

MODULES: tuple[ProtocolModule, ...] = (stins, xspress, pcap_raw, contrast, sardana)
"""The protocol modules, in the order auto-detection tries them."""
BY_NAME: dict[str, ProtocolModule] = {m.NAME: m for m in MODULES}
"""Protocol modules by their `--stream NAME=PATH:PROTOCOL` spelling."""
BY_TYP: dict[str, ProtocolModule] = {m.TYP: m for m in MODULES}
"""Protocol modules by the stream `typ` they write."""


def inspector_for(typ: str, name: str) -> Inspector | None:
    """An inspector for stream `name` of `typ`, or None when the typ is not parsed (listed only)."""
    module = BY_TYP.get(typ)
    return module.inspector(name) if module is not None else None


def describe_frames(typ: str, frames: list[bytes]) -> str:
    """A short description of one message's frames: parsed for known typs, sizes for all.

    Example:
        >>> describe_frames("STINS", [b'{"htype": "series_end", "msg_number": 2}'])
        'series_end msg_number=2 [40] bytes'
    """
    sizes = "[" + ", ".join(str(len(f)) for f in frames) + "] bytes"
    module = BY_TYP.get(typ)
    return f"{module.describe(frames)} {sizes}" if module is not None else sizes
