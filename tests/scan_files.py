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
