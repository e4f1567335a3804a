"""How outputs are published: killed runs' temporaries removed, races lost cleanly, odd names."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from h5tocbors.buffers import FileRange
from h5tocbors.capture.temporary import create_locked, release, remove_abandoned
from h5tocbors.capture.write import BackgroundWriter, claim_and_replace, publish_new

from .conftest import Cli, write_h5
from .test_errors import assert_no_output, assert_one_error
from .test_signals import (  # noqa: F401
    DEADLINE,
    long_h5,
    pause,
    resume,
    start,
    wait_for_temporary,
)

SHORT = ("--frames", "0:300")  # of long_h5: a fraction of a second, long enough to catch it
EXISTS = "exists; use --force to replace it"


@pytest.fixture
def small_h5(tmp_path: Path) -> Path:
    """Four small frames at /entry/det/data."""
    data = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6)
    return write_h5(tmp_path / "small.h5", {"/entry/det/data": data})


def parts(out: Path) -> list[str]:
    """The temporaries in `out`."""
    return sorted(p.name for p in out.glob(".*.part"))


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """Wait for `proc` (continued if stopped); its exit code and stderr."""
    resume(proc)
    _, stderr = proc.communicate(timeout=DEADLINE)
    return proc.returncode, stderr


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; killed at its end whatever happens."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


# --- temporaries of killed conversions ----------------------------------------------


@pytest.mark.parametrize(
    ("options", "old_output"),
    [((), False), (("--force",), True), (("--skip-existing",), True)],
    ids=["plain", "force", "skip-existing"],
)
def test_next_run_removes_temporaries_of_a_killed_one(
    cli: Cli,
    long_h5: Path,  # noqa: F811
    small_h5: Path,
    tmp_path: Path,
    options: tuple[str, ...],
    old_output: bool,
) -> None:
    """SIGKILL (OOM, scancel) leaves a temporary; the next run into the directory removes it."""
    out = tmp_path / "out"
    out.mkdir()
    if old_output:
        cli("convert", small_h5, "-s", "det", "-o", out, "-q")
    proc = start(long_h5, out, "--force")
    temporary = wait_for_temporary(proc, out, "det", min_size=1 << 20)
    proc.kill()
    proc.communicate()
    assert temporary.exists()  # nobody removes it on a SIGKILL
    code, _, err = cli("convert", small_h5, "-s", "det", "-o", out, "-q", *options)
    assert code == 0, err
    assert parts(out) == [] and [p.name for p in out.iterdir()] == ["det.cbors"]


def test_a_live_conversions_temporary_is_kept(
    cli: Cli,
    long_h5: Path,  # noqa: F811
    small_h5: Path,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    """A run stopped mid-way keeps its temporary through another run's sweep, then loses the
    race for the name: exit 1, "exists", nothing left of it; the winner's output is intact."""
    out = tmp_path / "out"
    slow = start(long_h5, out, *SHORT)
    procs.append(slow)
    temporary = wait_for_temporary(slow, out, "det")
    pause(slow)
    code, _, err = cli("convert", small_h5, "-s", "det", "-o", out, "-q")
    assert code == 0, err
    assert temporary.exists()
    winner = (out / "det.cbors").read_bytes()
    code, stderr = finish(slow)
    assert_one_error(code, stderr, 1, str(out / "det.cbors"), EXISTS)
    assert (out / "det.cbors").read_bytes() == winner
    assert [p.name for p in out.iterdir()] == ["det.cbors"]
    assert cli("verify", small_h5, out / "det.cbors")[0] == 0


