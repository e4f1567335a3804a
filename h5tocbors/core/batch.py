"""Convert many files: output layout, shards for a cluster, files in parallel, failures isolated."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from ..errors import Cancel, H5ToCborsError, UsageError
from .convert import ConversionResult, Progress

T = TypeVar("T")
Status = Literal["ok", "skipped", "failed"]


@dataclass
class FileOutcome:
    """What happened to one input file."""

    input: str
    output_dir: str
    status: Status
    seconds: float
    error: str | None = None
    result: ConversionResult | None = None
    entry: str | None = None
    """The scan entry converted, for a Sardana NXscan file (None: another file)."""

    @property
    def name(self) -> str:
        """The input, with its scan entry if it has one: `scans.h5 /entry7`."""
        return f"{self.input} /{self.entry}" if self.entry else self.input


def plan_outputs(inputs: Sequence[Path], output_dir: Path) -> list[tuple[Path, Path]]:
    """(input, its output directory): `output_dir` for one input, `output_dir/<stem>` for many.

    Two inputs with the same stem are an error, raised before anything is written.

    Example:
        >>> [str(out) for _, out in plan_outputs([Path("a/s1.h5"), Path("b/s2.h5")], Path("o"))]
        ['o/s1', 'o/s2']
    """
    if len(inputs) == 1:
        return [(inputs[0], output_dir)]
    odd = [str(p) for p in inputs if p.stem in ("", ".", "..")]
    if odd:
        raise H5ToCborsError(f"cannot name an output directory after {', '.join(odd)}")
    twice = sorted(stem for stem, n in Counter(p.stem for p in inputs).items() if n > 1)
    if twice:
        clashes = [
            f"{', '.join(str(p) for p in inputs if p.stem == stem)} -> {output_dir / stem}"
            for stem in twice
        ]
        raise H5ToCborsError(
            f"inputs would share an output directory: {'; '.join(clashes)}; "
            "convert them separately with -o"
        )
    return [(p, output_dir / p.stem) for p in inputs]


def parse_shard(text: str) -> tuple[int, int]:
    """`K/N` (0 <= K < N) into (K, N), as from `$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`.

    Example:
        >>> parse_shard("2/8")
        (2, 8)
    """
    k, sep, n = text.partition("/")
    try:
        shard = (int(k), int(n))
    except ValueError:
        raise UsageError(f"--shard {text!r} is not K/N (e.g. 0/4)") from None
    if not sep or not 0 <= shard[0] < shard[1]:
        raise UsageError(f"--shard {text!r}: need 0 <= K < N, K counted from 0")
    return shard


def take_shard(
    items: Sequence[T], shard: tuple[int, int] | None, key: Callable[[T], Any]
) -> list[T]:
    """The K-th of N deterministic, disjoint parts of `items`: every N-th in sorted order.

    Example:
        >>> take_shard(["c", "a", "d", "b"], (1, 2), key=str)
        ['b', 'd']
    """
    ordered = sorted(items, key=key)
    if shard is None:
        return ordered
    k, n = shard
    return ordered[k::n]


ConvertOne = Callable[[Path, Path, int, Progress | None, Cancel], ConversionResult]
"""Converts (input, output directory) with so many jobs, a progress callback, a cancel flag."""


def convert_many(
    plan: Sequence[tuple[Path, Path]],
    convert_one: ConvertOne,
    *,
    jobs: int = 1,
    on_start: Callable[[Path], Progress | None] | None = None,
    on_done: Callable[[FileOutcome], None] | None = None,
    cancel: Cancel | None = None,
) -> list[FileOutcome]:
    """Convert each (input, output directory) of `plan`; one failure does not stop the others.

    Files run `jobs` at a time. Setting `cancel` (or an exception here, such as Ctrl-C)
    stops every conversion, each leaving nothing behind; `Interrupted` is raised.
    """
    cancel = cancel if cancel is not None else Cancel()
    file_jobs = max(1, min(jobs, len(plan)))

    def one(source: Path, out: Path) -> FileOutcome:
        start = time.perf_counter()
        progress = on_start(source) if on_start is not None else None
        outcome = FileOutcome(str(source), str(out), "failed", 0.0)
        try:
            outcome.result = convert_one(source, out, max(1, jobs // file_jobs), progress, cancel)
            outcome.status = "ok" if outcome.result.streams else "skipped"
        except H5ToCborsError as e:
            outcome.error = str(e)
        except Exception as e:  # a bug must not stop the batch either
            outcome.error = f"unexpected {type(e).__name__}: {e}"
        outcome.seconds = time.perf_counter() - start
        if on_done is not None:
            on_done(outcome)
        return outcome

    from concurrent.futures import ThreadPoolExecutor  # not needed for one file

    pool = ThreadPoolExecutor(max_workers=file_jobs, thread_name_prefix="h5tocbors-file")
    futures = [pool.submit(one, source, out) for source, out in plan]
    try:
        outcomes = [f.result() for f in futures]
        cancel.check()  # a stop asked for while the last files finished
        return outcomes
    except BaseException:
        cancel.set()
        for f in futures:
            f.cancel()
        raise
    finally:
        pool.shutdown(wait=True)
