"""JSON frames as the zmq senders write them: compact, UTF-8."""

from __future__ import annotations

import json
from collections.abc import Sequence


def json_frame(obj: object) -> bytes:
    """`obj` as a compact JSON frame, non-ASCII characters kept as UTF-8.

    Example:
        >>> json_frame({"htype": "series_end"})
        b'{"htype":"series_end"}'
    """
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def json_header(frames: Sequence[bytes]) -> dict[str, object] | None:
    """The JSON object in a message's first frame, or None when there is none.

    Example:
        >>> json_header([b'{"htype": "header"}']), json_header([b"\\x80\\x02"])
        ({'htype': 'header'}, None)
    """
    try:
        header = json.loads(frames[0])
    except (IndexError, ValueError, TypeError, RecursionError):
        return None
    return header if isinstance(header, dict) else None
