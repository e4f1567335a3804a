"""Which axes of a dataset count frames and which make up each frame.

A layout names the role of every axis with one letter: `N` counts frames (several `N`
are taken in C order), `H`, `W` and `C` (rows, columns, colour) make up each frame, in
the dataset's order. Without `--axes`, the dataset's shape and its NeXus hints decide:

- 2-D marked as an image (`interpretation="image"`, the `signal` of an NXdata group,
  `signal=1`) or a detector's per-pixel array (`CALIBRATION`: a DECTRIS master's
  `flatfield`, `pixel_mask`): one frame, `HW`; other 2-D data (spectra over points, as
  often as images) and `interpretation="spectrum"`: a frame per row, `NW`;
- 3 or more dimensions whose last axis is 3 or 4 after two axes of 8 or more (RGB,
  RGBA; or `interpretation="rgb-image"`, `"rgba-image"`): the colour images over the
  leading axes, `HWC`, `NHWC`, ...;
- other data of 3 or more dimensions: the last-two-axes images in C order over the
  leading axes, `NHW`, `NNHW`, ...

HDF5 dimension labels (`DIMENSION_LABELS`) `Y` and `X`, as Odemis writes them on its
`(C, T, Z, Y, X)` data, come first: they are each frame's rows and columns, every other
axis counts frames. Tiny frames (`tiny_frames`) get a hint naming the `--axes` that cuts
images from the two longest axes instead.

A frame stack keeps its frames on the leading axes: `(3, 512, 512)` is 3 frames, while
`(512, 512, 3)` is one RGB image; a stack stored with its frames last, `(H, W, N)`, needs
`--axes HWN`.

Example:
    >>> FrameLayout("HWN").describe((512, 256, 40))
    '40 frames 512x256'
    >>> FrameLayout.stack(4).axes
    'NNHW'
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from math import prod

import h5py
import numpy as np

from ..errors import H5ToCborsError, UsageError, option, quoted
from .open import METADATA_ERRORS
from .walk import BrokenLink, follow

FRAME = "N"
IMAGE = "HWC"
"""The letters of the axes inside a frame: rows, columns, colour."""
COLOURS = (3, 4)
MIN_PIXELS = 8
"""A last axis of 3 or 4 is colour only after two axes at least this long."""
CALIBRATION = frozenset({"pixel_mask", "flatfield", "flatfield_error", "flatfield_errors"})
"""Names of a detector's per-pixel arrays (NeXus NXdetector, DECTRIS `detectorSpecific`):
2-D, they are one image; never the data a stream is looked for."""
MAX_ATTR_BYTES = 1024
"""NeXus hints are short attributes; longer ones are not read."""
ROOT_LEVELS = 2
"""NXdata groups are looked for this deep below the root (`/entry/data`) and in the
dataset's own group."""
MAX_GROUPS = 256
"""Groups looked at for NXdata, at most, per file."""
MAX_LINKS = 4096
"""Links looked at to find those groups, at most, per file."""
MAX_LABELLED = 32
"""Dimension labels are read for datasets of at most this many axes (HDF5 allows 32)."""
MIN_FRAME_PIXELS = 16
"""Frames smaller than this (or with an axis of 1) are tiny: `ls` and `convert` say how
`--axes` would cut images instead."""
MAX_CACHED = 64
"""Files whose NXdata signals are remembered (by HDF5's file number, never reused)."""
_signals: dict[int, dict[tuple[int, int], str]] = {}


