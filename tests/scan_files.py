"""Scan files for the tests: the sample contrast fly scan, and variations of it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from .conftest import REPO


def make_scan_module() -> ModuleType:
    """`sample_data/make_scan.py`, the script that writes the sample contrast scan."""
    spec = importlib.util.spec_from_file_location("make_scan", REPO / "sample_data/make_scan.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE_SCAN = make_scan_module()
POINTS = MAKE_SCAN.POINTS
LINES = MAKE_SCAN.LINES
PER_LINE = MAKE_SCAN.POINTS_PER_LINE
MASTER = "000008.h5"
XSPRESS3 = "scan_000008_xspress3.hdf5"
PILATUS = "scan_000008_pilatus.hdf5"


def write_scan(directory: Path) -> Path:
    """The sample fly scan (2 lines of 10 points) in `directory`; returns its master file."""
    MAKE_SCAN.main(str(directory))
    return directory / MASTER


def write_xspress3(path: Path, frames: int, channels: int = 2, bins: int = 64) -> Path:
    """A small xspress3 file as the streamer writes it: `data` and the eight meta datasets."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(frames)
    with h5py.File(path, "w") as f:
        group = f.create_group("entry/instrument/xspress3")
        group["data"] = rng.poisson(3.0, (frames, channels, bins)).astype(np.uint32)
        for name, dtype in MAKE_SCAN.META.items():
            group[name] = rng.integers(1, 1000, (frames, channels)).astype(dtype)
    return path


def write_step_scan(directory: Path, steps: int = 5, frames: int | None = None) -> Path:
    """A contrast step scan (`ascan`): scalars per step and a linked xspress3 with `frames`."""
    import h5py

    directory.mkdir(parents=True, exist_ok=True)
    xspress3 = write_xspress3(directory / "scan_000003_xspress3.hdf5", frames or steps)
    master = directory / "000003.h5"
    with h5py.File(master, "w") as fp:
        MAKE_SCAN.record(fp, {"snapshots/pre_scan/": {"sx": 0.0, "energy": 9000.0}}, "entry/")
        MAKE_SCAN.record(fp, {"description": f"ascan sx 0 1 {steps - 1} 0.1"}, "entry/")
        for j in range(steps):
            link = h5py.ExternalLink(str(xspress3), "/entry/instrument/xspress3")
            MAKE_SCAN.record(
                fp, {"sx": j * 0.25, "det1": float(j * j), "xspress3": link, "dt": 0.1 + j}
            )
        MAKE_SCAN.record(fp, {"snapshots/post_scan/": {"sx": 1.0, "energy": 9000.0}}, "entry/")
    return master


def write_fly_scan(directory: Path, lines: int = 11, per_line: int = 101) -> Path:
    """A contrast fly scan at NanoMAX scan 8's sizes (11 lines of 101 points): PandA values
    per point, an xspress3 file, and a Pilatus linked but never written (as published)."""
    import h5py
    import numpy as np

    directory.mkdir(parents=True, exist_ok=True)
    xspress3 = write_xspress3(directory / XSPRESS3, lines * per_line)
    master = directory / MASTER
    with h5py.File(master, "w") as fp:
        MAKE_SCAN.record(fp, {"snapshots/pre_scan/": {"sx": 0.0, "energy": 9000.0}}, "entry/")
        MAKE_SCAN.record(fp, {"description": f"npointflyscan {lines}x{per_line}"}, "entry/")
        for line in range(lines):
            x = np.linspace(0.0, 1.0, per_line) + line
            entry = {
                "sy": float(line),
                "dt": 0.5 + line,
                "panda0": {"INENC2.VAL_Mean": x, "PCAP.TS_TRIG_Value": x * 0.01},
                "xspress3": h5py.ExternalLink(str(xspress3), "/entry/instrument/xspress3"),
                "pilatus": {
                    "frames": h5py.ExternalLink(str(directory / PILATUS), "/entry/data"),
                    "thumbs:": None,
                },
            }
            MAKE_SCAN.record(fp, entry)
        MAKE_SCAN.record(fp, {"snapshots/post_scan/": {"sx": 1.0, "energy": 9000.0}}, "entry/")
    return master
