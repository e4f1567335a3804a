"""Corrupt HDF5 files are named as such ("corrupt HDF5 metadata"), never "unexpected".

The files are real small files with one byte changed: at a fixed place for each failure
the attack found, and at a few hundred seeded places for the rest.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from .conftest import REPO
from .test_errors import assert_no_output, assert_one_error

Cli = Callable[..., tuple[int, str, str]]


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


def test_seeded_mutations(cli: Cli, small: Path, tmp_path: Path) -> None:
    """150 seeded one-byte mutations, each listed and verified: one clear line or success,
    never "unexpected", no traceback, no crash, no hang."""
    capture = tmp_path / "cap"
    assert cli("convert", small, "-s", "det", "-o", capture, "-q")[0] == 0
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.mutate_hdf5",
            str(small),
            str(capture / "det.cbors"),
            "7",
            "150",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-2000:]  # no crash
    runs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(runs) == 300
    for run in runs:
        assert run["code"] in (0, 1), run
        assert "unexpected" not in run["stderr"] and "Traceback" not in run["stderr"], run
        if run["code"] == 1:
            assert len(run["stderr"].splitlines()) == 1, run
    assert sum(run["code"] == 1 for run in runs) > 20  # the mutations do hit metadata