@dataclass(frozen=True)
class FrameLayout:
    """The role of each axis of a dataset (`axes`, one letter per axis), and why (`why`).

    Example:
        >>> layout = FrameLayout("NHWC")
        >>> layout.lead_shape((20, 512, 512, 3)), layout.frame_shape((20, 512, 512, 3))
        ((20,), (512, 512, 3))
    """

    axes: str
    why: str = ""

    @classmethod
    def stack(cls, ndim: int) -> FrameLayout:
        """Frames over all but the last two axes (2-D data: its rows)."""
        return cls(FRAME + "W" if ndim <= 2 else FRAME * (ndim - 2) + "HW")

    @classmethod
    def first_axis(cls, ndim: int) -> FrameLayout:
        """Frames along axis 0 alone: `NW`, `NHW`, `NHWC` (4-D at most)."""
        return cls(FRAME + ("W", "HW", IMAGE)[min(max(ndim, 2), 4) - 2])

    @property
    def frame_axes(self) -> tuple[int, ...]:
        """The axes that count frames."""
        return tuple(i for i, a in enumerate(self.axes) if a == FRAME)

    @property
    def image_axes(self) -> tuple[int, ...]:
        """The axes of each frame."""
        return tuple(i for i, a in enumerate(self.axes) if a != FRAME)

    @property
    def leading(self) -> bool:
        """True when the frame axes come first: stored chunks can then hold whole frames."""
        return self.frame_axes == tuple(range(len(self.frame_axes)))

    def lead_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The lengths of the axes that count frames."""
        return tuple(shape[i] for i in self.frame_axes)

    def frame_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one frame."""
        return tuple(shape[i] for i in self.image_axes)

    def index(self, position: tuple[int | slice, ...]) -> tuple[int | slice, ...]:
        """The dataset index of the frame at `position` along the frame axes."""
        at = iter(position)
        return tuple(next(at) if a == FRAME else slice(None) for a in self.axes)

    def describe(self, shape: tuple[int, ...]) -> str:
        """`1 frame 195x487`, `488 frames 4362x4148`, `20 frames 512x512x3`."""
        count = prod(self.lead_shape(shape))
        frame = "x".join(map(str, self.frame_shape(shape)))
        return f"{count} frame{'' if count == 1 else 's'} {frame}"


def parse_axes(text: str, where: str = "--axes") -> str:
    """Check an axes spelling (`HWN`, `NHWC`, `HW`), in capitals.

    Example:
        >>> parse_axes("hwn")
        'HWN'
        >>> parse_axes("NN")
        Traceback (most recent call last):
        ...
        h5tocbors.errors.UsageError: --axes 'NN': no H, W or C axis: a frame needs at least one
    """
    axes = text.strip().upper()
    bad = sorted(set(axes) - set(FRAME + IMAGE))
    if not axes or bad:
        raise UsageError(
            f"{where} {quoted(text)}: give one letter per dataset axis, N for each axis that "
            "counts frames and H, W, C for the axes of a frame (e.g. HWN, NHWC)"
        )
    if not any(a in IMAGE for a in axes):
        raise UsageError(f"{where} {quoted(text)}: no H, W or C axis: a frame needs at least one")
    twice = next((a for a in IMAGE if axes.count(a) > 1), None)
    if twice is not None:
        raise UsageError(f"{where} {quoted(text)}: {twice} is given twice")
    return axes


def layout_of(dset: h5py.Dataset, shape: tuple[int, ...], axes: str | None = None) -> FrameLayout:
    """The layout of `dset` (of `shape`): `axes` when given (its length checked), else
    what its shape and NeXus hints say (see the module's table).

    Example:
        >>> layout_of(f["/entry/data/data"], (195, 487))  # doctest: +SKIP
        FrameLayout(axes='HW', why='the signal of NXdata /entry/data')
    """
    if axes is not None:
        if len(axes) != len(shape):
            shown = "x".join(map(str, shape)) or "scalar"
            raise H5ToCborsError(
                f"{option('axes', axes)} names {len(axes)} axes; {dset.name} in "
                f"{dset.file.filename} has {len(shape)} ({shown})"
            )
        return FrameLayout(axes, "--axes")
    if len(shape) < 2:
        return FrameLayout.stack(2)  # no image: refused elsewhere
    labelled = labelled_axes(dset, len(shape))
    if labelled is not None:
        return FrameLayout(labelled, "DIMENSION_LABELS")
    interpretation = text_attr(dset, "interpretation")
    if len(shape) == 2:
        if interpretation == "spectrum":
            return FrameLayout("NW", 'interpretation="spectrum"')
        why = image_mark(dset, interpretation)
        return FrameLayout("HW", why) if why else FrameLayout.stack(2)
    colour = interpretation in ("rgb-image", "rgba-image") or (
        interpretation != "spectrum" and min(shape[-3:-1]) >= MIN_PIXELS
    )
    if shape[-1] in COLOURS and colour:
        return FrameLayout(FRAME * (len(shape) - 3) + IMAGE, f"last axis of {shape[-1]}: colour")
    return FrameLayout.stack(len(shape))


