"""The path rule: which files an HDF5 file may make h5tocbors read.

An HDF5 file names other files in three ways: external raw-data files, external links
and virtual dataset sources. h5tocbors reads such a file only if it lies, symlinks
resolved, in the folder of the file that names it or below: an absolute path or a `..`
that leads elsewhere is refused, and so is a symlink that points out of the folder. The
folders in HDF5's own variables (`HDF5_EXTFILE_PREFIX`, `HDF5_EXT_PREFIX`,
`HDF5_VDS_PREFIX`), which HDF5 searches first, count likewise: the user chose them.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py

from ..errors import H5ToCborsError

RAW, LINK, VIRTUAL = "HDF5_EXTFILE_PREFIX", "HDF5_EXT_PREFIX", "HDF5_VDS_PREFIX"
"""What names the file, by the variable HDF5 reads for it."""
REFERENCE = "reference"
"""A file a scan names in a value (a detector file): no HDF5 variable, looked for as a link."""
ORIGIN = "${ORIGIN}"
BESIDE = frozenset({REFERENCE})
"""Kinds whose absolute names outside the folder are not read but looked for by their last
component beside the naming file (as HDF5 does for names that do not exist)."""


class RefusedPath(H5ToCborsError):
    """A file named by an HDF5 file that h5tocbors will not read: unsafe, or missing."""

    def __init__(self, message: str, *, unsafe: bool = True) -> None:
        super().__init__(message)
        self.unsafe = unsafe
        """True when the path rule refuses the file; False when it is just not there."""


def folder_of(f: h5py.File) -> Path:
    """The folder an HDF5 file's names are resolved in: its own, symlinks resolved."""
    return Path(os.path.realpath(f.filename)).parent


def search_folders(kind: str, here: Path) -> list[Path]:
    """Where HDF5 looks for a file of `kind` named by a file in folder `here`, in order.

    External raw files have one folder (`HDF5_EXTFILE_PREFIX` replaces `here`); links and
    virtual sources try the variable's `:`-separated folders first, then `here`.
    """
    value = os.environ.get(kind, "") if kind in (RAW, LINK, VIRTUAL) else ""
    if kind == RAW:
        return [Path(value.replace(ORIGIN, str(here)))] if value else [here]
    listed = [Path(p.replace(ORIGIN, str(here))) for p in value.split(":") if p]
    return [*listed, here]


def candidates(name: str, kind: str, folders: list[Path]) -> list[Path]:
    """The paths HDF5 tries for `name`, in its order.

    An absolute name is tried as it is; a link or virtual source that is not there is
    then looked for by its last component in the folders (so moved data is found).
    """
    path = Path(name)
    if not path.is_absolute():
        return [folder / name for folder in folders]
    return [path] if kind == RAW else [path, *(folder / path.name for folder in folders)]


def referenced_file(name: str, here: Path, kind: str) -> Path:
    """The file (its real path) that `name`, named by an HDF5 file in folder `here`, is.

    Raises `RefusedPath` saying why when it lies outside the folder (or the folders the
    user named in HDF5's variable for `kind`), is not a regular file, or is missing.

    Example:
        >>> referenced_file("../../etc/passwd", Path("/data/run"), RAW)
        Traceback (most recent call last):
        ...
        h5tocbors.hdf5.paths.RefusedPath: ../../etc/passwd is outside /data/run, refused
    """
    if not name:
        raise RefusedPath("an empty file name")
    folders = [Path(os.path.abspath(folder)) for folder in search_folders(kind, here)]
    allowed = [Path(os.path.realpath(folder)) for folder in folders]
    tried = []
    for candidate in candidates(name, kind, folders):
        spelled = Path(os.path.normpath(candidate))
        inside = any(spelled.is_relative_to(folder) for folder in folders)
        given = kind != RAW and candidate == Path(name)  # an absolute name HDF5 falls back from
        if not inside and given and kind in BESIDE:
            continue  # never opened: looked for by its name beside
        if not inside and not given:
            raise RefusedPath(f"{name} is outside {here}, refused")
        tried.append(candidate)
        if not os.path.exists(candidate):  # HDF5 goes on to the next one
            continue
        real = Path(os.path.realpath(candidate))
        if not any(real.is_relative_to(folder) for folder in allowed):
            link = f" (a symlink to {real})" if spelled != real else ""
            raise RefusedPath(f"{name} is outside {here}{link}, refused")
        if not real.is_file():
            raise RefusedPath(f"{name} is not a regular file ({real})")
        return real
    looked = ", ".join(map(str, tried))
    raise RefusedPath(f"{name} is missing (looked for {looked})", unsafe=False)
