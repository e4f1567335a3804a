"""PCAP_RAW writer and inspector: every message through dranspose's PositioncapParser."""

from __future__ import annotations

import math
import os
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np
import pytest
from dranspose.data.positioncap import PositionCapEnd, PositionCapStart, PositionCapValues
from dranspose.middlewares.positioncap import PositioncapParser

from h5tocbors.errors import H5ToCborsError
from h5tocbors.protocols import pcap_raw
from h5tocbors.protocols.registry import describe_frames

from .protocol_files import context, inspect_frames, messages

AWKWARD = np.array(
    [0.1, 1 / 3, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1e-300,
     123456789.12345679, 2.0**53 + 2, np.nan, np.inf, -np.inf]
)  # fmt: skip


def parse_all(writer: pcap_raw.PcapRawWriter) -> list[object]:
    parser = PositioncapParser()
    return [parser.parse(m) for m in messages(writer, "PCAP_RAW")]


def same(a: float, b: float) -> bool:
    """Equal as float64 bit patterns (NaN equals NaN, -0.0 differs from 0.0)."""
    return np.float64(a).tobytes() == np.float64(b).tobytes() or (math.isnan(a) and math.isnan(b))


@pytest.fixture
def contrast_panda(tmp_path: Path) -> Path:
    path = tmp_path / "000008.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("/entry/measurement/panda0")
        g["INENC2.VAL_Mean"] = AWKWARD
        g["PCAP.TS_START_Value"] = np.arange(12) * 0.1
        g["FMC_IN.VAL1_Max"] = np.linspace(-1, 1, 12)
    os.utime(path, ns=(1730284327_097_000_000, 1730284327_097_000_000))
    return path


def test_contrast_group_values_come_back_exactly(contrast_panda: Path) -> None:
    with h5py.File(contrast_panda, "r") as f:
        expected = {k: v[()] for k, v in f["/entry/measurement/panda0"].items()}
        writer = pcap_raw.open_writer(f["/entry/measurement/panda0"], context())
        assert len(writer) == 12 + 2 and writer.counters.frames == 0
        packets = parse_all(writer)
        assert writer.counters.frames == 12 and writer.fast_path == ""
    start, end = packets[0], packets[-1]
    assert isinstance(start, PositionCapStart) and isinstance(end, PositionCapEnd)
    assert start.arm_time == datetime(2024, 10, 30, 10, 32, 7, 97000)  # the file's mtime
    for k, row in enumerate(packets[1:-1]):
        assert isinstance(row, PositionCapValues)
        assert list(row.fields) == ["FMC_IN.VAL1.Max", "INENC2.VAL.Mean", "PCAP.TS_START.Value"]
        for dataset in expected:
            name = dataset.replace("_Mean", ".Mean").replace("_Value", ".Value")
            field = row.fields[name.replace("_Max", ".Max")]
            assert field.type == "double"
            assert same(field.value, expected[dataset][k]), (name, k)


def test_messages_as_the_tcp_ingester_delivers_them(contrast_panda: Path) -> None:
    with h5py.File(contrast_panda, "r") as f:
        msgs = messages(pcap_raw.open_writer(f["/entry/measurement/panda0"], context()), "PCAP_RAW")
    assert msgs[0].frames == [
        b"arm_time: 2024-10-30T10:32:07.097Z\nmissed: 0\nprocess: Scaled\nformat: ASCII\nfields:\n"
        b" FMC_IN.VAL1 double Max scale: 1 offset: 0 units: \n"
        b" INENC2.VAL double Mean scale: 1 offset: 0 units: \n"
        b" PCAP.TS_START double Value scale: 1 offset: 0 units: \n\n"
    ]
    assert msgs[1].frames == [b" -1.0 0.1 0.0\n"]
    assert msgs[3].frames == [b" -0.6363636363636364 -0.0 0.2\n"]
    assert msgs[-1].frames == [b"END 12 Disarmed\n"]
    assert all(len(m.frames) == 1 for m in msgs)


def test_pandablocks_client_file(tmp_path: Path) -> None:
    path = tmp_path / "panda.h5"
    with h5py.File(path, "w") as f:
        f.attrs["arm_time"] = "2024-03-05T20:27:12.607Z"
        f["INENC1.VAL.Mean"] = np.array([1.5, -2.25, 3.0])
        f["PCAP.BITS0.Value"] = np.array([0, 7, 2**32 - 1], np.uint32)
        f["COUNTER1.OUT.Diff"] = np.array([-5, 0, 2**31 - 1], np.int32)
        f["PCAP.GATE_DURATION.Value"] = np.array([1, 2, 3], np.uint8)
    with h5py.File(path, "r") as f:
        packets = parse_all(pcap_raw.open_writer(f["/"], context()))
    assert packets[0].arm_time == datetime(2024, 3, 5, 20, 27, 12, 607000)
    last = packets[3].fields
    assert (last["PCAP.BITS0.Value"].type, last["PCAP.BITS0.Value"].value) == ("uint32", 2**32 - 1)
    assert (last["COUNTER1.OUT.Diff"].type, last["COUNTER1.OUT.Diff"].value) == (
        "double",
        2**31 - 1,
    )
    assert last["PCAP.GATE_DURATION.Value"].value == 3 and last["INENC1.VAL.Mean"].value == 3.0
    assert isinstance(packets[-1], PositionCapEnd)


