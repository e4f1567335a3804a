"""PCAP writer and inspector: MAX IV's PandA file as the zmq ingester records its publisher.

Expected bytes come from real dumps: CoSAXS' capture (maxiv-science/drp-cosaxs) and the
publisher's raw batches in dranspose's `tests/data/pcap-zmq.cbors`, split as the ingester
splits them; every message is read back by `dranspose.middlewares.pcap.parse`.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from pathlib import Path
from typing import Any

import cbor2
import h5py
import numpy as np
import pytest
from dranspose.data.pcap import PCAPData, PCAPEnd, PCAPStart
from dranspose.event import StreamData
from dranspose.middlewares.pcap import parse

from h5tocbors.errors import H5ToCborsError
from h5tocbors.protocols import pcap
from h5tocbors.protocols.registry import describe_frames

from .conftest import Cli, listing, read_capture, run_cli, run_limited
from .protocol_files import context, inspect_frames, messages
from .public_data import public_file
from .replay_source import CONFIG_ENV, INPUT_ENV
from .test_replay_e2e import replay

PANDABOX = "/entry/instrument/pandabox/data"
COSAXS = "data/togetherpcap_proc-ingester-a7c00d60-b1e6-45e7-861d-01dadc10f239.cbors"
ARM_TIME = "2024-10-30T10:32:07.097Z"


def frames_of(writer: pcap.PcapWriter) -> list[bytes]:
    """The one frame of each message."""
    found = []
    for m in messages(writer, "PCAP"):
        (frame,) = m.frames
        found.append(bytes(frame))
    return found


def write_pandabox(path: Path, rows: list[dict[str, Any]], **attrs: str) -> Path:
    """MAX IV's PandA file: one 1-D dataset per field, in creation order (tracked)."""
    with h5py.File(path, "w", track_order=True) as f:
        group = f.create_group(PANDABOX, track_order=True)
        for name in rows[0]:
            group[name] = np.array([row[name] for row in rows])
        group.attrs.update(attrs)
    return path


def cosaxs_capture() -> list[tuple[int, list[bytes]]]:
    """CoSAXS' real `pcap_proc` capture: (event, frames) of each message."""
    path = public_file("maxiv-science/drp-cosaxs", COSAXS)
    return [(m.event_number, list(m.streams["pcap_proc"].frames)) for m in read_capture(path)]


def test_cosaxs_capture_made_again_byte_for_byte(cli: Cli, tmp_path: Path) -> None:
    """The HDF5 file holding the capture's rows converts to the capture, every byte of every
    message on the same event (the start besides records where it was made from)."""
    real = cosaxs_capture()
    rows = [json.loads(frames[0]) for _, frames in real[1:-1]]
    for row in rows:
        del row["message_id"], row["version"], row["message_type"], row["frame_number"]
    source = write_pandabox(tmp_path / "scan-0001_pcap.h5", rows, arm_time=ARM_TIME)
    with h5py.File(source, "r") as f:
        assert frames_of(pcap.open_writer(f[PANDABOX], context())) == [m[0] for _, m in real]
    out = tmp_path / "out"
    code, _, err = cli("convert", source, "-s", f"pcap_proc={PANDABOX}", "-o", out)
    assert code == 0, err
    made = [(m.event_number, m.streams["pcap_proc"]) for m in read_capture(out / "pcap_proc.cbors")]
    assert [(event, s.typ) for event, s in made] == [(event, "PCAP") for event, _ in real]
    assert [s.frames for _, s in made[1:]] == [frames for _, frames in real[1:]]
    start, real_start = json.loads(made[0][1].frames[0]), json.loads(real[0][1][0])
    assert start.pop("h5tocbors")["path"] == PANDABOX and start == real_start
    assert made[0][1].frames[0].startswith(real[0][1][0][:-1] + b", ")


def publisher_batches() -> list[list[bytes]]:
    """dranspose's real dump of MAX IV's publisher: one list of frames per zmq message."""
    path = public_file("felix-engelmann/dranspose", "tests/data/pcap-zmq.cbors")
    with open(path, "rb") as fh:
        found = []
        while fh.peek(1):
            found.append(cbor2.load(fh))
    return found


