"""A Sardana NXscan file: its scan entries, and the streams `--scan` makes of one.

Sardana's `NXscanH5_FileRecorder` keeps many scans in one file, one entry each
(`/entry<serialno>`, `definition` "NXscan", `program_name` "sardana (...)"), with one
dataset per column under `/entryN/measurement`. A scan entry becomes the `sardana`
stream (`protocols.sardana`) and one STINS stream per value-referenced channel (a detector
file's images, found beside the input; or a VDS column).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path

import h5py

from ..errors import H5ToCborsError, option, quoted, shortened
from ..hdf5.open import metadata_of, open_input, open_referenced
from ..hdf5.resolve import open_object
from ..hdf5.walk import BrokenLink, follow
from ..protocols import Steps, sardana
from ..protocols.members import member_class, member_names
from .channel_keys import channel_keys
from .references import locate_beside, parse_reference
from .specs import StreamSpec

MAX_ENTRIES_LISTED = 20
"""Entries an error lists by name; the rest are counted."""


def _is_scan_entry(f: h5py.File, name: str) -> bool:
    """True when `/name` is an entry Sardana recorded (by `definition` or `program_name`)."""
    if member_class(f, name) is not h5py.Group:
        return False
    group = f[name]
    definition = sardana.text(group, "definition") if "definition" in group else None
    program = sardana.text(group, "program_name") if "program_name" in group else None
    return definition == "NXscan" or (program or "").startswith("sardana")


def scan_entries(f: h5py.File) -> list[str]:
    """The names of the root's Sardana scan entries, in the file's order (`[]`: no NXscan file)."""
    with metadata_of(f, "/"):
        found = []
        for name in member_names(f):
            try:
                if _is_scan_entry(f, name):
                    found.append(name)
            except (H5ToCborsError, OSError, KeyError, ValueError, RuntimeError):
                continue  # a corrupt entry is no scan entry to list
        return found


def is_nxscan(f: h5py.File) -> bool:
    """True when `f` holds at least one Sardana scan entry."""
    return bool(scan_entries(f))


def _listed(entries: Sequence[str]) -> str:
    shown = ", ".join(entries[:MAX_ENTRIES_LISTED])
    more = len(entries) - MAX_ENTRIES_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def pick_entry(f: h5py.File, entry: str | None) -> str:
    """The scan entry to convert: `entry`, or the file's only one; its `measurement` checked."""
    entries = scan_entries(f)
    if entry is None:
        if len(entries) != 1:
            raise H5ToCborsError(
                f"{f.filename} holds {len(entries)} scan entries ({_listed(entries)}): "
                f"pick with {option('entry', metavar='ENTRY')}"
            )
        entry = entries[0]
    elif entry.strip("/") not in entries:
        raise H5ToCborsError(
            f"{option('entry', entry)}: {f.filename} has no scan entry {quoted(entry)}; "
            f"its scan entries are {_listed(entries) or 'none'}"
        )
    entry = entry.strip("/")
    with metadata_of(f, f"/{entry}"):
        if member_class(f[entry], "measurement") is not h5py.Group:
            raise H5ToCborsError(
                f"/{entry} in {f.filename} has no measurement group: the scan recorded nothing"
            )
    return entry


def entries_to_convert(path: str | os.PathLike[str], given: Sequence[str]) -> list[str | None]:
    """The entries a `--scan` conversion of `path` makes: `given` (each checked), else every
    scan entry of an NXscan file; `[None]` for any other file."""
    with open_input(path) as f:
        entries = scan_entries(f)
        if not entries:
            if given:
                raise H5ToCborsError(
                    f"{option('entry', given[0])}: {f.filename} is no Sardana NXscan file"
                )
            return [None]
        if not given:
            return list(entries)
        return [pick_entry(f, e) for e in given]


def scan_sources(f: h5py.File) -> list[tuple[str, str, str]]:
    """(entry, title, points) of each scan entry, for `ls`: `points` says `5 points`, and
    why the entry cannot be converted (whole) if it cannot."""
    found = []
    for entry in scan_entries(f):
        title, points = "", ""
        try:
            with metadata_of(f, f"/{entry}"):
                title = sardana.text(f[entry], "title") or ""
                count = sardana.points_of(f[entry])
                points = f"{count} points"
                layout = sardana.nxscan_layout(f[entry])
                sardana.check_lengths(layout.columns, layout.counted, count)
        except (H5ToCborsError, OSError, KeyError, ValueError, RuntimeError) as e:
            points = f"{points}; {e}" if points else f"not convertible: {e}"
        found.append((entry, title[:120], points))
    return found


def scan_streams(f: h5py.File, entry: str, wanted: Collection[str] = ()) -> list[StreamSpec]:
    """The streams of scan entry `entry` named in `wanted` (in that order), else every one:
    `sardana` first, then a STINS stream per value-referenced channel, named after its
    dataset. Only the detectors named are located: a missing file matters to its own."""
    own = {sardana.NAME: lambda: StreamSpec(sardana.NAME, f"/{entry}", sardana.NAME)}
    where = f"/{entry} in {f.filename}"
    return chosen_streams(f, where, own, referenced_columns(f, entry), wanted)


def chosen_streams(
    f: h5py.File,
    where: str,
    own: Mapping[str, Callable[[], StreamSpec]],
    referenced: Mapping[str, sardana.Column],
    wanted: Collection[str],
) -> list[StreamSpec]:
    """The streams named in `wanted` (in that order), else every one: `own`'s (each made
    when taken), then a STINS stream per value-referenced channel not among them
    (`detector_stream`). A name neither gives is refused, listing the streams of `where`."""
    names = listed_streams(own, referenced)
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise H5ToCborsError(
            f"{where} has no stream {', '.join(map(shortened, unknown))}; its streams are "
            + ", ".join(names)
        )
    return [own[n]() if n in own else detector_stream(f, referenced[n]) for n in wanted or names]


