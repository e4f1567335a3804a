"""`h5tocbors inspect` on converted, reference, old-format, gzip, truncated and hostile captures."""

from __future__ import annotations

import gzip
import io
import json
import pickle
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cbor2
import h5py
import hdf5plugin
import numpy as np
import pytest

from h5tocbors import convert
from h5tocbors.capture.encode import StreamPart, encode_message

from .conftest import REPO, Cli

REFERENCE = REPO / "tests" / "data" / "dump_xrd.cbors"
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """A converted capture: 5 bitshuffle-LZ4 frames of 16x20 uint16 at /entry/pilatus/data."""
    src = tmp_path / "in.h5"
    data = np.arange(5 * 16 * 20, dtype=np.uint16).reshape(5, 16, 20)
    with h5py.File(src, "w") as f:
        f.create_dataset(
            "/entry/pilatus/data", data=data, chunks=(1, 16, 20), **hdf5plugin.Bitshuffle()
        )
    convert(src, ["pilatus"], tmp_path / "out")
    return tmp_path / "out" / "pilatus.cbors"


def write_messages(path: Path, messages: list[tuple[int, str, str, list[bytes]]]) -> Path:
    """A capture of (event, stream, typ, frames) messages in the current format."""
    with open(path, "wb") as fh:
        for event, name, typ, frames in messages:
            for buf in encode_message(event, {name: StreamPart(typ, frames)}, T0):
                fh.write(buf)
    return path


def stins(htype: str, msg: int, frame: int | None = None) -> list[bytes]:
    """STINS frames for a crafted message."""
    header: dict[str, Any] = {"htype": htype, "msg_number": msg}
    if htype == "header":
        header["filename"] = ""
    if htype == "image":
        header |= {"frame": frame, "shape": [2, 2], "type": "uint8", "compression": "none"}
        return [json.dumps(header).encode(), bytes(4)]
    return [json.dumps(header).encode()]


def inspect_json(cli: Cli, *paths: Path) -> tuple[int, dict[str, Any]]:
    code, out, _ = cli("inspect", "--json", *paths)
    return code, json.loads(out)


def test_converted_capture(cli: Cli, capture: Path) -> None:
    code, doc = inspect_json(cli, capture)
    assert code == 0
    (f,) = doc["files"]
    assert (f["path"], f["messages"], f["first_event"], f["last_event"]) == (
        str(capture),
        7,
        0,
        6,
    )
    assert f["problems"] == []
    s = f["streams"]["pilatus"]
    assert {k: s[k] for k in ("typ", "messages", "frames", "shape", "type", "compression")} == {
        "typ": "STINS",
        "messages": 7,
        "frames": 5,
        "shape": [16, 20],
        "type": "uint16",
        "compression": "bslz4",
    }
    assert s["bytes"] == sum(
        len(fr) for m in cbor_messages(capture) for fr in m[1]["pilatus"].value[1]
    )
    assert len(s["created_at"]) == 2 and s["created_at"][0] <= s["created_at"][1]


def cbor_items(data: bytes) -> list[Any]:
    """The CBOR items that decode whole from `data`, by plain cbor2.

    One decoder reads them all: cbor2 5.8.0 reads ahead of the item it decodes (cbor2 #272),
    so neither a new decoder per item nor the file position can tell where the next starts.
    """
    decoder, items = cbor2.CBORDecoder(io.BytesIO(data)), []
    while True:
        try:
            items.append(decoder.decode())
        except (EOFError, cbor2.CBORDecodeError):
            return items


def cbor_messages(path: Path) -> list[list[Any]]:
    """The raw [event, streams, ...] lists of a capture, by plain cbor2."""
    items = [i.value if i.tag == 55799 else i for i in cbor_items(path.read_bytes())]
    return [item.value for item in items]


def test_text_output_and_events(cli: Cli, capture: Path) -> None:
    code, out, err = cli("inspect", "--events", capture)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert f"{capture}: 7 messages, events 0..6, ok" in lines
    assert sum("STINS image frame=" in line for line in lines) == 5
    assert any("STINS series_end msg_number=6" in line for line in lines)
    assert any(
        "pilatus: STINS, 7 messages, 5 frames [16, 20] uint16 bslz4" in line for line in lines
    )


def test_reference_capture(cli: Cli) -> None:
    code, doc = inspect_json(cli, REFERENCE)
    assert code == 0
    (f,) = doc["files"]
    assert (f["messages"], f["first_event"], f["last_event"], f["problems"]) == (11, 0, 10, [])
    xrd = f["streams"]["xrd"]
    assert (xrd["frames"], xrd["shape"], xrd["type"], xrd["compression"]) == (
        9,
        [10, 10],
        "uint16",
        "none",
    )
    assert xrd["created_at"] is None


