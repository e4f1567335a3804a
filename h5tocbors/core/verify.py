"""Prove a conversion exact: decode every image of a capture and compare it with its HDF5 source."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from math import prod

import bitshuffle
import h5py
import numpy as np
import numpy.typing as npt

from ..bshuf import single_openmp_thread
from ..capture.read import read_messages
from ..hdf5.decode import bitshuffle_framing_ok
from ..hdf5.frames import FrameSeries
from ..hdf5.passthrough import default_block_bytes
from ..hdf5.resolve import resolve_dataset
from ..protocols.stins import TYP as STINS


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

    @property
    def ok(self) -> bool:
        return self.differing == 0 and self.missing == 0 and self.frames > 0


def decode_stins(header: dict[str, object], payload: bytes) -> npt.NDArray[np.generic]:
    """The image of a STINS data message (`bslz4` or `none`)."""
    shape = tuple(int(n) for n in header["shape"])  # type: ignore[attr-defined]
    dtype = np.dtype(str(header["type"]))
    if header["compression"] == "bslz4":
        nelems = prod(shape)
        block = default_block_bytes(dtype.itemsize) // dtype.itemsize
        if not bitshuffle_framing_ok(memoryview(payload), nelems, dtype.itemsize, block):
            raise ValueError("the payload is not a bitshuffle-LZ4 stream of that shape")
        image: npt.NDArray[np.generic] = bitshuffle.decompress_lz4(
            np.frombuffer(payload, np.uint8), shape, dtype
        )
        return image
    if header["compression"] == "none":
        return np.frombuffer(payload, dtype).reshape(shape)
    raise ValueError(f"unknown compression {header['compression']!r}")


def verify_capture(
    f: h5py.File,
    capture: str | os.PathLike[str],
    datasets: Mapping[str, str | None],
    frames: slice | None = None,
) -> list[StreamCheck]:
    """Compare every STINS image of `capture` bit for bit with its source frame in `f`.

    Streams are resolved like `convert` does: `datasets` maps a stream name to a
    dataset path, or the dataset is found by the stream's name.

    Example:
        >>> [c.ok for c in verify_capture(f, "out/pilatus.cbors", {})]  # doctest: +SKIP
        [True]
    """
    single_openmp_thread()  # bitshuffle decodes every image: no spinning OpenMP threads
    series: dict[str, FrameSeries] = {}
    checks: dict[str, StreamCheck] = {}
    seen: dict[str, set[int]] = {}
    for msg in read_messages(capture):
        for name, stream in msg.streams.items():
            if stream.typ != STINS:
                continue
            if name not in series:
                series[name] = FrameSeries.of(resolve_dataset(f, name, datasets.get(name)), frames)
                checks[name] = StreamCheck(
                    str(capture), name, series[name].dataset.name, 0, 0, 0, None
                )
                seen[name] = set()
            header = stins_header(stream.frames)
            if header is not None and header.get("htype") != "image":
                continue
            check = checks[name]
            check.frames += 1
            problem = (
                compare(series[name], header, stream.frames, seen[name])
                if header is not None
                else "no STINS JSON header"
            )
            if problem is not None:
                check.differing += 1
                if check.first_difference is None:
                    check.first_difference = f"event {msg.event_number}: {problem}"
    for name, check in checks.items():
        absent = sorted(set(range(len(series[name]))) - seen[name])
        check.missing = len(absent)
        if absent and check.first_difference is None:
            check.first_difference = f"source frame {absent[0]} is missing from the capture"
    return list(checks.values())


def stins_header(frames: list[bytes]) -> dict[str, object] | None:
    """The JSON header of a STINS message, or None when there is none."""
    try:
        header = json.loads(frames[0])
    except (IndexError, ValueError, RecursionError):
        return None
    return header if isinstance(header, dict) else None


def compare(
    series: FrameSeries, header: dict[str, object], frames: list[bytes], seen: set[int]
) -> str | None:
    """Why an image message differs from its source frame, or None if it is identical."""
    k = header.get("frame")
    if not isinstance(k, int) or not 0 <= k < len(series):
        return f"frame {k} is not in the {len(series)}-frame source series"
    if k in seen:
        return f"frame {k} appears twice"
    seen.add(k)
    if len(frames) != 2:
        return f"frame {k} has {len(frames)} zmq frames, not 2"
    try:
        image = decode_stins(header, frames[1])
    except (ValueError, TypeError, KeyError, RuntimeError) as e:
        return f"frame {k} fails to decode: {e}"
    source = series.read(k)
    if image.shape != source.shape or image.dtype != source.dtype:
        return (
            f"frame {k} is {list(image.shape)} {image.dtype}, "
            f"source is {list(source.shape)} {source.dtype}"
        )
    if image.tobytes() != source.tobytes():
        where = np.flatnonzero(image.view(np.uint8) != source.view(np.uint8))
        return f"frame {k} differs from the source ({len(where)} byte(s) differ)"
    return None
