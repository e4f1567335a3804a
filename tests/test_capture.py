"""The capture encoder is byte-identical to dranspose's Dumper (cbor2 + message_encoder)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from dranspose.data.stream1 import Stream1Data, Stream1End, Stream1Start
from dranspose.event import InternalWorkerMessage, StreamData
from dranspose.ingester import Dumper

from h5tocbors.capture.encode import StreamPart, encode_message, head
from h5tocbors.protocols.stins import end_header, image_header, start_header

T0 = datetime(2026, 11, 24, 14, 1, 48, 123456, tzinfo=timezone.utc)


def dumped(tmp_path: Path, msg: InternalWorkerMessage) -> bytes:
    """What dranspose's own Dumper writes for `msg`."""
    path = tmp_path / "dump.cbors"
    path.unlink(missing_ok=True)
    dumper = Dumper(str(path))
    dumper.write_dump(msg)
    dumper.close()
    return path.read_bytes()


@pytest.mark.parametrize("size", [0, 1, 23, 24, 255, 256, 4096, 4097, 65535, 65536, 300_000])
@pytest.mark.parametrize("event", [0, 23, 24, 255, 65536, 2**32])
def test_payload_sizes_and_event_numbers(tmp_path: Path, size: int, event: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    frames = [b'{"htype":"image"}', payload]
    msg = InternalWorkerMessage(
        event_number=event,
        streams={"pilatus": StreamData(typ="STINS", frames=frames)},
        created_at=T0,
    )
    ours = b"".join(encode_message(event, {"pilatus": StreamPart("STINS", frames)}, T0))
    assert ours == dumped(tmp_path, msg)


@pytest.mark.parametrize(
    "created_at",
    [
        T0,
        T0.replace(microsecond=0),
        T0 + timedelta(days=400),
        T0.astimezone(timezone(timedelta(hours=2))),
        T0.astimezone(timezone(timedelta(hours=-3, minutes=-30))).replace(microsecond=5),
    ],
)
def test_several_streams_names_and_times(tmp_path: Path, created_at: datetime) -> None:
    streams = {
        "eiger-4m.1": StreamPart("STINS", [b"{}", memoryview(b"x" * 5000)]),
        "xspress3_mini": StreamPart("xspress", []),
        "ÅngströmDet": StreamPart("CONTRAST", [b"a" * 30]),
    }
    msg = InternalWorkerMessage(
        event_number=7,
        streams={
            n: StreamData(typ=p.typ, frames=[bytes(f) for f in p.frames])
            for n, p in streams.items()
        },
        created_at=created_at,
    )
    assert b"".join(encode_message(7, streams, created_at)) == dumped(tmp_path, msg)


def test_head_uses_shortest_form() -> None:
    assert [head(0, v).hex() for v in (0, 23, 24, 256, 70000, 2**33)] == [
        "00",
        "17",
        "1818",
        "190100",
        "1a00011170",
        "1b0000000200000000",
    ]
    with pytest.raises(ValueError):
        head(0, 2**64)


@pytest.mark.parametrize("filename", ["", "/data/visitors/2026/run 7/scan_ä.h5", 'q"uote\\'])
def test_stins_headers_are_dranspose_models_json(filename: str) -> None:
    assert (
        start_header(0, filename)
        == Stream1Start(msg_number=0, filename=filename).model_dump_json().encode()
    )
    assert end_header(2**40) == Stream1End(msg_number=2**40).model_dump_json().encode()
    for shape, dtype, compression in [([195, 487], "uint32", "bslz4"), ([7], "float64", "none")]:
        ours = image_header(12, 11, shape, dtype, compression)
        theirs = Stream1Data(
            msg_number=12, frame=11, shape=shape, type=dtype, compression=compression
        ).model_dump_json()
        assert ours == theirs.encode()
