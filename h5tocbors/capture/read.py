"""Read captures message by message: dranspose's envelope only, in bounded time and memory.

Each message of a capture is, as `dranspose.ingester.Dumper` writes it,
`tag 55799 (tag 42877 [event_number, {name: tag 42878 [typ, [frame, ...]]}, created_at])`;
older dumps lack tag 55799 or `created_at`. This module parses exactly that shape, by
hand, item by item, and decodes no other CBOR: a hostile file cannot make it build what it
declares (millions of nested arrays, bignums, decimal fractions), and anything else is
refused at the byte where it starts. It uses no cbor2, so it reads alike under every cbor2
version and never depends on where cbor2 leaves a file's position. Payloads are returned
as bytes, never unpickled. The limits below are in the README.

Example:
    >>> [m.event_number for m in read_messages("out/pilatus.cbors")][:3]  # doctest: +SKIP
    [0, 1, 2]
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, NamedTuple, cast

from ..errors import H5ToCborsError, quoted
from ..reading import CAPTURE, note
from .encode import MESSAGE_TAG, SELF_DESCRIBE_TAG, STREAM_TAG

MAX_EVENT = 2**63 - 1
"""Event numbers lie in 0..MAX_EVENT."""
MAX_STREAMS = 1024
"""Streams in one message."""
MAX_FRAMES = 65536
"""Frames in one message, all streams together."""
MAX_NAME_BYTES = 256
"""UTF-8 bytes of a stream name or a typ."""
MAX_DATE_BYTES = 64
"""UTF-8 bytes of a `created_at` text date."""
MAX_GZIP_MESSAGE_BYTES = 256 << 20
"""Frame bytes in one message of a `.gz` capture (or a pipe), whose size the reader cannot know.
In a plain file a frame is bounded by what is left of the file instead."""

CHUNK = 1 << 20
"""Reads of unknown-size input go this far at a time, so no declared size is allocated unread."""


@dataclass(frozen=True)
class RawStream:
    """One stream of a message: its `typ` and its frames as bytes (payloads left as they are)."""

    typ: str
    frames: list[bytes]


@dataclass(frozen=True)
class RawMessage:
    """One capture message, as stored: `offset` is where it starts in the (uncompressed) file."""

    index: int
    offset: int
    event_number: int
    streams: dict[str, RawStream]
    created_at: datetime | None


class CaptureError(H5ToCborsError):
    """A capture that is truncated or corrupt: how many messages were intact, where it broke."""

    def __init__(self, path: str, intact: int, offset: int, reason: str, detail: str = "") -> None:
        where = f"{reason} at byte {offset}" + (f" ({detail})" if detail else "")
        super().__init__(f"{path}: {where}, after {intact} intact message(s)")
        self.intact = intact
        self.offset = offset
        self.reason = reason
        self.detail = detail


def open_capture(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open a capture for reading; `.gz` files are decompressed on the fly."""
    try:
        if str(path).endswith(".gz"):
            return cast(IO[bytes], gzip.GzipFile(path, "rb"))
        return open(path, "rb", buffering=1 << 20)
    except OSError as e:
        raise H5ToCborsError(f"cannot open capture {path}: {e.strerror or e}") from e


def read_messages(path: str | os.PathLike[str]) -> Iterator[RawMessage]:
    """The messages of a capture, one at a time.

    Raises `CaptureError` where the file is truncated or not a capture.
    """
    name = str(path)
    with open_capture(path) as fh:
        source = _Source(fh)
        index = 0
        while True:
            start = source.pos
            try:
                message = _Envelope(source).message(index)
            except _End:
                return
            except _Refused as e:
                raise CaptureError(name, index, e.offset, "not a capture message", e.detail) from e
            except (_Truncated, EOFError) as e:  # EOFError: a gzip stream that ends early
                raise CaptureError(name, index, start, "truncated message") from e
            except (OSError, zlib.error) as e:  # a corrupt gzip stream, a failing disk
                detail = getattr(e, "strerror", None) or str(e)
                raise CaptureError(name, index, source.pos, "corrupt data", detail) from e
            note(name, f"message {index} (event {message.event_number})", CAPTURE)
            yield message
            index += 1


class _Truncated(Exception):
    """The file ends inside a message."""


class _End(Exception):
    """The file ends where a message would start."""


class _Refused(Exception):
    """Not the envelope dranspose writes: what was found at `offset`."""

    def __init__(self, offset: int, detail: str) -> None:
        super().__init__(detail)
        self.offset = offset
        self.detail = detail


