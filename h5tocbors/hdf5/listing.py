"""Describe every dataset of an HDF5 file: shape, type, storage, and how to convert it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..capture.names import STREAM_NAME
from .filters import filter_names, is_external
from .frames import FrameSeries
from .passthrough import passthrough_refusal
from .resolve import is_image_dtype
from .sources import virtual_source_files
from .walk import link_paths, unique_datasets

GENERIC_NAMES = {"data", "frames", "images", "image", "value", "values", "raw", "counts"}


@dataclass
class Source:
    """A file a virtual or external dataset reads from, and whether it exists."""

    file: str
    exists: bool


@dataclass
class DatasetInfo:
    """What `h5tocbors ls` shows for one dataset."""

    path: str
    shape: list[int]
    dtype: str
    layout: str
    chunks: list[int] | None
    filters: list[str]
    image: bool
    fast_path: bool
    stream: str | None
    """The `--stream NAME=/path` argument for an image dataset, else None."""
    sources: list[Source] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    """Other paths (soft links) to the same dataset."""
    note: str = ""


def dtype_name(dtype: np.dtype) -> str:
    """`uint16`, `>u2` for big-endian, `string`, `compound`, ..."""
    if h5py.check_string_dtype(dtype) is not None:
        return "string"
    if dtype.fields is not None:
        return "compound"
    return dtype.str if dtype.byteorder == ">" else dtype.name


def stream_name(path: str) -> str:
    """A stream name for a dataset path: its group for generic names like `data`.

    Example:
        >>> stream_name("/entry/instrument/eiger/data")
        'eiger'
    """
    parts = [p for p in path.split("/") if p]
    name = parts[-2] if len(parts) > 1 and parts[-1].lower() in GENERIC_NAMES else parts[-1]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "stream"
    return name if STREAM_NAME.match(name) else "stream"


def describe(path: str, dset: h5py.Dataset) -> DatasetInfo:
    """Describe one dataset."""
    sources: list[Source] = []
    here = Path(dset.file.filename).resolve().parent
    if dset.is_virtual:
        layout = "virtual"
        files = sorted({f for f, _ in virtual_source_files(dset) if f != "."})
        sources = [Source(f, (here / f).exists()) for f in files]
    elif is_external(dset):
        layout = "external"
        sources = [Source(name, (here / name).exists()) for name, *_ in dset.external or []]
    else:
        layout = "chunked" if dset.chunks else "contiguous"
    image = is_image_dtype(dset.dtype) and dset.ndim >= 2
    note = ""
    fast = False
    if image:
        refusal = passthrough_refusal(FrameSeries(dset, range(0)))
        fast = refusal is None
        note = "no-recompression fast path" if fast else f"encoded: {refusal}"
        if any(not s.exists for s in sources):
            note = "missing source files"
    elif not is_image_dtype(dset.dtype):
        note = "not numeric"
    else:
        note = f"{dset.ndim}-D"
    return DatasetInfo(
        path=path,
        shape=list(dset.shape or ()),
        dtype=dtype_name(dset.dtype),
        layout=layout,
        chunks=list(dset.chunks) if dset.chunks else None,
        filters=filter_names(dset) if layout == "chunked" else [],
        image=image,
        fast_path=fast,
        stream=f"--stream {stream_name(path)}={path}" if image else None,
        sources=sources,
        note=note,
    )


def list_datasets(f: h5py.File) -> list[DatasetInfo]:
    """Every dataset of `f` reachable by hard or soft links, once each, in path order."""
    infos = []
    for path, links, dset in unique_datasets(f, link_paths(f)):
        infos.append(describe(path, dset))
        infos[-1].links = links
    return sorted(infos, key=lambda d: d.path)
