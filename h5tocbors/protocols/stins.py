"""STINS (stream1) messages: a header, one image message per frame, a series end.

Mirrors `dranspose.data.stream1`, whose models' JSON the headers are: event 0 carries
`Stream1Start`, event k = 1..N carries `Stream1Data` for frame k-1 followed by its payload,
event N+1 carries `Stream1End`. `msg_number` equals the event number. Where the images
come from a streaming-receiver file, the start message carries the detector's
configuration as a second JSON frame, as the receiver got it from the detector; a DECTRIS
master's image series carries the settings the master holds. The start message records the
stream's origin (`provenance`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from math import prod

import h5py
import numpy as np
import numpy.typing as npt

from ..bshuf import decompress
from ..buffers import Buffer, JsonText
from ..errors import quoted, shortened
from ..hdf5.decode import bitshuffle_framing_ok
from ..hdf5.images import open_images
from ..hdf5.passthrough import default_block_bytes
from ..hdf5.resolve import image_shape, is_image_dtype
from ..hdf5.series import is_series
from ..payloads.encoding import SeriesEncoder
from . import StreamContext
from .encoded import EncodedWriter
from .jsonframe import json_frame, json_header
from .metadata import collect_metadata, detector_settings
from .order import StreamInspector
from .provenance import origin_fields
from .values import Comparer, bytes_difference, frame_count_difference, is_integer

TYP = "STINS"
NAME = "stins"
"""The protocol's name in `--stream NAME=PATH:stins`."""


@dataclass(kw_only=True)
class StinsWriter(EncodedWriter[SeriesEncoder]):
    """The STINS messages of one image series (one dataset's frames, or a DECTRIS master's
    data files joined).

    Example:
        >>> images = open_images(f["/entry/data"])  # doctest: +SKIP
        >>> parts = [FrameEncoder(p, "bslz4") for p in images.parts]  # doctest: +SKIP
        >>> enc = SeriesEncoder(images, parts)  # doctest: +SKIP
        >>> w = StinsWriter(encoder=enc, source="/entry/data")  # doctest: +SKIP
        >>> [len(m) for m in w]  # header, 2 images, end  # doctest: +SKIP
        [1, 2, 2, 1]
    """

    filename: str = ""
    config: bytes | None = None
    """The start message's second frame: the detector's configuration as JSON."""
    typ: str = TYP

    @property
    def hint(self) -> str:
        """For tiny frames, the `--axes` that would cut images (`layout.tiny_frames`)."""
        return self.encoder.series.hint

    def __iter__(self) -> Iterator[Sequence[Buffer]]:
        series = self.encoder.series
        start = start_header(0, self.filename, self.origin)
        yield [start] if self.config is None else [start, self.config]
        header = ImageHeaders(list(series.frame_shape), series.dtype.name, self.encoder.compression)
        for k, payload in self.payloads():
            yield [header(k + 1, k), payload.data]
        yield [end_header(len(series) + 1)]


def fits(obj: h5py.Group | h5py.Dataset, axes: str | None = None) -> str | None:
    """None for an image dataset (numbers, 2 or more dimensions, frames of at most 1 GiB
    cut as `axes` says, or as its shape and NeXus hints say) or an image series (a DECTRIS
    master's `/entry/data`), else why it is neither.

    Example:
        >>> fits(f["/entry/instrument/pilatus/data"]) is None  # doctest: +SKIP
        True
    """
    if not isinstance(obj, h5py.Dataset):
        return None if is_series(obj) else "a group, not an image dataset nor an image series"
    return image_shape(obj, axes)[3]


def open_writer(obj: h5py.Group | h5py.Dataset, ctx: StreamContext) -> StinsWriter:
    """The STINS stream of an image dataset or image series: its frames cut as `ctx.axes`
    says (None: as its shape and NeXus hints say), picked by `ctx.points`, numbered over
    the whole series.

    Example:
        >>> w = open_writer(f["/entry/data"], StreamContext(InputFile().encoder))  # doctest: +SKIP
        >>> len(w)  # header, one message per frame, end  # doctest: +SKIP
        22
    """
    images = open_images(obj, ctx.points, ctx.path, ctx.axes)
    encoder = SeriesEncoder(images, [ctx.encoder(p, ctx.compression) for p in images.parts])
    return StinsWriter(
        encoder=encoder,
        source=images.name,
        filename=ctx.filename,
        config=receiver_config(obj),
        origin=origin_fields(ctx.input, images.name, images.indices, images.axes),
    )


