"""`h5tocbors convert`: HDF5 image datasets to STINS captures, one file or a whole beamtime."""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..core.jobs import default_jobs
from ..errors import Cancel, H5ToCborsError, UsageError
from ..hdf5.selection import parse_frames
from .options import (
    EXIT_CODES,
    UNITS,
    AxesOption,
    Debug,
    Frames,
    Json,
    Streams,
    counted,
    parse_streams,
)
from .reporting import Bar, print_table, printable, progress_bar, reported, say

if TYPE_CHECKING:
    from ..core.batch import FileOutcome
    from ..core.convert import ConversionResult
    from ..core.convert import Progress as Callback

EPILOG = (
    "[bold]Examples[/]\n\n"
    "[dim]# the one stack of frames with 'pilatus' in its path -> out/pilatus.cbors[/]\n\n"
    "h5tocbors convert run.h5 --stream pilatus\n\n"
    "[dim]# two streams sharing event numbers, a dataset named explicitly[/]\n\n"
    "h5tocbors convert run.h5 -s pilatus -s eiger=/entry/instrument/eiger/data\n\n"
    "[dim]# every 10th frame of 5..205, uncompressed payloads, into cap/[/]\n\n"
    "h5tocbors convert scan.h5 -s pilatus --frames 5:205:10 -c none -o cap\n\n"
    "[dim]# a stack stored (height, width, frames), as Velox writes it[/]\n\n"
    "h5tocbors convert stack.emd -s haadf=/Data/Image/0/Data --axes HWN\n\n"
    "[dim]# every stream of a contrast scan, events aligned: contrast, xspress3, panda0, ...[/]\n\n"
    "h5tocbors convert 000008.h5 --scan\n\n"
    "[dim]# a PandA group as PCAP_RAW, named explicitly; a layout described in TOML[/]\n\n"
    "h5tocbors convert 000008.h5 -s panda0=/entry/measurement/panda0:pcap-raw\n\n"
    "h5tocbors convert run.h5 --config scan.toml\n\n"
    "[dim]# a beamtime: out/<stem>/pilatus.cbors per scan, resumable, a quarter per node[/]\n\n"
    "h5tocbors convert scans/*.h5 -s pilatus --skip-existing --shard 0/4\n\n"
    "[dim]# then develop the analysis on the captures[/]\n\n"
    "LOG_LEVEL=WARNING dranspose replay -w src.worker:W -r src.reducer:R -f out/*.cbors\n\n"
    + EXIT_CODES
    + " On any failure no output is left behind."
)


class CompressionChoice(str, Enum):
    bslz4 = "bslz4"
    none = "none"


def convert_command(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            metavar="INPUT.h5...",
            help="HDF5 files (opened read-only); several: OUTPUT_DIR/<stem>/NAME.cbors each.",
            readable=False,  # an unreadable input is bad input (exit 1), named when opened
        ),
    ],
    stream: Streams = [],  # noqa: B006 (typer reads the default, never mutates it)
    scan: Annotated[
        bool,
        typer.Option(
            "--scan",
            help="INPUT is a contrast master file or a Sardana NXscan file: convert every "
            "stream of the scan (contrast or sardana, xspress3, PandA, detectors), or those "
            "named with --stream.",
        ),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="SCAN.toml",
            help="A scan whose layout is not contrast's: streams, paths, protocols and what "
            "counts the points, in a TOML file (see README).",
        ),
    ] = None,
    entry: Annotated[
        list[str],
        typer.Option(
            "--entry",
            metavar="ENTRY",
            help="With --scan, the scan of a Sardana NXscan file to convert (entry12); repeat "
            "for several. Without it every scan entry, several into OUTPUT_DIR/<entry>/.",
        ),
    ] = [],  # noqa: B006
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Directory for NAME.cbors files.")
    ] = Path("out"),
    compression: Annotated[
        CompressionChoice,
        typer.Option("--compression", "-c", help="Payload of image messages."),
    ] = CompressionChoice.bslz4,
    frames: Frames = None,
    axes: AxesOption = [],  # noqa: B006
    filename: Annotated[
        str, typer.Option(help="'filename' of the start message; \"\" means live, don't save.")
    ] = "",
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace existing outputs.")] = False,
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Leave existing outputs alone (resume a batch).")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Threads that decode and compress frames, or convert files side by side.",
            show_default=f"the {default_jobs()} cores available",
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(help="K/N: convert only the K-th (from 0) of N parts of the sorted inputs."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar, no summary.")
    ] = False,
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    """Convert HDF5 streams (images, xspress3, PandA, a whole contrast scan) into one capture
    per stream: OUTPUT_DIR/NAME.cbors."""
    from ..core.batch import convert_many, parse_shard, plan_outputs, take_shard
    from ..core.convert import convert
    from ..scan.specs import parse_axes_options

    cancel = Cancel()
    with reported(debug, cancel):
        check_outputs(output_dir, force, skip_existing)
        streams = parse_streams(stream)
        selection = parse_frames(frames) if frames is not None else None
        cut = parse_axes_options(axes)
        try:
            filename.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"--filename {filename!r} is not valid UTF-8") from None
        scan_config = None
        if config is not None:
            from ..scan.config import load_config  # tomllib and the scan layouts

            scan_config = load_config(config)
        plan = plan_outputs(inputs, output_dir)  # the layout counts every input given
        if entry and not scan:
            raise UsageError("--entry picks a scan of a Sardana NXscan file: give --scan too")
        entries: dict[Path, str | None] = {}
        if scan and (scan_config is None or not scan_config.streams):
            plan, entries = plan_entries(plan, entry)
        todo = take_shard(
            plan, parse_shard(shard) if shard else None, key=lambda i: (str(i[0]), str(i[1]))
        )

        def convert_one(
            source: Path, out: Path, threads: int, progress: Callback | None, cancel: Cancel
        ) -> ConversionResult:
            return convert(
                source,
                streams,
                out,
                scan=scan,
                config=scan_config,
                frames=selection,
                axes=cut,
                compression=compression.value,
                filename=filename,
                force=force,
                skip_existing=skip_existing,
                jobs=threads,
                progress=progress,
                cancel=cancel,
                entry=entries.get(out),
            )

        threads = jobs or default_jobs()
        if len(plan) == 1 and todo:
            with progress_bar(not quiet) as bar:
                result = convert_one(*todo[0], threads, bar_progress(bar, streams), cancel)
            if as_json:
                print(json.dumps(asdict(result), indent=2))
            elif not quiet:
                print_summary(result)
            return
        with progress_bar(not quiet) as bar:
            files = bar.add_task("files", total=len(todo), bytes=0)
            outcomes = convert_many(
                todo,
                convert_one,
                jobs=threads,
                on_start=lambda source: bar_progress(bar, source.name),
                on_done=lambda _: bar.advance(files),
                cancel=cancel,
            )
        for o in outcomes:
            o.entry = entries.get(Path(o.output_dir))
        if as_json:
            print(json.dumps({"files": [asdict(o) for o in outcomes]}, indent=2))
        elif not quiet:
            print_table(BATCH_COLUMNS, batch_rows(outcomes))
        failed = [o.name for o in outcomes if o.status == "failed"]
        if failed:
            raise H5ToCborsError(
                f"{len(failed)} of {len(outcomes)} files failed: {', '.join(failed)}"
            )


