"""Corrupt HDF5 files are named as such ("corrupt HDF5 metadata"), never "unexpected".

The files are real small files with one byte changed, at a place found for each failure
an attack or the fuzz (`test_fuzz.py`) found.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from .conftest import Cli, run_cli, run_limited
from .fuzz import _checksummed, _header_messages, lookup3
from .protocol_files import contrast_scan
from .test_errors import assert_no_output, assert_one_error


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """A file in HDF5's oldest format (version 0 superblock, version 1 object headers)."""
    path = tmp_path / "small.h5"
    with h5py.File(path, "w", libver="earliest") as f:
        frames = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
        f.create_dataset("/entry/det/data", data=frames, chunks=(1, 4, 5))
        f["/entry/x"] = np.arange(3.0)
        f["/entry/alias"] = h5py.SoftLink("/entry/det/data")
    return path


def changed(path: Path, offset: int, value: int) -> Path:
    """A copy of `path` with the byte at `offset` set to `value`."""
    data = bytearray(path.read_bytes())
    data[offset] = value
    copy = path.with_name("bad.h5")
    copy.write_bytes(data)
    return copy


def test_failed_link_walk(cli: Cli, small: Path, tmp_path: Path) -> None:
    """The superblock's B-tree leaf size (offset 16) made wrong: the walk fails. It was
    reported as `link name b"RuntimeError(...)" is not UTF-8`."""
    bad = changed(small, 16, 0xFF)
    for args in (["ls", bad], ["convert", bad, "-s", "det", "-o", tmp_path / "out"]):
        code, _, err = cli(*args)
        line = assert_one_error(code, err, 1, "bad.h5", "corrupt HDF5 metadata")
        assert "UTF-8" not in line and "unexpected" not in line
    assert_no_output(tmp_path / "out")


def test_object_header_that_cannot_be_read(cli: Cli, small: Path, tmp_path: Path) -> None:
    """The dataset's first header message made a bad version: HDF5's "Can't get deprecated
    info" was "unexpected RuntimeError"."""
    with h5py.File(small, "r") as f:
        header = h5py.h5o.get_info(f["/entry/det/data"].id).addr
    bad = changed(small, header + 24, 0xFF)  # 16 header bytes, 8 message bytes: its version
    for args in (["ls", bad], ["convert", bad, "-s", "det", "-o", tmp_path / "out"]):
        code, _, err = cli(*args)
        assert_one_error(code, err, 1, "bad.h5", "corrupt HDF5 metadata", "/entry/det/data")
    assert_no_output(tmp_path / "out")


def test_dataset_that_cannot_be_opened(cli: Cli, small: Path, tmp_path: Path) -> None:
    """A dataspace of rank 0 where HDF5 expects one: opening the dataset fails."""
    with h5py.File(small, "r") as f:
        header = h5py.h5o.get_info(f["/entry/det/data"].id).addr
    bad = changed(small, header + 25, 0x00)
    for args in (
        ["ls", bad],
        ["convert", bad, "-s", "det=/entry/det/data", "-o", tmp_path / "out"],
    ):
        code, _, err = cli(*args)
        assert_one_error(code, err, 1, "bad.h5", "corrupt HDF5 metadata", "/entry/det/data")


def test_chunk_index_that_cannot_be_read(cli: Cli, tmp_path: Path) -> None:
    """HDF5's newest format (`libver="latest"`) indexes chunks in a fixed array whose blocks
    carry a checksum; its data block's signature made wrong, looking up a frame's chunk
    fails. That was "unexpected RuntimeError" (`hdf5.locate`)."""
    path = tmp_path / "latest.h5"
    with h5py.File(path, "w", libver="latest") as f:
        frames = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
        f.create_dataset("/entry/det/data", data=frames, chunks=(1, 4, 5))
    bad = changed(path, path.read_bytes().index(b"FADB"), 0x00)
    out = tmp_path / "out"
    for compression in ("bslz4", "none"):
        code, _, err = cli("convert", bad, "-s", "det", "-o", out, "-c", compression)
        assert_one_error(code, err, 1, f"corrupt HDF5 metadata in {bad} at /entry/det/data")
    assert_no_output(out)


def test_chunk_stored_beyond_the_end_of_the_file(cli: Cli, small: Path, tmp_path: Path) -> None:
    """A chunk address (in the oldest format's B-tree, unchecked) made 0xFF..FE: it was read
    there with `pread` and failed as "unexpected OverflowError" (`buffers.read_range`)."""
    with h5py.File(small, "r") as f:
        address = f["/entry/det/data"].id.get_chunk_info(0).byte_offset
    data = small.read_bytes()
    at = data.index(address.to_bytes(8, "little"))
    bad = changed(small, at + 7, 0xFF)
    out = tmp_path / "out"
    for compression in ("bslz4", "none"):
        code, _, err = cli("convert", bad, "-s", "det", "-o", out, "-c", compression)
        assert_one_error(
            code,
            err,
            1,
            f"corrupt HDF5 metadata in {bad} at /entry/det/data: chunk [0, 0, 0]",
            "beyond the end of the file",
        )
    assert_no_output(out)