def listed_streams(own: Collection[str], referenced: Iterable[str]) -> list[str]:
    """The names of a Sardana scan's streams: `own`, then its referenced channels not
    among them."""
    return [*own, *(n for n in referenced if n not in own)]


def record_keys(
    f: h5py.File,
    entry: str,
    names: Mapping[str, str],
    names_from: str | os.PathLike[str] | None,
) -> dict[str, str]:
    """The keys an entry's records use for its datasets: a config's `[names]` and
    `names_from` applied (`channel_keys`), each referenced channel matched by its first
    point's reference."""
    with metadata_of(f, f"/{entry}/measurement"):
        found = sardana.columns(f[entry]["measurement"])
        references = {
            c.name: sardana.string_at(c.dataset, 0)
            for c in found
            if c.kind == "text" and c.dataset.shape[0]
        }
    return channel_keys([c.name for c in found], names, names_from, references)


def stream_names(f: h5py.File, entry: str) -> list[str]:
    """The names of an entry's streams, without locating its detectors."""
    return listed_streams([sardana.NAME], referenced_columns(f, entry))


def referenced_columns(f: h5py.File, entry: str) -> dict[str, sardana.Column]:
    """The value-referenced channels of an entry (reference strings, VDS), by name."""
    with metadata_of(f, f"/{entry}/measurement"):
        found = sardana.columns(f[entry]["measurement"])
    return {c.name: c for c in found if c.kind in ("text", "vds")}


def detector_stream(f: h5py.File, column: sardana.Column) -> StreamSpec:
    """The STINS stream of a value-referenced channel: a VDS column's own images, or the
    images (`<group>/data`) of the file and group its references name, found beside the
    input. Every point must reference the same file and group."""
    dataset = column.dataset
    if column.kind == "vds" or dataset.shape[0] == 0:
        return StreamSpec(column.name, dataset.name, "stins")
    first, last = (sardana.string_at(dataset, i) for i in (0, dataset.shape[0] - 1))
    reference = parse_reference(first)
    if parse_reference(last) != reference:
        raise H5ToCborsError(
            f"{dataset.name} in {f.filename} references {quoted(first)} and {quoted(last)}: "
            "one file per point is not supported (Sardana's h5file references become a VDS)"
        )
    found = locate_beside(reference.file, Path(f.filename))
    with metadata_of(str(found), reference.path):
        try:
            target = follow(open_referenced(found), reference.path)
        except BrokenLink as e:
            raise H5ToCborsError(
                f"{dataset.name} in {f.filename} references {reference.path} in {found}, "
                f"which is not there ({e})"
            ) from e
        if isinstance(target, h5py.Group) and "data" in target:
            path = f"{reference.path.rstrip('/')}/data"
        else:
            path = reference.path
    return StreamSpec(column.name, path, "stins", file=str(found))


def scan_steps(f: h5py.File, entry: str, specs: Sequence[StreamSpec] = ()) -> Steps:
    """The points of scan entry `entry` as steps, and the frames of its detectors as the
    points within them: one each (a step or continuous scan), or k frames per point (a
    burst scan), as the detectors' image counts say. With every detector left out of
    `specs`, those whose files are here still say it (events stay as at the experiment)."""
    with metadata_of(f, f"/{entry}"):
        points = sardana.points_of(f[entry])
    return steps_of_points(f, f"/{entry}", points, specs, entry)


def steps_of_points(
    f: h5py.File, scan: str, points: int, specs: Sequence[StreamSpec], entry: str | None = None
) -> Steps:
    """The steps of a Sardana scan (at `scan`) of `points` points: its detectors' frames
    per point (`scan_steps`); for an NXscan `entry`, those of detectors left out too."""
    per_point = {_burst(f, spec, points) for spec in specs if spec.protocol == "stins"}
    if not per_point and entry is not None:
        per_point = _left_out_burst(f, entry, points)
    if len(per_point) > 1:
        raise H5ToCborsError(
            f"{scan} in {f.filename}: its detectors take different numbers of frames per "
            f"point ({', '.join(map(str, sorted(per_point)))}); convert them apart with "
            + option("streams", metavar="NAME")
        )
    k = per_point.pop() if per_point else 1
    return Steps.even(points * k, points) if points else Steps(())


def _left_out_burst(f: h5py.File, entry: str, points: int) -> set[int]:
    """Frames per point of an entry's detectors that can be read (none: `{1}`, 1:1 events);
    one that cannot (its file missing) or that disagrees is not converted, so not refused."""
    found = set()
    for column in referenced_columns(f, entry).values():
        try:
            found.add(_burst(f, detector_stream(f, column), points))
        except (H5ToCborsError, OSError, KeyError, ValueError, RuntimeError):
            continue
    return found if len(found) == 1 else {1}


def _burst(f: h5py.File, spec: StreamSpec, points: int) -> int:
    """Frames per point of a detector: its image count over the points (1 for as many or
    fewer: an aborted scan is the planner's to report); neither is an error naming both."""
    root = open_referenced(Path(spec.file)) if spec.file else f
    with metadata_of(root, spec.path or ""):
        images = open_object(root, spec.path or "/")  # as the planner opens it, prefixes and all
        frames = images.shape[0] if isinstance(images, h5py.Dataset) and images.ndim >= 3 else 1
    if frames <= points or not points:
        return 1
    if frames % points:
        raise H5ToCborsError(
            f"stream {spec.name} ({spec.path}) has {frames} frames, neither the scan's "
            f"{points} points nor a multiple of them"
        )
    return frames // points
