"""Chunks decoded outside HDF5: any layout, each chunk once, damage detected, filters named."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
import pytest
import zstandard

from h5tocbors import convert
from h5tocbors.hdf5.filters import unavailable_filters
from h5tocbors.hdf5.frames import FrameSeries
from h5tocbors.hdf5.open import open_input
from h5tocbors.payloads.encoding import InputFile

from .conftest import decode_frame, read_capture, run_cli
from .test_errors import assert_no_output, assert_one_error

GZIP = {"compression": "gzip", "compression_opts": 1}

LAYOUTS = {
    # name: (shape, dtype, chunks, filters); a 2-D or 3-D stack of at least 9 frames
    "xspress3": ((23, 4, 60), "u4", (7, 1, 16), GZIP),  # spectra packed 7 per chunk, edges cut
    "ten-frames": ((25, 12, 10), "u2", (10, 12, 10), {"compression": "gzip", "shuffle": True}),
    "split-frames": ((5, 12, 10), "u2", (1, 5, 4), GZIP),  # one frame over 9 chunks
    "zstd-packed": ((9, 6, 8), "f4", (4, 6, 8), dict(hdf5plugin.Zstd())),
    "shuffle-zstd": ((6, 6, 8), "i2", (1, 6, 8), {"shuffle": True, **hdf5plugin.Zstd()}),
    "bitshuffle-packed": ((9, 6, 8), "u2", (3, 6, 8), dict(hdf5plugin.Bitshuffle(cname="zstd"))),
    "unfiltered-packed": ((9, 6, 8), "u1", (4, 3, 8), {}),
    "big-endian": ((7, 6, 8), ">u2", (3, 6, 8), GZIP),
    "rows-of-2d": ((30, 50), "u2", (8, 16), GZIP),  # 1-D frames
    "scan-grid": ((3, 5, 4, 6), "u2", (2, 2, 4, 6), GZIP),  # rows revisited in C order
    "unfiltered": ((9, 6, 8), "u2", (1, 6, 8), {}),  # read buffers reused only where safe
    "contiguous": ((9, 6, 8), "u2", None, {}),
}


def write_layout(path: Path, name: str) -> np.ndarray:
    shape, dtype, chunks, options = LAYOUTS[name]
    data = np.random.default_rng(4).poisson(3.0, shape).astype(dtype)
    with h5py.File(path, "w") as f:
        f.create_dataset("d", data=data, chunks=chunks, **options)
    return data.astype(np.dtype(dtype).newbyteorder("<"))


def frames_of(data: np.ndarray) -> np.ndarray:
    """The frames of a stack as h5tocbors sees it: one per index of the leading axes."""
    frame_ndim = 1 if data.ndim == 2 else 2
    return data.reshape(-1, *data.shape[data.ndim - frame_ndim :])


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("compression", ["bslz4", "none"])
def test_any_chunk_layout_gives_the_frames_hdf5_gives(
    tmp_path: Path, layout: str, jobs: int, compression: str
) -> None:
    data = write_layout(tmp_path / "in.h5", layout)
    result = convert(
        tmp_path / "in.h5", {"d": "/d"}, tmp_path / "o", jobs=jobs, compression=compression
    )
    msgs = read_capture(tmp_path / "o" / "d.cbors")
    want = frames_of(data)
    assert result.streams[0].frames == len(want) == len(msgs) - 2
    for k, frame in enumerate(want):
        np.testing.assert_array_equal(decode_frame(msgs[k + 1], "d"), frame)


@pytest.mark.parametrize("layout", ["xspress3", "ten-frames", "split-frames", "scan-grid"])
@pytest.mark.parametrize("selection", [slice(None), slice(3, None, 4), slice(None, None, -1)])
def test_each_stored_chunk_is_decoded_once(tmp_path: Path, layout: str, selection: slice) -> None:
    """Frames that share a chunk share its decoding, for any selection, on any thread."""
    data = write_layout(tmp_path / "in.h5", layout)
    with open_input(tmp_path / "in.h5") as f, InputFile.open(tmp_path / "in.h5", 2) as source:
        encoder = source.encoder(FrameSeries.of(f["d"], selection), "none")
        decoder, decoded = encoder.decoder, Counter[int]()
        assert decoder is not None and encoder.rows is not None

        def counting(raw: bytes | memoryview) -> Any:
            decoded[hash(bytes(raw))] += 1
            return decoder(raw)

        encoder.decoder = counting
        got = [bytes(p.data) for p in encoder]
    want = frames_of(data)[selection]
    assert got == [frame.tobytes() for frame in want]
    revisits = layout == "scan-grid"  # (2, 2) chunks over a 3x5 grid read in C order
    assert decoded and (revisits or set(decoded.values()) == {1}), decoded


def test_without_the_input_file_chunks_come_from_hdf5(tmp_path: Path) -> None:
    """The Python API's encoders (no file descriptor) read chunks with read_direct_chunk."""
    data = write_layout(tmp_path / "in.h5", "xspress3")
    with open_input(tmp_path / "in.h5") as f:
        encoder = InputFile(jobs=2).encoder(FrameSeries.of(f["d"]), "none")
        assert encoder.rows is not None and encoder.fd is None
        assert [bytes(p.data) for p in encoder] == [x.tobytes() for x in frames_of(data)]


def test_an_unwritten_chunk_in_a_row_gives_the_fill_value(tmp_path: Path) -> None:
    src = tmp_path / "in.h5"
    with h5py.File(src, "w") as f:
        d = f.create_dataset("d", (8, 4, 6), "u2", chunks=(4, 2, 6), fillvalue=9, **GZIP)
        d[:, :2] = 1  # the chunks of rows 2-3 are never written
        d[4:, 2:] = 2
    result = convert(src, {"d": "/d"}, tmp_path / "o", compression="none")
    msgs = read_capture(tmp_path / "o" / "d.cbors")
    with h5py.File(src, "r") as f:
        for k in range(8):
            np.testing.assert_array_equal(decode_frame(msgs[k + 1], "d"), f["d"][k])
    assert result.streams[0].frames == 8