class _Source:
    """A capture read forward, counting offsets; no read allocates more than the file holds."""

    def __init__(self, fh: IO[bytes]) -> None:
        # the bytes in the file, or None for a gzip stream or a pipe
        self.size = None if isinstance(fh, gzip.GzipFile) else _regular_size(fh)
        if isinstance(fh, gzip.GzipFile):  # C-level buffering: items are read a few bytes at a time
            fh = cast(IO[bytes], io.BufferedReader(fh, CHUNK))
        self.fh = fh
        self.read = fh.read
        self.pos = 0

    def take(self, n: int) -> bytes:
        """The next `n` bytes; `_Truncated` if the file ends first."""
        if self.size is None:
            data = self.read(n) if n <= CHUNK else self._chunks(n)
        elif n <= self.size - self.pos or n <= self._grown() - self.pos:
            data = self.read(n)
        else:
            raise _Truncated
        if len(data) != n:
            raise _Truncated
        self.pos += n
        return data

    def _grown(self) -> int:
        """The file's size now: it may have grown since it was opened."""
        self.size = _regular_size(self.fh) or 0
        return self.size

    def _chunks(self, n: int) -> bytes:
        """`n` bytes read a chunk at a time, so a declared size is never allocated unread."""
        parts: list[bytes] = []
        got = 0
        while got < n:
            part = self.read(min(CHUNK, n - got))
            if not part:
                break
            parts.append(part)
            got += len(part)
        return b"".join(parts)


def _regular_size(fh: IO[bytes]) -> int | None:
    """The size of a regular file, None for a pipe or a device."""
    st = os.fstat(fh.fileno())
    return st.st_size if stat.S_ISREG(st.st_mode) else None


NOUNS = ("unsigned integer", "negative integer", "byte string", "text string", "array", "map")
SIMPLE = {20: "false", 21: "true", 22: "null", 23: "undefined"} | dict.fromkeys(
    (25, 26, 27), "a float"
)
FLOATS = {25: ">e", 26: ">f", 27: ">d"}


class _Head(NamedTuple):
    """The initial bytes of a CBOR item: where it starts, its major type and its argument."""

    offset: int
    major: int
    info: int
    arg: int
    """The value, length or tag number; -1 for the indefinite or reserved forms."""

    def is_tag(self, tag: int) -> bool:
        return self.major == 6 and self.arg == tag

    def kind(self) -> str:
        """What the item is, for messages: `an array`, `tag 4`, `a float`, ..."""
        if self.info > 27:
            if self.info < 31:
                return f"a malformed item (initial byte 0x{self.major << 5 | self.info:02x})"
            if self.major == 7:
                return "a break code"
            if self.major in (2, 3, 4, 5):
                return f"an indefinite-length {NOUNS[self.major]} (dranspose writes none)"
            return f"a malformed item (initial byte 0x{self.major << 5 | self.info:02x})"
        if self.major == 6:
            return f"tag {self.arg}"
        if self.major == 7:
            return SIMPLE.get(self.info, "a simple value")
        noun = NOUNS[self.major]
        return ("an " if noun[0] in "aeiou" else "a ") + noun