def corrupt_header(path: Path, obj: str) -> None:
    """Give the object header of `obj` in `path` (HDF5's oldest format) a bad version."""
    data = bytearray(path.read_bytes())
    data[header_address(path, obj)] = 7
    path.write_bytes(data)


def corrupt_symbols(path: Path, group: str) -> None:
    """Spoil the signature of the first symbol table node of `group` (HDF5's oldest format:
    its header's symbol table message names a B-tree, whose first child is that node)."""
    data = bytearray(path.read_bytes())
    at = message_body(data, header_address(path, group), 0x11)
    tree = int.from_bytes(data[at : at + 8], "little")
    node = int.from_bytes(data[tree + 32 : tree + 40], "little")  # after "TREE", 20 bytes, key 0
    assert data[tree : tree + 4] == b"TREE" and data[node : node + 4] == b"SNOD"
    data[node] = 0
    path.write_bytes(data)


def message_body(data: bytearray, header: int, kind: int) -> int:
    """Where the body of the first message of type `kind` in a version 1 object header
    starts (16 bytes of header, then messages: type, size, flags, 3 reserved, body)."""
    at = header + 16
    while int.from_bytes(data[at : at + 2], "little") != kind:
        at += 8 + int.from_bytes(data[at + 2 : at + 4], "little")
    return at + 8


def header_address(path: Path, obj: str) -> int:
    with h5py.File(path, "r") as f:
        return int(h5py.h5o.get_info(f[obj].id).addr)


@pytest.mark.parametrize(
    ("file", "group", "spoil"),
    [
        ("000008.h5", "/entry/measurement", corrupt_header),
        ("000008.h5", "/entry/snapshots/pre_scan", corrupt_symbols),
        ("scan_000008_panda0.h5", "/entry/panda0", corrupt_symbols),
    ],
)
def test_scan_group_that_cannot_be_read(
    cli: Cli, tmp_path: Path, file: str, group: str, spoil: Callable[[Path, str], None]
) -> None:
    """A contrast master's measurement or snapshot group, or the PandA group in a file it
    links to, unreadable: named as corrupt in that file (was "unexpected KeyError" or
    "unexpected RuntimeError" from the scan's planning; found by the fuzz)."""
    (tmp_path / "scan").mkdir()
    master = contrast_scan(tmp_path / "scan", lines=2, per_line=3, panda_file=True)
    out = tmp_path / "out"
    assert cli("convert", master, "--scan", "-o", out, "-q")[0] == 0
    captures = sorted(out.glob("*.cbors"))
    spoil(master.parent / file, group)
    expected = f"corrupt HDF5 metadata in {master.parent / file} at {group}"
    for args in (
        ["convert", master, "--scan", "-o", tmp_path / "again"],
        ["verify", master, *captures, "--scan"],
    ):
        code, _, err = cli(*args)
        assert_one_error(code, err, 1, expected)
    assert_no_output(tmp_path / "again")
    code, _, err = cli("ls", master)
    assert_one_error(code, err, 1, "corrupt HDF5 metadata")


def test_root_group_that_cannot_be_opened(cli: Cli, small: Path, tmp_path: Path) -> None:
    """The superblock's root object header address moved past the end of the file (and its
    cached symbol table dropped): the file opens, its root group does not. `verify` with a
    dataset path said "unexpected KeyError" (found by the fuzz)."""
    data = bytearray(small.read_bytes())
    address = int.from_bytes(data[64:72], "little")  # version 0: the root entry is at 56
    data[64:72] = (address + 2**39).to_bytes(8, "little")
    data[72] = 0
    bad = tmp_path / "bad.h5"
    bad.write_bytes(data)
    assert cli("convert", small, "-s", "det", "-o", tmp_path / "cap", "-q")[0] == 0
    stream = ["-s", "det=/entry/det/data"]
    for args in (
        ["convert", bad, *stream, "-o", tmp_path / "out"],
        ["verify", bad, tmp_path / "cap" / "det.cbors", *stream],
    ):
        code, _, err = cli(*args)
        assert_one_error(code, err, 1, f"corrupt HDF5 metadata in {bad} at /:")
    assert_no_output(tmp_path / "out")