def ingested(batch: bytes) -> list[bytes]:
    """One data batch as `zmqsub_pcap` splits it: one `PCAPData` per row."""
    packet = PCAPData.model_validate_json(batch)
    vectors = {k: v for k, v in packet if isinstance(v, list)}
    rows = []
    for i in range(len(next(iter(vectors.values())))):
        row = {k: v[i] if k in vectors else v for k, v in packet}
        row["frame_number"] = packet.frame_number + i
        rows.append(PCAPData(**row).model_dump_json().encode())
    return rows


def test_publisher_dump_split_as_the_ingester_does(tmp_path: Path) -> None:
    """The dump's 100 batches (1500 rows, 14 or 15 each) come out row by row with the same
    bytes but the batch's `message_id`, which the file does not keep."""
    batches = publisher_batches()
    expected = [row for (frame,) in batches[1:-1] for row in ingested(frame)]
    values = [json.loads(row) for row in expected]
    assert len(values) == 1500 and values[-1]["frame_number"] == 1499
    fields = list(values[0])[4:]
    assert fields == ["inttime", "triggernumber", "repeatindex", "energy", "INENC3.VAL.Mean"]
    arm = json.loads(batches[0][0])["arm_time"]
    source = write_pandabox(tmp_path / "p.h5", [{k: v[k] for k in fields} for v in values])
    with h5py.File(source, "a") as f:
        f.attrs["arm_time"] = arm  # the file's, as PandABlocks-client writes it
    with h5py.File(source, "r") as f:
        made = frames_of(pcap.open_writer(f[PANDABOX], context()))
    assert made[0] == batches[0][0]
    assert made[-1] == batches[-1][0].replace(b'"message_id": 102', b'"message_id": 1502')
    for k, (row, want) in enumerate(zip(made[1:-1], expected, strict=True)):
        batch = json.loads(want)["message_id"]
        ours = want.replace(b'"message_id":%d,' % batch, b'"message_id":%d,' % (k + 2))
        assert row == ours, k


AWKWARD: dict[str, Any] = {
    "f8": np.array([1e-05, 1.2345e-05, 1e-7, 1e16, 1e22, 0.1, -0.0, np.nan, np.inf, -np.inf,
                    5e-324, 1.7976931348623157e308, 123456789.12345679, 100.0]),
    "f4": np.array([0.1, -0.0, np.nan, 3.4e38, 1e-05, 1, 2, 3, 4, 5, 6, 7, 8, 9], np.float32),
    "u8": np.array([0, 2**64 - 1, 2**63, *range(11)], np.uint64),
    "i8": np.array([-(2**63), 2**63 - 1, -1, *range(11)], np.int64),
    "u1": np.arange(250, 264, dtype=np.uint16).astype(np.uint8),
    "b": np.array([True, False] * 7),
    "f2": np.linspace(-1, 1, 14).astype(np.float16),
}  # fmt: skip


def test_values_are_what_pydantic_writes_and_parse_reads(tmp_path: Path) -> None:
    """Every row's bytes are `PCAPData(**row).model_dump_json()`: pydantic's number text,
    NaN and inf as null, -0.0 kept, integers of 64 bits exact, booleans as JSON's."""
    path = tmp_path / "awkward.h5"
    with h5py.File(path, "w") as f:
        for name, values in AWKWARD.items():
            f[f"/p/{name}"] = values
        f["/p/big_endian"] = np.arange(14, dtype=">f8") / 3
    with h5py.File(path, "r") as f:
        made = frames_of(pcap.open_writer(f["/p"], context()))
    names = ["b", "big_endian", "f2", "f4", "f8", "i8", "u1", "u8"]  # not tracked: by name
    for k, frame in enumerate(made[1:-1]):
        row = {n: (AWKWARD[n][k] if n in AWKWARD else np.float64(k) / 3).item() for n in names}
        model = PCAPData(message_id=k + 2, version=1, message_type="data", frame_number=k, **row)
        assert frame == model.model_dump_json().encode(), k
        packet = parse(StreamData(typ="PCAP", frames=[frame]))
        assert isinstance(packet, PCAPData) and packet.frame_number == k
        assert list(packet.model_extra or {}) == names
        for name, value in (packet.model_extra or {}).items():
            want = row[name]
            if isinstance(want, float) and not math.isfinite(want):
                assert value is None
            else:
                assert type(value) is type(want) and repr(value) == repr(want), (name, k)
    assert b'"f8":0.00001,' in made[1] and b'"f8":null' in made[8] and b'"f8":-0.0' in made[7]
    assert b'"u8":18446744073709551615' in made[2] and b'"b":true' in made[1]
    start, end = (parse(StreamData(typ="PCAP", frames=[made[i]])) for i in (0, -1))
    assert isinstance(start, PCAPStart) and isinstance(end, PCAPEnd) and end.message_id == 16