def test_capture_without_self_describe_tag_or_created_at(cli: Cli, tmp_path: Path) -> None:
    old = tmp_path / "old.cbors"
    with open(old, "wb") as fh:
        for event, frames in enumerate(
            [stins("header", 0), stins("image", 1, 0), stins("series_end", 2)]
        ):
            cbor2.dump(
                cbor2.CBORTag(42877, [event, {"d": cbor2.CBORTag(42878, ["STINS", frames])}]), fh
            )
    code, doc = inspect_json(cli, old)
    assert code == 0 and doc["files"][0]["problems"] == []
    assert doc["files"][0]["streams"]["d"]["frames"] == 1


def test_gzip_capture(cli: Cli, capture: Path, tmp_path: Path) -> None:
    gz = tmp_path / "pilatus.cbors.gz"
    gz.write_bytes(gzip.compress(capture.read_bytes()))
    code, plain = inspect_json(cli, capture)
    code_gz, zipped = inspect_json(cli, gz)
    assert code == code_gz == 0
    assert zipped["files"][0]["streams"] == plain["files"][0]["streams"]


@pytest.mark.parametrize("keep", [0.3, 0.5, 0.97])
def test_truncated_capture(cli: Cli, capture: Path, tmp_path: Path, keep: float) -> None:
    data = capture.read_bytes()
    cut = tmp_path / "cut.cbors"
    cut.write_bytes(data[: int(len(data) * keep)])
    intact = count_whole_messages(data, int(len(data) * keep))
    code, out, err = cli("inspect", cut)
    assert code == 1
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert "truncated message at byte" in err and f"after {intact} intact message(s)" in err
    assert f"{cut}: {intact} messages" in out


def count_whole_messages(data: bytes, size: int) -> int:
    """How many messages of `data` end within its first `size` bytes."""
    return len(cbor_items(data[:size]))


def test_corrupt_capture(cli: Cli, capture: Path, tmp_path: Path) -> None:
    data = bytearray(capture.read_bytes())
    second = data.index(b"\xd9\xd9\xf7", 3)
    data[second : second + 3] = b"\xff\xff\xff"
    bad = tmp_path / "bad.cbors"
    bad.write_bytes(bytes(data))
    code, _, err = cli("inspect", bad)
    assert code == 1 and "Traceback" not in err
    assert f"not a capture message at byte {second} (" in err
    assert err.endswith("after 1 intact message(s)\n")


def test_not_a_capture(cli: Cli, tmp_path: Path) -> None:
    text = tmp_path / "notes.cbors"
    text.write_text("these are not the messages you are looking for\n")
    code, _, err = cli("inspect", text)
    assert code == 1 and "after 0 intact message(s)" in err


class Boom:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.marker, "pwned"))


