"""The Sardana test files are what Sardana's NXscan recorder writes, beside their detectors."""

from __future__ import annotations

import sys
from pathlib import Path

import bitshuffle
import h5py
import numpy as np

from .conftest import REPO
from .sardana_files import (
    MAKE,
    write_burst_scan,
    write_continuous_scan,
    write_step_scan,
    write_two_entries,
    write_vds_scan,
)


def text(dataset: h5py.Dataset) -> str:
    return str(dataset.asstr()[()])


def test_step_scan_is_an_nxscan_entry_with_sanitized_names(tmp_path: Path) -> None:
    w = write_step_scan(tmp_path)
    with h5py.File(w.master, "r") as f:
        assert f.attrs["NX_class"] == "NXroot"
        assert f.attrs["creator"] == "NXscanH5_FileRecorder"
        assert f.attrs["file_name"] == w.recorded
        assert w.recorded.startswith("/data/visitors/balder/")
        entry = f[w.entry]
        assert entry.attrs["NX_class"] == "NXentry"
        assert text(entry["definition"]) == "NXscan"
        assert text(entry["program_name"]) == "sardana (NXscanH5_FileRecorder)"
        assert entry["program_name"].attrs["version"] == "3.7.1"
        assert text(entry["title"]) == "dscan xtal3_pit -0.5 0.5 10 0.1"
        assert text(entry["entry_identifier"]) == "21503"
        assert text(entry["macro_start_time"]) == "2024-10-24T16:56:47.123456"
        assert text(entry["start_time"]) == "2024-10-24T16:56:48.123456"
        assert text(entry["end_time"]) == "2024-10-24T16:56:56.523456"
        meas = entry["measurement"]
        assert set(meas) == {
            "Pt_No",  # "#Pt No"
            "xtal3_pit",
            "albaem01_ch3",  # "albaem-01_ch3"
            "_1D_mca",  # "1D mca"
            "eiger_xes",
            "dt",
            "pre_scan_snapshot",
        }
        assert list(meas["Pt_No"][()]) == list(range(11))
        assert np.array_equal(meas["xtal3_pit"][()], w.motors["xtal3_pit"])
        assert entry["XTAL3/xtal3_pit"] == meas["xtal3_pit"]  # the instrument's hard link
        assert np.array_equal(meas["albaem01_ch3"][()], w.channels["albaem01_ch3"])
        assert meas["_1D_mca"].shape == (11, 16)
        assert np.array_equal(meas["_1D_mca"][()], np.stack(w.channels["_1D_mca"]))
        assert np.array_equal(meas["dt"][()], w.dt)
        refs = list(meas["eiger_xes"].asstr()[()])
        assert refs == w.channels["eiger_xes"]
        assert refs[0].endswith("/scan-21503_eiger_xes.h5:entry/instrument/eiger_xes/")
        assert float(meas["pre_scan_snapshot/energy"][()]) == 9000.0
    assert any("Unsupported reference" in m for m in w.warnings)  # kept as strings
    assert "tango" not in sys.modules and "PyTango" not in sys.modules


def test_referenced_detector_is_a_streaming_receiver_file_beside_the_master(
    tmp_path: Path,
) -> None:
    w = write_step_scan(tmp_path, points=4)
    eiger = w.detectors["eiger_xes"]
    (path,) = eiger.files
    assert path.parent == w.master.parent
    assert not Path(w.channels["eiger_xes"][0].split(":")[0]).exists()
    with h5py.File(path, "r") as f:
        group = f[str(eiger.group)]
        assert group.attrs["NX_class"] == "NXdetector"
        data = group["data"]
        assert data.shape == (4, 48, 64) and data.chunks == (1, 48, 64)
        for k, frame in enumerate(eiger.frames):
            _, chunk = data.id.read_direct_chunk((k, 0, 0))
            assert chunk[12:] == bitshuffle.compress_lz4(frame).tobytes()
        assert np.array_equal(data[()], eiger.frames)
        assert group["ntrigger"][()] == 4 and eiger.settings["ntrigger"] == 4
        assert text(group["trigger_mode"]) == "exts"


