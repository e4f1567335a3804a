"""LeCroy writer and inspector against dranspose's real MAUI dumps, its real ingester and parser.

The scope's raw dumps (`maui-02-continuous-3`, `maui-02-sequential-3` in dranspose's
tests/data) are published to dranspose's real `ZmqSubLecroyIngester` over zmq; what it
yields is what a capture records. An HDF5 file holding the same traces, timestamps and
attributes must give those messages byte for byte.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import hashlib
import json
import os
import pickle
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import cbor2
import h5py
import numpy as np
import pytest
import zmq
import zmq.asyncio
from dranspose.data.lecroy import LecroyEnd, LecroyParsed, LecroyPrepare
from dranspose.ingesters.zmqsub_lecroy import ZmqSubLecroyIngester, ZmqSubLecroySettings
from dranspose.middlewares.lecroy import parse
from dranspose.protocol import StreamName

from h5tocbors import ReplaySource
from h5tocbors.capture.encode import StreamPart, encode_message
from h5tocbors.protocols import lecroy
from h5tocbors.protocols.pickles import MAX_BYTES, loads
from h5tocbors.protocols.registry import describe_frames

from .conftest import BIN, REPO, Cli, listing, read_capture
from .protocol_files import context, inspect_frames, messages
from .public_data import public_file
from .replay_app import RECORD_ENV

DUMPS = {
    "continuous": "tests/data/maui-02-continuous-3.cbor.gz",
    "sequential": "tests/data/maui-02-sequential-3.cbor.gz",
}
STREAM = "oscc_02_maui"
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def raw_dump(mode: str) -> list[list[bytes]]:
    """The scope's messages as dranspose's test dump holds them."""
    path = public_file("felix-engelmann/dranspose", DUMPS[mode])
    found = []
    with gzip.open(path) as fh:
        decoder = cbor2.CBORDecoder(fh)
        while fh.peek(1):
            found.append(decoder.decode())
    return found


async def ingest(upstream: list[list[bytes]]) -> list[list[bytes]]:
    """What dranspose's real LeCroy ingester yields for `upstream`, published over zmq."""
    ctx = zmq.asyncio.Context()
    pub = ctx.socket(zmq.XPUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    settings = ZmqSubLecroySettings(
        ingester_streams=[StreamName(STREAM)], upstream_url=f"tcp://127.0.0.1:{port}"
    )
    ingester = ZmqSubLecroyIngester(settings)
    ingester.ctx = ctx
    source = ingester.run_source(StreamName(STREAM))
    first = asyncio.ensure_future(source.__anext__())
    await pub.recv()  # the ingester subscribed: nothing published is lost
    for message in upstream:
        await pub.send_multipart(message)
    yielded = [await first]
    while lecroy._kind(json.loads(yielded[-1].frames[0].bytes)) != "end":
        yielded.append(await source.__anext__())
    await source.aclose()
    await ingester.stop_source(StreamName(STREAM))
    pub.close(linger=0)
    ctx.term()
    return [[bytes(f.bytes) for f in data.frames] for data in yielded]


@functools.cache
def recorded(mode: str) -> list[list[bytes]]:
    """The messages a capture of the real dump records (the ingester's yield)."""
    return asyncio.run(ingest(raw_dump(mode)))


def write_like(path: Path, messages: list[list[bytes]]) -> Path:
    """An HDF5 file holding what the recorded messages carry, FemtoMAX's way (`/data`)."""
    sequences = messages[1:-1]
    start = json.loads(sequences[0][0])
    with h5py.File(path, "w") as f:
        group = f.create_group("/data")
        group.attrs["ntriggers"] = start["ntriggers"]
        for i, number in enumerate(start["channels"]):
            parts = [m[1 + 3 * i : 4 + 3 * i] for m in sequences]
            metas = [json.loads(p[0]) for p in parts]
            traces = [
                np.frombuffer(p[1], m["dtype"]).reshape(m["shape"]) for p, m in zip(parts, metas)
            ]
            offsets = [[m["horiz_offset"]] * m["shape"][0] for m in metas]
            waveform = group.create_dataset(f"waveform{i + 1}", data=np.concatenate(traces))
            waveform.attrs["channel"] = number
            waveform.attrs["horiz_interval"] = metas[0]["horiz_interval"]
            group[f"timestamp{i + 1}"] = [t for p in parts for t in loads(p[2])]
            group[f"horiz_offset{i + 1}"] = np.concatenate(offsets)
    return path


def written(path: Path, **options: Any) -> list[list[bytes]]:
    with h5py.File(path, "r") as f:
        return [
            m.frames
            for m in messages(lecroy.open_writer(f["/data"], context(**options)), lecroy.TYP)
        ]


@pytest.mark.parametrize("mode", list(DUMPS))
def test_messages_are_what_the_ingester_records(tmp_path: Path, mode: str) -> None:
    expected = recorded(mode)
    assert [len(m) for m in expected] == [1, 8, 8, 1]
    assert written(write_like(tmp_path / "osc.h5", expected)) == expected  # byte for byte


def test_every_message_parses_to_the_hdf5_values(tmp_path: Path) -> None:
    path = write_like(tmp_path / "osc.h5", recorded("sequential"))
    packets = [parse(m) for m in messages_of(path)]
    assert isinstance(packets[0], LecroyPrepare) and isinstance(packets[-1], LecroyEnd)
    assert packets[-1].frames == 4
    with h5py.File(path, "r") as f:
        for j, packet in enumerate(packets[1:-1]):
            assert isinstance(packet, LecroyParsed)
            assert (packet.ntriggers, packet.seqno, packet.channels) == (20, j, [2, 4])
            for i, k in enumerate((1, 2)):
                rows = slice(20 * j, 20 * j + 20)
                assert packet.data[i].tobytes() == f[f"data/waveform{k}"][rows].tobytes()
                assert packet.timestamps[i] == f[f"data/timestamp{k}"][rows].tolist()
                assert all(type(t) is float for t in packet.timestamps[i])
                assert packet.meta[i].ts == packet.timestamps[i][0]


def messages_of(path: Path, **options: Any) -> list[Any]:
    with h5py.File(path, "r") as f:
        return messages(lecroy.open_writer(f["/data"], context(**options)), lecroy.TYP)


def test_defaults_conversion_and_a_selection(tmp_path: Path) -> None:
    path = tmp_path / "minimal.h5"
    with h5py.File(path, "w") as f:
        f["/data/waveform1"] = np.arange(12, dtype=np.int16).reshape(6, 2) - 3
        f["/data/timestamp1"] = np.arange(6, dtype=np.float32) + 0.5
        f["/data/waveform3"] = np.ones((6, 3), ">f4")
        f["/data/timestamp3"] = np.arange(6.0)
    frames = written(path)
    assert len(frames) == 8  # continuous by default: one message per trace
    assert (
        frames[1][0] == b'{"htype": "msg", "what": 1, "frame": 0, "ntriggers": -1, "seqno": 0, '
        b'"channels": [1, 3]}'
    )
    assert frames[2][1] == (
        b'{"htype": "traces", "ch": 1, "ts": 1.5, "frame": 2, "shape": [1, 2], '
        b'"horiz_offset": 0.0, "horiz_interval": 1.0, "dtype": "float64"}'
    )
    assert np.frombuffer(frames[2][2], "<f8").tolist() == [-1.0, 0.0]
    assert frames[2][0] == frames[1][0]  # continuous: the first sequence start repeated
    assert frames[-1] == [b'{"htype": "msg", "what": 3, "frame": 12, "frames": 12}']
    with h5py.File(path, "a") as f:
        f["/data"].attrs["ntriggers"] = 2
    chosen = written(path, points=slice(2, 0, -1))  # sequences 2 and 1, renumbered
    starts = [json.loads(m[0]) for m in chosen[1:-1]]
    assert [(s["seqno"], s["frame"]) for s in starts] == [(0, 0), (1, 2)]
    assert loads(chosen[1][3]) == [4.5, 5.5] and json.loads(chosen[-1][0])["frames"] == 4


BAD: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "counts differ": (
        {"waveform1": np.zeros((4, 3)), "timestamp1": np.zeros(3)},
        {},
        "timestamp1 has 3 values, waveform1 4 traces",
    ),
    "channels differ": (
        {"waveform1": np.zeros((4, 3)), "timestamp1": np.zeros(4),
         "waveform2": np.zeros((5, 3)), "timestamp2": np.zeros(5)},
        {},
        "channels of different trace counts: 4 in waveform1, 5 in waveform2",
    ),
    "ntriggers": (
        {"waveform1": np.zeros((4, 3)), "timestamp1": np.zeros(4)},
        {"ntriggers": 3},
        "ntriggers 3 does not divide the 4 traces into sequences",
    ),
    "ntriggers 0": (
        {"waveform1": np.zeros((4, 3)), "timestamp1": np.zeros(4)},
        {"ntriggers": 0},
        "attribute ntriggers 0 is neither -1 (continuous) nor a trace count",
    ),
    "offsets": (
        {"waveform1": np.zeros((4, 3)), "timestamp1": np.zeros(4), "horiz_offset1": np.zeros(3)},
        {},
        "horiz_offset1 has 3 values, waveform1 4 traces",
    ),
    "no timestamps": ({"waveform1": np.zeros((4, 3))}, {}, "no timestamp1 dataset beside"),
    "booleans": (
        {"waveform1": np.zeros((4, 3), bool), "timestamp1": np.zeros(4)},
        {},
        "waveform1 is (4, 3) bool, not numbers of shape (traces, points)",
    ),
    "int64 beyond 2**53": (
        {"waveform1": np.array([[0], [2**53 + 1]]), "timestamp1": np.zeros(2)},
        {},
        "/data/waveform1 row 1: a value is not exact as a float64",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_groups_are_named(tmp_path: Path, case: str, cli: Cli) -> None:
    datasets, attrs, expected = BAD[case]
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        for name, data in datasets.items():
            f[f"/data/{name}"] = data
        f["/data"].attrs.update(attrs)
    code, _, err = cli("convert", path, "-s", f"{STREAM}=/data:lecroy", "-o", tmp_path / "out")
    assert (code, err.count("\n")) == (1, 1) and expected in err, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_fits_only_waveform_timestamp_pairs(tmp_path: Path) -> None:
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f["/a/waveform1"] = np.zeros((2, 2))
        f["/a/timestamp1"] = np.zeros(2)
        f["/b/data"] = np.zeros((2, 2))
        f["/c/timestamp2"] = np.zeros(2)
        f["/c/waveform1"] = np.zeros((2, 2))
        f["/d/waveform01"], f["/d/timestamp01"] = np.zeros((2, 2)), np.zeros(2)
    with h5py.File(path, "r") as f:
        assert lecroy.fits(f["/d"]) == "no waveform<k> datasets"
        assert lecroy.fits(f["/a"]) is None
        assert lecroy.fits(f["/b"]) == "no waveform<k> datasets"
        assert lecroy.fits(f["/c"]) == "timestamp2 has no waveform beside it"
        assert lecroy.fits(f["/a/waveform1"]).startswith("a dataset")


@pytest.mark.parametrize("mode", list(DUMPS))
def test_inspector_on_the_real_recording(mode: str) -> None:
    check, problems = inspect_frames(lecroy.LecroyInspector, lecroy.TYP, STREAM, recorded(mode))
    assert problems == []
    mode_text = "continuous" if mode == "continuous" else "sequences of 20"
    traces = 2 if mode == "continuous" else 40
    assert check.details == [f"channels [2, 4], {traces} traces each, 2 messages ({mode_text})"]
    assert (check.shape, check.type) == ([1 if mode == "continuous" else 20, 8002], "float64")
    assert describe_frames(lecroy.TYP, recorded(mode)[-1]).startswith("end frames=4 [")
    assert describe_frames(lecroy.TYP, recorded("sequential")[2]).startswith(
        "sequence seqno=1 ntriggers=20 channels=[2, 4] frame=2 ["
    )


def test_inspector_names_what_is_wrong() -> None:
    good = recorded("continuous")
    femtomax = [bytearray(f) for f in good[2]]
    femtomax[1] = femtomax[1].replace(b'"ts": 1740563664.335', b'"ts": 0.0')
    femtomax[-1] = bytearray(lecroy.msg(what=2, frame=3))  # off by one
    frames = [good[0], good[1], [bytes(f) for f in femtomax], good[1][:5], [b"{}"], good[0]]
    frames += [[lecroy.msg(what=3, frame=2, frames=2)], [lecroy.msg(what=0, frame=9)]]
    _, problems = inspect_frames(lecroy.LecroyInspector, lecroy.TYP, STREAM, frames)
    assert problems == [
        f"{STREAM}: ts of channel 2 at event 2 is 0.0, not its first timestamp 1740563664.335",
        f"{STREAM}: sequence end at event 2 is frame 3, not 4 (after the traces)",
        f"{STREAM}: sequence at event 3 has 5 zmq frames, not 8",
        f"{STREAM}: event 4 is no LeCroy prepare, sequence or end message",
        f"{STREAM}: prepare at event 5 is not the first message",
        f"{STREAM}: end at event 6 says frames 2, the stream sent 4 traces messages",
        f"{STREAM}: end at event 6 is not the last message (prepare at event 7 follows)",
        f"{STREAM}: prepare at event 7 is not the first message",
        f"{STREAM}: prepare at event 7 is frame 9, not 0",
    ]


def test_cli_convert_replay_verify_inspect_ls(tmp_path: Path, cli: Cli) -> None:
    """The real recording's HDF5 file through the CLI, the real `dranspose replay`, back."""
    path = write_like(tmp_path / "osc.h5", recorded("continuous"))
    assert listing(cli, path)["/data"]["stream"].startswith("--stream data=/data")
    spec = f"{STREAM}=/data:lecroy"
    code, _, err = cli("convert", path, "-s", spec, "-o", tmp_path / "out")
    assert code == 0, err
    capture = tmp_path / "out" / f"{STREAM}.cbors"
    events = [
        (m.event_number, [bytes(f) for f in m.streams[STREAM].frames])
        for m in read_capture(capture)
    ]
    assert events == list(enumerate(recorded("continuous")))  # one message per event, as recorded
    record = replay(tmp_path, capture)
    with h5py.File(path, "r") as f:
        waveform = f["/data/waveform2"][1:2]
        stamps = f["/data/timestamp2"][1:2].tolist()
    second = record[2][STREAM]
    assert (second["kind"], second["channels"], second["python_floats"]) == (
        "LecroyParsed",
        [2, 4],
        True,
    )
    assert second["data"][1] == ["<f8", [1, 8002], hashlib.sha256(waveform).hexdigest()]
    assert second["timestamps"][1] == stamps and second["meta"][1]["frame"] == 3
    assert record[3][STREAM]["packet"]["frames"] == 4
    code, out, err = cli("verify", path, capture, "-s", spec)
    assert code == 0, out + err
    with h5py.File(path, "a") as f:
        f["/data/waveform2"][1, 7] = 0.5
    code, out, err = cli("verify", path, capture, "-s", spec)
    assert code == 1 and "event 2: channel #1 traces differs in 1 of 8002 elements" in out + err, (
        out + err
    )
    code, out, err = cli("inspect", capture)
    assert code == 0 and "channels [2, 4], 2 traces each, 2 messages (continuous)" in out, out


def replay(tmp_path: Path, capture: Path) -> dict[int, dict[str, Any]]:
    """The real `dranspose replay` of `capture` with a worker that parses with dranspose's parse."""
    record = tmp_path / "record.json"
    env = {**os.environ, "LOG_LEVEL": "WARNING", RECORD_ENV: str(record)}
    args = [
        "replay",
        "-w",
        "tests.lecroy_app:LecroyWorker",
        "-r",
        "tests.replay_app:RecordingReducer",
    ]
    proc = subprocess.run(
        [str(BIN / "dranspose"), *args, "-f", str(capture)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return {int(k): v for k, v in json.loads(record.read_text())["events"].items()}


def test_config_and_replay_source_give_the_same_messages(tmp_path: Path, cli: Cli) -> None:
    path = write_like(tmp_path / "osc.h5", recorded("sequential"))
    toml = tmp_path / "osc.toml"
    toml.write_text(f'[streams.{STREAM}]\npath = "/data"\nprotocol = "lecroy"\n')
    code, _, err = cli("convert", path, "--config", toml, "-o", tmp_path / "out")
    assert code == 0, err
    captured = [
        list(map(bytes, m.streams[STREAM].frames))
        for m in read_capture(tmp_path / "out" / f"{STREAM}.cbors")
    ]
    assert captured == recorded("sequential")

    class Source(ReplaySource):
        input = path
        streams: ClassVar[dict[str, str]] = {STREAM: "/data:lecroy"}
        frames = slice(1, 2)  # the second sequence only

    (generator,) = Source().get_source_generators()
    replayed = [(m.event_number, m.streams[STREAM]) for m in generator]
    assert [(e, s.typ) for e, s in replayed] == [(e, lecroy.TYP) for e in range(3)]
    second = parse(replayed[1][1])
    assert isinstance(second, LecroyParsed) and (second.seqno, second.frame) == (0, 0)
    assert second.timestamps[0] == loads(recorded("sequential")[2][3])
    assert second.meta[0].ts == 1740736919.435  # the second sequence's first timestamp


def test_inspect_names_a_femtomax_style_capture(tmp_path: Path, cli: Cli) -> None:
    good = recorded("continuous")
    femtomax = [*good[1][:-1], lecroy.msg(what=2, frame=1)]  # the end one frame short
    capture = tmp_path / "femtomax.cbors"
    with open(capture, "wb") as fh:
        for event, frames in enumerate([good[0], femtomax, good[-1]]):
            for buf in encode_message(event, {STREAM: StreamPart(lecroy.TYP, frames)}, T0):
                fh.write(buf)
    code, out, err = cli("inspect", capture)
    assert code == 0 and "1 frames [1, 8002] float64 none" in out, out
    assert "sequence end at event 1 is frame 1, not 2 (after the traces)" in out + err, out + err
    assert "end at event 2 says frames 4, the stream sent 2 traces messages" in out + err


def test_inspector_bounds_a_hostile_shape() -> None:
    """A traces JSON's shape is checked before it is multiplied out, and neither a shape of
    many huge dimensions nor an impossible size reaches the summary whole."""
    prepare, end = [lecroy.msg(what=0, frame=0)], [lecroy.msg(what=3, frame=1, frames=1)]
    start = lecroy.msg(what=1, frame=0, ntriggers=-1, seqno=0, channels=[1])
    stamps = pickle.dumps([0.0], protocol=4)
    for shape in ([10**4000] * 300, [1, 10**4000]):
        meta = json.dumps(
            {"htype": "traces", "ch": 1, "ts": 0.0, "frame": 0, "shape": shape, "dtype": "float64"}
        )
        sequence = [start, meta.encode(), b"", stamps, lecroy.msg(what=2, frame=1)]
        check, problems = inspect_frames(
            lecroy.LecroyInspector, lecroy.TYP, STREAM, [prepare, sequence, end]
        )
        assert check.shape is None and len(problems) == 1 and len(problems[0]) < 300, problems


def test_inspector_details_are_bounded() -> None:
    """A sequence start's channels and ntriggers come from the capture: any size."""
    start = lecroy.msg(what=1, frame=0, ntriggers=10**4000, seqno=0, channels=[2] * 100_000)
    check, _ = inspect_frames(lecroy.LecroyInspector, lecroy.TYP, STREAM, [[start]])
    assert check.details == [
        "channels [2, 2, 2, 2, 2, 2, ...], 0 traces each, 1 messages "
        "(sequences of <an integer of 13288 bits>)"
    ]


@pytest.mark.parametrize("owner", ["/data", "/data/waveform1"])
def test_an_attribute_of_any_size_is_named_shortly(tmp_path: Path, owner: str, cli: Cli) -> None:
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w", libver="latest") as f:  # dense attributes: any size
        f["/data/waveform1"], f["/data/timestamp1"] = np.zeros((2, 2)), np.zeros(2)
        name = "ntriggers" if owner == "/data" else "horiz_interval"
        f[owner].attrs[name] = "\x1b[2J" * 100_000
    code, _, err = cli("convert", path, "-s", f"{STREAM}=/data:lecroy", "-o", tmp_path / "out")
    assert code == 1 and f"attribute {name} '\\x1b[2J" in err and len(err) < 400, err[:400]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_message_holds_no_more_timestamps_than_verify_reads(tmp_path: Path) -> None:
    """One point per trace keeps the traces small, but their timestamps pickle too large for
    the strict loader: `verify` and `inspect` would refuse what `convert` wrote."""
    path = tmp_path / "long.h5"
    with h5py.File(path, "w") as f:
        for n in (lecroy.MAX_TRACES, lecroy.MAX_TRACES + 1):
            group = f.create_group(f"n{n}")  # declared, never written
            group.create_dataset("waveform1", (n, 1), "f8", chunks=(1024, 1))
            group.create_dataset("timestamp1", (n,), "f8", chunks=(1024,))
            group.attrs["ntriggers"] = n
    with h5py.File(path, "r") as f:
        assert lecroy.fits(f[f"/n{lecroy.MAX_TRACES}"]) is None
        assert lecroy.fits(f[f"/n{lecroy.MAX_TRACES + 1}"]) == (
            f"a message of {lecroy.MAX_TRACES + 1} traces per channel has more timestamps "
            f"than {lecroy.MAX_TRACES}"
        )
    stamps = pickle.dumps([0.5] * 100_000, protocol=lecroy.PICKLE_PROTOCOL)
    assert len(stamps) < 100_000 * MAX_BYTES // lecroy.MAX_TRACES  # under 10 bytes each
