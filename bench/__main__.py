"""`python -m bench` (`make bench`): every section in one run, ratios side by side."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable
from typing import Any

from . import __doc__ as DESCRIPTION
from .frames import FrameMaker
from .micro import inflate_timings, read_path_timings
from .openmp import OMP_FRAMES, OMP_QUICK_FRAMES, OmpResult, bench_openmp, omp_table
from .packed import PACKED, PackedResult, bench_packed, ensure_packed, packed_path, packed_table
from .pilatus import CASES, QUICK_FRAMES, Result, bench_case, data_path, ensure_data, table
from .report import (
    LOAD_AT_START,
    REPORT,
    before_table,
    load_average,
    markdown,
    noise_notes,
    targets,
)
from .runner import BEFORE, DATA_DIR, H5TOCBORS, MB, REPO, ChildFailed, Launcher, export_revision
from .startup import (
    QUICK_REPEATS,
    REPEATS,
    StartupResult,
    bench_startup,
    compile_bytecode,
    startup_table,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--lz4-frames", type=int, help="frames of the bitshuffle-LZ4 case (default 1000)"
    )
    p.add_argument("--raw-frames", type=int, help="frames of the uncompressed case (default 200)")
    p.add_argument("--gzip-frames", type=int, help="frames of the gzip case (default 100)")
    p.add_argument(
        "--rounds",
        type=int,
        help="timed rounds per case; the median is reported (default 5: LZ4 / cp, near its "
        "target, moves by a few percent from round to round)",
    )
    every = ["startup", *CASES, *PACKED, "openmp"]
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
        args.rounds = 1 if args.quick else 5
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    args.case_list = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in args.case_list if c not in every]
    if unknown or not args.case_list:
        p.error(
            f"--cases: unknown {', '.join(unknown) or '(none)'}; choose from {', '.join(every)}"
        )
    return args


def timed(
    bench: Callable[[Launcher, Any, int], None], launcher: Launcher, result: Any, rounds: int
) -> bool:
    """Run one section's `bench` for `result`: a child that failed is one of its problems
    (the section is then not timed). True when it has problems."""
    try:
        bench(launcher, result, rounds)
    except ChildFailed as e:
        result.problems.append(str(e))
        if hasattr(result, "status"):
            result.status = "FAILED"
        print(f"  FAILED: {e}")
    return bool(result.problems)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cmdline = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
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
            "(uncompressed and gzip default to 200 and 100 frames, not 1000, so that the run "
            "takes ~10 minutes or less on 2 cores; see --raw-frames/--gzip-frames)"
        )
    if args.before:
        BEFORE.append(export_revision(args.before))
        print(f"before: h5tocbors as of {args.before}, exported to {BEFORE[0]}")
    bytecode = compile_bytecode()
    print(f"h5tocbors bytecode: {bytecode}")
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
    startup = None
    try:
        if "startup" in args.case_list:
            startup = StartupResult(QUICK_REPEATS if args.quick else REPEATS, bytecode)
            failed |= timed(bench_startup, launcher, startup, args.rounds)
        for result in results:
            failed |= timed(bench_case, launcher, result, args.rounds)
        for presult in packed:
            failed |= timed(bench_packed, launcher, presult, args.rounds)
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
    if startup is not None:
        print("\n" + startup_table(startup))
    if results:
        print("\n" + table(results) + "\n")
    if packed:
        print(packed_table(packed) + "\n")
    if omp is not None:
        print(omp_table(omp) + "\n")
    if BEFORE:
        print(before_table(results, packed) + "\n")
    everything: list[Any] = [*([startup] if startup else []), *results, *packed]
    everything += [omp] if omp else []
    print("\n".join(targets(everything) + noise_notes(results)))
    print(
        f"\n(inputs read warm from the page cache; medians of {args.rounds} round(s); "
        f"total {total / 60:.1f} min)"
    )
    if args.write or not (args.quick or args.no_write):
        REPORT.write_text(
            markdown(results, args, cmdline, total, packed, omp, startup, inflate, reads)
        )
        print(f"wrote {REPORT.relative_to(REPO)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
