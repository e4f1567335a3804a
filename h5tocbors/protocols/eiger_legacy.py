"""Legacy Eiger (DECTRIS stream v1) messages: a 9-frame header, one 5-frame image per frame,
a series end.

Mirrors `dranspose.data.eiger_legacy` and what `dranspose.middlewares.eiger_legacy.parse`
asserts. Event 0 carries the `dheader-1.0` message with `header_detail` "all": the detector's
configuration (`info`, the settings of a DECTRIS master's `detector/` and `detectorSpecific/`),
the flatfield, the pixel mask and the count-rate table, each with its JSON header, and an
appendix. Event k = 1..N carries image k-1 as `dimage-1.0`, `dimage_d-1.0`, the blob (the
bitshuffle-LZ4 chunk as stored, 12-byte header included: `bs32-lz4<` for uint32), `dconfig-1.0`
and an appendix. Event N+1 carries `dseries_end-1.0`. JSON is written as the detector writes
it (keys sorted, compact, floats in rapidjson's format): from a master that holds the settings
of dranspose's real dump `tests/data/eiger-small.cbors`, the header's JSON frames, `info` and
count-rate table and the series end are that dump's, byte for byte (tested).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import h5py
import numpy as np

from ..buffers import Buffer, FileRange, read_range, read_start
from ..errors import H5ToCborsError, quoted, shortened
from ..hdf5.frames import little_endian
from ..hdf5.images import open_images
from ..hdf5.open import opened_inputs
from ..hdf5.passthrough import HEADER, default_block_bytes
from ..hdf5.walk import BrokenLink
from ..payloads.encoding import Payload, Scratch, SeriesEncoder
from . import StreamContext
from . import stins as _stins
from .encoded import EncodedWriter
from .jsonframe import json_header
from .members import OPEN_ERRORS, checked_member, member
from .metadata import DETECTOR_GROUPS, collect_metadata
from .order import StreamInspector
from .values import (
    Comparer,
    bytes_difference,
    difference,
    frame_count_difference,
    is_integer,
    show,
)

TYP = "EIGER_LEGACY"
NAME = "eiger-legacy"
"""The protocol's name in `--stream NAME=PATH:eiger-legacy`."""

NEEDED = ("count_time", "x_pixels_in_detector", "y_pixels_in_detector")
"""What the header's `info` must hold: the master lacking one is refused, naming it."""
PARTS = (
    ("dflatfield-1.0", "flatfield"),
    ("dpixelmask-1.0", "pixel_mask"),
    ("dcountrate_table-1.0", "countrate_correction_table"),
)
"""The header's arrays, by `htype`, and their datasets in the master's `detectorSpecific/`."""
SPECIFIC = DETECTOR_GROUPS[1]
MAX_PART_BYTES = 256 << 20
"""A header array larger than this is refused: it is one zmq frame, read at once, and the
three are held together (an Eiger 16M's float32 flatfield is 72 MiB)."""
MAX_SECONDS = 1e6
"""Count and frame times above this (or negative, or not finite) are refused."""
DEFAULT_SERIES = 1
"""The series id when the master's name (`series_<id>_master.h5`) does not tell it."""
APPENDIX = b"{}"
"""The appendix frames: what a user appended at the experiment; no HDF5 file holds it."""
SERIES_NAME = re.compile(r"series_(\d{1,15})_(?:master|data_\d{6})\.h5")


