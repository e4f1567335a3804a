"""`h5tocbors convert`: HDF5 image datasets to STINS captures."""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..convert import ConversionResult, convert
from ..reporting import progress_bar, reported
from ..selection import parse_frames
from .options import EXIT_CODES, Debug, Frames, Json, Streams, parse_streams

EPILOG = (
    "[bold]Examples[/]\n\n"
    "[dim]# the one stack of frames with 'pilatus' in its path -> out/pilatus.cbors[/]\n\n"
    "h5tocbors convert run.h5 --stream pilatus\n\n"
    "[dim]# two streams sharing event numbers, a dataset named explicitly[/]\n\n"
    "h5tocbors convert run.h5 -s pilatus -s eiger=/entry/instrument/eiger/data\n\n"
    "[dim]# every 10th frame of 5..205, uncompressed payloads, into cap/[/]\n\n"
    "h5tocbors convert scan.h5 -s pilatus --frames 5:205:10 -c none -o cap\n\n"
    "[dim]# then develop the analysis on the captures[/]\n\n"
    "dranspose replay -w src.worker:W -r src.reducer:R -f out/*.cbors\n\n"
    + EXIT_CODES
    + " On any failure no output is left behind."
)


class CompressionChoice(str, Enum):
    bslz4 = "bslz4"
    none = "none"


def convert_command(
    input: Annotated[
        Path, typer.Argument(metavar="INPUT.h5", help="HDF5 file to read (opened read-only).")
    ],
    stream: Streams,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Directory for NAME.cbors files.")
    ] = Path("out"),
    compression: Annotated[
        CompressionChoice,
        typer.Option("--compression", "-c", help="Payload of image messages."),
    ] = CompressionChoice.bslz4,
    frames: Frames = None,
    filename: Annotated[
        str, typer.Option(help="'filename' of the start message; \"\" means live, don't save.")
    ] = "",
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace existing outputs.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar, no summary.")
    ] = False,
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    """Convert image datasets into one STINS capture per stream: OUTPUT_DIR/NAME.cbors."""
    with reported(debug):
        streams = parse_streams(stream)
        selection = parse_frames(frames) if frames is not None else None
        with progress_bar(not quiet) as bar:
            task = bar.add_task(", ".join(streams), total=None, bytes=0)
            result = convert(
                input,
                streams,
                output_dir,
                frames=selection,
                compression=compression.value,
                filename=filename,
                force=force,
                progress=lambda events, nbytes: bar.update(task, completed=events, bytes=nbytes),
            )
        if as_json:
            print(json.dumps(asdict(result), indent=2))
        elif not quiet:
            print_summary(result)


def print_summary(result: ConversionResult) -> None:
    """One line per stream: frames, bytes, seconds, path."""
    for s in result.streams:
        path = "passed through" if s.fast_path == "passthrough" else f"encoded ({s.fast_path})"
        print(
            f"{s.name}: {s.frames} frames from {s.dataset}, {s.bytes / 1e6:.1f} MB "
            f"in {result.seconds:.2f} s -> {s.output} [{path}]"
        )
