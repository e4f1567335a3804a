"""The keys a Sardana scan's records use for its NXscan columns.

Sardana's `NXscanH5_FileRecorder` names each `/entryN/measurement` dataset by the column's
label, sanitized (`sanitize`), while the `sardana` stream keys a channel's value by its full
name (a Tango URI). A dataset's key is its own name unless a `[names]` table of `--config`
gives one, or `names_from` names a real capture of the same measurement group: its
DataDescription's `column_desc` maps labels to names, and the reference strings of its
records name the file and group of each referenced channel (a detector).

Example:
    >>> channel_keys(["Pt_No", "albaem01_ch3"], {"albaem01_ch3": "tango://h:1/expchan/a/4"})
    {'Pt_No': 'Pt_No', 'albaem01_ch3': 'tango://h:1/expchan/a/4'}
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TypeVar

from ..capture.read import RawMessage, read_messages
from ..errors import H5ToCborsError, quoted
from ..protocols.jsonframe import json_header

T = TypeVar("T")
SARDANA_TYP = "sardana"
MAX_JSON_BYTES = 64 << 20
"""The largest sardana message `names_from` parses (a record of long 1-D channels)."""
MAX_RECORDS = 16
"""Records read for references: a channel may be null in the first ones."""


def sanitize(label: str) -> str:
    """A column label as Sardana's NXscan recorder names its dataset (`sanitizeName`,
    sardana 3.7.1): `_` before a leading digit, spaces to `_`, other characters that are
    neither alphanumeric nor `_` dropped.

    Example:
        >>> sanitize("#Pt No"), sanitize("albaem-01_ch3"), sanitize("2theta")
        ('Pt_No', 'albaem01_ch3', '_2theta')
    """
    if label[:1].isdigit():
        label = f"_{label}"
    return "".join(c for c in label.replace(" ", "_") if c.isalnum() or c == "_")


def reference_parts(reference: str) -> tuple[str, str] | None:
    """The file name (last component) and group (no outer slashes) a channel's reference
    names, or None for a plain string value: MAX IV's `/path/f.h5:entry/instrument/det/`
    and Sardana's `h5file:///path/f.h5::/entry/data` alike.

    Example:
        >>> reference_parts("/data/raw/scan-21503_eiger_xes.h5:entry/instrument/eiger_xes/")
        ('scan-21503_eiger_xes.h5', 'entry/instrument/eiger_xes')
        >>> reference_parts("h5file:///data/raw/pil.h5::/entry/data")
        ('pil.h5', 'entry/data')
    """
    path = re.sub(r"^(h5)?file://", "", reference)
    name, sep, group = path.partition("::")
    if not sep:
        name, sep, group = path.rpartition(":")
        if not sep and path == reference:  # no scheme, no group: a plain string value
            return None
        if not sep:
            name, group = path, ""
    file = PurePosixPath(name).name
    return (file, group.strip("/")) if file else None


@dataclass(frozen=True)
class CaptureNames:
    """What a real sardana capture tells of its channels' keys."""

    labels: dict[str, str] = field(default_factory=dict)
    """Sanitized `column_desc` label -> the column's name."""
    references: dict[str, str] = field(default_factory=dict)
    """Record key -> the reference string recorded for it (referenced channels)."""


def capture_names(path: str | os.PathLike[str]) -> CaptureNames:
    """The labels and references of the sardana stream of capture `path`.

    Its first message must hold the stream's DataDescription (dranspose records it on
    event 0); a few records after it give the references.
    """
    messages = read_messages(path)  # closed when dropped, read or not
    first = next(messages, None)
    frames = sardana_frames(first)
    if first is None or frames is None:
        held = (", ".join(map(quoted, first.streams)) or "none") if first else "no message"
        raise H5ToCborsError(f"{path} holds no sardana stream (its first message: {held})")
    description = sardana_json(path, first.event_number, frames)
    if description.get("type") != "DataDescription":
        raise H5ToCborsError(
            f"{path}: the sardana stream starts with {quoted(str(description.get('type')))}"
            ", not a DataDescription"
        )
    labels = column_labels(path, description.get("column_desc"))
    references: dict[str, str] = {}
    records = 0
    for message in messages:
        frames = sardana_frames(message)
        body = {} if frames is None else sardana_json(path, message.event_number, frames)
        if body.get("type") == "RecordEnd" or records == MAX_RECORDS:
            break
        if body.get("type") == "RecordData":
            records += 1
            for key, value in body.items():
                if isinstance(value, str) and key != "type" and reference_parts(value):
                    references.setdefault(key, value)
    return CaptureNames(labels, references)


def sardana_frames(message: RawMessage | None) -> list[bytes] | None:
    """The frames of the sardana stream in `message`, None when it has none."""
    streams = message.streams.values() if message else ()
    return next((s.frames for s in streams if s.typ == SARDANA_TYP), None)


