"""A DECTRIS master's data files are one image series: joined in image order, sliced,
passed through file by file, refused when broken, listed as one line, verified."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from dranspose.data.stream1 import Stream1Start
from dranspose.middlewares.stream1 import parse

from h5tocbors import convert
from h5tocbors.buffers import FileRange
from h5tocbors.hdf5.frames import FrameSeries
from h5tocbors.hdf5.open import open_input
from h5tocbors.hdf5.walk import follow
from h5tocbors.payloads.encoding import InputFile, Payload, open_beside

from .conftest import BIN, Cli, decoded_frames, listing, read_capture, run_cli, stins_header
from .dectris_files import SETTINGS, SHAPE, dectris_master, images
from .protocol_files import contrast_scan
from .test_errors import assert_no_output, assert_one_error

ALL = images(range(1, 10))


def frames_of(capture: Path, stream: str = "eiger") -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The decoded images of a STINS capture and their headers."""
    headers = [stins_header(m, stream) for m in read_capture(capture)]
    return np.stack(decoded_frames(capture, stream)), headers


@pytest.fixture
def master(tmp_path: Path) -> Path:
    return dectris_master(tmp_path)


def test_data_files_join_in_image_order(master: Path, tmp_path: Path) -> None:
    """Links data_000001..3 hold images 4-6, 7-9, 1-3: the stream is images 1..9."""
    result = convert(master, {"eiger": "/entry/data"}, tmp_path / "out")
    got, headers = frames_of(tmp_path / "out" / "eiger.cbors")
    np.testing.assert_array_equal(got, ALL)
    assert [h["frame"] for h in headers[1:-1]] == list(range(9))
    assert [h["msg_number"] for h in headers] == list(range(11))
    (stream,) = result.streams
    assert (stream.dataset, stream.frames, stream.passthrough_frames) == ("/entry/data", 9, 9)
    assert stream.fast_path == "passthrough"


def test_stream_name_finds_the_series(cli: Cli, master: Path, tmp_path: Path) -> None:
    """`--stream data` matches the three links: they are one series, not several datasets."""
    code, out, err = cli("convert", master, "-s", "data", "-o", tmp_path / "out")
    assert (code, err) == (0, "")
    assert out.startswith("data: STINS, 9 frames from /entry/data, ")
    assert out.rstrip().endswith("[passed through]")
    np.testing.assert_array_equal(frames_of(tmp_path / "out" / "data.cbors", "data")[0], ALL)


def test_link_names_order_a_series_without_image_numbers(tmp_path: Path) -> None:
    master = dectris_master(tmp_path, ((1, 2), (3, 5), (6, 9)), numbered=False)
    convert(master, ["data"], tmp_path / "out")
    np.testing.assert_array_equal(frames_of(tmp_path / "out" / "data.cbors", "data")[0], ALL)


@pytest.mark.parametrize(
    "frames", [slice(2, 8, 2), slice(None, None, -1), slice(5, 6), slice(-4, None), slice(3, 6)]
)
def test_frames_slice_the_joined_series(master: Path, tmp_path: Path, frames: slice) -> None:
    convert(master, {"eiger": "/entry/data"}, tmp_path / "out", frames=frames, jobs=2)
    got, headers = frames_of(tmp_path / "out" / "eiger.cbors")
    np.testing.assert_array_equal(got, ALL[frames])
    assert [h["frame"] for h in headers[1:-1]] == list(range(len(ALL[frames])))


