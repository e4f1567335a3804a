"""Commands run in a child process: a crash in HDF5 is one error line, exit 1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from h5tocbors.commands.isolate import PAUSED_SECONDS

from .conftest import run_cli

SEL_ALL, SEL_HYPERSLABS = 3, 2
RANK_AT = {1: 12, 2: 9, 3: 6}
"""Where the rank sits in a serialized hyperslab selection after its type, by its version
(after the version: v1 pad and length, v2 flags and length, v3 flags and size)."""


def vds_with_rank(folder: Path, high_byte: int) -> Path:
    """A virtual dataset whose mapping's hyperslab selection says rank 3 + high_byte << 24.

    HDF5 decodes the mapping (in the file's global heap: source file and dataset names,
    the source selection, then the virtual one) as it opens the dataset, and trusts the rank.
    """
    with h5py.File(folder / "src.h5", "w") as f:
        f["data"] = np.arange(4 * 6 * 10, dtype=np.uint16).reshape(4, 6, 10)
    layout = h5py.VirtualLayout(shape=(8, 6, 10), dtype=np.uint16)
    layout[0:4] = h5py.VirtualSource("src.h5", "data", shape=(4, 6, 10))
    path = folder / "vds.h5"
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("/entry/vds", layout, fillvalue=0)
    data = bytearray(path.read_bytes())
    names = data.index(b"src.h5\0data\0") + len(b"src.h5\0data\0")
    source = int.from_bytes(data[names : names + 4], "little")
    assert source == SEL_ALL, "the source selection of the whole dataset is 'all'"
    virtual = names + 16  # type, version and 8 reserved bytes of 'all'
    assert int.from_bytes(data[virtual : virtual + 4], "little") == SEL_HYPERSLABS
    version = int.from_bytes(data[virtual + 4 : virtual + 8], "little")
    rank = virtual + 4 + RANK_AT[version]
    assert int.from_bytes(data[rank : rank + 4], "little") == 3
    data[rank + 3] = high_byte
    path.write_bytes(bytes(data))
    return path


def test_hdf5_crash_is_one_line(tmp_path: Path) -> None:
    """A rank of 2**31 + 3 in a mapping overflows HDF5 2.0's stack as it opens the dataset
    (SIGSEGV): `ls` and `convert` end in one line naming the file and dataset, exit 1."""
    path = vds_with_rank(tmp_path, 0x80)
    for args in (["ls", path], ["convert", path, "-s", "v=/entry/vds", "-o", tmp_path / "out"]):
        result = run_cli(*args)
        lines = result.stderr.splitlines()
        assert result.returncode == 1, result.stderr
        assert len(lines) == 1 and lines[0].startswith("h5tocbors: error: "), result.stderr
        assert f"{path} at /entry/vds" in lines[0]
        assert "corrupt HDF5 metadata" in lines[0]
    assert not (tmp_path / "out").exists()


CHILD = """
import os, signal, sys
from h5tocbors import reading
from h5tocbors.commands.isolate import isolated
def command():
    reading.note("x.h5", "/entry/a")
    {action}
    return 0
