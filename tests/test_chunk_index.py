"""Chunks found on every kind of HDF5 chunk index, listed a window at a time (`chunkmap`)."""

from __future__ import annotations

from array import array
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
import pytest

from h5tocbors import convert
from h5tocbors.hdf5.chunkmap import ChunkMap

from .conftest import decoded_frames, run_cli, run_limited

INDEXES: dict[str, tuple[str, Any]] = {
    # name: (libver, maxshape of a (N, H, W) dataset given N, H, W)
    "fixed-array": ("latest", None),
    "extensible-array": ("latest", lambda n, h, w: (None, h, w)),  # what SWMR writers make
    "v2-btree": ("latest", lambda n, h, w: (None, None, w)),
    "v1-btree": ("earliest", None),
}
MISREPORTED = {
    # extensible arrays along another axis: HDF5 lists their chunks at wrong coordinates
    "extensible-array-axis-1": ("latest", lambda n, h, w: (n, None, w)),
    "extensible-array-axis-2": ("latest", lambda n, h, w: (n, h, None)),
}
STORAGE: dict[str, dict[str, Any]] = {
    "bslz4": dict(hdf5plugin.Bitshuffle(cname="lz4")),
    "gzip": {"compression": "gzip", "compression_opts": 1},
    "unfiltered": {},
}
CHUNKS = {"frame": (1, 12, 10), "split": (1, 5, 4), "packed": (4, 12, 10)}


def write(path: Path, index: str, options: dict[str, Any], **create: Any) -> np.ndarray:
    """A (23, 12, 10) stack at /d with chunk index `index`, frame 5 never written."""
    data = np.random.default_rng(2).poisson(30.0, (23, 12, 10)).astype("<u2")
    libver, maxshape = {**INDEXES, **MISREPORTED}[index]
    with h5py.File(path, "w", libver=libver) as f:
        d = f.create_dataset(
            "d",
            data.shape,
            data.dtype,
            maxshape=maxshape and maxshape(*data.shape),
            fillvalue=7,
            **options,
            **create,
        )
        for k in range(len(data)):
            if k != 5:
                d[k] = data[k]
    data[5] = 7  # unwritten (a chunk of its own where chunks hold one frame)
    return data


@pytest.mark.parametrize("index", [*INDEXES, *MISREPORTED])
@pytest.mark.parametrize("storage", list(STORAGE))
@pytest.mark.parametrize("chunks", list(CHUNKS))
@pytest.mark.parametrize("compression", ["bslz4", "none"])
def test_every_chunk_index_gives_the_frames_hdf5_gives(
    tmp_path: Path, index: str, storage: str, chunks: str, compression: str
) -> None:
    data = write(tmp_path / "in.h5", index, STORAGE[storage], chunks=CHUNKS[chunks])
    for selection, jobs in ((slice(None), 2), (slice(None, None, -3), 1)):
        out = tmp_path / f"out{selection.step}"
        convert(
            tmp_path / "in.h5",
            {"d": "/d"},
            out,
            frames=selection,
            compression=compression,
            jobs=jobs,
        )
        got = decoded_frames(out / "d.cbors", "d")
        np.testing.assert_array_equal(np.array(got), data[selection])


@pytest.mark.parametrize("layout", ["contiguous", "compact"])
@pytest.mark.parametrize("compression", ["bslz4", "none"])
def test_unchunked_datasets_give_the_frames_hdf5_gives(
    tmp_path: Path, layout: str, compression: str
) -> None:
    data = np.random.default_rng(3).integers(0, 900, (40, 6, 5), dtype="<u2")
    with h5py.File(tmp_path / "in.h5", "w") as f:
        if layout == "compact":
            space = h5py.h5s.create_simple(data.shape)
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_layout(h5py.h5d.COMPACT)
            h5py.h5d.create(f.id, b"d", h5py.h5t.NATIVE_UINT16, space, dcpl=dcpl)
            f["d"][...] = data
        else:
            f["d"] = data
    convert(tmp_path / "in.h5", {"d": "/d"}, tmp_path / "out", compression=compression)
    np.testing.assert_array_equal(np.array(decoded_frames(tmp_path / "out/d.cbors", "d")), data)


@pytest.mark.parametrize("index", list(INDEXES))
@pytest.mark.parametrize("chunks", list(CHUNKS))
@pytest.mark.parametrize("window", [1, 7, 0])
@pytest.mark.parametrize("descending", [False, True])
def test_a_window_of_chunks_lists_what_hdf5_finds_chunk_by_chunk(
    tmp_path: Path, index: str, chunks: str, window: int, descending: bool
) -> None:
    """Any window, unaligned to rows or not, in any order of lookups: each chunk where
    HDF5's own lookup finds it, an unwritten one and one written with a filter skipped
    not at all."""
    write(tmp_path / "in.h5", index, STORAGE["gzip"], chunks=CHUNKS[chunks])
    with h5py.File(tmp_path / "in.h5", "r+") as f:
        c = CHUNKS[chunks]
        f["d"].id.write_direct_chunk((8, 0, 0), b"\0" * (2 * np.prod(c)), filter_mask=1)
    with h5py.File(tmp_path / "in.h5", "r") as f:
        dset = f["d"]
        found = ChunkMap(dset, f.filename, descending, window)
        coords = [
            (i, j, k)
            for i in range(0, 23, c[0])
            for j in range(0, 12, c[1])
            for k in range(0, 10, c[2])
        ]
        absent = 0
        for coord in coords[::-1] + coords[::2] + coords:
            info = dset.id.get_chunk_info_by_coord(coord)
            stored = info.byte_offset is not None and info.filter_mask == 0
            want = (info.byte_offset, info.size) if stored else None
            assert found.find(coord) == want, coord
            absent += want is None
        assert absent  # the filter-skipped chunk at least


