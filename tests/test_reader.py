"""The capture reader decodes only dranspose's envelope, in bounded time and memory.

Anything else is refused at the byte where it starts. The bombs run the installed command
under a CPU-time or address-space limit (`setrlimit`), so a reader that builds what the
file describes is killed or runs out of memory, and the test fails.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cbor2
import pytest
from cbor2 import CBORTag
from dranspose.event import InternalWorkerMessage, StreamData
from dranspose.ingester import Dumper

from h5tocbors.capture import read
from h5tocbors.capture.read import CaptureError, read_messages

from .conftest import REPO, run_cli, run_limited

HEADER = b'{"msg_number":0,"htype":"header","filename":""}'
T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)


def msg(event: object, streams: dict[object, object], *rest: object, tag: bool = True) -> bytes:
    """One message as cbor2 writes it (tag 55799 optional)."""
    item = CBORTag(42877, [event, streams, *rest])
    return cbor2.dumps(CBORTag(55799, item) if tag else item)


def st(typ: object, frames: object) -> CBORTag:
    """One stream of a message."""
    return CBORTag(42878, [typ, frames])


START = msg(0, {"s": st("STINS", [HEADER])}, T0)
STREAM = bytes.fromhex("d9d9f7d9a77d8201a16173d9a77e826553") + b"TINS"
"""A message of event 1 up to its stream's frames: `{"s": tag 42878 ["STINS", `."""


def refused_at(path: Path, offset: int, intact: int = 1) -> str:
    """The one error line for a capture refused at `offset`."""
    with pytest.raises(CaptureError) as e:
        list(read_messages(path))
    text = str(e.value)
    assert f"not a capture message at byte {offset} (" in text, text
    assert text.endswith(f"after {intact} intact message(s)"), text
    return text


# --- every variant dranspose wrote -------------------------------------------


def dranspose_messages() -> list[InternalWorkerMessage]:
    """Three messages with two streams, payloads of many sizes."""
    return [
        InternalWorkerMessage(
            event_number=event,
            streams={
                "pilatus": StreamData(typ="STINS", frames=[HEADER, bytes(range(256)) * event]),
                "xspress3": StreamData(typ="xspress", frames=[b"x" * 70_000 * event, b""]),
            },
            created_at=T0 + timedelta(seconds=event),
        )
        for event in range(3)
    ]


def test_reads_what_dranspose_dumper_writes(tmp_path: Path) -> None:
    path = tmp_path / "dump.cbors"
    dumper = Dumper(str(path))
    expected = dranspose_messages()
    for m in expected:
        dumper.write_dump(m)
    dumper.close()
    got = list(read_messages(path))
    assert [(m.event_number, m.created_at) for m in got] == [
        (m.event_number, m.created_at) for m in expected
    ]
    for ours, theirs in zip(got, expected):
        assert {n: (s.typ, s.frames) for n, s in ours.streams.items()} == {
            n: (s.typ, s.frames) for n, s in theirs.streams.items()
        }
    offsets = [m.offset for m in got]
    assert offsets[0] == 0 and offsets == sorted(offsets)


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        ([], None),
        ([T0], T0),
        ([CBORTag(0, "2026-01-02T03:04:05Z")], T0.replace(microsecond=0)),
        ([CBORTag(0, "2026-01-02T05:04:05.123456+02:00")], T0),
        ([CBORTag(1, int(T0.timestamp()))], T0.replace(microsecond=0)),
        ([CBORTag(1, T0.timestamp())], T0),
    ],
)
@pytest.mark.parametrize("tag", [True, False])
def test_variants(tmp_path: Path, created_at: list[object], expected: datetime, tag: bool) -> None:
    """With or without tag 55799; created_at absent, as a text date (tag 0) or an epoch (tag 1)."""
    path = tmp_path / "v.cbors"
    path.write_bytes(
        b"".join(msg(e, {"s": st("STINS", [HEADER])}, *created_at, tag=tag) for e in range(3))
    )
    got = list(read_messages(path))
    assert [m.event_number for m in got] == [0, 1, 2]
    assert all(m.created_at == expected for m in got)
    assert got[0].streams["s"].frames == [HEADER]


