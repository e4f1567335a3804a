"""Frames stored many per chunk (xspress3 spectra, Pilatus frames in gzip chunks of 10):
h5tocbors against h5py reading the whole dataset in one call, time and peak memory."""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from dranspose.replay import get_internals

from .frames import GENERATOR, HEIGHT, SEED, WIDTH, FrameMaker, decode
from .runner import (
    BEFORE,
    DATA_DIR,
    DATASET,
    RSS_LIMIT_MB,
    STREAM,
    Launcher,
    Run,
    Timings,
    convert_command,
    generated,
    rotated,
    scratch,
    warm,
)


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
    with generated(path) as f:
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
    return path, time.perf_counter() - start


def packed_command(tool: str, case: PackedCase, path: Path, outdir: Path) -> list[str]:
    if tool == "h5py-whole":
        return [sys.executable, "-c", WHOLE, str(path), DATASET]
    return convert_command(path, outdir, "--quiet", "--compression", case.compression, tool=tool)


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
        return self.ratio("h5tocbors", "h5py-whole")

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
        for tool in rotated(tools, r):
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
