"""A MAX IV per-scan master (one scan per file, motors and channels under
`/entry/instrument`) described part by part with `--config`: converted, replayed through the
real `dranspose replay`, verified; bad configs refused in one line."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from .conftest import run_cli
from .replay_source import CONFIG_ENV, INPUT_ENV
from .test_replay_e2e import replay, sha256
from .test_sardana import EIGER_REFERENCE, STR, bad_input, messages, write_detector

POINTS = 5
CONFIG = """\
[streams.sardana]
path = "/entry"
protocol = "sardana"
title = "/entry/title"
start_time = "/entry/start_time"
end_time = "/entry/end_time"
timestamp = "/entry/instrument/dt/data"
motors = ["/entry/instrument/xtal3_pit/value"]
channels = ["/entry/instrument/albaem01_ch3/data", "/entry/instrument/spectrum/data"]
"""


def write_master(path: Path, short: bool = False, eiger: bool = False) -> dict[str, np.ndarray]:
    """A per-scan master as MAX IV's analyses read it: `/entry/title`, `/entry/start_time`,
    motors as `/entry/instrument/<motor>/value`, channels as `/entry/instrument/<label>/data`,
    the pre-scan snapshot under `/entry/instrument/start_positioners/`."""
    columns = {
        "xtal3_pit": np.linspace(-0.5, 0.5, POINTS),
        "albaem01_ch3": np.arange(POINTS, dtype=np.float64) * 1.5,
        "spectrum": np.arange(POINTS * 3, dtype=np.int32).reshape(POINTS, 3),
        "dt": np.arange(POINTS, dtype=np.float64) * 0.25,
    }
    if short:
        columns["albaem01_ch3"] = columns["albaem01_ch3"][:3]
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.create_dataset("title", data="dscan xtal3_pit -0.5 0.5 4 0.1")
        entry.create_dataset("start_time", data="2024-10-24T16:56:40.250")
        entry.create_dataset("end_time", data="2024-10-24T16:56:56.500")
        instrument = entry.create_group("instrument")
        instrument.create_group("xtal3_pit").create_dataset("value", data=columns["xtal3_pit"])
        for name in ("albaem01_ch3", "spectrum", "dt"):
            instrument.create_group(name).create_dataset("data", data=columns[name])
        instrument.create_group("start_positioners").create_dataset("xtal3_pit", data=-0.5)
        if eiger:  # a referenced detector, as MAX IV's recorder spells the reference
            references = [EIGER_REFERENCE.format(21503)] * POINTS
            instrument.create_group("eiger").create_dataset("data", data=references, dtype=STR)
    return columns


def setup(tmp_path: Path, config: str = CONFIG, short: bool = False) -> tuple[Path, Path]:
    source = tmp_path / "scan-21503.h5"
    write_master(source, short)
    toml = tmp_path / "maxiv.toml"
    toml.write_text(config)
    return source, toml


def test_per_scan_master(tmp_path: Path) -> None:
    """The stream's messages: serial number from the file name, motors and channels by
    their group's name, point numbers counted; replayed and verified."""
    source, toml = setup(tmp_path)
    columns = write_master(source)
    out = tmp_path / "out"
    proc = run_cli("convert", source, "--config", toml, "-o", out)
    assert proc.returncode == 0, proc.stderr
    found = messages(out / "sardana.cbors")
    assert [event for event, _ in found] == list(range(POINTS + 2))
    description = found[0][1]
    assert description["serialno"] == 21503
    assert description["title"] == "dscan xtal3_pit -0.5 0.5 4 0.1"
    assert description["ref_moveables"] == ["xtal3_pit"]
    assert description["starttime"] == "Thu Oct 24 16:56:40 2024"
    assert description["counters"] == ["albaem01_ch3", "spectrum"]
    assert description["scanfile"] == "scan-21503.h5"
    assert [c["name"] for c in description["column_desc"]] == [
        "point_nb",
        "xtal3_pit",
        "albaem01_ch3",
        "timestamp",
    ]
    assert description["column_desc"][0]["max_value"] == POINTS - 1
    for k, (_, record) in enumerate(found[1:-1]):
        assert record["point_nb"] == k
        assert record["timestamp"] == columns["dt"][k]
        assert record["xtal3_pit"] == columns["xtal3_pit"][k]
        assert record["spectrum"] == columns["spectrum"][k].tolist()
    assert found[-1][1] == {"type": "RecordEnd", "endtime": "Thu Oct 24 16:56:56 2024"}

    record = replay(tmp_path, "-f", out / "sardana.cbors")
    assert sorted(record) == list(range(POINTS + 2))
    assert record[0]["sardana"]["values"]["ref_moveables"] == ["xtal3_pit"]
    for k in range(1, POINTS + 1):
        values = record[k]["sardana"]["values"]
        assert values["point_nb"] == k - 1
        assert values["xtal3_pit"] == columns["xtal3_pit"][k - 1]

    proc = run_cli("verify", source, out / "sardana.cbors", "--scan", "--config", toml)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with h5py.File(source, "r+") as f:
        f["entry/instrument/albaem01_ch3/data"][2] = 7.0
    proc = run_cli("verify", source, out / "sardana.cbors", "--scan", "--config", toml)
    assert proc.returncode == 1
    assert "event 3: albaem01_ch3 is 3.0, not 7.0" in proc.stderr


def test_missing_path(tmp_path: Path) -> None:
    """A part whose path the file lacks is named with its config line."""
    config = CONFIG.replace("/entry/instrument/spectrum/data", "/entry/instrument/nothing/data")
    source, toml = setup(tmp_path, config)
    line = bad_input(tmp_path, source, "--config", toml)
    assert "maxiv.toml line 9" in line and "/entry/instrument/nothing/data" in line


