"""Parse and apply `--frames START:STOP[:STEP]` selections."""

from __future__ import annotations

import re

from ..errors import H5ToCborsError, UsageError, option


def parse_frames(text: str) -> slice:
    """Parse `START:STOP[:STEP]` (each part optional, Python slice syntax), or one frame
    `N`, into a slice.

    Example:
        >>> parse_frames("10:100:2")
        slice(10, 100, 2)
        >>> parse_frames("::-1")
        slice(None, None, -1)
        >>> parse_frames("5"), parse_frames("-1")
        (slice(5, 6, None), slice(-1, None, None))
    """
    if re.fullmatch(r"\s*-?\d+\s*", text):
        n = int(text)
        return slice(n, n + 1 or None)
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise UsageError(
            f"--frames {text!r} is not START:STOP[:STEP] or one frame N (e.g. 0:100, ::2, 5)"
        )
    try:
        values = [int(p) if p.strip() else None for p in parts]
    except ValueError:
        raise UsageError(f"--frames {text!r}: START, STOP and STEP must be integers") from None
    if len(values) == 3 and values[2] == 0:
        raise UsageError(f"--frames {text!r}: STEP cannot be 0")
    return slice(*values)


def select_frames(selection: slice | None, count: int, source: str = "the series") -> range:
    """Apply a selection to a series of `count` frames; bounds outside it are an error, and
    so is an empty `source` (named in the error).

    Example:
        >>> select_frames(slice(2, 8, 3), 10)
        range(2, 8, 3)
        >>> select_frames(None, 3)
        range(0, 3)
        >>> select_frames(None, 0, "/entry/albaem")
        Traceback (most recent call last):
        h5tocbors.errors.H5ToCborsError: /entry/albaem holds no frames: nothing to convert
    """
    if selection is None:
        if count == 0:
            raise H5ToCborsError(f"{source} holds no frames: nothing to convert")
        selected = range(count)
    else:
        for bound in (selection.start, selection.stop):
            if bound is not None and not -count <= bound <= count:
                raise H5ToCborsError(
                    f"{option('frames', selection)} is outside the {count} frames of the series"
                )
        selected = range(count)[selection]
    if len(selected) == 0:
        given = selection if selection is not None else slice(None)
        raise H5ToCborsError(
            f"{option('frames', given)} selects no frame of the {count} in the series"
        )
    return selected
