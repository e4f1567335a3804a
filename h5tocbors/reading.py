"""What the process is reading, kept where a report of its crash can find it.

A crash in a C library (HDF5 on metadata it does not check) ends the process before any
Python code can say which file did it. `commands.isolate` runs each command in a child
process and shares a page with it (`share`); the HDF5 side notes each file and object it
opens (`note`), and the parent reads the last one (`last`) when the child dies.

Example:
    >>> page = mmap.mmap(-1, PAGE)
    >>> share(page); note("run.h5", "/entry/data")
    >>> last(page)
    'run.h5 at /entry/data'
"""

from __future__ import annotations

import mmap

PAGE = 4096
_page: mmap.mmap | None = None


def share(page: mmap.mmap | None) -> None:
    """Note what is read in `page` from now on (None: nowhere)."""
    global _page
    _page = page


def note(filename: str, where: str = "") -> None:
    """Note that `filename` (at the object `where`) is being read; a no-op unless shared."""
    if _page is None:
        return
    text = (f"{filename} at {where}" if where else filename).encode(errors="replace")
    _page[:] = text[: PAGE - 1].ljust(PAGE, b"\0")


def last(page: mmap.mmap) -> str:
    """What was noted last in `page` ("" when nothing)."""
    return page[:].split(b"\0", 1)[0].decode(errors="replace")