RECEIVER_DATASETS = ("sequence_number",)
"""What the streaming-receiver writes beside `data` that is not configuration."""


def receiver_config(obj: h5py.Group | h5py.Dataset) -> bytes | None:
    """The configuration frame for images from a detector group (NeXus `NXdetector`, as the
    streaming-receiver marks it), or from a DECTRIS master's series (its detector settings,
    `metadata.detector_settings`): the settings as JSON, or None (another kind of group, or
    no settings).

    Example:
        >>> receiver_config(f["/entry/instrument/eiger/data"])  # doctest: +SKIP
        b'{"count_time":0.1,"nimages":20,"photon_energy":8000.0,"trigger_mode":"exts"}'
    """
    if isinstance(obj, h5py.Group):
        found = detector_settings(obj.file)
        return json_frame(found) if found else None
    dataset, group = obj, obj.parent
    try:
        nx_class = group.attrs.get("NX_class")
    except (OSError, KeyError, TypeError, ValueError):
        return None
    if isinstance(nx_class, bytes):
        nx_class = nx_class.decode(errors="replace")
    if not isinstance(nx_class, str) or nx_class != "NXdetector":
        return None
    own = dataset.name.rsplit("/", 1)[-1]
    settings = collect_metadata(group, skip={own, *RECEIVER_DATASETS})
    return json_frame(settings) if settings else None


def start_header(msg_number: int, filename: str, extra: dict[str, object] | None = None) -> bytes:
    """`Stream1Start(msg_number=..., filename=..., **extra).model_dump_json()`, byte for byte
    (tested): extra fields follow the model's own.

    Written without pydantic: importing dranspose's models costs a tenth of a second.

    Example:
        >>> start_header(0, "")
        b'{"msg_number":0,"htype":"header","filename":""}'
    """
    fields = {"msg_number": msg_number, "htype": "header", "filename": filename}
    return json_frame(fields | (extra or {}))


def image_header(
    msg_number: int, frame: int, shape: list[int], dtype: str, compression: str
) -> bytes:
    """`Stream1Data(...).model_dump_json()` for an image, byte for byte (tested)."""
    return ImageHeaders(shape, dtype, compression)(msg_number, frame)


class ImageHeaders:
    """`image_header` for the images of one series: what they share is written once, and
    each header costs a formatting of two numbers, not a JSON encoding.

    Example:
        >>> ImageHeaders([2, 3], "uint16", "bslz4")(1, 0)
        b'{"msg_number":1,"htype":"image","frame":0,"shape":[2,3],"type":"uint16","compression":"bslz4"}'
    """

    def __init__(self, shape: list[int], dtype: str, compression: str) -> None:
        shared = json_frame({"shape": shape, "type": dtype, "compression": compression})
        self._rest = shared[1:]

    def __call__(self, msg_number: int, frame: int) -> JsonText:
        return JsonText(
            b'{"msg_number":%d,"htype":"image","frame":%d,%s' % (msg_number, frame, self._rest)
        )


def end_header(msg_number: int) -> bytes:
    """`Stream1End(msg_number=...).model_dump_json()`, byte for byte (tested)."""
    return json_frame({"msg_number": msg_number, "htype": "series_end"})


HTYPES = ("header", "image", "series_end")
INTEGERS = {
    "header": ("msg_number",),
    "image": ("msg_number", "frame"),
    "series_end": ("msg_number",),
}
STRINGS = {"header": ("filename",), "image": ("type", "compression"), "series_end": ()}
"""The fields of `dranspose.data.stream1`'s models, by type (extra fields are allowed)."""


stins_header = json_header
"""The JSON header of a STINS message, or None when there is none."""


