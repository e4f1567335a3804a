"""Every decoded frame equals h5py's, for every dtype, payload, shape and source storage."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
import pytest

from h5tocbors import convert

from .conftest import decode_frame, read_capture, stins_header

DTYPES = ["uint8", "uint16", "uint32", "int32", "float32", "float64", ">u2", ">i4", ">f8"]
STORAGE: dict[str, dict[str, Any]] = {
    "bitshuffle-lz4": {"chunks": True, **hdf5plugin.Bitshuffle(cname="lz4")},
    "gzip": {"chunks": True, "compression": "gzip", "compression_opts": 4},
    "lzf": {"chunks": True, "compression": "lzf"},
    "chunked": {"chunks": True},
    "contiguous": {},
}


def sample(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Deterministic data that exercises the whole range of `dtype`."""
    rng = np.random.default_rng(zlib.crc32(repr((shape, dtype)).encode()))
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return (rng.standard_normal(shape) * 1e3).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, shape, dtype=dt.newbyteorder("=")).astype(dt)


def chunks_for(shape: tuple[int, ...], kind: str) -> tuple[int, ...] | None:
    """One frame per chunk for the compressed kinds; None for contiguous."""
    if kind == "contiguous":
        return None
    frame_axes = 1 if len(shape) == 2 else 2
    return (1,) * (len(shape) - frame_axes) + shape[-frame_axes:]


def roundtrip(tmp_path: Path, data: np.ndarray, kind: str, compression: str) -> None:
    """Convert `data` stored as `kind` and check every frame and header against h5py."""
    options = dict(STORAGE[kind])
    if options.get("chunks"):
        options["chunks"] = chunks_for(data.shape, kind)
    src = tmp_path / "in.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("/entry/det/data", data=data, **options)
    result = convert(src, {"det": "/entry/det/data"}, tmp_path / "out", compression=compression)
    msgs = read_capture(tmp_path / "out" / "det.cbors")
    with h5py.File(src, "r") as f:
        dset = f["/entry/det/data"]
        frame_shape = dset.shape[1:] if dset.ndim == 2 else dset.shape[-2:]
        expected = dset[()].reshape((-1, *frame_shape))
    assert len(msgs) == len(expected) + 2 == result.events
    assert [m.event_number for m in msgs] == list(range(len(msgs)))
    for k, want in enumerate(expected):
        header = stins_header(msgs[k + 1], "det")
        assert header["type"] == np.dtype(data.dtype).newbyteorder("<").name
        assert header["shape"] == list(frame_shape)
        assert header["compression"] == compression
        got = decode_frame(msgs[k + 1], "det")
        assert got.dtype == want.dtype.newbyteorder("<")
        np.testing.assert_array_equal(got, want, strict=False)


@pytest.mark.parametrize("compression", ["bslz4", "none"])
@pytest.mark.parametrize("kind", list(STORAGE))
@pytest.mark.parametrize("dtype", DTYPES)
def test_stack_roundtrip(tmp_path: Path, dtype: str, kind: str, compression: str) -> None:
    roundtrip(tmp_path, sample((4, 9, 13), dtype), kind, compression)


@pytest.mark.parametrize("compression", ["bslz4", "none"])
@pytest.mark.parametrize("kind", ["bitshuffle-lz4", "gzip", "contiguous"])
@pytest.mark.parametrize("shape", [(5, 33), (2, 3, 7, 11), (2, 1, 2, 6, 5)])
def test_2d_and_scan_grid_roundtrip(
    tmp_path: Path, shape: tuple[int, ...], kind: str, compression: str
) -> None:
    roundtrip(tmp_path, sample(shape, "uint16"), kind, compression)


def test_scan_grid_frames_are_in_c_order(tmp_path: Path) -> None:
    data = np.arange(2 * 3 * 4 * 5, dtype=np.int32).reshape(2, 3, 4, 5)
    src = tmp_path / "grid.h5"
    with h5py.File(src, "w") as f:
        f["grid"] = data
    convert(src, {"grid": "/grid"}, tmp_path / "out", frames=slice(1, None, 2))
    msgs = read_capture(tmp_path / "out" / "grid.cbors")
    images = [decode_frame(m, "grid") for m in msgs[1:-1]]
    want = [data[0, 1], data[1, 0], data[1, 2]]
    assert [stins_header(m, "grid")["frame"] for m in msgs[1:-1]] == [0, 1, 2]
    for got, expected in zip(images, want, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_bool_frames(tmp_path: Path) -> None:
    data = np.random.default_rng(3).random((3, 8, 8)) > 0.5
    roundtrip(tmp_path, data, "gzip", "bslz4")


def test_multi_frame_chunks_decode_each_frame(tmp_path: Path) -> None:
    data = sample((7, 10, 12), "uint32")
    src = tmp_path / "in.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("d", data=data, chunks=(3, 10, 12), **hdf5plugin.Bitshuffle(cname="lz4"))
    result = convert(src, {"d": "/d"}, tmp_path / "out")
    assert result.streams[0].passthrough_frames == 0
    msgs = read_capture(tmp_path / "out" / "d.cbors")
    for k in range(7):
        np.testing.assert_array_equal(decode_frame(msgs[k + 1], "d"), data[k])