@pytest.mark.parametrize("index", list(INDEXES))
@pytest.mark.parametrize("step", [100_003, -99_991])
def test_a_sparse_index_taken_in_steps(tmp_path: Path, index: str, step: int) -> None:
    """A few stored chunks among millions declared, frames taken far apart both ways: each
    frame as HDF5 reads it, the stored ones and the fill value between them."""
    libver, maxshape = INDEXES[index]
    shape = (3_000_000, 3, 2)
    with h5py.File(tmp_path / "in.h5", "w", libver=libver) as f:
        d = f.create_dataset(
            "d", shape, "<u2", chunks=(1, 3, 2), maxshape=maxshape and maxshape(*shape)
        )
        for k in [*range(shape[0])[::step][::3], 12_345]:
            d[k] = k % 1000 + 1
        want = np.array([d[k] for k in range(shape[0])[::step]])
    convert(tmp_path / "in.h5", {"d": "/d"}, tmp_path / "out", frames=slice(None, None, step))
    got = np.array(decoded_frames(tmp_path / "out/d.cbors", "d"))
    np.testing.assert_array_equal(got, want)
    assert got.any()


def test_many_chunks_convert_in_time_linear_in_them(tmp_path: Path) -> None:
    """Each chunk was found by HDF5's `get_chunk_info_by_coord`, which walks the whole index
    (extensible array, as SWMR writers make): 10,000 chunks took 5 s of CPU, 40,000 would
    take 80 s. Listed a window at a time, they take about a second: the limit is only
    there to stop a quadratic run, not to measure speed."""
    path = tmp_path / "swmr.h5"
    data = np.arange(40_000, dtype="<i2").reshape(-1, 1)
    with h5py.File(path, "w", libver="latest") as f:
        f.create_dataset("d", data=data, maxshape=(None, 1), chunks=(1, 1))
    out = tmp_path / "out"
    result = run_limited("convert", path, "-s", "d=/d", "-o", out, cpu_seconds=60)
    assert result.returncode == 0, result.stderr
    result = run_cli("verify", path, out / "d.cbors")
    assert result.returncode == 0 and "40000 frames identical" in result.stdout, result.stderr


def test_a_stack_growing_along_its_last_axis(tmp_path: Path) -> None:
    """An (H, W, N) stack written frame by frame along an unlimited last axis (an extensible
    array index, which HDF5 misreports): it was refused as a corrupt chunk index."""
    data = np.random.default_rng(5).integers(0, 900, (12, 10, 23), dtype="<u2")
    with h5py.File(tmp_path / "in.h5", "w", libver="latest") as f:
        d = f.create_dataset("d", (12, 10, 0), "<u2", chunks=(6, 10, 4), maxshape=(12, 10, None))
        for k in range(data.shape[2]):
            d.resize(k + 1, axis=2)
            d[:, :, k] = data[:, :, k]
    convert(tmp_path / "in.h5", {"d": "/d"}, tmp_path / "out", axes="HWN")
    got = np.array(decoded_frames(tmp_path / "out/d.cbors", "d"))
    np.testing.assert_array_equal(got, np.moveaxis(data, 2, 0))


@pytest.mark.parametrize("descending", [False, True])
def test_chunks_listed_out_of_order_are_sorted_to_the_nearest_window(
    tmp_path: Path, descending: bool
) -> None:
    """No index type of HDF5 lists chunks out of C order, but a damaged one may: the window
    nearest the chunk asked for is kept, sorted, and its bounds narrowed to it."""
    write(tmp_path / "in.h5", "v1-btree", {}, chunks=CHUNKS["frame"])
    with h5py.File(tmp_path / "in.h5", "r") as f:
        found = ChunkMap(f["d"], f.filename, descending, window=3)
    columns = ([9, 2, 7, 4, 5], [90, 20, 70, 40, 50], [1] * 5)  # keys, offsets, sizes
    listed = tuple(array("Q", values) for values in columns)
    bounds = [0, 22]
    found._keep(listed, bounds, ordered=False)
    want = ([5, 7, 9], [50, 70, 90], [5, 22]) if descending else ([2, 4, 5], [20, 40, 50], [0, 5])
    assert (list(listed[0]), list(listed[1]), bounds) == want