def decode_stins(
    payload: bytes, shape: tuple[int, ...], dtype: np.dtype, compression: str
) -> npt.NDArray[np.generic]:
    """The image of a STINS data message (`bslz4` or `none`), checked before it is decoded."""
    if compression == "bslz4":
        nelems = prod(shape)
        block = default_block_bytes(dtype.itemsize) // dtype.itemsize
        if not bitshuffle_framing_ok(memoryview(payload), nelems, dtype.itemsize, block):
            raise ValueError("the payload is not a bitshuffle-LZ4 stream of that shape")
        return decompress(np.frombuffer(payload, np.uint8), shape, dtype, block)
    if compression == "none":
        return np.frombuffer(payload, dtype).reshape(shape)
    raise ValueError(f"unknown compression {quoted(compression)}")


def header_problem(header: dict[str, object]) -> str | None:
    """Why a STINS header is not what dranspose's models declare, or None when it is.

    Checked without pydantic (slow to import), field by field as `Stream1Start`,
    `Stream1Data` and `Stream1End` declare them: `htype`, integer `msg_number` and `frame`,
    a list of integers `shape`, strings `filename`, `type` and `compression`. Stricter than
    pydantic's coercion: `true` or `"32"` where an integer belongs is a problem too, as no
    detector writes them. An image's `type` must also name a numeric numpy dtype.

    Example:
        >>> header_problem({"htype": "series_end", "msg_number": 3}) is None
        True
        >>> header_problem({"htype": "image", "msg_number": 1, "frame": True})
        'frame is true, not an integer'
    """
    htype = header.get("htype")
    if not isinstance(htype, str) or htype not in HTYPES:
        return f"htype is {_shown(header, 'htype')}, not header, image or series_end"
    for key in INTEGERS[htype]:
        if not is_integer(header.get(key)):
            return f"{key} is {_shown(header, key)}, not an integer"
    for key in STRINGS[htype]:
        if not isinstance(header.get(key), str):
            return f"{key} is {_shown(header, key)}, not a string"
    if htype == "image":
        shape = header.get("shape")
        if not isinstance(shape, list) or not all(is_integer(n) for n in shape):
            return f"shape is {_shown(header, 'shape')}, not a list of integers"
        if image_dtype(header["type"]) is None:
            return f"type is {_shown(header, 'type')}, not a numeric dtype"
    return None


def image_dtype(name: object) -> np.dtype | None:
    """The numpy dtype an image `type` names, or None when it names no numeric dtype.

    Example:
        >>> image_dtype("uint16"), image_dtype("V0"), image_dtype("S")
        (dtype('uint16'), None, None)
    """
    if not isinstance(name, str) or len(name) > 32:
        return None
    try:
        dtype = np.dtype(name)
    except (TypeError, ValueError, SyntaxError):
        return None
    return dtype if is_image_dtype(dtype) else None


def _plain(*values: object) -> str:
    """Header values for a message, shortened: `[195, 487] uint32 bslz4`."""
    return " ".join(shortened(v if isinstance(v, str) else json.dumps(v)) for v in values)


def _shown(header: dict[str, object], key: str) -> str:
    """A header's value as JSON, shortened (`true`, `"32"`), or `missing`."""
    return shortened(json.dumps(header[key])) if key in header else "missing"


