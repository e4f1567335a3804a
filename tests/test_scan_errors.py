"""Bad scans and configs: one line on stderr naming the problem, exit 1, nothing written."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from .conftest import REPO, Cli
from .scan_files import PILATUS, XSPRESS3, write_scan, write_step_scan


def fails(cli: Cli, out: Path, *args: object) -> str:
    """Run `convert ... -o out`: exit 1, one line on stderr, no traceback, no capture written."""
    code, _, err = cli("convert", *args, "-o", out)
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "unexpected" not in err, err
    assert not (out.exists() and any(out.iterdir())), list(out.iterdir())
    return err


def test_scan_on_a_file_that_is_not_a_contrast_master(tmp_path: Path, cli: Cli) -> None:
    err = fails(cli, tmp_path / "out", REPO / "sample_data/pilatus_100k.h5", "--scan")
    assert "not a contrast master file" in err
    assert "/entry/snapshots" in err and "/entry/description" in err


def test_missing_linked_detector_file_is_named(tmp_path: Path, cli: Cli) -> None:
    master = write_scan(tmp_path / "scan")
    (master.parent / XSPRESS3).unlink()
    assert XSPRESS3 in fails(cli, tmp_path / "out", master, "--scan")


def test_per_point_arrays_not_a_multiple_of_the_steps(tmp_path: Path, cli: Cli) -> None:
    master = write_scan(tmp_path / "scan")
    with h5py.File(master, "a") as f:
        for group in ("pseudo", "panda0"):
            for d in f[f"entry/measurement/{group}"].values():
                d.resize(21, axis=0)
    err = fails(cli, tmp_path / "out", master, "--scan")
    assert ("21" in err and "2 steps" in err) or "multiple" in err, err


def test_panda_field_names_that_do_not_parse(tmp_path: Path, cli: Cli) -> None:
    master = write_scan(tmp_path / "scan")
    with h5py.File(master, "a") as f:
        f["entry/measurement/panda0/not a field"] = np.zeros(20)
    err = fails(cli, tmp_path / "out", master, "--scan")
    assert "/entry/measurement/panda0" in err and "not a field" in err


@pytest.mark.parametrize("group", ["panda0", ""])
def test_link_name_that_is_not_utf8(tmp_path: Path, cli: Cli, group: str) -> None:
    """h5py gives bytes for such a name: it reached `follow` and was "unexpected TypeError"
    (found by the fuzz, `test_fuzz.py`)."""
    master = write_scan(tmp_path / "scan")
    with h5py.File(master, "a") as f:
        f[f"entry/measurement/{group}".rstrip("/").encode() + b"/A.B\xa2_Value"] = np.zeros(20)
    err = fails(cli, tmp_path / "out", master, "--scan")
    where = f"/entry/measurement/{group}".rstrip("/")
    assert f"{where} in {master}: link name b'A.B\\xa2_Value' is not UTF-8" in err, err


def test_xspress3_group_without_data(tmp_path: Path, cli: Cli) -> None:
    master = write_scan(tmp_path / "scan")
    with h5py.File(master.parent / XSPRESS3, "a") as f:
        del f["entry/instrument/xspress3/data"]
    err = fails(cli, tmp_path / "out", master, "--scan")
    assert "xspress3" in err and "no data" in err


def test_xspress3_meta_of_the_wrong_shape(tmp_path: Path, cli: Cli) -> None:
    master = write_step_scan(tmp_path / "scan", steps=3)
    with h5py.File(master.parent / "scan_000003_xspress3.hdf5", "a") as f:
        del f["entry/instrument/xspress3/all_good"]
        f["entry/instrument/xspress3/all_good"] = np.zeros((3, 5), np.uint32)
    err = fails(cli, tmp_path / "out", master, "--scan")
    assert "all_good" in err and "(3, 5)" in err


def test_missing_detector_dataset_in_its_file(tmp_path: Path, cli: Cli) -> None:
    master = write_scan(tmp_path / "scan")
    with h5py.File(master.parent / PILATUS, "a") as f:
        del f["entry/instrument/pilatus/data"]
    err = fails(cli, tmp_path / "out", master, "--scan")
    assert "/entry/measurement/pilatus/frames" in err and PILATUS in err


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ('pionts = 3\n[streams.a]\npath = "/data"\n', ["line 1", "unknown key pionts"]),
        ('[streams.a]\npath = "/data"\nprotcol = "stins"\n', ["line 3", "streams.a.protcol"]),
        ('[streams.a]\npath = "/nowhere"\n', ["line 2", "/nowhere"]),
        ('points = "/missing"\n[streams.a]\npath = "/data"\n', ["line 1", "/missing"]),
        ('[streams.a]\npath = "/data"\nprotocol = "tiff"\n', ["line 3", "tiff"]),
        ('points = 4\nsteps = 3\n[streams.a]\npath = "/data"\n', ["4 points", "3"]),
        ("[streams\n", ["not valid TOML"]),
        ("points = 3\n", ["[streams.NAME]"]),
    ],
)
def test_bad_config(tmp_path: Path, cli: Cli, config: str, expected: list[str]) -> None:
    """An unknown key, a missing path, a bad value: named with the config's line."""
    h5 = tmp_path / "run.h5"
    with h5py.File(h5, "w") as f:
        f["data"] = np.zeros((4, 3, 5), np.uint16)
    toml = tmp_path / "scan.toml"
    toml.write_text(config)
    err = fails(cli, tmp_path / "out", h5, "--config", toml)
    for text in expected:
        assert text in err, err
