"""`h5tocbors verify`: decode every frame of captures and compare it with the HDF5 source."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import H5ToCborsError, UsageError, shortened
from ..hdf5.selection import parse_frames
from ..verify import StreamCheck
from .options import EXIT_CODES, AxesOption, Debug, Frames, Json, counted, parse_streams
from .reporting import reported, say

if TYPE_CHECKING:
    import h5py

EPILOG = (
    "[bold]Examples[/]\n\n"
    "h5tocbors verify run.h5 out/*.cbors\n\n"
    "h5tocbors verify run.h5 cap/eiger.cbors -s eiger=/entry/instrument/eiger/data\n\n"
    "h5tocbors verify scan.h5 out/pilatus.cbors --frames 5:205:10\n\n"
    "h5tocbors verify 000008.h5 out/*.cbors --scan\n\n"
    "A capture made by h5tocbors records its dataset (or Eiger series), frames and axes: "
    "nothing else is needed. Otherwise streams are matched to datasets the way [bold]convert[/] "
    "does, by the stream's name; --stream NAME=DATASET, --frames and --axes win over both. "
    "With --scan (or --config) every stream of the scan is made again and compared message by "
    "message (images, spectra and meta bit for bit, PandA values exactly, contrast values key "
    "by key); give the same --frames and --axes as for the conversion. "
    "A stream that none of these checks (contrast, PandA without --scan) is named with the "
    "option that would check it. Exit 0 when everything matches; exit 1 naming the first "
    "stream, event and key that differ, or the streams not checked.\n\n" + EXIT_CODES
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
    axes: AxesOption = [],  # noqa: B006
    scan: Annotated[
        bool,
        typer.Option(
            "--scan",
            help="INPUT is a contrast master file or a Sardana NXscan file: check every stream.",
        ),
    ] = False,
    entry: Annotated[
        str | None,
        typer.Option(
            "--entry", metavar="ENTRY", help="With --scan, the scan of an NXscan file (entry12)."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", metavar="SCAN.toml", help="The scan layout used to convert."),
    ] = None,
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    """Prove captures exact: every message matches what the HDF5 file gives, bit for bit."""
    from ..hdf5.open import open_input
    from ..scan.config import load_config
    from ..scan.specs import EVERY, parse_axes_options
    from ..verify.images import verify_capture
    from ..verify.streams import (
        recorded_selection,
        unchecked_streams,
        verify_recorded,
        verify_streams,
    )

    with reported(debug):
        datasets = parse_streams(stream or [])
        selection = parse_frames(frames) if frames is not None else None
        cut = parse_axes_options(axes)
        scan_config = load_config(config) if config is not None else None
        with open_input(input) as f:
            if scan or scan_config is not None:
                if selection is None:  # as the captures say they were made (an aborted scan's part)
                    selection = recorded_selection(files)
                checks = verify_streams(
                    f,
                    files,
                    datasets,
                    scan=scan,
                    config=scan_config,
                    frames=selection,
                    axes=cut,
                    entry=entry,
                )
            else:
                typs: dict[str, dict[str, str]] = {str(p): {} for p in files}
                checks = [
                    c
                    for p in files
                    for c in verify_capture(f, p, datasets, selection, cut, typs[str(p)])
                ]
                unknown = set(cut) - {EVERY} - {c.stream for c in checks}
                if unknown:
                    name = sorted(unknown)[0]
                    raise UsageError(
                        f"--axes {name}={cut[name]}: no image stream {name} in "
                        + ", ".join(map(str, files))
                    )
                others = {n: p for n, p in datasets.items() if p and not is_stins(f, p)}
                if others:
                    checks += verify_streams(f, files, others, frames=selection, only=set(others))
                checks += [c for p in files for c in verify_recorded(f, p, datasets, selection)]
                checks += unchecked_streams(typs, checks)
        if as_json:
            print(json.dumps([asdict(c) | {"ok": c.ok} for c in checks], indent=2))
        else:
            for c in checks:
                say(line(c))
        if not checks:
            raise H5ToCborsError(
                "no STINS image stream in " + ", ".join(map(str, files)) + " (for the other "
                "streams of a scan give --scan, or --stream NAME=PATH)"
            )
        failed = next((c for c in checks if not c.ok and not c.unchecked), None)
        if failed is not None:
            raise H5ToCborsError(f"{failed.capture} stream {failed.stream}: {verdict(failed)}")
        unchecked = [
            f"{c.capture} {shortened(c.stream)} ({c.unchecked})" for c in checks if c.unchecked
        ]
        if unchecked:
            raise H5ToCborsError(
                f"{counted(len(unchecked), 'streams')} not checked: {'; '.join(unchecked)}"
            )


def is_stins(f: h5py.File, path: str) -> bool:
    """True when `--stream NAME=PATH` names an image stream (checked by `verify_capture`)."""
    import h5py

    from ..hdf5.resolve import open_object
    from ..protocols import stins
    from ..scan.specs import StreamSpec

    spec = StreamSpec.parse("stream", path)
    if spec.protocol is not None:
        return spec.protocol == stins.NAME
    try:
        obj = open_object(f, spec.path or "/")
    except H5ToCborsError:
        return True  # verify_capture names what is wrong with it
    return isinstance(obj, h5py.Dataset) or stins.fits(obj) is None  # an image series


def verdict(c: StreamCheck) -> str:
    """What is wrong with a stream, in one phrase."""
    if c.frames == 0:
        return "no image frames" if c.unit == "frames" else "no messages"
    counts = f"{c.differing} of {c.frames} {c.unit} differ"
    if c.missing:
        counts += f", {c.missing} source {c.unit} missing"
    return f"{c.first_difference}; {counts}{elsewhere(c)}"


def elsewhere(c: StreamCheck) -> str:
    """` (the capture was made from OTHER.h5)`, when it says so; else ""."""
    return f" (the capture was made from {c.made_from})" if c.made_from else ""


def line(c: StreamCheck) -> str:
    """One line per stream."""
    if c.unchecked:
        return f"{c.capture} {shortened(c.stream)}: not checked ({c.unchecked})"
    if c.ok:
        counts = counted(c.frames, c.unit)
        return f"{c.capture} {c.stream}: {counts} identical to {c.dataset}{elsewhere(c)}"
    missing = f", {c.missing} source {c.unit} missing" if c.missing else ""
    return (
        f"{c.capture} {c.stream}: {c.differing} of {c.frames} {c.unit} differ from "
        f"{c.dataset}{missing}{elsewhere(c)}"
    )
