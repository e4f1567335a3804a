"""Benchmark h5tocbors against the hand-written replay source users copy today, and cp.

Generates Pilatus 2M-sized scans (1679x1475 uint32 photon counts, one frame per chunk)
stored three ways (bitshuffle-LZ4, uncompressed, gzip level 1) in bench_data/, reused
when the parameters match. For each case it then times, side by side and alternating:

  baseline   bench/baseline.py: h5py `dset[i]`, `bitshuffle.compress_lz4`, dranspose
             models and `cbor2.dump` per message, as dranspose's docs and `Dumper` do;
  h5tocbors  `h5tocbors convert FILE --stream pilatus=/entry/data/data -o DIR --force --quiet`;
  cp         `cp FILE DIR/`, the floor for moving the bytes at all.

Each is a child process reaped with `os.wait4`, which gives its wall time and its own
peak RSS. Before timing, h5tocbors' output is checked against the baseline's (decoded
with `dranspose.replay.get_internals`), so no speed is reported for wrong output.

Two more sections:
  packed     frames stored many per chunk (xspress3 spectra in gzip chunks (70, 1, 256),
             Pilatus frames in gzip chunks of 10), h5tocbors against h5py reading the
             whole dataset in one call (each chunk decoded once, one thread);
  openmp     `h5tocbors verify` of many small frames, idle and beside one busy process,
             as it runs (bitshuffle on one OpenMP thread) and with OMP_NUM_THREADS set
             to the core count (libgomp's default team, whose threads spin).
With `--before REF` (e.g. main), h5tocbors as of that git revision runs beside the
current one in every case. Results are printed and written to BENCHMARKS.md.

Run: make bench    (or: python bench/bench.py --help; --quick for a smoke run)
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import bitshuffle
import h5py
import hdf5plugin
import numpy as np
from dranspose.replay import get_internals

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / "bench_data"
BASELINE = Path(__file__).resolve().parent / "baseline.py"
LAUNCHER = Path(__file__).resolve().parent / "launcher.py"
H5TOCBORS = Path(sys.executable).parent / "h5tocbors"
REPORT = REPO / "BENCHMARKS.md"

DATASET = "/entry/data/data"
STREAM = "pilatus"
HEIGHT, WIDTH = 1679, 1475  # Pilatus 2M: 3 x 8 modules of 487 x 195 pixels
MODULE_W, MODULE_H, GAP_W, GAP_H = 487, 195, 7, 17
GAP_VALUE = np.iinfo(np.uint32).max  # gap pixels read -1, as uint32
BASE_FRAMES = 8
SEED = 20240601
GENERATOR = "g1"
"""Version of the data generator, part of every file name: bump it when `frame` changes."""

TOOLS = ("baseline", "h5tocbors", "cp")
RSS_LIMIT_MB = 300.0
MB = 1e6
LOAD_AT_START = ["unknown"]


@dataclass(frozen=True)
class Case:
    """One way of storing the scan, with the targets h5tocbors should meet on it."""

    key: str
    label: str
    create: dict[str, Any]
    default_frames: int
    min_speedup: float
    max_over_cp: float | None = None


CASES = {
    c.key: c
    for c in (
        Case("lz4", "bitshuffle-LZ4", dict(hdf5plugin.Bitshuffle(cname="lz4")), 1000, 5.0, 1.6),
        Case("raw", "uncompressed", {}, 200, 1.3),
        Case("gzip", "gzip level 1", {"compression": "gzip", "compression_opts": 1}, 200, 3.0),
    )
}
QUICK_FRAMES = {"lz4": 12, "raw": 6, "gzip": 6}
BEFORE: list[Path] = []
"""The exported tree of `--before REF`, when given."""


@dataclass(frozen=True)
class PackedCase:
    """Frames stored many per chunk, compared with h5py reading the whole dataset at once."""

    key: str
    label: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    level: int
    compression: str
    """h5tocbors' `--compression` (the xspress3 protocol writer keeps spectra as `none`)."""
    quick_frames: int


PACKED = {
    c.key: c
    for c in (
        PackedCase(
            "xspress3",
            "xspress3 spectra, gzip chunks (70, 1, 256)",
            (1111, 4, 4096),
            (70, 1, 256),
            4,
            "none",
            140,
        ),
        PackedCase(
            "pilatus10",
            "Pilatus 2M, gzip-1 chunks of 10 frames",
            (100, HEIGHT, WIDTH),
            (10, HEIGHT, WIDTH),
            1,
            "bslz4",
            20,
        ),
    )
}
PACKED_TOOLS = ("h5py-whole", "h5tocbors")
MAX_OVER_WHOLE = 1.5
WHOLE = "import sys, h5py, hdf5plugin; h5py.File(sys.argv[1], 'r')[sys.argv[2]][()]"
"""The reference for packed chunks: h5py reads the dataset in one call (HDF5 decodes each
chunk once, on one thread)."""

OMP_FRAMES, OMP_SHAPE = 5_000, (64, 64)
OMP_QUICK_FRAMES = 500
OMP_VARIANTS = (
    "as is, idle",
    "as is, busy",
    "OMP_NUM_THREADS=cores, idle",
    "OMP_NUM_THREADS=cores, busy",
)
MAX_BUSY_OVER_IDLE = 1.5
"""On 2 cores shared with other jobs, fair sharing alone can cost this much."""
MIN_OMP_GAIN = 2.0


# ---------------------------------------------------------------------------- data