class _Envelope:
    """The parser of one message."""

    def __init__(self, source: _Source) -> None:
        self.source = source
        self.budget = MAX_GZIP_MESSAGE_BYTES

    def head(self, first_of_message: bool = False) -> _Head:
        source = self.source
        offset, byte = source.pos, source.read(1)
        if not byte:
            raise _End if first_of_message else _Truncated
        source.pos += 1
        first = byte[0]
        major, info = first >> 5, first & 31
        if info < 24:
            arg = info
        elif info < 28:
            arg = int.from_bytes(self.source.take(1 << (info - 24)), "big")
        else:
            arg = -1
        return _Head(offset, major, info, arg)

    def expect(self, major: int, what: str) -> _Head:
        """The next item's head, which must be of `major` type with a definite argument."""
        head = self.head()
        if head.major != major or head.arg < 0:
            raise _Refused(head.offset, f"expected {what}, found {head.kind()}")
        return head

    def message(self, index: int) -> RawMessage:
        start = self.source.pos
        head = self.head(first_of_message=True)
        if head.is_tag(SELF_DESCRIBE_TAG):
            head = self.head()
        if not head.is_tag(MESSAGE_TAG):
            found = f"expected tag {MESSAGE_TAG}, found {head.kind()}"
            if head.major == 4 and head.offset == 0:
                found += ": a dump of raw zmq frames, not a dranspose capture"
            raise _Refused(head.offset, found)
        fields = self.expect(4, "an array [event_number, streams, created_at]")
        if fields.arg not in (2, 3):
            raise _Refused(
                fields.offset,
                f"expected an array of 2 or 3 items [event_number, streams, created_at], "
                f"found {fields.arg} items",
            )
        event = self.event_number()
        streams = self.streams()
        created_at = self.created_at() if fields.arg == 3 else None
        return RawMessage(index, start, event, streams, created_at)

    def event_number(self) -> int:
        head = self.head()
        if head.major == 0 and 0 <= head.arg <= MAX_EVENT:
            return head.arg
        if head.major == 0:
            found = str(head.arg)
        elif head.is_tag(2) or head.is_tag(3):
            found = f"a bignum (tag {head.arg})"
        else:
            found = head.kind()
        raise _Refused(
            head.offset, f"the event number must be an integer in 0..{MAX_EVENT}, found {found}"
        )

    def streams(self) -> dict[str, RawStream]:
        table = self.expect(5, "a map of streams")
        if table.arg > MAX_STREAMS:
            raise _Refused(
                table.offset, f"{table.arg} streams, more than {MAX_STREAMS} in a message"
            )
        streams: dict[str, RawStream] = {}
        frames_left = MAX_FRAMES
        for _ in range(table.arg):
            at = self.source.pos
            name = self.text("a stream name")
            if name in streams:
                raise _Refused(at, f"stream {quoted(name)} appears twice")
            tag = self.head()
            if not tag.is_tag(STREAM_TAG):
                raise _Refused(
                    tag.offset, f"expected tag {STREAM_TAG} (a stream), found {tag.kind()}"
                )
            pair = self.expect(4, "an array [typ, frames]")
            if pair.arg != 2:
                raise _Refused(
                    pair.offset, f"expected an array of 2 items [typ, frames], found {pair.arg}"
                )
            typ = self.text("a typ")
            array = self.expect(4, "an array of frames")
            if array.arg > frames_left:
                count = MAX_FRAMES - frames_left + array.arg
                raise _Refused(array.offset, f"{count} frames, more than {MAX_FRAMES} in a message")
            frames_left -= array.arg
            streams[name] = RawStream(typ, [self.frame() for _ in range(array.arg)])
        return streams

    def frame(self) -> bytes:
        head = self.expect(2, "a frame (a byte string)")
        if self.source.size is None:
            self.budget -= head.arg
            if self.budget < 0:
                raise _Refused(
                    head.offset,
                    f"a frame of {head.arg} bytes makes the message's frames more than the "
                    f"{MAX_GZIP_MESSAGE_BYTES} bytes a message of a .gz capture may hold",
                )
        return self.source.take(head.arg)

    def text(self, what: str) -> str:
        head = self.expect(3, f"{what} (a text string)")
        if head.arg > MAX_NAME_BYTES:
            raise _Refused(head.offset, f"{what} of {head.arg} bytes, longer than {MAX_NAME_BYTES}")
        try:
            return self.source.take(head.arg).decode("utf-8")
        except UnicodeDecodeError:
            raise _Refused(head.offset, f"{what} that is not UTF-8") from None

    def created_at(self) -> datetime:
        """A date as cbor2 writes it: tag 0 and an ISO 8601 text, or tag 1 and an epoch."""
        head = self.head()
        if head.is_tag(0):
            text = self.expect(3, "a date text for tag 0")
            if text.arg > MAX_DATE_BYTES:
                raise _Refused(text.offset, f"created_at of {text.arg} bytes is not a date")
            data = self.source.take(text.arg).decode("utf-8", "replace")
            try:
                # cbor2 writes UTC as "Z", which datetime.fromisoformat accepts from Python 3.11
                when = datetime.fromisoformat(data[:-1] + "+00:00" if data[-1:] == "Z" else data)
            except ValueError:
                when = None
            if when is None or when.tzinfo is None:
                raise _Refused(text.offset, f"created_at {quoted(data)} is not a date and time")
            return when
        if head.is_tag(1):
            number = self.head()
            epoch: float
            if number.major == 0 and number.arg >= 0:
                epoch = number.arg
            elif number.major == 1 and number.arg >= 0:
                epoch = -1 - number.arg
            elif number.major == 7 and number.info in FLOATS:
                size = 1 << (number.info - 24)
                (epoch,) = struct.unpack(FLOATS[number.info], number.arg.to_bytes(size, "big"))
            else:
                raise _Refused(number.offset, f"expected an epoch for tag 1, found {number.kind()}")
            try:
                return datetime.fromtimestamp(epoch, timezone.utc)
            except (OverflowError, OSError, ValueError):
                raise _Refused(number.offset, f"created_at {epoch} is not a date") from None
        raise _Refused(
            head.offset, f"expected created_at (tag 0 or tag 1, a date), found {head.kind()}"
        )
