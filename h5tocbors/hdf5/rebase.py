"""Virtual datasets whose sources name absolute paths outside the folder, read beside it.

A virtual source named `/beamline/visit/det.h5` is opened by HDF5 at that path first,
wherever it is, whatever prefix the access properties give; only if that fails does it
look for `det.h5` beside. h5tocbors reads the file of that name beside instead (never the
one outside): `rebased` gives a copy of the virtual dataset whose mappings name the files
found (their real paths), so HDF5 reads exactly the files checked.

The copy is a small file in a private temporary folder, opened read-only and unlinked at
once: HDF5 opens a virtual dataset's sources with its file's access properties, so an
in-memory (core driver) copy would load every source whole, and one opened for writing
would open (and lock) the sources for writing.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from .open import METADATA_ERRORS, dataset_access, metadata_of
from .paths import (
    VIRTUAL,
    RefusedPath,
    folder_of,
    name_pattern,
    outside,
    referenced_file,
    unescaped,
)

UNLIMITED = h5py.h5s.UNLIMITED


class Rebased(h5py.Dataset):  # type: ignore[misc]
    """The copy of a virtual dataset that reads its sources beside it; its name,
    file and attributes are those of the original."""

    def __init__(self, bind: h5py.h5d.DatasetID, original: h5py.Dataset, memory: h5py.File):
        super().__init__(bind)
        self.original = original
        self.copy_file = memory  # the copy lives as long as its file

    @property
    def name(self) -> str:
        """The original's path."""
        return str(self.original.name)

    @property
    def file(self) -> h5py.File:
        """The original's file: the folder its sources are checked in."""
        return self.original.file

    @property
    def parent(self) -> h5py.Group:
        """The original's group."""
        return self.original.parent

    @property
    def attrs(self) -> h5py.AttributeManager:
        """The original's attributes."""
        return self.original.attrs


def recorded(dset: h5py.Dataset) -> h5py.Dataset:
    """`dset` as its file holds it: the original of a `Rebased` copy (whose mappings name
    the files found beside), else `dset` itself."""
    return dset.original if isinstance(dset, Rebased) else dset


def rebased(dset: h5py.Dataset) -> h5py.Dataset:
    """`dset`, or, if it is a virtual dataset with sources named by absolute paths outside
    its folder, a `Rebased` copy reading each source from the file found beside.

    A source not found beside (missing, refused) keeps its name: the path rule refuses it
    by that name when the frames it fills are read (`sources.check_sources`). With such a
    source and an unlimited extent (sized by opening the sources), `dset` is returned.
    """
    with metadata_of(dset.file, dset.name):
        dcpl = dset.id.get_create_plist()
        if dcpl.get_layout() != h5py.h5d.VIRTUAL:
            return dset
        count = dcpl.get_virtual_count()
        names = [os.fsdecode(dcpl.get_virtual_filename(j)) for j in range(count)]
    here = folder_of(dset.file)
    if not any(outside(unescaped(name), here, VIRTUAL) for name in names):
        return dset
    found = {name: _found(name, dset.file.filename, here) for name in set(names)}
    extent = dcpl.get_virtual_vspace(0)  # the dataset's extent, not sized by its sources
    if None in found.values() and UNLIMITED in extent.get_simple_extent_dims(True):
        return dset
    try:
        return _copy(dset, dcpl, [found[name] or name for name in names])
    except METADATA_ERRORS:
        return dset  # HDF5 took no copy: the original is checked as it is


def _found(name: str, filename: str, here: Path) -> str | None:
    """The name HDF5 is to read virtual source `name` by: the real path of the file found
    (`%` escaped), or None when there is none (missing, refused)."""
    if name == ".":
        path = os.path.realpath(filename)
    elif name_pattern(name):
        return None
    else:
        try:
            path = str(referenced_file(unescaped(name), here, VIRTUAL, beside=True))
        except RefusedPath:
            return None
    return path.replace("%", "%%")


def _copy(dset: h5py.Dataset, dcpl: h5py.h5p.PropDCID, files: list[str]) -> Rebased:
    """`dset` in a new file, mapping j reading file `files[j]` (as HDF5 names files)."""
    new = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    for j, file in enumerate(files):
        vspace, srcspace = dcpl.get_virtual_vspace(j), dcpl.get_virtual_srcspace(j)
        if srcspace.get_select_type() == h5py.h5s.SEL_ALL:  # HDF5 keeps no extent for it
            srcspace = h5py.h5s.create_simple((vspace.get_select_npoints(),))
        source = os.fsencode(dcpl.get_virtual_dsetname(j))
        new.set_virtual(vspace, os.fsencode(file), source, srcspace)
    if dcpl.fill_value_defined() == h5py.h5d.FILL_VALUE_USER_DEFINED:
        fill = np.zeros(1, dset.dtype)
        dcpl.get_fill_value(fill)
        new.set_fill_value(fill)
    extent = dcpl.get_virtual_vspace(0)
    space = h5py.h5s.create_simple(extent.shape, extent.get_simple_extent_dims(True))
    import tempfile  # only to rebase a file

    with tempfile.TemporaryDirectory(prefix="h5tocbors-") as folder:
        path = os.path.join(folder, "rebased.h5")
        with h5py.File(path, "w") as f:
            h5py.h5d.create(f.id, b"data", dset.id.get_type(), space, dcpl=new)
        copy = h5py.File(path, "r")  # open while the folder goes: nothing is left behind
    dapl = dataset_access(dset.file, prefixes=False)
    return Rebased(h5py.h5d.open(copy.id, b"data", dapl), dset, copy)
