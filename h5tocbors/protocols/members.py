"""Members of a source group, opened as the image datasets are: safely, or named as missing."""

from __future__ import annotations

import posixpath

import h5py

from ..hdf5.open import open_dataset
from ..hdf5.sources import check_external_files, check_virtual_sources

OPEN_ERRORS = (KeyError, OSError, ValueError, RuntimeError, TypeError)


def member_class(group: h5py.Group, name: str) -> type | None:
    """`h5py.Dataset` or `h5py.Group` for what `name` in `group` leads to, None if nothing."""
    try:
        kind = group.get(name, getclass=True)
    except OPEN_ERRORS:
        return None
    return kind if kind in (h5py.Dataset, h5py.Group) else None


def member_dataset(group: h5py.Group, name: str) -> h5py.Dataset | None:
    """The dataset `name` in `group`, or None when there is no dataset of that name.

    It is opened with its external raw files looked for beside its HDF5 file, and refused
    when those or its virtual sources are missing (`H5ToCborsError`).

    Example:
        >>> member_dataset(f["/entry/instrument/xspress3"], "data").shape  # doctest: +SKIP
        (20, 4, 4096)
    """
    if member_class(group, name) is not h5py.Dataset:
        return None
    dataset = open_dataset(group.file, posixpath.join(group.name, name))
    check_virtual_sources(dataset)
    check_external_files(dataset)
    return dataset
