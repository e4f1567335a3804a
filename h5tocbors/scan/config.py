"""`--config scan.toml`: the streams and points of a scan file whose layout is not contrast's.

Example (a PandABlocks-client file and an Eiger detector written beside it):

    # points are counted by this dataset's length (or give a number)
    points = "/PCAP.TS_TRIG.Value"

    [streams.panda0]
    path = "/"
    protocol = "pcap-raw"

    [streams.eiger]
    path = "/entry/data/data"
    axes = "NHW"    # optional: how the image dataset is cut into frames (--axes)

A Sardana scan's channel keys (`channel_keys`): `names_from = "capture.cbors"` and a
`[names]` table of dataset name = key. A `protocol = "sardana"` stream may give its parts
by path (`protocols.sardana_layout`: a MAX IV per-scan master):

    [streams.sardana]
    path = "/entry"
    protocol = "sardana"
    title = "/entry/title"
    start_time = "/entry/start_time"
    motors = ["/entry/instrument/xtal3_pit/value"]
    channels = ["/entry/instrument/albaem01_ch3/data"]
"""

from __future__ import annotations

import functools
import os
import re
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py

from ..capture.names import check_stream_name
from ..errors import H5ToCborsError, UsageError, quoted
from ..hdf5.layout import parse_axes
from ..hdf5.resolve import open_object
from ..protocols import MAX_STEPS, Steps, sardana, sardana_layout
from . import nxscan
from .channel_keys import config_names_from
from .plan import ScanShape
from .specs import PROTOCOL_NAMES, StreamSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOP_KEYS = {"points", "steps", "streams", "names", "names_from"}
STREAM_KEYS = {"path", "protocol", "axes"}
MAX_CONFIG_BYTES = 1 << 20
MAX_COUNT = 1 << 48
"""The most points a config may give: more than any detector records, far less than
2**63 (beyond it Python's ranges cannot say their length)."""


@dataclass(frozen=True)
class ScanConfig:
    """A parsed `--config` file: streams by name, and what counts the points and steps."""

    path: Path
    text: str
    streams: list[StreamSpec] = field(default_factory=list)
    points: int | str | None = None
    steps: int | str | None = None
    names: dict[str, str] = field(default_factory=dict)
    """`[names]`: a Sardana dataset name -> the key its records use."""
    names_from: Path | None = None
    """`names_from`: a capture of the same measurement group, keys taken from it."""

    def where(self, needle: str) -> str:
        """`scan.toml line N` for the first line that holds `needle`, else the file name."""
        for number, line in enumerate(self.text.splitlines(), start=1):
            if needle in line:
                return f"{self.path} line {number}"
        return str(self.path)

    def named(self, f: h5py.File, wanted: Sequence[str] = ()) -> list[StreamSpec]:
        """The streams named in `wanted` (in that order), else all: the config's, then a
        STINS stream per value-referenced channel of a sardana stream given by parts (as
        an NXscan entry's, `nxscan.chosen_streams`). A name the config does not give, or
        a path of theirs that `f` lacks, is refused, naming the config line."""
        own = {s.name: functools.partial(self.check_paths, f, s) for s in self.streams}
        return nxscan.chosen_streams(f, str(self.path), own, self.referenced(f), wanted)

    def check_paths(self, f: h5py.File, spec: StreamSpec) -> StreamSpec:
        """`spec`, refused if `f` lacks its path or a part's, naming the config line."""
        assert spec.path is not None
        for part, path in [("path", spec.path), *((k, p) for k, ps in spec.parts for p in ps)]:
            try:
                obj = open_object(f, path)
            except H5ToCborsError as e:
                raise H5ToCborsError(f"{self.where(path)}: streams.{spec.name}: {e}") from e
            if part != "path" and not isinstance(obj, h5py.Dataset):
                raise H5ToCborsError(
                    f"{self.where(path)}: streams.{spec.name}.{part}: {path} in {f.filename} "
                    "is a group, not a dataset"
                )
        return spec

    def referenced(self, f: h5py.File) -> dict[str, sardana.Column]:
        """The value-referenced channels (reference strings, VDS) of the sardana streams
        given by parts, by name."""
        found: dict[str, sardana.Column] = {}
        for spec in self.streams:
            if spec.parts and spec.path is not None:
                self.check_paths(f, spec)
                root = open_object(f, spec.path)
                for column in sardana_layout.channel_columns(root, dict(spec.parts)):
                    if column.kind in ("text", "vds"):
                        found.setdefault(column.name, column)
        return found

    def shape(self, f: h5py.File, specs: Sequence[StreamSpec] = ()) -> ScanShape | None:
        """The scan's points and steps, or None when the config does not count them: by
        `points` and `steps`, else by its sardana stream given by parts (its points, and
        the frames per point of the detectors among `specs`, as for an NXscan entry)."""
        described = next((s for s in self.streams if s.parts), None)
        if self.points is None and described is not None:
            assert described.path is not None
            root = open_object(f, described.path)
            layout = sardana_layout.configured_layout(root, dict(described.parts))
            points = sardana.check_count(layout.counted.dataset)
            return ScanShape(nxscan.steps_of_points(f, described.path, points, specs))
        if self.points is None:
            return None
        points = self._count(f, "points", self.points)
        steps = points if self.steps is None else self._count(f, "steps", self.steps)
        if steps > MAX_STEPS:
            raise H5ToCborsError(
                f"{self.where('steps' if self.steps is not None else 'points')}: {steps:,} "
                f"steps (steps defaults to points), more than the {MAX_STEPS:,} h5tocbors takes"
            )
        if steps < 1 or points % steps:
            raise H5ToCborsError(
                f"{self.where('steps')}: {points} points do not split into {steps} equal steps"
            )
        return ScanShape(Steps.even(points, steps))

    def _count(self, f: h5py.File, key: str, value: int | str) -> int:
        if isinstance(value, int):
            return value
        try:
            obj = open_object(f, value)
        except H5ToCborsError as e:
            raise H5ToCborsError(f"{self.where(value)}: {key}: {e}") from e
        if not isinstance(obj, h5py.Dataset) or not obj.shape:
            raise H5ToCborsError(f"{self.where(value)}: {key}: {value} is not an array to count")
        if obj.shape[0] > MAX_COUNT:
            raise H5ToCborsError(
                f"{self.where(value)}: {key}: {value} has {obj.shape[0]:,} rows, more than "
                f"{MAX_COUNT:,}"
            )
        return int(obj.shape[0])


