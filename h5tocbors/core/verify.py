"""Prove a conversion exact: decode every image of a capture and compare it with its HDF5 source."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import h5py
import numpy as np

from ..bshuf import single_openmp_thread
from ..capture.read import read_messages
from ..errors import shortened
from ..hdf5.frames import FrameSeries
from ..hdf5.layout import layout_of
from ..hdf5.resolve import resolve_dataset
from ..protocols.stins import TYP as STINS
from ..protocols.stins import decode_stins, header_problem, image_dtype, stins_header
from ..scan.specs import axes_for


@dataclass
class StreamCheck:
    """The outcome for one stream of one capture."""

    capture: str
    stream: str
    dataset: str
    frames: int
    """Images in the capture."""
    differing: int
    """Images that differ from their source frame, fail to decode, or repeat one."""
    missing: int
    """Source frames that no image of the capture carries."""
    first_difference: str | None
    unit: str = "frames"
    """What `frames` counts: images (STINS), or messages (every stream of a scan)."""

    @property
    def ok(self) -> bool:
        return self.differing == 0 and self.missing == 0 and self.frames > 0


@dataclass(frozen=True)
class Source:
    """A stream's source frames, with their count, shape and dtype read once (h5py is slow)."""

    series: FrameSeries
    count: int
    shape: tuple[int, ...]
    dtype: np.dtype

    @classmethod
    def of(cls, series: FrameSeries) -> Source:
        return cls(series, len(series), series.frame_shape, series.dtype)


def verify_capture(
    f: h5py.File,
    capture: str | os.PathLike[str],
    datasets: Mapping[str, str | None],
    frames: slice | None = None,
    axes: Mapping[str, str] | None = None,
) -> list[StreamCheck]:
    """Compare every STINS image of `capture` bit for bit with its source frame in `f`.

    Streams are resolved like `convert` does: `datasets` maps a stream name to a
    dataset path, or the dataset is found by the stream's name; `axes` cuts datasets into
    frames by stream name (`"*"`: the others; see `scan.specs.parse_axes_options`).
    Memory holds one message (and one block of frames, see `hdf5.slabs`) and the numbers
    of the frames seen, whatever the capture declares.

    Example:
        >>> [c.ok for c in verify_capture(f, "out/pilatus.cbors", {})]  # doctest: +SKIP
        [True]
    """
    single_openmp_thread()  # bitshuffle decodes every image: no spinning OpenMP threads
    sources: dict[str, Source] = {}
    checks: dict[str, StreamCheck] = {}
    seen: dict[str, set[int]] = {}
    for msg in read_messages(capture):
        for name, stream in msg.streams.items():
            if stream.typ != STINS:
                continue
            if name not in sources:
                # refuses sources that are missing: their fill values are not the data
                cut = axes_for(axes, name)
                dataset = resolve_dataset(f, name, datasets.get(name), frames, cut)
                layout = layout_of(dataset, dataset.shape, cut)
                sources[name] = Source.of(FrameSeries.of(dataset, frames, layout))
                checks[name] = StreamCheck(str(capture), name, dataset.name, 0, 0, 0, None)
                seen[name] = set()
            header = stins_header(stream.frames)
            if header is not None and header.get("htype") != "image":
                continue
            check = checks[name]
            check.frames += 1
            problem = (
                compare(sources[name], header, stream.frames, seen[name])
                if header is not None
                else "no STINS JSON header"
            )
            if problem is not None:
                check.differing += 1
                if check.first_difference is None:
                    check.first_difference = f"event {msg.event_number}: {problem}"
    for name, check in checks.items():
        check.missing = sources[name].count - len(seen[name])
        if check.missing and check.first_difference is None:
            absent = next(k for k in range(sources[name].count) if k not in seen[name])
            check.first_difference = f"source frame {absent} is missing from the capture"
    return list(checks.values())


def compare(
    source: Source, header: dict[str, object], frames: list[bytes], seen: set[int]
) -> str | None:
    """Why an image message differs from its source frame, or None if it is identical.

    The header is checked first, and its shape and type against the source's, so that
    nothing it declares is decoded unless it is the source frame's size.
    """
    problem = header_problem(header)
    if problem is not None:
        return f"bad image header: {problem}"
    k = header["frame"]
    assert isinstance(k, int)  # checked by header_problem
    count, shape, dtype = source.count, source.shape, source.dtype
    if not 0 <= k < count:
        return f"frame {k} is not in the {count}-frame source series"
    if k in seen:
        return f"frame {k} appears twice"
    seen.add(k)
    if len(frames) != 2:
        return f"frame {k} has {len(frames)} zmq frames, not 2"
    if header["shape"] != list(shape) or image_dtype(header["type"]) != dtype:
        return (
            f"frame {k} is {shortened(str(header['shape']))} {shortened(str(header['type']))}, "
            f"source is {list(shape)} {dtype}"
        )
    try:
        image = decode_stins(frames[1], shape, dtype, str(header["compression"]))
    except (ValueError, TypeError, KeyError, RuntimeError) as e:
        return f"frame {k} fails to decode: {e}"
    original = source.series.read(k)
    if image.tobytes() != original.tobytes():
        where = np.flatnonzero(image.view(np.uint8) != original.view(np.uint8))
        return f"frame {k} differs from the source ({len(where)} byte(s) differ)"
    return None