def test_random_doubles_are_written_as_pydantic_writes_them() -> None:
    """5000 doubles of random bit patterns (subnormals, NaN payloads, huge and tiny
    exponents): the same bytes as `model_dump_json`."""
    bits = np.random.default_rng(5).integers(0, 2**63, 5000, dtype=np.int64) * 2 + 1
    for k, x in enumerate(bits.view(np.float64).tolist()):
        model = PCAPData(message_id=2, version=1, message_type="data", frame_number=k, x=x)
        assert pcap.data_frame(2, k, {"x": x}) == model.model_dump_json().encode(), x


def test_rows_across_blocks_a_selection_and_the_file_time(tmp_path: Path) -> None:
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:
        f["/entry/pandabox/data/z"] = np.arange(5000, dtype=np.uint32)
        f["/entry/pandabox/data/a"] = np.arange(5000) * 0.5
    os.utime(path, ns=(1730284327_097_000_000, 1730284327_097_000_000))
    with h5py.File(path, "r") as f:
        group = f["/entry/pandabox/data"]
        rows = [json.loads(r) for r in frames_of(pcap.open_writer(group, context()))]
        chosen = frames_of(pcap.open_writer(group, context(points=slice(4090, 4200, 7))))
    assert rows[0]["arm_time"] == ARM_TIME  # the file's modification time
    assert [r["z"] for r in rows[1:-1]] == list(range(5000))
    assert list(rows[1]) == ["message_id", "version", "message_type", "frame_number", "a", "z"]
    picked = [json.loads(r) for r in chosen[1:-1]]
    assert [r["z"] for r in picked] == list(range(4090, 4200, 7))
    assert [(r["frame_number"], r["message_id"]) for r in picked[:2]] == [(0, 2), (1, 3)]


def test_linked_fields_take_their_names_in_the_group(tmp_path: Path) -> None:
    """A soft or external link is the field of its own name, not of its target's: a link
    `x` to another file's `/frame_number` does not take PCAPData's `frame_number`."""
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["frame_number"] = np.arange(2.0) * 10
    path = tmp_path / "p.h5"
    with h5py.File(path, "w", track_order=True) as f:
        f["/elsewhere/i_t"] = np.arange(2.0) + 5
        group = f.create_group(PANDABOX, track_order=True)
        group["x"] = h5py.ExternalLink("other.h5", "/frame_number")
        group["y"] = h5py.SoftLink("/elsewhere/i_t")
    with h5py.File(path, "r") as f:
        rows = [json.loads(r) for r in frames_of(pcap.open_writer(f[PANDABOX], context()))]
    got = [(r["frame_number"], r["x"], r["y"]) for r in rows[1:-1]]
    assert got == [(0, 0.0, 5.0), (1, 10.0, 6.0)]