def test_a_stopped_scan_holds_the_points_done(tmp_path: Path) -> None:
    w = write_step_scan(tmp_path, points=11, done=7)
    assert w.points == 7 and w.title == "dscan xtal3_pit -0.5 0.5 10 0.1"
    with h5py.File(w.master, "r") as f:
        meas = f[w.entry]["measurement"]
        assert {len(meas[name]) for name in meas if name != "pre_scan_snapshot"} == {7}
    assert len(w.detectors["eiger_xes"].frames) == 7


def test_continuous_scan_records_every_point_in_order(tmp_path: Path) -> None:
    w = write_continuous_scan(tmp_path)
    assert w.points == 101 and w.title == "ascanct tom_ry 0.0 180.0 100 0.1 0.0"
    with h5py.File(w.master, "r") as f:
        meas = f[w.entry]["measurement"]
        assert set(meas) == {"Pt_No", "tom_ry", "orca", "albaem01_ch4", "dt", "pre_scan_snapshot"}
        assert list(meas["Pt_No"][()]) == list(range(101))
        assert np.array_equal(meas["tom_ry"][()], w.motors["tom_ry"])
        assert np.array_equal(meas["albaem01_ch4"][()], w.channels["albaem01_ch4"])
        assert list(meas["orca"].asstr()[()]) == w.channels["orca"]
    assert w.detectors["orca"].frames.shape == (101, 12, 16)


def test_burst_scan_has_frames_per_point(tmp_path: Path) -> None:
    w = write_burst_scan(tmp_path)
    assert (w.points, w.frames_per_point) == (5, 6)
    with h5py.File(w.master, "r") as f:
        meas = f[w.entry]["measurement"]
        assert meas["pcap"].shape == (5, 6)
        assert text(f[w.entry]["title"]) == "burstscan dummy_mot_01 1.0 2.0 4 6"
        assert list(meas["pilatus"].asstr()[()]) == w.channels["pilatus"]
    with h5py.File(w.detectors["pilatus"].files[0], "r") as f:
        assert f["entry/instrument/pilatus/data"].shape == (30, 10, 14)


def test_two_scans_are_two_entries_of_one_file(tmp_path: Path) -> None:
    first, second = write_two_entries(tmp_path)
    assert first.master == second.master
    with h5py.File(first.master, "r") as f:
        assert sorted(f) == ["entry7", "entry8"]
        assert len(f["entry7/measurement/ct01"]) == 5
        assert len(f["entry8/measurement/ct01"]) == 6
        assert "pilatus" not in f["entry7/measurement"]
        assert text(f["entry8/title"]) == "dscan m2 -1 1 5 0.1"


def test_h5file_references_become_a_vds_with_the_recorded_absolute_sources(
    tmp_path: Path,
) -> None:
    w = write_vds_scan(tmp_path)
    twod = w.detectors["twod"]
    with h5py.File(w.master, "r") as f:
        column = f[w.entry]["measurement/twod"]
        assert column.is_virtual and column.shape == (6, 6, 9)
        assert "_twod" not in f[w.entry]["measurement"]  # the strings are replaced
        sources = [(s.file_name, s.dset_name) for s in column.virtual_sources()]
        assert sources == [
            (f"///data/visitors/alba/2025/raw/{p.name}", "dataset") for p in twod.files
        ]
        # HDF5 finds the absent absolute sources beside the master
        assert np.array_equal(column[()], twod.frames)


def datasets(path: Path) -> dict[str, object]:
    """Every dataset of a file, by name, as Python values (VDS and links read through)."""
    out: dict[str, object] = {}

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            out[name] = np.asarray(obj[()]).tolist()

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def test_the_sample_is_what_make_sardana_writes(tmp_path: Path) -> None:
    sample = REPO / "sample_data/sardana"
    MAKE.main(str(tmp_path))
    names = sorted(p.name for p in sample.iterdir())
    assert names == sorted(p.name for p in tmp_path.iterdir())
    assert names == ["2024102408.h5", "scan-21503_eiger_xes.h5"]
    assert sum(p.stat().st_size for p in sample.iterdir()) < 1_000_000
    for name in names:
        assert datasets(sample / name) == datasets(tmp_path / name)
