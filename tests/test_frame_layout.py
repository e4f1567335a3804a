"""Frames that match the physics: NeXus image marks, colour axes, `--axes` for (H, W, N) stacks.

Every file is written here with h5py in the layout the real ones have: an APS EPICS
areaDetector Pilatus image (one (195, 487) NXdata signal), a NeXus spectrum, an old-style
`signal=1` dataset, a Velox-style (H, W, N) stack, an RGB preview, RGB frames.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
import pytest

from h5tocbors import convert, iter_messages
from h5tocbors.errors import H5ToCborsError, UsageError
from h5tocbors.hdf5.frames import FrameSeries
from h5tocbors.hdf5.layout import FrameLayout, layout_of, parse_axes
from h5tocbors.hdf5.resolve import find_dataset
from h5tocbors.hdf5.slabs import MAX_ROW_BYTES, SLAB_BYTES, Slabs

from .conftest import (
    Cli,
    decode_frame,
    decoded_frames,
    listing,
    read_capture,
    run_cli,
    stins_header,
)
from .test_replay_e2e import assert_stins_series, replay
from .test_replay_e2e import convert as run_convert

DETECTOR = "/entry/instrument/detector/data"
STACK = "/Data/Image/0/Data"
RNG = np.random.default_rng(9)
PILATUS = RNG.poisson(4.0, (195, 487)).astype(np.int32)
STACK_HWN = RNG.integers(0, 4000, (40, 30, 12), dtype=np.uint16)


def nexus_image(path: Path, *, link: str = "soft", bytes_attrs: bool = False) -> Path:
    """An APS areaDetector NeXus file: the detector's one (195, 487) image, named by the
    `signal` of `/entry/data` (NXdata) through a soft or hard link."""

    def text(value: str) -> str | np.bytes_:
        return np.bytes_(value.encode()) if bytes_attrs else value

    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = text("NXentry")
        det = f.create_group("entry/instrument/detector")
        det.attrs["NX_class"] = text("NXdetector")
        det.create_dataset(
            "data", data=PILATUS, chunks=PILATUS.shape, **hdf5plugin.Bitshuffle(cname="lz4")
        )
        det["mask"] = np.zeros(PILATUS.shape, np.uint8)  # a 2-D dataset that is no image
        data = f.create_group("entry/data")
        data.attrs["NX_class"] = text("NXdata")
        data.attrs["signal"] = text("data")
        data["data"] = h5py.SoftLink(DETECTOR) if link == "soft" else det["data"]
    return path


@pytest.mark.parametrize("link", ["soft", "hard"])
@pytest.mark.parametrize("bytes_attrs", [False, True], ids=["str", "bytes"])
def test_nxdata_signal_image_is_one_frame(
    cli: Cli, tmp_path: Path, link: str, bytes_attrs: bool
) -> None:
    """The NXdata signal (195, 487) is one frame, passed through, whichever path names it."""
    h5 = nexus_image(tmp_path / "pilatus.h5", link=link, bytes_attrs=bytes_attrs)
    code, out, err = cli("convert", h5, "-s", f"pilatus={DETECTOR}", "-o", tmp_path / "out")
    assert code == 0, err
    assert "pilatus: STINS, 1 frame from" in out and "[passed through]" in out
    (image,) = decoded_frames(tmp_path / "out/pilatus.cbors", "pilatus")
    assert image.shape == (195, 487) and np.array_equal(image, PILATUS)
    code, out, err = cli("verify", h5, tmp_path / "out/pilatus.cbors", "-s", f"pilatus={DETECTOR}")
    assert code == 0, err
    assert "1 frame identical" in out

    with h5py.File(h5, "r") as f:
        assert layout_of(f[DETECTOR], (195, 487)) == FrameLayout(
            "HW", "the signal of NXdata /entry/data"
        )
        assert layout_of(f["/entry/data/data"], (195, 487)).axes == "HW"
        assert layout_of(f["/entry/instrument/detector/mask"], (195, 487)).axes == "NW"


def test_ls_says_what_each_image_becomes(cli: Cli, tmp_path: Path) -> None:
    h5 = nexus_image(tmp_path / "pilatus.h5")
    with h5py.File(h5, "a") as f:
        f["/rgb/preview"] = np.zeros((512, 512, 3), np.uint8)
        f["/rgb/movie"] = np.zeros((20, 64, 64, 3), np.uint8)
        f["/stack/data"] = np.zeros((488, 43, 41), np.uint16)
    ds = listing(cli, h5)
    image = ds[DETECTOR]
    assert (image["frames"], image["frame_shape"], image["axes"]) == (1, [195, 487], "HW")
    assert (ds["/rgb/preview"]["frames"], ds["/rgb/preview"]["axes"]) == (1, "HWC")
    assert ds["/rgb/movie"]["frame_shape"] == [64, 64, 3]
    mask = ds["/entry/instrument/detector/mask"]
    assert (mask["frames"], mask["frame_shape"], mask["axes"]) == (195, [487], "NW")

    code, out, _ = cli("ls", h5)
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "frames" in lines["path"]
    assert " 1 frame 195x487 " in lines[DETECTOR]
    assert " 1 frame 512x512x3 " in lines["/rgb/preview"]
    assert " 20 frames 64x64x3 " in lines["/rgb/movie"]
    assert " 488 frames 43x41 " in lines["/stack/data"]
    assert " 195 frames 487 " in lines["/entry/instrument/detector/mask"]


@pytest.mark.parametrize(
    ("attrs", "axes", "frames"),
    [
        ({"interpretation": "spectrum"}, "NW", 195),
        ({"interpretation": b"image"}, "HW", 1),
        ({"signal": 1}, "HW", 1),
        ({"signal": "1"}, "HW", 1),
        ({"signal": 2}, "NW", 195),
        ({}, "NW", 195),
    ],
    ids=["spectrum", "image", "signal=1", "signal='1'", "signal=2", "none"],
)
def test_dataset_attributes_mark_2d_images(
    cli: Cli, tmp_path: Path, attrs: dict[str, Any], axes: str, frames: int
) -> None:
    """`interpretation` and the old `signal` attribute on a 2-D dataset."""
    h5 = tmp_path / "f.h5"
    with h5py.File(h5, "w") as f:
        dset = f.create_dataset("/entry/det/data", data=PILATUS)
        dset.attrs.update(attrs)
    code, out, err = cli("convert", h5, "-s", "det", "-o", tmp_path / "out", "--json")
    assert code == 0, err
    assert json.loads(out)["streams"][0]["frames"] == frames
    assert json.loads(out)["streams"][0]["hint"] is None  # as ls has it, not ""
    decoded = decoded_frames(tmp_path / "out/det.cbors", "det")
    assert np.array_equal(np.concatenate(decoded).reshape(PILATUS.shape), PILATUS)
    assert listing(cli, h5)["/entry/det/data"]["axes"] == axes


def test_spectrum_keeps_rows_even_as_the_nxdata_signal(cli: Cli, tmp_path: Path) -> None:
    h5 = nexus_image(tmp_path / "f.h5")
    with h5py.File(h5, "a") as f:
        f[DETECTOR].attrs["interpretation"] = "spectrum"
    target = f"detector={DETECTOR}"
    code, out, err = cli("convert", h5, "-s", target, "-o", tmp_path / "out", "--json")
    assert code == 0, err
    assert json.loads(out)["streams"][0]["frames"] == 195
    first = stins_header(read_capture(tmp_path / "out/detector.cbors")[1], "detector")
    assert first["shape"] == [487]


def test_auto_detection_prefers_stacks_then_marked_images(tmp_path: Path) -> None:
    """A marked 2-D image wins over an unmarked 2-D dataset; a real stack wins over both."""
    h5 = nexus_image(tmp_path / "f.h5")
    with h5py.File(h5, "r") as f:
        assert find_dataset(f, "detector").name == DETECTOR  # not the mask beside it
    with h5py.File(h5, "a") as f:
        f["/entry/instrument/detector/frames"] = np.zeros((3, 5, 6), np.uint16)
        f["/entry/instrument/detector/preview"] = np.zeros((64, 64, 3), np.uint8)
    with h5py.File(h5, "r") as f:
        assert find_dataset(f, "detector").name == "/entry/instrument/detector/frames"
    with h5py.File(h5, "a") as f:
        del f["/entry/instrument/detector/frames"]
    with h5py.File(h5, "r") as f, pytest.raises(H5ToCborsError) as e:
        find_dataset(f, "detector")  # two single images: the signal and the RGB preview
    assert "several datasets match" in str(e.value) and "preview" in str(e.value)


def write_stack(path: Path, **create: Any) -> Path:
    """A Velox-style stack: (H, W, N) with the frames on the last axis."""
    with h5py.File(path, "w") as f:
        f.create_dataset(STACK, data=STACK_HWN, **create)
    return path


STORAGES = {
    "contiguous": {},
    "gzip-rows": {"chunks": (20, 30, 5), "compression": "gzip"},  # 5 frames per chunk row
    "one-per-chunk": {"chunks": (40, 30, 1), **hdf5plugin.Bitshuffle(cname="lz4")},
}


@pytest.mark.parametrize("storage", list(STORAGES))
def test_hwn_stack_with_axes(cli: Cli, tmp_path: Path, storage: str) -> None:
    """`--axes HWN` makes frame k of `data[:, :, k]`, encoded (never passed through)."""
    h5 = write_stack(tmp_path / "velox.h5", **STORAGES[storage])
    out = tmp_path / "out"
    code, text, err = cli("convert", h5, "-s", f"haadf={STACK}", "--axes", "hwn", "-o", out)
    assert code == 0, err
    assert "12 frames" in text
    assert "[encoded (frames along axis 2 (--axes HWN), read with HDF5 hyperslabs)]" in text
    decoded = decoded_frames(out / "haadf.cbors", "haadf")
    assert [d.shape for d in decoded] == [(40, 30)] * 12
    for k, image in enumerate(decoded):
        assert np.array_equal(image, STACK_HWN[:, :, k]), k

    code, text, err = cli(
        "verify", h5, out / "haadf.cbors", "-s", f"haadf={STACK}", "--axes", "HWN"
    )
    assert (code, err) == (0, "")
    assert "12 frames identical" in text
    code, text, err = cli("verify", h5, out / "haadf.cbors")  # the capture records HWN
    assert (code, err) == (0, "") and "12 frames identical" in text
    code, _, err = cli("verify", h5, out / "haadf.cbors", "--axes", "NHW")
    assert code == 1 and "differ" in err  # given axes win: 40 frames of 30x12
    code, _, err = cli(
        "verify", h5, out / "haadf.cbors", "-s", f"haadf={STACK}", "--axes", "other=HWN"
    )
    assert code == 2 and "--axes other=HWN: no image stream other in" in err


def test_hwn_frame_selection_and_python_api(tmp_path: Path) -> None:
    h5 = write_stack(tmp_path / "velox.h5", chunks=(40, 30, 4), compression="gzip")
    result = convert(h5, {"haadf": STACK}, tmp_path / "out", axes="HWN", frames=slice(3, 11, 3))
    assert result.streams[0].frames == 3
    decoded = decoded_frames(tmp_path / "out/haadf.cbors", "haadf")
    assert all(np.array_equal(a, STACK_HWN[:, :, k]) for a, k in zip(decoded, (3, 6, 9)))

    messages = list(iter_messages(h5, "haadf", STACK, axes="HWN"))
    assert len(messages) == 14
    assert np.array_equal(decode_frame(messages[12], "haadf"), STACK_HWN[:, :, 11])

    result = convert(h5, ["Data"], tmp_path / "by-name", axes={"Data": "HWN"})
    assert result.streams[0].frames == 12


def test_slabs_read_one_chunk_row_or_a_bounded_block(tmp_path: Path) -> None:
    """Frames off the leading axes are read a chunk row at a time (contiguous: a block of at
    most SLAB_BYTES), each block once when the frames come in order."""
    h5 = write_stack(tmp_path / "rows.h5", chunks=(20, 30, 5), compression="gzip")
    write_stack(tmp_path / "plain.h5")
    with h5py.File(h5, "r") as f, h5py.File(tmp_path / "plain.h5", "r") as g:
        rows = Slabs(f[STACK], FrameLayout("HWN"), 40 * 30 * 2)
        assert rows.per == 5
        assert Slabs(f[STACK], FrameLayout("HWN"), MAX_ROW_BYTES // 4).per == 1
        plain = Slabs(g[STACK], FrameLayout("HWN"), 40 * 30 * 2)
        assert plain.per == 12  # all of them: far below SLAB_BYTES
        assert Slabs(g[STACK], FrameLayout("HWN"), SLAB_BYTES // 3).per == 3
        assert Slabs(g[STACK], FrameLayout("HWN"), SLAB_BYTES).per == 1
        blocks = []
        for k in range(12):
            frame = rows.frame((k,))
            if not blocks or blocks[-1] is not rows._block:
                blocks.append(rows._block)
            assert np.array_equal(frame, STACK_HWN[:, :, k])
        assert [b.shape for b in blocks] == [(40, 30, 5), (40, 30, 5), (40, 30, 2)]


def test_axes_with_several_frame_axes_and_colour(tmp_path: Path) -> None:
    """`NHWN`-like spellings: frames over every N axis in C order; C stays in the frame."""
    data = RNG.integers(0, 255, (2, 6, 5, 3), dtype=np.uint8)
    h5 = tmp_path / "f.h5"
    with h5py.File(h5, "w") as f:
        f["/grid/data"] = data
    with h5py.File(h5, "r") as f:
        series = FrameSeries.of(f["/grid/data"], layout=FrameLayout("NHNC"))
        assert (len(series), series.frame_shape) == (10, (6, 3))
        for k in range(10):
            i, j = divmod(k, 5)
            assert np.array_equal(series.read(k), data[i, :, j, :])


RGB = RNG.integers(0, 256, (512, 512, 3), dtype=np.uint8)
RGBA_FRAMES = RNG.integers(0, 256, (4, 64, 48, 4), dtype=np.uint8)


def test_rgb_preview_is_one_colour_frame(cli: Cli, tmp_path: Path) -> None:
    h5 = tmp_path / "f.h5"
    with h5py.File(h5, "w") as f:
        f["/entry/preview/rgb"] = RGB
        f["/entry/movie/rgba"] = RGBA_FRAMES
    out = tmp_path / "out"
    code, text, err = cli("convert", h5, "-s", "preview", "-o", out)
    assert code == 0, err
    assert "preview: STINS, 1 frame from /entry/preview/rgb" in text
    (image,) = decoded_frames(out / "preview.cbors", "preview")
    assert image.shape == (512, 512, 3) and np.array_equal(image, RGB)
    code, text, err = cli("convert", h5, "-s", "movie", "-o", out)
    assert code == 0, err
    assert "movie: STINS, 4 frames from /entry/movie/rgba" in text
    decoded = decoded_frames(out / "movie.cbors", "movie")
    assert len(decoded) == 4 and all(np.array_equal(a, b) for a, b in zip(decoded, RGBA_FRAMES))
    code, text, err = cli("verify", h5, out / "preview.cbors", out / "movie.cbors")
    assert code == 0, err
    assert "4 frames identical to /entry/movie/rgba" in text

    # asked for: the colour axis counts frames
    code, _, err = cli("convert", h5, "-s", "preview", "--axes", "HWN", "-o", tmp_path / "o2")
    assert code == 0, err
    assert [a.shape for a in decoded_frames(tmp_path / "o2/preview.cbors", "preview")] == [
        (512, 512)
    ] * 3


@pytest.mark.parametrize(
    ("shape", "dtype", "interpretation", "axes"),
    [
        ((512, 512, 3), "u1", None, "HWC"),
        ((512, 512, 4), "f4", None, "HWC"),  # colour by shape, whatever the type
        ((3, 512, 512), "u1", None, "NHW"),  # a frame stack keeps its frames first
        ((4, 512, 3), "u1", None, "NHW"),  # 4 rows: no image of pixels, 4 frames
        ((2, 3, 4), "u1", None, "NHW"),
        ((512, 512, 3), "u1", "spectrum", "NHW"),
        ((4, 4, 3), "u1", "rgb-image", "HWC"),
        ((6, 512, 512, 3), "u2", None, "NHWC"),
        ((2, 3, 512, 512), "u2", None, "NNHW"),
    ],
)
def test_colour_rule(
    tmp_path: Path, shape: tuple[int, ...], dtype: str, interpretation: str | None, axes: str
) -> None:
    with h5py.File(tmp_path / "f.h5", "w") as f:
        dset = f.create_dataset("d", shape, dtype)
        if interpretation:
            dset.attrs["interpretation"] = interpretation
        assert layout_of(dset, shape).axes == axes


def test_bad_axes(cli: Cli, tmp_path: Path) -> None:
    h5 = write_stack(tmp_path / "velox.h5")
    target = ["-s", f"haadf={STACK}", "-o", tmp_path / "out"]
    for axes, code, message in [
        ("HWQ", 2, "--axes 'HWQ': give one letter per dataset axis"),
        ("NN", 2, "no H, W or C axis"),
        ("HHN", 2, "H is given twice"),
        ("other=HWN", 2, "--axes other=HWN: no stream other is converted (the streams are haadf)"),
        ("HW", 1, f"--axes HW names 2 axes; {STACK} in {h5} has 3 (40x30x12)"),
    ]:
        got, _, err = cli("convert", h5, *target, "--axes", axes)
        assert (got, err.count("\n")) == (code, 1), err
        assert message in err
    got, _, err = cli("convert", h5, *target, "--axes", "HWN", "--axes", "NHW")
    assert got == 2 and "--axes is given twice" in err
    with pytest.raises(UsageError):
        parse_axes("")


def test_axes_named_for_another_protocol(cli: Cli, tmp_path: Path) -> None:
    from .scan_files import write_xspress3

    h5 = write_xspress3(tmp_path / "x.h5", frames=4)
    code, _, err = cli(
        "convert", h5, "-s", "xspress3=/entry/instrument/xspress3", "--axes", "xspress3=NHW"
    )
    assert code == 1
    assert "stream xspress3 (/entry/instrument/xspress3 in" in err
    assert "has protocol xspress; --axes cuts image datasets only" in err


def test_axes_in_a_scan_config(cli: Cli, tmp_path: Path) -> None:
    """`axes = "HWN"` in the TOML: the planner counts the frames it cuts."""
    h5 = write_stack(tmp_path / "velox.h5", chunks=(40, 30, 3), compression="gzip")
    config = tmp_path / "scan.toml"
    config.write_text(f'points = 12\n\n[streams.haadf]\npath = "{STACK}"\naxes = "HWN"\n')
    out = tmp_path / "out"
    code, _, err = cli("convert", h5, "--config", config, "-o", out)
    assert code == 0, err
    assert np.array_equal(decoded_frames(out / "haadf.cbors", "haadf")[7], STACK_HWN[:, :, 7])
    code, _, err = cli("verify", h5, out / "haadf.cbors", "--config", config)
    assert code == 0, err

    config.write_text(f'points = 12\n\n[streams.haadf]\npath = "{STACK}"\n')
    code, _, err = cli("convert", h5, "--config", config, "-o", tmp_path / "o2")
    assert code == 1
    assert "has 40 frames, which matches neither the scan's 12 points" in err

    config.write_text(f'points = 12\n\n[streams.haadf]\npath = "{STACK}"\naxes = "HXN"\n')
    code, _, err = cli("convert", h5, "--config", config, "-o", tmp_path / "o3")
    assert code == 1
    assert f"{config} line 5: streams.haadf.axes 'HXN': give one letter" in err


def test_frames_read_from_missing_virtual_sources_are_refused(cli: Cli, tmp_path: Path) -> None:
    """A virtual (H, W, N) stack over two files along N, one of them missing: frames that
    come from it are refused by their number along the frame axis."""
    for i in range(2):
        with h5py.File(tmp_path / f"part{i}.h5", "w") as f:
            f["data"] = STACK_HWN[:, :, 6 * i : 6 * i + 6]
    h5 = tmp_path / "vds.h5"
    with h5py.File(h5, "w") as f:
        layout = h5py.VirtualLayout(STACK_HWN.shape, STACK_HWN.dtype)
        for i in range(2):
            source = h5py.VirtualSource(f"part{i}.h5", "data", (40, 30, 6))
            layout[:, :, 6 * i : 6 * i + 6] = source
        f.create_virtual_dataset("stack", layout)
    (tmp_path / "part1.h5").unlink()
    base = ["convert", h5, "-s", "stack=/stack", "--axes", "HWN"]
    code, _, err = cli(*base, "-o", tmp_path / "a")
    assert code == 1 and "reads frame 6 (and maybe others) from part1.h5:data" in err
    code, _, err = cli(*base, "--frames", "0:6", "-o", tmp_path / "b")
    assert code == 0, err
    decoded = decoded_frames(tmp_path / "b/stack.cbors", "stack")
    assert all(np.array_equal(a, STACK_HWN[:, :, k]) for k, a in enumerate(decoded))


def test_replay_single_image_and_hwn_stack(tmp_path: Path) -> None:
    """The real `dranspose replay` of a single NXdata image and of an (H, W, N) stack
    converted with `--axes HWN`, together: one event per frame, images intact."""
    h5 = nexus_image(tmp_path / "pilatus.h5")
    stack = write_stack(tmp_path / "velox.h5", chunks=(40, 30, 4), compression="gzip")
    out = tmp_path / "out"
    run_convert(h5, "-s", "pilatus=/entry/data/data", "-o", out)
    run_convert(stack, "-s", f"haadf={STACK}", "--axes", "haadf=HWN", "--frames", "5", "-o", out)

    record = replay(tmp_path, "-f", out / "pilatus.cbors", out / "haadf.cbors")

    assert_stins_series(record, "pilatus", [PILATUS])
    assert_stins_series(record, "haadf", [np.ascontiguousarray(STACK_HWN[:, :, 5])])


def test_replay_hwn_stack_and_rgb_frames(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "velox.h5")
    with h5py.File(stack, "a") as f:
        f["/movie/rgba"] = RGBA_FRAMES
    out = tmp_path / "out"
    run_convert(
        stack,
        "-s",
        f"haadf={STACK}",
        "-s",
        "movie",
        "--axes",
        "haadf=HWN",
        "--frames",
        "0:4",
        "-o",
        out,
    )

    record = replay(tmp_path, "-f", out / "haadf.cbors", out / "movie.cbors")

    frames = [np.ascontiguousarray(STACK_HWN[:, :, k]) for k in range(4)]
    assert_stins_series(record, "haadf", frames)
    assert_stins_series(record, "movie", list(RGBA_FRAMES))


def test_hints_from_hostile_files_are_read_safely(tmp_path: Path) -> None:
    """Hints that are huge, of odd types, or that lead outside the file's folder are no
    hints: nothing is read beyond short attributes and links the path rule allows."""
    outside = tmp_path / "outside"
    outside.mkdir()
    with h5py.File(outside / "secret.h5", "w") as f:
        f["data"] = PILATUS
    h5 = tmp_path / "in" / "f.h5"
    h5.parent.mkdir()
    with h5py.File(h5, "w") as f:
        for name, signal in [("far", "link"), ("long", "x" * 100_000), ("odd", 1.5)]:
            group = f.create_group(f"/{name}/data")
            group.attrs["NX_class"] = "NXdata"
            group.attrs["signal"] = signal
            group["image"] = PILATUS
        f["/far/data/link"] = h5py.ExternalLink(str(outside / "secret.h5"), "/data")
        f["/many/interpretation"] = PILATUS
        f["/many/interpretation"].attrs["interpretation"] = ["image"] * 3
    with h5py.File(h5, "r") as f:
        for path in ("/far/data/image", "/long/data/image", "/odd/data/image"):
            assert layout_of(f[path], PILATUS.shape).axes == "NW", path
        assert layout_of(f["/many/interpretation"], PILATUS.shape).axes == "NW"


def labelled(path: Path) -> Path:
    """An Odemis-style (C, T, Z, Y, X) streak-camera spot (images over C and T, Y and X a
    2x3 spot grid), a (Y, X, T) stack labelled so, and a Velox-style (16, 20, 1) image."""
    with h5py.File(path, "w") as f:
        spot = f.create_dataset("Acquisition0/ImageData/Image", data=np.zeros((16, 16, 1, 2, 3)))
        for i, label in enumerate("CTZYX"):
            spot.dims[i].label = label
        stack = f.create_dataset("stack", data=STACK_HWN)
        for i, label in enumerate(["y", "x", "t"]):
            stack.dims[i].label = label
        f["velox"] = np.zeros((16, 20, 1), np.float32)
        f["per_channel"] = np.zeros((100, 4), np.float32)  # rows: values per point, no hint
    return path


def test_dimension_labels_pick_the_image_axes(cli: Cli, tmp_path: Path) -> None:
    """`DIMENSION_LABELS` Y and X are each frame's rows and columns: a (Y, X, T) stack was
    40 frames of 30x12."""
    ds = listing(cli, labelled(tmp_path / "odemis.h5"))
    assert (ds["/stack"]["axes"], ds["/stack"]["frames"]) == ("HWN", 12)
    assert ds["/Acquisition0/ImageData/Image"]["axes"] == "NNNHW"
    code, _, err = cli("convert", tmp_path / "odemis.h5", "-s", "stack", "-o", tmp_path / "out")
    assert code == 0, err
    frames = decoded_frames(tmp_path / "out/stack.cbors", "stack")
    assert len(frames) == 12 and np.array_equal(frames[5], STACK_HWN[:, :, 5])


@pytest.mark.parametrize("labels", [np.array([b"y", b"x", b"t"]), np.array([1, 2, 3])])
def test_dimension_labels_of_another_type(tmp_path: Path, labels: np.ndarray) -> None:
    """`DIMENSION_LABELS` of fixed-length strings (h5py's `attrs[...] = np.array([b"y", ...])`)
    crashed `ls` and convert (SIGSEGV in HDF5's label reader, "corrupt HDF5 metadata"): they
    are read as labels now; labels of another type are no labels."""
    h5 = tmp_path / "fixed.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("stack", data=STACK_HWN).attrs["DIMENSION_LABELS"] = labels
    shown = run_cli("ls", "--json", h5)
    assert (shown.returncode, shown.stderr) == (0, ""), shown.stderr
    axes = "HWN" if labels.dtype.kind == "S" else "NHW"
    assert json.loads(shown.stdout)[0]["axes"] == axes
    done = run_cli("convert", h5, "-s", "stack", "-o", tmp_path / "out")
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert len(decoded_frames(tmp_path / "out/stack.cbors", "stack")) == (
        12 if axes == "HWN" else 40
    )


def test_tiny_frames_get_the_axes_that_cut_images(cli: Cli, tmp_path: Path) -> None:
    """256 frames of 2x3 (a 1.6 MB Odemis file became 65,536 such frames) and Velox's
    16 frames of 20x1 came with no hint; `ls` and convert's summary now name the --axes."""
    h5 = labelled(tmp_path / "odemis.h5")
    ds = listing(cli, h5)
    spot = "/Acquisition0/ImageData/Image"
    assert ds[spot]["hint"] == "frames of 2x3: --axes HWNNN makes 6 frames 16x16"
    assert ds["/velox"]["hint"] == "frames of 20x1: --axes HWN makes 1 frame 16x20"
    assert ds["/stack"]["hint"] is None and ds["/per_channel"]["hint"] is None
    code, out, err = cli("convert", h5, "-s", f"spot={spot}", "-o", tmp_path / "out")
    assert code == 0, err
    assert "spot: tiny frames of 2x3: --axes HWNNN makes 6 frames 16x16" in out
    code, out, err = cli(
        "convert", h5, "-s", f"spot={spot}", "--axes", "HWNNN", "-o", tmp_path / "o2"
    )
    assert code == 0 and "tiny frames" not in out and "6 frames" in out
