"""Whole scans: `convert --scan` rebuilds every stream of a contrast scan, events aligned.

Each test writes a contrast-style scan (master file, xspress3 file, Pilatus file, PandA
group) with the sample's own script, converts it with the installed `h5tocbors`, and
replays the captures through the real `dranspose replay`, whose worker parses each stream
with dranspose's parsers (`tests/replay_app.py`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from h5tocbors.protocols.xspress import META

from .replay_source import INPUT_ENV
from .scan_files import LINES, PER_LINE, POINTS, XSPRESS3, write_scan, write_step_scan
from .test_replay_e2e import convert, replay

STREAMS = {"contrast", "xspress3", "pilatus", "panda0"}
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


def test_step_scan_has_one_running_message_per_point(tmp_path: Path) -> None:
    """A step scan is 1:1: contrast's `running` for step j and xspress3 frame j at event j+1."""
    master = write_step_scan(tmp_path / "scan", steps=5)
    out = tmp_path / "out"
    convert(master, "--scan", "-o", out)
    assert sorted(p.name for p in out.glob("*.cbors")) == ["contrast.cbors", "xspress3.cbors"]

    record = replay(tmp_path, "-f", out / "contrast.cbors", out / "xspress3.cbors")

    assert sorted(record) == list(range(7))
    for j in range(5):
        event = record[j + 1]
        assert set(event) == {"contrast", "xspress3"}
        assert event["contrast"]["status"] == "running"
        values = items(event["contrast"]["values"])
        assert (values["sx"], values["det1"], values["dt"]) == (j * 0.25, float(j * j), 0.1 + j)
        assert event["xspress3"]["frame"] == j
    started = items(record[0]["contrast"]["values"])
    assert (started["scannr"], started["description"]) == (3, "ascan sx 0 1 4 0.1")
    assert items(started["snapshot"])["energy"] == 9000.0
    assert record[6]["contrast"]["status"] == "finished"
    assert items(items(record[6]["contrast"]["values"])["snapshot"])["sx"] == 1.0


def test_a_detector_with_one_frame_per_line_is_step_wise(tmp_path: Path) -> None:
    """A detector with as many frames as the scan has steps (lines) sits on the lines' events."""
    master = write_scan(tmp_path / "scan")
    with h5py.File(master.parent / "scan_000008_pilatus.hdf5", "a") as f:
        data = f["entry/instrument/pilatus/data"][:LINES]
        del f["entry/instrument/pilatus/data"]
        f["entry/instrument/pilatus/data"] = data
    out = tmp_path / "out"
    convert(master, "--scan", "--stream", "pilatus", "--stream", "contrast", "-o", out)

    record = replay(tmp_path, "-f", out / "pilatus.cbors", out / "contrast.cbors")

    images = [e for e in record if record[e].get("pilatus", {}).get("htype") == "image"]
    assert images == [PER_LINE * (j + 1) for j in range(LINES)]
    assert [record[e]["pilatus"]["sha256"] for e in images] == [sha256(a) for a in data]
    assert set(record[POINTS + 1]) == {"pilatus", "contrast"}


def test_truncated_detector_needs_frames_for_the_common_part(tmp_path: Path, cli: Any) -> None:
    """An aborted scan's detector file holds fewer frames than points: an error, unless
    `--frames` selects the common part; then contrast's last line ends at its last point."""
    master = write_scan(tmp_path / "scan")
    with h5py.File(master.parent / "scan_000008_pilatus.hdf5", "a") as f:
        f["entry/instrument/pilatus/data"].resize(15, axis=0)
    out = tmp_path / "out"
    code, _, err = cli("convert", master, "--scan", "-o", out)
    assert code == 1
    assert "has 15 frames" in err and f"{POINTS} points" in err and "--frames 0:15" in err
    assert not list(out.glob("*.cbors")) if out.exists() else True

    convert(master, "--scan", "--frames", "0:15", "-o", out)
    record = replay(tmp_path, "-f", *sorted(out.glob("*.cbors")))

    assert sorted(record) == list(range(17))
    running = [e for e in record if record[e].get("contrast", {}).get("status") == "running"]
    assert running == [10, 15]
    partial = items(items(record[15]["contrast"]["values"])["pseudo"])["x"]["values"]
    assert len(partial) == 5
    assert [record[e]["pilatus"]["frame"] for e in range(1, 16)] == list(range(15))
    assert set(record[16]) == STREAMS

    # verify takes the common part from what the captures record (no --frames needed)
    code, out_text, err = cli("verify", master, *sorted(out.glob("*.cbors")), "--scan")
    assert (code, err) == (0, ""), err
    assert out_text.count("identical") == len(STREAMS)


