"""Open HDF5 inputs and the files they name read-only; datasets with safe access properties."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py

from ..errors import H5ToCborsError
from ..reading import note
from .paths import ORIGIN, RefusedPath

CHUNK_CACHE_BYTES = 64 * 1024 * 1024
"""HDF5 chunk cache per dataset: a multi-frame chunk is decoded once, not once per frame."""

METADATA_ERRORS = (
    RuntimeError,
    OSError,
    KeyError,
    ValueError,
    OverflowError,
    SystemError,
    TypeError,
)
"""What h5py raises when HDF5 cannot read a file's metadata (KeyError: an object that is
linked but cannot be opened), or meets values it cannot hold (TypeError: a datatype numpy
has no equivalent for, such as HDF5's time type)."""
H5PY = os.path.dirname(h5py.__file__)
MAX_KEPT = 64
"""Files an input leads to that are kept open with it, at most (one descriptor each): a
virtual dataset of thousands of source files must not hold them all; those beyond are
opened each time, and closed when unused."""


class OpenInput(h5py.File):  # type: ignore[misc]
    """An input opened by `open_input`: while it is open, the files its links and virtual
    datasets name are opened once each (`open_referenced`, in the thread that opened it:
    a batch converts several inputs at once; the first `MAX_KEPT`), and closed with it."""

    def __init__(self, name: str | os.PathLike[str]) -> None:
        super().__init__(name, "r", rdcc_nbytes=CHUNK_CACHE_BYTES)
        self.referenced: dict[str, h5py.File] = {}
        self.inputs = opened_inputs()
        self.inputs.append(self)

    def close(self) -> None:
        """Close the input and the files it led to."""
        if self in self.inputs:
            self.inputs.remove(self)
        for opened in self.referenced.values():
            opened.close()
        self.referenced.clear()
        super().close()


_local = threading.local()


def opened_inputs() -> list[OpenInput]:
    """The inputs this thread has open; files they name are kept with the one opened last."""
    if not hasattr(_local, "inputs"):
        _local.inputs = []
    inputs: list[OpenInput] = _local.inputs
    return inputs


def load_filters() -> None:
    """Register the detector compression filters (bitshuffle, LZ4, zstd, ...) with HDF5.

    Done only before HDF5 decodes data: h5tocbors reads most chunks itself.
    """
    import hdf5plugin

    del hdf5plugin


def open_input(path: str | os.PathLike[str]) -> h5py.File:
    """Open an HDF5 file read-only, naming the problem if that is not possible.

    A path through symlinks is opened by its real path, so that HDF5 looks for the files
    it names where h5tocbors checked them (see `paths`).

    Example:
        >>> with open_input("sample_data/pilatus_100k.h5") as f:  # doctest: +SKIP
        ...     f["/entry/measurement/pilatus/frames"].shape
        (20, 195, 487)
    """
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
        if stat.S_ISDIR(mode):
            raise H5ToCborsError(f"input {p} is a directory, not an HDF5 file")
        if not stat.S_ISREG(mode):
            raise H5ToCborsError(f"input {p} is not a regular file (a pipe or a device?)")
        with open(p, "rb"):
            pass
        if not h5py.is_hdf5(p):
            raise H5ToCborsError(f"input {p} is not an HDF5 file")
        real = os.path.realpath(p)
        name = p if real == os.path.abspath(p) else Path(real)
        note(str(name))
        return OpenInput(name)
    except FileNotFoundError as e:
        raise H5ToCborsError(f"input {p} does not exist") from e
    except PermissionError as e:
        raise H5ToCborsError(f"cannot read input {p}: permission denied") from e
    except OSError as e:
        raise H5ToCborsError(f"cannot open {p}: {e.strerror or e}") from e


def open_referenced(path: Path) -> h5py.File:
    """Open a file that an HDF5 file names (checked by `paths.referenced_file`) read-only;
    once per input (`OpenInput`): an Eiger master's data file is reached by its link, the
    virtual dataset over it and the series, each opening it again."""
    inputs = opened_inputs()
    cache = inputs[-1].referenced if inputs else {}
    if str(path) in cache and cache[str(path)].id.valid:
        note(str(path))
        return cache[str(path)]
    try:
        if not h5py.is_hdf5(path):
            raise RefusedPath(f"{path} is not an HDF5 file", unsafe=False)
        note(str(path))
        opened = h5py.File(path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES)
        if len(cache) < MAX_KEPT:
            cache[str(path)] = opened
        return opened
    except OSError as e:
        raise RefusedPath(f"{path} cannot be opened: {e.strerror or e}", unsafe=False) from e


def dataset_access(f: h5py.File, prefixes: bool = True) -> h5py.h5p.PropDAID:
    """Dataset access properties: a chunk cache that holds a multi-frame chunk, and with
    `prefixes`, external raw files and virtual sources looked for beside the dataset's
    file (for external raw files HDF5 would look in the current directory)."""
    dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    if prefixes:
        dapl.set_efile_prefix(ORIGIN.encode())
        dapl.set_virtual_prefix(ORIGIN.encode())
    _, slots, _, w0 = f.id.get_access_plist().get_cache()
    dapl.set_chunk_cache(slots, CHUNK_CACHE_BYTES, w0)
    return dapl


def open_dataset(group: h5py.Group, name: str) -> h5py.Dataset:
    """Open the dataset `name` (one hard link, no path) of `group` with `dataset_access`.

    A dataset that HDF5 holds open already as a virtual dataset's source keeps the access
    properties it was opened with (HDF5 refuses others); it is refused if it keeps its
    data in external raw files, which HDF5 then looks for in the current directory.
    """
    key = name.encode()
    try:
        return h5py.Dataset(h5py.h5d.open(group.id, key, dataset_access(group.file)))
    except (KeyError, RuntimeError, OSError) as e:
        if "prefix" not in str(e):
            raise
    dset = h5py.Dataset(h5py.h5d.open(group.id, key, dataset_access(group.file, False)))
    if dset.id.get_create_plist().get_external_count() > 0:
        raise RefusedPath(
            f"{dset.name} in {group.file.filename} keeps its data in external raw files and "
            "is a virtual dataset's source, for which HDF5 looks for them in the current "
            "directory; refused"
        )
    return dset


def raised_by_h5py(e: BaseException) -> bool:
    """True when `e` was raised inside h5py (its Python code, or its Cython modules, whose
    frames are named `h5py/h5o.pyx`), not by the code that called it."""
    tb = e.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    name = tb.tb_frame.f_code.co_filename
    return name.startswith(("h5py/", H5PY + os.sep))


@contextmanager
def metadata_of(f: h5py.File | str, where: str = "") -> Iterator[None]:
    """Name a failure to read HDF5 metadata inside as a corrupt file, not as a bug.

    `f` is the file, or its name where a caller in a loop keeps it (`f.filename` asks HDF5).

    Only errors that h5py raises count: the same exception raised by h5tocbors' own code
    is a bug, and stays one.

    Example:
        >>> with metadata_of(f, "/entry/data"):  # doctest: +SKIP
        ...     f["/entry/data"].dtype
        Traceback (most recent call last):
        ...
        h5tocbors.errors.H5ToCborsError: corrupt HDF5 metadata in run.h5 at /entry/data: ...
    """
    filename = f if isinstance(f, str) else f.filename
    try:
        note(filename, where)
        yield
    except H5ToCborsError:
        raise
    except METADATA_ERRORS as e:
        if not raised_by_h5py(e):
            raise
        at = f" at {where}" if where else ""
        detail = e.args[0] if isinstance(e, KeyError) and e.args else e  # unquoted
        raise H5ToCborsError(f"corrupt HDF5 metadata in {filename}{at}: {detail}") from e
