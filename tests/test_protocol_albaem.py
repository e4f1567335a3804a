"""albaem writer and inspector: byte for byte as dranspose's real AlbaEM dump, every message
through `AlbaemPacket.validate_json` as workers use it, and the real CLIs end to end."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import cbor2
import h5py
import numpy as np
import pytest
from dranspose.data.albaem import AlbaemData, AlbaemEnd, AlbaemPacket, AlbaemStart

from h5tocbors.errors import H5ToCborsError
from h5tocbors.protocols import albaem
from h5tocbors.protocols.registry import describe_frames

from .conftest import BIN, REPO, run_cli
from .protocol_files import context, inspect_frames, messages
from .public_data import public_file
from .replay_app import RECORD_ENV
from .replay_source import INPUT_ENV

GROUP = "/entry/instrument/albaem"
AWKWARD = [0.1, -0.0, 5e-324, 1.7976931348623157e308, math.nan, math.inf, -math.inf]


def real_dump() -> list[list[bytes]]:
    """dranspose's `tests/data/albaem-dump.cbors`: each CBOR item a list of frame bytes."""
    items = []
    with public_file("felix-engelmann/dranspose", "tests/data/albaem-dump.cbors").open("rb") as f:
        while True:
            try:
                items.append([bytes(b) for b in cbor2.load(f)])
            except EOFError:
                return items


def write_group(path: Path, datasets: dict[str, Any]) -> Path:
    with h5py.File(path, "w") as f:
        group = f.create_group(GROUP)
        for name, values in datasets.items():
            group[name] = values
    return path


def dump_file(tmp_path: Path, dump: list[list[bytes]], *names: str) -> Path:
    """An HDF5 group holding the values of the dump's data messages under `names`."""
    points = [json.loads(m[0]) for m in dump[1:-1]]
    return write_group(tmp_path / "em.h5", {n: np.array([p[n] for p in points]) for n in names})


def frames_of(path: Path, **options: Any) -> list[list[bytes]]:
    with h5py.File(path, "r") as f:
        writer = albaem.open_writer(f[GROUP], context(**options))
        assert len(writer) == writer.counters.frames + 2 + len(writer.points)
        return [m.frames for m in messages(writer, "albaem")]


def test_messages_equal_the_real_dump_byte_for_byte(tmp_path: Path) -> None:
    dump = real_dump()
    path = dump_file(tmp_path, dump, *albaem.CHANNELS, "timestamp", "acquisition_timestamp")
    assert frames_of(path) == dump
    packets = [AlbaemPacket.validate_json(m[0]) for m in frames_of(path)]
    assert [type(p) for p in packets] == [AlbaemStart, *[AlbaemData] * 4, AlbaemEnd]


def test_without_timestamps_the_model_gets_zeros(tmp_path: Path) -> None:
    dump = real_dump()
    path = dump_file(tmp_path, dump, "channel1", "channel3")
    frames = frames_of(path)
    assert (frames[0], frames[-1]) == (dump[0], dump[-1])
    for got, real in zip(frames[1:-1], dump[1:-1]):
        expected = json.loads(real[0]) | {"timestamp": 0.0, "acquisition_timestamp": 0}
        del expected["channel2"], expected["channel4"]
        assert got[0] == json.dumps(expected).encode()
        packet = AlbaemPacket.validate_json(got[0])
        assert isinstance(packet, AlbaemData) and packet.acquisition_timestamp == 0


def test_values_come_back_exactly_in_blocks_and_selections(tmp_path: Path) -> None:
    values = np.random.default_rng(5).standard_normal(5000) * 1e-9
    values[: len(AWKWARD)] = AWKWARD
    with np.errstate(over="ignore"):
        single = values.astype(np.float32)
    path = write_group(
        tmp_path / "em.h5",
        {
            "channel1": values,
            "channel2": single,
            "channel4": np.arange(5000, dtype=np.int16),
            "acquisition_timestamp": np.array([2**64 - 1, *range(4999)], np.uint64),
        },
    )
    packets = [AlbaemPacket.validate_json(m[0]) for m in frames_of(path)]
    data = packets[1:-1]
    assert [p.frame_number for p in data] == list(range(5000))
    assert [p.message_id for p in packets] == list(range(1, 5003))
    for name, stored in (("channel1", values), ("channel2", single)):
        got = np.array([getattr(p, name) for p in data])
        assert got.tobytes() == stored.astype(np.float64).tobytes(), name
    first, last = data[0].model_dump(), data[4999].model_dump()
    assert first["acquisition_timestamp"] == 2**64 - 1 and "channel3" not in first
    assert (type(last["channel4"]), last["channel4"]) == (float, 4999.0)  # as doubles
    chosen = frames_of(path, points=slice(4090, 4200, 7))
    picked = [AlbaemPacket.validate_json(m[0]) for m in chosen[1:-1]]
    assert [p.model_dump()["channel4"] for p in picked] == list(range(4090, 4200, 7))
    assert [p.frame_number for p in picked] == list(range(len(picked)))


