"""Sardana scans: the `sardana` stream rebuilt from an NXscan file (`convert --scan`,
`--entry`, `inspect`, `verify --scan`, bad input), and its serialization checked byte for
byte against real public captures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from h5tocbors.capture.read import read_messages
from h5tocbors.protocols import sardana

from .conftest import read_capture, run_cli
from .public_data import public_file
from .replay_source import INPUT_ENV
from .test_replay_e2e import replay, sha256

PUBLIC = [
    ("maxiv-science/drp-femtomax", "balorsardana-ingester-c7b27d51-f285-4880-ad3c-08c2eefb8b92"),
    (
        "maxiv-science/drp-femtomax",
        "pilatus_lab6sardana-ingester-61591c49-9ac8-4cde-9b7e-ca7828b412fb",
    ),
    ("maxiv-science/drp-balder", "dumpsardana-ingester-7dda366a-fe36-4d53-b66d-0398d78d1782"),
    ("maxiv-science/drp-danmax", "dumpsardana-ingester-70b3ce40-6e3e-4931-8dbc-245334e26eae"),
    ("maxiv-science/drp-danmax", "mesh2dworksardana-ingester-9c93f54e-2ca7-495d-85d2-7aba6cdc99a9"),
]
"""The public captures with a sardana stream: `data/<name>.cbors` in each repository."""
STR = h5py.string_dtype()
EIGER_REFERENCE = "/data/visitors/beamline/scan-{}_eiger.h5:entry/instrument/eiger/"
"""MAX IV's spelling: the detector file where the scan ran, and its group."""
SETTINGS = {"count_time": 0.1, "photon_energy": 8000.0, "trigger_mode": "exts"}


def write_detector(folder: Path, frames: int, serialno: int = 12) -> np.ndarray:
    """A streaming-receiver file: images at /entry/instrument/eiger/data, settings beside."""
    images = np.random.default_rng(frames).integers(0, 1000, (frames, 6, 5), dtype=np.uint16)
    with h5py.File(folder / f"scan-{serialno}_eiger.h5", "w") as f:
        group = f.create_group("entry/instrument/eiger")
        group.attrs["NX_class"] = "NXdetector"
        group.create_dataset("data", data=images, chunks=(1, 6, 5))
        for key, value in SETTINGS.items():
            group.create_dataset(key, data=value)
    return images


def write_entry(
    f: h5py.File,
    serialno: int,
    title: str,
    columns: dict[str, Any],
    *,
    end: bool = True,
    measurement: bool = True,
) -> None:
    """One scan entry as Sardana's `NXscanH5_FileRecorder` writes it (sardana 3.7.1)."""
    entry = f.create_group(f"entry{serialno}")
    entry.attrs["NX_class"] = "NXentry"
    entry.create_dataset("definition", data="NXscan")
    entry.create_dataset("program_name", data="sardana (NXscanH5_FileRecorder)").attrs[
        "version"
    ] = "3.7.1"
    entry.create_dataset("start_time", data="2024-11-21T12:21:01.123456")
    entry.create_dataset("macro_start_time", data="2024-11-21T12:21:00.532000")
    entry.create_dataset("title", data=title)
    entry.create_dataset("entry_identifier", data=str(serialno))
    entry.create_group("user").create_dataset("name", data="tester")
    if measurement:
        meas = entry.create_group("measurement")
        meas.attrs["NX_class"] = "NXcollection"
        for name, data in columns.items():
            if isinstance(data, list):
                meas.create_dataset(name, data=data, dtype=STR, chunks=(1,), maxshape=(None,))
            else:
                data = np.asarray(data)
                meas.create_dataset(name, data=data, chunks=(1, *data.shape[1:]))
        snap = meas.create_group("pre_scan_snapshot")
        snap.create_dataset("mot02", data=3.5)
    if end:
        entry.create_dataset("end_time", data="2024-11-21T12:21:09.000001")


