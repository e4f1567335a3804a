"""Open HDF5 inputs read-only; datasets with their external raw files found safely."""

from __future__ import annotations

import os
from pathlib import Path

import h5py

from ..errors import H5ToCborsError

CHUNK_CACHE_BYTES = 64 * 1024 * 1024
"""HDF5 chunk cache per dataset: a multi-frame chunk is decoded once, not once per frame."""


def load_filters() -> None:
    """Register the detector compression filters (bitshuffle, LZ4, zstd, ...) with HDF5.

    Done only before HDF5 decodes data: h5tocbors reads most chunks itself.
    """
    import hdf5plugin

    del hdf5plugin


def open_input(path: str | os.PathLike[str]) -> h5py.File:
    """Open an HDF5 file read-only, naming the problem if that is not possible.

    Example:
        >>> with open_input("sample_data/pilatus_100k.h5") as f:  # doctest: +SKIP
        ...     f["/entry/measurement/pilatus/frames"].shape
        (20, 195, 487)
    """
    p = Path(path)
    try:
        if not p.exists():
            raise H5ToCborsError(f"input {p} does not exist")
        if p.is_dir():
            raise H5ToCborsError(f"input {p} is a directory, not an HDF5 file")
        if not h5py.is_hdf5(p):
            raise H5ToCborsError(f"input {p} is not an HDF5 file")
        return h5py.File(p, "r", rdcc_nbytes=CHUNK_CACHE_BYTES)
    except OSError as e:
        raise H5ToCborsError(f"cannot open {p}: {e.strerror or e}") from e


def open_dataset(f: h5py.File, path: str) -> h5py.Dataset:
    """Open a dataset whose external raw files, if any, are found beside its HDF5 file.

    HDF5 would look for them in the current directory, and read whatever file of that
    name it finds there.
    """
    dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    dapl.set_efile_prefix(b"${ORIGIN}")
    return h5py.Dataset(h5py.h5d.open(f.id, path.encode(), dapl))