def test_missing_title(tmp_path: Path) -> None:
    source, toml = setup(tmp_path, CONFIG.replace('title = "/entry/title"\n', ""))
    line = bad_input(tmp_path, source, "--config", toml)
    assert "streams.sardana" in line and "title" in line


def test_columns_of_different_lengths(tmp_path: Path) -> None:
    """A column shorter than the others is named, with the part all columns have."""
    source, toml = setup(tmp_path, short=True)
    line = bad_input(tmp_path, source, "--config", toml)
    assert "/entry/instrument/albaem01_ch3/data" in line and "--frames 0:3" in line


def test_parts_must_be_paths(tmp_path: Path) -> None:
    config = CONFIG.replace('motors = ["/entry/instrument/xtal3_pit/value"]', "motors = 3")
    source, toml = setup(tmp_path, config)
    line = bad_input(tmp_path, source, "--config", toml)
    assert "streams.sardana.motors must be a list of HDF5 paths" in line


def readme_config() -> str:
    """README's per-scan master config."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    return readme.split("**A MAX IV per-scan master.**")[1].split("```toml\n")[1].split("```")[0]


def test_referenced_detector(tmp_path: Path) -> None:
    """README's example: a channel of reference strings is a STINS stream of the detector
    file beside the master, as for an NXscan entry: its frames on the events of their
    points' records."""
    source, toml = setup(tmp_path, readme_config())
    write_master(source, eiger=True)
    images = write_detector(tmp_path, POINTS, 21503)
    out = tmp_path / "out"
    proc = run_cli("convert", source, "--config", toml, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["eiger.cbors", "sardana.cbors"]
    record = replay(tmp_path, "-f", out / "sardana.cbors", out / "eiger.cbors")
    assert sorted(record) == list(range(POINTS + 2))
    for k in range(1, POINTS + 1):
        assert record[k]["sardana"]["values"]["eiger"] == EIGER_REFERENCE.format(21503)
        assert record[k]["eiger"]["sha256"] == sha256(images[k - 1])
    proc = run_cli("verify", source, *out.iterdir(), "--scan", "--config", toml)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env = {INPUT_ENV: str(source), CONFIG_ENV: str(toml)}
    direct = replay(tmp_path, "-s", "tests.replay_source:ConfiguredScanSource", env=env)
    assert direct == record  # ReplaySource(config=...) replays what convert writes
    proc = run_cli("convert", source, "--config", toml, "--stream", "eiger", "-o", tmp_path / "e")
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in (tmp_path / "e").iterdir()] == ["eiger.cbors"]


def test_aborted_scan_with_frames(tmp_path: Path) -> None:
    """`--frames` converts the part all columns have, as the refusal says."""
    source, toml = setup(tmp_path, short=True)
    out = tmp_path / "out"
    proc = run_cli("convert", source, "--config", toml, "--frames", "0:3", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert [r["point_nb"] for _, r in messages(out / "sardana.cbors")[1:-1]] == [0, 1, 2]


def test_burst_scan(tmp_path: Path) -> None:
    """A detector of k frames per point: every frame on its own event, each record on its
    point's last frame (as for an NXscan entry)."""
    config = CONFIG.replace('spectrum/data"]', 'spectrum/data", "/entry/instrument/eiger/data"]')
    source, toml = setup(tmp_path, config)
    write_master(source, eiger=True)
    write_detector(tmp_path, POINTS * 3, 21503)
    out = tmp_path / "out"
    proc = run_cli("convert", source, "--config", toml, "-o", out)
    assert proc.returncode == 0, proc.stderr
    events = [event for event, _ in messages(out / "sardana.cbors")]
    assert events == [0, *range(3, POINTS * 3 + 1, 3), POINTS * 3 + 1]


def test_serial_number_and_point_numbers_by_path(tmp_path: Path) -> None:
    """`serialno` and `point_nb` given by path win over the file name and the count."""
    config = CONFIG.replace(
        'end_time = "/entry/end_time"',
        'serialno = "/entry/entry_identifier"\npoint_nb = "/entry/instrument/pt/data"',
    )
    source, toml = setup(tmp_path, config)
    with h5py.File(source, "r+") as f:
        f["entry"].create_dataset("entry_identifier", data="77")
        f["entry/instrument"].create_group("pt").create_dataset("data", data=np.arange(10, 15))
    out = tmp_path / "out"
    proc = run_cli("convert", source, "--config", toml, "-o", out)
    assert proc.returncode == 0, proc.stderr
    found = messages(out / "sardana.cbors")
    assert found[0][1]["serialno"] == 77
    assert found[0][1]["column_desc"][0]["min_value"] == 10
    assert [r["point_nb"] for _, r in found[1:-1]] == list(range(10, 15))
    assert found[-1][1] == {"type": "RecordEnd"}


def test_part_that_is_a_group(tmp_path: Path) -> None:
    config = CONFIG.replace('title = "/entry/title"', 'title = "/entry/instrument"')
    source, toml = setup(tmp_path, config)
    line = bad_input(tmp_path, source, "--config", toml)
    assert "maxiv.toml line 4: streams.sardana.title: /entry/instrument" in line
    assert "is a group, not a dataset" in line


def test_unknown_stream_lists_the_streams(tmp_path: Path) -> None:
    """A stream name the config gives neither as a table nor as a referenced channel is
    refused, listing both kinds: the config's streams, then its detectors."""
    source, toml = setup(tmp_path, readme_config())
    write_master(source, eiger=True)
    line = bad_input(tmp_path, source, "--config", toml, "--stream", "pilatus")
    assert line.endswith("has no stream pilatus; its streams are sardana, eiger"), line