class FrameMaker:
    """Realistic, cheap Pilatus 2M frames.

    A few Poisson frames (background of mean ~0.5-1.6 falling off from the beam, a few
    diffraction rings, hot and dead pixels) are drawn once; frame k is base frame k % 8
    shifted by a k-dependent offset, with the module gaps at -1. Frames are all different
    but cost a copy each, and compress as real low-count frames do.
    """

    def __init__(self, count: int = BASE_FRAMES, seed: int = SEED) -> None:
        rng = np.random.default_rng(seed)
        y, x = np.mgrid[:HEIGHT, :WIDTH].astype(np.float32)
        r = np.hypot(y - 1190.0, x - 760.0)
        background = 0.4 + 1.2 * np.exp(-r / 600.0)
        rings = ((180.0, 3.0, 30.0), (310.0, 4.0, 12.0), (520.0, 5.0, 6.0), (760.0, 6.0, 3.0))
        self.base = []
        for k in range(count):
            mean = background.copy()
            for radius, width, height in rings:
                mean += height * np.exp(-0.5 * ((r - radius * (1 + 0.003 * k)) / width) ** 2)
            self.base.append(rng.poisson(mean).astype(np.uint32))
        gaps = np.zeros((HEIGHT, WIDTH), bool)
        for c in range(1, 3):
            start = c * MODULE_W + (c - 1) * GAP_W
            gaps[:, start : start + GAP_W] = True
        for row in range(1, 8):
            start = row * MODULE_H + (row - 1) * GAP_H
            gaps[start : start + GAP_H, :] = True
        self.gaps = np.flatnonzero(gaps)
        pixels = rng.choice(HEIGHT * WIDTH, 60, replace=False)
        self.hot, self.dead = pixels[:20], pixels[20:]
        self.hot_counts = rng.integers(1000, 100000, self.hot.size).astype(np.uint32)

    def frame(self, k: int) -> np.ndarray:
        step = k // len(self.base)
        out = np.roll(self.base[k % len(self.base)], (3 * step % HEIGHT, 7 * step % WIDTH), (0, 1))
        flat = out.reshape(-1)
        flat[self.hot] = self.hot_counts
        flat[self.dead] = 0
        flat[self.gaps] = GAP_VALUE
        return out


def data_path(case: Case, frames: int) -> Path:
    return DATA_DIR / f"pilatus2m_{case.key}_{frames}f_{HEIGHT}x{WIDTH}_{GENERATOR}.h5"


def is_usable(path: Path, frames: int) -> bool:
    """True if `path` is a complete file of this generator with `frames` frames."""
    try:
        with h5py.File(path, "r") as f:
            dset = f[DATASET]
            return bool(
                dset.shape == (frames, HEIGHT, WIDTH)
                and dset.chunks == (1, HEIGHT, WIDTH)
                and dset.attrs.get("bench_generator") == GENERATOR
            )
    except (OSError, KeyError):
        return False


def ensure_data(case: Case, frames: int, maker: list[FrameMaker]) -> tuple[Path, float]:
    """The input file of `case`, generated unless a matching one exists; seconds spent."""
    path = data_path(case, frames)
    if path.exists() and is_usable(path, frames):
        return path, 0.0
    start = time.perf_counter()
    if not maker:
        maker.append(FrameMaker())
    part = path.with_name(path.name + ".part")
    with h5py.File(part, "w") as f:
        f.attrs["NX_class"] = "NXroot"
        dset = f.create_dataset(
            DATASET,
            shape=(frames, HEIGHT, WIDTH),
            dtype=np.uint32,
            chunks=(1, HEIGHT, WIDTH),
            **case.create,
        )
        dset.attrs["bench_generator"] = GENERATOR
        for k in range(frames):
            dset[k] = maker[0].frame(k)
    os.replace(part, path)
    return path, time.perf_counter() - start


# ---------------------------------------------------------------------------- running


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
    "import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'h5tocbors'; "
    "from h5tocbors.commands.cli import run; run()"
)
"""Runs the h5tocbors of an exported tree (first argument) with the installed dependencies."""


def h5tocbors_exe(tool: str = "h5tocbors") -> list[str]:
    """The command that runs h5tocbors: installed, or as of `--before REF`."""
    if tool == "before":
        return [sys.executable, "-c", BEFORE_CLI, str(BEFORE[0])]
    return [str(H5TOCBORS)]


def command(tool: str, path: Path, outdir: Path) -> list[str]:
    if tool == "baseline":  # one OpenMP thread: else its spinning team measures the load
        script = [sys.executable, str(BASELINE), str(path), DATASET]
        return ["env", "OMP_NUM_THREADS=1", *script, str(outdir / f"{STREAM}.cbors")]
    if tool in ("h5tocbors", "before"):
        stream = f"{STREAM}={DATASET}"
        return [*h5tocbors_exe(tool), "convert", str(path), "--stream", stream]
    return ["cp", str(path), str(outdir / path.name)]


def h5tocbors_command(path: Path, outdir: Path, *extra: str, tool: str = "h5tocbors") -> list[str]:
    return [*command(tool, path, outdir), "-o", str(outdir), "--force", *extra]


def tool_command(tool: str, path: Path, outdir: Path) -> list[str]:
    if tool in ("h5tocbors", "before"):
        return h5tocbors_command(path, outdir, "--quiet", tool=tool)
    return command(tool, path, outdir)


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


def decode(msg: Any) -> tuple[dict[str, Any], np.ndarray | None]:
    frames = msg.streams[STREAM].frames
    header = decode_header(msg)
    if header.get("htype") != "image":
        return header, None
    raw = np.frombuffer(bytes(frames[1]), np.uint8)
    shape, dtype = tuple(header["shape"]), np.dtype(header["type"])
    if header["compression"] == "bslz4":
        return header, bitshuffle.decompress_lz4(raw, shape, dtype)
    return header, raw.view(dtype).reshape(shape)


