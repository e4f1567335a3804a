"""The `h5tocbors` command line."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from . import __version__
from .convert import ConversionResult, convert
from .errors import UsageError
from .hdf5 import check_stream_name
from .reporting import EXIT_OK, EXIT_USAGE, fail, progress_bar, reported
from .selection import parse_frames

EXIT_CODES = """
[bold]Exit codes[/]: 0 done; 1 bad input or failed conversion; 2 usage error;
130 interrupted (Ctrl-C); 143 terminated (SIGTERM). On any failure no output is left behind.
"""

app = typer.Typer(
    name="h5tocbors",
    help=(
        "Turn HDF5 detector data into captures that [bold]dranspose replay -f[/] reads unchanged."
        "\n\n[dim]h5tocbors convert run.h5 --stream pilatus && "
        "dranspose replay -w src.worker:W -r src.reducer:R -f out/*.cbors[/]"
    ),
    epilog=EXIT_CODES,
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class CompressionChoice(str, Enum):
    bslz4 = "bslz4"
    none = "none"


def parse_stream(text: str) -> tuple[str, str | None]:
    """`NAME` or `NAME=/path/to/dataset` into (name, path or None)."""
    name, sep, path = text.partition("=")
    if sep and not path:
        raise UsageError(f"--stream {text!r}: give a dataset path after '='")
    return check_stream_name(name), (path or None)


DEBUG = typer.Option("--debug", help="Show the traceback of an error.")
JSON = typer.Option("--json", help="Print the result as JSON on stdout.")


@app.command(
    "convert",
    epilog=(
        "[bold]Examples[/]\n\n"
        "[dim]# the one stack of frames with 'pilatus' in its path -> out/pilatus.cbors[/]\n\n"
        "h5tocbors convert run.h5 --stream pilatus\n\n"
        "[dim]# two streams sharing event numbers, a dataset named explicitly[/]\n\n"
        "h5tocbors convert run.h5 -s pilatus -s eiger=/entry/instrument/eiger/data\n\n"
        "[dim]# every 10th frame of 5..205, uncompressed payloads, into cap/[/]\n\n"
        "h5tocbors convert scan.h5 -s pilatus --frames 5:205:10 -c none -o cap\n\n"
        "[dim]# then develop the analysis on the captures[/]\n\n"
        "dranspose replay -w src.worker:W -r src.reducer:R -f out/*.cbors\n\n" + EXIT_CODES
    ),
)
def convert_command(
    input: Annotated[
        Path, typer.Argument(metavar="INPUT.h5", help="HDF5 file to read (opened read-only).")
    ],
    stream: Annotated[
        list[str],
        typer.Option(
            "--stream",
            "-s",
            help=(
                "NAME or NAME=/dataset/path; repeat for several streams. Without a path, the "
                "dataset whose HDF5 path has a group or dataset called NAME is used."
            ),
        ),
    ],
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Directory for NAME.cbors files.")
    ] = Path("out"),
    compression: Annotated[
        CompressionChoice,
        typer.Option("--compression", "-c", help="Payload of image messages."),
    ] = CompressionChoice.bslz4,
    frames: Annotated[
        str | None,
        typer.Option(help="START:STOP[:STEP] of the frame series, Python slice rules."),
    ] = None,
    filename: Annotated[
        str, typer.Option(help="'filename' of the start message; \"\" means live, don't save.")
    ] = "",
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace existing outputs.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar, no summary.")
    ] = False,
    as_json: Annotated[bool, JSON] = False,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Convert image datasets into one STINS capture per stream: OUTPUT_DIR/NAME.cbors."""
    with reported(debug):
        streams = dict(parse_stream(s) for s in stream)
        if len(streams) != len(stream):
            raise UsageError("a stream name is given twice")
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


@app.command("version", hidden=True)
def version_command() -> None:
    """Print the version."""
    print(__version__)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning usage errors into one line and exit code 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="h5tocbors", standalone_mode=False)
    except Exception as e:
        # Click's exceptions (typer vendors its own click): duck-typed, so both kinds work.
        if not hasattr(e, "format_message"):
            raise
        ctx = getattr(e, "ctx", None)
        if type(e).__name__ == "NoArgsIsHelpError":
            code = EXIT_USAGE  # the help was printed already
        else:
            hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            code = fail(e.format_message() + hint, getattr(e, "exit_code", EXIT_USAGE))
    sys.exit(code if isinstance(code, int) else EXIT_OK)
