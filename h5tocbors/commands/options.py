"""Options and argument parsing shared by the commands."""

from __future__ import annotations

from typing import Annotated

import typer

from ..capture.names import check_stream_name
from ..errors import UsageError

EXIT_CODES = (
    "[bold]Exit codes[/]: 0 done; 1 bad input, a failed conversion or a check that failed; "
    "2 usage error; 130 interrupted (Ctrl-C); 141 stdout closed early; 143 terminated (SIGTERM)."
)

Debug = Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
Frames = Annotated[
    str | None,
    typer.Option(
        help="START:STOP[:STEP] of the frame series (slice syntax; bounds must lie in it)."
    ),
]
Streams = Annotated[
    list[str],
    typer.Option(
        "--stream",
        "-s",
        help=(
            "NAME or NAME=/dataset/path; repeat for several streams. Without a path, the "
            "dataset whose HDF5 path has a group or dataset called NAME is used."
        ),
    ),
]


def parse_streams(texts: list[str]) -> dict[str, str | None]:
    """`NAME` or `NAME=/path/to/dataset` items into {name: path or None}; names must be unique.

    Example:
        >>> parse_streams(["pilatus", "eiger=/entry/eiger/data"])
        {'pilatus': None, 'eiger': '/entry/eiger/data'}
    """
    streams: dict[str, str | None] = {}
    for text in texts:
        name, sep, path = text.partition("=")
        if sep and not path:
            raise UsageError(f"--stream {text!r}: give a dataset path after '='")
        if check_stream_name(name) in streams:
            raise UsageError(f"stream {name!r} is given twice")
        streams[name] = path or None
    return streams