@dataclass
class StinsInspector(StreamInspector):
    """Follows one STINS stream through a capture and names what is out of order: headers
    as dranspose's models declare them, header first, series_end last, `msg_number` and
    `frame` without gaps, images alike.

    Example:
        >>> check = StinsInspector("pilatus")
        >>> check.add(0, [b'{"htype": "header", "msg_number": 0, "filename": ""}'])
        >>> check.finish().report()
        ['pilatus: no series_end message']
    """

    _msg_number: int | None = None
    _frame: int | None = None

    def start_and_end(self) -> tuple[str, str]:
        return "header", "series_end"

    def add(self, event: int, frames: list[bytes]) -> None:
        """Take the zmq frames of this stream in the next message (at `event`)."""
        header = stins_header(frames)
        if header is None:
            self.order.add(event, "unparsable")
            self.order.note(f"event {event} has no STINS JSON header")
            return
        problem = header_problem(header)
        if problem is not None:
            self.order.note(f"event {event}: {problem}")
        htype = header.get("htype")
        if not isinstance(htype, str) or htype not in HTYPES:
            return
        self.order.add(event, htype)
        self._check_sequence("msg_number", header.get("msg_number"), event)
        if htype == "header":
            self.start(header)
        if htype == "image":
            self._image(event, header, frames, problem is None)

    def _image(self, event: int, header: dict[str, object], frames: list[bytes], ok: bool) -> None:
        self.frames += 1
        if len(frames) != 2:
            self.order.note(f"image at event {event} has {len(frames)} zmq frames, not 2")
        if ok:
            shape, dtype, compression = header["shape"], header["type"], header["compression"]
            assert isinstance(shape, list) and isinstance(dtype, str)  # checked by header_problem
            assert isinstance(compression, str)
            if self.frames == 1:
                self.shape, self.type, self.compression = shape, dtype, compression
            elif (shape, dtype, compression) != (self.shape, self.type, self.compression):
                first = (self.shape, self.type, self.compression)
                self.order.note(
                    f"image at event {event} is {_plain(shape, dtype, compression)}, "
                    f"unlike the first ({_plain(*first)})"
                )
        self._check_sequence("frame", header.get("frame"), event)

    def _check_sequence(self, key: str, value: object, event: int) -> None:
        if not is_integer(value):
            return  # named by header_problem
        assert isinstance(value, int)
        last = self._msg_number if key == "msg_number" else self._frame
        if last is not None and value != last + 1:
            self.order.note(f"{key} jumps from {last} to {value} at event {event}")
        elif last is None and key == "frame" and value != 0:
            self.order.note(f"first frame is {value}, not 0 (event {event})")
        if key == "msg_number":
            self._msg_number = value
        else:
            self._frame = value


def inspector(name: str) -> StinsInspector:
    """Follows stream `name` through a capture, for `inspect`."""
    return StinsInspector(name)


def describe(frames: list[bytes]) -> str:
    """`header`, `image frame=3 msg_number=4`, `series_end msg_number=21`, or `unparsable`."""
    header = stins_header(frames)
    htype = header.get("htype") if header is not None else None
    if header is None or not isinstance(htype, str) or htype not in HTYPES:
        return "unparsable"
    keys = ["frame", "msg_number"] if htype == "image" else ["msg_number"]
    return " ".join([htype, *(f"{k}={_shown(header, k)}" for k in keys if k in header)])


def comparer() -> Comparer:
    """Compares a capture's STINS messages with those made again from the HDF5 file.

    The expected messages are made uncompressed (`none`): an image is compared by its
    header's frame, shape and type and by its decoded pixels, whatever its compression.
    """
    return compare


def compare(expected: Sequence[bytes], actual: Sequence[bytes]) -> str | None:
    """Where a STINS message differs from the expected one, or None."""
    want, got = stins_header(expected), stins_header(actual)
    if got is None:
        return "no STINS JSON header"
    assert want is not None
    problem = header_problem(got)
    if problem is not None:
        return f"bad header: {problem}"
    if got["htype"] != want["htype"]:
        return f"a {quoted(str(got['htype']))} message, not {want['htype']}"
    if want["htype"] != "image":
        return None
    for key in ("frame", "shape", "type"):
        if got[key] != want[key]:
            return f"{key} is {shortened(repr(got[key]))}, not {want[key]!r}"
    found = frame_count_difference(expected, actual)
    if found is not None:
        return found
    shape = got["shape"]
    assert isinstance(shape, list)  # checked by header_problem, as the type
    dtype = image_dtype(got["type"])
    assert dtype is not None
    try:
        image = decode_stins(actual[1], tuple(shape), dtype, str(got["compression"]))
    except (ValueError, TypeError, RuntimeError) as e:
        return f"frame {want['frame']} fails to decode: {e}"
    return bytes_difference(expected[1], image.tobytes(), f"frame {want['frame']}")