def test_datatype_numpy_has_no_equivalent_for(cli: Cli, tmp_path: Path) -> None:
    """An xspress3 meta dataset whose datatype class became HDF5's time type: h5py raises
    TypeError for its dtype, which was "unexpected TypeError" (found by the fuzz). The
    dataset's type is named, and the other streams are offered."""
    (tmp_path / "scan").mkdir()
    master = contrast_scan(tmp_path / "scan", lines=2, per_line=3)
    xspress = master.parent / "scan_000008_xspress3.hdf5"
    data = bytearray(xspress.read_bytes())
    at = message_body(data, header_address(xspress, "/entry/instrument/xspress3/all_good"), 3)
    data[at] = (data[at] & 0xF0) | 2  # version in the high bits, class in the low: 2 is time
    xspress.write_bytes(data)
    code, _, err = cli("convert", master, "--scan", "-o", tmp_path / "out")
    assert_one_error(
        code,
        err,
        1,
        f"/entry/instrument/xspress3/all_good in {xspress}: HDF5 time",
        "numpy has no such type",
        "give --stream contrast --stream panda0 --stream pilatus",
    )
    assert_no_output(tmp_path / "out")


def test_maximum_shape_that_does_not_fit_the_chunk_index(tmp_path: Path) -> None:
    """HDF5's newest format indexes the chunks of a dataset of fixed maximum shape in an
    array sized for that shape. Its maximum shape made larger (the header's checksum
    made to match): reading frame 2 read past the index and the process died of SIGSEGV
    (found by the fuzz)."""
    path = tmp_path / "latest.h5"
    with h5py.File(path, "w", libver="latest") as f:
        frames = np.arange(4 * 6 * 10, dtype=np.uint16).reshape(4, 6, 10)
        f.create_dataset("/entry/det/data", data=frames, chunks=(2, 6, 10), compression="gzip")
        header = h5py.h5o.get_info(f["/entry/det/data"].id).addr
    data = bytearray(path.read_bytes())
    space = next(a for a, _ in _header_messages(bytes(data), header) if data[a - 4] == 1)
    assert data[space : space + 2] == b"\x02\x03"  # dataspace version 2, rank 3
    data[space + 4 + 5 * 8 : space + 4 + 6 * 8] = (2**40 + 10).to_bytes(8, "little")
    start, end = next(c for c in _checksummed(bytes(path.read_bytes())) if c[0] == header)
    data[end : end + 4] = lookup3(bytes(data[start:end])).to_bytes(4, "little")
    path.write_bytes(data)
    out = tmp_path / "out"
    result = run_cli("convert", path, "-s", "det", "-o", out)
    assert_one_error(
        result.returncode,
        result.stderr,
        1,
        f"corrupt HDF5 metadata in {path} at /entry/det/data",
        "chunk index lists a chunk at [0, 0, 10]",
    )
    assert_no_output(out)


def test_dataset_that_stores_few_of_its_frames(tmp_path: Path) -> None:
    """A dataset extended to a billion frames, four of them written: the conversion wrote
    fill values for hours (the fuzz saw such a file hang). Fill values are converted up to
    a limit; `--frames` selects the stored frames."""
    path = tmp_path / "sparse.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("/entry/det/data", (4, 6, 10), "u2", chunks=(1, 6, 10),
                             maxshape=(None, 6, 10))  # fmt: skip
        d[:] = 7
        d.resize(10**9, axis=0)
    out = tmp_path / "out"
    result = run_limited("convert", path, "-s", "det", "-o", out, cpu_seconds=60)
    assert_one_error(
        result.returncode,
        result.stderr,
        1,
        "/entry/det/data",
        "1,000,000,000 frames to convert",
        "chunks stored for at most 4",
        "--frames",
    )
    assert_no_output(out)
    assert run_cli("convert", path, "-s", "det", "-o", out, "--frames", "0:4").returncode == 0


def test_huge_sparse_dataset(cli: Cli, tmp_path: Path) -> None:
    """A dataset declared 10 frames of 1048576x1048576 and never written: one frame would
    be 4 TiB ("unexpected MemoryError" before). Frames are limited to 1 GiB."""
    h5 = tmp_path / "huge.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("/entry/det/data", (10, 2**20, 2**20), "u4", chunks=(1, 64, 64))
    out = tmp_path / "out"
    code, _, err = cli("convert", h5, "-s", "det", "-o", out)
    assert_one_error(code, err, 1, "/entry/det/data", "huge.h5", "1048576x1048576", "1 GiB")
    assert_no_output(out)
    code, out_text, _ = cli("ls", h5)
    assert code == 0 and "1 GiB" in out_text and "--stream" not in out_text
