"""Start-up: what every call of h5tocbors pays before its first frame, beside its floor.

Times, interleaved and rotated, many runs of each (medians):
  python        `python -c pass`, the interpreter alone;
  numpy+h5py    `python -c "import numpy, h5py"`, the floor of any conversion (and with
                OPENBLAS_NUM_THREADS=1, as the console script imports numpy);
  --version     `h5tocbors --version`, which needs neither;
  --help        `h5tocbors --help`;
  convert       `h5tocbors convert` of two 16x16 frames: a conversion's fixed cost;
  convert, one process  the same through `cli.command` without the console script's fork
                (`commands/isolate`): the fork's cost is the difference.
"""

from __future__ import annotations

import compileall
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

import hdf5plugin
import numpy as np

from .frames import GENERATOR
from .runner import (
    BEFORE,
    DATA_DIR,
    DATASET,
    REPO,
    Launcher,
    Run,
    Timings,
    convert_command,
    generated,
    h5tocbors_exe,
    holds,
    rotated,
    scratch,
)

FLOOR, FLOOR_CODE = "numpy+h5py", "import numpy, h5py"
MAX_VERSION_S = 0.1
MAX_CONVERT_OVER_FLOOR_S = 0.1
REPEATS, QUICK_REPEATS = 10, 3
"""Runs of each command per round: one start-up is a tenth of a second, noisy on its own."""
ONE_PROCESS = (
    "import os, sys; from h5tocbors.commands import cli; "
    "os.environ.setdefault(cli.OPENBLAS_THREADS, '1'); os._exit(cli.command(sys.argv[1:]))"
)
"""`cli.run` without `isolated`: the console script's work, in one process."""


def compile_bytecode() -> str:
    """Compile h5tocbors (and the `--before` tree) to bytecode, as an installed package has it:
    with PYTHONDONTWRITEBYTECODE set, every run would compile its modules again (~0.1 s)."""
    for tree in [REPO / "h5tocbors", *(b / "h5tocbors" for b in BEFORE)]:
        compileall.compile_dir(tree, quiet=1)
    unset = "PYTHONDONTWRITEBYTECODE" in os.environ
    return "compiled beforehand (PYTHONDONTWRITEBYTECODE is set here)" if unset else "compiled"


def ensure_tiny() -> Path:
    """Two 16x16 bitshuffle-LZ4 frames: a conversion that costs next to nothing but starting."""
    path = DATA_DIR / f"startup_2f_16x16_{GENERATOR}.h5"
    if holds(path, (2, 16, 16)):
        return path
    with generated(path) as f:
        data = np.arange(2 * 16 * 16, dtype=np.uint32).reshape(2, 16, 16)
        f.create_dataset(DATASET, data=data, chunks=(1, 16, 16), **hdf5plugin.Bitshuffle())
    return path


def commands(path: Path, out: Path) -> dict[str, list[str]]:
    """The commands timed, by name (with `before ...` for `--before REF`)."""
    python = [sys.executable, "-c"]
    convert = convert_command(path, out, "--quiet")
    cmds = {
        "python": [*python, "pass"],
        FLOOR: [*python, FLOOR_CODE],
        f"{FLOOR}, one BLAS thread": ["env", "OPENBLAS_NUM_THREADS=1", *python, FLOOR_CODE],
        "--version": [*h5tocbors_exe(), "--version"],
        "--help": [*h5tocbors_exe(), "--help"],
        "convert": convert,
        "convert, one process": [*python, ONE_PROCESS, *convert[1:]],
    }
    if BEFORE:
        cmds["before --version"] = [*h5tocbors_exe("before"), "--version"]
        cmds["before convert"] = convert_command(path, out, "--quiet", tool="before")
    return cmds


@dataclass
class StartupResult(Timings):
    repeats: int
    bytecode: str = ""
    runs: dict[str, list[Run]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def timed(self) -> bool:
        return not self.problems and bool(self.runs)

    def over_floor(self, name: str) -> float:
        """The median over repeats of `name`'s time less the floor's in the same repeat."""
        pairs = zip(self.runs[name], self.runs[FLOOR], strict=True)
        return statistics.median(a.seconds - b.seconds for a, b in pairs)

    def targets(self) -> list[tuple[str, bool, str]]:
        if not self.timed:
            return [("start-up: runs", False, "; ".join(self.problems))]
        version, convert = self.seconds("--version"), self.over_floor("convert")
        return [
            (
                f"start-up: h5tocbors --version <= {MAX_VERSION_S:g} s",
                version <= MAX_VERSION_S,
                f"{version:.3f} s",
            ),
            (
                f"start-up: convert's fixed cost - `import numpy, h5py` <= "
                f"{MAX_CONVERT_OVER_FLOOR_S:g} s",
                convert <= MAX_CONVERT_OVER_FLOOR_S,
                f"{convert:+.3f} s",
            ),
        ]


def bench_startup(launcher: Launcher, result: StartupResult, rounds: int) -> None:
    path = ensure_tiny()
    print(f"\n== start-up: {result.repeats} runs of each per round; bytecode {result.bytecode}")
    with scratch("startup") as out:
        cmds = commands(path, out)
        for cmd in cmds.values():  # untimed: each runs, and its files are in the page cache
            launcher.run(cmd)
        for r in range(rounds):
            for k in range(result.repeats):
                for name in rotated(list(cmds), r * result.repeats + k):
                    run, _ = launcher.run(cmds[name])
                    result.runs.setdefault(name, []).append(run)
            medians = ", ".join(f"{n} {result.seconds(n):.3f}" for n in cmds)
            print(f"  round {r + 1}/{rounds} (median s so far): {medians}", flush=True)


def startup_table(result: StartupResult) -> str:
    lines = [
        "| command | median s | fastest s | median - numpy+h5py s | CPU s |",
        "|---|---|---|---|---|",
    ]
    if not result.timed:
        return "\n".join([*lines, f"| FAILED: {'; '.join(result.problems)} |"])
    for name, runs in result.runs.items():
        fastest = min(r.seconds for r in runs)
        lines.append(
            f"| {name} | {result.seconds(name):.3f} | {fastest:.3f} "
            f"| {result.over_floor(name):+.3f} | {result.cpu(name):.3f} |"
        )
    return "\n".join(lines)
