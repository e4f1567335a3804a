"""Open HDF5 inputs read-only and resolve stream names to image datasets."""

from __future__ import annotations

import os
import re
from pathlib import Path

import h5py
import numpy as np

from .errors import H5ToCborsError, UsageError

STREAM_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*\Z")
MAX_STREAM_NAME = 200
"""Long enough for any detector, short enough that `.NAME.cbors.XXXXXXXX.part` fits a file name."""
CHUNK_CACHE_BYTES = 64 * 1024 * 1024
"""HDF5 chunk cache per dataset: a multi-frame chunk is decoded once, not once per frame."""


def load_filters() -> None:
    """Register the detector compression filters (bitshuffle, LZ4, zstd, ...) with HDF5.

    Done only before HDF5 decodes data: h5tocbors reads most chunks itself.
    """
    import hdf5plugin

    del hdf5plugin


def check_stream_name(name: str) -> str:
    """Return `name` if it is a plain stream name (letters, digits, `_`, `-`, `.`).

    Example:
        >>> check_stream_name("pilatus")
        'pilatus'
    """
    if len(name) > MAX_STREAM_NAME:
        raise UsageError(f"stream name {name[:20]}... is longer than {MAX_STREAM_NAME} characters")
    if not STREAM_NAME.match(name):
        raise UsageError(
            f"stream name {name!r} is not a plain name "
            "(letters, digits, '_', '-', '.', not starting with '.')"
        )
    return name


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


def is_image_dtype(dtype: np.dtype) -> bool:
    """True for the numeric dtypes a STINS stream can carry (unsigned, signed, float, bool)."""
    return dtype.kind in "uifb" and dtype.fields is None and dtype.subdtype is None


def get_dataset(f: h5py.File, path: str) -> h5py.Dataset:
    """Return the dataset at `path`, checked to be a numeric array of 2 or more dimensions."""
    failure: Exception | None = None
    try:
        kind = f.get(path, getclass=True)
        obj = open_dataset(f, path) if kind is h5py.Dataset else kind
    except (KeyError, OSError, ValueError, RuntimeError) as e:
        obj, failure = None, e
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
        raise H5ToCborsError(f"no dataset at {path} in {f.filename}")
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
    check_virtual_sources(obj)
    check_external_files(obj)
    return obj


def open_dataset(f: h5py.File, path: str) -> h5py.Dataset:
    """Open a dataset whose external raw files, if any, are found beside its HDF5 file.

    HDF5 would look for them in the current directory, and read whatever file of that
    name it finds there.
    """
    dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    dapl.set_efile_prefix(b"${ORIGIN}")
    return h5py.Dataset(h5py.h5d.open(f.id, path.encode(), dapl))


def check_external_files(dset: h5py.Dataset) -> None:
    """Refuse a dataset whose external raw files are missing."""
    here = Path(dset.file.filename).resolve().parent
    for name, *_ in dset.external or []:  # empty unless is_external(dset)
        if not (here / name).exists():
            raise H5ToCborsError(
                f"{dset.name} keeps its data in external file {name}, which is missing "
                f"(looked in {here})"
            )


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


def link_paths(f: h5py.File) -> list[str]:
    """Every link path in the file (soft and external links included), without the leading /."""
    paths: list[str | bytes] = []
    try:
        f.visit_links(paths.append)  # h5py gives bytes for a name it cannot decode
    except (UnicodeDecodeError, SystemError, RuntimeError) as e:
        paths.append(repr(e).encode())
    odd = next((p for p in paths if isinstance(p, bytes)), None)
    if odd is not None:
        raise H5ToCborsError(
            f"cannot list the objects of {f.filename}: link name {odd!r} is not UTF-8; "
            "give the dataset as --stream NAME=/path"
        )
    return [p for p in paths if isinstance(p, str)]


def unique_datasets(f: h5py.File, paths: list[str]) -> list[tuple[str, list[str], h5py.Dataset]]:
    """The datasets `paths` lead to, each once: (its path, other paths to it, the dataset).

    A path through hard links is preferred; dangling links and groups are left out.
    """
    hard_first = sorted(paths, key=lambda p: not isinstance(f.get(p, getlink=True), h5py.HardLink))
    found: dict[tuple[int, int], tuple[str, list[str], h5py.Dataset]] = {}
    for path in hard_first:
        try:
            obj = f.get(path)
        except (KeyError, OSError, ValueError, RuntimeError):
            continue  # a dangling soft or external link
        if isinstance(obj, h5py.Dataset):
            info = h5py.h5o.get_info(obj.id)
            if (info.fileno, info.addr) in found:
                found[info.fileno, info.addr][1].append("/" + path)
            else:
                found[info.fileno, info.addr] = ("/" + path, [], obj)
    return list(found.values())


def filters(dset: h5py.Dataset) -> list[tuple[int, tuple[int, ...]]]:
    """The dataset's filter pipeline as (filter id, client values), in write order."""
    dcpl = dset.id.get_create_plist()
    return [dcpl.get_filter(i)[::2] for i in range(dcpl.get_nfilters())]


def is_external(dset: h5py.Dataset) -> bool:
    """True when the dataset keeps its data in external raw files."""
    return bool(dset.id.get_create_plist().get_external_count() > 0)


def resolve_dataset(f: h5py.File, name: str, path: str | None) -> h5py.Dataset:
    """The dataset for stream `name`: at `path` if given, else found by `name`."""
    return get_dataset(f, path) if path else find_dataset(f, name)


def virtual_source_files(dset: h5py.Dataset) -> list[tuple[str, str]]:
    """(file name, dataset path) of every source of a virtual dataset, "." for its own file."""
    if not dset.is_virtual:
        return []
    return [(s.file_name, s.dset_name) for s in dset.virtual_sources()]


def check_virtual_sources(dset: h5py.Dataset) -> None:
    """Refuse a virtual dataset whose source files are missing (HDF5 would read fill values)."""
    here = Path(dset.file.filename).resolve().parent
    prefix = os.environ.get("HDF5_VDS_PREFIX", "")
    for file_name, dset_name in virtual_source_files(dset):
        if file_name == "." or "%" in file_name:
            continue
        candidates = [Path(prefix) / file_name] if prefix else []
        candidates += [here / file_name, Path.cwd() / file_name]  # as HDF5 looks; absolute stays
        source = next((c for c in candidates if c.exists()), None)
        if source is None:
            raise H5ToCborsError(
                f"virtual dataset {dset.name} needs source file {file_name}, which is missing "
                f"(looked in {here}); HDF5 would silently return fill values"
            )
        try:
            with h5py.File(source, "r") as src:
                present = dset_name in src
        except OSError as e:
            raise H5ToCborsError(
                f"virtual dataset {dset.name} needs source file {source}, which cannot be "
                f"opened: {e}"
            ) from e
        if not present:
            raise H5ToCborsError(
                f"virtual dataset {dset.name} needs {dset_name} in {source}, which is missing"
            )