def labelled_axes(dset: h5py.Dataset, ndim: int) -> str | None:
    """The axes that HDF5 dimension labels (`DIMENSION_LABELS`, as Odemis writes `C`, `T`,
    `Z`, `Y`, `X`) say: `Y` and `X` are each frame's rows and columns, every other axis
    counts frames; None without both labels, or when they cannot be read safely.

    They are read as an attribute, not with HDF5's label reader: that one takes any
    attribute for variable-length strings (fixed-length ones or ints crash it)."""
    try:
        if "DIMENSION_LABELS" not in dset.attrs:
            return None
        attr = h5py.h5a.open(dset.id, b"DIMENSION_LABELS")
        if attr.shape != (ndim,) or ndim > MAX_LABELLED:
            return None
        if not isinstance(attr.get_type(), h5py.h5t.TypeStringID):
            return None
        if attr.get_storage_size() > MAX_ATTR_BYTES:
            return None
        values = dset.attrs["DIMENSION_LABELS"]
    except (*METADATA_ERRORS, TypeError):
        return None
    labels = [
        (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)).strip().upper()
        for v in values
    ]
    if labels.count("Y") != 1 or labels.count("X") != 1:
        return None
    return "".join({"Y": "H", "X": "W"}.get(label, FRAME) for label in labels)


def tiny_frames(shape: tuple[int, ...], layout: FrameLayout) -> str | None:
    """A hint when images (not rows: values per point) are tiny (fewer than
    `MIN_FRAME_PIXELS`, or an axis of 1) and many: the `--axes` that cuts images from the
    two longest axes (in the caller's words, see `errors.option`), and what it makes; None
    when frames are not tiny, or `--axes` chose them.

    Example:
        >>> tiny_frames((256, 256, 1, 2, 3), FrameLayout("NNNHW"))
        "frames of 2x3: axes = 'HWNNN' makes 6 frames 256x256"
        >>> from h5tocbors.errors import cli_wording
        >>> with cli_wording():
        ...     tiny_frames((16, 20, 1), FrameLayout("NHW"))
        'frames of 20x1: --axes HWN makes 1 frame 16x20'
    """
    frame = layout.frame_shape(shape)
    tiny = len(frame) > 1 and (prod(frame) < MIN_FRAME_PIXELS or 1 in frame)  # not rows
    if layout.why == "--axes" or not tiny or prod(layout.lead_shape(shape)) < 2:
        return None
    h, w = sorted(sorted(range(len(shape)), key=lambda i: -shape[i])[:2])
    axes = "".join("H" if i == h else "W" if i == w else FRAME for i in range(len(shape)))
    better = FrameLayout(axes)
    if prod(better.frame_shape(shape)) <= prod(frame) or 1 in better.frame_shape(shape):
        return None
    shown = "x".join(map(str, frame))
    return f"frames of {shown}: {option('axes', axes)} makes {better.describe(shape)}"


