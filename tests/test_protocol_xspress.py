"""xspress writer and inspector: every message through dranspose's own xspress parser."""

from __future__ import annotations

import json
import os
import pickle
import pickletools
from pathlib import Path

import h5py
import numpy as np
import pytest
from dranspose.data.xspress3 import XspressEnd, XspressImage, XspressStart
from dranspose.middlewares.xspress import parse

from h5tocbors.errors import H5ToCborsError
from h5tocbors.protocols import xspress
from h5tocbors.protocols.pickles import loads
from h5tocbors.protocols.registry import describe_frames

from .protocol_files import Boom, context, inspect_frames, messages, xspress_group

PARSER_NAMES = ["ocr", "AllEvents", "AllGood", "ClockTicks", "TotalTicks", "ResetTicks",
                "event_widths", "dtc"]  # fmt: skip


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "scan_000008_xspress3.hdf5"
    with h5py.File(path, "w") as f:
        xspress_group(f)
    return path


def stored(path: Path) -> dict[str, np.ndarray]:
    """The datasets of the xspress3 group, read before a writer opens them (HDF5 refuses to
    open a dataset twice with different external-file prefixes)."""
    with h5py.File(path, "r") as f:
        return {k: v[()] for k, v in f["/entry/instrument/xspress3"].items()}


def test_every_message_parses_to_the_hdf5_values(source: Path) -> None:
    group = stored(source)
    with h5py.File(source, "r") as f:
        writer = xspress.open_writer(f["/entry/instrument/xspress3"], context())
        assert len(writer) == 5 + 2  # known before reading any frame
        assert writer.counters.frames == 0
        msgs = messages(writer, "xspress")
        packets = [parse(m) for m in msgs]
        assert isinstance(packets[0], XspressStart) and isinstance(packets[-1], XspressEnd)
        assert packets[0].filename == str(source)  # the streamer announces its own file
        assert json.loads(msgs[0].frames[0]) == {
            "htype": "header",
            "filename": str(source),
            "overwritable": False,
        }
        for k, packet in enumerate(packets[1:-1]):
            assert isinstance(packet, XspressImage) and len(msgs[k + 1].frames) == 3
            assert (packet.frame, packet.shape, packet.type) == (k, [3, 8], "uint32")
            assert packet.compression == "none"
            assert np.array_equal(packet.data, group["data"][k])
            assert packet.exptime == group["clock_ticks"][k][0] / 80e6
            assert list(packet.meta) == PARSER_NAMES
            for parsed, name in zip(packet.meta.values(), xspress.META):
                value = group[name][k]
                assert parsed.dtype == value.dtype and np.array_equal(parsed, value)
        assert writer.counters.frames == 5
        assert writer.source == "/entry/instrument/xspress3"


def test_header_as_the_streamer_writes_it(source: Path) -> None:
    with h5py.File(source, "r") as f:
        msgs = messages(xspress.open_writer(f["/entry/instrument/xspress3"], context()), "xspress")
    assert msgs[1].frames[0] == (
        b'{"htype":"image","exptime":0.099999875,"frame":0,"shape":[3,8],'
        b'"type":"uint32","compression":"none"}'
    )
    assert msgs[-1].frames == [b'{"htype":"series_end"}']
    assert msgs[1].frames[2][:2] == b"\x80\x03"  # protocol 3, as send_pyobj wrote it


def test_meta_pickles_name_numpy1_globals(source: Path) -> None:
    with h5py.File(source, "r") as f:
        msgs = messages(xspress.open_writer(f["/entry/instrument/xspress3"], context()), "xspress")
    names = {arg for op, arg, _ in pickletools.genops(msgs[1].frames[2]) if op.name == "GLOBAL"}
    assert names == {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}


