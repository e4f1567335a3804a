"""Ctrl-C and SIGTERM during a conversion: exit 130/143, no output and no temporary left."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from .conftest import BIN, run_cli

FRAMES = 2000  # far more than a test lets it convert: the signal always lands mid-way
SHAPE = (512, 512)
DEADLINE = 60.0
"""Seconds to wait for the temporary to appear, and for the process to exit: a hang guard."""


@pytest.fixture(scope="module")
def long_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gzip stack of 2000 sparse 512x512 uint16 frames: seconds to convert, a small file.

    One compressed frame is written into every chunk directly, so the file is quick to make
    while reading it still decodes every chunk.
    """
    path = tmp_path_factory.mktemp("signals") / "long.h5"
    frame = np.random.default_rng(3).poisson(0.3, SHAPE).astype(np.uint16)  # sparse: small file
    chunk = zlib.compress(frame.tobytes(), 9)
    with h5py.File(path, "w") as f:
        dset = f.create_dataset(
            "/entry/det/data",
            shape=(FRAMES, *SHAPE),
            dtype=np.uint16,
            chunks=(1, *SHAPE),
            compression="gzip",
            compression_opts=1,
        )
        for i in range(FRAMES):
            dset.id.write_direct_chunk((i, 0, 0), chunk)
    return path


def default_sigint() -> None:
    """In the child: take Ctrl-C by default even if the test runner ignores SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(h5: Path, out: Path, *options: str) -> subprocess.Popen[str]:
    """Start `h5tocbors convert H5 --stream det -o OUT [options]` in a subprocess, in a
    process group of its own (the command runs in a child of `proc`: see `pause`)."""
    command = [str(BIN / "h5tocbors"), "convert", str(h5), "--stream", "det", "-o", str(out)]
    return subprocess.Popen(
        [*command, *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
        start_new_session=True,
    )


def pause(proc: subprocess.Popen[str]) -> None:
    """Stop a started conversion: its process group, as Ctrl-Z does (SIGSTOP cannot be passed
    on, and the work is done by a child of `proc`)."""
    os.killpg(proc.pid, signal.SIGSTOP)


def resume(proc: subprocess.Popen[str]) -> None:
    """Let a paused conversion go on."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGCONT)


def wait_for_temporary(
    proc: subprocess.Popen[str], out: Path, name: str, min_size: int = -1
) -> Path:
    """Poll until the temporary `.NAME.cbors.*.part` in `out` holds more than `min_size` bytes.

    Fails if the process exits first, or at the deadline.
    """
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stdout, stderr = proc.communicate()
            pytest.fail(f"exited with {proc.returncode} before writing: {stderr}{stdout}")
        if out.is_dir():
            for part in out.glob(f".{name}.cbors.*.part"):
                with contextlib.suppress(FileNotFoundError):
                    if part.stat().st_size > min_size:
                        return part
        time.sleep(0.01)
    proc.kill()
    proc.communicate()
    pytest.fail("no temporary output appeared")


@pytest.mark.parametrize(
    ("signum", "expected"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
    ids=["SIGINT", "SIGTERM"],
)
@pytest.mark.parametrize("min_size", [-1, 4 << 20], ids=["opened", "written"])
def test_signal_leaves_nothing(
    long_h5: Path, tmp_path: Path, signum: signal.Signals, expected: int, min_size: int
) -> None:
    """A signal mid-conversion removes the temporary, writes no capture, exits 128+signal.

    The signal comes as soon as the temporary exists, or once megabytes are written to it.
    """
    out = tmp_path / "out"
    proc = start(long_h5, out, "--compression", "bslz4")
    try:
        temporary = wait_for_temporary(proc, out, "det", min_size)
        assert proc.poll() is None
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == expected, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("h5tocbors: error: ")
    assert not temporary.exists()
    assert not (out / "det.cbors").exists()
    assert list(out.iterdir()) == []


def test_signal_keeps_existing_output(long_h5: Path, tmp_path: Path) -> None:
    """SIGTERM during a --force conversion leaves the capture it would have replaced."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "det.cbors").write_bytes(b"old capture")
    proc = start(long_h5, out, "--force")
    try:
        wait_for_temporary(proc, out, "det")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, stderr
    assert (out / "det.cbors").read_bytes() == b"old capture"
    assert [p.name for p in out.iterdir()] == ["det.cbors"]


def test_killed_command_leaves_no_orphan(long_h5: Path, tmp_path: Path) -> None:
    """The command runs in a child process (`commands.isolate`); SIGKILL to the process
    that was started (`scancel`, a job killed by its scheduler) takes the child with it."""
    proc = start(long_h5, tmp_path / "out")
    try:
        wait_for_temporary(proc, tmp_path / "out", "det")
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 1
        proc.kill()
        proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    child = Path(f"/proc/{children[0]}")
    deadline = time.monotonic() + DEADLINE
    while child.exists() and "zombie" not in status_of(child) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not child.exists() or "zombie" in status_of(child)


def status_of(proc: Path) -> str:
    """The state line of /proc/PID/status ("" once the process is gone)."""
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        return next(line for line in (proc / "status").read_text().splitlines() if "State" in line)
    return ""


def full_pipe() -> tuple[int, int]:
    """A pipe whose buffer is full: a write to its write end waits for a reader for ever."""
    read, write = os.pipe()
    os.set_blocking(write, False)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(write, b"x" * 4096)
    os.set_blocking(write, True)
    return read, write


def test_one_sigterm_ends_a_command_that_waits(tmp_path: Path) -> None:
    """A conversion whose stdout nobody reads waits in `write`: one SIGTERM only set the
    cancel flag, which nothing there checks, and the command waited for ever."""
    h5 = tmp_path / "in.h5"
    with h5py.File(h5, "w") as f:
        f["entry/det/data"] = np.zeros((4, 8, 8), np.uint16)
    read, write = full_pipe()
    command = [str(BIN / "h5tocbors"), "convert", str(h5), "-s", "det", "-o", str(tmp_path / "o")]
    proc = subprocess.Popen(
        [*command, "--json"], stdout=write, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    os.close(write)
    try:
        deadline = time.monotonic() + DEADLINE
        while not (tmp_path / "o/det.cbors").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=DEADLINE)
    finally:
        os.close(read)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 143, stderr
    assert stderr.startswith("h5tocbors: error: interrupted by SIGTERM"), stderr


def test_a_fifo_config_is_refused_at_once(tmp_path: Path) -> None:
    """`--config` naming a FIFO with no writer waited for one for ever."""
    fifo = tmp_path / "scan.toml"
    os.mkfifo(fifo)
    h5 = tmp_path / "in.h5"
    with h5py.File(h5, "w") as f:
        f["data"] = np.zeros((4, 8, 8), np.uint16)
    result = run_cli("convert", h5, "--config", fifo, "-o", tmp_path / "o", timeout=DEADLINE)
    assert result.returncode == 1, result.stderr
    expected = f"h5tocbors: error: config {fifo} is not a regular file (a pipe or a device?)\n"
    assert result.stderr == expected
