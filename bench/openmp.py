"""OpenMP on a busy node: `h5tocbors verify` of many small frames, idle and beside a busy
process, as it runs (bitshuffle on one OpenMP thread) and with libgomp's default team."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import hdf5plugin
import numpy as np

from .frames import GENERATOR, SEED
from .runner import (
    DATA_DIR,
    DATASET,
    H5TOCBORS,
    STREAM,
    ChildFailed,
    Launcher,
    Run,
    Timings,
    convert_command,
    generated,
    holds,
    rotated,
    scratch,
)

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


def ensure_small_frames(frames: int) -> Path:
    """Many small bitshuffle-LZ4 frames (64x64 uint16), one per chunk."""
    path = DATA_DIR / f"small_{frames}f_{OMP_SHAPE[0]}x{OMP_SHAPE[1]}_{GENERATOR}.h5"
    if holds(path, (frames, *OMP_SHAPE)):
        return path
    data = np.random.default_rng(SEED).poisson(2.0, (frames, *OMP_SHAPE)).astype(np.uint16)
    with generated(path) as f:
        f.create_dataset(
            DATASET, data=data, chunks=(1, *OMP_SHAPE), **hdf5plugin.Bitshuffle(cname="lz4")
        )
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
class OmpResult(Timings):
    frames: int
    runs: dict[str, list[Run]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

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
        launcher.run(convert_command(path, out, "--quiet"))
        capture = out / f"{STREAM}.cbors"
        for r in range(rounds):
            for variant in rotated(OMP_VARIANTS, r):
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
