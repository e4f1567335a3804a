"""A chunked dataset's chunk index checked against its shape, before HDF5 reads its data.

HDF5 trusts a file's chunk index. Where a corrupt file's shape no longer fits its index (a
fixed array sized for another maximum shape), reading a frame reads past the index in
memory and crashes the process. And a dataset can declare far more frames than it
stores, which a conversion would write out as fill values for days. One pass over the
stored chunks (about a microsecond each) finds both, once per dataset, before any data is
read.
"""

from __future__ import annotations

from math import prod

import h5py

from ..errors import H5ToCborsError, option
from .open import metadata_of

MAX_UNWRITTEN = 1 << 20
"""Frames (or rows) that a dataset does not store, read as HDF5's fill value, in one
conversion at most: beyond it, select the stored ones with `--frames`."""
MAX_UNWRITTEN_BYTES = 64 << 20
"""Bytes of such fill values in one conversion at most: a few rows of a wide array that
was never written are gigabytes."""
MAX_LISTED_CHUNKS = 1 << 22
"""Datasets with more chunks are not walked chunk by chunk (their count is still used)."""

_stored: dict[tuple[int, int], int] = {}
"""Stored chunks of each dataset checked in this process, by (file number, address)."""


def check_chunks(dset: h5py.Dataset) -> None:
    """Refuse `dset` if its chunk index lists a chunk outside its shape. Contiguous, compact
    and virtual datasets pass (HDF5 checks their extent).

    Example:
        >>> check_chunks(f["/entry/data"])  # doctest: +SKIP
    """
    with metadata_of(dset.file, dset.name):
        chunks = dset.chunks
        if chunks is not None:
            stored_chunks(dset, chunks)


def check_unwritten(dset: h5py.Dataset, frame_axes: tuple[int, ...], selected: int) -> None:
    """Refuse to write out `selected` frames (along `frame_axes`) of `dset` when more than
    `MAX_UNWRITTEN` of them, or more than `MAX_UNWRITTEN_BYTES`, are not stored: a
    conversion would turn a few KB into days or gigabytes of fill values. A contiguous
    dataset stores all or nothing. Plain `verify` reads only the frames a capture has: it
    needs no such bound.

    Example:
        >>> check_unwritten(f["/entry/data"], frame_axes=(0,), selected=20)  # doctest: +SKIP
    """
    with metadata_of(dset.file, dset.name):
        if dset.is_virtual or dset.external:
            return  # their sources are checked where they are opened
        chunks = dset.chunks
        if chunks is None:
            stored = selected if dset.id.get_storage_size() else 0
        else:
            stored = stored_chunks(dset, chunks) * prod(chunks[i] for i in frame_axes)
    unwritten = selected - stored
    frame_bytes = dset.dtype.itemsize * prod(
        n for i, n in enumerate(dset.shape) if i not in frame_axes
    )
    if unwritten > MAX_UNWRITTEN or unwritten * frame_bytes > MAX_UNWRITTEN_BYTES:
        raise H5ToCborsError(
            f"{dset.name} in {dset.file.filename}: {selected:,} frames to convert, but "
            f"{'chunks' if chunks else 'data'} stored for at most {stored:,}; the other "
            f"{unwritten:,} ({unwritten * frame_bytes / 2**20:,.1f} MiB) would be HDF5's fill "
            f"value (more than {MAX_UNWRITTEN:,} frames or {MAX_UNWRITTEN_BYTES >> 20} MiB): "
            f"is the file corrupt? Select stored frames with {option('frames')}"
        )


def stored_chunks(dset: h5py.Dataset, chunks: tuple[int, ...]) -> int:
    """How many chunks `dset` stores, each checked to lie inside its shape."""
    key = (dset.id.fileno, h5py.h5o.get_info(dset.id).addr)
    if key in _stored:
        return _stored[key]
    count: int = dset.id.get_num_chunks()
    if count <= MAX_LISTED_CHUNKS:
        shape = dset.shape
        outside: list[tuple[int, ...]] = []

        def visit(info: h5py.h5d.StoreInfo) -> bool | None:
            offset = info.chunk_offset
            if any(o >= n or o % c for o, n, c in zip(offset, shape, chunks)):
                outside.append(offset)
                return True  # stops the walk
            return None

        dset.id.chunk_iter(visit)
        if outside and not misreported(dset):
            raise H5ToCborsError(
                f"corrupt HDF5 metadata in {dset.file.filename} at {dset.name}: its chunk "
                f"index lists a chunk at {list(outside[0])}, which does not fit its shape "
                f"{shape} in chunks of {chunks}"
            )
    _stored[key] = count
    return count


def misreported(dset: h5py.Dataset) -> bool:
    """True when HDF5 may report the chunks of `dset` at wrong coordinates: an extensible
    array index whose one unlimited axis is not the first (HDF5 2.0's `chunk_iter` and
    `get_chunk_info_by_coord` list its chunks by their place in the index, as if along
    that axis). HDF5 reads its data right; its chunks are not looked up.

    Example:
        >>> misreported(f.create_dataset("d", (4, 6), maxshape=(4, None)))  # doctest: +SKIP
        True
    """
    unlimited = [i for i, n in enumerate(dset.maxshape) if n is None]
    return len(unlimited) == 1 and unlimited[0] != 0
