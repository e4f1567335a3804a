"""Read captures message by message, every variant dranspose has written, never unpickling.

Handles messages with or without the self-describe tag 55799, with or without
`created_at`, plain `.cbors` and gzip-compressed `.cbors.gz`. It uses only
`cbor2.load` and `CBORTag`, no `tag_hook` (whose calling convention cbor2 6 changed), and
accepts cbor2 6's immutable containers (tuples, frozendict), so it works under 5 and 6 alike.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, cast

import cbor2

from ..errors import H5ToCborsError
from .encode import MESSAGE_TAG, SELF_DESCRIBE_TAG, STREAM_TAG


@dataclass(frozen=True)
class RawStream:
    """One stream of a message: its `typ` and its frames as bytes (payloads left as they are)."""

    typ: str
    frames: list[bytes]


@dataclass(frozen=True)
class RawMessage:
    """One capture message, as stored."""

    index: int
    offset: int
    event_number: int
    streams: dict[str, RawStream]
    created_at: datetime | None


class CaptureError(H5ToCborsError):
    """A capture that is truncated or corrupt: how many messages were intact, where it broke."""

    def __init__(self, path: str, intact: int, offset: int, reason: str) -> None:
        super().__init__(f"{path}: {reason} at byte {offset}, after {intact} intact message(s)")
        self.intact = intact
        self.offset = offset
        self.reason = reason


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

    Example:
        >>> [m.event_number for m in read_messages("out/pilatus.cbors")][:3]  # doctest: +SKIP
        [0, 1, 2]
    """
    name = str(path)
    with open_capture(path) as fh:
        index = 0
        while True:
            offset = fh.tell()
            try:
                if at_end(fh):
                    return
                item = cbor2.load(fh)
            except EOFError as e:  # cbor2 5
                raise CaptureError(name, index, offset, "truncated message") from e
            except cbor2.CBORDecodeError as e:
                reason = "truncated message" if at_end(fh) else f"corrupt data ({e})"  # cbor2 6
                raise CaptureError(name, index, offset, reason) from e
            except Exception as e:  # gzip, zlib, and whatever a hostile item makes cbor2 raise
                raise CaptureError(name, index, offset, f"corrupt data ({e})") from e
            try:
                message = parse_message(item, index, offset)
            except (TypeError, ValueError, IndexError) as e:
                raise CaptureError(name, index, offset, f"not a dranspose message ({e})") from e
            yield message
            index += 1


def at_end(fh: IO[bytes]) -> bool:
    """True when nothing is left to read (files and gzip files can peek)."""
    peek: Callable[[int], bytes] = fh.peek  # type: ignore[attr-defined]
    return not peek(1)


def parse_message(item: Any, index: int, offset: int) -> RawMessage:
    """Interpret one decoded CBOR item as a dranspose message (tag 42877)."""
    if isinstance(item, cbor2.CBORTag) and item.tag == SELF_DESCRIBE_TAG:
        item = item.value
    if not isinstance(item, cbor2.CBORTag) or item.tag != MESSAGE_TAG:
        raise ValueError(f"expected tag {MESSAGE_TAG}, found {describe(item)}")
    fields = item.value
    if not isinstance(fields, Sequence) or len(fields) not in (2, 3):
        raise ValueError("message is not [event_number, streams(, created_at)]")
    event_number, streams = fields[0], fields[1]
    if not isinstance(event_number, int) or not isinstance(streams, Mapping):
        raise ValueError("event number or streams of the wrong type")
    created_at = fields[2] if len(fields) == 3 and isinstance(fields[2], datetime) else None
    return RawMessage(
        index=index,
        offset=offset,
        event_number=event_number,
        streams={str(n): parse_stream(s) for n, s in streams.items()},
        created_at=created_at,
    )


def parse_stream(item: Any) -> RawStream:
    """Interpret a tag 42878 `[typ, frames]`."""
    if not isinstance(item, cbor2.CBORTag) or item.tag != STREAM_TAG:
        raise ValueError(f"expected stream tag {STREAM_TAG}, found {describe(item)}")
    typ, frames = item.value
    if not isinstance(typ, str) or not isinstance(frames, Sequence):
        raise ValueError("stream is not [typ, frames]")
    if not all(isinstance(f, bytes | bytearray) for f in frames):
        raise ValueError("a frame is not a byte string")
    return RawStream(typ, [bytes(f) for f in frames])


def describe(item: Any) -> str:
    """A short name for a decoded CBOR item, for error messages."""
    if isinstance(item, cbor2.CBORTag):
        return f"tag {item.tag}"
    return type(item).__name__
