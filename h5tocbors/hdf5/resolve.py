"""Resolve stream names and paths to the image datasets of an HDF5 file."""

from __future__ import annotations

import h5py
import numpy as np

from ..errors import H5ToCborsError
from .open import open_dataset
from .sources import check_external_files, check_virtual_sources
from .walk import link_paths, unique_datasets


def is_image_dtype(dtype: np.dtype) -> bool:
    """True for the numeric dtypes a STINS stream can carry (unsigned, signed, float, bool)."""
    return dtype.kind in "uifb" and dtype.fields is None and dtype.subdtype is None


def open_object(f: h5py.File, path: str) -> h5py.Group | h5py.Dataset:
    """The group or dataset at `path`, naming the problem when there is none.

    Datasets are opened with their external raw files found beside their HDF5 file, and
    refused when data they map is missing.

    Example:
        >>> open_object(f, "/entry/measurement/xspress3")  # doctest: +SKIP
        <HDF5 group "/entry/instrument/xspress3" (9 members)>
    """
    failure: Exception | None = None
    obj: h5py.Group | h5py.Dataset | None = None
    try:
        kind = f.get(path, getclass=True)
        if kind is h5py.Dataset:
            obj = open_dataset(f, path)
        elif kind is not None:
            obj = f[path]
    except (KeyError, OSError, ValueError, RuntimeError) as e:
        failure = e
    if obj is None:
        link = f.get(path, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise H5ToCborsError(
                f"{path} in {f.filename} is an external link to {link.path} in {link.filename}, "
                "which cannot be opened"
            )
        if isinstance(link, h5py.SoftLink):
            raise H5ToCborsError(f"{path} in {f.filename} is a soft link to missing {link.path}")
        if failure is not None and link is not None:
            raise H5ToCborsError(f"cannot open {path} in {f.filename}: {failure}") from failure
        raise H5ToCborsError(f"no dataset or group at {path} in {f.filename}")
    if isinstance(obj, h5py.Dataset):
        check_virtual_sources(obj)
        check_external_files(obj)
    return obj


def get_dataset(f: h5py.File, path: str) -> h5py.Dataset:
    """Return the dataset at `path`, checked to be a numeric array of 2 or more dimensions."""
    obj = open_object(f, path)
    if not isinstance(obj, h5py.Dataset):
        raise H5ToCborsError(f"{path} in {f.filename} is a group, not a dataset")
    if not is_image_dtype(obj.dtype):
        raise H5ToCborsError(
            f"{path} has dtype {obj.dtype}, not numbers: only numeric datasets can be images"
        )
    if obj.ndim < 2:
        raise H5ToCborsError(
            f"{path} has {obj.ndim} dimension(s) {obj.shape}: frames need at least 2"
        )
    return obj


def find_dataset(f: h5py.File, name: str) -> h5py.Dataset:
    """Find the one dataset whose HDF5 path has a group or dataset called `name`.

    Stacks (3 or more dimensions) win over 2-D datasets; soft links to the same
    dataset count once.

    Example:
        >>> find_dataset(f, "pilatus").name  # doctest: +SKIP
        '/entry/measurement/pilatus/frames'
    """
    paths = [p for p in link_paths(f) if name in p.split("/")]
    # shapes only: the datasets are closed again, get_dataset opens with its own properties
    found = [
        (path, dset.shape)
        for path, _, dset in unique_datasets(f, paths)
        if dset.ndim >= 2 and is_image_dtype(dset.dtype)
    ]
    stacks = [c for c in found if len(c[1]) >= 3]
    candidates = stacks or found
    if not candidates:
        raise H5ToCborsError(
            f"no image dataset for stream {name!r} in {f.filename}: no dataset of 2 or more "
            f"dimensions has a group or dataset called {name!r} in its path; "
            f"give one as --stream {name}=/path/to/dataset"
        )
    if len(candidates) > 1:
        listed = ", ".join(f"{p} {shape}" for p, shape in sorted(candidates))
        raise H5ToCborsError(
            f"several datasets match stream {name!r}: {listed}; "
            f"choose one with --stream {name}={candidates[0][0]}"
        )
    return get_dataset(f, candidates[0][0])


def resolve_dataset(f: h5py.File, name: str, path: str | None) -> h5py.Dataset:
    """The dataset for stream `name`: at `path` if given, else found by `name`."""
    return get_dataset(f, path) if path else find_dataset(f, name)