def test_arm_time_is_read_only_when_short_and_shown_shortened(cli: Cli, tmp_path: Path) -> None:
    """A one-element `arm_time` is the time; a long or unreadable one is refused on one
    short line, not echoed whole."""
    path = tmp_path / "p.h5"
    with h5py.File(path, "w") as f:
        f[f"{PANDABOX}/i_0"] = np.zeros(2)
        f[PANDABOX].attrs["arm_time"] = [ARM_TIME]
    with h5py.File(path, "r") as f:
        assert (
            json.loads(frames_of(pcap.open_writer(f[PANDABOX], context()))[0])["arm_time"]
            == ARM_TIME
        )
    for bad in ("\x1b[2J" + "x" * 100_000, np.zeros(3, dtype=[("x", "i4")])):
        with h5py.File(path, "a") as f:
            f[PANDABOX].attrs["arm_time"] = bad
        code, _, err = cli("convert", path, "-s", f"p={PANDABOX}", "-o", tmp_path / "o")
        assert code == 1 and len(err) < 300 and "\x1b" not in err, err
        assert "arm_time" in err and "not an ISO 8601 time" in err
        assert not (tmp_path / "o").exists()


def test_rows_far_apart_are_read_alone(tmp_path: Path) -> None:
    """`--frames ::N` over 2**25 stored rows (256 MiB, a small file: zeros compress) reads
    the 8 rows picked, not all between them: it runs in 512 MiB of address space."""
    path, count, chunk = tmp_path / "p.h5", 1 << 25, 1 << 16
    with h5py.File(path, "w") as f:
        i_0 = f.create_dataset(
            f"{PANDABOX}/i_0", (count,), "f8", chunks=(chunk,), compression="gzip"
        )
        zeros = zlib.compress(np.zeros(chunk).tobytes())
        for first in range(0, count, chunk):
            i_0.id.write_direct_chunk((first,), zeros)
    out = tmp_path / "o"
    spec, frames = f"p={PANDABOX}", f"::{count // 8}"
    proc = run_limited(
        "convert", path, "-s", spec, "--frames", frames, "-o", out, address_space=512 << 20
    )
    assert proc.returncode == 0, proc.stderr
    assert len(read_capture(out / "p.cbors")) == 10


def test_unstored_rows_are_refused_before_writing_unless_few_are_picked(
    cli: Cli, tmp_path: Path
) -> None:
    """10**9 declared rows, none written: refused before the output is made, while
    `--frames` picking 10 of them converts them (as fill values)."""
    path = tmp_path / "p.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset(f"{PANDABOX}/i_0", (10**9,), "f8", chunks=(4096,))
    out = tmp_path / "o"
    code, _, err = cli("convert", path, "-s", f"p={PANDABOX}", "-o", out)
    assert code == 1 and "1,000,000,000 frames to convert" in err and not out.exists(), err
    code, _, err = cli("convert", path, "-s", f"p={PANDABOX}", "--frames", "999999990:", "-o", out)
    assert code == 0, err
    assert len(read_capture(out / "p.cbors")) == 12


