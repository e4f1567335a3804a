"""Which streams of a scan are converted: exactly those asked for, each name once and plain.

NanoMAX scan 8 (the public `000008.h5` that dranspose's docs replay) links a Pilatus file
that was never published: its other streams convert, verify and replay all the same.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest

from .conftest import Cli
from .public_data import public_file
from .replay_source import INPUT_ENV
from .scan_files import PILATUS, write_fly_scan
from .test_replay_e2e import Record, convert, replay

ASKED = ["contrast", "xspress3", "panda0"]
NANOMAX = "maxiv-science/drp-nanomax"


def asked_for(master: Path, out: Path) -> list[str]:
    """Convert the three streams of `ASKED`; the names of the captures written."""
    result = convert(master, "--scan", *[a for n in ASKED for a in ("--stream", n)], "-o", out)
    assert sorted(s["name"] for s in result["streams"]) == sorted(ASKED)
    return sorted(p.name for p in out.iterdir())


def assert_every_point(record: Record, points: int, lines: int) -> None:
    """Each point's spectrum and PandA row on its own event, one `running` per line."""
    assert sorted(record) == list(range(points + 2))
    for event in range(1, points + 1):
        assert {"xspress3", "panda0"} <= set(record[event]), event
        assert record[event]["xspress3"]["frame"] == event - 1
    running = [e for e, s in record.items() if s.get("contrast", {}).get("status") == "running"]
    assert len(running) == lines and running[-1] == points


def test_missing_detector_file_of_a_stream_not_asked_for(tmp_path: Path, cli: Cli) -> None:
    master = write_fly_scan(tmp_path / "scan")
    out = tmp_path / "out"
    assert asked_for(master, out) == ["contrast.cbors", "panda0.cbors", "xspress3.cbors"]

    code, text, err = cli("verify", master, *sorted(out.iterdir()), "--scan")
    assert code == 0, err
    assert text.count("identical") == 3, text

    record = replay(tmp_path, "-f", *sorted(out.iterdir()))
    assert_every_point(record, 1111, 11)
    direct = replay(
        tmp_path, "-s", "tests.replay_source:ScanStreamsSource", env={INPUT_ENV: str(master)}
    )
    assert direct == record


def test_missing_detector_file_of_the_whole_scan_gives_the_streams_to_ask_for(
    tmp_path: Path, cli: Cli
) -> None:
    master = write_fly_scan(tmp_path / "scan")
    out = tmp_path / "out"
    code, _, err = cli("convert", master, "--scan", "-o", out)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert f"{PILATUS} is missing" in err, err
    assert err.rstrip().endswith("give --stream contrast --stream panda0 --stream xspress3"), err
    assert not out.exists() or not any(out.iterdir())


def test_nanomax_scan_8_converts_verifies_and_replays(tmp_path: Path, cli: Cli) -> None:
    """The real scan, as published: 11 lines of 101 points, its Pilatus file missing."""
    master = public_file(NANOMAX, "data/000008.h5")
    public_file(NANOMAX, "data/scan_000008_xspress3.hdf5")
    with h5py.File(master, "r") as f:
        link = f.get("/entry/measurement/pilatus/frames", getlink=True)
        assert isinstance(link, h5py.ExternalLink)
        assert not (master.parent / link.filename).exists()
    out = tmp_path / "out"
    assert asked_for(master, out) == ["contrast.cbors", "panda0.cbors", "xspress3.cbors"]

    code, text, err = cli("verify", master, *sorted(out.iterdir()), "--scan")
    assert code == 0, err
    assert text.count("1113 messages identical") == 2 and "13 messages identical" in text, text
    code, text, err = cli("verify", master, *sorted(out.iterdir()))
    assert code == 1 and text.count("not checked") == 2 and "2 streams not checked" in err, text

    record = replay(tmp_path, "-f", *sorted(out.iterdir()))
    assert_every_point(record, 1111, 11)
    direct = replay(
        tmp_path, "-s", "tests.replay_source:ScanStreamsSource", env={INPUT_ENV: str(master)}
    )
    assert direct == record


def test_asking_for_the_missing_stream_names_its_file(tmp_path: Path, cli: Cli) -> None:
    master = write_fly_scan(tmp_path / "scan")
    code, _, err = cli("convert", master, "--scan", "--stream", "pilatus", "-o", tmp_path / "out")
    assert code == 1 and f"{PILATUS} is missing" in err and "give --stream" not in err, err


def test_a_value_of_the_scan_is_no_stream(tmp_path: Path, cli: Cli) -> None:
    """`--stream sy` (a motor's value per line) converted nothing: "unexpected ValueError"."""
    master = write_fly_scan(tmp_path / "scan")
    code, _, err = cli("convert", master, "--scan", "--stream", "sy", "-o", tmp_path / "out")
    assert code == 1 and "has no stream sy; its streams are contrast, panda0, xspress3" in err, err


def test_config_stream_not_asked_for_whose_path_is_missing(tmp_path: Path, cli: Cli) -> None:
    master = write_fly_scan(tmp_path / "scan")
    config = tmp_path / "scan.toml"
    config.write_text(
        '[streams.panda0]\npath = "/entry/measurement/panda0"\n'
        '[streams.pilatus]\npath = "/entry/measurement/pilatus/frames"\n'
    )
    out = tmp_path / "out"
    code, _, err = cli("convert", master, "--config", config, "-s", "panda0", "-o", out)
    assert code == 0 and [p.name for p in out.iterdir()] == ["panda0.cbors"], err
    code, _, err = cli("convert", master, "--config", config, "-o", tmp_path / "o2")
    assert code == 1 and f"{config} line 4: streams.pilatus" in err and PILATUS in err, err


def test_replay_source_of_a_scan_missing_a_detector_file_gives_the_streams_to_set(
    tmp_path: Path,
) -> None:
    """A `ReplaySource` user was told to give `--stream`s, a command-line option."""
    from h5tocbors import ReplaySource
    from h5tocbors.errors import H5ToCborsError

    class Scan(ReplaySource):
        input = write_fly_scan(tmp_path / "scan")

    with pytest.raises(H5ToCborsError) as raised:
        Scan().get_source_generators()
    message = str(raised.value)
    assert f"{PILATUS} is missing" in message and "--stream" not in message, message
    assert message.endswith("give streams = ['contrast', 'panda0', 'xspress3']"), message
