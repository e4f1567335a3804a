"""Where a stream came from, recorded in its start message: the input file, the path of its
source in it, the frames taken, and (for images) the axes that cut them.

One extra JSON field, `h5tocbors`, which dranspose's start models accept (`Stream1Start`
and `XspressStart` allow extra fields) and hand to a worker as an attribute:

    {"msg_number":0,"htype":"header","filename":"",
     "h5tocbors":{"input":"/data/run_master.h5","path":"/entry/data","frames":"0:300","axes":"NHW"}}

`frames` is the selection as `--frames` spells it, over the whole series (for a DECTRIS
master, over its data files joined), and `axes` the frame layout as `--axes` spells it,
so that `verify` can make the same frames again.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..errors import UsageError
from ..hdf5.layout import parse_axes
from ..hdf5.selection import parse_frames

KEY = "h5tocbors"
FRAMES = re.compile(r"\d{1,19}:(\d{1,19})?(:-?\d{1,19})?")
"""A recorded selection: START:STOP[:STEP] with START and STOP within the series."""
MAX_TEXT = 4096


@dataclass(frozen=True)
class Origin:
    """What a stream was made from: `input` file, `path` in it, `frames` (`START:STOP[:STEP]`)
    and, for images, `axes` (`NHW`; "": not recorded).

    Example:
        >>> Origin("/data/run.h5", "/entry/data", "0:300").fields()
        {'h5tocbors': {'input': '/data/run.h5', 'path': '/entry/data', 'frames': '0:300'}}
        >>> str(Origin("/data/run.h5", "/entry/data", "0:300", "NHW"))
        '/data/run.h5 /entry/data frames 0:300 axes NHW'
    """

    input: str
    path: str
    frames: str
    axes: str = ""

    def fields(self) -> dict[str, object]:
        """The start message's extra field."""
        record = {"input": self.input, "path": self.path, "frames": self.frames}
        return {KEY: record | ({"axes": self.axes} if self.axes else {})}

    def __str__(self) -> str:
        axes = f" axes {self.axes}" if self.axes else ""
        return f"{self.input} {self.path} frames {self.frames}{axes}"

    @property
    def selection(self) -> slice:
        """The recorded frames as a `--frames` selection."""
        return parse_frames(self.frames)

    @classmethod
    def of(cls, input: str, path: str, indices: range, axes: str = "") -> Origin:
        """The origin of a stream of the frames `indices` of `path` in the file `input`,
        cut as `axes` say."""
        path = path if path.startswith("/") else f"/{path}"
        return cls(text(os.path.abspath(input)), text(path), frames_text(indices), axes)

    @classmethod
    def from_header(cls, header: dict[str, object] | None) -> Origin | None:
        """The origin a start message's JSON header records, or None when it records none (or
        records one that is not three strings and a selection)."""
        record = header.get(KEY) if header is not None else None
        if not isinstance(record, dict):
            return None
        values = [record.get(k) for k in ("input", "path", "frames")] + [record.get("axes", "")]
        if not all(isinstance(v, str) and len(v) <= MAX_TEXT for v in values):
            return None
        origin = cls(*(str(v) for v in values))
        if not (origin.input and FRAMES.fullmatch(origin.frames) and origin.path.startswith("/")):
            return None
        try:
            origin.selection  # noqa: B018 (a STEP of 0 is refused)
            if origin.axes and parse_axes(origin.axes) != origin.axes:
                return None
        except UsageError:
            return None
        return origin


def origin_fields(input: str, path: str, indices: range, axes: str = "") -> dict[str, object]:
    """The start message's extra field for a stream of `indices` of `path` in `input`, cut
    as `axes` say; nothing when `input` is "" (not recorded)."""
    return Origin.of(input, path, indices, axes).fields() if input else {}


def frames_text(indices: range) -> str:
    """The `--frames` text that selects `indices` again from the series.

    Example:
        >>> frames_text(range(0, 20)), frames_text(range(5, 20, 10)), frames_text(range(19, -1, -1))
        ('0:20', '5:20:10', '19::-1')
    """
    stop = str(indices.stop) if indices.stop >= 0 else ""
    return f"{indices.start}:{stop}" + (f":{indices.step}" if indices.step != 1 else "")


def text(name: str) -> str:
    """`name` as valid UTF-8 text for JSON: undecodable bytes of a file name replaced.

    Example:
        >>> text("/data/run\\udcff.h5")
        '/data/run�.h5'
    """
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = name.encode("utf-8", "replace")
    return raw.decode("utf-8", "replace")
