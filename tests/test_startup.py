"""Start-up: the console script imports only what a command uses (speed is `make bench`'s)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bitshuffle
import h5py
import hdf5plugin
import numpy as np
import pytest

from .conftest import read_capture, run_cli

HEAVY = ("numpy", "h5py", "hdf5plugin", "bitshuffle", "cbor2", "dranspose", "pydantic")
"""What converting needs and printing help or the version does not."""


def imported_modules(stderr: str) -> set[str]:
    """Every module, dotted name in full, that `-X importtime` (PYTHONPROFILEIMPORTTIME)
    reports on stderr."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


def imported(stderr: str) -> set[str]:
    """The top-level packages `-X importtime` reports on stderr."""
    return {name.split(".")[0] for name in imported_modules(stderr)}


def python(code: str) -> str:
    """What `code` prints, run in a fresh interpreter (which must succeed)."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


COMMANDS = ("convert", "ls", "inspect", "verify")
HELP = [["--version"], ["--help"], []] + [[c, "--help"] for c in COMMANDS]


@pytest.mark.parametrize("args", HELP)
def test_help_and_version_import_no_heavy_package(args: list[str]) -> None:
    result = run_cli(*args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode in (0, 2), result.stderr[-2000:]
    names = imported(result.stderr)
    assert "h5tocbors" in names and "typer" in names  # the report is read right
    assert not names & set(HEAVY), sorted(names & set(HEAVY))


def test_package_names_load_on_first_use() -> None:
    code = (
        "import sys, h5tocbors\n"
        "assert 'numpy' not in sys.modules and 'h5py' not in sys.modules\n"
        "from h5tocbors import ReplaySource, convert, H5ToCborsError, iter_messages\n"
        "assert ReplaySource.__module__ == 'h5tocbors.core.replay'\n"
        "assert callable(convert) and 'convert' in dir(h5tocbors)\n"
        "assert all(hasattr(h5tocbors, name) for name in h5tocbors.__all__)\n"
        "try:\n    h5tocbors.nothing\nexcept AttributeError as e:\n    print(e)\n"
    )
    assert python(code) == "module 'h5tocbors' has no attribute 'nothing'\n"


LAYOUTS_AND_OTHER_PROTOCOLS = (
    "h5tocbors.protocols.contrast",
    "h5tocbors.protocols.xspress",
    "h5tocbors.protocols.pcap_raw",
    "h5tocbors.protocols.sardana",
    "h5tocbors.scan.config",
    "h5tocbors.scan.master",
    "h5tocbors.scan.nxscan",
    "tomllib",
    "zstandard",
    "deflate",
    "concurrent.futures",
    "tempfile",
    "cbor2",
)
"""What converting one image stream by name has no use for: other protocols' modules, the
scan layouts, the config reader, decoders of chunks it passes through, thread pools, cbor2
(captures are encoded by h5tocbors itself)."""


def test_passthrough_imports_only_what_it_uses(tmp_path: Path) -> None:
    """Bitshuffle-LZ4 chunks passed through are never decoded by HDF5: hdf5plugin, which
    loads a dozen plugin libraries, is not imported; nor is anything in
    `LAYOUTS_AND_OTHER_PROTOCOLS`."""
    frames = np.arange(3 * 16 * 16, dtype=np.uint32).reshape(3, 16, 16)
    src = tmp_path / "in.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("d", data=frames, chunks=(1, 16, 16), **hdf5plugin.Bitshuffle())
    out = tmp_path / "out"
    result = run_cli(
        "convert",
        str(src),
        "--stream",
        "d=/d",
        "-o",
        str(out),
        "--quiet",
        env={"PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "numpy" in imported(result.stderr)  # the report is read right
    assert "hdf5plugin" not in imported(result.stderr)
    modules = imported_modules(result.stderr)
    assert "h5tocbors.protocols.stins" in modules
    assert not modules & set(LAYOUTS_AND_OTHER_PROTOCOLS), sorted(
        modules & set(LAYOUTS_AND_OTHER_PROTOCOLS)
    )
    assert [m.streams["d"].frames[1] for m in read_capture(out / "d.cbors")[1:-1]] == [
        bitshuffle.compress_lz4(frame).tobytes() for frame in frames
    ]


def test_stream_help_names_every_protocol() -> None:
    """`--stream`'s help lists the spellings by hand (the registry would import numpy)."""
    from h5tocbors.commands.options import Streams
    from h5tocbors.protocols.registry import NAMES

    listed = Streams.__metadata__[0].help.split("(", 1)[1].split(")", 1)[0]
    assert set(listed.split(", ")) == set(NAMES), listed


def test_garbage_collector_comes_back_on_once_started_up() -> None:
    """The console script starts with the collector off; a command turns it back on (with
    the start-up's objects frozen) before its work; where it was on, nothing changes."""
    code = (
        "import gc\n"
        "from h5tocbors.commands.reporting import started_up\n"
        "started_up(); print(gc.isenabled(), gc.get_freeze_count() == 0)\n"
        "gc.disable(); started_up(); print(gc.isenabled(), gc.get_freeze_count() > 0)\n"
    )
    assert python(code) == "True True\nTrue True\n"
