"""A Sardana scan whose parts a `--config` gives by path (a MAX IV per-scan master).

MAX IV's per-scan masters keep one scan per file: `/entry/title`, `/entry/start_time`,
each motor's positions as `/entry/instrument/<motor>/value`, each channel's values as
`/entry/instrument/<label>/data`. A `[streams.NAME]` table with `protocol = "sardana"`
names these paths (`PARTS`); the sardana writer takes the scan from them as it takes an
NXscan entry's (`sardana.ScanLayout`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

import h5py
import numpy as np

from ..errors import H5ToCborsError, quoted
from ..hdf5.resolve import open_object
from .sardana import Column, ScanLayout, column_kind, recorded_name, text_of

ONE_PATH = ("title", "start_time", "end_time", "serialno", "point_nb", "timestamp")
"""Parts given by one dataset path each; `title` and `start_time` are required."""
PATH_LISTS = ("motors", "channels")
"""Parts given by a list of dataset paths."""
PARTS = (*ONE_PATH, *PATH_LISTS)
REQUIRED = ("title", "start_time")
VALUE_NAMES = ("value", "data")
"""Dataset names that stand for the group holding them (`/entry/instrument/mot/value`)."""


def column_name(path: str) -> str:
    """The name a column is known by: the group holding its `value` or `data`, else its own.

    Example:
        >>> column_name("/entry/instrument/xtal3_pit/value"), column_name("/entry/dt")
        ('xtal3_pit', 'dt')
    """
    parts = PurePosixPath(path).parts
    if len(parts) > 2 and parts[-1] in VALUE_NAMES:
        return parts[-2]
    return parts[-1]


def _dataset(root: h5py.Group | h5py.Dataset, part: str, path: str) -> h5py.Dataset:
    obj = open_object(root.file, path)
    if not isinstance(obj, h5py.Dataset):
        raise H5ToCborsError(f"{part} {path} in {root.file.filename} is a group, not a dataset")
    return obj


def _column(root: h5py.Group | h5py.Dataset, part: str, path: str) -> Column:
    dataset = _dataset(root, part, path)
    return Column(column_name(path), dataset, column_kind(dataset))


def _serialno(root: h5py.Group | h5py.Dataset, path: str | None) -> int:
    """The scan's serial number: the dataset at `path` (a number or its text), else the last
    number in the file's name (`scan-21503.h5`, `021503.h5`)."""
    if path is None:
        name = PurePosixPath(str(root.file.filename)).name
        found = re.findall(r"\d+", name.rsplit(".", 1)[0])
        if not found:
            raise H5ToCborsError(
                f"{root.file.filename}: no serial number in the file's name; give serialno"
            )
        return int(found[-1])
    dataset = _dataset(root, "serialno", path)
    if dataset.dtype.kind in "iu" and dataset.size == 1:
        return int(np.asarray(dataset[()]).reshape(-1)[0])
    given = text_of(dataset)
    try:
        return int(given)
    except ValueError as e:
        raise H5ToCborsError(f"serialno {path}: {quoted(given)} is no integer") from e


def channel_columns(
    root: h5py.Group | h5py.Dataset, parts: Mapping[str, Sequence[str]]
) -> list[Column]:
    """The channels `parts` name, in the file of `root`."""
    return [_column(root, "channels", p) for p in parts.get("channels", ())]


def configured_layout(
    root: h5py.Group | h5py.Dataset, parts: Mapping[str, Sequence[str]]
) -> ScanLayout:
    """The scan `parts` describe in the file of `root` (the stream's path): one path per
    part of `ONE_PATH`, lists of paths for `motors` and `channels`."""
    one = {k: v[0] for k, v in parts.items() if k in ONE_PATH and v}
    missing = [k for k in REQUIRED if k not in one]
    if missing:
        raise H5ToCborsError(f"a sardana scan described by paths needs {', '.join(missing)}")
    point = _column(root, "point_nb", one["point_nb"]) if "point_nb" in one else None
    time = _column(root, "timestamp", one["timestamp"]) if "timestamp" in one else None
    return ScanLayout(
        source=root.name or "/",
        where=f"{root.name} in {root.file.filename}",
        title=text_of(_dataset(root, "title", one["title"])),
        serialno=_serialno(root, one.get("serialno")),
        recorded=recorded_name(root),
        starttime=text_of(_dataset(root, "start_time", one["start_time"])),
        endtime=text_of(_dataset(root, "end_time", one["end_time"])) if "end_time" in one else None,
        motors=[_column(root, "motors", p) for p in parts.get("motors", ())],
        channels=channel_columns(root, parts),
        point=point,
        time=time,
    )