def test_start_message_carries_settings_and_origin(master: Path, tmp_path: Path) -> None:
    """The master's detector settings as the second frame, flat as the streaming-receiver
    sends an Eiger's; where the stream came from as an extra field of the header."""
    convert(master, {"eiger": "/entry/data"}, tmp_path / "out", frames=slice(1, 7, 2))
    start = read_capture(tmp_path / "out" / "eiger.cbors")[0].streams["eiger"]
    assert json.loads(start.frames[1]) == SETTINGS
    origin = {"input": str(master), "path": "/entry/data", "frames": "1:7:2", "axes": "NHW"}
    model = Stream1Start(msg_number=0, filename="", h5tocbors=origin)
    assert start.frames[0] == model.model_dump_json().encode()
    parsed = parse(start)
    assert isinstance(parsed, Stream1Start) and parsed.h5tocbors == origin  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("parts", "named", "problem"),
    [
        (
            ((1, 3), (4, 6), (9, 11)),
            "run_data_000003.h5 (data_000003, images 9..11)",
            "images 7..8 are missing between run_data_000002.h5 (data_000002, images 4..6) and ",
        ),
        (
            ((1, 3), (3, 5), (6, 8)),
            "run_data_000002.h5 (data_000002, images 3..5)",
            " overlaps run_data_000001.h5 (data_000001, images 1..3)",
        ),
        (
            ((1, 3), (4, 6), (8, 10)),
            "run_data_000002.h5 (data_000002, images 4..7)",
            " holds 3 frames, not 4",
        ),
        (((4, 6), (7, 9), (1, 3)), "run_data_000002.h5:/entry/data/data", "is missing (looked for"),
    ],
    ids=["gap", "overlap", "miscounted", "missing"],
)
def test_a_broken_series_is_an_error_naming_the_file(
    cli: Cli, tmp_path: Path, parts: tuple[tuple[int, int], ...], named: str, problem: str
) -> None:
    master = dectris_master(tmp_path, parts)
    if "missing (" in problem:
        (tmp_path / "run_data_000002.h5").unlink()
    if "holds" in problem:  # the attributes count one image more than the file holds
        with h5py.File(tmp_path / "run_data_000002.h5", "a") as f:
            f["/entry/data/data"].attrs["image_nr_high"] = np.uint64(7)
    for stream in ("eiger=/entry/data", "data"):
        code, _, err = cli("convert", master, "-s", stream, "-o", tmp_path / "out")
        assert_one_error(code, err, 1, f"image series /entry/data in {master}: ")
        assert named in err and problem in err, err
        assert_no_output(tmp_path / "out")


def test_ls_shows_the_series_as_one_line(cli: Cli, master: Path, tmp_path: Path) -> None:
    code, out, err = cli("ls", "--json", master)
    assert (code, err) == (0, "")
    rows = {d["path"]: d for d in json.loads(out)}
    assert not [p for p in rows if "data_0" in p]
    series = rows["/entry/data"]
    assert (series["layout"], series["shape"], series["dtype"]) == ("series", [9, 24, 40], "uint32")
    assert series["stream"] == "--stream eiger=/entry/data" and series["fast_path"]
    files = [(s["file"], s["dataset"], s["exists"]) for s in series["sources"]]
    assert files == [(f"run_data_00000{n}.h5", "/entry/data/data", True) for n in (3, 1, 2)]
    (tmp_path / "run_data_000001.h5").unlink()
    code, out, err = cli("ls", master)
    assert (code, err) == (0, "")
    (line,) = [line for line in out.splitlines() if line.startswith("/entry/data ")]
    assert "series (3 files, 1 missing)" in line and "--stream" not in line
    assert "image series: /entry/data/data_000001 is an external link to run_data_000001.h5" in line
    assert line.endswith("run_data_000001.h5 (missing) run_data_000002.h5 run_data_000003.h5")


def test_data_files_are_read_directly(master: Path) -> None:
    """Each data file is opened once, read-only, and its chunks are kernel-copied ranges."""
    with open_input(master) as f, InputFile.open(master) as source:
        parts = [FrameSeries.of(f[f"/entry/data/data_00000{n}"]) for n in (1, 2, 1)]
        encoders = [source.encoder(p, "bslz4") for p in parts]
        assert [e.input.name if e.input else None for e in encoders] == [
            str(master.parent / name) for name in ("run_data_000001.h5", "run_data_000002.h5")
        ] + [str(master.parent / "run_data_000001.h5")]
        assert encoders[0].input is encoders[2].input and len(source.linked) == 2
        fetched = encoders[1].fetch(0)
        assert isinstance(fetched, Payload) and isinstance(fetched.data, FileRange)
        assert fetched.data.fd == encoders[1].fd


def test_a_file_swapped_in_after_hdf5_opened_it_is_not_read(tmp_path: Path) -> None:
    master = dectris_master(tmp_path)
    with h5py.File(tmp_path / "run_data_000001.h5", "r") as f:
        assert open_beside(f) is not None
        os.replace(tmp_path / "run_data_000002.h5", tmp_path / "run_data_000001.h5")
        assert open_beside(f) is None
    del master