def test_rows_across_blocks_and_a_selection(tmp_path: Path) -> None:
    path = tmp_path / "big.h5"
    values = np.random.default_rng(3).standard_normal(5000) * 1e5
    with h5py.File(path, "w") as f:
        f["X.Y_Value"] = values
        f["X.Z_Value"] = np.arange(5000, dtype=np.uint32)
    with h5py.File(path, "r") as f:
        packets = parse_all(pcap_raw.open_writer(f["/"], context()))
        assert [p.fields["X.Y.Value"].value for p in packets[1:-1]] == values.tolist()
        assert [p.fields["X.Z.Value"].value for p in packets[1:-1]] == list(range(5000))
        chosen = parse_all(pcap_raw.open_writer(f["/"], context(points=slice(4090, 4200, 7))))
        assert [p.fields["X.Z.Value"].value for p in chosen[1:-1]] == list(range(4090, 4200, 7))
        backwards = parse_all(pcap_raw.open_writer(f["/"], context(points=slice(None, None, -1))))
        assert backwards[1].fields["X.Z.Value"].value == 4999


BAD = {
    "names that do not parse": (
        {"INENC2.VAL_Mean": np.zeros(3), "x": np.zeros(3), "FOO": np.zeros(3)},
        "not a PandA group: names that are not PandA fields (BLOCK.FIELD_Capture): FOO, x",
    ),
    "different lengths": (
        {"A.B_Value": np.zeros(3), "A.C_Value": np.zeros(4)},
        "fields of different lengths: 3 in A.B.Value, 4 in A.C.Value",
    ),
    "2-D field": ({"A.B_Value": np.zeros((3, 2))}, "A.B_Value is (3, 2) float64, not one number"),
    "strings": (
        {"A.B_Value": np.array([b"x"])},
        "A.B_Value is (1,) string, not one number per point",
    ),
    "long double": (
        {"A.B_Value": np.zeros(3, np.longdouble)},
        "A.B_Value is (3,) 80-bit extended float (long double), not one number per point",
    ),
    "uint64 too big": (
        {"A.B_Value": np.array([1, 2**32], np.uint64)},
        "/entry/p/A.B_Value row 1: value 4294967296 does not fit uint32",
    ),
    "int64 not exact": (
        {"A.B_Value": np.array([0, -(2**53) - 1], np.int64)},
        "/entry/p/A.B_Value row 1: value -9007199254740993 is not exact as a double",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_groups_are_named(tmp_path: Path, case: str) -> None:
    datasets, expected = BAD[case]
    path = tmp_path / "p.h5"
    with h5py.File(path, "w") as f:
        for name, data in datasets.items():
            f[f"/entry/p/{name}"] = data
    with h5py.File(path, "r") as f, pytest.raises(H5ToCborsError) as err:
        list(pcap_raw.open_writer(f["/entry/p"], context()))
    assert expected in str(err.value)


def test_fits_and_bad_arm_time(tmp_path: Path) -> None:
    path = tmp_path / "p.h5"
    with h5py.File(path, "w") as f:
        f["/entry/p/A.B_Value"] = np.zeros(2)
        f["/entry/p"].attrs["arm_time"] = "yesterday"
        f.create_group("/entry/empty")
    with h5py.File(path, "r") as f:
        assert pcap_raw.fits(f["/entry/p"]) is None
        assert pcap_raw.fits(f["/entry/empty"]) == "no datasets"
        assert pcap_raw.fits(f["/entry/p/A.B_Value"]) == "a dataset, not a group of PandA fields"
        with pytest.raises(H5ToCborsError, match=r"arm_time 'yesterday' of .* is not an ISO 8601"):
            pcap_raw.open_writer(f["/entry/p"], context())


def test_inspector_reads_what_the_writer_wrote(contrast_panda: Path) -> None:
    with h5py.File(contrast_panda, "r") as f:
        writer = pcap_raw.open_writer(f["/entry/measurement/panda0"], context())
        frames = [m.frames for m in messages(writer, "PCAP_RAW")]
    check, problems = inspect_frames(
        pcap_raw.PcapRawInspector, "PCAP_RAW", "panda0", frames + frames
    )  # two arms with the same fields
    assert problems == []
    assert (check.frames, check.arms) == (24, 2)
    assert check.fields == [
        "FMC_IN.VAL1.Max double",
        "INENC2.VAL.Mean double",
        "PCAP.TS_START.Value double",
    ]
    assert describe_frames("PCAP_RAW", frames[0]).startswith(
        "header arm_time=2024-10-30T10:32:07.097Z fields=3 ["
    )
    assert describe_frames("PCAP_RAW", frames[1]).startswith("row 3 values [")
    assert describe_frames("PCAP_RAW", frames[-1]).startswith("END 12 Disarmed [")


def test_inspector_names_what_is_wrong() -> None:
    header = (
        b"arm_time: 2024-10-30T10:32:07.097Z\nfields:\n A.B double Value\n C.D uint32 Value\n\n"
    )
    other = b"arm_time: 2024-10-30T10:32:07.097Z\nfields:\n A.B double Value\n\n"
    rows = [b" 1.5 2\n", b" 1.5\n", b" 1.5 x\n", b"END 5 Disarmed\n"]
    frames = [
        [b" 1 2\n"],
        [header],
        *([r] for r in rows),
        [other],
        [b"END 0 Disarmed\n"],
        [b"\xff"],
    ]
    _, problems = inspect_frames(pcap_raw.PcapRawInspector, "PCAP_RAW", "panda0", frames)
    assert problems == [
        "panda0: first message (event 0) is row, not header",
        "panda0: row at event 0 outside an arm",
        "panda0: header at event 1 is not the first message",
        "panda0: row at event 3 has 1 values for 2 fields",
        "panda0: row at event 4: 'x' is not a C.D.Value uint32",
        "panda0: END at event 5 says 5 rows, the arm had 3",
        "panda0: arm at event 6 has other fields than the first (PositioncapParser keeps the "
        "first ones)",
        "panda0: END at event 7 is not the last message (unparsable at event 8 follows)",
        "panda0: event 8 is not one ASCII frame",
    ]
