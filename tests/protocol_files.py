"""HDF5 files as the experiment writes them (contrast, the xspress3 streamer, PandA), written
with h5py in the test, and the protocol writers' messages as dranspose's parsers see them."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np
from dranspose.event import StreamData

from h5tocbors.buffers import read_range
from h5tocbors.payloads.encoding import InputFile
from h5tocbors.protocols import MessageWriter, StreamContext
from h5tocbors.protocols.registry import inspector_for
from h5tocbors.protocols.xspress import META

META_DTYPES = ["f8", "u4", "u4", "u4", "u4", "u4", "i4", "f8"]


def context(**options: Any) -> StreamContext:
    """A StreamContext with a plain encoder (no file descriptor, one thread)."""
    return StreamContext(InputFile().encoder, **options)


def messages(writer: MessageWriter, typ: str) -> list[StreamData]:
    """Every message of `writer` as dranspose's `StreamData`, frames as bytes."""
    return [StreamData(typ=typ, frames=[bytes(read_range(b)) for b in frames]) for frames in writer]


Check = TypeVar("Check")


def inspect_frames(
    kind: type[Check], typ: str, name: str, frames: list[list[bytes]]
) -> tuple[Check, list[str]]:
    """Run the registry's inspector for `typ` (an instance of `kind`) over `frames`, one
    message per event from 0: the inspector and its problems."""
    check = inspector_for(typ, name)
    assert isinstance(check, kind)
    for event, message in enumerate(frames):
        check.add(event, message)  # type: ignore[attr-defined]
    return check, check.finish().report()  # type: ignore[attr-defined]


class Boom:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.marker, "pwned"))


def xspress_group(
    f: h5py.File,
    path: str = "/entry/instrument/xspress3",
    frames: int = 5,
    channels: int = 3,
    bins: int = 8,
    window_counts: bool = False,
    **create: Any,
) -> h5py.Group:
    """An xspress3 streamer group: `data` and the eight meta datasets, distinct values."""
    rng = np.random.default_rng(frames * 100 + channels)
    g = f.create_group(path)
    g.attrs["NX_class"] = "NXdetector"
    g.create_dataset(
        "data", data=rng.integers(0, 1000, (frames, channels, bins), dtype=np.uint32), **create
    )
    for name, dtype in zip(META, META_DTYPES):
        values = rng.integers(0, 2**20, (frames, channels)).astype(dtype)
        if name == "clock_ticks":
            values = 7999990 + np.arange(frames * channels).reshape(frames, channels)
            values = values.astype(dtype)
        if dtype == "f8":
            values = values / 7.0
        g.create_dataset(name, data=values)
    if window_counts:
        g["window_counts"] = rng.integers(0, 99, (frames, 2, channels)).astype(np.uint32)
    return g


def contrast_scan(
    directory: Path,
    lines: int = 3,
    per_line: int = 4,
    *,
    scannr: int = 8,
    track_order: bool = False,
    name: str | None = None,
    panda_file: bool = False,
) -> Path:
    """A contrast master `<scannr:06d>.h5` as Hdf5Recorder writes it, with an xspress3 file
    and a Pilatus file linked from it. `per_line` points per step: 1 makes a step scan.
    With `panda_file`, the PandA group lives in its own file too, linked as `panda0`."""
    points = lines * per_line
    xspress_file = directory / f"scan_{scannr:06d}_xspress3.hdf5"
    with h5py.File(xspress_file, "w") as f:
        xspress_group(f, frames=points, channels=2, bins=16)
    pilatus_file = directory / f"scan_{scannr:06d}_pilatus.hdf5"
    with h5py.File(pilatus_file, "w") as f:
        f["/entry/instrument/Pilatus3/data"] = np.arange(points * 6, dtype=np.int32).reshape(
            points, 2, 3
        )
    master = directory / (name or f"{scannr:06d}.h5")
    rng = np.random.default_rng(lines)
    with h5py.File(master, "w", track_order=track_order) as f:
        f["entry/description"] = np.array([b"npointflyscan sx 0 1 4 sy 0 1 3 0.1"], "S100")
        f["entry/snapshots/pre_scan/sx"] = np.array([0.5])
        f["entry/snapshots/pre_scan/energy"] = np.array([12000.002585815417])
        f["entry/snapshots/post_scan/sx"] = np.array([0.625])
        m = f.create_group("entry/measurement", track_order=track_order)
        m["sy"] = np.linspace(-1.0, 1.0, lines)
        m["ring_current"] = np.arange(lines, dtype=np.int64) + 400
        pseudo = m.create_group("pseudo", track_order=track_order)
        pseudo["x"] = rng.standard_normal(points)
        pseudo["y"] = rng.standard_normal(points)
        panda_path = directory / f"scan_{scannr:06d}_panda0.h5"
        with h5py.File(panda_path, "w") if panda_file else nullcontext(f) as p:
            where = "entry/panda0" if panda_file else "entry/measurement/panda0"
            panda = p.create_group(where, track_order=track_order)
            panda["INENC2.VAL_Mean"] = rng.standard_normal(points) / 3
            panda["PCAP.TS_TRIG_Value"] = np.arange(points) * 0.1
        if panda_file:
            m["panda0"] = h5py.ExternalLink(panda_path.name, "/entry/panda0")
        m["xspress3"] = h5py.ExternalLink(xspress_file.name, "/entry/instrument/xspress3/")
        m["pilatus/frames"] = h5py.ExternalLink(
            pilatus_file.name, "/entry/instrument/Pilatus3/data"
        )
        m["pilatus/thumbs:"] = np.array([b"None"] * lines, "S100")
        m["comment"] = np.array([f"line {j}".encode() for j in range(lines)], "S100")
        m["dt"] = np.arange(lines) * 1.5 + 0.25
    return master
