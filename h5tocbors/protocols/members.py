"""Members of a source group, opened as the image datasets are: safely, or named as missing."""

from __future__ import annotations

from collections.abc import Sequence

import h5py

from ..errors import H5ToCborsError
from ..hdf5.open import metadata_of
from ..hdf5.sources import check_sources
from ..hdf5.types import NoNumpyType, numpy_dtype
from ..hdf5.walk import BrokenLink, Object, follow

OPEN_ERRORS = (KeyError, OSError, ValueError, RuntimeError, TypeError)
MAX_SHOWN = 5
"""Members an error lists by name; the rest are counted."""


def member_names(group: h5py.Group) -> list[str]:
    """The names of `group`'s links, in its order. A name that is not UTF-8 (h5py gives
    its bytes) is an error: no stream can carry it.

    Example:
        >>> member_names(f["/entry/measurement/panda0"])  # doctest: +SKIP
        ['INENC2.VAL_Mean', 'PCAP.TS_TRIG_Value']
    """
    with metadata_of(group.file, group.name):
        names: list[str | bytes] = list(group)
    odd = next((n for n in names if isinstance(n, bytes)), None)
    if odd is not None:
        raise H5ToCborsError(
            f"{group.name} in {group.file.filename}: link name {odd!r} is not UTF-8"
        )
    return [n for n in names if isinstance(n, str)]


def member(group: h5py.Group, name: str) -> Object | None:
    """What `name` in `group` leads to, links followed safely (`hdf5.walk.follow`); None
    if nothing. A link to a file that the path rule refuses is an error."""
    try:
        return follow(group, name)
    except BrokenLink as e:
        if e.unsafe:
            raise
        return None


def unequal_lengths(noun: str, lengths: Sequence[tuple[str, int]]) -> str | None:
    """Why per-row datasets (`lengths`: each shown name and its length) cannot be rows of one
    stream when their lengths differ, listing the first `MAX_SHOWN`; else None.

    Example:
        >>> unequal_lengths("fields", [("a", 3), ("b", 4)])
        'fields of different lengths: 3 in a, 4 in b'
        >>> unequal_lengths("fields", [("a", 3), ("b", 3)]) is None
        True
    """
    if len({n for _, n in lengths}) <= 1:
        return None
    shown = ", ".join(f"{n} in {name}" for name, n in lengths[:MAX_SHOWN])
    more = f" and {len(lengths) - MAX_SHOWN} more" if len(lengths) > MAX_SHOWN else ""
    return f"{noun} of different lengths: {shown}{more}"


def member_class(group: h5py.Group, name: str) -> type | None:
    """`h5py.Dataset` or `h5py.Group` for what `name` in `group` leads to, None if nothing."""
    found = member(group, name)
    return next((kind for kind in (h5py.Dataset, h5py.Group) if isinstance(found, kind)), None)


def checked_member(group: h5py.Group, name: str) -> Object | None:
    """`member`, a dataset among them refused when its data is missing (`checked`)."""
    found = member(group, name)
    checked(found)
    return found


def checked(found: Object | None) -> h5py.Dataset | None:
    """`found` when it is a dataset whose external raw files and virtual sources are all
    there and whose type numpy has (else `H5ToCborsError`), None when it is no dataset."""
    if not isinstance(found, h5py.Dataset):
        return None
    try:
        numpy_dtype(found)
    except NoNumpyType as e:
        raise H5ToCborsError(f"{found.name} in {found.file.filename}: {e}") from e
    check_sources(found)
    return found


def member_dataset(group: h5py.Group, name: str) -> h5py.Dataset | None:
    """The dataset `name` in `group`, or None when there is no dataset of that name.

    It is opened with its external raw files looked for beside its HDF5 file, and refused
    when those or its virtual sources are missing or refused (`H5ToCborsError`).

    Example:
        >>> member_dataset(f["/entry/instrument/xspress3"], "data").shape  # doctest: +SKIP
        (20, 4, 4096)
    """
    return checked(member(group, name))
