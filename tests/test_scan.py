"""Whole scans: `convert --scan` rebuilds every stream of a contrast scan, events aligned.

Each test writes a contrast-style scan (master file, xspress3 file, Pilatus file, PandA
group) with the sample's own script, converts it with the installed `h5tocbors`, and
replays the captures through the real `dranspose replay`, whose worker parses each stream
with dranspose's parsers (`tests/replay_app.py`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .scan_files import LINES, PER_LINE, POINTS, XSPRESS3, write_scan
from .test_replay_e2e import convert, replay

STREAMS = {"contrast", "xspress3", "pilatus", "panda0"}
META = [
    "output_count_rate",
    "all_events",
    "all_good",
    "clock_ticks",
    "total_ticks",
    "reset_ticks",
    "event_width",
    "dead_time_correction",
]
PARSED_META = ["ocr", "AllEvents", "AllGood", "ClockTicks", "TotalTicks", "ResetTicks",
               "event_widths", "dtc"]  # fmt: skip


def sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def items(value: dict[str, Any]) -> dict[str, Any]:
    """The items of a dict recorded by `replay_app.plain`."""
    return dict(value["items"])


def test_fly_scan_replays_every_stream_on_its_events(tmp_path: Path) -> None:
    """Starts at 0, point i at i+1 for xspress3, PandA and Pilatus, contrast's `running` on
    the last point of each line, every end at the last event: all from the HDF5 files."""
    master = write_scan(tmp_path / "scan")
    out = tmp_path / "out"
    result = convert(master, "--scan", "-o", out)
    assert {s["name"] for s in result["streams"]} == STREAMS
    typs = {s["name"]: s["typ"] for s in result["streams"]}
    assert typs == {"contrast": "contrast", "xspress3": "xspress", "pilatus": "STINS",
                    "panda0": "PCAP_RAW"}  # fmt: skip

    record = replay(tmp_path, "-f", *sorted(out.glob("*.cbors")))

    last = POINTS + 1
    assert sorted(record) == list(range(last + 1)), "no event lost at the end"
    assert set(record[0]) == set(record[last]) == STREAMS
    assert record[0]["contrast"]["status"] == "started"
    assert record[0]["xspress3"]["htype"] == "header"
    assert record[0]["panda0"]["htype"] == "start"
    assert record[0]["pilatus"]["htype"] == "header"
    assert record[last]["contrast"]["status"] == "finished"
    assert record[last]["xspress3"]["htype"] == "series_end"
    assert record[last]["panda0"]["htype"] == "end"
    assert record[last]["pilatus"]["htype"] == "series_end"

    with h5py.File(master, "r") as f:
        spectra = f["entry/measurement/xspress3/data"][()]
        meta = {name: f[f"entry/measurement/xspress3/{name}"][()] for name in META}
        panda = {k: v[()] for k, v in f["entry/measurement/panda0"].items()}
        images = f["entry/measurement/pilatus/frames"][()]
        pseudo_x = f["entry/measurement/pseudo/x"][()]
        dt = f["entry/measurement/dt"][()]
    for i in range(POINTS):
        event = record[i + 1]
        xs = event["xspress3"]
        assert (xs["htype"], xs["frame"], xs["shape"]) == ("image", i, [4, 4096])
        assert xs["sha256"] == sha256(spectra[i]), f"spectrum of point {i}"
        assert items(xs["meta"]).keys() == set(PARSED_META)
        for name, parsed in zip(META, PARSED_META):
            got = items(xs["meta"])[parsed]
            assert got["values"] == meta[name][i].tolist(), (i, name)
            assert got["dtype"] == meta[name].dtype.str, (i, name)
        assert xs["exptime"] == meta["clock_ticks"][i][0] / 80e6
        fields = event["panda0"]["fields"]
        expected = {".".join(k.rsplit("_", 1)): float(v[i]) for k, v in panda.items()}
        assert fields == expected, f"PandA values of point {i}"
        assert event["pilatus"]["frame"] == i
        assert event["pilatus"]["sha256"] == sha256(images[i])

    running = [e for e in record if record[e].get("contrast", {}).get("status") == "running"]
    assert running == [PER_LINE * (j + 1) for j in range(LINES)]
    for j, e in enumerate(running):
        values = items(record[e]["contrast"]["values"])
        assert values["dt"] == dt[j]
        x = items(values["pseudo"])["x"]["values"]
        assert x == pseudo_x[j * PER_LINE : (j + 1) * PER_LINE].tolist()
        link = items(values["xspress3"])
        assert link["type"] == "Link" and Path(link["filename"]).name == XSPRESS3
        assert Path(link["filename"]).is_absolute()