def number(x: float) -> str:
    """A float as rapidjson prints it (as in the real dump's frames): shortest digits,
    decimal from 1e-6 to 1e21 with at least one digit after the point, else `1e-7`, `1.5e30`.

    Example:
        >>> [number(v) for v in (0.0, 8041.0, 7.5e-05, 1e-07, 1.5419002416764116, 2e22)]
        ['0.0', '8041.0', '0.000075', '1e-7', '1.5419002416764116', '2e22']
    """
    if not math.isfinite(x):
        return "null"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    parts = Decimal(repr(abs(x))).normalize().as_tuple()
    digits = "".join(map(str, parts.digits))
    k = int(parts.exponent)
    kk = len(digits) + k
    if k >= 0 and kk <= 21:
        text = digits + "0" * k + ".0"
    elif 0 < kk <= 21:
        text = f"{digits[:kk]}.{digits[kk:]}"
    elif -6 < kk <= 0:
        text = "0." + "0" * -kk + digits
    elif len(digits) == 1:
        text = f"{digits}e{kk - 1}"
    else:
        text = f"{digits[0]}.{digits[1:]}e{kk - 1}"
    return sign + text


def dectris_json(value: object) -> bytes:
    """`value` as the detector's JSON frames are: keys sorted, compact, rapidjson floats.

    Example:
        >>> dectris_json({"series": 6, "htype": "dseries_end-1.0"})
        b'{"htype":"dseries_end-1.0","series":6}'
    """
    return _encode(value).encode()