def plan_entries(
    plan: list[tuple[Path, Path]], given: list[str]
) -> tuple[list[tuple[Path, Path]], dict[Path, str | None]]:
    """Each input's scans: a Sardana NXscan file's entries (those `given`, else all), several
    into `<output>/<entry>/`; other files as they are. An input that cannot be opened is
    left to its conversion to report, unless it is the only one."""
    from ..scan.nxscan import entries_to_convert

    planned: list[tuple[Path, Path]] = []
    entries: dict[Path, str | None] = {}
    for source, out in plan:
        try:
            found = entries_to_convert(source, given)
        except H5ToCborsError:
            if len(plan) == 1:
                raise
            found = list(given) or [None]
        for name in found:
            where = out / name if len(found) > 1 and name is not None else out
            planned.append((source, where))
            entries[where] = name
    return planned, entries


def check_outputs(output_dir: Path, force: bool, skip_existing: bool) -> None:
    """Refuse `-o` that names a capture file, and --force with --skip-existing."""
    if force and skip_existing:
        raise UsageError("--force replaces existing outputs, --skip-existing keeps them: give one")
    if output_dir.name.lower().endswith(".cbors"):
        raise UsageError(f"-o {output_dir}: give a directory, which gets one NAME.cbors per stream")


def bar_progress(bar: Bar, what: str | dict[str, str | None]) -> Callback:
    """A progress callback that drives a new task of `bar`, named for a file or its streams."""
    name = what if isinstance(what, str) else ", ".join(what) or "scan"
    task = bar.add_task(printable(name), total=None, bytes=0)
    return lambda done, total, nbytes: bar.update(task, completed=done, total=total, bytes=nbytes)


def print_summary(result: ConversionResult) -> None:
    """One line per stream: typ, data messages, bytes, seconds, path, and how payloads went."""
    for s in result.streams:
        if not s.fast_path:
            path = ""
        elif s.fast_path == "passthrough":
            path = " [passed through]"
        else:
            path = f" [encoded ({s.fast_path})]"
        say(
            f"{s.name}: {s.typ}, {counted(s.frames, UNITS.get(s.typ, 'frames'))} from {s.dataset}, "
            f"{s.bytes / 1e6:.1f} MB in {result.seconds:.2f} s -> {s.output}{path}"
        )
        if s.hint:
            say(f"{s.name}: tiny {s.hint}")
    for name in result.skipped:
        say(f"{name}: skipped, its output exists")


BATCH_COLUMNS = ("file", "streams", "frames", "seconds", "status")


def batch_rows(outcomes: list[FileOutcome]) -> list[list[str]]:
    """File, streams, frames, seconds, status: one row per input."""
    out = []
    for o in outcomes:
        r = o.result
        names = ", ".join([s.name for s in r.streams] + r.skipped) if r else ""
        frames = str(sum(s.frames for s in r.streams)) if r else ""
        status = o.status if o.error is None else f"failed: {o.error}"
        out.append([o.name, names, frames, f"{o.seconds:.2f}", status])
    return out
