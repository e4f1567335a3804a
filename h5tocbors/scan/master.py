"""A contrast master file: its streams, named as the experiment named them, and its shape.

contrast's `Hdf5Recorder` writes `/entry/description`, `/entry/snapshots/{pre,post}_scan` and
one entry per recorded key under `/entry/measurement`: values of every step, groups for
nested detectors, and ExternalLinks into the detectors' own files. Each of these becomes a
stream: the whole scan as `contrast`, an xspress3 group as `xspress`, a PandA group as
`PCAP_RAW`, an image dataset (or a group holding one as `frames`) as `STINS`.
"""

from __future__ import annotations

from collections.abc import Collection

import h5py

from ..errors import H5ToCborsError, UsageError, option, shortened
from ..hdf5.open import metadata_of
from ..hdf5.resolve import open_object
from ..protocols import contrast, pcap_raw, stins, xspress
from ..protocols.members import member_names
from .specs import StreamSpec

REQUIRED = ("/entry/measurement", "/entry/snapshots", "/entry/description")
MEASUREMENT = "/entry/measurement"
CONTRAST = StreamSpec(contrast.NAME, "/entry", contrast.NAME)
"""The scan's own stream: everything contrast recorded."""


def is_master(f: h5py.File) -> bool:
    """True when `f` has a contrast master file's layout."""
    with metadata_of(f, "/entry"):
        return all(path in f for path in REQUIRED)


def check_master(f: h5py.File) -> None:
    """Refuse a file that is not a contrast master file, saying what it lacks."""
    with metadata_of(f, "/entry"):
        missing = [path for path in REQUIRED if path not in f]
    if missing:
        raise H5ToCborsError(
            f"{f.filename} is not a contrast master file: it has no {', '.join(missing)} "
            f"(describe other layouts with {option('config')})"
        )


def scan_streams(f: h5py.File, wanted: Collection[str] = ()) -> list[StreamSpec]:
    """The streams of a contrast scan named in `wanted` (in that order), else every stream:
    `contrast` first, then the measurement's detectors.

    Only the entries named are opened: a detector file that is missing matters only to its
    own stream. Converting every stream, a detector that cannot be converted is an error
    (`StreamsLeftOut`) that gives the streams leaving it out.

    Example:
        >>> [str(s) for s in scan_streams(f)]  # doctest: +SKIP
        ['contrast=/entry:contrast', 'panda0=/entry/measurement/panda0:pcap-raw',
         'pilatus=/entry/measurement/pilatus/frames:stins',
         'xspress3=/entry/measurement/xspress3:xspress']
    """
    check_master(f)
    keys = measurement_keys(f)
    if wanted:
        return [s for n in wanted for s in streams_named(f, n, keys)]
    specs, failed = found_streams(f, keys)
    if failed:
        raise StreamsLeftOut(failed[0], [s.name for s in specs])
    return specs


class StreamsLeftOut(H5ToCborsError):
    """A detector of a scan converted whole cannot be converted: `problem` says why, and
    `others` are the streams that can be (the message gives them in its caller's words)."""

    def __init__(self, problem: str, others: list[str]) -> None:
        given = option("streams", others)
        super().__init__(f"{problem}; to convert the other streams, give {given}")
        self.problem = problem
        self.others = others


def streams_named(f: h5py.File, name: str, keys: Collection[str]) -> list[StreamSpec]:
    """The streams named `name`: the scan's own contrast stream and a detector so named
    (two: converting them would be refused as a name used twice)."""
    specs = [CONTRAST] if name == contrast.NAME else []
    spec = key_stream(f, name) if name in keys else None
    specs += [spec] if spec is not None else []
    if not specs:
        raise H5ToCborsError(
            f"{f.filename} has no stream {shortened(name)}; its streams are "
            + ", ".join(s.name for s in found_streams(f, keys)[0])
        )
    return specs


def found_streams(f: h5py.File, keys: Collection[str]) -> tuple[list[StreamSpec], list[str]]:
    """Every stream of the scan that could be found, and why each other entry failed."""
    specs, failed = [CONTRAST], []
    for key in keys:
        try:
            spec = key_stream(f, key)
        except H5ToCborsError as e:
            failed.append(str(e))
            continue
        if spec is not None:
            specs.append(spec)
    return specs, failed


def key_stream(f: h5py.File, key: str) -> StreamSpec | None:
    """The stream of measurement entry `key`; a key that is no plain stream name is an error
    of the input (exit 1), naming the entry."""
    try:
        return detector_stream(f, f"{MEASUREMENT}/{key}", key)
    except UsageError as e:
        raise H5ToCborsError(f"{MEASUREMENT} in {f.filename}: {e}") from e


def measurement_keys(f: h5py.File) -> list[str]:
    """The names in a master file's `/entry/measurement`."""
    with metadata_of(f, MEASUREMENT):
        measurement = f[MEASUREMENT]
    if not isinstance(measurement, h5py.Group):
        raise H5ToCborsError(f"{MEASUREMENT} in {f.filename} is not a group")
    return member_names(measurement)


def detector_stream(f: h5py.File, path: str, key: str) -> StreamSpec | None:
    """The stream a measurement entry makes, or None when it is only a value of the scan.

    A group linked from a detector's own file, or a group with PandA field names, that
    fits no protocol is an error: its data would be silently left out.
    """
    with metadata_of(f, path):
        link = f.get(path, getlink=True)
    linked = isinstance(link, h5py.ExternalLink)
    obj = open_object(f, path)  # a linked file that is missing is an error naming it
    with metadata_of(obj.file, obj.name):  # the group may lie in a detector's file
        if isinstance(obj, h5py.Dataset):
            fits = linked and stins.fits(obj) is None
            return StreamSpec(key, path, stins.NAME) if fits else None
        reasons = []
        for module in (xspress, pcap_raw):
            why = module.fits(obj)
            if why is None:
                return StreamSpec(key, path, module.NAME)
            reasons.append(f"{module.NAME}: {why}")
        if stins.fits(obj) is None:  # an image series: a DECTRIS master's /entry/data
            return StreamSpec(key, path, stins.NAME)
        if obj.get("frames", getlink=True) is not None:
            image = open_object(f, f"{path}/frames")
            if stins.fits(image) is None:
                return StreamSpec(key, f"{path}/frames", stins.NAME)
        fields = any(pcap_raw.FIELD.fullmatch(name) for name in member_names(obj))
    if linked or fields:
        where = f" (a link to {link.path} in {link.filename})" if linked else ""
        raise H5ToCborsError(
            f"{path}{where} in {f.filename} looks like a detector but fits no stream protocol: "
            + "; ".join(reasons)
        )
    return None
