"""Pilatus 2M scans stored three ways (bitshuffle-LZ4: passed through; uncompressed and gzip
level 1: encoded), h5tocbors against the seed-style loop (`baseline.py`) and `cp`, output
checked against the loop's first."""

from __future__ import annotations

import itertools
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
from dranspose.replay import get_internals

from .frames import GENERATOR, HEIGHT, WIDTH, FrameMaker, decode, decode_header
from .runner import (
    BEFORE,
    DATA_DIR,
    DATASET,
    MB,
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

BASELINE = Path(__file__).resolve().parent / "baseline.py"
TOOLS = ("baseline", "h5tocbors", "cp")


def tools() -> tuple[str, ...]:
    """The tools timed: the loop, h5tocbors, cp, and h5tocbors as of `--before REF`."""
    return TOOLS + (("before",) if BEFORE else ())


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
        Case("lz4", "bitshuffle-LZ4", dict(hdf5plugin.Bitshuffle(cname="lz4")), 1000, 5.0, 1.8),
        Case("raw", "uncompressed", {}, 200, 1.3),
        Case("gzip", "gzip level 1", {"compression": "gzip", "compression_opts": 1}, 100, 3.5),
    )
}
QUICK_FRAMES = {"lz4": 12, "raw": 6, "gzip": 6}


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
    with generated(path) as f:
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
    return path, time.perf_counter() - start


# ---------------------------------------------------------------------------- running


def command(tool: str, path: Path, outdir: Path) -> list[str]:
    if tool == "baseline":  # one OpenMP thread: else its spinning team measures the load
        script = [sys.executable, str(BASELINE), str(path), DATASET]
        return ["env", "OMP_NUM_THREADS=1", *script, str(outdir / f"{STREAM}.cbors")]
    if tool in ("h5tocbors", "before"):
        return convert_command(path, outdir, "--quiet", tool=tool)
    return ["cp", str(path), str(outdir / path.name)]


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


@dataclass
class Result(Timings):
    case: Case
    path: Path
    frames: int
    input_mb: float
    generated_s: float = 0.0
    runs: dict[str, list[Run]] = field(default_factory=lambda: {t: [] for t in tools()})
    problems: list[str] = field(default_factory=list)
    fast_path: str = ""
    output_mb: float = 0.0
    baseline_output_mb: float = 0.0
    status: str = ""
    """Why no time is reported: "WRONG OUTPUT" or "FAILED"; empty when timed."""

    @property
    def timed(self) -> bool:
        return not self.problems and all(self.runs[t] for t in tools())

    def noisy(self) -> list[str]:
        """Tools whose slowest round took over 1.5x their fastest (seconds above 0.5)."""
        out = []
        for tool in tools():
            times = [r.seconds for r in self.runs[tool]]
            if len(times) > 1 and max(times) > 0.5 and max(times) > 1.5 * min(times):
                out.append(f"{tool} {min(times):.2f}-{max(times):.2f} s")
        return out

    @property
    def speedup(self) -> float:
        return self.ratio("baseline", "h5tocbors")

    @property
    def over_cp(self) -> float:
        return self.ratio("h5tocbors", "cp")

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
        launcher.run(command("baseline", path, out / "b"))
        _, stdout = launcher.run(convert_command(path, out / "t", "--quiet", "--json"))
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
        for tool in rotated(tools(), r):
            with scratch(f"{case.key}-{tool}") as out:
                run, _ = launcher.run(command(tool, path, out))
            result.runs[tool].append(run)
            print(
                f"  round {r + 1}/{rounds} {tool:<9} {run.seconds:8.2f} s  "
                f"peak RSS {run.rss_mb:6.0f} MB",
                flush=True,
            )


# ---------------------------------------------------------------------------- packed chunks


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
