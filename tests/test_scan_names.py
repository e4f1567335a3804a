"""Stream names of a scan: every way a stream gets its name passes the `--stream` check, and
no two streams share one, all checked before anything is written."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest

from .conftest import Cli
from .scan_files import XSPRESS3, write_scan

BAD_KEYS = {
    "dot-dot": "..",
    "hidden": ".hidden",
    "newline": "det\nproblem: fake",
    "escape": "det\x1b[2J",
    "long": "d" * 240,
}


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


def test_verify_refuses_a_detector_named_contrast(tmp_path: Path, cli: Cli) -> None:
    """verify --scan said "identical" of a contrast capture whose scan had two streams named
    contrast."""
    master = write_scan(tmp_path / "scan")
    out = tmp_path / "out"
    assert cli("convert", master, "--scan", "-s", "contrast", "-o", out)[0] == 0
    with h5py.File(master, "a") as f:
        f["entry/measurement/contrast"] = h5py.ExternalLink(XSPRESS3, "/entry/instrument/xspress3")
    code, _, err = cli("verify", master, out / "contrast.cbors", "--scan")
    assert code == 1 and "two streams are named contrast" in err, err


def test_replay_source_refuses_two_streams_of_one_name(tmp_path: Path) -> None:
    from h5tocbors import ReplaySource
    from h5tocbors.errors import H5ToCborsError

    class Scan(ReplaySource):
        input = with_detector(tmp_path, "contrast")

    with pytest.raises(H5ToCborsError, match="two streams are named contrast"):
        Scan().get_source_generators()


@pytest.mark.parametrize("key", list(BAD_KEYS.values()), ids=list(BAD_KEYS))
def test_a_detector_key_that_is_no_plain_name(tmp_path: Path, cli: Cli, key: str) -> None:
    """Were accepted (`..` and `.hidden` written as dot files), or "unexpected OSError: File
    name too long"."""
    master = with_detector(tmp_path, key)
    err = refused(cli, tmp_path / "out", master, "--scan")
    assert "/entry/measurement in" in err, err
    assert "not a plain name" in err or "longer than 200 characters" in err, err
    assert "give --stream contrast --stream panda0 --stream pilatus --stream xspress3" in err, err


def test_a_config_stream_name_too_long(tmp_path: Path, cli: Cli) -> None:
    """Was "unexpected OSError: File name too long"."""
    master = write_scan(tmp_path / "scan")
    config = tmp_path / "scan.toml"
    config.write_text(f'[streams.{"p" * 240}]\npath = "/entry/measurement/panda0"\n')
    err = refused(cli, tmp_path / "out", master, "--config", config)
    assert f"{config} line 1" in err and "longer than 200 characters" in err, err


@pytest.mark.parametrize(
    ("streams", "refusal"),
    [
        (["contrast", "contrast"], "stream 'contrast' is given twice"),
        (["det\x1b[2J"], "stream name 'det\\x1b[2J' is not a plain name"),
        (["..", "contrast"], "stream name '..' is not a plain name"),
        ("contrast", "streams must be a list of names or a mapping, not a str"),
    ],
)
def test_replay_source_streams_are_checked_as_stream_is(
    tmp_path: Path, streams: object, refusal: str
) -> None:
    """`ReplaySource.streams` (and `convert(streams=...)`) skipped `--stream`'s checks: a
    name given twice was taken once, an ESC reached the error unescaped ("has no stream
    det\x1b[2J"), and a str was taken letter by letter ("has no stream c")."""
    from h5tocbors import H5ToCborsError, ReplaySource

    class Scan(ReplaySource):
        input = write_scan(tmp_path / "scan")

    Scan.streams = streams  # type: ignore[assignment]
    with pytest.raises(H5ToCborsError) as refused:
        Scan().get_source_generators()
    assert refusal in str(refused.value), refused.value