def test_detector_matching_neither_points_nor_steps(tmp_path: Path, cli: Any) -> None:
    master = write_scan(tmp_path / "scan")
    with h5py.File(master.parent / "scan_000008_pilatus.hdf5", "a") as f:
        data = f["entry/instrument/pilatus/data"]
        more = np.concatenate([data[()], data[:5]])
        del f["entry/instrument/pilatus/data"]
        f["entry/instrument/pilatus/data"] = more
    code, _, err = cli("convert", master, "--scan", "-o", tmp_path / "out")
    assert code == 1
    assert "25 frames" in err and f"{POINTS} points" in err and f"{LINES} steps" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_scan_streams_are_named_as_in_the_experiment(tmp_path: Path, cli: Any) -> None:
    master = write_scan(tmp_path / "scan")
    out = tmp_path / "out"
    result = convert(master, "--scan", "-s", "xspress3", "-s", "contrast", "-o", out)
    assert sorted(s["name"] for s in result["streams"]) == ["contrast", "xspress3"]
    assert sorted(p.name for p in out.glob("*.cbors")) == ["contrast.cbors", "xspress3.cbors"]
    code, _, err = cli("convert", master, "--scan", "-s", "eiger", "-o", tmp_path / "o2")
    assert code == 1
    assert "no stream eiger" in err and "xspress3" in err and "panda0" in err


def test_protocols_outside_scan_mode(tmp_path: Path, cli: Any) -> None:
    """`--stream NAME=PATH` picks the protocol by what PATH is; `PATH:PROTOCOL` names it."""
    master = write_scan(tmp_path / "scan")
    out = tmp_path / "out"
    result = convert(
        master,
        "-s",
        "panda0=/entry/measurement/panda0",
        "-s",
        "xs=/entry/measurement/xspress3:xspress",
        "-o",
        out,
    )
    assert {s["name"]: s["typ"] for s in result["streams"]} == {
        "panda0": "PCAP_RAW",
        "xs": "xspress",
    }
    record = replay(tmp_path, "-f", out / "panda0.cbors", out / "xs.cbors")
    assert sorted(record) == list(range(POINTS + 2))
    assert all(set(e) == {"panda0", "xs"} for e in record.values())

    code, _, err = cli("convert", master, "-s", "p=/entry/measurement/pseudo", "-o", out)
    assert code == 1
    assert "fits no protocol" in err and "xspress:" in err and "pcap-raw:" in err
    code, _, err = cli("convert", master, "-s", "p=/entry/measurement/panda0:xspress", "-o", out)
    assert code == 1 and "is not a xspress source" in err


def test_replay_source_gives_the_captures_messages(tmp_path: Path) -> None:
    """`dranspose replay -s` with a three-line `ReplaySource` subclass replays what the
    captures of `convert --scan` replay."""
    master = write_scan(tmp_path / "scan")
    out = tmp_path / "out"
    convert(master, "--scan", "-o", out)
    from_files = replay(tmp_path, "-f", *sorted(out.glob("*.cbors")))

    from_hdf5 = replay(
        tmp_path, "-s", "tests.replay_source:ScanSource", env={INPUT_ENV: str(master)}
    )

    assert from_hdf5 == from_files


def test_config_describes_a_layout_that_is_not_contrast(tmp_path: Path) -> None:
    """A PandABlocks-client file (root datasets `BLOCK.FIELD.Capture`, `arm_time`) with an
    image stack beside it, described by a TOML config: both streams on shared events."""
    rng = np.random.default_rng(9)
    h5 = tmp_path / "panda.h5"
    with h5py.File(h5, "w") as f:
        f.attrs["arm_time"] = "2024-10-30T10:32:07.097Z"
        f["INENC1.VAL.Mean"] = rng.normal(size=6)
        f["PCAP.TS_TRIG.Value"] = np.arange(6) * 0.1
        f["PCAP.BITS0.Value"] = np.arange(6, dtype=np.uint32)
        f.create_dataset("/camera/data", data=rng.integers(0, 9, (6, 8, 10), dtype=np.uint16))
    toml = tmp_path / "scan.toml"
    toml.write_text(
        'points = "/PCAP.TS_TRIG.Value"\n\n'
        '[streams.pcap]\npath = "/"\nprotocol = "pcap-raw"\n\n'
        '[streams.camera]\npath = "/camera/data"\n'
    )
    out = tmp_path / "out"
    result = convert(h5, "--config", toml, "-o", out)
    assert {s["name"]: s["typ"] for s in result["streams"]} == {
        "pcap": "PCAP_RAW",
        "camera": "STINS",
    }

    record = replay(tmp_path, "-f", out / "pcap.cbors", out / "camera.cbors")

    assert sorted(record) == list(range(8))
    assert record[0]["pcap"]["arm_time"].startswith("2024-10-30T10:32:07.097")
    with h5py.File(h5, "r") as f:
        for i in range(6):
            fields = record[i + 1]["pcap"]["fields"]
            assert fields["INENC1.VAL.Mean"] == f["INENC1.VAL.Mean"][i]
            assert fields["PCAP.BITS0.Value"] == int(f["PCAP.BITS0.Value"][i])
            assert record[i + 1]["camera"]["sha256"] == sha256(f["/camera/data"][i])


