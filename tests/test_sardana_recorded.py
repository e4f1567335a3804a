"""Sardana scans written by Sardana's own recorder (`tests/sardana_files.py`), converted with
`--scan` and replayed through the real `dranspose replay`: records as the recorder kept them,
detector frames bit for bit, events aligned as at the experiment."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from .conftest import read_capture, run_cli
from .sardana_files import (
    Written,
    write_burst_scan,
    write_continuous_scan,
    write_step_scan,
    write_two_entries,
    write_vds_scan,
)
from .test_replay_e2e import Record, replay, sha256


def converted(written: Written, out: Path, *args: str) -> list[str]:
    """Convert the scan with `--scan`; the names of the streams written."""
    proc = run_cli("convert", written.master, "--scan", "-o", out, "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return [s["name"] for s in json.loads(proc.stdout)["streams"]]


def same(value: Any, expected: Any) -> bool:
    """A record's value is the recorded one (NaN as null, arrays as lists)."""
    if isinstance(expected, np.ndarray):
        return bool(value == expected.tolist())
    if isinstance(expected, float) and math.isnan(expected):
        return value is None
    return bool(value == expected)


def check_records(record: Record, written: Written, events: list[int]) -> None:
    """Point k's record on `events[k]`, with the motors, channels, point number and time."""
    assert record[0]["sardana"]["values"]["serialno"] == written.serialno
    assert record[0]["sardana"]["values"]["title"] == written.title
    for k, event in enumerate(events):
        values = record[event]["sardana"]["values"]
        assert values["point_nb"] == k
        assert values["timestamp"] == written.dt[k]
        for motor, positions in written.motors.items():
            assert values[motor] == positions[k]
        for name, recorded in written.channels.items():
            if name not in written.detectors:
                assert same(values[name], recorded[k]), (name, k)
    assert record[max(record)]["sardana"]["type"] == "RecordEnd"


def check_frames(record: Record, stream: str, frames: np.ndarray) -> None:
    """Frame i of `stream` on event i + 1, header at 0 and end on the last event."""
    assert record[0][stream]["htype"] == "header"
    for i, frame in enumerate(frames):
        assert record[i + 1][stream]["sha256"] == sha256(frame), (stream, i)
    assert record[len(frames) + 1][stream]["htype"] == "series_end"


@pytest.mark.parametrize(
    ("write", "detector"), [(write_step_scan, "eiger_xes"), (write_continuous_scan, "orca")]
)
def test_one_frame_per_point(
    tmp_path: Path, write: Callable[[Path], Written], detector: str
) -> None:
    """Step (`dscan`) and continuous (`ascanct`) scans are 1:1: point k and its frame on
    event k + 1; the receiver's settings are the detector header's second frame."""
    written = write(tmp_path / "in")
    assert converted(written, tmp_path / "out") == ["sardana", detector]
    record = replay(tmp_path, "-f", *sorted((tmp_path / "out").iterdir()))
    check_records(record, written, list(range(1, written.points + 1)))
    check_frames(record, detector, written.detectors[detector].frames)
    header = read_capture(tmp_path / "out" / f"{detector}.cbors")[0].streams[detector]
    assert json.loads(header.frames[1]) == written.detectors[detector].settings


def test_burst_scan(tmp_path: Path) -> None:
    """k frames per point: each frame its own event, each record on its point's last frame."""
    written = write_burst_scan(tmp_path / "in")
    k = written.frames_per_point
    assert converted(written, tmp_path / "out") == ["sardana", "pilatus"]
    record = replay(tmp_path, "-f", *sorted((tmp_path / "out").iterdir()))
    check_records(record, written, [k * (p + 1) for p in range(written.points)])
    check_frames(record, "pilatus", written.detectors["pilatus"].frames)
    with_record = [e for e in sorted(record) if "sardana" in record[e]]
    assert with_record == [0, *(k * (p + 1) for p in range(written.points)), k * written.points + 1]


