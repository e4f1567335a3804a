"""The core: open streams from an HDF5 file and write them as dranspose captures."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py

from ..buffers import read_range
from ..capture.encode import encode_message
from ..capture.names import check_stream_name
from ..capture.temporary import remove_abandoned
from ..capture.write import AtomicOutputs, BackgroundWriter, existing_output
from ..errors import Cancel, H5ToCborsError
from ..hdf5.open import open_input
from ..hdf5.resolve import resolve_dataset
from ..protocols import Compression, StreamContext, stins
from .encoding import InputFile
from .events import Clock, PlacedStream, Timeline, iter_events, place, utc_now
from .pipeline import default_jobs

Progress = Callable[[int, int, int], None]
"""Called after each event with (events written, events in all, bytes written over all streams)."""


@dataclass
class StreamResult:
    """What was written for one stream."""

    name: str
    dataset: str
    output: str
    frames: int
    passthrough_frames: int
    bytes: int
    fast_path: str
    """"passthrough" when stored chunks were copied, else why they were not."""


@dataclass
class ConversionResult:
    """The outcome of `convert`: one entry per stream, and the wall time."""

    input: str
    events: int
    seconds: float
    streams: list[StreamResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Streams left alone because their output existed (`skip_existing`)."""


def open_writers(
    f: h5py.File,
    streams: Mapping[str, str | None],
    ctx: StreamContext,
) -> list[PlacedStream]:
    """STINS streams for `streams` (name -> dataset path, or None to find it by name),
    placed one image per event."""
    writers = {
        name: stins.open_writer(resolve_dataset(f, check_stream_name(name), path, ctx.points), ctx)
        for name, path in streams.items()
    }
    counts = {name: len(w) - 2 for name, w in writers.items()}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{n} {c} frames" for n, c in counts.items())
        raise H5ToCborsError(
            f"streams converted together need the same number of frames: {listed}; "
            "select a common range with --frames"
        )
    timeline = Timeline(points=next(iter(counts.values()), 0))
    return [place(name, w, "point", timeline) for name, w in writers.items()]


def iter_messages(
    input: str | os.PathLike[str],
    stream: str,
    dataset: str | None = None,
    *,
    frames: slice | None = None,
    compression: Compression = "bslz4",
    filename: str = "",
) -> Iterator[Any]:
    """dranspose `InternalWorkerMessage`s of one stream, for a `dranspose replay -s` source.

    Example:
        >>> msgs = iter_messages("sample_data/pilatus_100k.h5", "pilatus")
        >>> [m.event_number for m in msgs][:3]
        [0, 1, 2]
    """
    from dranspose.event import InternalWorkerMessage, StreamData  # slow to import: only here

    with open_input(input) as f:
        ctx = StreamContext(InputFile().encoder, frames, compression, filename)
        placed = open_writers(f, {stream: dataset}, ctx)
        for event, parts, created_at in iter_events(placed):
            streams = {
                n: StreamData(typ=p.typ, frames=[bytes(read_range(b)) for b in p.frames])
                for n, p in parts.items()
            }
            yield InternalWorkerMessage(event_number=event, streams=streams, created_at=created_at)


def convert(
    input: str | os.PathLike[str],
    streams: Mapping[str, str | None] | Sequence[str],
    output_dir: str | os.PathLike[str] = "out",
    *,
    frames: slice | None = None,
    compression: Compression = "bslz4",
    filename: str = "",
    force: bool = False,
    skip_existing: bool = False,
    jobs: int | None = None,
    progress: Progress | None = None,
    clock: Clock = utc_now,
    cancel: Cancel | None = None,
) -> ConversionResult:
    """Convert image datasets of `input` into `output_dir/<stream>.cbors`, one per stream.

    Streams converted together share event numbers. Outputs appear only when complete.
    `jobs` threads decode and compress (default: the cores available); the output is
    the same for any number. `skip_existing` leaves streams whose output exists alone.
    Setting `cancel` stops the conversion with `Interrupted`, leaving no output.

    Example:
        >>> r = convert("sample_data/pilatus_100k.h5", ["pilatus"], "out")  # doctest: +SKIP
        >>> r.streams[0].output, r.streams[0].frames  # doctest: +SKIP
        ('out/pilatus.cbors', 20)
    """
    if not isinstance(streams, Mapping):
        streams = dict.fromkeys(streams)
    if not streams:
        raise H5ToCborsError("no stream given: name at least one with --stream NAME[=DATASET]")
    start = time.perf_counter()
    out = Path(output_dir)
    remove_abandoned(out)  # temporaries of killed conversions
    skipped = [n for n in streams if skip_existing and existing_output(out / f"{n}.cbors")]
    todo = {n: p for n, p in streams.items() if n not in skipped}
    result = ConversionResult(str(input), 0, 0.0, skipped=skipped)
    if not todo:
        return result
    with open_input(input) as f, InputFile.open(input, jobs or default_jobs()) as source:
        placed = open_writers(f, todo, StreamContext(source.encoder, frames, compression, filename))
        paths = [out / f"{p.name}.cbors" for p in placed]
        total = max(p.events[-1] for p in placed) + 1
        written = {p.name: 0 for p in placed}
        # a resumable batch trusts existing outputs: make them durable before they appear
        atomic = AtomicOutputs(paths, force=force, sync=skip_existing)
        with atomic as handles, BackgroundWriter() as writer:
            files = {p.name: h for p, h in zip(placed, handles)}
            labels = {p.name: str(path) for p, path in zip(placed, paths)}
            for event, parts, created_at in iter_events(placed, clock):
                if cancel is not None:
                    cancel.check()
                for name, part in parts.items():
                    message = encode_message(event, {name: part}, created_at)
                    written[name] += writer.write(files[name], message, labels[name])
                result.events = event + 1
                if progress is not None:
                    progress(result.events, total, sum(written.values()))
        result.streams = [
            StreamResult(
                name=p.name,
                dataset=p.writer.source,
                output=str(path),
                frames=p.writer.counters.frames,
                passthrough_frames=p.writer.counters.passthrough,
                bytes=written[p.name],
                fast_path=p.writer.fast_path,
            )
            for p, path in zip(placed, paths)
        ]
    result.seconds = time.perf_counter() - start
    return result
