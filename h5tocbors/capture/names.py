"""Stream names: plain names that make safe file names and capture keys."""

from __future__ import annotations

import re

from ..errors import UsageError, quoted

STREAM_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*\Z")
MAX_STREAM_NAME = 200
"""Long enough for any detector, short enough that `.NAME.cbors.XXXXXXXX.part` fits a file name."""


def check_stream_name(name: str) -> str:
    """Return `name` if it is a plain stream name (letters, digits, `_`, `-`, `.`).

    Example:
        >>> check_stream_name("pilatus")
        'pilatus'
    """
    if len(name) > MAX_STREAM_NAME:
        raise UsageError(
            f"stream name {quoted(name, 20)} is longer than {MAX_STREAM_NAME} characters"
        )
    if not STREAM_NAME.match(name):
        raise UsageError(
            f"stream name {quoted(name)} is not a plain name "
            "(letters, digits, '_', '-', '.', not starting with '.')"
        )
    return name