def test_window_counts_follow_the_eight(tmp_path: Path) -> None:
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        xspress_group(f, window_counts=True)
    window_counts = stored(path)["window_counts"]
    with h5py.File(path, "r") as f:
        msgs = messages(xspress.open_writer(f["/entry/instrument/xspress3"], context()), "xspress")
    meta = loads(msgs[2].frames[2])
    assert len(meta) == 9 and np.array_equal(meta[8], window_counts[1])
    assert len(parse(msgs[2]).meta) == 8  # dranspose names the first eight


def test_selection_and_filename(source: Path) -> None:
    group = stored(source)
    with h5py.File(source, "r") as f:
        ctx = context(points=slice(1, 5, 2), filename="/data/live.h5")
        writer = xspress.open_writer(f["/entry/instrument/xspress3"], ctx)
        assert len(writer) == 4
        packets = [parse(m) for m in messages(writer, "xspress")]
        assert packets[0].filename == "/data/live.h5"
        assert [p.frame for p in packets[1:-1]] == [0, 1]
        for packet, index in zip(packets[1:-1], [1, 3]):
            assert np.array_equal(packet.data, group["data"][index])
            assert np.array_equal(packet.meta["dtc"], group["dead_time_correction"][index])


def test_multi_frame_gzip_chunks_and_big_endian_meta(tmp_path: Path) -> None:
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        written = xspress_group(f, frames=9, chunks=(4, 1, 8), compression="gzip")
        del written["all_good"]
        written["all_good"] = np.arange(27, dtype=">u4").reshape(9, 3)
    group = stored(path)
    with h5py.File(path, "r") as f:
        writer = xspress.open_writer(f["/entry/instrument/xspress3"], context())
        packets = [parse(m) for m in messages(writer, "xspress")]
        assert writer.fast_path.startswith("chunks (4, 1, 8)")
        for k, packet in enumerate(packets[1:-1]):
            assert np.array_equal(packet.data, group["data"][k])
            assert packet.meta["AllGood"].dtype == np.dtype("<u4")
            assert np.array_equal(packet.meta["AllGood"], group["all_good"][k])


def test_unfiltered_spectra_pass_through(tmp_path: Path) -> None:
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        xspress_group(f, chunks=(1, 3, 8))
    data = stored(path)["data"]
    with h5py.File(path, "r") as f:
        writer = xspress.open_writer(f["/entry/instrument/xspress3"], context())
        msgs = messages(writer, "xspress")
        assert writer.fast_path == "passthrough" and writer.counters.passthrough == 5
        assert np.array_equal(parse(msgs[3]).data, data[2])


def test_external_link_and_absolute_filename(source: Path, tmp_path: Path) -> None:
    master = tmp_path / "000008.h5"
    with h5py.File(master, "w") as f:
        f["/entry/measurement/xspress3"] = h5py.ExternalLink(
            source.name, "/entry/instrument/xspress3"
        )
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with h5py.File(master.name, "r") as f:
            writer = xspress.open_writer(f["/entry/measurement/xspress3"], context())
            assert writer.filename == str(source)
    finally:
        os.chdir(cwd)


