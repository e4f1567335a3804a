"""Which protocol module understands which stream `typ`, imported only when needed.

A protocol module plugs in with one line in `PROTOCOLS`: its `--stream NAME=PATH:PROTOCOL`
spelling, the `typ` it writes and its module. A conversion imports the modules of the
protocols it was asked for, not all of them; auto-detection (`modules()`) imports every one.
For `inspect` a module gives `inspector(name)`, which follows one stream through a capture
(an `Inspector`), and `describe(frames)`, one message's frames in a few words. Streams of
any other `typ` are listed by their frame sizes only. contrast's pickles are read by the
strict loader (`protocols.pickles.loads`) only.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, NamedTuple, cast

from . import Inspector, ProtocolModule

if TYPE_CHECKING:
    import h5py


class Protocol(NamedTuple):
    """One protocol: how `--stream` names it, the `typ` it writes, the module that writes it."""

    name: str
    typ: str
    module: str
    step_wise: bool = False
    """One message per scan step (its record sits on the step's last point), not per point."""
    listed: bool = False
    """`ls` names every group this protocol fits (beside image datasets and scan entries)."""


PROTOCOLS: tuple[Protocol, ...] = (
    Protocol("stins", "STINS", "stins"),
    Protocol("xspress", "xspress", "xspress", listed=True),
    Protocol("pcap-raw", "PCAP_RAW", "pcap_raw", listed=True),
    Protocol("contrast", "contrast", "contrast", step_wise=True),
    Protocol("sardana", "sardana", "sardana", step_wise=True),
    Protocol("albaem", "albaem", "albaem", listed=True),
    Protocol("pcap", "PCAP", "pcap", listed=True),
    Protocol("eiger-legacy", "EIGER_LEGACY", "eiger_legacy"),
    Protocol("lecroy", "lecroy_9fwdWp6Rq7", "lecroy", listed=True),
)
"""Every protocol, in the order auto-detection tries them."""
NAMES: tuple[str, ...] = tuple(p.name for p in PROTOCOLS)
"""The `--stream NAME=PATH:PROTOCOL` spellings."""
_BY_NAME = {p.name: p for p in PROTOCOLS}
_BY_TYP = {p.typ: p for p in PROTOCOLS}


def _load(protocol: Protocol) -> ProtocolModule:
    return cast(ProtocolModule, import_module(f"{__package__}.{protocol.module}"))


def by_name(name: str) -> ProtocolModule:
    """The module of the protocol spelled `name` (one of `NAMES`).

    Example:
        >>> by_name("pcap-raw").TYP
        'PCAP_RAW'
    """
    return _load(_BY_NAME[name])


def by_typ(typ: str) -> ProtocolModule | None:
    """The module that writes stream `typ`, or None for a typ h5tocbors does not parse."""
    protocol = _BY_TYP.get(typ)
    return _load(protocol) if protocol is not None else None


def step_wise(module: ProtocolModule) -> bool:
    """Whether `module` writes one message per scan step (contrast, sardana)."""
    return _BY_NAME[module.NAME].step_wise


def listed() -> list[ProtocolModule]:
    """The modules whose groups `ls` names, in the order auto-detection tries them."""
    return [_load(p) for p in PROTOCOLS if p.listed]


def unasked(module: ProtocolModule, obj: h5py.Group | h5py.Dataset) -> str | None:
    """Why auto-detection and `ls` do not take `obj` for `module` unasked, or None when they
    do: it must fit, and a module whose `fits` is broad (`pcap`: any group of 1-D datasets)
    narrows what it claims unasked with its own `unasked(group)`."""
    why = module.fits(obj)
    narrower = getattr(module, "unasked", None)
    if why is None and narrower is not None:
        found: str | None = narrower(obj)
        return found
    return why


def modules() -> list[ProtocolModule]:
    """Every protocol module, in the order auto-detection tries them."""
    return [_load(p) for p in PROTOCOLS]


def inspector_for(typ: str, name: str) -> Inspector | None:
    """An inspector for stream `name` of `typ`, or None when the typ is not parsed (listed only)."""
    module = by_typ(typ)
    return module.inspector(name) if module is not None else None


def describe_frames(typ: str, frames: list[bytes]) -> str:
    """A short description of one message's frames: parsed for known typs, sizes for all.

    Example:
        >>> describe_frames("STINS", [b'{"htype": "series_end", "msg_number": 2}'])
        'series_end msg_number=2 [40] bytes'
    """
    sizes = "[" + ", ".join(str(len(f)) for f in frames) + "] bytes"
    module = by_typ(typ)
    return f"{module.describe(frames)} {sizes}" if module is not None else sizes
