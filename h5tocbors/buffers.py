"""Buffers that flow from the input to a capture: bytes, views, or ranges of the input file."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .errors import H5ToCborsError


class InputChanged(H5ToCborsError):
    """The input file shrank or changed while it was read: its stored bytes are not there.

    Raised where a read comes up short; the conversion names the input when it reports it.

    Example:
        >>> str(InputChanged("run.h5"))
        'run.h5 changed or was truncated during the conversion'
    """

    def __init__(self, name: str = "the input") -> None:
        super().__init__(f"{name} changed or was truncated during the conversion")


@dataclass(frozen=True)
class FileRange:
    """`size` bytes at `offset` of the open file `fd`: a payload copied file to file.

    Example:
        >>> FileRange(fd=3, offset=4536, size=38545).size
        38545
    """

    fd: int
    offset: int
    size: int


class JsonText(bytes):
    """A frame of JSON text: spaces after it leave it saying the same to `json.loads` and to
    dranspose's models. The capture encoder may end it with some, so that a large stored
    payload that follows lands at the same offset within a page as in its input
    (`capture.encode.padding`).

    Example:
        >>> import json
        >>> json.loads(JsonText(b'{"frame":0}') + b"   ")
        {'frame': 0}
    """


Buffer = bytes | memoryview | FileRange

SMALL_RANGE = 64 << 10
"""File ranges up to this size are read rather than copied by the kernel: one system call
where a copy takes two or three (small frames)."""


def nbytes(buf: Buffer) -> int:
    """The length of a buffer in bytes."""
    if isinstance(buf, FileRange):
        return buf.size
    return buf.nbytes if isinstance(buf, memoryview) else len(buf)


def slice_of(buf: Buffer, start: int, size: int | None = None) -> Buffer:
    """Part of a buffer: `size` bytes (default: the rest) from `start`."""
    if isinstance(buf, FileRange):
        rest = buf.size - start
        return FileRange(buf.fd, buf.offset + start, rest if size is None else size)
    view = memoryview(buf)
    return view[start:] if size is None else view[start : start + size]


def read_range(buf: Buffer, into: memoryview | None = None) -> bytes | memoryview:
    """The bytes of a `FileRange`, read with `preadv` (the GIL is released while it reads)
    into `into` when it is large enough, else into a new buffer; other buffers as given. A
    range the file no longer holds raises `InputChanged`.

    Unlike a memory map, a read of a file that was truncated meanwhile fails cleanly.
    Reusing `into` spares the page faults of a fresh buffer, which cost as much as the copy.
    """
    if not isinstance(buf, FileRange):
        return buf
    out = into[: buf.size] if into is not None and len(into) >= buf.size else None
    if out is None:
        out = np.empty(buf.size, np.uint8).data
    view, offset = out, buf.offset
    while view:
        got = os.preadv(buf.fd, [view], offset)
        if got == 0:
            raise InputChanged()
        view, offset = view[got:], offset + got
    return out


def read_start(buf: Buffer, size: int) -> bytes:
    """The first `size` bytes of a buffer (fewer if it is shorter), as one `pread` for a
    `FileRange`: a header, without the buffer `read_range` allocates. A range the file no
    longer holds raises `InputChanged`.

    Example:
        >>> read_start(b"abcdef", 4)
        b'abcd'
    """
    if not isinstance(buf, FileRange):
        return bytes(memoryview(buf)[:size])
    size = min(size, buf.size)
    data = os.pread(buf.fd, size, buf.offset)
    while len(data) < size:  # a regular file reads short only at its end
        more = os.pread(buf.fd, size - len(data), buf.offset + len(data))
        if not more:
            raise InputChanged()
        data += more
    return data
