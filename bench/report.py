"""The report: the machine, the method, each section's table and the targets met or missed,
printed and written to BENCHMARKS.md."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import subprocess
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import bitshuffle
import h5py
import hdf5plugin
import numpy as np

from .frames import HEIGHT, WIDTH
from .openmp import OMP_FRAMES, OMP_SHAPE, OmpResult, omp_table
from .packed import PackedResult, packed_table
from .pilatus import Result, table
from .runner import BEFORE, DATA_DIR, DATASET, REPO, STREAM
from .startup import MAX_CONVERT_OVER_FLOOR_S, StartupResult, startup_table

REPORT = REPO / "BENCHMARKS.md"
PILATUS_TITLE = "Pilatus 2M scans against the loop and cp"
LOAD_AT_START = ["unknown"]


def before_table(results: list[Result], packed: list[PackedResult]) -> str:
    """h5tocbors as of `--before REF` against the current one, case by case."""
    columns = ["case", "before s", "h5tocbors s", "before / h5tocbors (x)", "before CPU s"]
    lines = ["| " + " | ".join([*columns, "h5tocbors CPU s"]) + " |", "|---|---|---|---|---|---|"]
    for r in [*results, *packed]:
        if r.timed:
            b, a = r.seconds("before"), r.seconds("h5tocbors")
            lines.append(
                f"| {r.case.label} | {b:.2f} | {a:.2f} | {r.ratio('before', 'h5tocbors'):.2f} "
                f"| {r.cpu('before'):.2f} | {r.cpu('h5tocbors'):.2f} |"
            )
    return "\n".join(lines)


# ---------------------------------------------------------------------------- inflate


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
    startup: StartupResult | None,
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
    everything: list[Any] = [*([startup] if startup else []), *results, *packed]
    everything += [omp] if omp else []
    details = [
        f"- {r.case.label}: `{r.path.name}`; h5tocbors output {r.output_mb:.0f} MB "
        f"(baseline {r.baseline_output_mb:.0f} MB); h5tocbors path: {r.fast_path or 'n/a'}"
        for r in results
    ]
    return "\n".join(
        [
            "# Benchmarks",
            "",
            "Written by `python -m bench` (`make bench`); rerun it to refresh this file.",
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
            f"gzip {args.gzip_frames}. By default uncompressed has 200 frames and gzip 100, not "
            "1000 as bitshuffle-LZ4, so the whole `make bench` takes about 10 minutes or less on "
            "a 2-core machine; use `--raw-frames` / `--gzip-frames` for more.",
            "- Packed chunks: xspress3-like spectra (`(N, 4, 4096)` uint32 counts, gzip level 4, "
            "chunks `(70, 1, 256)`, converted with `--compression none` as the xspress3 writer "
            "keeps them) and Pilatus 2M frames in gzip-1 chunks of 10 frames (bitshuffle-LZ4 "
            "output). Reference: `h5py.File(FILE)[DATASET][()]` in a child Python, which "
            "decodes each chunk once on one thread and keeps the whole dataset in memory. "
            "Frames 0, 1, N/2, N-1 of h5tocbors' capture are checked against the input first.",
            *(
                [
                    f"- Start-up: {startup.repeats} runs of each command per round, interleaved "
                    "in rotated order: `python -c pass`, `python -c 'import numpy, h5py'` (the "
                    "floor of a conversion; also with `OPENBLAS_NUM_THREADS=1`, which the console "
                    "script sets unless it is set), `h5tocbors --version`, `h5tocbors --help`, "
                    "`h5tocbors convert` of two 16x16 bitshuffle-LZ4 frames (a conversion's fixed "
                    "cost; target: within "
                    f"{MAX_CONVERT_OVER_FLOOR_S:g} s of the floor) and the same conversion "
                    "through `cli.command` in one process (no isolating fork: the difference is "
                    f"the fork's cost). h5tocbors' bytecode: {startup.bytecode}.",
                ]
                if startup
                else []
            ),
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
            *(["### Start-up", "", startup_table(startup), ""] if startup else []),
            *([f"### {PILATUS_TITLE}", "", table(results), ""] if results else []),
            "speed-up = baseline s / h5tocbors s; h5tocbors / cp = h5tocbors s / cp s; each "
            "ratio is the median over rounds of the ratio within a round (the tools of one round "
            "run back to back, under much the same load); seconds are medians over rounds. "
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