def test_a_data_file_truncated_during_the_conversion_is_named(master: Path, tmp_path: Path) -> None:
    last = tmp_path / "run_data_000002.h5"  # images 7..9, read last

    def cut(done: int, total: int, nbytes: int) -> None:
        if done == 2:
            os.truncate(last, os.path.getsize(last) // 2)

    with pytest.raises(Exception, match=f"{last} changed or was truncated during the conversion"):
        convert(master, {"eiger": "/entry/data"}, tmp_path / "out", progress=cut, jobs=1)
    assert_no_output(tmp_path / "out")


def test_scan_config_with_the_series(cli: Cli, master: Path, tmp_path: Path) -> None:
    """README's Eiger config: a stream `path = "/entry/data"`, 3 lines of 3 points."""
    config = tmp_path / "scan.toml"
    config.write_text('points = 9\nsteps = 3\n\n[streams.eiger]\npath = "/entry/data"\n')
    code, out, err = cli("convert", master, "--config", config, "-o", tmp_path / "out")
    assert (code, err) == (0, "") and "eiger: STINS, 9 frames from /entry/data" in out
    np.testing.assert_array_equal(frames_of(tmp_path / "out" / "eiger.cbors")[0], ALL)
    code, out, err = cli("verify", master, tmp_path / "out" / "eiger.cbors", "--config", config)
    assert (code, err) == (0, "") and "11 messages identical to /entry/data" in out


def test_contrast_scan_linking_an_eiger_series(cli: Cli, tmp_path: Path) -> None:
    dectris_master(tmp_path)
    scan = contrast_scan(tmp_path, lines=3, per_line=3)
    with h5py.File(scan, "a") as f:
        f["/entry/measurement/eiger"] = h5py.ExternalLink("run_master.h5", "/entry/data")
    code, out, err = cli("convert", scan, "--scan", "-s", "eiger", "-o", tmp_path / "out")
    assert (code, err) == (0, "")
    assert out.startswith("eiger: STINS, 9 frames from /entry/measurement/eiger, ")
    np.testing.assert_array_equal(frames_of(tmp_path / "out" / "eiger.cbors")[0], ALL)


def test_verify_takes_stream_and_frames_from_the_capture(
    cli: Cli, master: Path, tmp_path: Path
) -> None:
    convert(master, {"eiger": "/entry/data"}, tmp_path / "out", frames=slice(2, 8))
    capture = tmp_path / "out" / "eiger.cbors"
    code, out, err = cli("verify", master, capture)
    assert (code, err) == (0, "")
    assert out == f"{capture} eiger: 6 frames identical to /entry/data\n"
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in tmp_path.glob("run_*.h5"):
        shutil.copy(path, copy / path.name.replace("run", "other"))
    other = copy / "other_master.h5"
    with h5py.File(other, "a") as f:  # the copy's links name the copied data files
        for n in (1, 2, 3):
            del f[f"/entry/data/data_00000{n}"]
            f[f"/entry/data/data_00000{n}"] = h5py.ExternalLink(
                f"other_data_00000{n}.h5", "/entry/data/data"
            )
    code, out, err = cli("verify", other, capture)
    assert (code, err) == (0, "")
    assert out.rstrip().endswith(f"identical to /entry/data (the capture was made from {master})")
    code, out, err = cli("verify", other, capture, "--frames", "0:6")
    assert code == 1 and err.rstrip().endswith(f"(the capture was made from {master})")


def test_end_to_end_and_dranspose_reads_it(master: Path, tmp_path: Path) -> None:
    """The real CLI in a subprocess; dranspose's reader and parser take every message."""
    result = run_cli("convert", master, "-s", "eiger=/entry/data", "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    msgs = read_capture(tmp_path / "out" / "eiger.cbors")
    assert [m.event_number for m in msgs] == list(range(11))
    for m in msgs:
        parse(m.streams["eiger"])
    verified = run_cli("verify", master, tmp_path / "out" / "eiger.cbors")
    assert verified.returncode == 0, verified.stderr


def test_calibration_arrays_are_one_image_never_the_data(
    cli: Cli, master: Path, tmp_path: Path
) -> None:
    """A master's flatfield and pixel_mask were a frame per row, and with a data file
    missing the error offered them in place of the data."""
    ds = listing(cli, master)
    specific = "/entry/instrument/detector/detectorSpecific"
    for name in ("flatfield", "pixel_mask"):
        d = ds[f"{specific}/{name}"]
        assert (d["frames"], d["axes"], d["frame_shape"]) == (1, "HW", list(SHAPE))
    (tmp_path / "run_data_000002.h5").unlink()
    for stream in ("eiger", "detector"):
        code, _, err = cli("convert", master, "-s", stream, "-o", tmp_path / "out")
        assert code == 1 and "no image dataset" in err, err
        assert "flatfield" not in err and "pixel_mask" not in err, err
    code, _, err = cli("convert", master, "-s", "pixel_mask", "-o", tmp_path / "out")
    assert (code, err) == (0, "")
    assert len(decoded_frames(tmp_path / "out/pixel_mask.cbors", "pixel_mask")) == 1


def test_linked_files_are_opened_once_per_input(master: Path) -> None:
    """ls opened each data file five times (its link, the series, the walk); the files an
    input leads to are now opened once, and closed with it."""
    path = "/entry/data/data_000001"
    with open_input(master) as f:
        first, again = follow(f, path), follow(f, path)
        assert first.file.id.id == again.file.id.id
    assert not first.id.valid
    with open_input(master) as f:
        assert follow(f, path).id.valid


def test_a_data_file_of_a_type_numpy_lacks(cli: Cli, master: Path, tmp_path: Path) -> None:
    """A series' data file whose images are of HDF5's time type was corrupt metadata."""
    part = tmp_path / "run_data_000002.h5"
    part.unlink()
    with h5py.File(part, "w") as f:
        group = f.create_group("entry/data")
        space = h5py.h5s.create_simple((3, *SHAPE))
        h5py.h5d.create(group.id, b"data", h5py.h5t.UNIX_D32LE.copy(), space)
    code, _, err = cli("convert", master, "-s", "eiger=/entry/data", "-o", tmp_path / "out")
    assert code == 1 and "run_data_000002.h5 (data_000002): HDF5 time (32-bit) data" in err, err


def test_a_data_file_of_another_type_is_named_as_a_user_reads_it(
    cli: Cli, master: Path, tmp_path: Path
) -> None:
    """The "unlike" refusal named x86's long double by numpy's padded size, `float128`."""
    with h5py.File(tmp_path / "run_data_000002.h5", "a") as f:
        old = f["/entry/data/data"]
        attrs, shape = dict(old.attrs), old.shape
        del f["/entry/data/data"]
        f.create_dataset("/entry/data/data", shape, np.longdouble).attrs.update(attrs)
    code, _, err = cli("convert", master, "-s", "eiger=/entry/data", "-o", tmp_path / "out")
    assert_one_error(code, err, 1, f"image series /entry/data in {master}: ")
    assert "80-bit extended float (long double) data, unlike" in err and "float128" not in err, err
    assert_no_output(tmp_path / "out")


def test_linked_files_kept_open_are_bounded(tmp_path: Path) -> None:
    """The files kept open per input were not bounded: three virtual datasets of 100 source
    files each held 300 open, and `ls` under a limit of 256 descriptors ended in
    "unexpected OSError: Too many open files"."""
    master = tmp_path / "master.h5"
    with h5py.File(master, "w") as f:
        for d in range(3):
            layout = h5py.VirtualLayout(shape=(100, 4, 4), dtype="u2")
            for i in range(100):
                name = f"s{d}_{i:03d}.h5"
                with h5py.File(tmp_path / name, "w") as source:
                    source["d"] = np.full((1, 4, 4), i, "u2")
                layout[i] = h5py.VirtualSource(name, "d", shape=(1, 4, 4))
            f.create_virtual_dataset(f"data{d}", layout)
    result = subprocess.run(
        ["sh", "-c", 'ulimit -n 256 && exec "$0" ls --json "$1"', BIN / "h5tocbors", master],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    listed = {d["path"]: d for d in json.loads(result.stdout)}
    assert all(listed[f"/data{d}"]["image"] for d in range(3)), result.stdout
