"""JSON frames as the zmq senders write them: compact, UTF-8."""

from __future__ import annotations

import json


def json_frame(obj: object) -> bytes:
    """`obj` as a compact JSON frame, non-ASCII characters kept as UTF-8.

    Example:
        >>> json_frame({"htype": "series_end"})
        b'{"htype":"series_end"}'
    """
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
