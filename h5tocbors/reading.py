"""What the process is reading, and that it is not stuck, kept where its parent can see.

A crash in a C library (HDF5 on metadata it does not check) ends the process before any
Python code can say which file did it, and a loop in one (HDF5 on a corrupt global heap)
never returns to Python at all. `commands.isolate` runs each command in a child process
and shares a page with it (`share`): the HDF5 side notes each file and object it opens
(`note`), a thread of the child counts its heartbeats (`beat`, `beats`), and the parent
reads the last note (`last`) when the child dies or stops beating.

Example:
    >>> page = mmap.mmap(-1, PAGE)
    >>> share(page); note("run.h5", "/entry/data")
    >>> last(page), beats(page)
    ('run.h5 at /entry/data', 0)
"""

from __future__ import annotations

import mmap
import struct

PAGE = 4096
BEATS = struct.Struct("<Q")
"""The page's first bytes: the heartbeat count; the note follows."""
_page: mmap.mmap | None = None
_noted: tuple[str, str] | None = None


def share(page: mmap.mmap | None) -> None:
    """Note what is read in `page` from now on (None: nowhere)."""
    global _page, _noted
    _page, _noted = page, None


def note(filename: str, where: str = "") -> None:
    """Note that `filename` (at the object `where`) is being read; a no-op unless shared.

    Called for each chunk a frame is found in: it writes only what changed, no more.
    """
    global _noted
    if _page is None or (filename, where) == _noted:
        return
    _noted = (filename, where)
    text = (f"{filename} at {where}" if where else filename).encode(errors="replace")
    text = text[: PAGE - BEATS.size - 1] + b"\0"
    _page[BEATS.size : BEATS.size + len(text)] = text


def last(page: mmap.mmap) -> str:
    """What was noted last in `page` ("" when nothing)."""
    return page[BEATS.size :].split(b"\0", 1)[0].decode(errors="replace")


def beat(page: mmap.mmap) -> None:
    """Count one heartbeat in `page`."""
    BEATS.pack_into(page, 0, beats(page) + 1)


def beats(page: mmap.mmap) -> int:
    """The heartbeats counted in `page`."""
    count: int = BEATS.unpack_from(page, 0)[0]
    return count