def verify(path: Path, baseline: Path, tool: Path, frames: int) -> list[str]:
    """Problems with h5tocbors' capture, compared with the baseline's and the input."""
    problems: list[str] = []
    sample = {0, 1, frames // 2, frames - 1}
    messages = 0
    with h5py.File(path, "r") as f:
        dset = f[DATASET]
        pairs = itertools.zip_longest(get_internals(baseline), get_internals(tool))
        for event, (mb, mt) in enumerate(pairs):
            messages += 1
            if mb is None or mt is None:
                problems.append(
                    f"message {event} is missing from the "
                    f"{'baseline' if mb is None else 'h5tocbors'} capture"
                )
                break
            if (mb.event_number, mt.event_number) != (event, event):
                problems.append(
                    f"message {event}: event numbers {mb.event_number} (baseline), "
                    f"{mt.event_number} (h5tocbors)"
                )
            if mt.streams[STREAM].typ != mb.streams[STREAM].typ:
                problems.append(f"message {event}: typ {mt.streams[STREAM].typ!r}")
            image = 1 <= event <= frames and event - 1 in sample
            try:
                hb, ib = decode(mb) if image else (decode_header(mb), None)
                ht, it = decode(mt) if image else (decode_header(mt), None)
            except (KeyError, IndexError, TypeError, ValueError) as e:
                problems.append(f"message {event}: cannot decode: {type(e).__name__}: {e}")
                continue
            different = {k: (v, ht.get(k)) for k, v in hb.items() if ht.get(k) != v}
            if different:
                problems.append(
                    f"message {event}: header differs (baseline, h5tocbors): {different}"
                )
            if image:
                source = dset[event - 1]
                if ib is None or not np.array_equal(ib, source):
                    problems.append(f"frame {event - 1}: the baseline's payload is not the input")
                if it is None or not np.array_equal(it, source):
                    problems.append(f"frame {event - 1}: h5tocbors' payload is not the input")
            if len(problems) > 10:
                break
    if not problems and messages != frames + 2:
        problems.append(f"{messages} messages, expected {frames + 2}")
    return problems


def decode_header(msg: Any) -> dict[str, Any]:
    first = msg.streams[STREAM].frames[0]
    return dict(json.loads(first if isinstance(first, str) else bytes(first)))


# ---------------------------------------------------------------------------- the bench


class Timings:
    """The median time and the peak RSS of each tool over the rounds."""

    runs: dict[str, list[Run]]

    def seconds(self, tool: str) -> float:
        return statistics.median(r.seconds for r in self.runs[tool])

    def rss(self, tool: str) -> float:
        return max(r.rss_mb for r in self.runs[tool])

    def cpu(self, tool: str) -> float:
        return statistics.median(r.cpu_s for r in self.runs[tool])


@dataclass
class Result(Timings):
    case: Case
    path: Path
    frames: int
    input_mb: float
    generated_s: float = 0.0
    runs: dict[str, list[Run]] = field(default_factory=lambda: {t: [] for t in TOOLS})
    problems: list[str] = field(default_factory=list)
    fast_path: str = ""
    output_mb: float = 0.0
    baseline_output_mb: float = 0.0
    status: str = ""
    """Why no time is reported: "WRONG OUTPUT" or "FAILED"; empty when timed."""

    @property
    def timed(self) -> bool:
        return not self.problems and all(self.runs[t] for t in TOOLS)

    def noisy(self) -> list[str]:
        """Tools whose slowest round took over 1.5x their fastest (seconds above 0.5)."""
        out = []
        for tool in TOOLS:
            times = [r.seconds for r in self.runs[tool]]
            if len(times) > 1 and max(times) > 0.5 and max(times) > 1.5 * min(times):
                out.append(f"{tool} {min(times):.2f}-{max(times):.2f} s")
        return out

    @property
    def speedup(self) -> float:
        return self.seconds("baseline") / self.seconds("h5tocbors")

    @property
    def over_cp(self) -> float:
        return self.seconds("h5tocbors") / max(self.seconds("cp"), 1e-6)

    def targets(self) -> list[tuple[str, bool, str]]:
        """(target, met, measured) for each target of this case."""
        if not self.timed:
            why = "; ".join(self.problems[:3])
            return [(f"{self.case.label}: runs and writes correct output", False, why)]
        c = self.case
        out = [
            (
                f"{c.label}: speed-up over baseline >= {c.min_speedup:g}x",
                self.speedup >= c.min_speedup,
                f"{self.speedup:.2f}x",
            )
        ]
        if c.max_over_cp is not None:
            out.append(
                (
                    f"{c.label}: time / cp <= {c.max_over_cp:g}x",
                    self.over_cp <= c.max_over_cp,
                    f"{self.over_cp:.2f}x",
                )
            )
        rss = self.rss("h5tocbors")
        out.append(
            (
                f"{c.label}: h5tocbors peak RSS < {RSS_LIMIT_MB:g} MB",
                rss < RSS_LIMIT_MB,
                f"{rss:.0f} MB",
            )
        )
        return out


def bench_case(launcher: Launcher, result: Result, rounds: int) -> None:
    case, path, frames = result.case, result.path, result.frames
    print(f"\n== {case.label}: {path.name}, {frames} frames, {result.input_mb:.0f} MB")
    warm(path)
    # Untimed check: both captures decode to the input's frames, with the same headers.
    with scratch(f"{case.key}-check") as out:
        print("  checking h5tocbors' output against the baseline's ...", flush=True)
        (out / "b").mkdir()
        launcher.run(tool_command("baseline", path, out / "b"))
        _, stdout = launcher.run(h5tocbors_command(path, out / "t", "--quiet", "--json"))
        info = json.loads(stdout)["streams"][0]
        result.fast_path = (
            f"{info['fast_path']} "
            f"({info['passthrough_frames']}/{info['frames']} frames passed through)"
        )
        result.output_mb = (out / "t" / f"{STREAM}.cbors").stat().st_size / MB
        result.baseline_output_mb = (out / "b" / f"{STREAM}.cbors").stat().st_size / MB
        result.problems = verify(
            path, out / "b" / f"{STREAM}.cbors", out / "t" / f"{STREAM}.cbors", frames
        )
    if result.problems:
        result.status = "WRONG OUTPUT"
        print("  WRONG OUTPUT, not timed:\n    " + "\n    ".join(result.problems))
        return
    print(f"  ok: same frames and headers; h5tocbors path: {result.fast_path}")
    for r in range(rounds):
        order = TOOLS[r % len(TOOLS) :] + TOOLS[: r % len(TOOLS)]
        for tool in order:
            with scratch(f"{case.key}-{tool}") as out:
                run, _ = launcher.run(tool_command(tool, path, out))
            result.runs[tool].append(run)
            print(
                f"  round {r + 1}/{rounds} {tool:<9} {run.seconds:8.2f} s  "
                f"peak RSS {run.rss_mb:6.0f} MB",
                flush=True,
            )


# ---------------------------------------------------------------------------- packed chunks


def spectra(frames: int, seed: int = SEED) -> np.ndarray:
    """xspress3-like MCA spectra (frames, 4 channels, 4096 bins) of uint32 counts: a low
    background and four fluorescence lines whose intensity varies from frame to frame."""
    rng = np.random.default_rng(seed)
    bins = np.arange(4096)
    lines = ((700, 30, 400.0), (1500, 40, 150.0), (2300, 45, 60.0), (3100, 60, 20.0))
    mean = 2.0 * np.exp(-bins / 3000) + sum(
        h * np.exp(-0.5 * ((bins - c) / w) ** 2) for c, w, h in lines
    )
    scale = rng.uniform(0.5, 1.5, (frames, 4, 1))
    return rng.poisson(mean * scale).astype(np.uint32)


def packed_path(case: PackedCase, frames: int) -> Path:
    chunks = "x".join(map(str, case.chunks))
    return DATA_DIR / f"packed_{case.key}_{frames}f_c{chunks}_{GENERATOR}.h5"


def ensure_packed(case: PackedCase, frames: int, maker: list[FrameMaker]) -> tuple[Path, float]:
    """The input of a packed case, generated unless a complete one exists; seconds spent."""
    path = packed_path(case, frames)
    shape = (frames, *case.shape[1:])
    with contextlib.suppress(OSError, KeyError), h5py.File(path, "r") as f:
        if f[DATASET].shape == shape and f[DATASET].attrs.get("bench_generator") == GENERATOR:
            return path, 0.0
    start = time.perf_counter()
    part = path.with_name(path.name + ".part")
    with h5py.File(part, "w") as f:
        dset = f.create_dataset(
            DATASET,
            shape=shape,
            dtype=np.uint32,
            chunks=case.chunks,
            compression="gzip",
            compression_opts=case.level,
        )
        dset.attrs["bench_generator"] = GENERATOR
        if case.key == "xspress3":
            dset[...] = spectra(frames)
        else:
            if not maker:
                maker.append(FrameMaker())
            step = case.chunks[0]
            for first in range(0, frames, step):
                stop = min(first + step, frames)
                dset[first:stop] = np.stack([maker[0].frame(k) for k in range(first, stop)])
    os.replace(part, path)
    return path, time.perf_counter() - start


def packed_command(tool: str, case: PackedCase, path: Path, outdir: Path) -> list[str]:
    if tool == "h5py-whole":
        return [sys.executable, "-c", WHOLE, str(path), DATASET]
    return h5tocbors_command(path, outdir, "--quiet", "--compression", case.compression, tool=tool)


def check_frames(path: Path, capture: Path, frames: int) -> list[str]:
    """Problems with a capture of /entry/data/data: message count, frames 0, 1, N/2, N-1."""
    problems: list[str] = []
    sample = {0, 1, frames // 2, frames - 1}
    messages = 0
    with h5py.File(path, "r") as f:
        dset = f[DATASET]
        for event, msg in enumerate(get_internals(str(capture))):
            messages += 1
            if event - 1 in sample and event <= frames:
                _, image = decode(msg)
                if image is None or not np.array_equal(image, dset[event - 1]):
                    problems.append(f"frame {event - 1} is not the input's")
    if messages != frames + 2:
        problems.append(f"{messages} messages, expected {frames + 2}")
    return problems


@dataclass
class PackedResult(Timings):
    case: PackedCase
    path: Path
    frames: int
    input_mb: float
    runs: dict[str, list[Run]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def timed(self) -> bool:
        return not self.problems and all(self.runs.get(t) for t in packed_tools())

    @property
    def over_whole(self) -> float:
        return self.seconds("h5tocbors") / self.seconds("h5py-whole")

    def targets(self) -> list[tuple[str, bool, str]]:
        label = self.case.label
        if not self.timed:
            return [(f"{label}: runs and writes correct output", False, "; ".join(self.problems))]
        rss = self.rss("h5tocbors")
        return [
            (
                f"{label}: time / h5py whole-dataset read <= {MAX_OVER_WHOLE:g}x",
                self.over_whole <= MAX_OVER_WHOLE,
                f"{self.over_whole:.2f}x",
            ),
            (
                f"{label}: h5tocbors peak RSS < {RSS_LIMIT_MB:g} MB",
                rss < RSS_LIMIT_MB,
                f"{rss:.0f} MB",
            ),
        ]


def packed_tools() -> tuple[str, ...]:
    return PACKED_TOOLS + (("before",) if BEFORE else ())


def bench_packed(launcher: Launcher, result: PackedResult, rounds: int) -> None:
    case, path = result.case, result.path
    print(f"\n== {case.label}: {path.name}, {result.frames} frames, {result.input_mb:.0f} MB")
    warm(path)
    with scratch(f"{case.key}-check") as out:
        print("  checking h5tocbors' output against the input ...", flush=True)
        launcher.run(packed_command("h5tocbors", case, path, out))
        result.problems = check_frames(path, out / f"{STREAM}.cbors", result.frames)
    if result.problems:
        print("  WRONG OUTPUT, not timed:\n    " + "\n    ".join(result.problems))
        return
    tools = packed_tools()
    for r in range(rounds):
        for tool in tools[r % len(tools) :] + tools[: r % len(tools)]:
            with scratch(f"{case.key}-{tool}") as out:
                run, _ = launcher.run(packed_command(tool, case, path, out))
            result.runs.setdefault(tool, []).append(run)
            print(
                f"  round {r + 1}/{rounds} {tool:<10} {run.seconds:8.2f} s  "
                f"peak RSS {run.rss_mb:6.0f} MB",
                flush=True,
            )


def packed_table(results: list[PackedResult]) -> str:
    before = " before s |" if BEFORE else ""
    head = (
        f"| case | input MB | frames | h5py whole s | h5tocbors s |{before} "
        "h5tocbors / h5py whole (x) | h5py whole peak RSS MB | h5tocbors peak RSS MB |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        first = f"| {r.case.label} | {r.input_mb:.0f} | {r.frames} "
        if not r.timed:
            lines.append(first + "| WRONG OUTPUT or FAILED, not timed |")
            continue
        b = f"| {r.seconds('before'):.2f} " if BEFORE else ""
        lines.append(
            first
            + f"| {r.seconds('h5py-whole'):.2f} | {r.seconds('h5tocbors'):.2f} {b}"
            + f"| {r.over_whole:.2f} | {r.rss('h5py-whole'):.0f} | {r.rss('h5tocbors'):.0f} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------- OpenMP


def ensure_small_frames(frames: int) -> Path:
    """Many small bitshuffle-LZ4 frames (64x64 uint16), one per chunk."""
    path = DATA_DIR / f"small_{frames}f_{OMP_SHAPE[0]}x{OMP_SHAPE[1]}_{GENERATOR}.h5"
    with contextlib.suppress(OSError, KeyError), h5py.File(path, "r") as f:
        if f[DATASET].shape == (frames, *OMP_SHAPE):
            return path
    data = np.random.default_rng(SEED).poisson(2.0, (frames, *OMP_SHAPE)).astype(np.uint16)
    part = path.with_name(path.name + ".part")
    with h5py.File(part, "w") as f:
        f.create_dataset(
            DATASET, data=data, chunks=(1, *OMP_SHAPE), **hdf5plugin.Bitshuffle(cname="lz4")
        )
    os.replace(part, path)
    return path


@contextlib.contextmanager
def busy(on: bool) -> Iterator[None]:
    """One other process keeping a core busy (a shared node), or nothing."""
    if not on:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.2)
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def verify_command(variant: str, path: Path, capture: Path) -> list[str]:
    cmd = [str(H5TOCBORS), "verify", str(path), str(capture), "--stream", f"{STREAM}={DATASET}"]
    if variant.startswith("OMP_NUM_THREADS"):
        return ["env", f"OMP_NUM_THREADS={os.cpu_count() or 2}", *cmd]
    return cmd


@dataclass
class OmpResult:
    frames: int
    runs: dict[str, list[Run]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def seconds(self, variant: str) -> float:
        return statistics.median(r.seconds for r in self.runs[variant])

    @property
    def timed(self) -> bool:
        return not self.problems and all(self.runs.get(v) for v in OMP_VARIANTS)

    def targets(self) -> list[tuple[str, bool, str]]:
        if not self.timed:
            return [("verify beside a busy process: runs", False, "; ".join(self.problems))]
        ratio = self.seconds("as is, busy") / self.seconds("as is, idle")
        gain = self.seconds("OMP_NUM_THREADS=cores, busy") / self.seconds("as is, busy")
        return [
            (
                f"verify of {self.frames} small frames beside a busy process: "
                f"default OpenMP team / one thread >= {MIN_OMP_GAIN:g}x",
                gain >= MIN_OMP_GAIN,
                f"{gain:.2f}x",
            ),
            (
                f"verify of {self.frames} small frames: busy / idle <= {MAX_BUSY_OVER_IDLE:g}x",
                ratio <= MAX_BUSY_OVER_IDLE,
                f"{ratio:.2f}x",
            ),
        ]


def bench_openmp(launcher: Launcher, result: OmpResult, rounds: int) -> None:
    path = ensure_small_frames(result.frames)
    print(
        f"\n== OpenMP: verify of {result.frames} {OMP_SHAPE[0]}x{OMP_SHAPE[1]} frames ({path.name})"
    )
    with scratch("openmp") as out:
        launcher.run(h5tocbors_command(path, out, "--quiet"))
        capture = out / f"{STREAM}.cbors"
        for r in range(rounds):
            for variant in OMP_VARIANTS[r % 4 :] + OMP_VARIANTS[: r % 4]:
                with busy(variant.endswith("busy")):
                    try:
                        run, _ = launcher.run(verify_command(variant, path, capture))
                    except ChildFailed as e:
                        result.problems.append(str(e))
                        return
                result.runs.setdefault(variant, []).append(run)
                print(f"  round {r + 1}/{rounds} {variant:<30} {run.seconds:8.2f} s", flush=True)


def omp_table(result: OmpResult) -> str:
    head = (
        "| verify of | "
        + " | ".join(f"{v} s" for v in OMP_VARIANTS)
        + " | busy: default team / one thread (x) |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    if not result.timed:
        return "\n".join(
            [*lines, f"| {result.frames} frames | FAILED: {'; '.join(result.problems)} |"]
        )
    cells = " | ".join(f"{result.seconds(v):.2f}" for v in OMP_VARIANTS)
    gain = result.seconds("OMP_NUM_THREADS=cores, busy") / result.seconds("as is, busy")
    lines.append(f"| {result.frames} frames {OMP_SHAPE[0]}x{OMP_SHAPE[1]} | {cells} | {gain:.2f} |")
    return "\n".join(lines)


def before_table(results: list[Result], packed: list[PackedResult]) -> str:
    """h5tocbors as of `--before REF` against the current one, case by case."""
    columns = ["case", "before s", "h5tocbors s", "before / h5tocbors (x)", "before CPU s"]
    lines = ["| " + " | ".join([*columns, "h5tocbors CPU s"]) + " |", "|---|---|---|---|---|---|"]
    for r in [*results, *packed]:
        if r.timed:
            b, a = r.seconds("before"), r.seconds("h5tocbors")
            lines.append(
                f"| {r.case.label} | {b:.2f} | {a:.2f} | {b / a:.2f} "
                f"| {r.cpu('before'):.2f} | {r.cpu('h5tocbors'):.2f} |"
            )
    return "\n".join(lines)


# ---------------------------------------------------------------------------- inflate


def inflate_timings(path: Path, repeats: int = 20) -> str:
    """Median ms to inflate one stored gzip chunk of `path` with zlib, libdeflate and ISA-L
    (in this process, one thread): why h5tocbors inflates with libdeflate."""
    import zlib

    import deflate

    with h5py.File(path, "r") as f:
        dset = f[DATASET]
        raw = bytes(dset.id.read_direct_chunk((0,) * dset.ndim)[1])
        size = int(np.prod(dset.chunks)) * dset.dtype.itemsize
    candidates = {"zlib": zlib.decompress, "libdeflate": lambda c: deflate.zlib_decompress(c, size)}
    try:
        from isal import isal_zlib

        candidates["ISA-L"] = lambda c: isal_zlib.decompress(c, bufsize=size)
    except ImportError:
        pass
    parts = []
    for name, inflate in candidates.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            inflate(raw)
            times.append(time.perf_counter() - start)
        parts.append(f"{name} {1e3 * statistics.median(times):.1f} ms")
    missing = "" if "ISA-L" in candidates else " (ISA-L: the `isal` package is not installed)"
    return (
        f"inflate of one stored chunk ({len(raw) / MB:.2f} MB -> {size / MB:.1f} MB), "
        f"median of {repeats}: " + ", ".join(parts) + missing
    )


def read_path_timings(path: Path, rounds: int = 5) -> str:
    """Seconds to turn every stored frame of `path` (unfiltered, one per chunk) into a
    bitshuffle-LZ4 payload on one thread, reading it through a memory map (h5tocbors before
    it used `pread`: pages dropped after use) or with `preadv`: into a new buffer each time,
    or into one buffer per thread, as h5tocbors does where no frame still uses it."""
    import mmap

    from h5tocbors.buffers import FileRange, read_range
    from h5tocbors.core.pipeline import single_openmp_thread

    single_openmp_thread()
    with h5py.File(path, "r") as f:
        dset = f[DATASET]
        ranges = [dset.id.get_chunk_info(i) for i in range(dset.id.get_num_chunks())]
        shape, dtype = dset.shape[1:], dset.dtype
    fd = os.open(path, os.O_RDONLY)
    try:
        mapped = mmap.mmap(fd, 0, prot=mmap.PROT_READ)

        def via_mmap(offset: int, size: int) -> None:
            view = memoryview(mapped)[offset : offset + size]
            bitshuffle.compress_lz4(np.frombuffer(view, dtype).reshape(shape))
            view.release()
            start = offset - offset % 65536
            mapped.madvise(
                mmap.MADV_DONTNEED, start, min(offset + size + 65536, len(mapped)) - start
            )

        def via_pread(offset: int, size: int) -> None:
            data = read_range(FileRange(fd, offset, size))
            bitshuffle.compress_lz4(np.frombuffer(data, dtype).reshape(shape))

        reused = np.empty(max(info.size for info in ranges), np.uint8)

        def via_pread_reused(offset: int, size: int) -> None:
            data = read_range(FileRange(fd, offset, size), reused.data)
            bitshuffle.compress_lz4(np.frombuffer(data, dtype).reshape(shape))

        ways = {
            "memory map (before)": via_mmap,
            "pread into a new buffer": via_pread,
            "pread into a reused buffer (now)": via_pread_reused,
        }
        times: dict[str, list[float]] = {name: [] for name in ways}
        for r in range(rounds):
            for name in list(ways)[r % 3 :] + list(ways)[: r % 3]:
                start = time.perf_counter()
                for info in ranges:
                    ways[name](info.byte_offset, info.size)
                times[name].append(time.perf_counter() - start)
        mapped.close()
    finally:
        os.close(fd)
    parts = [f"{name} {statistics.median(t):.2f} s" for name, t in times.items()]
    return (
        f"stored frame -> bitshuffle-LZ4 payload, {len(ranges)} frames on one thread, "
        f"median of {rounds}: " + ", ".join(parts)
    )


# ---------------------------------------------------------------------------- reporting


def table(results: list[Result]) -> str:
    head = (
        "| case | input MB | frames | baseline s | h5tocbors s | cp s | speed-up (x) "
        "| h5tocbors / cp (x) | h5tocbors MB/s | baseline peak RSS MB | h5tocbors peak RSS MB "
        "| baseline CPU s | h5tocbors CPU s |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in results:
        first = f"| {r.case.label} | {r.input_mb:.0f} | {r.frames} "
        if not r.timed:
            lines.append(first + f"| {r.status or 'FAILED'}, not timed |" + " |" * 9)
            continue
        lines.append(
            first
            + f"| {r.seconds('baseline'):.2f} | {r.seconds('h5tocbors'):.2f} "
            + f"| {r.seconds('cp'):.2f} | {r.speedup:.2f} | {r.over_cp:.2f} "
            + f"| {r.input_mb / r.seconds('h5tocbors'):.0f} "
            + f"| {r.rss('baseline'):.0f} | {r.rss('h5tocbors'):.0f} "
            + f"| {r.cpu('baseline'):.2f} | {r.cpu('h5tocbors'):.2f} |"
        )
    return "\n".join(lines)


def targets(results: list[Any]) -> list[str]:
    return [
        f"{'PASS' if met else 'MISS'}  {name}: {measured}"
        for r in results
        for name, met, measured in r.targets()
    ]


def noise_notes(results: list[Result]) -> list[str]:
    notes = [f"{r.case.label}: {', '.join(r.noisy())}" for r in results if r.noisy()]
    if not notes:
        return []
    why = ", all the more as bitshuffle spins OpenMP threads" if openmp() else ""
    return [
        "NOTE round-to-round spread above 1.5x (the median is reported): " + "; ".join(notes),
        f"     load average now {load_average()}; other jobs sharing the {os.cpu_count()} cores "
        f"slow the runs unevenly{why}.",
    ]


def openmp() -> bool:
    """True if bitshuffle brought an OpenMP runtime into this process."""
    with contextlib.suppress(OSError), open("/proc/self/maps") as fh:
        return any("libgomp" in line or "libomp" in line for line in fh)
    return False


def read_first(path: str, key: str) -> str:
    with contextlib.suppress(OSError), open(path) as fh:
        for line in fh:
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    return "unknown"


def machine() -> list[str]:
    mem_kb = read_first("/proc/meminfo", "MemTotal").split()[0]
    ram = f"{int(mem_kb) / 1024**2:.1f} GiB" if mem_kb.isdigit() else "unknown"
    DATA_DIR.mkdir(exist_ok=True)
    try:
        df = (
            subprocess.run(["df", "-PT", str(DATA_DIR)], capture_output=True, text=True, check=True)
            .stdout.splitlines()[-1]
            .split()
        )
        disk = f"{df[1]} on {df[0]} (mounted at {df[6]}), {int(df[4]) / 1024**2:.0f} GiB free"
    except (OSError, subprocess.CalledProcessError, IndexError, ValueError):
        disk = f"{shutil.disk_usage(DATA_DIR).free / 1024**3:.0f} GiB free"
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return [
        f"- CPU: {read_first('/proc/cpuinfo', 'model name')}, "
        f"{os.cpu_count()} cores (`os.cpu_count()`)",
        f"- RAM: {ram}",
        f"- Kernel: {platform.system()} {platform.release()} ({platform.machine()})",
        f"- bench_data filesystem: {disk}",
        f"- Python {platform.python_version()}; numpy {np.__version__}, h5py {h5py.__version__}, "
        f"HDF5 {h5py.version.hdf5_version}, hdf5plugin {hdf5plugin.version}, "
        f"bitshuffle {bitshuffle.__version__}, cbor2 {package_version('cbor2')}, "
        f"dranspose {package_version('dranspose')}, h5tocbors {package_version('h5tocbors')}",
        f"- bitshuffle uses OpenMP threads: {'yes (libgomp loaded)' if openmp() else 'no'}",
        f"- Repository at {commit}",
        f"- Load average (1, 5, 15 min) at start: {LOAD_AT_START[0]}; at end: {load_average()} "
        "(other jobs on the machine add noise to the timings)",
    ]


def load_average() -> str:
    with contextlib.suppress(OSError), open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])
    return "unknown"


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def markdown(
    results: list[Result],
    args: argparse.Namespace,
    cmdline: str,
    total: float,
    packed: list[PackedResult],
    omp: OmpResult | None,
    inflate: str = "",
    reads: str = "",
) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    runs = []
    for r in [*results, *packed]:
        for tool, tool_runs in r.runs.items():
            if tool_runs:
                times = ", ".join(f"{x.seconds:.2f}" for x in tool_runs)
                rss = ", ".join(f"{x.rss_mb:.0f}" for x in tool_runs)
                runs.append(f"| {r.case.label} | {tool} | {times} | {rss} |")
    for variant, variant_runs in (omp.runs if omp else {}).items():
        times = ", ".join(f"{x.seconds:.2f}" for x in variant_runs)
        runs.append(f"| verify, OpenMP | {variant} | {times} | |")
    everything: list[Any] = [*results, *packed, *([omp] if omp else [])]
    details = [
        f"- {r.case.label}: `{r.path.name}`; h5tocbors output {r.output_mb:.0f} MB "
        f"(baseline {r.baseline_output_mb:.0f} MB); h5tocbors path: {r.fast_path or 'n/a'}"
        for r in results
    ]
    return "\n".join(
        [
            "# Benchmarks",
            "",
            "Written by `bench/bench.py` (`make bench`); rerun it to refresh this file.",
            "",
            f"Date: {now}. Command: `{cmdline}` ({total / 60:.1f} minutes in all).",
            "",
            "## Machine",
            "",
            *machine(),
            "",
            "## Method",
            "",
            f"- Input: Pilatus 2M-sized scans, {HEIGHT}x{WIDTH} `uint32` photon counts (Poisson, "
            "mean ~0.5-1.6 plus diffraction rings, hot/dead pixels, module gaps at -1), one frame "
            f"per chunk, at `{DATASET}`, stored as bitshuffle-LZ4 "
            '(`hdf5plugin.Bitshuffle(cname="lz4")`), uncompressed and gzip level 1.',
            "- baseline: `bench/baseline.py`, the hand-written replay source of dranspose's docs "
            "(per-frame `dset[i]`, `bitshuffle.compress_lz4`, dranspose models, "
            "`cbor2.dump(CBORTag(55799, msg), fh, default=message_encoder)` as `Dumper` does), "
            "with event numbers 0..N+1. It runs with `OMP_NUM_THREADS=1`: with libgomp's default "
            "team, bitshuffle's OpenMP threads spin while they wait, and on a machine shared with "
            "other jobs the loop's time then measures the load (85-99 s instead of ~6 s for the "
            "gzip case in one run here), not the loop.",
            f"- h5tocbors: `h5tocbors convert FILE --stream {STREAM}={DATASET} -o DIR --force "
            "--quiet` (the installed console script). Both write bitshuffle-LZ4 payloads.",
            "- cp: `cp FILE DIR/`, the cost of moving the input bytes at all.",
            f"- {args.rounds} round(s), the tools alternating with the order rotated each "
            "round; times are the median wall seconds of the child process, peak RSS the "
            "largest `ru_maxrss` of the child (from `os.wait4`) over the rounds; "
            "1 MB = 10^6 bytes. Children are started by `bench/launcher.py`, a bare Python "
            "process, because Linux counts the parent's high-water RSS in a child's "
            "`ru_maxrss`; its size (~11 MB) is the floor that the cp column shows.",
            "- Page cache: inputs are read **warm** (each input is read once before timing, and "
            "the untimed check run reads it too); nothing is dropped (that needs root). Outputs "
            "go to `bench_data/scratch/` and are deleted after each run, followed by an untimed "
            "`sync`, so no tool pays for another's writeback; no tool fsyncs its own output.",
            "- Before timing, h5tocbors' capture is checked against the baseline's with "
            "`dranspose.replay.get_internals`: same number of messages, event numbers, STINS "
            "headers, and frames 0, 1, N/2 and N-1 decoding to the input's.",
            f"- Frame counts: bitshuffle-LZ4 {args.lz4_frames}, uncompressed {args.raw_frames}, "
            f"gzip {args.gzip_frames}. By default uncompressed and gzip have 200 frames, not "
            "1000 as bitshuffle-LZ4, so the whole `make bench` takes about 10 minutes or less on "
            "a 2-core machine; use `--raw-frames` / `--gzip-frames` for more.",
            "- Packed chunks: xspress3-like spectra (`(N, 4, 4096)` uint32 counts, gzip level 4, "
            "chunks `(70, 1, 256)`, converted with `--compression none` as the xspress3 writer "
            "keeps them) and Pilatus 2M frames in gzip-1 chunks of 10 frames (bitshuffle-LZ4 "
            "output). Reference: `h5py.File(FILE)[DATASET][()]` in a child Python, which "
            "decodes each chunk once on one thread and keeps the whole dataset in memory. "
            "Frames 0, 1, N/2, N-1 of h5tocbors' capture are checked against the input first.",
            f"- OpenMP: `h5tocbors verify` of {omp.frames if omp else OMP_FRAMES} bitshuffle-LZ4 "
            f"frames of {OMP_SHAPE[0]}x{OMP_SHAPE[1]} uint16, idle and with one other process "
            "spinning (`python -c 'while True: pass'`, started 0.2 s before the run, killed "
            'after); "as is" is h5tocbors (bitshuffle on one OpenMP thread), '
            '"OMP_NUM_THREADS=cores" sets the variable to the core count, which h5tocbors '
            "respects: libgomp's default team, whose threads spin while they wait.",
            *(
                [
                    f"- before: h5tocbors as of `{args.before}` (exported with `git archive` to "
                    f"`{BEFORE[0].relative_to(REPO)}`, run with the same installed dependencies), "
                    "timed in the same rounds as the current one."
                ]
                if BEFORE
                else []
            ),
            "",
            "## Results",
            "",
            table(results),
            "",
            "speed-up = baseline s / h5tocbors s; h5tocbors / cp = h5tocbors s / cp s; "
            "MB/s = input MB / h5tocbors s; CPU s = user + system seconds of the child "
            "(median), which other jobs on the machine disturb less than wall time.",
            "",
            *([f"gzip: {inflate}.", ""] if inflate else []),
            *([f"uncompressed: {reads}.", ""] if reads else []),
            *(["### Packed chunks", "", packed_table(packed), ""] if packed else []),
            *(["### OpenMP on a busy node", "", omp_table(omp), ""] if omp else []),
            *(["### Before and after", "", before_table(results, packed), ""] if BEFORE else []),
            "### Targets",
            "",
            *[f"- {line}" for line in targets(everything)],
            "",
            *[line.strip() for line in noise_notes(results)],
            "",
            "### Details",
            "",
            *details,
            "",
            "| case | tool | seconds per round | peak RSS MB per round |",
            "|---|---|---|---|",
            *runs,
            "",
        ]
    )


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--lz4-frames", type=int, help="frames of the bitshuffle-LZ4 case (default 1000)"
    )
    p.add_argument("--raw-frames", type=int, help="frames of the uncompressed case (default 200)")
    p.add_argument("--gzip-frames", type=int, help="frames of the gzip case (default 200)")
    p.add_argument(
        "--rounds", type=int, help="timed rounds per case; the median is reported (default 3)"
    )
    every = [*CASES, *PACKED, "openmp"]
    p.add_argument(
        "--cases", default=",".join(every), help=f"comma list of {', '.join(every)} (default all)"
    )
    p.add_argument(
        "--before",
        metavar="REF",
        help="also time h5tocbors as of git revision REF (e.g. main) in every case",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, 1 round: a smoke run; does not write BENCHMARKS.md unless --write",
    )
    write = p.add_mutually_exclusive_group()
    write.add_argument("--no-write", action="store_true", help="do not write BENCHMARKS.md")
    write.add_argument("--write", action="store_true", help="write BENCHMARKS.md even with --quick")
    args = p.parse_args(argv)
    for key, case in CASES.items():
        dest = f"{key}_frames"
        if getattr(args, dest) is None:
            setattr(args, dest, QUICK_FRAMES[key] if args.quick else case.default_frames)
        if getattr(args, dest) < 2:
            p.error(f"--{key}-frames must be at least 2")
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    args.case_list = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in args.case_list if c not in every]
    if unknown or not args.case_list:
        p.error(
            f"--cases: unknown {', '.join(unknown) or '(none)'}; choose from {', '.join(every)}"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cmdline = shlex.join(["python", "bench/bench.py", *(sys.argv[1:] if argv is None else argv)])
    started = time.perf_counter()
    LOAD_AT_START[0] = load_average()
    if not H5TOCBORS.exists():
        print(f"bench: {H5TOCBORS} not found: install h5tocbors into this Python", file=sys.stderr)
        return 2
    DATA_DIR.mkdir(exist_ok=True)
    print(
        f"h5tocbors benchmark: {args.rounds} round(s); frames: bitshuffle-LZ4 {args.lz4_frames}, "
        f"uncompressed {args.raw_frames}, gzip {args.gzip_frames}"
    )
    if not args.quick:
        print(
            "(uncompressed and gzip default to 200 frames, not 1000, so that the whole run "
            "takes ~10 minutes or less on 2 cores; see --raw-frames/--gzip-frames)"
        )
    if args.before:
        global TOOLS
        BEFORE.append(export_revision(args.before))
        TOOLS = (*TOOLS, "before")
        print(f"before: h5tocbors as of {args.before}, exported to {BEFORE[0]}")
    results = []
    maker: list[FrameMaker] = []
    packed = []
    for key in args.case_list:
        if key in PACKED:
            frames = PACKED[key].quick_frames if args.quick else PACKED[key].shape[0]
            print(f"data: {packed_path(PACKED[key], frames).name} ...", end=" ", flush=True)
            path, spent = ensure_packed(PACKED[key], frames, maker)
            print(f"generated in {spent:.1f} s" if spent else "reused")
            packed.append(PackedResult(PACKED[key], path, frames, path.stat().st_size / MB))
            continue
        if key not in CASES:
            continue
        case = CASES[key]
        frames = getattr(args, f"{key}_frames")
        print(f"data: {data_path(case, frames).name} ...", end=" ", flush=True)
        path, spent = ensure_data(case, frames, maker)
        print(f"generated in {spent:.1f} s" if spent else "reused")
        results.append(Result(case, path, frames, path.stat().st_size / MB, spent))
    failed = False
    launcher = Launcher()
    try:
        for result in results:
            try:
                bench_case(launcher, result, args.rounds)
            except ChildFailed as e:
                result.problems.append(str(e))
                result.status = "FAILED"
                print(f"  FAILED: {e}")
            failed |= bool(result.problems)
        for presult in packed:
            try:
                bench_packed(launcher, presult, args.rounds)
            except ChildFailed as e:
                presult.problems.append(str(e))
                print(f"  FAILED: {e}")
            failed |= bool(presult.problems)
        inflate = ""
        gzip = [r for r in results if r.case.key == "gzip"]
        if gzip:
            inflate = inflate_timings(gzip[0].path)
            print(f"\n{inflate}")
        reads = ""
        raw = [r for r in results if r.case.key == "raw"]
        if raw:
            reads = read_path_timings(raw[0].path)
            print(f"\n{reads}")
        omp = None
        if "openmp" in args.case_list:
            omp = OmpResult(OMP_QUICK_FRAMES if args.quick else OMP_FRAMES)
            bench_openmp(launcher, omp, args.rounds)
            failed |= bool(omp.problems)
    finally:
        launcher.close()
    total = time.perf_counter() - started
    print("\n" + table(results) + "\n")
    if packed:
        print(packed_table(packed) + "\n")
    if omp is not None:
        print(omp_table(omp) + "\n")
    if BEFORE:
        print(before_table(results, packed) + "\n")
    everything: list[Any] = [*results, *packed, *([omp] if omp else [])]
    print("\n".join(targets(everything) + noise_notes(results)))
    print(
        f"\n(inputs read warm from the page cache; medians of {args.rounds} round(s); "
        f"total {total / 60:.1f} min)"
    )
    if args.write or not (args.quick or args.no_write):
        REPORT.write_text(markdown(results, args, cmdline, total, packed, omp, inflate, reads))
        print(f"wrote {REPORT.relative_to(REPO)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
