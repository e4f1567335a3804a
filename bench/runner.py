"""Running the children that the benchmark times: each through `launcher.py`, which reports
its wall time, CPU time and own peak RSS; the commands that run h5tocbors (installed, or as of
`--before REF`); input files written whole, scratch directories and a warm page cache."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import h5py

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / "bench_data"
LAUNCHER = Path(__file__).resolve().parent / "launcher.py"
H5TOCBORS = Path(sys.executable).parent / "h5tocbors"
DATASET = "/entry/data/data"
STREAM = "pilatus"
RSS_LIMIT_MB = 300.0
MB = 1e6
BEFORE: list[Path] = []
"""The exported tree of `--before REF`, when given."""
T = TypeVar("T")


@dataclass
class Run:
    seconds: float
    rss_mb: float
    cpu_s: float = 0.0
    """User + system CPU seconds: what a run costs, less sensitive to other jobs than wall time."""


class ChildFailed(RuntimeError):
    pass


class Launcher:
    """Runs children through bench/launcher.py, a small process started once.

    Each child is started with `subprocess.Popen` and reaped with `os.wait4(pid, 0)` in
    the launcher, so its `ru_maxrss` is its own peak RSS, not inflated by this process's
    (Linux carries the parent's high-water RSS into a child that execs).
    """

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(LAUNCHER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, cmd: list[str]) -> tuple[Run, bytes]:
        """Run `cmd`; its wall time, its own peak RSS and its stdout."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with tempfile.TemporaryDirectory() as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            request = {"cmd": cmd, "stdout": str(out), "stderr": str(err)}
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            answer = self.proc.stdout.readline()
            if not answer:
                raise ChildFailed(f"the launcher died running {shlex.join(cmd)}")
            reply = json.loads(answer)
            if reply["exit"] != 0:
                message = err.read_text(errors="replace").strip()
                raise ChildFailed(f"{shlex.join(cmd)} exited {reply['exit']}: {message}")
            run = Run(reply["seconds"], reply["maxrss_kib"] * 1024 / MB, reply["cpu"])
            return run, out.read_bytes()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait()


BEFORE_CLI = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'h5tocbors'\n"
    "try:\n    from h5tocbors.commands.script import run\n"
    "except ImportError:\n    from h5tocbors.commands.cli import run\n"
    "run()"
)
"""Runs the h5tocbors of an exported tree (first argument) with the installed dependencies,
through its console script (`commands.script:run`, before that `commands.cli:run`)."""


def h5tocbors_exe(tool: str = "h5tocbors") -> list[str]:
    """The command that runs h5tocbors: installed, or as of `--before REF`."""
    if tool == "before":
        return [sys.executable, "-c", BEFORE_CLI, str(BEFORE[0])]
    return [str(H5TOCBORS)]


def convert_command(path: Path, outdir: Path, *extra: str, tool: str = "h5tocbors") -> list[str]:
    """`h5tocbors convert PATH --stream pilatus=/entry/data/data -o OUTDIR --force EXTRA...`"""
    stream, out = f"{STREAM}={DATASET}", ["-o", str(outdir), "--force"]
    return [*h5tocbors_exe(tool), "convert", str(path), "--stream", stream, *out, *extra]


def rotated(items: Sequence[T], k: int) -> list[T]:
    """`items` starting at its k-th (modulo its length): round k's order of the tools."""
    k %= len(items)
    return [*items[k:], *items[:k]]


def export_revision(ref: str) -> Path:
    """The h5tocbors package as of git revision `ref`, exported under bench_data/."""
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dest = DATA_DIR / f"before-{sha}"
    if not (dest / "h5tocbors").is_dir():
        part = dest.with_name(dest.name + ".part")
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", sha, "h5tocbors"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(part)], input=archive, check=True)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(part, dest)
    return dest


def holds(path: Path, shape: tuple[int, ...]) -> bool:
    """True if `path` is an input written whole whose dataset has `shape`: made before."""
    with contextlib.suppress(OSError, KeyError), h5py.File(path, "r") as f:
        return bool(f[DATASET].shape == shape)
    return False


@contextlib.contextmanager
def generated(path: Path) -> Iterator[h5py.File]:
    """An input file, written as `path`.part and renamed to `path` once complete: a run
    stopped half way leaves no file that a later run would take for a made one."""
    part = path.with_name(path.name + ".part")
    with h5py.File(part, "w") as f:
        yield f
    os.replace(part, path)


@contextlib.contextmanager
def scratch(name: str) -> Iterator[Path]:
    """An empty directory under bench_data/scratch, removed (and synced) afterwards."""
    path = DATA_DIR / "scratch" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.sync()  # start the next run with no dirty pages of this one (not timed)


def warm(path: Path) -> None:
    """Read `path` once so every tool reads it from the page cache."""
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(16 << 20)
        while fh.readinto(buf):
            pass


# ---------------------------------------------------------------------------- checking


class Timings:
    """The median time and the peak RSS of each tool over the rounds."""

    runs: dict[str, list[Run]]

    def seconds(self, tool: str) -> float:
        return statistics.median(r.seconds for r in self.runs[tool])

    def rss(self, tool: str) -> float:
        return max(r.rss_mb for r in self.runs[tool])

    def cpu(self, tool: str) -> float:
        return statistics.median(r.cpu_s for r in self.runs[tool])

    def ratio(self, tool: str, other: str) -> float:
        """The median over rounds of `tool`'s time / `other`'s in the same round: runs of one
        round are next to each other in time, so the load of other jobs weighs on both."""
        pairs = zip(self.runs[tool], self.runs[other], strict=True)
        return statistics.median(a.seconds / max(b.seconds, 1e-6) for a, b in pairs)