BAD = {
    "different lengths": (
        {"i_0": np.zeros(3), "i_t": np.zeros(4)},
        "fields of different lengths: 3 in 'i_0', 4 in 'i_t'",
    ),
    "strings": ({"i_0": np.zeros(1), "name": np.array([b"x"])}, "'name' is (1,) string, not one"),
    "2-D field": ({"i_0": np.zeros((3, 2))}, "'i_0' is (3, 2) float64, not one number per row"),
    "long double": ({"i_0": np.zeros(3, np.longdouble)}, "'i_0' is (3,) 80-bit extended"),
    "a declared name": ({"frame_number": np.zeros(3)}, "'frame_number' is a field PCAPData"),
    "no rows": ({"i_0": np.zeros(0), "i_t": np.zeros(0)}, "its fields hold no rows"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_groups_are_named_on_one_line(cli: Cli, tmp_path: Path, case: str) -> None:
    datasets, expected = BAD[case]
    path = tmp_path / "p.h5"
    with h5py.File(path, "w") as f:
        for name, data in datasets.items():
            f[f"{PANDABOX}/{name}"] = data
    code, _, err = cli("convert", path, "-s", f"pcap_proc={PANDABOX}:pcap", "-o", tmp_path / "o")
    assert code == 1 and len(err.splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "o").exists()
    with h5py.File(path, "r") as f, pytest.raises(H5ToCborsError, match="not a PandA group"):
        pcap.open_writer(f[PANDABOX], context())


def test_more_fields_than_a_panda_has(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.h5"
    with h5py.File(path, "w") as f:
        for name in "abc":
            f[f"{PANDABOX}/{name}"] = np.zeros(2)
    monkeypatch.setattr(pcap, "MAX_FIELDS", 2)
    with h5py.File(path, "r") as f:
        assert pcap.fits(f[PANDABOX]) == "3 members, more than the 2 fields a PandA has"


def test_what_is_chosen_unasked_and_what_ls_names(cli: Cli, tmp_path: Path) -> None:
    """Auto-detection and `ls` take a pandabox group or one with `arm_time`; a group of
    pcap-raw names stays pcap-raw; any other group of 1-D datasets only when named."""
    path = tmp_path / "scan.h5"
    with h5py.File(path, "w") as f:
        f[f"{PANDABOX}/i_0"] = np.arange(3.0)
        f["/entry/armed/x"] = np.arange(3.0)
        f["/entry/armed"].attrs["arm_time"] = ARM_TIME
        f["/entry/measurement/panda0/INENC2.VAL_Mean"] = np.arange(3.0)
        f["/entry/measurement/pseudo/x"] = np.arange(3.0)
    listed = listing(cli, path)
    assert listed[PANDABOX]["stream"] == f"--stream pandabox={PANDABOX}:pcap"
    assert listed["/entry/armed"]["stream"].endswith("=/entry/armed:pcap")
    assert listed["/entry/measurement/panda0"]["stream"].endswith(":pcap-raw")
    assert "/entry/measurement/pseudo" not in listed
    out = tmp_path / "o"
    streams = ["a=/entry/armed", f"b={PANDABOX}", "c=/entry/measurement/panda0"]
    code, _, err = cli("convert", path, *(a for s in streams for a in ("-s", s)), "-o", out)
    assert code == 0, err
    typs = {p.stem: read_capture(p)[0].streams[p.stem].typ for p in out.iterdir()}
    assert typs == {"a": "PCAP", "b": "PCAP", "c": "PCAP_RAW"}
    code, _, err = cli("convert", path, "-s", "p=/entry/measurement/pseudo", "-o", out)
    assert code == 1 and "pcap: not a pandabox/data group and no arm_time" in err
    for name, group in [("p", "pseudo"), ("c", "panda0")]:
        spec = f"{name}=/entry/measurement/{group}:pcap"
        code, _, err = cli("convert", path, "-s", spec, "-o", out, "--force")
        assert code == 0, err
        assert read_capture(out / f"{name}.cbors")[1].streams[name].typ == "PCAP"


def test_verify_finds_identical_and_changed(cli: Cli, tmp_path: Path) -> None:
    rows = [{"timestamp": 0.1 * k, "i_0": [np.nan, -0.0, 1e-05][k]} for k in range(3)]
    source = write_pandabox(tmp_path / "scan-0001_pcap.h5", rows, arm_time=ARM_TIME)
    out = tmp_path / "out"
    assert cli("convert", source, "-s", f"pcap_proc={PANDABOX}", "-o", out)[0] == 0
    capture = out / "pcap_proc.cbors"
    code, out_text, err = cli("verify", source, capture)  # by the recorded origin
    assert code == 0, err
    assert "pcap_proc: 5 messages identical to /entry/instrument/pandabox/data" in out_text
    assert cli("verify", source, capture, "-s", f"pcap_proc={PANDABOX}:pcap")[0] == 0
    with h5py.File(source, "a") as f:
        f[f"{PANDABOX}/i_0"][1] = 0.0  # -0.0 becomes 0.0
    code, _, err = cli("verify", source, capture)
    assert code == 1 and "i_0 is -0.0, not 0.0; 1 of 5 messages differ" in err, err


def test_inspect_summary_and_events(cli: Cli, tmp_path: Path) -> None:
    source = write_pandabox(tmp_path / "p.h5", [{"i_t": 1.5, "i_0": 2}] * 2, arm_time=ARM_TIME)
    out = tmp_path / "out"
    assert cli("convert", source, "-s", f"pcap_proc={PANDABOX}", "-o", out)[0] == 0
    code, text, err = cli("inspect", "--events", out / "pcap_proc.cbors")
    assert (code, err) == (0, "")
    assert "    2 rows, fields i_t, i_0" in text.splitlines()
    assert "pcap_proc PCAP series-start arm_time=2024-10-30T10:32:07.097Z [" in text
    assert "pcap_proc PCAP data frame_number=1 fields=2 [" in text
    assert "pcap_proc PCAP series-end [61] bytes" in text


def test_inspector_names_what_is_wrong() -> None:
    row = b'{"message_id":2,"version":1,"message_type":"data","frame_number":%d,"x":1.0%s}'
    frames = [
        [row % (0, b"")],
        [pcap.start_frame("yesterday", {})],
        [row % (0, b"")],
        [row % (5, b"")],
        [row % (3, b',"y":2')],
        [b'{"message_id":6,"version":1,"message_type":"heartbeat"}'],
        [b"\xff"],
        [b'{"version":1,"message_type":"data","frame_number":4,"x":1.0}'],
        [b'{"message_id":9,"version":2,"message_type":"data","frame_number":5,"x":1.0}'],
        [pcap.end_frame(7)],
    ]
    check, problems = inspect_frames(pcap.PcapInspector, "PCAP", "pcap_proc", frames)
    assert problems == [
        "pcap_proc: first message (event 0) is data, not series-start",
        "pcap_proc: series-start at event 1 is not the first message",
        "pcap_proc: series-start at event 1 has arm_time 'yesterday'",
        "pcap_proc: row at event 2 is frame_number 0, not 1",
        "pcap_proc: row at event 3 is frame_number 5, not 2",
        "pcap_proc: row at event 4 has other fields than the first row",
        "pcap_proc: event 5 is message_type 'heartbeat'",
        "pcap_proc: event 6 is not one JSON object",
        "pcap_proc: data at event 7 has message_id None, not an integer",
        "pcap_proc: data at event 8 has version 2, not 1",
    ]
    assert (check.frames, check.fields) == (6, ["x"])
    assert check.details == ["6 rows, fields x"]
    rowless, _ = inspect_frames(pcap.PcapInspector, "PCAP", "p", [[frames[1][0]], [b"\xff"]])
    assert rowless.details == ["0 rows"]
    assert describe_frames("PCAP", frames[5]).startswith("message_type 'heartbeat' [")
    assert describe_frames("PCAP", frames[6]).startswith("unparsable [")


CONFIG = f"""
points = "{PANDABOX}/i_0"

[streams.pcap_proc]
path = "{PANDABOX}"
protocol = "pcap"
"""


def test_replay_through_dranspose(tmp_path: Path) -> None:
    """The real `dranspose replay` of a `--config` conversion and of `ReplaySource(config=)`
    gives dranspose's parser every row, with the file's values."""
    rows = [{"i_0": 0.5 * k, "n": k, "odd": [np.nan, 1e-05, -0.0, 7.0][k]} for k in range(4)]
    source = write_pandabox(tmp_path / "scan-0001_pcap.h5", rows, arm_time=ARM_TIME)
    toml = tmp_path / "scan.toml"
    toml.write_text(CONFIG)
    out = tmp_path / "out"
    proc = run_cli("convert", source, "--config", toml, "-o", out)
    assert proc.returncode == 0, proc.stderr
    record = replay(tmp_path, "-f", out / "pcap_proc.cbors")
    assert sorted(record) == list(range(6))
    start, end = record[0]["pcap_proc"]["values"], record[5]["pcap_proc"]["values"]
    assert start["message_type"] == "series-start" and start["arm_time"].startswith("2024-10-30")
    assert end == {"message_id": 6, "version": 1, "message_type": "series-end"}
    for k, row in enumerate(rows):
        values = dict(record[k + 1]["pcap_proc"]["values"])
        assert values.pop("frame_number") == k and values.pop("message_id") == k + 2
        assert values.pop("message_type") == "data" and values.pop("version") == 1
        assert values == {**row, "odd": None if k == 0 else row["odd"]}
    env = {INPUT_ENV: str(source), CONFIG_ENV: str(toml)}
    direct = replay(tmp_path, "-s", "tests.replay_source:ConfiguredScanSource", env=env)
    assert direct == record
