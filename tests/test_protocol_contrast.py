"""contrast writer and inspector: every message through dranspose's contrast parser."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import h5py
import numpy as np
import pytest
from dranspose.data.contrast import ContrastFinished, ContrastRunning, ContrastStarted
from dranspose.middlewares.contrast import parse

from h5tocbors.errors import H5ToCborsError
from h5tocbors.protocols import StepSpan, contrast
from h5tocbors.protocols.pickles import loads
from h5tocbors.protocols.registry import describe_frames

from .protocol_files import context, contrast_scan, inspect_frames, messages

RECORDED = ["sy", "ring_current", "pseudo", "panda0", "xspress3", "pilatus", "comment", "dt"]
"""The keys of a running message of `contrast_scan(track_order=True)`, in recording order."""


def stored(master: Path) -> dict[str, np.ndarray]:
    """Every dataset under /entry/measurement, read before a writer opens them."""
    out: dict[str, np.ndarray] = {}

    def keep(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            out[name] = obj[()]

    with h5py.File(master, "r") as f:
        f["/entry/measurement"].visititems(keep)
    return out


def write(master: Path, **options: object) -> list[object]:
    with h5py.File(master, "r") as f:
        writer = contrast.open_writer(f["/entry"], context(**options))
        assert writer.counters.frames == 0
        msgs = messages(writer, "contrast")
        assert len(msgs) == len(writer)
        assert writer.counters.frames == len(msgs) - 2
    return [parse(m) for m in msgs]


def test_fly_scan_step_values(tmp_path: Path) -> None:
    master = contrast_scan(tmp_path, lines=3, per_line=4)
    values = stored(master)
    packets = write(master)
    assert len(packets) == 3 + 2
    started, finished = packets[0], packets[-1]
    assert isinstance(started, ContrastStarted) and isinstance(finished, ContrastFinished)
    assert (started.scannr, started.path) == (8, str(tmp_path))
    assert started.description == "npointflyscan sx 0 1 4 sy 0 1 3 0.1"
    assert started.snapshot == {"energy": 12000.002585815417, "sx": 0.5}
    assert finished.snapshot == {"sx": 0.625}
    xspress_file = str(tmp_path / "scan_000008_xspress3.hdf5")
    for j, running in enumerate(packets[1:-1]):
        assert isinstance(running, ContrastRunning)
        points = slice(4 * j, 4 * j + 4)
        assert running.dt == values["dt"][j] and type(running.dt) is float
        assert running.sy == values["sy"][j] and type(running.sy) is float
        assert running.ring_current == 400 + j and type(running.ring_current) is int
        assert running.comment == f"line {j}"
        assert np.array_equal(running.pseudo["x"], values["pseudo/x"][points])
        assert np.array_equal(
            running.panda0["INENC2.VAL_Mean"], values["panda0/INENC2.VAL_Mean"][points]
        )
        assert running.xspress3 == {
            "type": "Link",
            "filename": xspress_file,
            "path": "/entry/instrument/xspress3",  # HDF5 keeps no trailing slash
            "universal": True,
        }
        assert running.pilatus == {
            "frames": {
                "type": "Link",
                "filename": str(tmp_path / "scan_000008_pilatus.hdf5"),
                "path": "/entry/instrument/Pilatus3/data",
                "universal": True,
            },
            "thumbs:": None,
        }


def test_step_scan_arrays_keep_one_point(tmp_path: Path) -> None:
    master = contrast_scan(tmp_path, lines=4, per_line=1)
    values = stored(master)
    packets = write(master)
    for j, running in enumerate(packets[1:-1]):
        assert running.pseudo["x"].shape == (1,) and running.pseudo["x"][0] == values["pseudo/x"][j]
        assert running.sy == values["sy"][j]  # top-level scalars stay scalars


def test_running_messages_as_contrast_pickles_them(tmp_path: Path) -> None:
    master = contrast_scan(tmp_path, track_order=True)
    with h5py.File(master, "r") as f:
        msgs = messages(contrast.open_writer(f["/entry"], context()), "contrast")
    assert all(m.frames[0][:2] == b"\x80\x02" for m in msgs)  # protocol 2
    started = loads(msgs[0].frames[0])
    assert type(started) is dict and list(started) == [
        "scannr",
        "status",
        "path",
        "snapshot",
        "description",
    ]
    running = loads(msgs[1].frames[0])
    assert type(running) is OrderedDict and type(running["pseudo"]) is dict
    # creation order tracked: the recording order; dt, then status, last
    assert list(running) == [*RECORDED, "status"]


def test_untracked_order_is_name_order(tmp_path: Path) -> None:
    master = contrast_scan(tmp_path, track_order=False)
    with h5py.File(master, "r") as f:
        msgs = messages(contrast.open_writer(f["/entry"], context()), "contrast")
    running = loads(msgs[1].frames[0])
    assert list(running) == [
        "comment",
        "panda0",
        "pilatus",
        "pseudo",
        "ring_current",
        "sy",
        "xspress3",
        "dt",
        "status",
    ]


def test_steps_from_the_context(tmp_path: Path) -> None:
    master = contrast_scan(tmp_path, lines=3, per_line=4)
    values = stored(master)
    spans = [StepSpan(1, range(5, 8)), StepSpan(2, range(8, 12, 2))]
    packets = write(master, steps=spans)
    assert len(packets) == 4
    assert np.array_equal(packets[1].pseudo["y"], values["pseudo/y"][5:8])
    assert np.array_equal(packets[2].pseudo["y"], values["pseudo/y"][8:12:2])
    assert packets[2].dt == values["dt"][2]


def test_scan_shape(tmp_path: Path) -> None:
    with h5py.File(contrast_scan(tmp_path, lines=11, per_line=101), "r") as f:
        assert contrast.scan_shape(f["/entry"]) == (1111, 11)
    with h5py.File(contrast_scan(tmp_path, lines=5, per_line=1, scannr=9), "r") as f:
        assert contrast.scan_shape(f["/entry"]) == (5, 5)


def test_per_step_links_and_arrays(tmp_path: Path) -> None:
    master = contrast_scan(tmp_path, lines=2, per_line=3)
    with h5py.File(master, "a") as f:
        m = f["/entry/measurement"]
        for j in range(2):
            m[f"andor/{j:06d}"] = h5py.ExternalLink(f"andor/{j}.h5", "/data")
        m["spectrum"] = np.arange(2 * 5 * 7, dtype=np.uint16).reshape(10, 7)  # 5 rows a step
        m["image"] = np.arange(2 * 4, dtype=np.float32).reshape(2, 2, 2)  # one per step
        m.create_dataset("note", data=["first", "None"], dtype=h5py.string_dtype())
    packets = write(master)
    assert packets[2].andor == {
        "type": "Link",
        "filename": str(tmp_path / "andor" / "1.h5"),
        "path": "/data",
        "universal": False,
    }
    assert packets[2].spectrum.shape == (5, 7) and packets[2].spectrum[0, 0] == 35
    assert packets[2].image.shape == (1, 2, 2) and packets[2].image[0, 0, 0] == 4
    assert (packets[1].note, packets[2].note) == ("first", None)


def test_scan_number_and_missing_snapshots(tmp_path: Path) -> None:
    master = contrast_scan(tmp_path, name="renamed.h5")
    with h5py.File(master, "a") as f:
        del f["/entry/snapshots"]
    packets = write(master)
    assert packets[0].scannr == 0 and packets[0].snapshot == {} and packets[-1].snapshot == {}
    assert contrast.scan_number("/data/000123.h5") == 123


def spoil(tmp_path: Path, change: object) -> Path:
    master = contrast_scan(tmp_path)
    with h5py.File(master, "a") as f:
        change(f["/entry/measurement"])  # type: ignore[operator]
    return master


BAD = {
    "no dt": (lambda m: m.__delitem__("dt"), "/entry in {master} is no measurement/dt"),
    "dt of strings": (
        lambda m: (m.__delitem__("dt"), m.__setitem__("dt", np.array([b"1"] * 3))),
        "/entry/measurement in {master} has no dt (one time per step): not a contrast scan",
    ),
    "per-point not a multiple": (
        lambda m: m.__setitem__("pseudo/z", np.zeros(13)),
        "/entry/measurement/pseudo/z in {master} has 13 rows, not a multiple of the 3 steps "
        "(the length of dt)",
    ),
    "disagreeing per-point arrays": (
        lambda m: [m.__setitem__(f"other/{k}", np.zeros(15)) for k in "abcd"],
        "as many arrays have 15 rows as 12: which are the points? (3 steps)",
    ),
    "strings per point": (
        lambda m: m.__setitem__("note", np.array([b"x"] * 12)),
        "/entry/measurement/note in {master} has 12 strings for 3 steps",
    ),
    "a single value": (
        lambda m: m.__setitem__("gain", 3.0),
        "/entry/measurement/gain in {master} is a single value, not one per step",
    ),
    "a single value in a snapshot": (
        lambda m: m.file["/entry/snapshots/pre_scan"].__setitem__("gain", 3.0),
        "/entry/snapshots/pre_scan/gain in {master} is a single value, not one per step",
    ),
    "compound values": (
        lambda m: m.__setitem__("pair", np.zeros(3, "i4,f8")),
        "/entry/measurement/pair in {master} has dtype compound",
    ),
    "links for other steps": (
        lambda m: m.__setitem__("andor/000000", h5py.ExternalLink("a.h5", "/d")),
        "/entry/measurement/andor in {master} holds 1 links for 3 steps",
    ),
    "a group linked into itself": (
        lambda m: m.__setitem__("pseudo/again", m["pseudo"]),
        "/entry/measurement/pseudo/again in {master} is linked into itself",
    ),
    "long double values": (
        lambda m: m.__setitem__("gain", np.full(3, 1.5, np.longdouble)),
        "/entry/measurement/gain in {master} has dtype 80-bit extended float (long double): "
        "contrast records numbers (of at most 64 bits)",
    ),
    "long double dt": (
        lambda m: (m.__delitem__("dt"), m.__setitem__("dt", np.full(3, 0.5, np.longdouble))),
        "/entry/measurement/dt in {master} has dtype 80-bit extended float (long double)",
    ),
    "a dangling soft link": (
        lambda m: m.__setitem__("ghost", h5py.SoftLink("/nowhere")),
        "/entry/measurement/ghost in {master} is a link that leads nowhere",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_scans_are_named(tmp_path: Path, case: str) -> None:
    change, expected = BAD[case]
    master = spoil(tmp_path, change)
    with h5py.File(master, "r") as f, pytest.raises(H5ToCborsError) as err:
        contrast.open_writer(f["/entry"], context())
    assert expected.format(master=master) in str(err.value)


def test_a_group_linked_many_times(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A DAG of hard links is a tree in the messages: its size is bounded."""
    monkeypatch.setattr(contrast, "MAX_MEMBERS", 50)
    master = spoil(tmp_path, lambda m: [m.__setitem__(f"many/{k}", m["panda0"]) for k in range(30)])
    with h5py.File(master, "r") as f, pytest.raises(H5ToCborsError) as err:
        contrast.open_writer(f["/entry"], context())
    assert str(err.value).endswith(": more than 50 members in all")


