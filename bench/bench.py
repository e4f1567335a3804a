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
Results are printed and written to BENCHMARKS.md.

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
        Case("gzip", "gzip level 1", {"compression": "gzip", "compression_opts": 1}, 200, 1.4),
    )
}
QUICK_FRAMES = {"lz4": 12, "raw": 6, "gzip": 6}


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
            return Run(reply["seconds"], reply["maxrss_kib"] * 1024 / MB), out.read_bytes()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait()


def command(tool: str, path: Path, outdir: Path) -> list[str]:
    if tool == "baseline":
        return [sys.executable, str(BASELINE), str(path), DATASET, str(outdir / f"{STREAM}.cbors")]
    if tool == "h5tocbors":
        stream = f"{STREAM}={DATASET}"
        return [str(H5TOCBORS), "convert", str(path), "--stream", stream]
    return ["cp", str(path), str(outdir / path.name)]


def h5tocbors_command(path: Path, outdir: Path, *extra: str) -> list[str]:
    return [*command("h5tocbors", path, outdir), "-o", str(outdir), "--force", *extra]


def tool_command(tool: str, path: Path, outdir: Path) -> list[str]:
    if tool == "h5tocbors":
        return h5tocbors_command(path, outdir, "--quiet")
    return command(tool, path, outdir)


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


@dataclass
class Result:
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

    def seconds(self, tool: str) -> float:
        return statistics.median(r.seconds for r in self.runs[tool])

    def rss(self, tool: str) -> float:
        return max(r.rss_mb for r in self.runs[tool])

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


# ---------------------------------------------------------------------------- reporting


def table(results: list[Result]) -> str:
    head = (
        "| case | input MB | frames | baseline s | h5tocbors s | cp s | speed-up (x) "
        "| h5tocbors / cp (x) | h5tocbors MB/s | baseline peak RSS MB | h5tocbors peak RSS MB |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in results:
        first = f"| {r.case.label} | {r.input_mb:.0f} | {r.frames} "
        if not r.timed:
            lines.append(first + f"| {r.status or 'FAILED'}, not timed |" + " |" * 7)
            continue
        lines.append(
            first
            + f"| {r.seconds('baseline'):.2f} | {r.seconds('h5tocbors'):.2f} "
            + f"| {r.seconds('cp'):.2f} | {r.speedup:.2f} | {r.over_cp:.2f} "
            + f"| {r.input_mb / r.seconds('h5tocbors'):.0f} "
            + f"| {r.rss('baseline'):.0f} | {r.rss('h5tocbors'):.0f} |"
        )
    return "\n".join(lines)


def targets(results: list[Result]) -> list[str]:
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


def markdown(results: list[Result], args: argparse.Namespace, cmdline: str, total: float) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    runs = []
    for r in results:
        for tool in TOOLS:
            if r.runs[tool]:
                times = ", ".join(f"{x.seconds:.2f}" for x in r.runs[tool])
                rss = ", ".join(f"{x.rss_mb:.0f}" for x in r.runs[tool])
                runs.append(f"| {r.case.label} | {tool} | {times} | {rss} |")
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
            "with event numbers 0..N+1.",
            f"- h5tocbors: `h5tocbors convert FILE --stream {STREAM}={DATASET} -o DIR --force "
            "--quiet` (the installed console script). Both write bitshuffle-LZ4 payloads.",
            "- cp: `cp FILE DIR/`, the cost of moving the input bytes at all.",
            f"- {args.rounds} round(s), the three tools alternating with the order rotated each "
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
            "",
            "## Results",
            "",
            table(results),
            "",
            "speed-up = baseline s / h5tocbors s; h5tocbors / cp = h5tocbors s / cp s; "
            "MB/s = input MB / h5tocbors s.",
            "",
            "### Targets",
            "",
            *[f"- {line}" for line in targets(results)],
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
    p.add_argument(
        "--cases", default=",".join(CASES), help=f"comma list of {', '.join(CASES)} (default all)"
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
    unknown = [c for c in args.case_list if c not in CASES]
    if unknown or not args.case_list:
        p.error(
            f"--cases: unknown {', '.join(unknown) or '(none)'}; choose from {', '.join(CASES)}"
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
    results = []
    maker: list[FrameMaker] = []
    for key in args.case_list:
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
    finally:
        launcher.close()
    total = time.perf_counter() - started
    print("\n" + table(results) + "\n")
    print("\n".join(targets(results) + noise_notes(results)))
    print(
        f"\n(inputs read warm from the page cache; medians of {args.rounds} round(s); "
        f"total {total / 60:.1f} min)"
    )
    if args.write or not (args.quick or args.no_write):
        REPORT.write_text(markdown(results, args, cmdline, total))
        print(f"wrote {REPORT.relative_to(REPO)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