def test_pickle_payloads_are_never_unpickled(cli: Cli, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    payload = pickle.dumps(Boom(marker))
    pickle.loads(payload)  # prove the payload is live
    assert marker.exists()
    marker.unlink()
    path = write_messages(
        tmp_path / "contrast.cbors",
        [(0, "contrast", "contrast", [payload]), (1, "contrast", "contrast", [payload, b"xy"])],
    )
    code, doc = inspect_json(cli, path)
    code_events, out, _ = cli("inspect", "--events", path)
    assert code == code_events == 0
    assert not marker.exists()
    s = doc["files"][0]["streams"]["contrast"]
    # contrast is parsed by the strict loader: no running message, the refusal is named
    assert (s["typ"], s["messages"], s["frames"], s["bytes"]) == (
        "contrast",
        2,
        0,
        2 * len(payload) + 2,
    )
    assert (s["shape"], s["type"], s["compression"]) == (None, None, None)
    assert f"[{len(payload)}, 2] bytes" in out
    assert "refused: the pickle calls pathlib" in out
    assert any("pathlib" in p and "not allowed" in p for p in doc["files"][0]["problems"])


def test_problems_are_named(cli: Cli, tmp_path: Path) -> None:
    path = write_messages(
        tmp_path / "bad.cbors",
        [
            (0, "d", "STINS", stins("image", 0, 0)),
            (1, "d", "STINS", stins("header", 1)),
            (1, "d", "STINS", stins("image", 2, 1)),
            (3, "d", "STINS", stins("image", 4, 3)),
            (2, "d", "STINS", stins("series_end", 5)),
            (5, "d", "STINS", stins("image", 6, 4)),
        ],
    )
    code, doc = inspect_json(cli, path)
    assert code == 0
    problems = "\n".join(doc["files"][0]["problems"])
    for expected in (
        "first message (event 0) is image, not header",
        "header at event 1 is not the first message",
        "event 1 repeated",
        "msg_number jumps from 2 to 4 at event 3",
        "frame jumps from 1 to 3 at event 3",
        "event 2 after event 3",
        "series_end at event 2 is not the last message",
    ):
        assert expected in problems
    strict, _, err = cli("inspect", "--strict", path)
    assert strict == 1 and "problems found" in err


def test_missing_series_end(cli: Cli, tmp_path: Path) -> None:
    path = write_messages(
        tmp_path / "open.cbors",
        [(0, "d", "STINS", stins("header", 0)), (1, "d", "STINS", stins("image", 1, 0))],
    )
    _, doc = inspect_json(cli, path)
    assert doc["files"][0]["problems"] == ["d: no series_end message"]


def test_several_files_and_streams(cli: Cli, capture: Path, tmp_path: Path) -> None:
    code, doc = inspect_json(cli, capture, REFERENCE)
    assert code == 0
    assert [f["path"] for f in doc["files"]] == [str(capture), str(REFERENCE)]


def test_missing_capture_file(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("inspect", tmp_path / "nope.cbors")
    assert code == 1 and "nope.cbors" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"frame": True}, "frame is true, not an integer"),
        ({"shape": ["32", 40.9]}, 'shape is ["32", 40.9], not a list of integers'),
        ({"msg_number": "1"}, 'msg_number is "1", not an integer'),
        ({"type": "S"}, 'type is "S", not a numeric dtype'),
        ({"type": "V0"}, 'type is "V0", not a numeric dtype'),
        ({"compression": None}, "compression is null, not a string"),
        ({"htype": "imag"}, 'htype is "imag", not header, image or series_end'),
    ],
)
def test_header_types_are_checked(
    cli: Cli, tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    """Headers must have the types of dranspose's models: `inspect --strict` fails on others."""
    image = json.loads(stins("image", 1, 0)[0]) | change
    path = write_messages(
        tmp_path / "typed.cbors",
        [
            (0, "d", "STINS", stins("header", 0)),
            (1, "d", "STINS", [json.dumps(image).encode(), bytes(4)]),
            (2, "d", "STINS", stins("series_end", 2)),
        ],
    )
    code, doc = inspect_json(cli, path)
    assert code == 0 and f"d: event 1: {problem}" in doc["files"][0]["problems"]
    strict, _, err = cli("inspect", "--strict", path)
    assert strict == 1 and "problems found" in err


def test_header_check_rejects_what_dranspose_rejects() -> None:
    """Every header dranspose's pydantic models reject is a problem here too."""
    from dranspose.data.stream1 import Stream1Packet
    from pydantic import ValidationError

    from h5tocbors.protocols.stins import header_problem

    image = {"htype": "image", "msg_number": 1, "frame": 0, "shape": [2, 2]}
    image |= {"type": "uint8", "compression": "none"}
    values: list[Any] = [None, True, 0, -1, 1.0, 1.5, "3", "x", [], [1], ["32", 40.9], {}]
    headers = [
        {"htype": "header", "msg_number": 0, "filename": ""},
        {"htype": "series_end", "msg_number": 2},
        image,
    ]
    variants = [h | {k: v} for h in headers for k in h for v in values]
    variants += [{k: v for k, v in h.items() if k != drop} for h in headers for drop in h]
    rejected = 0
    for header in variants:
        try:
            Stream1Packet.validate_python(header)
        except ValidationError:
            rejected += 1
            assert header_problem(header) is not None, header
    assert rejected > 50
    assert all(header_problem(h) is None for h in headers)


def test_problems_are_bounded(cli: Cli, tmp_path: Path) -> None:
    """A problem in every message: the first ones are kept, the rest counted. The count said
    "2 more" for these 1,951: the stream's problems were cut at 50, then the capture's."""
    path = write_messages(
        tmp_path / "many.cbors",
        [(0, "d", "STINS", stins("header", 0))]
        + [(k, "d", "STINS", [b"{}"]) for k in range(1, 2000)]
        + [(0, "d", "STINS", stins("series_end", 2000))],
    )
    code, doc = inspect_json(cli, path)
    (found,) = doc["files"]
    problems = found["problems"]
    # 1,999 headers without htype; event 0 after 1999, and its msg_number jump from 0 to 2000
    assert code == 0 and found["problem_count"] == 2001 and len(problems) == 51
    assert problems[:2] == [
        "event 0 after event 1999 (message 2000)",
        "d: event 1: htype is missing, not header, image or series_end",
    ]
    assert problems[-1] == "... and 1951 more problem(s)"
    code, out, _ = cli("inspect", path)
    assert code == 0 and f"{path}: 2001 messages, events 0..0, 2001 problem(s)" in out