def test_several_streams_still_appear_all_or_nothing(
    long_h5: Path,  # noqa: F811
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    """If another run publishes one of a conversion's outputs first, it publishes none."""
    out = tmp_path / "out"
    slow = start(long_h5, out, "-s", "other=/entry/det/data", *SHORT)
    procs.append(slow)
    wait_for_temporary(slow, out, "other")
    pause(slow)
    (out / "other.cbors").write_bytes(b"another run's capture")
    code, stderr = finish(slow)
    assert_one_error(code, stderr, 1, str(out / "other.cbors"), EXISTS)
    assert (out / "other.cbors").read_bytes() == b"another run's capture"
    assert [p.name for p in out.iterdir()] == ["other.cbors"]


def test_racing_conversions_one_wins(
    cli: Cli,
    long_h5: Path,  # noqa: F811
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    """Two conversions of the same output started together: one writes it, one fails."""
    for trial in range(6):
        out = tmp_path / f"out{trial}"
        pair = [start(long_h5, out, "--frames", "0:200") for _ in range(2)]
        procs += pair
        results = sorted(finish(proc) for proc in pair)
        assert [code for code, _ in results] == [0, 1], results
        assert_one_error(*results[1], 1, EXISTS)
        assert [p.name for p in out.iterdir()] == ["det.cbors"]
        code, _, err = cli("inspect", out / "det.cbors", "--strict")  # complete
        assert code == 0, err
    code, _, err = cli("verify", long_h5, out / "det.cbors", "--frames", "0:200")
    assert code == 0, err


LOCK_HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("locked", flush=True)
sys.stdin.read()
"""


def test_sweep_removes_only_unlocked_temporaries(tmp_path: Path) -> None:
    """Only `.NAME.cbors.XXXXXXXX.part` regular files that no process has locked are removed."""
    held = tmp_path / ".a.cbors.0123abcd.part"
    free = tmp_path / ".b.cbors.89abcdef.part"
    for path in (held, free):
        path.write_bytes(b"partial")
    others = [".c.cbors.part", "notes.part", ".d.cbors.0123abcd.part.keep", "e.cbors"]
    for name in others:
        (tmp_path / name).write_bytes(b"keep")
    (tmp_path / ".f.cbors.fedcba98.part").symlink_to(tmp_path / "e.cbors")
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(held)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        assert remove_abandoned(tmp_path) == [free]
        assert held.exists() and not free.exists()
    finally:
        holder.communicate("", timeout=DEADLINE)
    assert remove_abandoned(tmp_path) == [held]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*others, ".f.cbors.fedcba98.part"])


def test_own_temporaries_survive_a_sweep_in_the_same_process(tmp_path: Path) -> None:
    """Another conversion in this process (batch threads, the API) never removes ours."""
    names: list[Path] = []
    temporary, fh = create_locked(tmp_path / "det.cbors", names)
    try:
        assert names == [temporary] and remove_abandoned(tmp_path) == []
        with pytest.raises(BlockingIOError):  # locked against other processes' sweeps
            fcntl.flock(os.open(temporary, os.O_RDWR), fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        release(fh)
    assert remove_abandoned(tmp_path) == [temporary]


# --- publishing without replacing ----------------------------------------------------


@pytest.mark.parametrize("publish", [publish_new, claim_and_replace])
@pytest.mark.parametrize("taken_by", ["file", "dangling symlink", "symlink to a file"])
def test_publishing_never_replaces(
    tmp_path: Path, publish: Callable[[Path, Path], None], taken_by: str
) -> None:
    """Hard link, and the fallback for file systems without them: a taken name stays as it was."""
    temporary, final, target = tmp_path / ".t.part", tmp_path / "det.cbors", tmp_path / "target"
    temporary.write_bytes(b"new capture")
    if taken_by == "file":
        final.write_bytes(b"old capture")
    else:
        final.symlink_to(target)
        if taken_by == "symlink to a file":
            target.write_bytes(b"old capture")
    with pytest.raises(FileExistsError):
        publish(temporary, final)
    assert temporary.read_bytes() == b"new capture"
    assert final.is_symlink() == (taken_by != "file")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".t.part", "det.cbors", *(["target"] if taken_by == "symlink to a file" else [])]
    )
    final.unlink()
    publish(temporary, final)
    assert final.read_bytes() == b"new capture" and not final.is_symlink()


def test_dangling_symlink_counts_as_existing(cli: Cli, small_h5: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "det.cbors").symlink_to(tmp_path / "nowhere")
    code, _, err = cli("convert", small_h5, "-s", "det", "-o", out, "-q")
    assert_one_error(code, err, 1, "det.cbors", "dangling symlink", "--force")
    assert (out / "det.cbors").is_symlink() and parts(out) == []
    code, _, err = cli("convert", small_h5, "-s", "det", "-o", out, "-q", "--skip-existing")
    assert_one_error(code, err, 1, "det.cbors", "dangling symlink")
    code, _, err = cli("convert", small_h5, "-s", "det", "-o", out, "-q", "--force")
    assert code == 0, err
    assert not (out / "det.cbors").is_symlink() and not (tmp_path / "nowhere").exists()


def test_symlink_to_a_file_is_never_written_through(
    cli: Cli, small_h5: Path, tmp_path: Path
) -> None:
    """Exists without --force; skipped with --skip-existing; --force replaces the link itself."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere.cbors"
    out.mkdir()
    elsewhere.write_bytes(b"someone's capture")
    (out / "det.cbors").symlink_to(elsewhere)
    code, _, err = cli("convert", small_h5, "-s", "det", "-o", out, "-q")
    assert_one_error(code, err, 1, "det.cbors", "(a symlink)", "--force")
    code, text, err = cli("convert", small_h5, "-s", "det", "-o", out, "--skip-existing")
    assert code == 0 and "det: skipped, its output exists" in text, err
    code, _, err = cli("convert", small_h5, "-s", "det", "-o", out, "-q", "--force")
    assert code == 0, err
    assert elsewhere.read_bytes() == b"someone's capture"
    assert not (out / "det.cbors").is_symlink()
    assert cli("verify", small_h5, out / "det.cbors")[0] == 0


@pytest.mark.parametrize("kind", ["directory", "empty file"])
def test_skip_existing_trusts_only_a_capture(
    cli: Cli, small_h5: Path, tmp_path: Path, kind: str
) -> None:
    """--skip-existing names a directory or an empty file at the output name, skips neither."""
    out = tmp_path / "out"
    out.mkdir()
    if kind == "directory":
        (out / "det.cbors").mkdir()
    else:
        (out / "det.cbors").touch()
    code, _, err = cli("convert", small_h5, "-s", "det", "-o", out, "--skip-existing")
    assert_one_error(code, err, 1, str(out / "det.cbors"), kind.split()[0])
    assert [p.name for p in out.iterdir()] == ["det.cbors"]


# --- what a new user trips over ------------------------------------------------------


def mount(*args: str) -> None:
    """`mount ARGS`, or skip the test where mounting is refused (not root, a container)."""
    done = subprocess.run(["mount", *args], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.decode(errors='replace').strip()}")


@pytest.fixture(params=["read-only tmpfs", "immutable directory"])
def unwritable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A directory that refuses new files even to root: a read-only mount, or `chattr +i`."""
    directory = tmp_path / "unwritable"
    directory.mkdir()
    if request.param == "read-only tmpfs":
        mount("-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(directory))
        undo = ["umount", str(directory)]
    else:
        if subprocess.run(["chattr", "+i", str(directory)], capture_output=True).returncode:
            pytest.skip("chattr +i is not supported here")
        undo = ["chattr", "-i", str(directory)]
    try:
        yield directory
    finally:
        subprocess.run(undo, capture_output=True)


def test_unwritable_output_directory(cli: Cli, small_h5: Path, unwritable: Path) -> None:
    """One line naming the directory (not "unexpected OSError"), exit 1, nothing written."""
    code, _, err = cli("convert", small_h5, "-s", "det", "-o", unwritable)
    assert_one_error(code, err, 1, f"cannot write to {unwritable}: ")
    assert list(unwritable.iterdir()) == []
    code, _, err = cli("convert", small_h5, "-s", "det", "-o", unwritable / "sub")
    assert_one_error(code, err, 1, f"cannot create output directory {unwritable / 'sub'}: ")


@pytest.mark.parametrize("name", ["newout.cbors", "cap/run.CBORS"])
def test_output_dir_named_like_a_capture(
    cli: Cli, small_h5: Path, tmp_path: Path, name: str
) -> None:
    code, _, err = cli("convert", small_h5, "-s", "det", "-o", tmp_path / name)
    assert_one_error(code, err, 2, name, "give a directory")
    assert_no_output(tmp_path / name.split("/")[0])


def test_force_and_skip_existing_together(cli: Cli, small_h5: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, err = cli("convert", small_h5, "-s", "det", "-o", out, "--force", "--skip-existing")
    assert_one_error(code, err, 2, "--force", "--skip-existing")
    assert not out.exists()


@pytest.mark.parametrize("below", ["", "sub"])
def test_output_dir_through_a_dangling_symlink(
    cli: Cli, small_h5: Path, tmp_path: Path, below: str
) -> None:
    """`-o dang` said "cannot create output directory dang: File exists"."""
    dang = tmp_path / "dang"
    dang.symlink_to(tmp_path / "gone")
    out = dang / below if below else dang
    code, _, err = cli("convert", small_h5, "-s", "det", "-o", out)
    line = assert_one_error(code, err, 1, f"{dang} is a dangling symlink (to {tmp_path / 'gone'})")
    assert "File exists" not in line
    assert not (tmp_path / "gone").exists() and dang.is_symlink()


def test_large_copies_start_before_the_batch_of_messages_is_full(tmp_path: Path) -> None:
    """Messages whose payloads are copied from the input go to the writer thread once they
    hold `BATCH_COPY_BYTES`, not only after `BATCH_MESSAGES` messages: the kernel copies
    while the next messages are prepared."""
    size = BackgroundWriter.BATCH_COPY_BYTES // 2 + 1
    src = tmp_path / "in.bin"
    src.write_bytes(bytes(range(256)) * (size // 256 + 1))
    fd = os.open(src, os.O_RDONLY)
    try:
        with open(tmp_path / "out.bin", "wb") as fh, BackgroundWriter() as writer:
            for _ in range(2):
                writer.write(fh, [b"head", FileRange(fd, 0, size)])
            deadline = time.monotonic() + DEADLINE
            while os.fstat(fh.fileno()).st_size < 2 * (size + 4) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert os.fstat(fh.fileno()).st_size == 2 * (size + 4)
    finally:
        os.close(fd)
