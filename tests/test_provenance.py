"""Start messages record what a stream was made from, as extra fields dranspose's models
accept; `verify` then needs neither --stream nor --frames."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from dranspose.data.stream1 import Stream1Start
from dranspose.data.xspress3 import XspressStart
from dranspose.middlewares.stream1 import parse as parse_stins
from dranspose.middlewares.xspress import parse as parse_xspress

from h5tocbors import convert, iter_messages
from h5tocbors.protocols.provenance import Origin, frames_text, text
from h5tocbors.protocols.stins import start_header

from .conftest import Cli, read_capture
from .protocol_files import xspress_group


@pytest.mark.parametrize(
    "value", ["/data/visitors/2026/run 7/scan_ä.h5", 'q"uote\\', "esc\x1b]0;x\x07", "sep\u2028"]
)
def test_stins_start_with_origin_is_the_models_json(value: str) -> None:
    origin = Origin(value, "/entry/data", "0:300:2")
    ours = start_header(0, value, origin.fields())
    model = Stream1Start(msg_number=0, filename=value, h5tocbors=origin.fields()["h5tocbors"])
    assert ours == model.model_dump_json().encode()


def test_file_names_that_are_not_utf8_are_recorded_replaced() -> None:
    assert text("/data/run\udcff.h5") == "/data/run\ufffd.h5"
    assert text("/data/\ud800") == "/data/?"
    assert json.loads(start_header(0, "", Origin.of("r\udcff.h5", "d", range(2)).fields()))


@pytest.mark.parametrize(
    "indices", [range(0, 20), range(5, 20, 10), range(19, -1, -1), range(7, 1, -3), range(4, 5)]
)
def test_recorded_frames_select_the_same_frames(indices: range) -> None:
    assert range(20)[Origin("f", "/d", frames_text(indices)).selection] == indices


@pytest.mark.parametrize(
    "record",
    [
        None,
        "f.h5",
        {"input": "f.h5", "path": "/d"},
        {"input": "f.h5", "path": "/d", "frames": "0:5:0"},
        {"input": "f.h5", "path": "/d", "frames": "__import__('os')"},
        {"input": "f.h5", "path": "d", "frames": "0:5"},
        {"input": 5, "path": "/d", "frames": "0:5"},
        {"input": "x" * 5000, "path": "/d", "frames": "0:5"},
        {"input": "f.h5", "path": "/d", "frames": "0:5", "axes": "XYZ"},
        {"input": "f.h5", "path": "/d", "frames": "0:5", "axes": "hwn"},
        {"input": "", "path": "/d", "frames": "0:5"},
    ],
)
def test_a_malformed_record_is_no_origin(record: object) -> None:
    assert Origin.from_header({"htype": "header", "h5tocbors": record}) is None


def test_stins_capture_records_its_origin(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "run.h5"
    with h5py.File(src, "w") as f:
        f["/entry/instrument/pilatus/data"] = np.zeros((6, 4, 5), np.uint16)
    convert(src, ["pilatus"], tmp_path / "out", frames=slice(1, 5))
    start = read_capture(tmp_path / "out" / "pilatus.cbors")[0].streams["pilatus"]
    parsed = parse_stins(start)
    assert isinstance(parsed, Stream1Start)
    record = parsed.h5tocbors  # type: ignore[attr-defined]
    path = "/entry/instrument/pilatus/data"
    assert record == {"input": str(src), "path": path, "frames": "1:5", "axes": "NHW"}
    code, out, _ = cli("inspect", tmp_path / "out" / "pilatus.cbors")
    assert code == 0 and f"    made from {src} {path} frames 1:5 axes NHW\n" in out
    first = next(iter_messages(src, "pilatus", "/entry/instrument/pilatus/data"))
    assert json.loads(first.streams["pilatus"].frames[0])["h5tocbors"]["frames"] == "0:6"


def test_verify_takes_the_recorded_axes(cli: Cli, tmp_path: Path) -> None:
    """A stack stored (H, W, N), converted with --axes HWN, verifies with no options."""
    src = tmp_path / "velox.h5"
    with h5py.File(src, "w") as f:
        f["/data/stack"] = np.arange(24 * 40 * 5, dtype=np.uint16).reshape(24, 40, 5)
    code, _, err = cli("convert", src, "-s", "haadf=/data/stack", "--axes", "HWN", "-o", tmp_path)
    assert (code, err) == (0, "")
    capture = tmp_path / "haadf.cbors"
    code, out, err = cli("verify", src, capture)
    assert (code, err) == (0, "") and "5 frames identical to /data/stack" in out
    code, _, err = cli("verify", src, capture, "--axes", "NHW")  # given axes win
    assert code == 1 and "frame 0 is [24, 40] uint16, source is [40, 5] uint16" in err


def test_xspress_start_records_its_origin_and_verifies_alone(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "scan_xspress3.hdf5"
    with h5py.File(src, "w") as f:
        xspress_group(f, frames=6)
    convert(src, {"xspress3": "/entry/instrument/xspress3"}, tmp_path / "out", frames=slice(2, 6))
    capture = tmp_path / "out" / "xspress3.cbors"
    start = read_capture(capture)[0].streams["xspress3"]
    record = {"input": str(src), "path": "/entry/instrument/xspress3", "frames": "2:6"}
    model = XspressStart(filename=str(src), overwritable=False, h5tocbors=record)
    assert start.frames[0] == model.model_dump_json().encode()
    code, out, err = cli("verify", src, capture)
    assert (code, err) == (0, "")
    assert out == f"{capture} xspress3: 6 messages identical to /entry/instrument/xspress3\n"
    assert isinstance(parse_xspress(start), XspressStart)  # prints what it parsed