def step_columns(points: int = 5, serialno: int = 12) -> dict[str, Any]:
    """A dscan of mot01 with a counter (a NaN in it), a 1-D channel and a referenced detector."""
    ct01 = np.arange(points, dtype=np.float64) * 1.5
    ct01[1] = np.nan
    return {
        "Pt_No": np.arange(points, dtype=np.int64),
        "mot01": np.linspace(-1.0, 1.0, points),
        "ct01": ct01,
        "albaem01_ch3": np.arange(points, dtype=np.int32),
        "spectrum": np.arange(points * 3, dtype=np.float64).reshape(points, 3),
        "eiger": [EIGER_REFERENCE.format(serialno)] * points,
        "dt": np.arange(points, dtype=np.float64) * 0.25 + 0.125,
    }


def write_nxscan(
    path: Path, entries: dict[int, dict[str, Any]] | None = None, burst: int | None = 1
) -> Path:
    """An NXscan file with one dscan entry (or the given ones), recorded at
    /data/visitors/beamline/scan.h5, and each entry's Eiger file of `burst` images per
    point beside (None: none)."""
    entries = entries or {12: step_columns()}
    for serialno, columns in entries.items():
        if burst is not None:
            write_detector(path.parent, len(columns["Pt_No"]) * burst, serialno)
    with h5py.File(path, "w") as f:
        f.attrs["NX_class"] = "NXroot"
        f.attrs["file_name"] = "/data/visitors/beamline/scan.h5"
        for serialno, columns in entries.items():
            write_entry(
                f, serialno, f"dscan mot01 -1.0 1.0 {len(columns['Pt_No']) - 1} 0.1", columns
            )
    return path


