"""`h5tocbors ls`: the datasets of an HDF5 file and how to convert them."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .options import EXIT_CODES, Debug, Json
from .reporting import print_table, reported

if TYPE_CHECKING:
    from ..hdf5.listing import DatasetInfo, Source
    from ..scan.survey import StreamSource

EPILOG = (
    "[bold]Examples[/]\n\n"
    "h5tocbors ls run.h5\n\n"
    "h5tocbors ls run.h5 --json | jq -r '.[] | select(.image) | .stream'\n\n"
    "[bold]stream[/] marks image datasets (numeric, 2 or more dimensions) and the groups that "
    "make xspress, PandA or contrast streams with the argument to convert them, a contrast "
    "master's entries with the stream [bold]--scan[/] makes of them, and each scan of a "
    "Sardana NXscan file with its title, points and the [bold]--scan --entry[/] converting "
    "it; [bold]frames[/] says what an image dataset becomes (change it with convert's "
    "[bold]--axes[/]); [bold]fast[/] marks datasets whose stored chunks pass through "
    "without recompression.\n\n" + EXIT_CODES
)


def ls_command(
    input: Annotated[
        Path, typer.Argument(metavar="INPUT.h5", help="HDF5 file to list.", readable=False)
    ],
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    """List every dataset: path, shape, dtype, storage, and the --stream argument to convert it."""
    from ..hdf5.listing import list_datasets
    from ..hdf5.open import open_input
    from ..hdf5.unique import unique_streams
    from ..hdf5.walk import listed_paths
    from ..scan.survey import survey

    with reported(debug), open_input(input) as f:
        paths = listed_paths(f)
        datasets = with_streams(list_datasets(f, paths), survey(f, paths))
        unique_streams(datasets)
        if as_json:
            print(json.dumps([asdict(d) for d in datasets], indent=2))
        else:
            print_table(COLUMNS, rows(datasets))


def with_streams(datasets: list[DatasetInfo], sources: list[StreamSource]) -> list[DatasetInfo]:
    """The datasets, with what `--scan` makes of them, and a row for each group that makes a
    stream of another protocol (xspress, PandA, contrast)."""
    from ..hdf5.listing import DatasetInfo, stream_argument

    by_path = {d.path: d for d in datasets}
    for s in sources:
        d = by_path.get(s.path)
        if d is None:
            d = by_path[s.path] = DatasetInfo(
                s.path, None, "group", "group", None, [], False, False, None
            )
            d.stream = s.argument or stream_argument(s.path, s.protocol, s.scan)
            d.protocol, d.note = s.protocol, s.note
        elif s.note:  # a Sardana reference column: where its images are
            d.note = s.note
        d.scan = s.scan
    return sorted(by_path.values(), key=lambda d: d.path)


def storage(d: DatasetInfo) -> str:
    """`chunked 1x195x487 bitshuffle-lz4`, `virtual (2 sources, 1 missing)`, `compact none`, ..."""
    if d.layout == "link":
        return "link to nothing"
    if d.layout == "group":
        return ""
    if d.layout in ("virtual", "external", "series"):
        noun = "source" if d.layout == "virtual" else "file"
        noun += "s" if len(d.sources) != 1 else ""
        refused = sum(s.refused for s in d.sources)
        missing = sum(not s.exists for s in d.sources) - refused
        gone = "".join(
            f", {n} {word}" for n, word in ((missing, "missing"), (refused, "refused")) if n
        )
        return f"{d.layout} ({len(d.sources)} {noun}{gone})"
    chunks = " " + "x".join(map(str, d.chunks)) if d.chunks else ""
    return f"{d.layout}{chunks} " + ("+".join(d.filters) or "none")


COLUMNS = ("path", "shape", "dtype", "frames", "storage", "fast", "stream / note")
MAX_FILES = 6
"""Data files of a series that `ls` names, beside those missing."""


def files(sources: list[Source]) -> str:
    """A series' data files: `run_data_000001.h5 run_data_000002.h5 (missing)`; of many, the
    first and the last, and every one that is missing or refused.

    Example:
        >>> from h5tocbors.hdf5.listing import Source
        >>> files([Source(f"d{i}.h5", "/data", i != 5) for i in range(1, 9)])
        'd1.h5 d2.h5 … d8.h5 (8 files); missing or refused: d5.h5'
    """

    def named(s: Source) -> str:
        return s.file + ("" if s.exists else " (refused)" if s.refused else " (missing)")

    if len(sources) <= MAX_FILES:
        return " ".join(map(named, sources))
    shown = f"{sources[0].file} {sources[1].file} … {sources[-1].file} ({len(sources)} files)"
    gone = [s for s in sources if not s.exists]
    if not gone:
        return shown
    listed = ", ".join(s.file for s in gone[:MAX_FILES])
    more = f" and {len(gone) - MAX_FILES} more" if len(gone) > MAX_FILES else ""
    return f"{shown}; missing or refused: {listed}{more}"


def shape(d: DatasetInfo) -> str:
    """`20x195x487`, `scalar`, or `?` when not known."""
    if d.layout == "group":
        return ""
    if d.shape is None:
        return "?"
    return "x".join(map(str, d.shape)) or "scalar"


def frames(d: DatasetInfo) -> str:
    """What an image dataset becomes: `1 frame 195x487`, `20 frames 512x512x3`; else ""."""
    from ..hdf5.layout import FrameLayout

    if d.axes is None or d.shape is None:
        return ""
    return FrameLayout(d.axes).describe(tuple(d.shape))


def rows(datasets: list[DatasetInfo]) -> list[list[str]]:
    """The datasets as rows of `COLUMNS`."""
    out = []
    for d in datasets:
        note = d.stream or d.note
        if d.note and d.stream and (d.layout == "group" or (d.image and not d.fast_path)):
            note += f"  ({d.note})"
        if d.hint:
            note += f"  (tiny {d.hint})"
        if d.links:
            note += "  also at " + ", ".join(d.links)
        if d.scan:
            note += f"  [--scan: stream {d.scan}]"
        if d.layout == "series":
            note += "  files: " + files(d.sources)
        fast = "yes" if d.fast_path else ""
        out.append([d.path, shape(d), d.dtype, frames(d), storage(d), fast, note])
    return out
