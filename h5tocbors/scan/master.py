"""A contrast master file: its streams, named as the experiment named them, and its shape.

contrast's `Hdf5Recorder` writes `/entry/description`, `/entry/snapshots/{pre,post}_scan` and
one entry per recorded key under `/entry/measurement`: values of every step, groups for
nested detectors, and ExternalLinks into the detectors' own files. Each of these becomes a
stream: the whole scan as `contrast`, an xspress3 group as `xspress`, a PandA group as
`PCAP_RAW`, an image dataset (or a group holding one as `frames`) as `STINS`.
"""

from __future__ import annotations

import h5py

from ..errors import H5ToCborsError
from ..hdf5.resolve import open_object
from ..protocols import contrast, pcap_raw, stins, xspress
from .specs import StreamSpec

REQUIRED = ("/entry/measurement", "/entry/snapshots", "/entry/description")
MEASUREMENT = "/entry/measurement"


def is_master(f: h5py.File) -> bool:
    """True when `f` has a contrast master file's layout."""
    return all(path in f for path in REQUIRED)


def check_master(f: h5py.File) -> None:
    """Refuse a file that is not a contrast master file, saying what it lacks."""
    missing = [path for path in REQUIRED if path not in f]
    if missing:
        raise H5ToCborsError(
            f"{f.filename} is not a contrast master file: it has no {', '.join(missing)} "
            "(describe other layouts with --config)"
        )


def scan_streams(f: h5py.File) -> list[StreamSpec]:
    """Every stream of a contrast scan: `contrast` first, then the measurement's detectors.

    Example:
        >>> [str(s) for s in scan_streams(f)]  # doctest: +SKIP
        ['contrast=/entry:contrast', 'panda0=/entry/measurement/panda0:pcap-raw',
         'pilatus=/entry/measurement/pilatus/frames:stins',
         'xspress3=/entry/measurement/xspress3:xspress']
    """
    check_master(f)
    specs = [StreamSpec("contrast", "/entry", contrast.NAME)]
    measurement = f[MEASUREMENT]
    for key in measurement:
        spec = detector_stream(f, f"{MEASUREMENT}/{key}", key)
        if spec is not None:
            specs.append(spec)
    return specs


def detector_stream(f: h5py.File, path: str, key: str) -> StreamSpec | None:
    """The stream a measurement entry makes, or None when it is only a value of the scan."""
    obj = open_object(f, path)  # a linked file that is missing is an error naming it
    if isinstance(obj, h5py.Dataset):
        linked = isinstance(f.get(path, getlink=True), h5py.ExternalLink)
        return StreamSpec(key, path, stins.NAME) if linked and stins.fits(obj) is None else None
    for module in (xspress, pcap_raw):
        if module.fits(obj) is None:
            return StreamSpec(key, path, module.NAME)
    frames = obj.get("frames", getlink=True)
    if frames is not None:
        image = open_object(f, f"{path}/frames")
        if stins.fits(image) is None:
            return StreamSpec(key, f"{path}/frames", stins.NAME)
    return None
