"""STINS start messages carry the streaming-receiver's detector configuration as frame 2."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
from dranspose.data.stream1 import Stream1Data, Stream1Start
from dranspose.middlewares.stream1 import parse

from h5tocbors import convert
from h5tocbors.protocols import stins
from h5tocbors.protocols.metadata import collect_metadata
from h5tocbors.protocols.registry import inspector_for

from .conftest import read_capture
from .protocol_files import context, messages

CONFIG = {
    "count_time": 0.0099999,
    "countrate_correction_applied": True,
    "nimages": 3,
    "photon_energy": 12000.0,
    "threshold_energy": [6000.0, 9000.0],
    "trigger_mode": "exts",
    "detectorSpecific": {"frame_count_time": 0.01, "software_version": "1.8.0"},
}


def receiver_file(path: Path, nx_class: str | bytes = "NXdetector") -> Path:
    """A detector group as the streaming-receiver writes it: data, sequence_number, and the
    configuration frame as datasets (nested dicts as groups)."""
    with h5py.File(path, "w") as f:
        g = f.create_group("/entry/instrument/eiger")
        g.attrs["NX_class"] = nx_class
        g.create_dataset("data", data=np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5))
        g["sequence_number"] = np.arange(3, dtype=np.uint32)
        for key, value in CONFIG.items():
            if isinstance(value, dict):
                for k, v in value.items():
                    g[f"{key}/{k}"] = v
            else:
                g[key] = value
        g["flatfield"] = np.ones((40, 40), np.float32)  # data, not a setting
        g["detectorSpecific/pixel_mask"] = np.zeros((40, 40), np.uint32)
        g["elsewhere"] = h5py.ExternalLink("other.h5", "/x")
        g["alias"] = h5py.SoftLink("/entry/instrument/eiger/count_time")
    return path


def test_start_carries_the_configuration(tmp_path: Path) -> None:
    path = receiver_file(tmp_path / "eiger.h5")
    with h5py.File(path, "r") as f:
        msgs = messages(stins.open_writer(f["/entry/instrument/eiger/data"], context()), "STINS")
    assert len(msgs[0].frames) == 2
    assert json.loads(msgs[0].frames[1]) == CONFIG
    start = parse(msgs[0])
    assert isinstance(start, Stream1Start) and start.filename == ""
    assert isinstance(parse(msgs[1]), Stream1Data) and len(msgs[1].frames) == 2
    assert [len(m.frames) for m in msgs[1:]] == [2, 2, 2, 1]


def test_through_convert_and_dranspose_reader(tmp_path: Path) -> None:
    path = receiver_file(tmp_path / "eiger.h5", nx_class=b"NXdetector")
    convert(path, {"eiger": "/entry/instrument/eiger/data"}, tmp_path / "out")
    msgs = read_capture(tmp_path / "out" / "eiger.cbors")
    frames = msgs[0].streams["eiger"].frames
    assert json.loads(frames[1]) == CONFIG
    check = inspector_for("STINS", "eiger")
    assert check is not None
    for m in msgs:
        check.add(m.event_number, m.streams["eiger"].frames)
    assert check.finish().report() == []


def test_settings_without_a_json_form_are_left_out(tmp_path: Path) -> None:
    """A long double (float128) setting has no JSON form: it was "unexpected TypeError"
    (found by the fuzz, `test_fuzz.py`)."""
    path = receiver_file(tmp_path / "eiger.h5")
    with h5py.File(path, "a") as f:
        f["/entry/instrument/eiger/gain"] = np.longdouble(1.5)
    convert(path, {"eiger": "/entry/instrument/eiger/data"}, tmp_path / "out")
    frames = read_capture(tmp_path / "out" / "eiger.cbors")[0].streams["eiger"].frames
    assert json.loads(frames[1]) == CONFIG


def test_other_groups_keep_a_one_frame_start(tmp_path: Path) -> None:
    path = receiver_file(tmp_path / "plain.h5", nx_class="NXdata")
    with h5py.File(path, "a") as f:
        f["/entry/instrument/bare/data"] = np.zeros((2, 3, 3))
        f["/entry/instrument/bare"].attrs["NX_class"] = "NXdetector"
    with h5py.File(path, "r") as f:
        for source in ("/entry/instrument/eiger/data", "/entry/instrument/bare/data"):
            msgs = messages(stins.open_writer(f[source], context()), "STINS")
            assert len(msgs[0].frames) == 1, source


def test_collect_metadata_for_eiger_master_layout(tmp_path: Path) -> None:
    path = tmp_path / "master.h5"
    with h5py.File(path, "w") as f:
        d = f.create_group("/entry/instrument/detector")
        d["count_time"] = 0.1
        d["description"] = np.bytes_(b"Dectris EIGER2 CdTe 9M")
        d["x_pixels_in_detector"] = np.int32(3108)
        d["detectorSpecific/nimages"] = np.uint32(20)
        d["detectorSpecific/data_collection_date"] = "2024-03-12T15:29:58.142+01:00"
        d["detectorSpecific/countrate_correction_table"] = np.zeros((2, 1001), np.float32)
        d["pair"] = np.zeros(1, "i4,f8")
    with h5py.File(path, "r") as f:
        assert collect_metadata(f["/entry/instrument/detector"]) == {
            "count_time": 0.1,
            "description": "Dectris EIGER2 CdTe 9M",
            "detectorSpecific": {
                "data_collection_date": "2024-03-12T15:29:58.142+01:00",
                "nimages": 20,
            },
            "x_pixels_in_detector": 3108,
        }
