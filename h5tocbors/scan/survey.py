"""What `ls` tells about streams beyond image datasets: the groups that make xspress or
PandA streams, and the stream `convert --scan` makes of each entry of a contrast master or
of a Sardana NXscan file."""

from __future__ import annotations

from dataclasses import dataclass
from os.path import relpath
from pathlib import Path

import h5py

from ..errors import H5ToCborsError
from ..hdf5.walk import follow
from ..protocols import contrast, registry, sardana
from . import nxscan
from .master import MEASUREMENT, detector_stream, is_master, measurement_keys

HDF5_ERRORS = (OSError, RuntimeError, KeyError, ValueError)
"""What h5py raises for corrupt metadata, which `ls` names on the datasets it lists."""


@dataclass(frozen=True)
class StreamSource:
    """A dataset or group a stream is made from: its protocol, and its name under `--scan`."""

    path: str
    protocol: str
    scan: str | None = None
    argument: str | None = None
    """What converts it, where that is not `--stream NAME=PATH` (`--scan --entry entry12`)."""
    note: str = ""


def survey(f: h5py.File, paths: list[str]) -> list[StreamSource]:
    """Every group of `f` at `paths` (`listed_paths`: in `f` and the files its links lead
    to) that a protocol other than STINS makes a stream of, what `--scan` makes of a
    contrast master's entries, and the scan entries of a Sardana NXscan file.

    Example:
        >>> [(s.path, s.protocol, s.scan) for s in survey(f, listed_paths(f))][:2]  # doctest: +SKIP
        [('/entry', 'contrast', 'contrast'), ('/entry/measurement/panda0', 'pcap-raw', 'panda0')]
    """
    found: dict[str, StreamSource] = {}
    for path in ["", *paths]:
        try:
            group = follow(f, "/" + path)
        except (H5ToCborsError, *HDF5_ERRORS):
            continue  # `ls` names dangling, refused and corrupt links among the datasets
        if not isinstance(group, h5py.Group):
            continue
        for module in registry.listed():
            try:
                fits = registry.unasked(module, group) is None
            except (H5ToCborsError, *HDF5_ERRORS):
                fits = False  # missing or corrupt: `ls` names it on the datasets
            if fits:  # the first that fits, as auto-detection chooses
                found["/" + path] = StreamSource("/" + path, module.NAME)
                break
    if is_master(f):
        found["/entry"] = StreamSource("/entry", contrast.NAME, "contrast")
        for key in measurement_keys(f):
            path = f"{MEASUREMENT}/{key}"
            try:
                spec = detector_stream(f, path, key)
            except (H5ToCborsError, *HDF5_ERRORS):
                continue  # converting says what is wrong with it
            if spec is not None and spec.path is not None and spec.protocol is not None:
                found[spec.path] = StreamSource(spec.path, spec.protocol, spec.name)
    for entry, title, points in nxscan.scan_sources(f):
        found[f"/{entry}"] = StreamSource(
            f"/{entry}",
            sardana.NAME,
            sardana.NAME,
            f"--scan --entry {entry}",
            f"{title} ({points})",
        )
        for source in sardana_detectors(f, entry):
            found[source.path] = source
    return sorted(found.values(), key=lambda s: s.path)


def sardana_detectors(f: h5py.File, entry: str) -> list[StreamSource]:
    """The value-referenced columns of a Sardana scan entry, each with the detector stream
    `--scan` makes of it: the images its references lead to (found beside the input), or
    why they cannot be converted."""
    try:
        referenced = nxscan.referenced_columns(f, entry)
    except (H5ToCborsError, *HDF5_ERRORS):
        return []  # converting the entry says what is wrong with it
    found, folder = [], Path(f.filename).parent
    for name, column in referenced.items():
        path = f"/{entry}/measurement/{name}"
        try:
            spec = nxscan.detector_stream(f, column)
        except (H5ToCborsError, *HDF5_ERRORS) as e:
            found.append(StreamSource(path, "stins", name, note=f"not convertible: {e}"))
            continue
        where = f"images {relpath(spec.file, folder)}:{spec.path}" if spec.file else ""
        found.append(StreamSource(path, "stins", name, note=where))
    return found