def test_reference_and_gzip(tmp_path: Path) -> None:
    reference = REPO / "tests" / "data" / "dump_xrd.cbors"
    gz = tmp_path / "dump_xrd.cbors.gz"
    gz.write_bytes(gzip.compress(reference.read_bytes()))
    plain, zipped = list(read_messages(reference)), list(read_messages(gz))
    assert [m.event_number for m in plain] == list(range(11))
    assert plain == zipped


def test_upstream_stream_dump_is_refused_clearly(tmp_path: Path) -> None:
    """dranspose's tests/data/*-dump.cbors hold plain lists of zmq frames: not captures."""
    path = tmp_path / "xspress3-dump.cbors"
    path.write_bytes(cbor2.dumps([b'{"htype": "header"}']) + cbor2.dumps([b"x", b"y"]))
    text = refused_at(path, 0, intact=0)
    assert "found an array" in text and "not a dranspose capture" in text


# --- bombs ---------------------------------------------------------------------


@pytest.mark.parametrize("tag", [4, 5, 30])
def test_bignum_bombs_are_refused_where_they_start(tmp_path: Path, tag: int) -> None:
    """Decimal fractions, bigfloats and rationals of 4 MB bignums: quadratic in cbor2."""
    huge = int.from_bytes(bytes(range(1, 256)) * 5500, "big")  # a bignum of 1.4 MB
    bomb = cbor2.dumps(CBORTag(tag, [-2, huge] if tag != 30 else [huge, huge // 3 + 1]))
    path = tmp_path / "bomb.cbors"
    path.write_bytes(START + bomb * 3)
    result = run_limited("inspect", path, cpu_seconds=30)
    assert result.returncode == 1, result
    assert result.stderr.count("\n") == 1
    assert f"not a capture message at byte {len(START)} (" in result.stderr
    assert f"found tag {tag}" in result.stderr


def test_bomb_inside_the_envelope(tmp_path: Path) -> None:
    """The same bomb where the event number or a frame belongs."""
    bomb = CBORTag(4, [-2, int.from_bytes(bytes(range(1, 256)) * 1000, "big")])
    for bad in (msg(bomb, {}), msg(1, {"s": st("STINS", [bomb])})):
        path = tmp_path / "bomb.cbors"
        path.write_bytes(START + bad)
        where = len(START) + bad.index(b"\xc4")
        assert "found tag 4" in refused_at(path, where)


def test_bignum_event_number(tmp_path: Path) -> None:
    path = tmp_path / "big.cbors"
    path.write_bytes(START + msg(2**70, {"s": st("STINS", [HEADER])}))
    where = len(START) + 7  # after tag 55799, tag 42877 and the array's head
    text = refused_at(path, where)
    assert "event number" in text and "bignum" in text


def test_nested_arrays_do_not_grow_memory(tmp_path: Path) -> None:
    """40 MB of empty arrays after a valid message: cbor2 builds 40 million lists (~3 GB)."""
    count = 40_000_000
    path = tmp_path / "nested.cbors"
    path.write_bytes(START + b"\x9a" + count.to_bytes(4, "big") + b"\x80" * count)
    result = run_limited("inspect", path, address_space=768 << 20)
    assert result.returncode == 1, result
    (line,) = result.stderr.splitlines()
    assert line.startswith("h5tocbors: error: ")
    assert f"not a capture message at byte {len(START)} (" in line


# --- limits ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "where", "fragment"),
    [
        (msg(2**63, {}), 7, "event number"),
        (msg(-1, {}), 7, "event number"),
        (msg("1", {}), 7, "event number"),
        (msg(1, {"s": st("STINS", [HEADER])}, "2026-01-02"), None, "created_at"),
        (msg(1, {"s": st("STINS", [HEADER])}, CBORTag(0, "yesterday")), None, "created_at"),
        (msg(1, {"s": st("STINS", [HEADER])}, CBORTag(1, float("nan"))), None, "created_at"),
        (msg(1, {5: st("STINS", [HEADER])}), 9, "stream name"),
        (msg(1, {"s": st(5, [HEADER])}), None, "typ"),
        (msg(1, {"s": st("STINS", [HEADER, 5])}), None, "byte string"),
        (msg(1, {"s": ["STINS", [HEADER]]}), None, "tag 42878"),
        (msg(1, {"s": CBORTag(42878, ["STINS", [HEADER], 1])}), None, "array of 2"),
        (msg(1, {"s" * 257: st("STINS", [])}), 9, "longer than 256"),
        (msg(1, {"s": st("S" * 257, [])}), None, "longer than 256"),
        (msg(1, {str(i): st("x", []) for i in range(1025)}), 8, "1025 streams"),
        (msg(1, {"s": st("x", [b""] * 65537)}), None, "65537 frames"),
        (msg(1, {"a": st("x", [b""] * 40000), "b": st("x", [b""] * 40000)}), None, "80000"),
        (bytes.fromhex("d9d9f7d9a77d9f01a0ff"), 6, "indefinite-length"),
        (STREAM + b"\x81\x5f\x41a\xff", len(STREAM) + 1, "indefinite-length"),
        (bytes.fromhex("d9d9f7d9a77d8201a161730000"), 11, "tag 42878"),
        (bytes.fromhex("d9d9f7d9d9f7d9a77d8201a0"), 3, "tag 55799"),
    ],
)
def test_refusals(tmp_path: Path, bad: bytes, where: int | None, fragment: str) -> None:
    path = tmp_path / "bad.cbors"
    path.write_bytes(START + bad)
    with pytest.raises(CaptureError) as e:
        list(read_messages(path))
    text = str(e.value)
    assert "not a capture message at byte " in text and fragment in text, text
    assert e.value.intact == 1 and len(text) < 400
    if where is not None:
        assert e.value.offset == len(START) + where, text


def test_duplicate_stream_names(tmp_path: Path) -> None:
    stream = b"\x61s" + cbor2.dumps(st("x", []))
    path = tmp_path / "dup.cbors"
    path.write_bytes(START + bytes.fromhex("d9d9f7d9a77d8201a2") + stream * 2)
    assert "stream 's' appears twice" in refused_at(path, len(START) + 9 + len(stream))


def test_long_stream_name_gives_a_short_error(tmp_path: Path) -> None:
    path = tmp_path / "long.cbors"
    path.write_bytes(START + msg(1, {"n" * 5_000_000: st("STINS", [HEADER])}))
    result = run_limited("inspect", path)
    assert result.returncode == 1 and len(result.stderr) < 300
    assert "stream name of 5000000 bytes" in result.stderr


@pytest.mark.parametrize("keep", [1, 5, 20, 60, 100])
def test_truncation_is_truncation(tmp_path: Path, keep: int) -> None:
    whole = START + msg(1, {"s": st("STINS", [HEADER, b"p" * 100])}, T0)
    path = tmp_path / "cut.cbors"
    path.write_bytes(whole[: len(START) + keep])
    with pytest.raises(CaptureError) as e:
        list(read_messages(path))
    assert str(e.value).endswith(
        f"truncated message at byte {len(START)}, after 1 intact message(s)"
    )


def test_frame_longer_than_the_file_is_truncation(tmp_path: Path) -> None:
    """A declared length beyond the end of a plain file is not allocated, just refused."""
    path = tmp_path / "huge.cbors"
    path.write_bytes(START + STREAM + b"\x81\x5b" + (2**62).to_bytes(8, "big"))
    with pytest.raises(CaptureError) as e:
        list(read_messages(path))
    assert e.value.reason == "truncated message" and e.value.offset == len(START)


def test_gzip_sizes_are_not_trusted(tmp_path: Path) -> None:
    """In a .gz the reader cannot know what is left: a frame over the cap is refused unread."""
    frame = STREAM + b"\x81\x5b"
    too_big = (read.MAX_GZIP_MESSAGE_BYTES + 1).to_bytes(8, "big")
    path = tmp_path / "huge.cbors.gz"
    path.write_bytes(gzip.compress(START + frame + too_big))
    text = refused_at(path, len(START) + len(frame) - 1)
    assert "more than" in text
    path.write_bytes(gzip.compress(START + frame + (1 << 20).to_bytes(8, "big") + b"x" * 1000))
    with pytest.raises(CaptureError) as e:
        list(read_messages(path))
    assert e.value.reason == "truncated message"


def test_json_of_a_refused_capture(tmp_path: Path) -> None:
    path = tmp_path / "bad.cbors"
    path.write_bytes(START + msg(2**70, {}))
    result = run_cli("inspect", "--json", path)
    assert result.returncode == 1 and "unexpected" not in result.stderr
    (f,) = json.loads(result.stdout)["files"]
    assert f["intact"] is False and f["messages"] == 1
