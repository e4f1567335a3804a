"""`h5tocbors verify` proves conversions exact and names the first frame that is not."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest

from h5tocbors import convert
from h5tocbors.capture.encode import StreamPart, encode_message
from h5tocbors.capture.read import read_messages

from .conftest import Cli, run_limited

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """Two detectors: pilatus (bitshuffle-LZ4) and eiger (gzip, big-endian)."""
    src = tmp_path / "run.h5"
    rng = np.random.default_rng(2)
    with h5py.File(src, "w") as f:
        f.create_dataset(
            "/entry/pilatus/data",
            data=rng.integers(0, 1000, (6, 12, 14), dtype=np.uint32),
            chunks=(1, 12, 14),
            **hdf5plugin.Bitshuffle(),
        )
        f.create_dataset(
            "/entry/instrument/eiger/image",
            data=rng.random((6, 8, 9)).astype(">f4"),
            chunks=(2, 8, 9),
            compression="gzip",
        )
    return src


def alter_payload(capture: Path, frame: int, out: Path, offset: int = 5) -> Path:
    """A copy of `capture` with one byte of `frame`'s payload flipped."""
    with open(out, "wb") as fh:
        for msg in read_messages(capture):
            streams = {n: StreamPart(s.typ, list(s.frames)) for n, s in msg.streams.items()}
            if msg.event_number == frame + 1:
                for part in streams.values():
                    payload = bytearray(part.frames[1])
                    payload[offset] ^= 0x01
                    part.frames[1] = bytes(payload)  # type: ignore[index]
            for buf in encode_message(msg.event_number, streams, msg.created_at):  # type: ignore[arg-type]
                fh.write(buf)
    return out


@pytest.mark.parametrize("compression", ["bslz4", "none"])
def test_exact_conversion_verifies(
    cli: Cli, source: Path, tmp_path: Path, compression: str
) -> None:
    convert(
        source,
        {"pilatus": None, "eiger": "/entry/instrument/eiger/image"},
        tmp_path / "o",
        compression=compression,
    )
    code, out, err = cli(
        "verify",
        source,
        tmp_path / "o" / "pilatus.cbors",
        tmp_path / "o" / "eiger.cbors",
        "--stream",
        "eiger=/entry/instrument/eiger/image",
    )
    assert (code, err) == (0, "")
    assert "pilatus: 6 frames identical to /entry/pilatus/data" in out
    assert "eiger: 6 frames identical to /entry/instrument/eiger/image" in out


def test_streams_resolve_by_name_like_convert(cli: Cli, source: Path, tmp_path: Path) -> None:
    convert(source, ["eiger"], tmp_path / "o")
    code, out, _ = cli("verify", source, tmp_path / "o" / "eiger.cbors")
    assert code == 0 and "6 frames identical" in out


def test_frames_selection(cli: Cli, source: Path, tmp_path: Path) -> None:
    """The capture records its frames: verify needs no --frames, and a given one wins."""
    convert(source, ["pilatus"], tmp_path / "o", frames=slice(1, 6, 2))
    capture = tmp_path / "o" / "pilatus.cbors"
    assert cli("verify", source, capture, "--frames", "1:6:2")[0] == 0
    assert cli("verify", source, capture)[0] == 0
    code, _, err = cli("verify", source, capture, "--frames", "0:3")
    assert code == 1 and "pilatus" in err


@pytest.mark.parametrize(("compression", "offset"), [("none", 5), ("bslz4", 40)])
def test_one_altered_payload_byte_is_found(
    cli: Cli, source: Path, tmp_path: Path, compression: str, offset: int
) -> None:
    convert(source, ["pilatus"], tmp_path / "o", compression=compression)
    bad = alter_payload(tmp_path / "o" / "pilatus.cbors", 3, tmp_path / "bad.cbors", offset)
    code, out, err = cli("verify", source, bad)
    assert code == 1
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "stream pilatus" in err and "frame 3" in err
    assert "1 of 6 frames differ" in err
    assert "1 of 6 frames differ" in out


def test_missing_frames_are_counted(cli: Cli, source: Path, tmp_path: Path) -> None:
    convert(source, ["pilatus"], tmp_path / "o", frames=slice(0, 4))
    code, _, err = cli("verify", source, tmp_path / "o" / "pilatus.cbors", "--frames", "0:6")
    assert code == 1 and "source frame 4 is missing" in err and "2 source frames missing" in err


def test_json(cli: Cli, source: Path, tmp_path: Path) -> None:
    convert(source, ["pilatus"], tmp_path / "o")
    code, out, _ = cli("verify", "--json", source, tmp_path / "o" / "pilatus.cbors")
    assert code == 0
    (check,) = json.loads(out)
    assert (check["stream"], check["frames"], check["differing"], check["ok"]) == (
        "pilatus",
        6,
        0,
        True,
    )