# --- damaged chunks ---------------------------------------------------------------------


def damage(path: Path, index: int, at: int, new: bytes) -> None:
    """Overwrite bytes of chunk `index` of /d, `at` bytes into it (negative: from its end)."""
    with h5py.File(path, "r") as f:
        info = f["d"].id.get_chunk_info(index)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + (at if at >= 0 else info.size + at))
        fh.write(new)


@pytest.fixture
def zstd_h5(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """Six frames stored by hdf5plugin's zstd filter, one per chunk."""
    data = np.random.default_rng(8).poisson(2.0, (6, 64, 96)).astype(np.uint16)
    path = tmp_path / "zstd.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("d", data=data, chunks=(1, 64, 96), **hdf5plugin.Zstd())
    return path, data


def test_a_damaged_zstd_chunk_is_an_error_naming_the_frame(
    tmp_path: Path, zstd_h5: tuple[Path, np.ndarray]
) -> None:
    """HDF5's zstd filter returns such a chunk as data, without an error."""
    path, _ = zstd_h5
    damage(path, 2, -40, b"\x00" * 8)
    out = tmp_path / "out"
    for compression in ("bslz4", "none"):
        result = run_cli("convert", path, "--stream", "d=/d", "-o", out, "-c", compression)
        assert_one_error(result.returncode, result.stderr, 1, "frame 2 (/d)", "zstd")
        assert_no_output(out)


def test_a_zstd_frame_with_a_checksum_is_checked(tmp_path: Path) -> None:
    """A flipped literal decodes to the right size: only the frame's checksum tells."""
    frames = np.random.default_rng(9).integers(0, 60000, (3, 32, 32), dtype=np.uint16)
    path = tmp_path / "sum.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("d", frames.shape, "u2", chunks=(1, 32, 32), **hdf5plugin.Zstd())
        for i, frame in enumerate(frames):
            stored = zstandard.ZstdCompressor(write_checksum=True).compress(frame.tobytes())
            d.id.write_direct_chunk((i, 0, 0), stored)
    convert(path, {"d": "/d"}, tmp_path / "ok")  # intact, the checksums match
    damage(path, 1, 200, b"\x5a")
    result = run_cli("convert", path, "--stream", "d=/d", "-o", tmp_path / "out")
    assert_one_error(result.returncode, result.stderr, 1, "frame 1 (/d)", "checksum")


def test_a_damaged_chunk_of_packed_frames_names_the_chunk(tmp_path: Path) -> None:
    write_layout(tmp_path / "in.h5", "xspress3")
    damage(tmp_path / "in.h5", 5, 0, b"\xff" * 16)
    result = run_cli("convert", tmp_path / "in.h5", "--stream", "d=/d", "-o", tmp_path / "o")
    assert_one_error(result.returncode, result.stderr, 1, "(/d) failed to decode", "chunk at [")


# --- filters by name, and filters that are not there ----------------------------------------


def test_fast_path_reasons_name_the_filters(tmp_path: Path, frames_u32: np.ndarray) -> None:
    path = tmp_path / "in.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("d", data=frames_u32, chunks=(1, 24, 40), **hdf5plugin.Blosc())
    result = convert(path, {"d": "/d"}, tmp_path / "o")
    assert result.streams[0].fast_path == "filters are blosc, not bitshuffle alone"


def write_jpeg_dataset(path: Path) -> None:
    """Chunks that claim HDF5's JPEG filter (32019), for which no plugin is installed here."""
    with h5py.File(path, "w") as f:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((1, 8, 8))
        dcpl.set_filter(32019, h5py.h5z.FLAG_OPTIONAL, (0, 0, 0, 0))
        space = h5py.h5s.create_simple((3, 8, 8))
        dset = h5py.h5d.create(f.id, b"d", h5py.h5t.NATIVE_UINT8, space, dcpl=dcpl)
        for i in range(3):
            dset.write_direct_chunk((i, 0, 0), bytes(64), filter_mask=0)


def test_a_missing_filter_plugin_is_named_before_anything_is_read(tmp_path: Path) -> None:
    path = tmp_path / "jpeg.h5"
    write_jpeg_dataset(path)
    with h5py.File(path, "r") as f:
        assert unavailable_filters(f["d"]) == ["32019 (jpeg)"]
    out = tmp_path / "out"
    result = run_cli("convert", path, "--stream", "d=/d", "-o", out)
    line = assert_one_error(result.returncode, result.stderr, 1, "/d", "filter 32019 (jpeg)")
    assert "is not available" in line and "plugin" in line and "/usr" not in line
    assert_no_output(out)


def test_rows_too_large_to_hold_are_left_to_hdf5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory stays bounded by a row; a row above the bound (a hostile chunk shape) is read
    frame by frame through HDF5 instead, with the same frames."""
    from h5tocbors.payloads import encoding

    data = write_layout(tmp_path / "in.h5", "xspress3")
    monkeypatch.setattr(encoding, "MAX_ROW_BYTES", 7 * 4 * 60 * 4 - 1)  # one row of 7 spectra
    with open_input(tmp_path / "in.h5") as f:
        encoder = InputFile(jobs=2).encoder(FrameSeries.of(f["d"]), "none")
        assert encoder.rows is None
        assert [bytes(p.data) for p in encoder] == [x.tobytes() for x in frames_of(data)]
