"""`verify --scan`: every stream of a scan made again and compared, message by message."""

from __future__ import annotations

import pickle
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import pytest

from h5tocbors.capture.encode import StreamPart, encode_message
from h5tocbors.capture.read import read_messages

from .conftest import Cli
from .scan_files import PILATUS, XSPRESS3, write_scan
from .test_replay_e2e import convert


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """The sample scan and its captures."""
    tmp = tmp_path_factory.mktemp("scan")
    master = write_scan(tmp / "scan")
    convert(master, "--scan", "-o", tmp / "out")
    return master, sorted((tmp / "out").glob("*.cbors"))


def test_every_stream_of_a_scan_verifies(converted: tuple[Path, list[Path]], cli: Cli) -> None:
    master, captures = converted
    code, out, err = cli("verify", master, *captures, "--scan")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 4 and all("identical" in line for line in lines)
    assert any("contrast: 4 messages identical to /entry" in line for line in lines)
    assert any(
        "pilatus: 22 messages identical to /entry/measurement/pilatus" in line for line in lines
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("master", "entry/measurement/pseudo/x", 13), "contrast: event 20: pseudo.x differs"),
        (("master", "entry/measurement/dt", 0), "contrast: event 10: dt is"),
        (("master", "entry/snapshots/post_scan/sx", 0), "contrast: event 21: snapshot.sx is"),
        (
            ("master", "entry/measurement/panda0/INENC2.VAL_Mean", 4),
            "panda0: event 5: INENC2.VAL.Mean is",
        ),
        (
            (XSPRESS3, "entry/instrument/xspress3/dead_time_correction", 7),
            "xspress3: event 8: meta dead_time_correction differs in 4 of 4 elements",
        ),
        ((XSPRESS3, "entry/instrument/xspress3/data", 2), "xspress3: event 3: spectra differs in"),
        ((PILATUS, "entry/instrument/pilatus/data", 3), "pilatus: event 4: frame 3 differs in"),
    ],
    ids=["per-point", "per-step", "snapshot", "panda", "xspress-meta", "spectra", "image"],
)
def test_a_changed_value_is_named(
    tmp_path: Path, cli: Cli, change: tuple[str, str, int], expected: str
) -> None:
    """Change one value in the HDF5 files after converting: verify names stream, event, key."""
    master = write_scan(tmp_path / "scan")
    convert(master, "--scan", "-o", tmp_path / "out")
    captures = sorted((tmp_path / "out").glob("*.cbors"))
    which, path, index = change
    with h5py.File(master if which == "master" else master.parent / which, "a") as f:
        dset = f[path]
        value = dset[index]
        dset[index] = value + (1 if np.asarray(value).dtype.kind in "ui" else 0.5)
    stream = expected.split(":")[0]
    capture = next(c for c in captures if c.stem == stream)  # contrast carries PandA values too
    code, _, err = cli("verify", master, capture, "--scan")
    assert code == 1
    assert expected in err, err
    assert len(err.strip().splitlines()) == 1


def test_a_missing_message_and_a_foreign_stream(
    converted: tuple[Path, list[Path]], tmp_path: Path, cli: Cli
) -> None:
    master, captures = converted
    panda = next(c for c in captures if c.name == "panda0.cbors")
    cut = tmp_path / "panda0.cbors"
    data = panda.read_bytes()
    from h5tocbors.capture.read import read_messages

    offsets = [m.offset for m in read_messages(panda)]
    cut.write_bytes(data[: offsets[-1]])  # the END message is gone
    code, _, err = cli("verify", master, cut, "--scan")
    assert code == 1 and "the capture ends before event 21" in err, err

    other = tmp_path / "other"
    convert(master, "-s", "beam=/entry/measurement/panda0", "-o", other)
    code, _, err = cli("verify", master, other / "beam.cbors", "--scan")
    assert code == 1 and "stream 'beam': " in err and "has no stream beam" in err, err


def test_a_value_too_long_to_print(
    converted: tuple[Path, list[Path]], tmp_path: Path, cli: Cli
) -> None:
    """A running message holding an integer of 100,001 bits, which Python refuses to print
    (more than 4300 digits): that was "unexpected ValueError" (found by the fuzz). The strict
    loader refuses ints of more than 4,096 bits now, and says so."""
    master, captures = converted
    original = next(c for c in captures if c.name == "contrast.cbors")
    bad = tmp_path / "contrast.cbors"
    running = pickle.dumps({"status": "running", "x": 2**100_000}, protocol=2)
    with bad.open("wb") as fh:
        for m in read_messages(original):
            parts = {
                n: StreamPart(s.typ, [running] if m.index == 1 else s.frames)
                for n, s in m.streams.items()
            }
            assert m.created_at is not None
            fh.write(b"".join(map(bytes, encode_message(m.event_number, parts, m.created_at))))
    code, _, err = cli("verify", master, bad, "--scan")
    assert code == 1 and len(err.splitlines()) == 1, err
    assert "event 10: refused: an int of 100001 bits, more than 4096" in err