BAD = {
    "no channel1": ({"channel2": np.zeros(3)}, "no channel1 dataset"),
    "unknown names": (
        {"channel1": np.zeros(3), "channel5": np.zeros(3), "x\n": np.zeros(3)},
        "names that are not AlbaEM datasets: 'channel5', 'x\\n'",
    ),
    "different lengths": (
        {"channel1": np.zeros(3), "channel2": np.zeros(4), "timestamp": np.zeros(3)},
        "datasets of different lengths: 3 in timestamp, 3 in channel1, 4 in channel2",
    ),
    "strings": ({"channel1": np.array([b"x"])}, "channel1 is (1,) string, not a number per point"),
    "int64 channel": (
        {"channel1": np.zeros(2, np.int64)},
        "channel1 is (2,) int64, not a number per point",
    ),
    "bools": ({"channel1": np.zeros(2, bool)}, "channel1 is (2,) bool, not a number per point"),
    "2-D": ({"channel1": np.zeros((2, 2))}, "channel1 is (2, 2) float64, not a number per point"),
    "float acquisition_timestamp": (
        {"channel1": np.zeros(2), "acquisition_timestamp": np.zeros(2)},
        "acquisition_timestamp is (2,) float64, not an integer per point",
    ),
    "long double": (
        {"channel1": np.zeros(2, np.longdouble)},
        "channel1 is (2,) 80-bit extended float (long double), not a number per point",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_groups_are_named(tmp_path: Path, case: str) -> None:
    datasets, expected = BAD[case]
    path = write_group(tmp_path / "em.h5", datasets)
    with h5py.File(path, "r") as f, pytest.raises(H5ToCborsError) as err:
        albaem.open_writer(f[GROUP], context())
    assert str(err.value) == f"{GROUP} in {path} is not an AlbaEM group: {expected}"


def test_fits(tmp_path: Path) -> None:
    path = write_group(tmp_path / "em.h5", {"channel1": np.zeros(2)})
    with h5py.File(path, "a") as f:
        f.create_group(f"{GROUP}/channel2")
    with h5py.File(path, "r") as f:
        assert albaem.fits(f[GROUP]) == "channel2 is not a dataset"
        assert albaem.fits(f[f"{GROUP}/channel1"]) == "a dataset, not a group of AlbaEM channels"
        assert albaem.fits(f["/entry"]) == "names that are not AlbaEM datasets: 'instrument'"


def test_inspector_reads_the_real_dump() -> None:
    dump = real_dump()
    check, problems = inspect_frames(albaem.AlbaemInspector, "albaem", "em", dump)
    assert problems == []
    assert check.details == ["4 point(s), channels channel1, channel2, channel3, channel4"]
    assert describe_frames("albaem", dump[0]) == "series-start id=1 [63] bytes"
    assert describe_frames("albaem", dump[1]).startswith("data id=2 frame_number=0 4 channels [")


def test_inspector_names_what_is_wrong() -> None:
    def msg(kind: str, message_id: object, **fields: object) -> list[bytes]:
        head = {"version": 1, "message_type": kind, "message_id": message_id}
        return [json.dumps(head | fields).encode()]

    point = {"timestamp": 1.5, "acquisition_timestamp": 7, "channel1": 0.5}
    frames = [
        msg("data", 1, frame_number=0, **point),
        msg("series-start", 2),
        msg("data", 4, frame_number=2, **point),
        msg("data", 5, frame_number=True, timestamp="x", acquisition_timestamp=1.0),
        msg("status", 6, version=2),
        [b"\xff"],
        msg("series-end", 8),
    ]
    _, problems = inspect_frames(albaem.AlbaemInspector, "albaem", "em", frames)
    assert problems == [
        "em: first message (event 0) is data, not series-start",
        "em: series-start at event 1 is not the first message",
        "em: message_id 4 at event 2, not 3",
        "em: data at event 2 has frame_number 2, not 1",
        "em: data at event 3 has frame_number True, not 2",
        "em: data at event 3 has timestamp 'x'",
        "em: data at event 3 has acquisition_timestamp 1.0",
        "em: data at event 3 has other channels than the first",
        "em: event 4 has message_type 'status'",
        "em: status at event 4 has version 2",
        "em: event 5 is no AlbaEM JSON message",
        "em: message_id 8 at event 6, not 7",
    ]


def test_inspector_shortens_a_huge_message_id() -> None:
    frames = [
        [b'{"version": 1, "message_type": "series-start", "message_id": 1}'],
        [b'{"version": 1, "message_type": "series-end", "message_id": 1%s}' % (b"0" * 4000)],
        [b'{"version": 1, "message_type": "series-end", "message_id": 3}'],
    ]
    _, problems = inspect_frames(albaem.AlbaemInspector, "albaem", "em", frames)
    big = "<an integer of 13288 bits>"
    assert problems == [
        f"em: message_id {big} at event 1, not 2",
        "em: series-end at event 1 is not the last message (series-end at event 2 follows)",
        f"em: message_id 3 at event 2, not {big}",
    ]


def replay(tmp_path: Path, *args: str | os.PathLike[str], **env: str) -> dict[str, Any]:
    """The real `dranspose replay` with the recording app: event -> the `em` packet's fields."""
    record = tmp_path / "record.json"
    proc = subprocess.run(
        [str(BIN / "dranspose"), "replay", "-w", "tests.replay_app:RecordingWorker",
         "-r", "tests.replay_app:RecordingReducer", *map(str, args)],
        cwd=REPO,
        env={**os.environ, "LOG_LEVEL": "WARNING", RECORD_ENV: str(record), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    events = json.loads(record.read_text())["events"]
    return {int(k): v["em"]["values"] for k, v in events.items()}


def test_convert_replay_inspect_verify(tmp_path: Path) -> None:
    dump = real_dump()
    names = (*albaem.CHANNELS, "timestamp", "acquisition_timestamp")
    path = dump_file(tmp_path, dump, *names)
    spec = f"em={GROUP}:albaem"
    proc = run_cli("convert", path, "-s", spec, "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    capture = tmp_path / "out" / "em.cbors"
    recorded = replay(tmp_path, "-f", capture)
    expected = [AlbaemPacket.validate_json(m[0]).model_dump() for m in dump]
    origin = {"input": str(path), "path": GROUP, "frames": "0:4"}
    assert recorded == dict(enumerate(expected)) | {0: expected[0] | {"h5tocbors": origin}}
    direct = replay(tmp_path, "-s", "tests.replay_source:AlbaemSource", **{INPUT_ENV: str(path)})
    assert direct == recorded

    shown = run_cli("inspect", capture)
    assert shown.returncode == 0, shown.stderr
    assert "4 point(s), channels channel1, channel2, channel3, channel4" in shown.stdout
    for given in (("-s", spec), ()):  # the stream's source given, or as its start records it
        same = run_cli("verify", path, capture, *given)
        assert same.returncode == 0 and "em: 6 messages identical to " + GROUP in same.stdout

    raw = capture.read_bytes()
    assert raw.count(b'"frame_number": 1,') == 1
    capture.write_bytes(raw.replace(b'"frame_number": 1,', b'"frame_number": 7,'))
    changed = run_cli("verify", path, capture, "-s", spec)
    assert changed.returncode == 1
    assert "frame_number is 7, not 1" in changed.stdout + changed.stderr
    broken = run_cli("inspect", capture)
    assert "em: data at event 2 has frame_number 7, not 1" in broken.stdout + broken.stderr


def test_cli_lists_the_group_and_refuses_a_bad_one(tmp_path: Path) -> None:
    good = write_group(tmp_path / "em.h5", {"channel1": np.zeros(2), "timestamp": np.zeros(2)})
    listed = run_cli("ls", good)
    assert f"--stream albaem={GROUP}:albaem" in listed.stdout
    bad = write_group(tmp_path / "bad.h5", {"channel1": np.zeros(2), "channel2": np.zeros(3)})
    proc = run_cli("convert", bad, "-s", f"em={GROUP}:albaem", "-o", tmp_path / "out")
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"h5tocbors: error: --stream em={GROUP}:albaem: {GROUP} in ")
    assert proc.stderr.endswith(": datasets of different lengths: 2 in channel1, 3 in channel2\n")
    assert proc.stderr.count("\n") == 1
    assert not (tmp_path / "out" / "em.cbors").exists()


def test_a_config_names_the_protocol(tmp_path: Path) -> None:
    path = dump_file(tmp_path, real_dump(), "channel1", "timestamp")
    config = tmp_path / "scan.toml"
    config.write_text(f'[streams.em]\npath = "{GROUP}"\nprotocol = "albaem"\n')
    proc = run_cli("convert", path, "--config", config, "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    checked = run_cli("verify", path, tmp_path / "out" / "em.cbors", "--config", config)
    assert checked.returncode == 0 and "em: 6 messages identical to " + GROUP in checked.stdout