def image_mark(dset: h5py.Dataset, interpretation: str | None) -> str:
    """Why a 2-D dataset is one image: its NeXus hint, or "" when it has none."""
    if interpretation == "image":
        return 'interpretation="image"'
    if is_calibration(dset.name or ""):
        return "a detector's per-pixel array"
    nxdata = signal_of(dset)
    if nxdata is not None:
        return f"the signal of NXdata {nxdata}"
    signal = text_attr(dset, "signal")
    return "signal=1" if signal is not None and signal.strip() == "1" else ""


def is_calibration(path: str) -> bool:
    """True for the path of a detector's per-pixel array (`CALIBRATION`).

    Example:
        >>> is_calibration("/entry/instrument/detector/detectorSpecific/pixel_mask")
        True
    """
    return posixpath.basename(path) in CALIBRATION


def text_attr(obj: h5py.HLObject, name: str) -> str | None:
    """A short attribute as text (`b"image"`, `"image"`, `1`, `[b"data"]` alike), or None
    when it is missing, long, not text or a number, or unreadable."""
    try:
        if name not in obj.attrs:
            return None
        attr = h5py.h5a.open(obj.id, name.encode())
        if attr.get_storage_size() > MAX_ATTR_BYTES or attr.shape not in ((), (1,)):
            return None
        value = obj.attrs[name]
    except (*METADATA_ERRORS, TypeError):
        return None
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size == 1 else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, np.integer | int) and not isinstance(value, bool):
        value = str(int(value))
    return value if isinstance(value, str) and len(value) <= MAX_ATTR_BYTES else None


def signal_of(dset: h5py.Dataset) -> str | None:
    """The NXdata group whose `signal` names `dset`, or None: its own group, or one at most
    two levels below the root of its file (`/entry/data`), through any link to it."""
    try:
        key = object_key(dset)
        parent = dset.parent
    except (*METADATA_ERRORS, TypeError):
        return None
    if signal_key(parent) == key:
        return str(parent.name)
    if key[0] not in _signals:
        if len(_signals) >= MAX_CACHED:
            _signals.clear()
        groups = root_groups(dset.file)
        _signals[key[0]] = {k: str(g.name) for g in groups if (k := signal_key(g)) is not None}
    return _signals[key[0]].get(key)


def signal_key(group: h5py.Group) -> tuple[int, int] | None:
    """The dataset that the `signal` attribute of an NXdata `group` names, or None."""
    if text_attr(group, "NX_class") != "NXdata":
        return None
    name = text_attr(group, "signal")
    if not name or "/" in name or name in (".", ".."):
        return None
    try:
        member = follow(group, name)
        return object_key(member) if isinstance(member, h5py.Dataset) else None
    except (BrokenLink, H5ToCborsError, *METADATA_ERRORS, TypeError):
        return None


def root_groups(f: h5py.File) -> list[h5py.Group]:
    """Groups reached by hard links from the root of `f`, at most `ROOT_LEVELS` deep,
    `MAX_GROUPS` in all, among the first `MAX_LINKS` links looked at."""
    found: list[h5py.Group] = []
    level, budget = [f["/"]], [MAX_LINKS]
    for _ in range(ROOT_LEVELS):
        start = len(found)
        for group in level:
            found += hard_groups(group, MAX_GROUPS - len(found), budget)
        level = found[start:]
    return found


def hard_groups(group: h5py.Group, limit: int, budget: list[int]) -> list[h5py.Group]:
    """Up to `limit` groups that hard links of `group` lead to (other links are not
    followed), looking at `budget[0]` links at most (and counting it down)."""
    out: list[h5py.Group] = []
    try:
        for name in group:
            if len(out) >= limit or budget[0] <= 0:
                break
            budget[0] -= 1
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.HardLink) and group.get(name, getclass=True) is h5py.Group:
                out.append(group[name])
    except (*METADATA_ERRORS, TypeError):
        pass
    return out


def object_key(obj: h5py.HLObject) -> tuple[int, int]:
    """What tells HDF5 objects apart across the open files: file number and address."""
    info = h5py.h5o.get_info(obj.id)
    return int(info.fileno), int(info.addr)
