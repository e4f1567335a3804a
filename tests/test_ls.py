"""`h5tocbors ls`: every dataset with its storage, and how to convert it."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest

from .conftest import BIN, REPO, Cli, listing


@pytest.fixture
def scan(tmp_path: Path) -> Path:
    """Datasets stored every way `ls` tells apart."""
    frames = np.zeros((3, 8, 10), np.uint16)
    for i in range(2):
        with h5py.File(tmp_path / f"part{i}.h5", "w") as f:
            f["data"] = frames
    path = tmp_path / "scan.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("lz4", data=frames, chunks=(1, 8, 10), **hdf5plugin.Bitshuffle())
        f.create_dataset(
            "zstd", data=frames, chunks=(1, 8, 10), **hdf5plugin.Bitshuffle(cname="zstd")
        )
        f.create_dataset("gz", data=frames, chunks=(1, 8, 10), compression="gzip", shuffle=True)
        f.create_dataset("lzf", data=frames, chunks=(3, 8, 10), compression="lzf")
        f.create_dataset("plain", data=frames)
        f["instrument/eiger/data"] = frames
        f["positions"] = np.arange(3.0)
        f["title"] = "a scan"
        f["table"] = np.zeros(3, dtype=[("x", "f4"), ("y", "i4")])
        f["alias"] = h5py.SoftLink("/lz4")
        layout = h5py.VirtualLayout((6, 8, 10), np.uint16)
        for i in range(2):
            layout[3 * i : 3 * i + 3] = h5py.VirtualSource(f"part{i}.h5", "data", (3, 8, 10))
        f.create_virtual_dataset("vds", layout)
        f.create_dataset("ext", (2, 4, 4), "u1", external=[("raw.bin", 0, 32)])
    (tmp_path / "part1.h5").unlink()
    return path


def test_storage_and_filters(cli: Cli, scan: Path) -> None:
    ds = listing(cli, scan)
    assert ds["/lz4"]["filters"] == ["bitshuffle-lz4"]
    assert ds["/zstd"]["filters"] == ["bitshuffle-zstd"]
    assert ds["/gz"]["filters"] == ["shuffle", "gzip"]
    assert ds["/lzf"]["filters"] == ["lzf"] and ds["/lzf"]["chunks"] == [3, 8, 10]
    assert ds["/plain"]["layout"] == "contiguous" and ds["/plain"]["filters"] == []
    assert (ds["/lz4"]["shape"], ds["/lz4"]["dtype"]) == ([3, 8, 10], "uint16")


def test_fast_path_and_stream_arguments(cli: Cli, scan: Path) -> None:
    ds = listing(cli, scan)
    assert [p for p, d in ds.items() if d["fast_path"]] == ["/lz4"]
    assert ds["/lz4"]["stream"] == "--stream lz4=/lz4"
    assert ds["/instrument/eiger/data"]["stream"] == "--stream eiger=/instrument/eiger/data"
    assert ds["/lz4"]["links"] == ["/alias"] and "/alias" not in ds
    for path in ("/positions", "/title", "/table"):
        assert not ds[path]["image"] and ds[path]["stream"] is None
    assert ds["/title"]["dtype"] == "string" and ds["/table"]["dtype"] == "compound"


def test_virtual_and_external_sources(cli: Cli, scan: Path) -> None:
    ds = listing(cli, scan)
    vds = ds["/vds"]
    assert vds["layout"] == "virtual"
    part0, part1 = vds["sources"]
    assert part0 == {
        "file": "part0.h5",
        "dataset": "data",
        "exists": True,
        "problem": None,
        "refused": False,
    }
    assert (part1["file"], part1["exists"], part1["refused"]) == ("part1.h5", False, False)
    assert part1["problem"].startswith("part1.h5 is missing")
    assert not vds["image"] and vds["stream"] is None  # no --stream: its data is not all there
    assert vds["note"].startswith("missing source part1.h5:data: part1.h5 is missing")
    ext = ds["/ext"]
    assert ext["layout"] == "external" and ext["stream"] is None
    assert [(s["file"], s["dataset"], s["exists"]) for s in ext["sources"]] == [
        ("raw.bin", None, False)
    ]


def test_table(cli: Cli, scan: Path) -> None:
    code, out, _ = cli("ls", scan)
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "chunked 1x8x10 bitshuffle-lz4" in rows["/lz4"] and " yes " in rows["/lz4"]
    assert "--stream lz4=/lz4" in rows["/lz4"] and "also at /alias" in rows["/lz4"]
    assert "virtual (2 sources, 1 missing)" in rows["/vds"]
    assert "string data" in rows["/title"]


def test_sample_data(cli: Cli) -> None:
    ds = listing(cli, REPO / "sample_data" / "pilatus_100k.h5")
    frames = ds["/entry/measurement/pilatus/frames"]
    assert frames["fast_path"] and frames["stream"].startswith("--stream pilatus=")


@pytest.mark.parametrize("content", [None, b"not hdf5"])
def test_bad_input(cli: Cli, tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "x.h5"
    if content is not None:
        path.write_bytes(content)
    code, _, err = cli("ls", path)
    assert code == 1 and len(err.splitlines()) == 1 and "x.h5" in err


def test_compact_layout(cli: Cli, tmp_path: Path) -> None:
    """A dataset stored in its object header is shown as compact, not contiguous."""
    path = tmp_path / "compact.h5"
    with h5py.File(path, "w") as f:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        space = h5py.h5s.create_simple((2, 3, 4))
        h5py.h5d.create(f.id, b"small", h5py.h5t.STD_U8LE, space, dcpl=dcpl)
    assert listing(cli, path)["/small"]["layout"] == "compact"
    code, out, _ = cli("ls", path)
    assert code == 0 and "compact none" in out


def test_stream_argument_is_quoted_for_a_shell(cli: Cli, tmp_path: Path) -> None:
    """A path with spaces or quotes is suggested quoted, and the suggestion works in a shell."""
    path = tmp_path / "odd names.h5"
    with h5py.File(path, "w") as f:
        f["/entry/my det's/data"] = np.zeros((2, 3, 4), np.uint8)
    stream = listing(cli, path)["/entry/my det's/data"]["stream"]
    assert stream == "--stream 'my_det_s=/entry/my det'\"'\"'s/data'"
    assert shlex.split(stream) == ["--stream", "my_det_s=/entry/my det's/data"]
    out = tmp_path / "out"
    program, h5, directory = (shlex.quote(str(p)) for p in (BIN / "h5tocbors", path, out))
    command = f"{program} convert {h5} {stream} -o {directory} -q"
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (out / "my_det_s.cbors").exists()
