"""The core: open streams from an HDF5 file and write them as dranspose captures."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..capture.encode import encode_message
from ..capture.temporary import remove_abandoned
from ..capture.write import AtomicOutputs, BackgroundWriter, existing_output
from ..errors import Cancel
from ..hdf5.open import open_input
from ..payloads import Compression
from ..payloads.encoding import InputFile
from ..protocols import StreamContext
from ..scan.specs import Axes, as_axes
from ..scan.streams import Streams, as_config, as_mapping, open_streams
from .events import Clock, iter_events, utc_now
from .jobs import default_jobs

if TYPE_CHECKING:
    from ..scan.config import ScanConfig

Progress = Callable[[int, int, int], None]
"""Called after each event with (events written, events in all, bytes written over all streams)."""


@dataclass
class StreamResult:
    """What was written for one stream."""

    name: str
    typ: str
    dataset: str
    output: str
    frames: int
    passthrough_frames: int
    bytes: int
    fast_path: str
    """"passthrough" when stored chunks were copied, else why they were not ("": no payloads)."""
    hint: str | None = None
    """Advice on how frames were cut: for tiny frames, the `--axes` that cuts images (None
    otherwise, as `ls` has it)."""


@dataclass
class ConversionResult:
    """The outcome of `convert`: one entry per stream, and the wall time."""

    input: str
    events: int
    seconds: float
    streams: list[StreamResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Streams left alone because their output existed (`skip_existing`)."""


def convert(
    input: str | os.PathLike[str],
    streams: Streams = (),
    output_dir: str | os.PathLike[str] = "out",
    *,
    scan: bool = False,
    config: ScanConfig | str | os.PathLike[str] | None = None,
    frames: slice | None = None,
    axes: Axes | None = None,
    compression: Compression = "bslz4",
    filename: str = "",
    force: bool = False,
    skip_existing: bool = False,
    jobs: int | None = None,
    progress: Progress | None = None,
    clock: Clock = utc_now,
    cancel: Cancel | None = None,
    entry: str | None = None,
) -> ConversionResult:
    """Convert streams of `input` into `output_dir/<stream>.cbors`, one capture per stream.

    `streams` names image datasets, or maps names to `PATH[:PROTOCOL]`; with `scan`, the
    input is a contrast master file (or a Sardana NXscan file: `entry` picks its scan,
    `"entry12"`; None: its only one) and every stream of the scan is converted (or those
    named); `config` describes another scan layout (a TOML file). `axes` cuts image
    datasets into frames (`"HWN"` for every image stream, `{"velox": "HWN"}` by name; see
    `hdf5.layout`). Streams converted together share event numbers. Outputs appear only
    when complete.
    `jobs` threads decode and compress (default: the cores available); the output is
    the same for any number. `skip_existing` leaves streams whose output exists alone.
    Setting `cancel` stops the conversion with `Interrupted`, leaving no output.

    Example:
        >>> r = convert("sample_data/pilatus_100k.h5", ["pilatus"], "out")  # doctest: +SKIP
        >>> r.streams[0].output, r.streams[0].frames  # doctest: +SKIP
        ('out/pilatus.cbors', 20)
    """
    requested, cut = as_mapping(streams), as_axes(axes)
    start = time.perf_counter()
    out = Path(output_dir)
    result = ConversionResult(str(input), 0, 0.0)
    remove_abandoned(out)  # temporaries of killed conversions
    named_only = not scan and config is None and requested
    if named_only and skip_existing and all(existing_output(out / f"{n}.cbors") for n in requested):
        result.skipped = list(requested)  # resume a batch without opening the input
        return result
    with open_input(input) as f, InputFile.open(input, jobs or default_jobs()) as source:
        ctx = StreamContext(source.encoder, frames, compression, filename, input=os.fspath(input))
        placed = open_streams(
            f, requested, ctx, scan=scan, config=as_config(config), axes=cut, entry=entry
        )
        if skip_existing:
            result.skipped = [p.name for p in placed if existing_output(out / f"{p.name}.cbors")]
            placed = [p for p in placed if p.name not in result.skipped]
            if not placed:
                result.seconds = time.perf_counter() - start
                return result
        paths = [out / f"{p.name}.cbors" for p in placed]
        total = max(p.events[-1] for p in placed) + 1
        written = {p.name: 0 for p in placed}
        # a resumable batch trusts existing outputs: make them durable before they appear
        atomic = AtomicOutputs(paths, force=force, sync=skip_existing)
        with atomic as handles:
            with BackgroundWriter() as writer:
                files = {p.name: h for p, h in zip(placed, handles)}
                labels = {p.name: str(path) for p, path in zip(placed, paths)}
                for event, parts, created_at in iter_events(placed, clock):
                    if cancel is not None:
                        cancel.check()
                    for name, part in parts.items():
                        message = encode_message(event, {name: part}, created_at, written[name])
                        written[name] += writer.write(files[name], message, labels[name])
                    result.events = event + 1
                    if progress is not None:
                        progress(result.events, total, sum(written.values()))
            for read in source.files():  # stored bytes were copied until the writer ended
                read.check()
        result.streams = [
            StreamResult(
                name=p.name,
                typ=p.writer.typ,
                dataset=p.source,
                output=str(path),
                frames=p.writer.counters.frames,
                passthrough_frames=p.writer.counters.passthrough,
                bytes=written[p.name],
                fast_path=p.writer.fast_path,
                hint=p.writer.hint or None,
            )
            for p, path in zip(placed, paths)
        ]
    result.seconds = time.perf_counter() - start
    return result
