"""What the writers of encoded payloads share (STINS images, xspress spectra).

Their data messages carry one payload per frame from an encoder (`payloads.encoding`): the
stored bytes passed through, or the frame encoded again. The base keeps the encoder, the
start message's `origin` fields, the counters and the fast-path report in one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ..payloads.encoding import FrameEncoder, Payload, SeriesEncoder
from . import Writer

E = TypeVar("E", FrameEncoder, SeriesEncoder)


@dataclass(kw_only=True)
class EncodedWriter(Writer, Generic[E]):
    """A writer of a start message, one data message per encoded frame, an end message.

    Example:
        >>> w = StinsWriter(encoder=enc, source="/entry/data")  # doctest: +SKIP
        >>> for k, payload in w.payloads(): ...  # counted as they go  # doctest: +SKIP
    """

    encoder: E
    origin: dict[str, object] = field(default_factory=dict)
    """Extra fields of the start message: where the stream came from (`provenance`)."""

    @property
    def fast_path(self) -> str:
        """`passthrough` when stored payloads were copied, else why they were not."""
        if self.encoder.refusal:
            return self.encoder.refusal
        return "passthrough" if self.counters.passthrough else "nothing stored to pass through"

    def __len__(self) -> int:
        return len(self.encoder.series) + 2

    def payloads(self) -> Iterator[tuple[int, Payload]]:
        """Each frame's index in the selection and its payload, counted as they go."""
        for k, payload in enumerate(self.encoder):
            self.counters.frames += 1
            self.counters.passthrough += payload.passthrough
            yield k, payload
