"""A Sardana NXscan file: its scan entries, and the streams `--scan` makes of one.

Sardana's `NXscanH5_FileRecorder` keeps many scans in one file, one entry each
(`/entry<serialno>`, `definition` "NXscan", `program_name` "sardana (...)"), with one
dataset per column under `/entryN/measurement`. A scan entry becomes the `sardana`
stream (`protocols.sardana`).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence

import h5py

from ..errors import H5ToCborsError, option, quoted
from ..hdf5.open import metadata_of, open_input
from ..protocols import Steps, sardana
from ..protocols.members import member_class, member_names
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
    """(entry, title, points) of each scan entry, for `ls`: `points` says `5 points`, or
    why the entry cannot be converted."""
    found = []
    for entry in scan_entries(f):
        title, points = "", ""
        try:
            with metadata_of(f, f"/{entry}"):
                title = sardana.text(f[entry], "title") or ""
                points = f"{sardana.points_of(f[entry])} points"
        except (H5ToCborsError, OSError, KeyError, ValueError, RuntimeError) as e:
            points = f"not convertible: {e}"
        found.append((entry, title[:120], points))
    return found


def scan_streams(f: h5py.File, entry: str, wanted: Collection[str] = ()) -> list[StreamSpec]:
    """The streams of scan entry `entry` named in `wanted` (in that order), else every one:
    `sardana` first."""
    specs = [StreamSpec(sardana.NAME, f"/{entry}", sardana.NAME)]
    if not wanted:
        return specs
    by_name = {s.name: s for s in specs}
    missing = [n for n in wanted if n not in by_name]
    if missing:
        raise H5ToCborsError(
            f"/{entry} in {f.filename} has no stream {quoted(missing[0])}; its streams are "
            + ", ".join(by_name)
        )
    return [by_name[n] for n in wanted]


def scan_steps(f: h5py.File, entry: str) -> Steps:
    """The points of scan entry `entry`, one step each (a step or continuous scan)."""
    with metadata_of(f, f"/{entry}"):
        points = sardana.points_of(f[entry])
    return Steps.even(points, points) if points else Steps(())