def test_ls_shows_the_streams_of_a_scan(tmp_path: Path, cli: Any) -> None:
    """`ls` of a contrast master: datasets behind links to groups, the groups that make
    streams with their protocol, and what `--scan` makes of each entry."""
    master = write_scan(tmp_path / "scan")
    code, out, err = cli("ls", master)
    assert code == 0, err
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "--stream contrast=/entry:contrast" in lines["/entry"]
    assert "[--scan: stream contrast]" in lines["/entry"]
    assert "/entry/measurement/xspress3:xspress" in lines["/entry/measurement/xspress3"]
    assert "[--scan: stream xspress3]" in lines["/entry/measurement/xspress3"]
    assert "/entry/measurement/panda0:pcap-raw" in lines["/entry/measurement/panda0"]
    assert "[--scan: stream pilatus]" in lines["/entry/measurement/pilatus/frames"]
    assert "4x4096" in lines["/entry/measurement/xspress3/data"]  # inside the linked group
    assert "/entry/measurement/pseudo" not in lines  # values only, no stream
    code, out, _ = cli("ls", master, "--json")
    groups = {d["path"]: d for d in json.loads(out) if d["layout"] == "group"}
    assert {p: (d["protocol"], d["scan"]) for p, d in groups.items()} == {
        "/entry": ("contrast", "contrast"),
        "/entry/measurement/panda0": ("pcap-raw", "panda0"),
        "/entry/measurement/xspress3": ("xspress", "xspress3"),
    }


def test_inspect_reads_every_protocol_of_a_scan(tmp_path: Path, cli: Any) -> None:
    """`inspect --strict` of a scan's captures: no problem, and what each protocol tells."""
    master = write_scan(tmp_path / "scan")
    out = tmp_path / "out"
    convert(master, "--scan", "-o", out)
    code, text, err = cli("inspect", *sorted(out.glob("*.cbors")), "--strict")
    assert code == 0, err
    assert "contrast: contrast, 4 messages, 2 steps" in text
    assert "keys panda0, pilatus, pseudo, sx, sy, xspress3, dt" in text
    assert "xspress3: xspress, 22 messages, 20 spectra [4, 4096] uint32 none" in text
    assert "meta output_count_rate, all_events" in text
    assert "panda0: PCAP_RAW, 22 messages, 20 rows" in text and "INENC2.VAL.Mean double" in text
    code, text, _ = cli("inspect", out / "xspress3.cbors", "--json")
    stream = json.loads(text)["files"][0]["streams"]["xspress3"]
    assert stream["details"][0].startswith("meta output_count_rate")


def test_scans_in_a_batch_with_skip_existing_and_json(tmp_path: Path, cli: Any) -> None:
    """`--scan` with several inputs: OUTPUT_DIR/<stem>/ per scan, resumable, `--json`."""
    first = write_scan(tmp_path / "a")
    second = write_scan(tmp_path / "b")
    second = second.rename(second.with_name("000009.h5"))
    out = tmp_path / "out"
    code, text, err = cli("convert", first, second, "--scan", "-o", out, "--json", "-j", "2")
    assert code == 0, err
    files = {Path(f["input"]).name: f for f in json.loads(text)["files"]}
    assert {f["status"] for f in files.values()} == {"ok"}
    for stem in ("000008", "000009"):
        assert sorted(p.name for p in (out / stem).glob("*.cbors")) == [
            "contrast.cbors",
            "panda0.cbors",
            "pilatus.cbors",
            "xspress3.cbors",
        ]
    (out / "000009" / "panda0.cbors").unlink()
    code, text, err = cli(
        "convert", first, second, "--scan", "-o", out, "--skip-existing", "--json"
    )
    assert code == 0, err
    again = {Path(f["input"]).name: f for f in json.loads(text)["files"]}
    assert again["000008.h5"]["status"] == "skipped"
    assert [s["name"] for s in again["000009.h5"]["result"]["streams"]] == ["panda0"]
