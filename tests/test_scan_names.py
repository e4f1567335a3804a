"""Stream names of a scan: every way a stream gets its name passes the `--stream` check, and
no two streams share one, all checked before anything is written."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest

from .conftest import Cli
from .scan_files import XSPRESS3, write_scan


def with_detector(tmp_path: Path, key: str) -> Path:
    """The sample scan with one more detector, the xspress3 file linked as `key`."""
    master = write_scan(tmp_path / "scan")
    with h5py.File(master, "a") as f:
        measurement = f["entry/measurement"]
        measurement[key.encode()] = h5py.ExternalLink(XSPRESS3, "/entry/instrument/xspress3")
    return master


def refused(cli: Cli, out: Path, *args: object) -> str:
    """`convert` exits 1 with one escaped line, no traceback, and writes nothing."""
    code, _, err = cli("convert", *args, "-o", out)
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "unexpected" not in err and "\x1b" not in err, err
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())
    return err


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["", "force"])
def test_a_detector_named_contrast(tmp_path: Path, cli: Cli, force: list[str]) -> None:
    """Was "out/contrast.cbors exists" into an empty folder; with --force, exit 0 and the
    scan's contrast stream silently lost."""
    master = with_detector(tmp_path, "contrast")
    err = refused(cli, tmp_path / "out", master, "--scan", *force)
    assert "two streams are named contrast" in err, err
    err = refused(cli, tmp_path / "out", master, "--scan", "--stream", "contrast", *force)
    assert "two streams are named contrast" in err, err
    code, _, err = cli("convert", master, "--scan", "-s", "xspress3", "-o", tmp_path / "o2")
    assert code == 0, err


def test_replay_source_refuses_two_streams_of_one_name(tmp_path: Path) -> None:
    from h5tocbors import ReplaySource
    from h5tocbors.errors import H5ToCborsError

    class Scan(ReplaySource):
        input = with_detector(tmp_path, "contrast")

    with pytest.raises(H5ToCborsError, match="two streams are named contrast"):
        Scan().get_source_generators()
