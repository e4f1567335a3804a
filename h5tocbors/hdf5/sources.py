"""Where a dataset's data lives outside it: external raw files, virtual dataset sources."""

from __future__ import annotations

import os
from pathlib import Path

import h5py

from ..errors import H5ToCborsError


def check_external_files(dset: h5py.Dataset) -> None:
    """Refuse a dataset whose external raw files are missing."""
    here = Path(dset.file.filename).resolve().parent
    for name, *_ in dset.external or []:  # empty unless is_external(dset)
        if not (here / name).exists():
            raise H5ToCborsError(
                f"{dset.name} keeps its data in external file {name}, which is missing "
                f"(looked in {here})"
            )


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