def messages(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(event, decoded JSON) of a sardana capture, read by dranspose's reader."""
    found = []
    for message in read_capture(path):
        frames = message.streams["sardana"].frames
        assert message.streams["sardana"].typ == "sardana"
        assert len(frames) == 1
        found.append((message.event_number, json.loads(frames[0])))
    return found


@pytest.mark.parametrize(("repo", "name"), PUBLIC)
def test_serialization_matches_real_captures(repo: str, name: str) -> None:
    """Every sardana message of a real capture, parsed and dumped again, is the same bytes."""
    capture = public_file(repo, f"data/{name}.cbors")
    count = 0
    for message in read_messages(capture):
        for stream in message.streams.values():
            if stream.typ == "sardana":
                (frame,) = stream.frames
                assert sardana.dumped(json.loads(frame)) == frame
                count += 1
    assert count > 3


def test_step_scan(tmp_path: Path) -> None:
    """A dscan: description on event 0, point k on event k + 1, end on the last event;
    values as Sardana posts them, NaN as null, keys in Sardana's record order."""
    source = write_nxscan(tmp_path / "scan.h5")
    proc = run_cli("convert", source, "--scan", "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    found = messages(tmp_path / "out" / "sardana.cbors")
    assert [e for e, _ in found] == list(range(7))
    description = found[0][1]
    assert description == {
        "type": "DataDescription",
        "serialno": 12,
        "scandir": "/data/visitors/beamline",
        "title": "dscan mot01 -1.0 1.0 4 0.1",
        "column_desc": [
            {"min_value": 0, "max_value": 4, "name": "point_nb", "label": "#Pt No",
             "dtype": "int64", "shape": []},
            {"min_value": -1.0, "max_value": 1.0, "name": "mot01", "label": "mot01",
             "dtype": "float64", "shape": []},
            {"name": "albaem01_ch3", "label": "albaem01_ch3", "dtype": "int32", "shape": []},
            {"name": "ct01", "label": "ct01", "dtype": "float64", "shape": []},
            {"name": "timestamp", "label": "dt", "dtype": "float64", "shape": []},
        ],
        "ref_moveables": ["mot01"],
        "starttime": "Thu Nov 21 12:21:00 2024",
        "counters": ["albaem01_ch3", "ct01", "eiger", "spectrum"],
        "scanfile": "scan.h5",
    }  # fmt: skip
    columns = step_columns()
    for k in range(5):
        _, record = found[k + 1]
        assert list(record) == [
            "type", "timestamp", "albaem01_ch3", "ct01", "eiger", "spectrum", "point_nb", "mot01"
        ]  # fmt: skip
        assert record["timestamp"] == columns["dt"][k]
        assert record["point_nb"] == k
        assert record["mot01"] == columns["mot01"][k]
        assert record["ct01"] == (None if k == 1 else columns["ct01"][k])
        assert record["spectrum"] == columns["spectrum"][k].tolist()
        assert record["eiger"] == columns["eiger"][k]
    assert found[-1] == (6, {"type": "RecordEnd", "endtime": "Thu Nov 21 12:21:09 2024"})


def test_replay_through_dranspose(tmp_path: Path) -> None:
    """The real `dranspose replay` parses every message with `middlewares.sardana.parse`."""
    source = write_nxscan(tmp_path / "scan.h5")
    assert run_cli("convert", source, "--scan", "-o", tmp_path / "out").returncode == 0
    record = replay(tmp_path, "-f", tmp_path / "out" / "sardana.cbors")
    assert sorted(record) == list(range(7))
    assert record[0]["sardana"]["type"] == "DataDescription"
    assert record[0]["sardana"]["values"]["ref_moveables"] == ["mot01"]
    for k in range(1, 6):
        values = record[k]["sardana"]["values"]
        assert record[k]["sardana"]["type"] == "RecordData"
        assert values["point_nb"] == k - 1
        assert values["mot01"] == step_columns()["mot01"][k - 1]
    assert record[6]["sardana"]["type"] == "RecordEnd"


def test_two_entries(tmp_path: Path) -> None:
    """Every entry into DIR/entryN/ without --entry; --entry picks (repeatable)."""
    source = write_nxscan(tmp_path / "scans.h5", {3: step_columns(3, 3), 4: step_columns(4, 4)})
    proc = run_cli("convert", source, "--scan", "-o", tmp_path / "all", "-q")
    assert proc.returncode == 0, proc.stderr
    assert len(messages(tmp_path / "all" / "entry3" / "sardana.cbors")) == 5
    assert messages(tmp_path / "all" / "entry4" / "sardana.cbors")[0][1]["serialno"] == 4
    proc = run_cli("convert", source, "--scan", "--entry", "entry4", "-o", tmp_path / "one")
    assert proc.returncode == 0, proc.stderr
    assert len(messages(tmp_path / "one" / "sardana.cbors")) == 6


def test_aborted_scan_with_frames(tmp_path: Path) -> None:
    """Columns shorter than Pt_No: refused naming the column and the common part, which
    --frames converts."""
    columns = step_columns(5)
    columns["ct01"] = columns["ct01"][:3]
    source = write_nxscan(tmp_path / "scan.h5", {12: columns})
    proc = run_cli("convert", source, "--scan", "-o", tmp_path / "out")
    assert proc.returncode == 1
    assert "/entry12/measurement/ct01" in proc.stderr and "--frames 0:3" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "sardana.cbors").exists()
    proc = run_cli("convert", source, "--scan", "--frames", "0:3", "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert [r["point_nb"] for _, r in messages(tmp_path / "out" / "sardana.cbors")[1:-1]] == [
        0,
        1,
        2,
    ]


def bad_input(tmp_path: Path, *args: str | Path) -> str:
    """Run convert with bad input: one line on stderr, exit 1, nothing written."""
    proc = run_cli("convert", *args, "-o", tmp_path / "out")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.cbors"))
    return lines[0]


def test_bad_entry_lists_entries(tmp_path: Path) -> None:
    source = write_nxscan(tmp_path / "scans.h5", {3: step_columns(3, 3), 4: step_columns(4, 4)})
    line = bad_input(tmp_path, source, "--scan", "--entry", "entry5")
    assert "no scan entry 'entry5'" in line and "entry3, entry4" in line


def test_unknown_stream_lists_the_streams(tmp_path: Path) -> None:
    source = write_nxscan(tmp_path / "scans.h5", {3: step_columns(3, 3)})
    line = bad_input(tmp_path, source, "--scan", "--stream", "pilatus")
    assert line.endswith(
        "/entry3 in " + str(source) + " has no stream pilatus; its streams are sardana, eiger"
    ), line


def test_entry_without_measurement(tmp_path: Path) -> None:
    source = tmp_path / "scan.h5"
    with h5py.File(source, "w") as f:
        write_entry(f, 9, "ascan mot01 0 1 2 0.1", {}, measurement=False)
    line = bad_input(tmp_path, source, "--scan")
    assert "/entry9" in line and "no measurement" in line


def test_inspect_and_verify(tmp_path: Path) -> None:
    """`inspect` names the scan; `verify --scan` passes, and names the key that differs."""
    source = write_nxscan(tmp_path / "scan.h5")
    out = tmp_path / "out"
    assert run_cli("convert", source, "--scan", "-o", out).returncode == 0
    proc = run_cli("inspect", out / "sardana.cbors")
    assert proc.returncode == 0, proc.stderr
    assert "serialno 12" in proc.stdout and "dscan mot01" in proc.stdout
    assert "motors mot01" in proc.stdout
    proc = run_cli("verify", source, out / "sardana.cbors", "--scan")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with h5py.File(source, "r+") as f:
        f["entry12/measurement/mot01"][2] = 0.5
    proc = run_cli("verify", source, out / "sardana.cbors", "--scan")
    assert proc.returncode == 1
    assert "mot01" in proc.stdout + proc.stderr


def test_ls_lists_scan_entries(tmp_path: Path) -> None:
    """`ls` gives each scan entry its title, points and the `--scan --entry` converting it."""
    source = write_nxscan(tmp_path / "scans.h5", {3: step_columns(3, 3), 4: step_columns(4, 4)})
    proc = run_cli("ls", source, "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {d["path"]: d for d in json.loads(proc.stdout)}
    assert rows["/entry3"]["stream"] == "--scan --entry entry3"
    assert rows["/entry4"]["note"] == "dscan mot01 -1.0 1.0 3 0.1 (4 points)"
    assert rows["/entry4"]["scan"] == "sardana"


def test_replay_source_and_verify_entry(tmp_path: Path) -> None:
    """`ReplaySource.entry` replays one scan of an NXscan file as `convert --entry` writes it;
    `verify --scan --entry` checks that capture."""
    source = write_nxscan(tmp_path / "scans.h5", {3: step_columns(3, 3), 4: step_columns(4, 4)})
    out = tmp_path / "out"
    assert run_cli("convert", source, "--scan", "--entry", "entry4", "-o", out).returncode == 0
    proc = run_cli("verify", source, out / "sardana.cbors", "--scan", "--entry", "entry4")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_cli("verify", source, out / "sardana.cbors", "--scan", "--entry", "entry3")
    assert proc.returncode == 1
    record = replay(
        tmp_path, "-s", "tests.replay_source:SardanaEntrySource", env={INPUT_ENV: str(source)}
    )
    assert sorted(record) == list(range(6))
    assert [record[k]["sardana"]["values"]["point_nb"] for k in range(1, 5)] == [0, 1, 2, 3]
    assert record[0]["sardana"]["values"]["serialno"] == 4


def test_detector_aligned_with_records(tmp_path: Path) -> None:
    """The referenced Eiger file becomes stream `eiger` (settings as the header's second
    frame), point k's image and record on event k + 1, as the real replay shows."""
    source = write_nxscan(tmp_path / "scan.h5")
    images = write_detector(tmp_path, 5)  # the same images again
    result = json.loads(
        run_cli("convert", source, "--scan", "-o", tmp_path / "out", "--json").stdout
    )
    assert [s["name"] for s in result["streams"]] == ["sardana", "eiger"]
    header = read_capture(tmp_path / "out" / "eiger.cbors")[0].streams["eiger"].frames
    assert json.loads(header[1]) == SETTINGS
    record = replay(
        tmp_path, "-f", tmp_path / "out" / "sardana.cbors", tmp_path / "out" / "eiger.cbors"
    )
    assert sorted(record) == list(range(7))
    assert record[0]["eiger"]["htype"] == "header"
    for k in range(1, 6):
        assert record[k]["sardana"]["values"]["point_nb"] == k - 1
        assert record[k]["eiger"]["frame"] == k - 1
        assert record[k]["eiger"]["sha256"] == sha256(images[k - 1])
    assert record[6]["sardana"]["type"] == "RecordEnd"
    assert record[6]["eiger"]["htype"] == "series_end"


def test_burst_scan(tmp_path: Path) -> None:
    """3 frames per point: every frame its own event, each record on its point's last frame."""
    source = write_nxscan(tmp_path / "scan.h5", {12: step_columns(4)}, burst=3)
    assert run_cli("convert", source, "--scan", "-o", tmp_path / "out").returncode == 0
    found = messages(tmp_path / "out" / "sardana.cbors")
    assert [e for e, _ in found] == [0, 3, 6, 9, 12, 13]
    assert [r.get("point_nb") for _, r in found[1:-1]] == [0, 1, 2, 3]
    events = [m.event_number for m in read_capture(tmp_path / "out" / "eiger.cbors")]
    assert events == list(range(14))


def test_missing_detector_file(tmp_path: Path) -> None:
    """A referenced file that is missing is named, unless --stream leaves its detector out."""
    source = write_nxscan(tmp_path / "scan.h5", burst=None)
    line = bad_input(tmp_path, source, "--scan")
    assert "scan-12_eiger.h5" in line
    proc = run_cli("convert", source, "--scan", "-s", "sardana", "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert len(messages(tmp_path / "out" / "sardana.cbors")) == 7


def test_frames_neither_points_nor_multiple(tmp_path: Path) -> None:
    source = write_nxscan(tmp_path / "scan.h5", burst=None)
    write_detector(tmp_path, 7)
    line = bad_input(tmp_path, source, "--scan")
    assert "7 frames" in line and "5 points" in line


def test_reference_naming_no_file(tmp_path: Path) -> None:
    columns = step_columns()
    columns["eiger"] = ["/data/:entry/instrument/eiger"] * 5
    source = write_nxscan(tmp_path / "scan.h5", {12: columns})
    line = bad_input(tmp_path, source, "--scan")
    assert "names no file" in line


def vds_column(source: Path, prefix: str) -> None:
    """Replace column `eiger` by a VDS of 5 images of 4x3, one `<prefix>_<k>.h5:data` each,
    as Sardana's recorder makes of h5file references."""
    with h5py.File(source, "r+") as f:
        meas = f["entry12/measurement"]
        del meas["eiger"]
        layout = h5py.VirtualLayout(shape=(5, 4, 3), dtype=np.int32)
        for k in range(5):
            layout[k] = h5py.VirtualSource(f"{prefix}_{k}.h5", "data", shape=(4, 3))
        meas.create_virtual_dataset("eiger", layout, fillvalue=-1)


def test_vds_column(tmp_path: Path) -> None:
    """A VDS column (Sardana's h5file references): its images are the stream, and the
    record holds the h5file reference it was made of."""
    source = write_nxscan(tmp_path / "scan.h5", burst=None)
    frames = np.arange(5 * 4 * 3, dtype=np.int32).reshape(5, 4, 3)
    for k in range(5):
        with h5py.File(tmp_path / f"det_{k}.h5", "w") as f:
            f.create_dataset("data", data=frames[k])
    vds_column(source, "det")
    proc = run_cli("convert", source, "--scan", "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    found = messages(tmp_path / "out" / "sardana.cbors")
    assert [r["eiger"] for _, r in found[1:-1]] == [f"h5file:det_{k}.h5::data" for k in range(5)]
    capture = read_capture(tmp_path / "out" / "eiger.cbors")
    assert [m.event_number for m in capture] == list(range(7))


def test_vds_column_with_missing_sources(tmp_path: Path) -> None:
    source = write_nxscan(tmp_path / "scan.h5", burst=None)
    vds_column(source, "gone")
    line = bad_input(tmp_path, source, "--scan")
    assert "gone_0.h5" in line


@pytest.mark.parametrize(
    "given",
    ["/data/raw/scan.h5", b"/data/raw/scan.h5", np.array([b"/data/raw/scan.h5"])],
)
def test_recorded_name_of_each_spelling(tmp_path: Path, given: object) -> None:
    """The root's `file_name` as a string, bytes or a one-element array of bytes (was
    `b'/data/raw/scan.h5'`: the array's bytes were not decoded)."""
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        f.attrs["file_name"] = given
        assert sardana.recorded_name(f.create_group("entry1")) == "/data/raw/scan.h5"