def _encode(value: object) -> str:
    if isinstance(value, dict):
        items = sorted((str(k), v) for k, v in value.items())
        return "{" + ",".join(f"{json.dumps(k)}:{_encode(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, float):
        return number(value)
    return json.dumps(value)


@dataclass(frozen=True)
class HeaderPart:
    """One array of the header (flatfield, pixel mask, count-rate table): its `htype`, and
    the dataset it is read from (None: the master has none, written empty)."""

    htype: str
    dataset: h5py.Dataset | None

    @property
    def dtype(self) -> np.dtype:
        """The little-endian type its bytes are written in."""
        if self.dataset is None:
            return np.dtype("<u4" if "mask" in self.htype else "<f4")
        return little_endian(self.dataset.dtype)

    def frames(self) -> list[Buffer]:
        """Its JSON header (`shape` [W, H], the dataset's shape reversed) and its bytes (the
        array read, not copied again: it may be `MAX_PART_BYTES`)."""
        shape = [0, 0] if self.dataset is None else list(self.dataset.shape[::-1])
        header = {"htype": self.htype, "shape": shape, "type": self.dtype.name}
        if self.dataset is None:
            return [dectris_json(header), b""]
        try:
            data = np.ascontiguousarray(self.dataset[()], self.dtype)
        except OPEN_ERRORS as e:
            raise H5ToCborsError(f"{self.dataset.name}: cannot be read: {e}") from e
        return [dectris_json(header), data.reshape(-1).view(np.uint8).data]


@dataclass(kw_only=True)
class EigerLegacyWriter(EncodedWriter[SeriesEncoder]):
    """The legacy Eiger messages of one image series (a DECTRIS master's data files, or one
    dataset), with the master's settings in the header.

    Example:
        >>> w = open_writer(f["/entry/data"], StreamContext(InputFile().encoder))  # doctest: +SKIP
        >>> [len(m) for m in w]  # header, 2 images, end  # doctest: +SKIP
        [9, 5, 5, 1]
    """

    info: dict[str, object]
    parts: tuple[HeaderPart, ...]
    series_id: int = DEFAULT_SERIES
    typ: str = TYP
    _scratch: Scratch = field(default_factory=Scratch)

    def __iter__(self) -> Iterator[Sequence[Buffer]]:
        series = self.encoder.series
        shape = list(series.frame_shape[::-1])
        dtype = series.dtype
        header = {"header_detail": "all", "htype": "dheader-1.0", "series": self.series_id}
        yield [
            dectris_json(header),
            dectris_json(self.info),
            *(frame for part in self.parts for frame in part.frames()),
            APPENDIX,
        ]
        nbytes = math.prod(series.frame_shape) * dtype.itemsize
        stored = HEADER.pack(nbytes, default_block_bytes(dtype.itemsize))
        encoding = f"bs{dtype.itemsize * 8}-lz4<"
        times = dconfig_times(self.info)
        for k, payload in self.payloads():
            blob = framed(payload, stored)
            size = blob.size if isinstance(blob, FileRange) else len(blob)
            image = {"frame": k, "hash": self._md5(blob), "htype": "dimage-1.0"}
            data = {"encoding": encoding, "htype": "dimage_d-1.0", "shape": shape}
            config = {"htype": "dconfig-1.0", **times(k)}
            yield [
                dectris_json(image | {"series": self.series_id}),
                dectris_json(data | {"size": size, "type": dtype.name}),
                blob,
                dectris_json(config),
                APPENDIX,
            ]
        yield [dectris_json({"htype": "dseries_end-1.0", "series": self.series_id})]

    def _md5(self, blob: Buffer) -> str:
        """The blob's MD5, as the detector's `hash`: a stored chunk is read for it into a
        buffer reused from frame to frame, and still copied by the kernel."""
        size = blob.size if isinstance(blob, FileRange) else len(blob)
        into = self._scratch.get(size) if isinstance(blob, FileRange) else None
        return hashlib.md5(read_range(blob, into)).hexdigest()


def framed(payload: Payload, stored: bytes) -> Buffer:
    """The blob of a frame: the stored chunk, 12-byte header included, where it was passed
    through (a file range widened back over the header it was cut from), else the header
    (`stored`: decoded size and block size, big-endian) before the compressed frame."""
    data = payload.data
    if payload.passthrough and isinstance(data, FileRange):
        return FileRange(data.fd, data.offset - HEADER.size, data.size + HEADER.size)
    return stored + bytes(read_range(data))


def dconfig_times(info: dict[str, object]) -> DconfigTimes:
    """The `dconfig-1.0` times of each image, from the master's count and frame times."""
    count = info["count_time"]
    assert isinstance(count, float | int)  # checked by `detector_info`
    frame = info.get("frame_time", count)
    assert isinstance(frame, float | int)
    return DconfigTimes(round(count * 1e9), round(frame * 1e9))


@dataclass(frozen=True)
class DconfigTimes:
    """Image k's `dconfig-1.0` times, in ns: it starts k frame times after the first, which
    starts at 0 (the detector's clock is in no HDF5 file), and counts for `count_time`.

    Example:
        >>> DconfigTimes(real=9999900, period=10000000)(2)
        {'real_time': 9999900, 'start_time': 20000000, 'stop_time': 29999900}
    """

    real: int
    period: int

    def __call__(self, k: int) -> dict[str, int]:
        start = k * self.period
        return {"real_time": self.real, "start_time": start, "stop_time": start + self.real}


def fits(obj: h5py.Group | h5py.Dataset) -> str | None:
    """None for what STINS takes as an image source (a DECTRIS master's `/entry/data`, an
    image dataset), else why not; whether the master holds the header's settings is checked
    by `open_writer`.

    Example:
        >>> fits(f["/entry/data"]) is None  # doctest: +SKIP
        True
    """
    return _stins.fits(obj)


def open_writer(obj: h5py.Group | h5py.Dataset, ctx: StreamContext) -> EigerLegacyWriter:
    """The legacy Eiger stream of a DECTRIS master's image series (or one image dataset):
    its frames picked by `ctx.points`, always bitshuffle-LZ4 (the protocol has no other
    encoding), the header from the settings in the dataset's or master's file.

    Example:
        >>> w = open_writer(f["/entry/data"], StreamContext(InputFile().encoder))  # doctest: +SKIP
        >>> len(w)  # header, one message per frame, end  # doctest: +SKIP
        5
    """
    images = open_images(obj, ctx.points, ctx.path, ctx.axes)
    if len(images.frame_shape) != 2:
        raise H5ToCborsError(
            f"{quoted(images.name)}: frames of shape {list(images.frame_shape)}; legacy Eiger "
            "images are 2-D"
        )
    settings = settings_file(obj)
    where = str(settings.filename)
    info = detector_info(settings, where)
    encoder = SeriesEncoder(images, [ctx.encoder(p, "bslz4") for p in images.parts])
    return EigerLegacyWriter(
        encoder=encoder,
        source=images.name,
        info=info,
        parts=header_parts(settings, where),
        series_id=series_id(obj.file.filename),
    )


def settings_file(obj: h5py.Group | h5py.Dataset) -> h5py.File:
    """The file whose detector settings head the stream: the source's own, or the input's
    when the source lies in a file without them (a data file the master links to)."""
    inputs = opened_inputs()
    if _group(obj.file, DETECTOR_GROUPS[0]) is not None or not inputs:
        return obj.file
    return inputs[-1]


def detector_info(f: h5py.File, where: str) -> dict[str, object]:
    """The header's `info`: the small datasets of the master's `detector/` and
    `detectorSpecific/` (`metadata.detector_settings`), float32 values at their own
    precision (7.5e-05, not 7.499999810534064e-05); one of `NEEDED` missing, or a count or
    frame time that is no time, is an error naming it."""
    found: dict[str, object] = {}
    for path in DETECTOR_GROUPS:
        group = _group(f, path)
        if group is None:
            continue
        for key, value in collect_metadata(group, nested=False).items():
            if key not in found:
                found[key] = _own_precision(group, key, value)
    missing = [key for key in NEEDED if key not in found]
    if missing:
        raise H5ToCborsError(
            f"{where} has no {', '.join(missing)} in {DETECTOR_GROUPS[0]} or its "
            "detectorSpecific/: the legacy Eiger header needs them"
        )
    for key in ("count_time", "frame_time"):
        value = found.get(key, 0.0)
        if not _is_time(value):
            raise H5ToCborsError(f"{where}: {key} is {show(value)}, not a time in seconds")
    return found


def _is_time(value: object) -> bool:
    """A number of seconds from 0 to `MAX_SECONDS` (NaN and infinities are not)."""
    if isinstance(value, bool) or not isinstance(value, float | int):
        return False
    return 0 <= value <= MAX_SECONDS


def _group(f: h5py.File, path: str) -> h5py.Group | None:
    try:
        group = member(f["/"], path)
    except BrokenLink:
        return None
    return group if isinstance(group, h5py.Group) else None


def _own_precision(group: h5py.Group, key: str, value: object) -> object:
    """A float32 setting's value by its shortest float32 digits, as the detector sent it."""
    try:
        kind = group[key].dtype
    except OPEN_ERRORS:
        return value
    if kind != np.float32:
        return value
    if isinstance(value, list):
        return [_float32(v) for v in value]
    return _float32(value)


def _float32(value: object) -> float:
    """A float32's value by its own shortest digits: 7.5e-05, not 7.499999810534064e-05."""
    assert isinstance(value, float)  # a float32 dataset's value, as `setting` gives it
    return float(str(np.float32(value)))


def header_parts(f: h5py.File, where: str) -> tuple[HeaderPart, ...]:
    """The header's arrays where the master's `detectorSpecific/` holds them: 2-D numbers of
    at most `MAX_PART_BYTES`; another shape or type is an error naming it."""
    group = _group(f, SPECIFIC)
    parts = []
    for htype, name in PARTS:
        found = checked_member(group, name) if group is not None else None
        if not isinstance(found, h5py.Dataset):
            found = None
        else:
            problem = _part_problem(found)
            if problem is not None:
                raise H5ToCborsError(f"{quoted(found.name)} in {where}: {problem}")
        parts.append(HeaderPart(htype, found))
    return tuple(parts)


def _part_problem(dataset: h5py.Dataset) -> str | None:
    shape, dtype = dataset.shape, dataset.dtype
    if shape is None or len(shape) != 2:
        return f"shape {shape}, not 2-D"
    if dtype.kind not in "uif" or dtype.itemsize > 8 or dtype.fields is not None:
        return f"type {dtype}, not numbers"
    if math.prod(shape) * dtype.itemsize > MAX_PART_BYTES:
        return f"{list(shape)} {dtype} is larger than {MAX_PART_BYTES >> 20} MiB"
    return None


def series_id(filename: str) -> int:
    """The series id a DECTRIS file's name tells (`series_6_master.h5`: 6), else the default.

    Example:
        >>> series_id("/data/series_6_master.h5"), series_id("/data/run_master.h5")
        (6, 1)
    """
    found = SERIES_NAME.fullmatch(os.path.basename(filename))
    return int(found.group(1)) if found else DEFAULT_SERIES


HTYPES = {"dheader-1.0": 9, "dimage-1.0": 5, "dseries_end-1.0": 1}
"""The message kinds and how many zmq frames `parse` takes (it asserts 9 and 5)."""
BINARY = {9: (3, 5, 7), 5: (2,)}
"""The frames of a header (9) and of an image (5) that are bytes, not JSON."""


def _json(frame: bytes) -> object:
    try:
        return json.loads(frame)
    except (ValueError, TypeError, RecursionError):
        return None


@dataclass
class EigerLegacyInspector(StreamInspector):
    """Follows one legacy Eiger stream through a capture and names what is wrong: header
    first, series end last, messages of the frame counts `parse` asserts, JSON frames,
    images numbered from 0 without gaps, alike in shape, type and encoding, each blob of
    its `size` and `hash` with a bitshuffle header of that shape.

    Example:
        >>> check = EigerLegacyInspector("eiger")
        >>> check.add(0, [b'{"htype":"dseries_end-1.0","series":1}'])
        >>> check.finish().report()
        ['eiger: first message (event 0) is dseries_end-1.0, not dheader-1.0']
    """

    parts: list[str] = field(default_factory=list)
    _frame: int | None = None

    def start_and_end(self) -> tuple[str, str]:
        return "dheader-1.0", "dseries_end-1.0"

    @property
    def details(self) -> list[str]:
        """The header's arrays, as present or absent."""
        return [f"header {', '.join(self.parts)}"] if self.parts else []

    def add(self, event: int, frames: list[bytes]) -> None:
        """Take the zmq frames of this stream in the next message (at `event`)."""
        header = json_header(frames)
        htype = header.get("htype") if header is not None else None
        if not isinstance(htype, str) or htype not in HTYPES:
            self.order.add(event, "unparsable")
            self.order.note(f"event {event} has no dheader, dimage or dseries_end JSON header")
            return
        self.order.add(event, htype)
        if len(frames) != HTYPES[htype]:
            self.order.note(
                f"{htype} at event {event} has {len(frames)} zmq frames, not {HTYPES[htype]}"
            )
            return
        if htype == "dheader-1.0":
            self._header(event, frames)
        elif htype == "dimage-1.0":
            assert header is not None
            self._image(event, header, frames)

    def _header(self, event: int, frames: list[bytes]) -> None:
        if not isinstance(_json(frames[1]), dict):
            self.order.note(f"header at event {event}: info is not a JSON object")
        if not isinstance(_json(frames[8]), dict | list):
            self.order.note(f"header at event {event}: the appendix is not JSON")
        self.parts = []
        for i in (2, 4, 6):
            part = _json(frames[i])
            if not isinstance(part, dict) or not isinstance(part.get("htype"), str):
                self.order.note(f"header at event {event}: frame {i} is no array header")
                continue
            name = str(part["htype"]).removeprefix("d").removesuffix("-1.0")
            self.parts.append(
                f"{shortened(name)} {len(frames[i + 1])} bytes"
                if frames[i + 1]
                else f"{shortened(name)} absent"
            )

    def _image(self, event: int, header: dict[str, object], frames: list[bytes]) -> None:
        self.frames += 1
        frame = header.get("frame")
        if not is_integer(frame):
            self.order.note(f"image at event {event}: frame is {show(frame)}, not an integer")
        else:
            want = 0 if self._frame is None else self._frame + 1
            if frame != want:
                self.order.note(f"image at event {event} is frame {frame}, not {want}")
            self._frame = frame
        data = _json(frames[1])
        if not isinstance(data, dict):
            self.order.note(f"image at event {event}: frame 1 is not a JSON object")
            return
        problem = blob_problem(data, frames[2], header.get("hash"))
        if problem is not None:
            self.order.note(f"image at event {event}: {problem}")
            return
        looks = (data["shape"], data["type"], data["encoding"])
        if self.frames == 1 or self.shape is None:
            self.shape, self.type, self.compression = (
                list(data["shape"]),
                str(data["type"]),
                str(data["encoding"]),
            )
        elif looks != (self.shape, self.type, self.compression):
            self.order.note(f"image at event {event} is {show(list(looks))}, unlike the first")


def blob_problem(data: dict[str, object], blob: bytes, md5: object) -> str | None:
    """Why an image's blob does not match its `dimage_d-1.0` header and `hash`, or None.

    Example:
        >>> data = {"shape": [2, 1], "type": "uint8", "encoding": "raw", "size": 2}
        >>> blob_problem(data, b"ab", None)
        "encoding is 'raw', not bs<bits>-lz4<"
    """
    shape, dtype = data.get("shape"), _stins.image_dtype(data.get("type"))
    if not isinstance(shape, list) or len(shape) != 2 or not all(is_integer(n) for n in shape):
        return f"shape is {show(shape)}, not [W, H]"
    if dtype is None:
        return f"type is {show(data.get('type'))}, not a numeric dtype"
    if data.get("encoding") != f"bs{dtype.itemsize * 8}-lz4<":
        return f"encoding is {show(data.get('encoding'))}, not bs<bits>-lz4<"
    if data.get("size") != len(blob):
        return f"size is {show(data.get('size'))}, the blob has {len(blob)} bytes"
    if md5 != hashlib.md5(blob).hexdigest():
        return f"hash {show(md5)} is not the blob's MD5"
    head = read_start(blob, HEADER.size)
    want = (shape[0] * shape[1] * dtype.itemsize, default_block_bytes(dtype.itemsize))
    if len(head) < HEADER.size or HEADER.unpack(head) != want:
        return "the blob's bitshuffle header is not of that shape and type"
    return None


def inspector(name: str) -> EigerLegacyInspector:
    """Follows stream `name` through a capture, for `inspect`."""
    return EigerLegacyInspector(name)


def describe(frames: list[bytes]) -> str:
    """`dheader series=6`, `dimage frame=3`, `dseries_end series=6`, or `unparsable`."""
    header = json_header(frames)
    htype = header.get("htype") if header is not None else None
    if header is None or not isinstance(htype, str) or htype not in HTYPES:
        return "unparsable"
    key = "frame" if htype == "dimage-1.0" else "series"
    return f"{htype.removesuffix('-1.0')} {key}={show(header.get(key))}"


def comparer() -> Comparer:
    """Compares a capture's legacy Eiger messages with those made again from the HDF5 file:
    JSON frames by value, exactly; arrays and blobs byte for byte (the blob is the stored
    chunk)."""
    return compare


def compare(expected: Sequence[bytes], actual: Sequence[bytes]) -> str | None:
    """Where a legacy Eiger message differs from the expected one, or None."""
    found = frame_count_difference(expected, actual)
    if found is not None:
        return found
    binary = BINARY.get(len(expected), ())
    for i, (want, got) in enumerate(zip(expected, actual)):
        if i in binary:
            found = bytes_difference(want, got, f"frame {i}")
        else:
            found = difference(_json(want), _json(got), f"frame {i}")
        if found is not None:
            return found
    return None
