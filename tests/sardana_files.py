"""Sardana NXscan files for the tests, recorded by Sardana's own `NXscanH5_FileRecorder`.

Every master is written by Sardana 3.7.1's recorder (`sample_data/sardana_recorder.py` runs it
without Tango) into `directory`, with the root attribute `file_name` and every detector
reference naming the absolute folder where the scan was recorded (which does not exist here):
the detector files lie beside the master under the recorded file names. Each generator returns
a `Written`: what the scan holds, to assert against.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import h5py
import numpy as np

from .conftest import REPO


def make_sardana_module() -> ModuleType:
    """`sample_data/make_sardana.py`, the script that writes the sample Sardana scan."""
    path = REPO / "sample_data/make_sardana.py"
    spec = importlib.util.spec_from_file_location("make_sardana", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE = make_sardana_module()
RECORDER: Any = sys.modules["sardana_recorder"]
Channel, Motor, Scan = RECORDER.Channel, RECORDER.Motor, RECORDER.Scan
SAMPLE_POINTS = MAKE.POINTS


@dataclass
class Detector:
    """A referenced detector: its files (one, or one per point for a VDS column), the group of
    its images in them (None: the dataset a VDS column maps), its frames and settings."""

    files: list[Path]
    group: str | None
    frames: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Written:
    """What one scan entry holds. Channels are keyed by their dataset names (the labels as the
    recorder sanitizes them), with one value per point: numbers, 1-D arrays, or the reference
    strings recorded; `names` gives each channel's full name (its Tango URI)."""

    master: Path
    entry: str
    serialno: int
    title: str
    points: int
    recorded: str
    motors: dict[str, np.ndarray]
    channels: dict[str, list[Any]]
    names: dict[str, str]
    dt: np.ndarray
    detectors: dict[str, Detector]
    frames_per_point: int = 1
    warnings: list[str] = field(default_factory=list)


def dataset_name(label: str) -> str:
    """The dataset name the recorder gives a column labelled `label` (its `sanitizeName`)."""
    _, h5storage = RECORDER.load()
    return str(h5storage.NXscanH5_FileRecorder.sanitizeName(None, label))


def record(
    master: Path, scan: Any, folder: str, detectors: dict[str, Detector], per_point: int = 1
) -> Written:
    """Record `scan` into `master` with Sardana's recorder, recorded as `folder/<master name>`."""
    recorded = f"{folder}/{master.name}"
    warnings = RECORDER.record_scan(master, scan, recorded=recorded)
    return Written(
        master=master,
        entry=f"entry{scan.serialno}",
        serialno=scan.serialno,
        title=scan.title,
        points=len(scan.records),
        recorded=recorded,
        motors={m.name: np.array([r[m.name] for r in scan.records]) for m in scan.motors},
        channels={
            dataset_name(ch.label): [r[ch.name] for r in scan.records] for ch in scan.channels
        },
        names={dataset_name(ch.label): ch.name for ch in scan.channels},
        dt=np.array([r["dt"] for r in scan.records]),
        detectors=detectors,
        frames_per_point=per_point,
        warnings=warnings,
    )


def write_step_scan(directory: Path, points: int = 11, done: int | None = None) -> Written:
    """A Balder `dscan` of `points` points: motor `xtal3_pit` (instrument `/XTAL3`), a scalar
    counter (`albaem01_ch3`), a 1-D channel (`_1D_mca`, 16 values) and the Eiger as a
    value-referenced channel (`eiger_xes`) naming `scan-21503_eiger_xes.h5`, a
    streaming-receiver file of one frame per point. With `done`, the scan was stopped after
    `done` points: the title still says `points`, the columns and the Eiger hold `done`."""
    directory.mkdir(parents=True, exist_ok=True)
    scan, master, frames = MAKE.step_scan(directory, points, done)
    eiger = Detector(
        [directory / f"scan-{MAKE.SERIALNO}_eiger_xes.h5"],
        "/entry/instrument/eiger_xes",
        frames,
        dict(MAKE.eiger_settings(points)),
    )
    return record(master, scan, MAKE.RECORDED, {"eiger_xes": eiger})