os._exit(isolated(command))
"""


def isolated_run(action: str, stall: float | str = 60) -> subprocess.CompletedProcess[str]:
    """Run `action` as a command in `isolated`, in a Python of its own."""
    code = CHILD.format(action=action)
    env = os.environ | {"H5TOCBORS_STALL_SECONDS": str(stall)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("signum", ["SIGSEGV", "SIGBUS", "SIGABRT"])
def test_crash_names_what_was_read(signum: str) -> None:
    result = isolated_run(f"os.kill(os.getpid(), signal.{signum})")
    assert result.returncode == 1
    assert result.stderr == (
        f"h5tocbors: error: crashed ({signum}) reading x.h5 at /entry/a: "
        "corrupt HDF5 metadata that HDF5 does not check\n"
    )


PICKLE = (
    "reading.note('c.cbors', 'message 3 (event 2)', reading.CAPTURE); "
    "reading.note('x.h5', '/entry/b'); held = reading.unpickling(); held.__enter__(); "
)


def test_crash_in_a_pickle_names_the_capture_and_h5tocbors() -> None:
    """A crash as a capture's pickle was loaded blamed corrupt HDF5 metadata (of the HDF5
    file `verify` read last, or of "the input" in `inspect`)."""
    result = isolated_run(PICKLE + "os.kill(os.getpid(), signal.SIGSEGV)")
    assert (result.returncode, result.stderr) == (
        1,
        "h5tocbors: error: crashed (SIGSEGV) loading a pickle of c.cbors at message 3 (event 2): "
        "a bug in h5tocbors: its pickle loader does not check this pickle\n",
    )
    stalled = isolated_run(PICKLE + "import re; re.match(r'(a+)+$', 'a' * 64 + 'b')", stall=1)
    assert stalled.stderr.startswith(
        "h5tocbors: error: no progress for 1 s loading a pickle of c.cbors at message 3 (event 2): "
        "a bug in h5tocbors: its pickle loader loops on this pickle (stopped;"
    )


def test_crash_decoding_a_capture_names_its_message() -> None:
    """A crash as a capture's payload is decoded (bitshuffle, in `inspect`) names the capture's
    message and its decoder; once a pickle is loaded, what was read before it is named again."""
    segv = "os.kill(os.getpid(), signal.SIGSEGV)"
    result = isolated_run(PICKLE.split("; ")[0] + "; " + segv)
    assert (result.returncode, result.stderr) == (
        1,
        "h5tocbors: error: crashed (SIGSEGV) reading c.cbors at message 3 (event 2): "
        "a payload that its decoder does not check\n",
    )
    after = isolated_run(PICKLE + "held.__exit__(None, None, None); " + segv)
    assert after.stderr == (
        "h5tocbors: error: crashed (SIGSEGV) reading x.h5 at /entry/b: "
        "corrupt HDF5 metadata that HDF5 does not check\n"
    )


def test_exit_code_and_output_pass_through() -> None:
    result = isolated_run("print('hello', flush=True); sys.exit(3)")
    assert (result.returncode, result.stdout, result.stderr) == (3, "hello\n", "")


def test_long_work_is_not_a_stall() -> None:
    """Python code that runs (or waits) longer than the limit beats all along."""
    result = isolated_run("import time; time.sleep(2.5); sum(range(10**7))", stall=1)
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("value", ["soon", "0", "-5", "inf"])
def test_a_stall_limit_that_is_no_time_is_a_usage_error(value: str) -> None:
    result = isolated_run("pass", stall=value)
    assert result.returncode == 2
    assert result.stderr == (
        "h5tocbors: error: H5TOCBORS_STALL_SECONDS is not a positive number of seconds\n"
    )


def test_a_stopped_command_goes_on_after_it_is_continued() -> None:
    """Ctrl-Z stops both processes; after `fg` the parent does not count the pause as a stall."""
    code = CHILD.format(action="import time; time.sleep(3)")
    env = os.environ | {"H5TOCBORS_STALL_SECONDS": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGSTOP)
    time.sleep(PAUSED_SECONDS + 1)
    os.kill(proc.pid, signal.SIGCONT)  # the parent first: the child's last beat is 7 s old
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGCONT)
    _, stderr = proc.communicate(timeout=60)
    assert (proc.returncode, stderr) == (0, "")


def test_killed_child_kills_the_parent_alike() -> None:
    """SIGKILL by the out-of-memory killer looks as it did without a child: status -9."""
    result = isolated_run("os.kill(os.getpid(), signal.SIGKILL)")
    assert result.returncode == -9
    assert result.stderr == ""


def looping_heap(folder: Path) -> Path:
    """A detector group whose string `mode` is stored in the global heap with a size of 36
    bytes, not 4: HDF5 2.0 loops for ever as it loads the heap (first for the group's
    `NX_class` attribute, whose string is in the same heap)."""
    path = folder / "det.h5"
    with h5py.File(path, "w") as f:
        group = f.create_group("/entry/det")
        group.attrs["NX_class"] = "NXdetector"
        group["data"] = np.zeros((2, 6, 10), np.uint16)
        group["mode"] = "exts"
    data = bytearray(path.read_bytes())
    heap = data.index(b"GCOL")
    size = data.index(b"exts\0", heap) - 8  # the object's size precedes its data
    assert int.from_bytes(data[size : size + 8], "little") == 4
    data[size] = 36
    path.write_bytes(bytes(data))
    return path


def test_hdf5_loop_is_stopped(tmp_path: Path) -> None:
    """A command that makes no progress for H5TOCBORS_STALL_SECONDS (HDF5 looping inside one
    call, Python's lock held) is stopped: one line naming the file, exit 1, no output."""
    path = looping_heap(tmp_path)
    out = tmp_path / "out"
    result = run_cli(
        "convert", path, "-s", "d=/entry/det/data", "-o", out, env={"H5TOCBORS_STALL_SECONDS": "2"}
    )
    lines = result.stderr.splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1, result.stderr
    stopped = lines[0].startswith(f"h5tocbors: error: no progress for 2 s reading {path}")
    assert stopped or f"corrupt HDF5 metadata in {path}" in lines[0]  # an HDF5 that checks
    assert not (tmp_path / "out").exists()


def test_a_call_that_holds_the_lock_is_stopped() -> None:
    """The same without HDF5: a regular expression that backtracks for hours in one call."""
    result = isolated_run("import re; re.match(r'(a+)+$', 'a' * 64 + 'b')", stall=1)
    assert result.returncode == 1
    assert result.stderr == (
        "h5tocbors: error: no progress for 1 s reading x.h5 at /entry/a: corrupt HDF5 metadata "
        "that HDF5 loops on (stopped; H5TOCBORS_STALL_SECONDS sets the limit)\n"
    )
