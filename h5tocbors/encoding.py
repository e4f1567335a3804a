"""Turn the frames of a series into payloads: bitshuffle-LZ4 (`bslz4`) or raw (`none`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import bitshuffle
import numpy as np

from .frames import FrameSeries
from .passthrough import passthrough_refusal, read_stored_frame

Compression = Literal["bslz4", "none"]
COMPRESSIONS: tuple[Compression, ...] = ("bslz4", "none")


@dataclass(frozen=True)
class Payload:
    """One frame's bytes as they go into a capture, and whether they were passed through."""

    data: bytes | memoryview
    passthrough: bool


@dataclass
class FrameEncoder:
    """Encode a series frame by frame, passing stored chunks through where possible.

    Example:
        >>> enc = FrameEncoder(FrameSeries.of(f["/entry/data"]), "bslz4")  # doctest: +SKIP
        >>> enc.refusal is None  # the fast path applies  # doctest: +SKIP
        True
    """

    series: FrameSeries
    compression: Compression
    refusal: str | None = None

    def __post_init__(self) -> None:
        self.refusal = (
            passthrough_refusal(self.series)
            if self.compression == "bslz4"
            else "output compression is none"
        )

    def encode(self, k: int) -> Payload:
        """The payload of the k-th frame of the series."""
        if self.refusal is None:
            stored = read_stored_frame(self.series, k)
            if stored is not None:
                return Payload(stored, True)
        frame = self.series.read(k)
        if self.compression == "none":
            return Payload(frame.reshape(-1).view(np.uint8).data, False)
        return Payload(memoryview(bitshuffle.compress_lz4(frame)), False)

    def __iter__(self) -> Iterator[Payload]:
        return (self.encode(k) for k in range(len(self.series)))
