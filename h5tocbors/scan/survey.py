"""What `ls` tells about streams beyond image datasets: the groups that make xspress or
PandA streams, and the stream `convert --scan` makes of each entry of a contrast master."""

from __future__ import annotations

from dataclasses import dataclass

import h5py

from ..errors import H5ToCborsError
from ..hdf5.walk import follow
from ..protocols import contrast, pcap_raw, xspress
from .master import MEASUREMENT, detector_stream, is_master, measurement_keys

HDF5_ERRORS = (OSError, RuntimeError, KeyError, ValueError)
"""What h5py raises for corrupt metadata, which `ls` names on the datasets it lists."""


@dataclass(frozen=True)
class StreamSource:
    """A dataset or group a stream is made from: its protocol, and its name under `--scan`."""

    path: str
    protocol: str
    scan: str | None = None


def survey(f: h5py.File, paths: list[str]) -> list[StreamSource]:
    """Every group of `f` at `paths` (`listed_paths`: in `f` and the files its links lead
    to) that a protocol other than STINS makes a stream of, and what `--scan` makes of a
    contrast master's entries.

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
        for module in (xspress, pcap_raw):
            try:
                fits = module.fits(group) is None
            except (H5ToCborsError, *HDF5_ERRORS):
                fits = False  # missing or corrupt: `ls` names it on the datasets
            if fits:
                found["/" + path] = StreamSource("/" + path, module.NAME)
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
    return sorted(found.values(), key=lambda s: s.path)