def write_continuous_scan(directory: Path, points: int = 101) -> Written:
    """A DanMAX `ascanct` of `points` points (`points - 1` intervals), its values handed to the
    recorder in blocks of 10 as a continuous scan does: motor `tom_ry`, a scalar counter
    (`albaem01_ch4`) and the Orca (`orca`, uint16 frames) as a value-referenced channel."""
    directory.mkdir(parents=True, exist_ok=True)
    serialno, folder = 2536, "/data/visitors/danmax/20240915/2024102608/raw/test_scan"
    tango = "tango://b-v-danmax-csdb-0.maxiv.lu.se:10000/expchan"
    orca = f"scan-{serialno}_orca.h5"
    frames = MAKE.images(points, 12, 16, "uint16", seed=serialno)
    settings = {"exposure_time": 0.1, "trigger_mode": "EXTERNAL"}
    MAKE.write_receiver_file(directory / orca, "orca", frames, settings)
    rng = np.random.default_rng(serialno)
    angles = np.linspace(0.0, 180.0, points)
    channels = [
        Channel(f"{tango}/orca_ctrl/1", "orca", value_ref=True),
        Channel(f"{tango}/albaem_ctrl_01/4", "albaem-01_ch4"),
    ]
    records = [
        {
            "tom_ry": float(angles[k]),
            channels[0].name: f"{folder}/{orca}:entry/instrument/orca/",
            channels[1].name: float(rng.normal(-3e-12, 1e-13)),
            "dt": 0.39 + 0.13 * k,
        }
        for k in range(points)
    ]
    start = datetime(2024, 10, 28, 15, 2, 30, 500000)
    title = f"ascanct tom_ry 0.0 180.0 {points - 1} 0.1 0.0"
    motors = [Motor("tom_ry", 0.0, 180.0)]
    scan = Scan(serialno, title, motors, channels, records, start, 11, nb_points=points, block=10)
    detector = Detector([directory / orca], "/entry/instrument/orca", frames, settings)
    return record(directory / "test_scan.h5", scan, folder, {"orca": detector})


def write_burst_scan(directory: Path, intervals: int = 4, per_point: int = 6) -> Written:
    """A FemtoMAX `burstscan` of `intervals + 1` points with `per_point` Pilatus frames each:
    motor `dummy_mot_01`, a 1-D PandA channel (`pcap`, `per_point` values per point) and the
    Pilatus (`pilatus`) naming `scan-123374_pilatus.h5` (points x per_point frames)."""
    directory.mkdir(parents=True, exist_ok=True)
    serialno, folder = 123374, "/data/staff/femtomax/2024_autumn/drp-test"
    tango = "tango://b-v-femtomax-csdb-0.maxiv.lu.se:10000/expchan"
    points = intervals + 1
    pilatus = f"scan-{serialno}_pilatus.h5"
    frames = MAKE.images(points * per_point, 10, 14, seed=serialno)
    settings = {"energy": 12000.0, "threshold": 6000.0, "exptime": 0.001}
    MAKE.write_receiver_file(directory / pilatus, "pilatus", frames, settings)
    channels = [
        Channel(f"{tango}/pilatus_ctrl/1", "pilatus", value_ref=True),
        Channel(f"{tango}/panda_femtopcap_ctrl/4", "pcap", shape=(per_point,)),
    ]
    records = [
        {
            "dummy_mot_01": 1.0 + k / intervals,
            channels[0].name: f"{folder}/{pilatus}:/entry/instrument/pilatus",
            channels[1].name: np.ones(per_point),
            "dt": 2.1 + 1.02 * k,
        }
        for k in range(points)
    ]
    start = datetime(2024, 11, 21, 12, 21, 1, 250000)
    title = f"burstscan dummy_mot_01 1.0 2.0 {intervals} {per_point}"
    motors = [Motor("dummy_mot_01", 1.0, 2.0)]
    scan = Scan(serialno, title, motors, channels, records, start, 8, nb_points=points)
    detector = Detector([directory / pilatus], "/entry/instrument/pilatus", frames, settings)
    return record(directory / "scan.h5", scan, folder, {"pilatus": detector}, per_point)


