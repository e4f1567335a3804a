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

UNITS = {"contrast": "steps", "PCAP_RAW": "rows", "xspress": "spectra", "sardana": "records"}
"""What the data messages of a typ are called in the summary (default: frames)."""
SINGULAR = {
    "steps": "step",
    "rows": "row",
    "streams": "stream",
    "spectra": "spectrum",
    "frames": "frame",
    "messages": "message",
}


def counted(n: int, unit: str) -> str:
    """`1 frame`, `20 frames`, `1 spectrum`.

    Example:
        >>> counted(1, "spectra"), counted(3, "frames")
        ('1 spectrum', '3 frames')
    """
    return f"{n} {SINGULAR.get(unit, unit) if n == 1 else unit}"


Debug = Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
Frames = Annotated[
    str | None,
    typer.Option(
        help="START:STOP[:STEP] of the frame series (slice syntax; bounds must lie in it), or "
        "one frame N; in a scan, START:STOP of its points."
    ),
]
AxesOption = Annotated[
    list[str],
    typer.Option(
        "--axes",
        metavar="[NAME=]AXES",
        help=(
            "How image datasets are cut into frames: one letter per dataset axis, N for the "
            "axes that count frames, H, W, C for the axes of a frame (HWN: an (H, W, N) stack; "
            "HW: one 2-D frame; NHWC: colour frames). NAME= for one stream; repeatable. "
            "Default: what `ls` shows (frames on the leading axes, NeXus hints, RGB)."
        ),
    ),
]
Streams = Annotated[
    list[str],
    typer.Option(
        "--stream",
        "-s",
        help=(
            "NAME, NAME=/path or NAME=/path:PROTOCOL (stins, xspress, pcap-raw, contrast, "
            "sardana, albaem, pcap, eiger-legacy, lecroy); repeat for several streams. "
            "Without a path, the image dataset whose HDF5 path has a group or dataset called "
            "NAME is used; a group's protocol is chosen by what it holds. With --scan, names "
            "of the scan's streams."
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
