"""What the process is reading, and that it is not stuck, kept where its parent can see.

A crash in a C library (HDF5 on metadata it does not check) ends the process before any
Python code can say which file did it, and a loop in one (HDF5 on a corrupt global heap)
never returns to Python at all. `commands.isolate` runs each command in a child process
and shares a page with it (`share`): the HDF5 side notes each file and object it opens,
the capture reader each message it reads, the pickle loader that it loads one of them (`note`,
`unpickling`, each saying what kind of thing it reads), a thread of the child counts its
heartbeats (`beat`, `beats`), and the parent reads the last note (`last`) when the child dies
or stops beating.

Example:
    >>> page = mmap.mmap(-1, PAGE)
    >>> share(page); note("run.h5", "/entry/data")
    >>> last(page), beats(page)
    (('run.h5 at /entry/data', 'HDF5'), 0)
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from contextlib import contextmanager

PAGE = 4096
BEATS = struct.Struct("<Q")
"""The page's first bytes: the heartbeat count; the kind and the note follow."""
HDF5, CAPTURE, PICKLE = "HDF5", "capture", "pickle"
"""What is read: HDF5 metadata or data, a capture's envelope, a pickle in a capture or made."""
_page: mmap.mmap | None = None
_noted: tuple[str, str, str] | None = None
_message: tuple[str, str] | None = None
"""The capture message read last: pickles come from it (`verify` reads HDF5 in between)."""


def share(page: mmap.mmap | None) -> None:
    """Note what is read in `page` from now on (None: nowhere)."""
    global _page, _noted, _message
    _page, _noted, _message = page, None, None


def note(filename: str, where: str = "", kind: str = HDF5) -> None:
    """Note that `filename` (at `where`) is being read, a `kind` of thing; a no-op unless shared.

    Called for each chunk a frame is found in: it writes only what changed, no more.
    """
    global _noted, _message
    if _page is None or (filename, where, kind) == _noted:
        return
    _noted = (filename, where, kind)
    if kind == CAPTURE:
        _message = (filename, where)
    what = f"{filename} at {where}" if where else filename
    text = f"{kind}\0{what}".encode(errors="replace")[: PAGE - BEATS.size - 1] + b"\0"
    _page[BEATS.size : BEATS.size + len(text)] = text


@contextmanager
def unpickling() -> Iterator[None]:
    """While the body runs, a pickle of the capture message read last (else of what was noted
    last) is being loaded."""
    before = _noted or ("", "", HDF5)
    note(*(_message or before[:2]), PICKLE)
    try:
        yield
    finally:
        note(*before)


def last(page: mmap.mmap) -> tuple[str, str]:
    """What was noted last in `page` ("" when nothing), and its kind."""
    kind, what, _ = page[BEATS.size :].split(b"\0", 2)  # the page ends in zeros
    return what.decode(errors="replace"), kind.decode(errors="replace") or HDF5


def beat(page: mmap.mmap) -> None:
    """Count one heartbeat in `page`."""
    BEATS.pack_into(page, 0, beats(page) + 1)


def beats(page: mmap.mmap) -> int:
    """The heartbeats counted in `page`."""
    count: int = BEATS.unpack_from(page, 0)[0]
    return count