def write_two_entries(directory: Path) -> list[Written]:
    """One NXscan file holding two scans, as Sardana appends every scan of a session to its
    file: `entry7` (`ascan m1 0 1 4 0.1`, 5 points, a scalar counter) and `entry8` (`dscan m2
    -1 1 5 0.1`, 6 points, the counter and a Pilatus naming `scan-8_pilatus.h5`)."""
    directory.mkdir(parents=True, exist_ok=True)
    folder, master = "/data/visitors/lab/2025/raw", directory / "session.h5"
    counter = Channel("tango://lab:10000/expchan/ct_ctrl/1", "ct01")
    pilatus = Channel("tango://lab:10000/expchan/pilatus_ctrl/1", "pilatus", value_ref=True)
    frames = MAKE.images(6, 8, 10, seed=8)
    settings = {"energy": 9000.0, "threshold": 4500.0, "exptime": 0.1}
    MAKE.write_receiver_file(directory / "scan-8_pilatus.h5", "pilatus", frames, settings)
    start = datetime(2025, 3, 4, 10, 0, 0)
    written = []
    for serialno, motor, lo, hi, points in ((7, "m1", 0.0, 1.0, 5), (8, "m2", -1.0, 1.0, 6)):
        channels = [counter] + ([pilatus] if serialno == 8 else [])
        records = []
        for k in range(points):
            row = {motor: lo + (hi - lo) * k / (points - 1), counter.name: 100.0 * serialno + k}
            if serialno == 8:
                row[pilatus.name] = f"{folder}/scan-8_pilatus.h5:entry/instrument/pilatus/"
            records.append(row | {"dt": 0.2 * (k + 1)})
        title = f"{'ascan' if serialno == 7 else 'dscan'} {motor} {lo:g} {hi:g} {points - 1} 0.1"
        motors = [Motor(motor, lo, hi)]
        begin = start + timedelta(minutes=serialno)
        scan = Scan(serialno, title, motors, channels, records, begin, 5, nb_points=points)
        detectors = {}
        if serialno == 8:
            files = [directory / "scan-8_pilatus.h5"]
            detectors["pilatus"] = Detector(files, "/entry/instrument/pilatus", frames, settings)
        written.append(record(master, scan, folder, detectors))
    return written


def write_vds_scan(directory: Path, points: int = 6) -> Written:
    """An `ascan` whose 2-D channel (`twod`, Sardana's dummy 2-D controller's way) references
    one file per point as `h5file:///<recorded folder>/scan-31_twod_<k>.h5::dataset`: the
    recorder turns the column into a VDS whose source file names are those recorded absolute
    paths; the source files lie beside the master."""
    directory.mkdir(parents=True, exist_ok=True)
    serialno, folder = 31, "/data/visitors/alba/2025/raw"
    frames = MAKE.images(points, 6, 9, "float64", seed=serialno)
    files = [directory / f"scan-{serialno}_twod_{k}.h5" for k in range(points)]
    for path, frame in zip(files, frames, strict=True):  # as the dummy controller saves them
        with h5py.File(path, "w") as f:
            f.create_dataset("dataset", data=frame)
    twod = Channel("tango://lab:10000/expchan/twod_ctrl/1", "twod", shape=(6, 9), value_ref=True)
    counter = Channel("tango://lab:10000/expchan/ct_ctrl/1", "ct01")
    records = [
        {
            "sx": 0.2 * k,
            twod.name: f"h5file://{folder}/{path.name}::dataset",
            counter.name: float(k * k),
            "dt": 0.15 * (k + 1),
        }
        for k, path in enumerate(files)
    ]
    start = datetime(2025, 5, 6, 7, 8, 9)
    title = f"ascan sx 0.0 {0.2 * (points - 1):g} {points - 1} 0.1"
    motors = [Motor("sx", 0.0, 0.2 * (points - 1))]
    scan = Scan(serialno, title, motors, [counter, twod], records, start, 3, nb_points=points)
    return record(directory / "alba.h5", scan, folder, {"twod": Detector(files, None, frames)})