def test_capture_without_image_streams(cli: Cli, source: Path, tmp_path: Path) -> None:
    path = tmp_path / "empty.cbors"
    path.write_bytes(b"")
    code, _, err = cli("verify", source, path)
    assert code == 1 and "no STINS image stream" in err


def test_a_repeated_frame_is_not_a_match(cli: Cli, source: Path, tmp_path: Path) -> None:
    """Event 2 carries frame 0 again: frame 1 is missing although every image matches."""
    convert(source, ["pilatus"], tmp_path / "o")
    capture, dup = tmp_path / "o" / "pilatus.cbors", tmp_path / "dup.cbors"
    msgs = list(read_messages(capture))
    with open(dup, "wb") as fh:
        for msg in msgs:
            src = msgs[1] if msg.event_number == 2 else msg
            streams = {n: StreamPart(s.typ, s.frames) for n, s in src.streams.items()}
            for buf in encode_message(msg.event_number, streams, msg.created_at):  # type: ignore[arg-type]
                fh.write(buf)  # type: ignore[arg-type]
    code, _, err = cli("verify", source, dup)
    assert code == 1
    assert "frame 0 appears twice" in err and "1 source frames missing" in err


@pytest.mark.parametrize("header", [b"not json", b"[1, 2]", b"[" * 100000])
def test_bad_headers_are_named_not_crashes(
    cli: Cli, source: Path, tmp_path: Path, header: bytes
) -> None:
    path = tmp_path / "bad.cbors"
    with open(path, "wb") as fh:
        for buf in encode_message(1, {"pilatus": StreamPart("STINS", [header, b"x"])}, T0):
            fh.write(buf)  # type: ignore[arg-type]
    code, _, err = cli("verify", source, path)
    assert code == 1 and "no STINS JSON header" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"frame": True}, "frame is true, not an integer"),
        ({"shape": ["12", 14.5]}, 'shape is ["12", 14.5], not a list of integers'),
        ({"shape": ["12", 14]}, 'shape is ["12", 14], not a list of integers'),
        ({"type": "S"}, 'type is "S", not a numeric dtype'),
        ({"type": "V0"}, 'type is "V0", not a numeric dtype'),
        ({"type": "U0"}, 'type is "U0", not a numeric dtype'),
        ({"type": "uint16"}, "frame 0 is [12, 14] uint16, source is [12, 14] uint32"),
        ({"shape": [2**40, 2**40]}, "frame 0 is [1099511627776, 1099511627776] uint32"),
    ],
)
def test_bad_image_headers(
    cli: Cli, source: Path, tmp_path: Path, change: dict[str, object], fragment: str
) -> None:
    """Header fields of the wrong type, or a type that is no number: a clear frame problem."""
    convert(source, ["pilatus"], tmp_path / "o")
    bad = tmp_path / "bad.cbors"
    with open(bad, "wb") as fh:
        for msg in read_messages(tmp_path / "o" / "pilatus.cbors"):
            frames = list(msg.streams["pilatus"].frames)
            if msg.event_number == 1:
                frames[0] = json.dumps(json.loads(frames[0]) | change).encode()
            part = {"pilatus": StreamPart("STINS", frames)}
            for buf in encode_message(msg.event_number, part, msg.created_at):  # type: ignore[arg-type]
                fh.write(buf)  # type: ignore[arg-type]
    code, _, err = cli("verify", source, bad)
    assert code == 1 and "unexpected" not in err and len(err.splitlines()) == 1
    assert "stream pilatus: event 1: " in err and fragment in err


def test_huge_sparse_source_is_not_enumerated(tmp_path: Path) -> None:
    """Missing frames are counted, not listed: a source of 2**20 unwritten frames is fine.
    One of 2**31, which stores none of them, is refused as such (`index.check_chunks`)."""
    small = tmp_path / "small.h5"
    with h5py.File(small, "w") as f:
        f.create_dataset("/entry/det/data", data=np.zeros((2, 3, 4), np.uint8))
    convert(small, ["det"], tmp_path / "o")
    huge = tmp_path / "huge.h5"
    with h5py.File(huge, "w") as f:
        f.create_dataset("/entry/det/data", shape=(2**31, 3, 4), dtype=np.uint8, chunks=(1, 3, 4))
    capture = tmp_path / "o" / "det.cbors"
    result = run_limited("verify", huge, capture, "--frames", "0:", address_space=1 << 30)
    code, err = result.returncode, result.stderr
    assert code == 1 and "unexpected" not in err
    assert "source frame 2 is missing" in err and f"{2**31 - 2} source frames missing" in err
    assert err.rstrip().endswith(f"(the capture was made from {small})")
