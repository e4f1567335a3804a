"""The fast path: which sources pass stored chunks through, and that both paths agree."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import bitshuffle
import h5py
import hdf5plugin
import numpy as np
import pytest
from dranspose.middlewares.stream1 import parse

from h5tocbors import convert
from h5tocbors.hdf5.frames import FrameSeries
from h5tocbors.hdf5.open import open_input
from h5tocbors.hdf5.passthrough import default_block_bytes
from h5tocbors.payloads.encoding import InputFile

from .conftest import decode_frame, read_capture


def write(tmp_path: Path, data: np.ndarray, **options: Any) -> Path:
    """One dataset at /d, one frame per chunk unless `options` say otherwise."""
    options.setdefault("chunks", (1, *data.shape[1:]))
    path = tmp_path / "in.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("d", data=data, **options)
    return path


def payloads(tmp_path: Path, src: Path, **kwargs: Any) -> tuple[Any, list[bytes]]:
    """Convert /d of `src`; return the result and the image payloads."""
    result = convert(src, {"d": "/d"}, tmp_path / "out", force=True, **kwargs)
    msgs = read_capture(tmp_path / "out" / "d.cbors")
    return result.streams[0], [bytes(m.streams["d"].frames[1]) for m in msgs[1:-1]]


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32", "int32", "float32", "float64"])
def test_default_lz4_chunks_pass_through_byte_identical(
    tmp_path: Path, frames_u32: np.ndarray, dtype: str
) -> None:
    data = frames_u32.astype(dtype)
    stream, got = payloads(tmp_path, write(tmp_path, data, **hdf5plugin.Bitshuffle(cname="lz4")))
    assert stream.fast_path == "passthrough"
    assert stream.passthrough_frames == len(data) == stream.frames
    assert got == [bitshuffle.compress_lz4(frame).tobytes() for frame in data]


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (hdf5plugin.Bitshuffle(nelems=1024, cname="lz4"), "block size"),
        (hdf5plugin.Bitshuffle(cname="zstd"), "zstd"),
        ({"compression": "gzip"}, "not bitshuffle"),
        ({}, "not bitshuffle"),
    ],
    ids=["lz4-block-1024", "zstd", "gzip", "uncompressed"],
)
def test_other_storage_is_decoded_and_recompressed(
    tmp_path: Path, frames_u32: np.ndarray, options: dict[str, Any], reason: str
) -> None:
    stream, got = payloads(tmp_path, write(tmp_path, frames_u32, **options))
    assert reason in stream.fast_path
    assert stream.passthrough_frames == 0
    assert got == [bitshuffle.compress_lz4(frame).tobytes() for frame in frames_u32]


def test_lz4_with_default_block_given_explicitly_passes_through(
    tmp_path: Path, frames_u32: np.ndarray
) -> None:
    nelems = default_block_bytes(4) // 4
    src = write(tmp_path, frames_u32, **hdf5plugin.Bitshuffle(nelems=nelems, cname="lz4"))
    stream, _ = payloads(tmp_path, src)
    assert stream.passthrough_frames == len(frames_u32)


@pytest.mark.parametrize(
    ("data", "chunks", "reason"),
    [
        (np.zeros((4, 8, 8), ">u2"), (1, 8, 8), "big-endian"),
        (np.zeros((4, 8, 8), "u2"), (2, 8, 8), "one frame"),
        (np.zeros((4, 8, 8), "u2"), (1, 4, 8), "one frame"),
    ],
    ids=["big-endian", "two-frames-per-chunk", "half-frame-chunks"],
)
def test_refusals_name_the_reason(
    tmp_path: Path, data: np.ndarray, chunks: tuple[int, ...], reason: str
) -> None:
    src = write(tmp_path, data, chunks=chunks, **hdf5plugin.Bitshuffle(cname="lz4"))
    stream, got = payloads(tmp_path, src)
    assert reason in stream.fast_path and stream.passthrough_frames == 0
    le = data.astype(data.dtype.newbyteorder("<"))
    assert got == [bitshuffle.compress_lz4(frame).tobytes() for frame in le]


def test_compression_none_never_passes_through(tmp_path: Path, frames_u32: np.ndarray) -> None:
    src = write(tmp_path, frames_u32, **hdf5plugin.Bitshuffle(cname="lz4"))
    stream, got = payloads(tmp_path, src, compression="none")
    assert stream.passthrough_frames == 0
    assert got == [frame.tobytes() for frame in frames_u32]


def test_unwritten_chunks_fall_back_to_fill_value(tmp_path: Path) -> None:
    src = tmp_path / "in.h5"
    frame = np.arange(64, dtype=np.uint16).reshape(8, 8)
    with h5py.File(src, "w") as f:
        d = f.create_dataset(
            "d",
            (3, 8, 8),
            "u2",
            chunks=(1, 8, 8),
            fillvalue=7,
            **hdf5plugin.Bitshuffle(cname="lz4"),
        )
        d[1] = frame
    stream, _ = payloads(tmp_path, src)
    assert stream.passthrough_frames == 1
    msgs = read_capture(tmp_path / "out" / "d.cbors")
    np.testing.assert_array_equal(decode_frame(msgs[1], "d"), np.full((8, 8), 7, np.uint16))
    np.testing.assert_array_equal(decode_frame(msgs[2], "d"), frame)


def test_passed_through_frames_are_not_handed_to_worker_threads(
    tmp_path: Path, frames_u32: np.ndarray
) -> None:
    """Stored payloads need no work: with 2 jobs, one frame that is not passed through (an
    unwritten chunk) is encoded in the calling thread too, and no worker thread starts."""
    src = tmp_path / "in.h5"
    with h5py.File(src, "w") as f:
        d = f.create_dataset(
            "d", frames_u32.shape, "u4", chunks=(1, 24, 40), **hdf5plugin.Bitshuffle()
        )
        d[1:] = frames_u32[1:]
    with open_input(src) as f, InputFile.open(src, jobs=2) as source:
        encoder = source.encoder(FrameSeries.of(f["d"]), "bslz4")
        threads, passed = [], []
        for payload in encoder:
            threads += [t.name for t in threading.enumerate() if t.name.startswith("h5tocbors")]
            passed.append(payload.passthrough)
    assert passed == [False] + [True] * (len(frames_u32) - 1)
    assert threads == []


def test_both_paths_give_the_same_frames(tmp_path: Path, frames_u32: np.ndarray) -> None:
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    fast.mkdir()
    slow.mkdir()
    a = write(fast, frames_u32, **hdf5plugin.Bitshuffle(cname="lz4"))
    b = write(slow, frames_u32, compression="gzip")
    sa, pa = payloads(fast, a)
    sb, pb = payloads(slow, b)
    assert (sa.passthrough_frames, sb.passthrough_frames) == (len(frames_u32), 0)
    assert pa == pb


def test_chunks_that_are_not_default_lz4_streams_are_reencoded(tmp_path: Path) -> None:
    frames = np.random.default_rng(5).integers(0, 9, (3, 16, 16), dtype=np.uint32)
    src = tmp_path / "in.h5"
    with h5py.File(src, "w") as f:
        d = f.create_dataset(
            "d", frames.shape, "u4", chunks=(1, 16, 16), **hdf5plugin.Bitshuffle(cname="lz4")
        )
        d[0] = frames[0]
        # frame 1: stored with the filter skipped (filter mask bit set), raw bytes
        d.id.write_direct_chunk((1, 0, 0), frames[1].tobytes(), filter_mask=1)
        # frame 2: a bitshuffle-LZ4 stream with a non-default block size (64 elements)
        stream = bitshuffle.compress_lz4(frames[2], 64).tobytes()
        header = int(frames[2].nbytes).to_bytes(8, "big") + (64 * 4).to_bytes(4, "big")
        d.id.write_direct_chunk((2, 0, 0), header + stream)
    result, got = payloads(tmp_path, src)
    assert result.passthrough_frames == 1
    assert got == [bitshuffle.compress_lz4(frame).tobytes() for frame in frames]


@pytest.mark.parametrize("chunks", [(1, 24, 40), None], ids=["chunked", "contiguous"])
def test_unfiltered_frames_pass_through_into_none_payloads(
    tmp_path: Path, frames_u32: np.ndarray, chunks: tuple[int, ...] | None
) -> None:
    src = tmp_path / "in.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("d", data=frames_u32, chunks=chunks)
    stream, got = payloads(tmp_path, src, compression="none")
    assert stream.fast_path == "passthrough" and stream.passthrough_frames == len(frames_u32)
    assert got == [frame.tobytes() for frame in frames_u32]


@pytest.mark.parametrize(
    ("compression", "chunks"),
    [("bslz4", (1, 24, 40)), ("none", (1, 24, 40)), ("none", None)],
    ids=["bslz4", "none-chunked", "none-contiguous"],
)
def test_files_with_a_userblock(
    tmp_path: Path, frames_u32: np.ndarray, compression: str, chunks: tuple[int, ...] | None
) -> None:
    """A userblock shifts every address: kernel copies must read the right bytes."""
    src = tmp_path / "in.h5"
    with h5py.File(src, "w", userblock_size=4096) as f:
        options = hdf5plugin.Bitshuffle() if compression == "bslz4" else {}
        f.create_dataset("d", data=frames_u32, chunks=chunks, **options)
    with open(src, "r+b") as fh:
        fh.write(b"a userblock that must not end up in a payload".ljust(4096, b"!"))
    stream, got = payloads(tmp_path, src, compression=compression)
    assert stream.passthrough_frames == len(frames_u32)
    want = [
        bitshuffle.compress_lz4(f).tobytes() if compression == "bslz4" else f.tobytes()
        for f in frames_u32
    ]
    assert got == want


@pytest.mark.parametrize("storage", ["bslz4", "gzip"])
def test_datasets_behind_external_links_are_read_from_their_own_file(
    tmp_path: Path, frames_u32: np.ndarray, storage: str
) -> None:
    """An Eiger-style master file links to data files: offsets belong to the data file."""
    options = hdf5plugin.Bitshuffle() if storage == "bslz4" else {"compression": "gzip"}
    with h5py.File(tmp_path / "data_000001.h5", "w") as f:
        f.create_dataset("data", data=frames_u32, chunks=(1, 24, 40), **options)
    master = tmp_path / "master.h5"
    with h5py.File(master, "w") as f:
        f.create_dataset("padding", data=np.arange(100_000))  # the master's own bytes differ
        f["/entry/data/data_000001"] = h5py.ExternalLink("data_000001.h5", "/data")
    result = convert(master, {"det": "/entry/data/data_000001"}, tmp_path / "o")
    msgs = read_capture(tmp_path / "o" / "det.cbors")
    for k, frame in enumerate(frames_u32):
        np.testing.assert_array_equal(decode_frame(msgs[k + 1], "det"), frame)
    assert result.streams[0].frames == len(frames_u32)


def test_external_raw_files_are_found_beside_the_hdf5_file(
    tmp_path: Path, frames_u32: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HDF5 would look in the current directory, and read a stranger of the same name there."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "frames.raw").write_bytes(frames_u32.tobytes())
    with h5py.File(tmp_path / "data" / "ext.h5", "w") as f:
        f.create_dataset(
            "d", frames_u32.shape, frames_u32.dtype, external=[("frames.raw", 0, frames_u32.nbytes)]
        )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "frames.raw").write_bytes(bytes(frames_u32.nbytes))  # the stranger: zeros
    monkeypatch.chdir(elsewhere)
    convert(tmp_path / "data" / "ext.h5", {"d": "/d"}, tmp_path / "o", compression="none")
    msgs = read_capture(tmp_path / "o" / "d.cbors")
    np.testing.assert_array_equal(decode_frame(msgs[1], "d"), frames_u32[0])


def test_nothing_to_pass_through_is_not_called_passthrough(tmp_path: Path) -> None:
    src = tmp_path / "compact.h5"
    with h5py.File(src, "w") as f:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        space = h5py.h5s.create_simple((2, 3, 4))
        h5py.h5d.create(f.id, b"d", h5py.h5t.NATIVE_UINT8, space, dcpl=dcpl).write(
            h5py.h5s.ALL, h5py.h5s.ALL, np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
        )
    stream, got = payloads(tmp_path, src, compression="none")
    assert stream.passthrough_frames == 0 and stream.fast_path != "passthrough"
    assert got == [bytes(range(12)), bytes(range(12, 24))]


def test_large_payloads_land_page_aligned_as_in_the_input(tmp_path: Path) -> None:
    """A stored payload of 256 KiB or more starts at the same offset within a page in the
    capture as in the input (its JSON header ends in spaces), which the kernel copies
    faster; headers still parse, and small payloads get no spaces."""
    rng = np.random.default_rng(5)
    big = rng.integers(0, 2**32, size=(3, 256, 512), dtype=np.uint32)  # 512 kB, incompressible
    src = write(tmp_path, big, **hdf5plugin.Bitshuffle(cname="lz4"))
    stream, got = payloads(tmp_path, src)
    assert stream.fast_path == "passthrough"
    assert got == [bitshuffle.compress_lz4(frame).tobytes() for frame in big]
    capture = (tmp_path / "out" / "d.cbors").read_bytes()
    with h5py.File(src, "r") as f:
        stored = [f["d"].id.get_chunk_info(k).byte_offset + 12 for k in range(3)]
    for payload, offset in zip(got, stored):
        assert capture.find(payload) % 4096 == offset % 4096
    msgs = read_capture(tmp_path / "out" / "d.cbors")
    headers = [bytes(m.streams["d"].frames[0]) for m in msgs[1:-1]]
    assert all(h.rstrip(b" ").endswith(b"}") for h in headers)
    assert any(h.endswith(b" ") for h in headers)  # spaces were needed somewhere
    assert [json.loads(h)["frame"] for h in headers] == [0, 1, 2]
    images = [parse(m.streams["d"]) for m in msgs[1:-1]]  # dranspose's own STINS parser
    assert [image.frame for image in images] == [0, 1, 2]
    (tmp_path / "small").mkdir()
    small = write(tmp_path / "small", big[:, :16, :16], **hdf5plugin.Bitshuffle(cname="lz4"))
    convert(small, {"d": "/d"}, tmp_path / "small-out")
    frames = [m.streams["d"].frames[0] for m in read_capture(tmp_path / "small-out" / "d.cbors")]
    assert all(not bytes(f).endswith(b" ") for f in frames)
