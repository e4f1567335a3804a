"""Captures made to hurt: `inspect` and `verify` answer with one clean line, never a crash."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import cbor2
import pytest
from cbor2 import CBORTag

from .conftest import REPO, run_cli

HEADER = json.dumps({"msg_number": 0, "htype": "header", "filename": ""}).encode()


def msg(event: object, streams: dict[object, object], *rest: object) -> bytes:
    """One message in the current format."""
    return cbor2.dumps(CBORTag(55799, CBORTag(42877, [event, streams, *rest])))


def st(typ: object, frames: object) -> CBORTag:
    """One stream."""
    return CBORTag(42878, [typ, frames])


START = msg(0, {"s": st("STINS", [HEADER])})
CASES: dict[str, Callable[[], bytes]] = {
    "huge-byte-string": lambda: (
        START
        + bytes.fromhex("d9d9f7d9a77d8301a16173d9a77e8265")
        + b"STINS\x81\x5b"
        + (2**62).to_bytes(8, "big")
    ),
    "huge-array": lambda: START + b"\x9b" + (2**60).to_bytes(8, "big") + b"\x00",
    "deep-nesting": lambda: START + b"\x81" * 200_000 + b"\x00",
    "integer-frame": lambda: START + msg(1, {"s": st("xspress", [3_000_000_000])}),
    "integer-stream-name": lambda: START + msg(1, {5: st("STINS", [HEADER])}),
    "integer-typ": lambda: START + msg(1, {"s": st(5, [HEADER])}),
    "deep-json-header": lambda: START + msg(1, {"s": st("STINS", [b"[" * 100_000])}),
    "json-list-header": lambda: START + msg(1, {"s": st("STINS", [b"[1,2]"])}),
    "string-event": lambda: START + msg("x", {"s": st("STINS", [HEADER])}),
    "huge-decimal": lambda: START + cbor2.dumps(CBORTag(4, [2**70, 1])),
    "bad-regex-tag": lambda: START + cbor2.dumps(CBORTag(35, "(")),
    "created-at-not-a-date": lambda: START + msg(1, {"s": st("STINS", [HEADER])}, "x"),
    "break-code": lambda: START + b"\xff",
    "control-characters": lambda: (
        START + msg(1, {"s\x1b[2J\x1b[31mEVIL\nproblem: fake": st("STINS\x1b]0;x\x07", [HEADER])})
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_inspect_survives(tmp_path: Path, case: str) -> None:
    path = tmp_path / f"{case}.cbors"
    path.write_bytes(CASES[case]())
    for args in (["inspect", path], ["inspect", "--events", path], ["inspect", "--json", path]):
        result = run_cli(*args)
        assert result.returncode in (0, 1), result.stderr
        assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
        assert len(result.stderr.splitlines()) <= 1
        if "--json" not in args:
            assert "\x1b" not in result.stdout and "\nproblem: fake" not in result.stdout
    result = run_cli(
        "verify",
        REPO / "sample_data" / "pilatus_100k.h5",
        path,
        "-s",
        "s=/entry/measurement/pilatus/frames",
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("make", ["corrupt", "not-gzip"])
def test_bad_gzip(tmp_path: Path, make: str) -> None:
    data = gzip.compress(START * 3)
    path = tmp_path / "c.cbors.gz"
    path.write_bytes(data[:30] + b"\x00" * 20 + data[50:] if make == "corrupt" else START)
    result = run_cli("inspect", path)
    assert result.returncode == 1 and "unexpected" not in result.stderr
    assert result.stderr.startswith("h5tocbors: error: ") and len(result.stderr.splitlines()) == 1


def test_integer_frames_do_not_allocate(tmp_path: Path) -> None:
    path = tmp_path / "int.cbors"
    path.write_bytes(START + msg(1, {"s": st("xspress", [10**12])}))
    result = run_cli("inspect", path)
    assert result.returncode == 1 and "expected a frame (a byte string)" in result.stderr


def test_empty_capture_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "empty.cbors"
    path.write_bytes(b"")
    assert run_cli("inspect", path).returncode == 0
    strict = run_cli("inspect", "--strict", path)
    assert strict.returncode == 1 and "problems found" in strict.stderr
