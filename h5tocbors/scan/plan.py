"""Plan a conversion: each stream's protocol and cadence, and its messages placed on events.

Point-wise streams (detector frames, spectra, PandA rows) have one data message per scan
point; step-wise streams (contrast's `running`, a detector that takes one frame per step)
one per step. The scan's points and steps come from its layout (a contrast master, a
`--config`); without one, the streams' own lengths are the points, and must agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import h5py

from ..core.events import Cadence, PlacedStream, Timeline, place
from ..errors import H5ToCborsError, UsageError, option
from ..hdf5.open import metadata_of, open_referenced
from ..hdf5.resolve import find_path, open_object
from ..protocols import (
    MessageWriter,
    ProtocolModule,
    Steps,
    StepSpan,
    StreamContext,
    registry,
    stins,
)
from .specs import StreamSpec


@dataclass(frozen=True)
class ScanShape:
    """A scan's points, grouped into steps.

    Example:
        >>> ScanShape(Steps.even(points=1111, steps=11)).points
        1111
    """

    steps: Steps

    @property
    def points(self) -> int:
        """The number of points."""
        return self.steps.points


@dataclass
class Source:
    """A stream whose source and protocol are known, before it is placed on events: its
    HDF5 object, its path in the input (as given, or as found by the stream's name), and
    `axes`, which cut an image dataset into frames (None: as its shape and hints say)."""

    spec: StreamSpec
    obj: h5py.Group | h5py.Dataset
    module: ProtocolModule
    path: str
    axes: str | None = None

    def context(self, ctx: StreamContext) -> StreamContext:
        """`ctx` for this stream's writer."""
        return replace(ctx, axes=self.axes, path=self.path, parts=dict(self.spec.parts))


def choose(f: h5py.File, spec: StreamSpec, axes: str | None = None) -> Source:
    """The HDF5 object and protocol module of a stream: at its path, or the image dataset
    (or image series) found by its name. Image datasets are cut into frames by
    `spec.axes`, else `axes`; axes named for another protocol's stream are an error."""
    axes = spec.axes or axes
    if spec.path is None:
        path = find_path(f, spec.name)
        return Source(spec, open_object(f, path), stins, path, axes)
    obj = open_object(open_referenced(Path(spec.file)) if spec.file else f, spec.path)
    with metadata_of(obj.file, obj.name):  # fits() reads the object's metadata
        return _choose(f, spec, spec.path, obj, axes)


def _choose(
    f: h5py.File, spec: StreamSpec, path: str, obj: h5py.Group | h5py.Dataset, axes: str | None
) -> Source:
    """The source of a stream given by `path`, whose object is `obj`."""
    what = f"{option('streams', spec.given)}: {spec.path} in {f.filename}"
    if spec.protocol is not None:
        module = registry.by_name(spec.protocol)
        why = stins.fits(obj, axes) if module is stins else module.fits(obj)
        if why is not None and not spec.parts:  # given part by part: its writer checks them
            raise H5ToCborsError(f"{what} is not a {module.NAME} source: {why}")
        return source_of(spec, obj, module, axes)
    if isinstance(obj, h5py.Dataset):  # only images are datasets
        why = stins.fits(obj, axes)
        if why is not None:
            raise H5ToCborsError(f"{what} is {why}")
        return Source(spec, obj, stins, path, axes)
    reasons = []
    for module in registry.modules():
        why = registry.unasked(module, obj)
        if why is None:
            return source_of(spec, obj, module, axes)
        reasons.append(f"{module.NAME}: {why}")
    raise H5ToCborsError(
        f"{what} fits no protocol ({'; '.join(reasons)}); name one with PATH:PROTOCOL"
    )


def source_of(
    spec: StreamSpec, obj: h5py.Group | h5py.Dataset, module: ProtocolModule, axes: str | None
) -> Source:
    """The source of a stream given by path; `--axes` given for it by name must be for an
    image stream."""
    if module is stins:
        return Source(spec, obj, module, spec.path or "", axes)
    if spec.axes is not None:
        raise H5ToCborsError(
            f"{option('axes', {spec.name: spec.axes})}: stream {spec.name} ({obj.name} in "
            f"{obj.file.filename}) has protocol {module.NAME}; {option('axes')} cuts image "
            "datasets only"
        )
    return Source(spec, obj, module, spec.path or "")


def plan_streams(
    f: h5py.File,
    specs: Sequence[StreamSpec],
    ctx: StreamContext,
    shape: ScanShape | None = None,
) -> list[PlacedStream]:
    """Open every stream's writer and place its messages on one shared timeline.

    `ctx.points` (`--frames`) selects points: a range of them in a scan (a contrast stream,
    or `shape` given), the frames of every stream otherwise. A stream whose data count
    matches neither the points nor the steps is an error naming both.
    """
    check_unique(specs)
    sources = [choose(f, spec, ctx.axes) for spec in specs]
    scan = shape or next(
        (ScanShape(steps_of(s.obj)) for s in sources if s.module.NAME == "contrast"), None
    )
    if scan is None:
        return plan_frames(sources, ctx)
    selected = select_points(ctx.points, scan.points)
    spans = step_spans(scan.steps, selected)
    timeline = Timeline(len(selected), Steps(tuple(ends_of(spans))))
    placed = []
    for s in sources:
        writer, cadence = open_placed(s, ctx, scan, selected, spans)
        placed.append(place(s.spec.name, writer, cadence, timeline, s.path))
    return placed


def check_unique(specs: Sequence[StreamSpec]) -> None:
    """Refuse two streams of one name: they would share a capture file and a capture key."""
    seen: dict[str, StreamSpec] = {}
    for spec in specs:
        other = seen.setdefault(spec.name, spec)
        if other is not spec:
            raise H5ToCborsError(
                f"two streams are named {spec.name}: {other.path or spec.name} and "
                f"{spec.path or spec.name}; stream names must be unique"
            )


def plan_frames(sources: Sequence[Source], ctx: StreamContext) -> list[PlacedStream]:
    """Streams with no scan around them: each frame (row) a point; all must have as many."""
    writers = {s.spec.name: open_writer(s, s.context(ctx)) for s in sources}
    paths = {s.spec.name: s.path for s in sources}
    counts = {name: len(w) - 2 for name, w in writers.items()}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{n} {c} frames" for n, c in counts.items())
        raise H5ToCborsError(
            f"streams converted together need the same number of frames: {listed}; "
            f"select a common range with {option('frames')}"
        )
    timeline = Timeline(points=next(iter(counts.values()), 0))
    return [place(name, w, "point", timeline, paths[name]) for name, w in writers.items()]


def open_placed(
    s: Source, ctx: StreamContext, scan: ScanShape, selected: range, spans: list[StepSpan]
) -> tuple[MessageWriter, Cadence]:
    """The writer of one stream of a scan, opened on the selected points, and its cadence.

    The writer of all its frames tells their count; it is the one returned when all are
    selected (a scan converted whole), else one on the selection is opened.
    """
    ctx = s.context(ctx)
    if registry.step_wise(s.module):
        return open_writer(s, replace(ctx, steps=spans)), "step"
    whole = open_writer(s, replace(ctx, points=None))
    count = len(whole) - 2
    steps = len(scan.steps)
    if count == scan.points or (count != steps and selected.stop <= count < scan.points):
        if selected == range(count):
            return whole, "point"
        points = slice(selected.start, selected.stop)
        return open_writer(s, replace(ctx, points=points)), "point"
    if count == steps:
        first = spans[0].index if spans else 0
        if (first, len(spans)) == (0, count):
            return whole, "step"
        points = slice(first, first + len(spans))
        return open_writer(s, replace(ctx, points=points)), "step"
    if count < scan.points:
        raise H5ToCborsError(
            f"stream {s.spec.name} ({s.obj.name}) has {count} frames, but the scan has "
            f"{scan.points} points in {steps} steps: its file is truncated (an aborted scan?); "
            f"select the common part with {option('frames', slice(0, count))}"
        )
    raise H5ToCborsError(
        f"stream {s.spec.name} ({s.obj.name}) has {count} frames, which matches neither the "
        f"scan's {scan.points} points nor its {steps} steps"
    )


def open_writer(s: Source, ctx: StreamContext) -> MessageWriter:
    """The writer of a stream; what it reads of its source's metadata is checked."""
    with metadata_of(s.obj.file, s.obj.name):
        return s.module.open_writer(s.obj, ctx)


def steps_of(entry: h5py.Group | h5py.Dataset) -> Steps:
    """The steps of a contrast scan, from its master file's layout."""
    from ..protocols import contrast

    with metadata_of(entry.file, entry.name):
        points, steps = contrast.scan_shape(entry)
    return Steps.even(points, steps)


def select_points(selection: slice | None, points: int) -> range:
    """The points `--frames` selects in a scan: a plain range `START:STOP` of them."""
    if selection is None:
        return range(points)
    if selection.step not in (None, 1):
        raise UsageError(
            f"in a scan, {option('frames')} selects a range of points: START:STOP, no STEP"
        )
    from ..hdf5.selection import select_frames

    return select_frames(selection, points)


def step_spans(steps: Steps, selected: range) -> list[StepSpan]:
    """The steps that hold selected points, each with the selected points it covers.

    Example:
        >>> [(s.index, s.points) for s in step_spans(Steps.even(6, 3), range(1, 5))]
        [(0, range(1, 2)), (1, range(2, 4)), (2, range(4, 5))]
    """
    spans = []
    for j in range(len(steps)):
        covered = steps.covering(j)
        points = range(max(covered.start, selected.start), min(covered.stop, selected.stop))
        if points:
            spans.append(StepSpan(j, points))
    return spans


def ends_of(spans: Sequence[StepSpan]) -> list[int]:
    """Cumulative point counts at the end of each span: the events of their last points."""
    ends, total = [], 0
    for span in spans:
        total += len(span.points)
        ends.append(total)
    return ends