BAD = {
    "no data": (lambda g: g.__delitem__("data"), "no data dataset"),
    "2-D data": (
        lambda g: (g.__delitem__("data"), g.create_dataset("data", data=np.zeros((5, 8)))),
        "data is (5, 8) float64, not numbers of shape (frames, channels, bins)",
    ),
    "long double data": (
        lambda g: (g.__delitem__("data"), g.create_dataset("data", (5, 3, 8), np.longdouble)),
        "data is (5, 3, 8) 80-bit extended float (long double), not numbers of shape",
    ),
    "missing meta": (
        lambda g: (g.__delitem__("all_good"), g.__delitem__("event_width")),
        "no all_good, event_width beside data (the xspress3 meta datasets)",
    ),
    "meta of the wrong shape": (
        lambda g: (g.__delitem__("reset_ticks"), g.create_dataset("reset_ticks", (5, 4), "u4")),
        "reset_ticks is (5, 4) uint32, not numbers of shape (5, 3) "
        "(frames, channels of data (5, 3, 8))",
    ),
    "window_counts of the wrong shape": (
        lambda g: g.create_dataset("window_counts", (5, 3), "u4"),
        "window_counts is (5, 3) uint32, not numbers of shape (5, 2, 3)",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_groups_are_named(tmp_path: Path, case: str) -> None:
    spoil, expected = BAD[case]
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        spoil(xspress_group(f))
    with h5py.File(path, "r") as f:
        group = f["/entry/instrument/xspress3"]
        assert expected in str(xspress.fits(group))
        with pytest.raises(H5ToCborsError) as err:
            xspress.open_writer(group, context())
    assert str(err.value).startswith(f"/entry/instrument/xspress3 in {path} is not an xspress3")
    assert expected in str(err.value)


def test_a_dataset_does_not_fit(source: Path) -> None:
    with h5py.File(source, "r") as f:
        assert "not a group" in str(xspress.fits(f["/entry/instrument/xspress3/data"]))


def all_frames(source: Path) -> list[list[bytes]]:
    with h5py.File(source, "r") as f:
        writer = xspress.open_writer(f["/entry/instrument/xspress3"], context())
        return [m.frames for m in messages(writer, "xspress")]


def test_inspector_reads_what_the_writer_wrote(source: Path) -> None:
    frames = all_frames(source)
    check, problems = inspect_frames(xspress.XspressInspector, "xspress", "xspress3", frames)
    assert problems == []
    assert (check.frames, check.shape, check.type, check.compression) == (
        5,
        [3, 8],
        "uint32",
        "none",
    )
    assert check.meta == list(xspress.META)
    assert check.details == ["meta " + ", ".join(xspress.META)]
    assert describe_frames("xspress", frames[1]).startswith("image frame=0 [3, 8] uint32 [")


def test_inspector_refuses_hostile_meta(source: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    frames = all_frames(source)
    frames[2][2] = pickle.dumps(Boom(marker))
    frames[3][2] = pickle.dumps([np.array([1, "x"], dtype=object)] * 8, protocol=2)
    _, problems = inspect_frames(xspress.XspressInspector, "xspress", "xspress3", frames)
    assert not marker.exists()
    assert any("event 2 refused: the pickle calls pathlib" in p for p in problems)
    assert any("event 3 refused: dtype 'O8'" in p for p in problems)


def test_inspector_names_broken_images(source: Path) -> None:
    frames = all_frames(source)
    frames[1] = frames[1][:2]  # two parts
    frames[2][1] = frames[2][1][:-4]  # short spectra
    frames[3][2] = pickle.dumps([np.zeros(3)] * 2, protocol=2)  # two meta arrays
    frames = frames[:-1]  # no series_end
    _, problems = inspect_frames(xspress.XspressInspector, "xspress", "xspress3", frames)
    assert problems == [
        "xspress3: image at event 1 has 2 zmq frames, not 3",
        "xspress3: image at event 2 has 92 bytes of spectra, not 96",
        "xspress3: meta at event 3 has 2 arrays, not 8",
        "xspress3: no series_end message",
    ]


def test_inspector_takes_only_two_dimensional_images(source: Path) -> None:
    """A shape of other than (channels, bins) is named, not multiplied out: a hostile list of
    huge sizes took minutes."""
    frames = all_frames(source)
    for event, shape in ((2, [1, 3, 8]), (3, [10**400] * 9)):
        header = json.loads(frames[event][0])
        frames[event][0] = json.dumps(header | {"shape": shape}).encode()
    _, problems = inspect_frames(xspress.XspressInspector, "xspress", "xspress3", frames)
    assert "xspress3: image at event 2 has shape [1, 3, 8] and type 'uint32'" in problems
    assert any(p.startswith("xspress3: image at event 3 has shape [1000") for p in problems)
