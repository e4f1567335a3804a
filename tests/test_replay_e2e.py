"""End to end: HDF5 file -> `h5tocbors convert` -> the real `dranspose replay` -> decoded frames.

Every test writes a real HDF5 file with h5py/hdf5plugin, converts it with the installed
`h5tocbors` command and replays the result with the installed `dranspose` command, whose
worker and reducer (`tests/replay_app.py`) record what each event delivered.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
import pytest
from dranspose.ingester import Dumper
from dranspose.replay import get_internals

from .conftest import BIN, REPO, run_cli, stins_header
from .replay_app import RECORD_ENV
from .replay_source import INPUT_ENV

WORKER = "tests.replay_app:RecordingWorker"
REDUCER = "tests.replay_app:RecordingReducer"
PILATUS = "/entry/instrument/pilatus/data"
EIGER = "/entry/instrument/eiger/data"

Record = dict[int, dict[str, dict[str, Any]]]


def bitshuffle_lz4() -> dict[str, Any]:
    """Create options of a detector-style dataset: bitshuffle-LZ4 with the default block."""
    return dict(hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))


def source_frames(path: Path, dataset: str, selection: slice | None = None) -> list[np.ndarray]:
    """The frames of `dataset` as h5py reads them, little-endian, C order over leading axes."""
    with h5py.File(path, "r") as f:
        dset = f[dataset]
        lead = dset.shape[:1] if dset.ndim == 2 else dset.shape[:-2]
        frames = [dset[index] for index in np.ndindex(*lead)]
    if selection is not None:
        frames = frames[selection]
    return [np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")) for a in frames]


def sha256(array: np.ndarray) -> str:
    """The digest the recording worker computes for a decoded image."""
    return hashlib.sha256(array.tobytes()).hexdigest()


def convert(*args: str | os.PathLike[str]) -> dict[str, Any]:
    """Run `h5tocbors convert ... --json` and return its result."""
    proc = run_cli("convert", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def replay(
    tmp_path: Path, *args: str | os.PathLike[str], env: dict[str, str] | None = None
) -> Record:
    """Run the real `dranspose replay` with the recording app; return event -> stream -> entry."""
    record = tmp_path / "record.json"
    record.unlink(missing_ok=True)
    environment = {**os.environ, "LOG_LEVEL": "WARNING", RECORD_ENV: str(record), **(env or {})}
    proc = subprocess.run(
        [str(BIN / "dranspose"), "replay", "-w", WORKER, "-r", REDUCER, *map(str, args)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert record.exists(), f"the reducer wrote no record:\n{proc.stderr}"
    data = json.loads(record.read_text())
    deliveries = Counter(data["deliveries"])
    # Event 0 is broadcast to every worker; every other event goes to exactly one.
    assert all(n == 1 for event, n in deliveries.items() if event != 0), deliveries
    return {int(k): v for k, v in data["events"].items()}


def assert_stins_series(
    record: Record,
    stream: str,
    expected: list[np.ndarray],
    *,
    compression: str = "bslz4",
    filename: str = "",
) -> None:
    """`stream` is a STINS series: header at event 0, frame k-1 at event k, end at event N+1."""
    n = len(expected)
    assert sorted(record) == list(range(n + 2))
    header = record[0][stream]
    assert header["htype"] == "header"
    assert header["msg_number"] == 0
    assert header["filename"] == filename
    for k in range(1, n + 1):
        entry = record[k][stream]
        frame = expected[k - 1]
        assert entry["htype"] == "image", (k, entry)
        assert entry["msg_number"] == k
        assert entry["frame"] == k - 1
        assert entry["parts"] == 2
        assert entry["compression"] == compression
        assert entry["type"] == frame.dtype.name
        assert entry["header_shape"] == list(frame.shape)
        assert entry["shape"] == list(frame.shape)
        assert entry["dtype"] == frame.dtype.str
        assert entry["sha256"] == sha256(frame), f"{stream} frame {k - 1} differs"
    end = record[n + 1][stream]
    assert end["htype"] == "series_end"
    assert end["msg_number"] == n + 1
    assert max(record) == n + 1


def write_two_streams(path: Path, frames_u32: np.ndarray) -> Path:
    """A file with `pilatus` (uint32, bitshuffle-LZ4, one frame per chunk) and `eiger` (uint16,
    gzip, two frames per chunk), both with as many frames as `frames_u32`."""
    n, h, w = frames_u32.shape
    eiger = np.random.default_rng(2).integers(0, 60000, (n, 16, 20), dtype=np.uint16)
    with h5py.File(path, "w") as f:
        f.create_dataset(PILATUS, data=frames_u32, chunks=(1, h, w), **bitshuffle_lz4())
        f.create_dataset(EIGER, data=eiger, chunks=(2, 16, 20), compression="gzip")
    return path


def test_two_streams_from_one_file_replay_together(tmp_path: Path, frames_u32: np.ndarray) -> None:
    """One convert of two streams, both captures replayed together: shared events, frames intact."""
    frames_u32 = frames_u32.copy()
    frames_u32[2, 3, 4] = np.iinfo(np.uint32).max  # a masked pixel survives too
    h5 = write_two_streams(tmp_path / "f.h5", frames_u32)
    out = tmp_path / "out"
    result = convert(h5, "--stream", "pilatus", "--stream", f"eiger={EIGER}", "-o", out)
    by_name = {s["name"]: s for s in result["streams"]}
    assert by_name["pilatus"]["passthrough_frames"] == len(frames_u32)  # stored chunks as-is
    assert by_name["eiger"]["passthrough_frames"] == 0  # gzip: decoded and re-encoded
    assert (out / "pilatus.cbors").is_file() and (out / "eiger.cbors").is_file()

    record = replay(tmp_path, "-f", out / "pilatus.cbors", out / "eiger.cbors")

    n = len(frames_u32)
    assert_stins_series(record, "pilatus", source_frames(h5, PILATUS))
    assert_stins_series(record, "eiger", source_frames(h5, EIGER))
    assert all(set(streams) == {"pilatus", "eiger"} for streams in record.values()), record
    for k in range(1, n + 1):
        assert record[k]["pilatus"]["frame"] == record[k]["eiger"]["frame"] == k - 1
    assert record[n + 1]["pilatus"]["htype"] == record[n + 1]["eiger"]["htype"] == "series_end"


def test_uncompressed_4d_grid_in_c_order(tmp_path: Path) -> None:
    """`--compression none` of a (2, 3, H, W) scan grid: frames in C order over the grid axes,
    alongside a big-endian stack delivered little-endian."""
    rng = np.random.default_rng(3)
    grid = rng.normal(size=(2, 3, 12, 10)).astype(np.float32)
    grid[1, 2, 0, 0] = np.nan
    stack = rng.integers(-3000, 3000, (6, 12, 10)).astype(">i2")
    h5 = tmp_path / "scan.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset(
            "/entry/scan/grid/data", data=grid, chunks=(1, 3, 12, 10), compression="gzip"
        )
        f.create_dataset(EIGER, data=stack)
    out = tmp_path / "out"
    convert(h5, "-s", "grid", "-s", "eiger", "--compression", "none", "-o", out)

    record = replay(tmp_path, "-f", out / "grid.cbors", out / "eiger.cbors")

    expected_grid = [grid[i, j] for i in range(2) for j in range(3)]
    assert [sha256(a) for a in expected_grid] == [
        sha256(a) for a in source_frames(h5, "/entry/scan/grid/data")
    ]
    assert_stins_series(record, "grid", expected_grid, compression="none")
    assert_stins_series(record, "eiger", source_frames(h5, EIGER), compression="none")
    assert record[1]["eiger"]["type"] == "int16"
    assert all(set(streams) == {"grid", "eiger"} for streams in record.values())


def test_frame_selection(tmp_path: Path) -> None:
    """`--frames 1:7:2` replays source frames 1, 3, 5 numbered 0, 1, 2."""
    frames = np.random.default_rng(4).poisson(5.0, (8, 20, 30)).astype(np.uint32)
    h5 = tmp_path / "f.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset(PILATUS, data=frames, chunks=(1, 20, 30), **bitshuffle_lz4())
    out = tmp_path / "out"
    convert(h5, "-s", "pilatus", "--frames", "1:7:2", "-o", out)

    record = replay(tmp_path, "-f", out / "pilatus.cbors")

    expected = source_frames(h5, PILATUS, slice(1, 7, 2))
    assert [sha256(a) for a in expected] == [sha256(frames[i]) for i in (1, 3, 5)]
    assert_stins_series(record, "pilatus", expected)
    assert [record[k]["pilatus"]["frame"] for k in (1, 2, 3)] == [0, 1, 2]


def test_replay_source_class_on_iter_messages(tmp_path: Path, frames_u32: np.ndarray) -> None:
    """`dranspose replay -s` with a source class built on `h5tocbors.iter_messages`."""
    h5 = write_two_streams(tmp_path / "f.h5", frames_u32)

    record = replay(tmp_path, "-s", "tests.replay_source:PilatusSource", env={INPUT_ENV: str(h5)})

    assert_stins_series(record, "pilatus", source_frames(h5, PILATUS))
    assert all(set(streams) == {"pilatus"} for streams in record.values())


@pytest.mark.parametrize("compression", ["bslz4", "none"])
@pytest.mark.parametrize("shape", [(24, 40), (160, 128)], ids=["24x40", "160x128"])
def test_capture_is_what_dranspose_dumper_writes(
    tmp_path: Path, compression: str, shape: tuple[int, int]
) -> None:
    """The capture is byte for byte what `dranspose.ingester.Dumper` writes for its messages."""
    frames = np.random.default_rng(5).poisson(2.0, (4, *shape)).astype(np.uint32)
    h5 = tmp_path / "f.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset(PILATUS, data=frames, chunks=(1, *shape), **bitshuffle_lz4())
    out = tmp_path / "out"
    convert(h5, "-s", "pilatus", "-c", compression, "-o", out)
    capture = out / "pilatus.cbors"

    messages = list(get_internals(capture))
    assert [m.event_number for m in messages] == list(range(len(frames) + 2))
    dumped = tmp_path / "dumped.cbors"
    dumper = Dumper(str(dumped))
    try:
        for message in messages:
            dumper.write_dump(message)
    finally:
        dumper.close()

    assert dumped.read_bytes() == capture.read_bytes()


@pytest.mark.parametrize("filename", [None, "/data/x.h5"])
def test_start_message_filename(
    tmp_path: Path, frames_u32: np.ndarray, filename: str | None
) -> None:
    """`--filename` is the start message's `filename`; without it the filename is ""."""
    h5 = write_two_streams(tmp_path / "f.h5", frames_u32)
    out = tmp_path / "out"
    extra = [] if filename is None else ["--filename", filename]
    convert(h5, "-s", "pilatus", "-o", out, *extra)

    start = next(iter(get_internals(out / "pilatus.cbors")))
    header = stins_header(start, "pilatus")
    assert (header["htype"], header["msg_number"]) == ("header", 0)
    assert header["filename"] == (filename or "")
    record = replay(tmp_path, "-f", out / "pilatus.cbors")
    assert_stins_series(record, "pilatus", source_frames(h5, PILATUS), filename=filename or "")