def test_fits(tmp_path: Path) -> None:
    master = contrast_scan(tmp_path)
    with h5py.File(master, "r") as f:
        assert contrast.fits(f["/entry"]) is None
        assert (
            contrast.fits(f["/entry/measurement"])
            == "no measurement group (not a contrast scan's /entry)"
        )
        assert "a dataset" in str(contrast.fits(f["/entry/measurement/dt"]))


def frames_of(master: Path) -> list[list[bytes]]:
    with h5py.File(master, "r") as f:
        return [
            m.frames for m in messages(contrast.open_writer(f["/entry"], context()), "contrast")
        ]


def test_inspector_reads_what_the_writer_wrote(tmp_path: Path) -> None:
    frames = frames_of(contrast_scan(tmp_path, track_order=True))
    check, problems = inspect_frames(contrast.ContrastInspector, "contrast", "contrast", frames)
    assert problems == [] and check.frames == 3
    assert check.keys == RECORDED
    assert describe_frames("contrast", frames[0]).startswith("started scannr=8 [")
    assert describe_frames("contrast", frames[1]).startswith(
        "running dt=0.25 sy, ring_current, pseudo"
    )


def test_inspector_names_the_status_sequence(tmp_path: Path) -> None:
    frames = frames_of(contrast_scan(tmp_path))
    frames = [frames[1], frames[0], frames[2], frames[-1], frames[3], [b"\x80\x02}q\x00."]]
    _, problems = inspect_frames(contrast.ContrastInspector, "contrast", "contrast", frames)
    assert problems == [
        "contrast: first message (event 0) is running, not started",
        "contrast: started at event 1 is not the first message",
        "contrast: finished at event 3 is not the last message (running at event 4 follows)",
        "contrast: event 5: not a dict with a status",
    ]


def test_inspector_refuses_hostile_pickles(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    frames = frames_of(contrast_scan(tmp_path))
    frames[1] = [f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()]
    _, problems = inspect_frames(contrast.ContrastInspector, "contrast", "contrast", frames)
    assert not marker.exists()
    assert problems == [
        "contrast: event 1: refused: the pickle calls os.system, which is not allowed"
    ]
    assert describe_frames("contrast", frames[1]).startswith("refused: the pickle calls os.system")


def test_paths_are_absolute_from_another_directory(tmp_path: Path) -> None:
    master = contrast_scan(tmp_path)
    cwd = os.getcwd()
    os.chdir(tmp_path.parent)
    try:
        packets = write(Path(tmp_path.name) / master.name)
    finally:
        os.chdir(cwd)
    assert packets[0].path == str(tmp_path)
    assert packets[1].xspress3["filename"] == str(tmp_path / "scan_000008_xspress3.hdf5")