def load_config(path: str | os.PathLike[str]) -> ScanConfig:
    """Read and check a scan config; an unknown key or a bad value names its line.

    Example:
        >>> load_config("scan.toml").streams  # doctest: +SKIP
        [StreamSpec(name='panda0', path='/', protocol='pcap-raw', axes=None)]
    """
    p = Path(path)
    try:  # opened without waiting for a writer (a FIFO), and refused unless a regular file
        with open(os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise H5ToCborsError(f"config {p} is not a regular file (a pipe or a device?)")
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise H5ToCborsError(f"cannot read config {p}: {e.strerror or e}") from e
    if len(raw) > MAX_CONFIG_BYTES:
        raise H5ToCborsError(f"config {p} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise H5ToCborsError(f"config {p} is not valid TOML: {e}") from e
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise H5ToCborsError(f"config {p} nests arrays or tables too deep") from None
    config = ScanConfig(p, text)
    unknown(config, data, TOP_KEYS, "")
    keyed = "names" in data or "names_from" in data
    streams = data.get("streams", {})
    if not isinstance(streams, dict) or not (streams or keyed):
        raise H5ToCborsError(f"{config.where('streams')}: give at least one [streams.NAME] table")
    specs = [stream_spec(config, name, table) for name, table in streams.items()]
    return ScanConfig(
        p,
        text,
        specs,
        count_value(config, "points", data.get("points")),
        count_value(config, "steps", data.get("steps")),
        names_table(config, data.get("names", {})),
        names_source(config, data.get("names_from")),
    )


def unknown(config: ScanConfig, table: dict[str, Any], known: set[str], prefix: str) -> None:
    """Refuse keys outside `known`, naming the first one and its line."""
    extra = sorted(set(table) - known)
    if extra:
        key = extra[0]
        line = config.where(re.sub(r"\s", "", key) or key)
        raise H5ToCborsError(
            f"{line}: unknown key {prefix}{key} (known: {', '.join(sorted(known))})"
        )


def stream_spec(config: ScanConfig, name: str, table: object) -> StreamSpec:
    """One `[streams.NAME]` table as a stream spec."""
    where = config.where(f"streams.{name}")
    try:
        check_stream_name(name)
    except UsageError as e:  # a fault of the file, not of the command line
        raise H5ToCborsError(f"{where}: {e}") from e
    if not isinstance(table, dict):
        raise H5ToCborsError(f"{where}: streams.{name} must be a table with path = ...")
    path, protocol = table.get("path"), table.get("protocol")
    known = STREAM_KEYS | set(sardana_layout.PARTS) if protocol == "sardana" else STREAM_KEYS
    unknown(config, table, known, f"streams.{name}.")
    if not isinstance(path, str) or not path.startswith("/"):
        raise H5ToCborsError(f"{where}: streams.{name}.path must be an HDF5 path like /entry/data")
    if protocol is not None and protocol not in PROTOCOL_NAMES:
        raise H5ToCborsError(
            f"{config.where(str(protocol))}: streams.{name}.protocol {protocol!r} is not one of "
            f"{', '.join(PROTOCOL_NAMES)}"
        )
    parts = stream_parts(config, name, table) if protocol == "sardana" else ()
    return StreamSpec(
        name, path, protocol, stream_axes(config, name, table.get("axes")), parts=parts
    )


def stream_parts(
    config: ScanConfig, name: str, table: dict[str, Any]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The paths a sardana stream gives its parts (`sardana_layout.PARTS`), or () for none:
    one path each, lists for motors and channels; `title` and `start_time` needed."""
    parts: list[tuple[str, tuple[str, ...]]] = []
    for key in sardana_layout.PARTS:
        value = table.get(key)
        if value is None:
            continue
        listed = key in sardana_layout.PATH_LISTS
        paths = value if listed and isinstance(value, list) else [value]
        if (listed and not isinstance(value, list)) or not all(
            isinstance(p, str) and p.startswith("/") for p in paths
        ):
            kind = "a list of HDF5 paths" if listed else "an HDF5 path"
            raise H5ToCborsError(
                f"{config.where(key)}: streams.{name}.{key} must be {kind} like /entry/title"
            )
        parts.append((key, tuple(paths)))
    given = [k for k, _ in parts]
    missing = [k for k in sardana_layout.REQUIRED if k not in given]
    if given and missing:
        raise H5ToCborsError(
            f"{config.where(f'streams.{name}')}: streams.{name} gives its parts by path but "
            f"not {', '.join(missing)}"
        )
    return tuple(parts)


def stream_axes(config: ScanConfig, name: str, value: object) -> str | None:
    """`axes = "HWN"` of a stream: checked, in capitals (see `hdf5.layout`)."""
    if value is None:
        return None
    where = config.where(value.strip() if isinstance(value, str) and value.strip() else name)
    if not isinstance(value, str):
        raise H5ToCborsError(f'{where}: streams.{name}.axes must be a string like "HWN"')
    try:
        return parse_axes(value, f"streams.{name}.axes")
    except UsageError as e:
        raise H5ToCborsError(f"{where}: {e}") from e


def names_table(config: ScanConfig, table: object) -> dict[str, str]:
    """`[names]`: dataset name = key, both non-empty strings."""
    if not isinstance(table, dict):
        raise H5ToCborsError(f"{config.where('names')}: names must be a table of name = key")
    for name, key in table.items():
        if not name or not isinstance(key, str) or not key:
            raise H5ToCborsError(
                f"{config.where(name or 'names')}: names: {quoted(name)} must map to a key, "
                'a non-empty string ("tango://host:10000/expchan/ctrl/1")'
            )
    return dict(table)


def names_source(config: ScanConfig, value: object) -> Path | None:
    """`names_from`: a capture in the config's folder or below (see `channel_keys`)."""
    if value is None:
        return None
    try:
        return config_names_from(value, config.path)
    except H5ToCborsError as e:
        raise H5ToCborsError(f"{config.where('names_from')}: {e}") from e


def count_value(config: ScanConfig, key: str, value: object) -> int | str | None:
    """`points`/`steps`: a positive number, or the HDF5 path of an array whose length counts."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise H5ToCborsError(f"{config.where(key)}: {key} must be a number or a dataset path")
    if isinstance(value, int) and not 1 <= value <= MAX_COUNT:
        raise H5ToCborsError(f"{config.where(key)}: {key} must be from 1 to {MAX_COUNT:,}")
    if isinstance(value, str) and not value.startswith("/"):
        raise H5ToCborsError(f"{config.where(key)}: {key} path must start with /")
    return value
