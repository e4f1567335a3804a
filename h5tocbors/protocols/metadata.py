"""Settings stored as small datasets in a group, as the JSON a detector's header carries.

The streaming-receiver stores the configuration frame of a stream's start message (Eiger:
`count_time`, `photon_energy`, `threshold_energy`, `nimages`, `trigger_mode`, ...) as
datasets beside `data` in the detector's group, nested dicts as subgroups; Dectris Eiger
master files keep the same settings under `/entry/instrument/detector/`.
"""

from __future__ import annotations

from collections.abc import Collection

import h5py
import numpy as np

from ..errors import H5ToCborsError
from ..hdf5.walk import BrokenLink
from .members import OPEN_ERRORS, checked_member, member
from .values import is_plain_number

MAX_ELEMENTS = 64
"""Datasets with more elements than this are data (a flatfield, a pixel mask), not settings."""
MAX_DEPTH = 8
MAX_ENTRIES = 1000


def collect_metadata(
    group: h5py.Group, skip: Collection[str] = (), depth: int = 0, nested: bool = True
) -> dict[str, object]:
    """The settings in `group`: its small datasets as JSON values, subgroups as dicts
    (left out when not `nested`).

    Only members linked into the group itself (hard links) are read; datasets of more
    than `MAX_ELEMENTS` elements, of types without a JSON form (compound, references), or
    that cannot be read are left out, as are the names in `skip`. Strings are decoded,
    numbers and booleans become Python scalars, 1-D datasets lists.

    Example:
        >>> collect_metadata(f["/entry/instrument/eiger"], skip={"data"})  # doctest: +SKIP
        {'count_time': 0.1, 'nimages': 20, 'photon_energy': 8000.0, 'trigger_mode': 'exts'}
    """
    found: dict[str, object] = {}
    for name in list(group)[:MAX_ENTRIES]:
        if name in skip or not isinstance(group.get(name, getlink=True), h5py.HardLink):
            continue
        try:
            obj = checked_member(group, name)
            if isinstance(obj, h5py.Group) and nested and depth < MAX_DEPTH:
                inner = collect_metadata(obj, depth=depth + 1)
                if inner:
                    found[name] = inner
            elif isinstance(obj, h5py.Dataset):
                value = setting(obj)
                if value is not None:
                    found[name] = value
        except (*OPEN_ERRORS, H5ToCborsError):
            continue  # an unreadable member is no setting
    return found


def setting(dataset: h5py.Dataset) -> object:
    """The JSON value of a small dataset, or None when it is not a setting."""
    if dataset.shape is None or dataset.size > MAX_ELEMENTS or dataset.ndim > 1:
        return None
    if h5py.check_string_dtype(dataset.dtype) is not None:
        value = dataset.asstr(errors="replace")[()]
        return value.tolist() if isinstance(value, np.ndarray) else str(value)
    if not is_plain_number(dataset.dtype):
        return None
    return np.asarray(dataset[()]).tolist()


DETECTOR = "/entry/instrument/detector"
DETECTOR_GROUPS = (DETECTOR, f"{DETECTOR}/detectorSpecific")


def detector_settings(f: h5py.File) -> dict[str, object]:
    """The detector settings of a DECTRIS master: the small datasets of
    `/entry/instrument/detector/` and its `detectorSpecific/`, as one flat dict, as the
    streaming-receiver's start message carries an Eiger's configuration (`count_time`,
    `photon_energy`, `nimages`, `trigger_mode`, `x_pixels_in_detector`, ...). {} for none.

    Example:
        >>> detector_settings(f)  # doctest: +SKIP
        {'count_time': 0.1, 'threshold_energy': 6000.0, 'nimages': 300, 'trigger_mode': 'exts'}
    """
    found: dict[str, object] = {}
    for path in DETECTOR_GROUPS:
        try:
            group = member(f["/"], path)
        except BrokenLink:
            continue  # refused: no settings from there
        if isinstance(group, h5py.Group):
            for key, value in collect_metadata(group, nested=False).items():
                found.setdefault(key, value)
    return found