def test_plain_verify_checks_a_named_non_image_stream(
    converted: tuple[Path, list[Path]], cli: Cli
) -> None:
    master, captures = converted
    panda = next(c for c in captures if c.name == "panda0.cbors")
    code, out, err = cli("verify", master, panda, "-s", "panda0=/entry/measurement/panda0")
    assert code == 0, err
    assert "panda0: 22 messages identical" in out


def test_without_scan_every_capture_left_unchecked_is_named(
    converted: tuple[Path, list[Path]], cli: Cli
) -> None:
    """`verify 000008.h5 out/*.cbors` checked pilatus and xspress3 (their start messages say
    what they were made from), said nothing of contrast and PandA, and exited 0."""
    master, captures = converted
    code, out, err = cli("verify", master, *captures)
    assert code == 1, out
    lines = out.strip().splitlines()
    assert len(lines) == 4, out
    assert sum("identical" in line for line in lines) == 2, out
    assert any(
        "contrast.cbors contrast: not checked (contrast stream; give --scan" in line
        for line in lines
    ), out
    assert any(
        "panda0.cbors panda0: not checked" in line and "--stream panda0=PATH:pcap-raw" in line
        for line in lines
    ), out
    assert len(err.strip().splitlines()) == 1 and "2 streams not checked" in err, err
    panda = next(c for c in captures if c.name == "panda0.cbors")
    code, out, err = cli("verify", master, panda)
    assert code == 1 and ": 1 stream not checked: " in err, err  # was "1 streams"
    code, out, err = cli("verify", master, panda, "-s", "panda0=/entry/measurement/panda0")
    assert code == 0 and "identical" in out, err


def test_a_stream_that_starts_late_in_a_capture_is_named_unchecked(
    converted: tuple[Path, list[Path]], cli: Cli, tmp_path: Path
) -> None:
    """Streams were found in a capture's first message only: a PandA stream that starts at
    the capture's third message went unchecked, and verify exited 0."""
    master, captures = converted
    pilatus, panda = (next(c for c in captures if c.stem == n) for n in ("pilatus", "panda0"))
    third = [m.offset for m in read_messages(panda)][2]
    late = tmp_path / "late.cbors"
    late.write_bytes(pilatus.read_bytes() + panda.read_bytes()[third:])
    code, out, err = cli("verify", master, late)
    assert code == 1, out
    assert "late.cbors pilatus: 20 frames identical" in out, out
    assert "late.cbors panda0: not checked" in out, out
    assert "1 stream not checked" in err, err


def test_a_stream_of_a_typ_no_protocol_makes_is_named_unchecked(
    converted: tuple[Path, list[Path]], cli: Cli, tmp_path: Path
) -> None:
    master, captures = converted
    mystery = {"odd\x1b": StreamPart("mystery", [b"x"])}
    when = datetime(2026, 1, 2, tzinfo=timezone.utc)
    odd = tmp_path / "odd.cbors"
    with odd.open("wb") as fh:
        fh.write(next(c for c in captures if c.stem == "pilatus").read_bytes())
        fh.write(b"".join(map(bytes, encode_message(99, mystery, when))))
    code, out, err = cli("verify", master, odd)
    assert code == 1, out
    assert "odd.cbors pilatus: 20 frames identical" in out, out
    assert "odd.cbors odd\\x1b: not checked (typ 'mystery' is no protocol h5tocbors makes)" in out
    assert "1 stream not checked" in err and "\x1b" not in err + out, err


def test_axes_of_the_conversion_with_some_of_its_captures(
    converted: tuple[Path, list[Path]], cli: Cli
) -> None:
    """verify --scan plans the streams of the captures given (or of --stream); the conversion's
    --axes may name others of the scan, but not a stream the scan does not have."""
    master, captures = converted
    contrast = next(c for c in captures if c.name == "contrast.cbors")
    code, out, err = cli("verify", master, contrast, "--scan", "--axes", "pilatus=NHW")
    assert code == 0 and "contrast: 4 messages identical" in out, err
    code, out, err = cli("verify", master, *captures, "--scan", "--axes", "pilatus=NHW")
    assert code == 0 and out.count("identical") == 4, err
    # streams named: was "--axes pilatus=NHW: no stream pilatus in ...", of a scan that has one
    code, out, err = cli(
        "verify", master, contrast, "--scan", "-s", "contrast", "--axes", "pilatus=NHW"
    )
    assert code == 0 and "contrast: 4 messages identical" in out, err
    code, _, err = cli("verify", master, contrast, "--scan", "--axes", "pilatuss=NHW")
    assert code == 2 and "--axes pilatuss=NHW: no stream pilatuss" in err, err


def test_a_capture_of_a_stream_left_out_by_stream(
    converted: tuple[Path, list[Path]], cli: Cli
) -> None:
    """`verify --scan --stream contrast` given panda0.cbors said "stream 'panda0' is not a
    stream of 000008.h5 (its streams are contrast)": it is one, left out by --stream."""
    master, captures = converted
    panda = next(c for c in captures if c.name == "panda0.cbors")
    code, _, err = cli("verify", master, panda, "--scan", "--stream", "contrast")
    assert code == 1 and "is not a stream of" not in err, err
    assert "not among the streams checked in " in err and "(contrast; see --stream)" in err, err
