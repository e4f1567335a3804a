"""`h5tocbors verify`: decode every frame of captures and compare it with the HDF5 source."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from ..core.verify import StreamCheck, verify_capture
from ..errors import H5ToCborsError
from ..hdf5.open import open_input
from ..hdf5.selection import parse_frames
from .options import EXIT_CODES, Debug, Frames, Json, parse_streams
from .reporting import reported, say

EPILOG = (
    "[bold]Examples[/]\n\n"
    "h5tocbors verify run.h5 out/*.cbors\n\n"
    "h5tocbors verify run.h5 cap/eiger.cbors -s eiger=/entry/instrument/eiger/data\n\n"
    "h5tocbors verify scan.h5 out/pilatus.cbors --frames 5:205:10\n\n"
    "Streams are matched to datasets the way [bold]convert[/] does: by --stream NAME=DATASET, "
    "or by the stream's name. Give the same --frames as for the conversion. Exit 0 when every "
    "frame matches bit for bit; exit 1 naming the first frame that differs.\n\n" + EXIT_CODES
)


def verify_command(
    input: Annotated[
        Path, typer.Argument(metavar="INPUT.h5", help="The HDF5 source.", readable=False)
    ],
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE.cbors...", help="Captures to check.", readable=False),
    ],
    stream: Annotated[
        list[str] | None,
        typer.Option("--stream", "-s", help="NAME=/dataset/path for a stream; repeatable."),
    ] = None,
    frames: Frames = None,
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    """Prove captures exact: every STINS image decodes to its HDF5 source frame, bit for bit."""
    with reported(debug):
        datasets = parse_streams(stream or [])
        selection = parse_frames(frames) if frames is not None else None
        with open_input(input) as f:
            checks = [c for path in files for c in verify_capture(f, path, datasets, selection)]
        if as_json:
            print(json.dumps([asdict(c) | {"ok": c.ok} for c in checks], indent=2))
        else:
            for c in checks:
                say(line(c))
        if not checks:
            raise H5ToCborsError("no STINS image stream in " + ", ".join(map(str, files)))
        failed = next((c for c in checks if not c.ok), None)
        if failed is not None:
            raise H5ToCborsError(f"{failed.capture} stream {failed.stream}: {verdict(failed)}")


def verdict(c: StreamCheck) -> str:
    """What is wrong with a stream, in one phrase."""
    if c.frames == 0:
        return "no image frames"
    counts = f"{c.differing} of {c.frames} frames differ"
    if c.missing:
        counts += f", {c.missing} source frames missing"
    return f"{c.first_difference}; {counts}"


def line(c: StreamCheck) -> str:
    """One line per checked stream."""
    if c.ok:
        return f"{c.capture} {c.stream}: {c.frames} frames identical to {c.dataset}"
    missing = f", {c.missing} source frames missing" if c.missing else ""
    return (
        f"{c.capture} {c.stream}: {c.differing} of {c.frames} frames differ from {c.dataset}"
        f"{missing}"
    )