def test_two_entries(tmp_path: Path) -> None:
    """Without --entry every scan into its own folder; with it, the one named."""
    seven, eight = write_two_entries(tmp_path / "in")
    proc = run_cli("convert", seven.master, "--scan", "-o", tmp_path / "all", "-q")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "all" / "entry7").iterdir()) == ["sardana.cbors"]
    assert sorted(p.name for p in (tmp_path / "all" / "entry8").iterdir()) == [
        "pilatus.cbors",
        "sardana.cbors",
    ]
    assert converted(eight, tmp_path / "out", "--entry", "entry8") == ["sardana", "pilatus"]
    record = replay(tmp_path, "-f", *sorted((tmp_path / "out").iterdir()))
    check_records(record, eight, list(range(1, eight.points + 1)))
    check_frames(record, "pilatus", eight.detectors["pilatus"].frames)


def test_vds_column(tmp_path: Path) -> None:
    """A VDS column whose sources keep the recorded absolute paths: its images are found
    beside the master; the record holds Sardana's h5file reference."""
    written = write_vds_scan(tmp_path / "in")
    proc = run_cli("convert", written.master, "--scan", "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    record = replay(tmp_path, "-f", *sorted((tmp_path / "out").iterdir()))
    check_records(record, written, list(range(1, written.points + 1)))
    for k in range(written.points):
        assert record[k + 1]["sardana"]["values"]["twod"] == written.channels["twod"][k]
    check_frames(record, "twod", written.detectors["twod"].frames)


def test_stopped_scan(tmp_path: Path) -> None:
    """A scan stopped after 7 of its 11 points: the 7 recorded points are converted."""
    written = write_step_scan(tmp_path / "in", done=7)
    assert converted(written, tmp_path / "out") == ["sardana", "eiger_xes"]
    record = replay(tmp_path, "-f", *sorted((tmp_path / "out").iterdir()))
    check_records(record, written, list(range(1, 8)))
    assert max(record) == 8


def test_channel_keys_from_config(tmp_path: Path) -> None:
    """A config's `[names]` keys the records (and `counters`, `column_desc`) by the channels'
    full names, as the experiment keyed them."""
    written = write_continuous_scan(tmp_path / "in", points=11)
    config = tmp_path / "in" / "keys.toml"
    config.write_text(
        "[names]\n" + "".join(f'{name} = "{key}"\n' for name, key in written.names.items())
    )
    proc = run_cli(
        "convert", written.master, "--scan", "--config", config, "-o", tmp_path / "out", "-q"
    )
    assert proc.returncode == 0, proc.stderr
    record = replay(tmp_path, "-f", *sorted((tmp_path / "out").iterdir()))
    description = record[0]["sardana"]["values"]
    assert sorted(description["counters"]) == sorted(written.names.values())
    for k in range(written.points):
        values = record[k + 1]["sardana"]["values"]
        for name, key in written.names.items():
            assert same(values[key], written.channels[name][k]), (name, k)
            assert name not in values
    proc = run_cli("verify", written.master, *sorted((tmp_path / "out").iterdir()), "--scan",
                   "--config", config)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ls_lists_referenced_detectors(tmp_path: Path) -> None:
    """`ls` names each referenced column's detector stream and where its images are, or
    why they cannot be converted (the detector file missing)."""
    eight = write_two_entries(tmp_path / "in")[1]
    proc = run_cli("ls", eight.master, "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {d["path"]: d for d in json.loads(proc.stdout)}
    pilatus = rows["/entry8/measurement/pilatus"]
    assert pilatus["scan"] == "pilatus"
    assert pilatus["note"] == "images scan-8_pilatus.h5:/entry/instrument/pilatus/data"
    eight.detectors["pilatus"].files[0].unlink()
    proc = run_cli("ls", eight.master, "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {d["path"]: d for d in json.loads(proc.stdout)}
    note = rows["/entry8/measurement/pilatus"]["note"]
    assert note.startswith("not convertible: referenced file") and "scan-8_pilatus.h5" in note


def test_batch_rows_name_their_entries(tmp_path: Path) -> None:
    """Several entries of one file, converted as a batch: each summary row and JSON outcome
    names its entry."""
    seven = write_two_entries(tmp_path / "in")[0]
    proc = run_cli("convert", seven.master, "--scan", "-o", tmp_path / "table")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split()[:2] for line in proc.stdout.splitlines()[1:]]
    assert rows == [[str(seven.master), "/entry7"], [str(seven.master), "/entry8"]]
    proc = run_cli("convert", seven.master, "--scan", "-o", tmp_path / "json", "--json")
    assert proc.returncode == 0, proc.stderr
    files = json.loads(proc.stdout)["files"]
    assert [(f["input"], f["entry"]) for f in files] == [
        (str(seven.master), "entry7"),
        (str(seven.master), "entry8"),
    ]


def test_burst_scan_without_its_detector(tmp_path: Path) -> None:
    """`--stream sardana` on a burst scan keeps the records on the events they had beside the
    detector, whose file says the frames per point; with that file gone, they are 1:1."""
    written = write_burst_scan(tmp_path / "in")
    k = written.frames_per_point
    assert converted(written, tmp_path / "out", "--stream", "sardana") == ["sardana"]
    events = [m.event_number for m in read_capture(tmp_path / "out" / "sardana.cbors")]
    assert events == [0, *(k * (p + 1) for p in range(written.points)), k * written.points + 1]
    written.detectors["pilatus"].files[0].unlink()
    assert converted(written, tmp_path / "alone", "--stream", "sardana") == ["sardana"]
    events = [m.event_number for m in read_capture(tmp_path / "alone" / "sardana.cbors")]
    assert events == list(range(written.points + 2))


@pytest.mark.parametrize("frames", [(), ("--frames", "0:12")])
def test_verify_burst_scan(tmp_path: Path, frames: tuple[str, ...]) -> None:
    """`verify --scan` checks a burst scan's captures, whole or converted with `--frames`
    (the records planned after the detector, whose file is then open, still on its frames)."""
    written = write_burst_scan(tmp_path / "in")
    assert converted(written, tmp_path / "out", *frames) == ["sardana", "pilatus"]
    captures = sorted((tmp_path / "out").iterdir())
    proc = run_cli("verify", written.master, *captures, "--scan")
    assert proc.returncode == 0, proc.stderr
    assert "sardana: " in proc.stdout and "identical" in proc.stdout


def test_verify_records_before_detector(tmp_path: Path) -> None:
    """`verify --scan` with the sardana capture given before its detector's (the entry's
    columns, open for the records, are not opened again differently for the detector)."""
    written = write_step_scan(tmp_path / "in", points=3)
    assert converted(written, tmp_path / "out") == ["sardana", "eiger_xes"]
    out = tmp_path / "out"
    proc = run_cli(
        "verify", written.master, out / "sardana.cbors", out / "eiger_xes.cbors", "--scan"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("identical") == 2


def test_ls_names_a_short_column(tmp_path: Path) -> None:
    """`ls` tells of an entry with a column shorter than its points, and the `--frames`
    that converts the common part."""
    written = write_step_scan(tmp_path / "in", points=4)
    with h5py.File(written.master, "r+") as f:
        measurement = f[written.entry]["measurement"]
        kept = measurement["albaem01_ch3"][:2]
        del measurement["albaem01_ch3"]
        measurement["albaem01_ch3"] = kept
    proc = run_cli("ls", written.master, "--json")
    assert proc.returncode == 0, proc.stderr
    note = {d["path"]: d for d in json.loads(proc.stdout)}[f"/{written.entry}"]["note"]
    assert note.startswith(f"{written.title} (4 points; ")
    assert "albaem01_ch3" in note and note.endswith("--frames 0:2)")