def sardana_json(
    path: str | os.PathLike[str], event: int, frames: list[bytes]
) -> dict[str, object]:
    """The JSON object of one sardana message; anything else is refused, naming the event."""
    body = json_header(frames) if frames and len(frames[0]) <= MAX_JSON_BYTES else None
    if body is None:
        raise H5ToCborsError(f"{path}: event {event}: the sardana message is not a JSON object")
    return body


def column_labels(path: str | os.PathLike[str], columns: object) -> dict[str, str]:
    """Sanitized label -> name for each column of a DataDescription's `column_desc`."""
    if not isinstance(columns, list):
        raise H5ToCborsError(f"{path}: the DataDescription has no column_desc list")
    labels: dict[str, str] = {}
    for column in columns:
        name = column.get("name") if isinstance(column, dict) else None
        label = column.get("label") if isinstance(column, dict) else None
        if not isinstance(name, str) or not isinstance(label, str) or not name or not label:
            raise H5ToCborsError(
                f"{path}: a column_desc entry without a name and a label: {quoted(str(column))}"
            )
        labels.setdefault(sanitize(label), name)
    return labels


def reference_names(reference: str) -> set[str]:
    """The dataset names a referenced channel likely has: its group's last component and
    the file's name after MAX IV's `scan-N_` (`scan-21503_eiger_xes.h5` -> `eiger_xes`)."""
    parts = reference_parts(reference)
    if parts is None:
        return set()
    file, group = parts
    stem = re.sub(r"^scan-\d+_", "", file.rsplit(".", 1)[0])
    return {sanitize(n) for n in (stem, group.rsplit("/", 1)[-1]) if n}


def referenced_keys(
    datasets: list[str], found: Mapping[str, str], recorded: Mapping[str, str]
) -> dict[str, str]:
    """Dataset -> record key for referenced channels: the dataset whose own reference
    (`recorded`) names the same file and group, else the one its name points to; a
    dataset or key that could be matched twice is left unmatched. Each reference is
    parsed once, and matched by lookup: many datasets and keys take no quadratic time."""
    by_parts = keys_by(found, lambda ref: [reference_parts(ref)])
    alone = {parts: listed[0] for parts, listed in by_parts.items() if len(listed) == 1}
    keys = unique_pairs(  # a reference several keys share matches no dataset alone
        (name, alone[parts])
        for name in datasets
        if name in recorded and (parts := reference_parts(recorded[name])) in alone
    )
    matched = set(keys.values())
    by_name = keys_by({k: r for k, r in found.items() if k not in matched}, reference_names)
    keys.update(
        unique_pairs(
            (name, key) for name in datasets if name not in keys for key in by_name.get(name, [])
        )
    )
    return keys


def keys_by(found: Mapping[str, str], matches: Callable[[str], Iterable[T]]) -> dict[T, list[str]]:
    """The keys of `found` by each match their reference gives."""
    index: dict[T, list[str]] = {}
    for key, ref in found.items():
        for match in matches(ref):
            index.setdefault(match, []).append(key)
    return index


def unique_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The (dataset, key) pairs whose dataset and key are in no other pair."""
    listed = list(pairs)
    names = Counter(name for name, _ in listed)
    keys = Counter(key for _, key in listed)
    return {name: key for name, key in listed if names[name] == 1 and keys[key] == 1}


def channel_keys(
    dataset_names: Iterable[str],
    names: Mapping[str, str] | None = None,
    names_from: str | os.PathLike[str] | None = None,
    references: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Dataset name -> the key the sardana stream writes it under.

    By default a dataset's own name; `names_from` (a capture of the same measurement
    group, see `capture_names`) maps labels and references; `names` (a config's `[names]`)
    wins over both. `references` gives the reference string each referenced dataset holds
    (its first point's), so a detector is matched by its file and group; without it, by
    the detector's file or group name.
    """
    datasets = list(dataset_names)
    keys = {name: name for name in datasets}
    if names_from is not None:
        got = capture_names(names_from)
        labelled = {n: got.labels[n] for n in datasets if n in got.labels}
        rest = [n for n in datasets if n not in labelled]
        taken = set(labelled.values())
        found = {k: r for k, r in got.references.items() if k not in taken}
        keys.update(labelled)
        keys.update(referenced_keys(rest, found, references or {}))
    if names:
        keys.update((n, names[n]) for n in datasets if n in names)
    return keys


def config_names_from(value: object, config: Path) -> Path:
    """`names_from` of config file `config`: a capture in the config's folder or below."""
    if not isinstance(value, str) or not value:
        raise H5ToCborsError("names_from must be the file name of a capture")
    folder = Path(os.path.realpath(config)).parent
    real = Path(os.path.realpath(folder / value))
    if not real.is_relative_to(folder):
        raise H5ToCborsError(f"names_from {quoted(value)} is outside {folder}, refused")
    if not real.is_file():
        raise H5ToCborsError(f"names_from {quoted(value)} is not a file in {folder}")
    return real
