"""Missing data is never silent: HDF5 reads fill values for a virtual dataset's missing
source; h5tocbors resolves every mapping first and refuses, naming what is missing.

The layouts mimic real files: a Diamond NXmx file whose /entry/data/data is a virtual
dataset over /entry/data/data_000001 of the same file, which does not exist; a virtual
dataset over a dangling external link; interleaved sources; a scan grid.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from .conftest import Cli, decoded_frames, listing
from .test_errors import assert_no_output, assert_one_error

FRAMES = np.arange(1, 6 * 4 * 5 + 1, dtype=np.uint16).reshape(6, 4, 5)


def vds(
    path: Path, parts: list[tuple[slice, str, str]], shape: tuple[int, ...] = FRAMES.shape
) -> Path:
    """A file whose /entry/data/data maps `parts`: (virtual slice, source file, dataset)."""
    with h5py.File(path, "a") as f:
        layout = h5py.VirtualLayout(shape, FRAMES.dtype)
        for where, file, dataset in parts:
            n = len(range(shape[0])[where])
            layout[where] = h5py.VirtualSource(file, dataset, shape=(n, *shape[1:]))
        f.create_virtual_dataset("/entry/data/data", layout, fillvalue=0)
    return path


def captured(path: Path, stream: str = "data") -> np.ndarray:
    return np.stack(decoded_frames(path, stream))


def test_nxmx_over_a_dataset_of_its_own_file_that_does_not_exist(cli: Cli, tmp_path: Path) -> None:
    """The Diamond file: all fill values with exit 0 before; now refused, and ls says why."""
    h5 = vds(tmp_path / "nxmx.h5", [(slice(None), ".", "/entry/data/data_000001")])
    out = tmp_path / "out"
    for stream in ("data", "data=/entry/data/data"):
        code, _, err = cli("convert", h5, "--stream", stream, "-o", out)
        assert_one_error(code, err, 1, "/entry/data/data", "/entry/data/data_000001", "fill values")
        assert_no_output(out)

    entry = listing(cli, h5)["/entry/data/data"]
    assert entry["stream"] is None and not entry["image"]
    assert [(s["file"], s["dataset"], s["exists"]) for s in entry["sources"]] == [
        (".", "/entry/data/data_000001", False)
    ]
    assert "/entry/data/data_000001" in entry["note"]
    code, table, _ = cli("ls", h5)
    assert "virtual (1 source, 1 missing)" in table and "--stream" not in table


@pytest.fixture
def dangling(tmp_path: Path) -> Path:
    """Frames 0-2 behind an external link to part_000001.h5, 3-5 behind one to a file
    that is gone."""
    with h5py.File(tmp_path / "part_000001.h5", "w") as f:
        f["/entry/data/data"] = FRAMES[:3]
    h5 = tmp_path / "master.h5"
    with h5py.File(h5, "w") as f:
        for i, file in ((1, "part_000001.h5"), (2, "gone_000002.h5")):
            f[f"/entry/data/data_00000{i}"] = h5py.ExternalLink(file, "/entry/data/data")
    return vds(
        h5,
        [
            (slice(0, 3), ".", "/entry/data/data_000001"),
            (slice(3, 6), ".", "/entry/data/data_000002"),
        ],
    )


def test_virtual_dataset_over_a_dangling_external_link(
    cli: Cli, tmp_path: Path, dangling: Path
) -> None:
    out = tmp_path / "out"
    code, _, err = cli("convert", dangling, "-s", "data=/entry/data/data", "-o", out)
    assert_one_error(
        code, err, 1, "/entry/data/data", "frame 3", "/entry/data/data_000002", "gone_000002.h5"
    )
    assert_no_output(out)


def test_frames_from_present_sources_only_may_proceed(
    cli: Cli, tmp_path: Path, dangling: Path
) -> None:
    out = tmp_path / "out"
    code, _, err = cli(
        "convert", dangling, "-s", "data=/entry/data/data", "-o", out, "--frames", "0:3"
    )
    assert code == 0, err
    assert np.array_equal(captured(out / "data.cbors"), FRAMES[:3])
    code, _, err = cli(
        "verify", dangling, out / "data.cbors", "-s", "data=/entry/data/data", "--frames", "0:3"
    )
    assert code == 0, err
    for frames in ("1:4", "5:", "::-1"):
        code, _, err = cli(
            "convert",
            dangling,
            "-s",
            "data=/entry/data/data",
            "-o",
            tmp_path / "o2",
            "--frames",
            frames,
        )
        assert_one_error(code, err, 1, "gone_000002.h5")


def test_ls_shows_sources_and_dangling_links(cli: Cli, dangling: Path) -> None:
    ds = listing(cli, dangling)
    sources = ds["/entry/data/data"]["sources"]
    assert [(s["dataset"], s["exists"]) for s in sources] == [
        ("/entry/data/data_000001", True),
        ("/entry/data/data_000002", False),
    ]
    assert "gone_000002.h5 is missing" in sources[1]["problem"]
    assert ds["/entry/data/data"]["stream"] is None
    link = ds["/entry/data/data_000002"]  # left out before
    assert (link["layout"], link["shape"], link["stream"]) == ("link", None, None)
    assert "external link to gone_000002.h5:/entry/data/data" in link["note"]
    assert ds["/entry/data/data_000001"]["stream"] is not None


def test_interleaved_sources(cli: Cli, tmp_path: Path) -> None:
    """Even frames from one file, odd frames from another that is missing: each selected
    frame is mapped to the mappings that fill it."""
    with h5py.File(tmp_path / "even.h5", "w") as f:
        f["data"] = FRAMES[::2]
    h5 = vds(
        tmp_path / "inter.h5",
        [(slice(0, 6, 2), "even.h5", "data"), (slice(1, 6, 2), "odd.h5", "data")],
    )
    out = tmp_path / "out"
    code, _, err = cli("convert", h5, "-s", "data", "-o", out, "--frames", "::2", "-q")
    assert code == 0, err
    assert np.array_equal(captured(out / "data.cbors"), FRAMES[::2])
    for frames in ("1:2", "0:2", "5:6"):
        code, _, err = cli("convert", h5, "-s", "data", "-o", tmp_path / "o2", "--frames", frames)
        assert_one_error(code, err, 1, "odd.h5", "missing")


def test_scan_grid_with_a_missing_row(cli: Cli, tmp_path: Path) -> None:
    """A (rows, columns, H, W) grid whose second row is missing: frames count in C order."""
    grid = FRAMES.reshape(2, 3, 4, 5)
    with h5py.File(tmp_path / "row0.h5", "w") as f:
        f["data"] = grid[0]
    h5 = tmp_path / "grid.h5"
    with h5py.File(h5, "w") as f:
        layout = h5py.VirtualLayout(grid.shape, grid.dtype)
        layout[0] = h5py.VirtualSource("row0.h5", "data", shape=grid.shape[1:])
        layout[1] = h5py.VirtualSource("row1.h5", "data", shape=grid.shape[1:])
        f.create_virtual_dataset("/entry/scan/data", layout, fillvalue=0)
    code, _, err = cli("convert", h5, "-s", "scan", "-o", tmp_path / "out", "--frames", "0:3", "-q")
    assert code == 0, err
    assert np.array_equal(captured(tmp_path / "out" / "scan.cbors", "scan"), FRAMES[:3])
    code, _, err = cli("convert", h5, "-s", "scan", "-o", tmp_path / "o2", "--frames", "2:4")
    assert_one_error(code, err, 1, "frame 3", "row1.h5")


def test_verify_refuses_fill_values_for_a_source_that_went_missing(
    cli: Cli, tmp_path: Path
) -> None:
    """A capture of zeros made from the fill values is not 'identical' to missing data."""
    with h5py.File(tmp_path / "part.h5", "w") as f:
        f["data"] = np.zeros_like(FRAMES)
    h5 = vds(tmp_path / "run.h5", [(slice(None), "part.h5", "data")])
    out = tmp_path / "out"
    assert cli("convert", h5, "-s", "data", "-o", out, "-q")[0] == 0
    (tmp_path / "part.h5").unlink()
    code, stdout, err = cli("verify", h5, out / "data.cbors")
    assert_one_error(code, err, 1, "/entry/data/data", "part.h5", "missing", "fill values")
    assert "identical" not in stdout


@pytest.mark.parametrize("mapped", ["all", "slab"])
def test_source_smaller_than_its_mapping(cli: Cli, tmp_path: Path, mapped: str) -> None:
    """A source with fewer frames than its mapping takes: HDF5 would pad with fill values."""
    with h5py.File(tmp_path / "part.h5", "w") as f:
        f["data"] = FRAMES[:4]
    h5 = tmp_path / "run.h5"
    with h5py.File(h5, "w") as f:
        layout = h5py.VirtualLayout(FRAMES.shape, FRAMES.dtype)
        source = h5py.VirtualSource("part.h5", "data", shape=FRAMES.shape)  # claims 6 frames
        layout[:] = source if mapped == "all" else source[0:6]
        f.create_virtual_dataset("/entry/data/data", layout, fillvalue=0)
    code, _, err = cli("convert", h5, "-s", "data", "-o", tmp_path / "out")
    assert_one_error(code, err, 1, "/entry/data/data", "part.h5:data", "(4, 4, 5)")


def test_external_raw_file_too_short(cli: Cli, tmp_path: Path) -> None:
    """HDF5 reads zeros past the end of an external raw file: refused instead."""
    (tmp_path / "raw.bin").write_bytes(FRAMES.tobytes()[:100])
    h5 = tmp_path / "run.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset(
            "/entry/data/data", FRAMES.shape, FRAMES.dtype, external=[("raw.bin", 0, FRAMES.nbytes)]
        )
    code, _, err = cli("convert", h5, "-s", "data", "-o", tmp_path / "out")
    assert_one_error(code, err, 1, "/entry/data/data", "raw.bin", "100 bytes", f"{FRAMES.nbytes}")
