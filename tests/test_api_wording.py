"""Messages name the settings of whoever called: `convert()` and `ReplaySource` their own
(`streams = [...]`, `frames = slice(...)`), the command line its options (`--stream`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from h5tocbors import ReplaySource, convert
from h5tocbors.errors import H5ToCborsError

from .conftest import Cli, write_h5
from .scan_files import PILATUS, write_fly_scan, write_scan, write_xspress3


def plain(directory: Path) -> Path:
    """Two image stacks that are not a scan: `det` of 4 frames, `more` of 3."""
    stack = np.zeros((4, 6, 10), "u2")
    return write_h5(directory / "plain.h5", {"/entry/det/data": stack, "/more": stack[:3]})


def truncated(directory: Path) -> Path:
    """The sample scan, its Pilatus file cut to 15 frames (an aborted scan)."""
    master = write_scan(directory / "scan")
    with h5py.File(master.parent / PILATUS, "a") as f:
        f["entry/instrument/pilatus/data"].resize(15, axis=0)
    return master


def not_utf8(directory: Path) -> Path:
    """A file with a link name that is not UTF-8, so it cannot be searched by name."""
    path = directory / "names.h5"
    with h5py.File(path, "w") as f:
        group = h5py.h5g.create(f.id, b"det\xff")
        space = h5py.h5s.create_simple((2, 4, 4))
        h5py.h5d.create(group, b"data", h5py.h5t.py_create(np.dtype("u2")), space)
    return path


def sparse(directory: Path) -> Path:
    """A dataset declared a billion frames, four of them written."""
    path = directory / "sparse.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("/det", (4, 6, 10), "u2", chunks=(1, 6, 10), maxshape=(None, 6, 10))
        d[:] = 7
        d.resize(10**9, axis=0)
    return path


Case = tuple[Callable[[Path], Path], dict[str, Any], str, list[str], str]
"""Input, `convert()`'s arguments and its words, the CLI's arguments and its words."""

CASES: dict[str, Case] = {
    "no stream": (
        plain,
        {},
        "no stream given: name one with streams, or convert a whole scan with scan = True",
        [],
        "no stream given: name one with --stream NAME[=PATH], or convert a whole scan with --scan",
    ),
    "names only in a scan": (
        write_scan,
        {"streams": {"pilatus": "/x"}, "scan": True},
        "with scan or config, streams takes names only",
        ["--scan", "-s", "pilatus=/x"],
        "with --scan or --config, --stream takes names only",
    ),
    "not a source of the protocol": (
        plain,
        {"streams": {"d": "/entry/det/data:xspress"}},
        "streams = {'d': '/entry/det/data:xspress'}: /entry/det/data in",
        ["-s", "d=/entry/det/data:xspress"],
        "--stream d=/entry/det/data:xspress: /entry/det/data in",
    ),
    "axes of another protocol": (
        lambda d: write_xspress3(d / "x.h5", frames=4),
        {"streams": {"x": "/entry/instrument/xspress3"}, "axes": {"x": "NHW"}},
        "axes = {'x': 'NHW'}: stream x (/entry/instrument/xspress3 in",
        ["-s", "x=/entry/instrument/xspress3", "--axes", "x=NHW"],
        "--axes x=NHW: stream x (/entry/instrument/xspress3 in",
    ),
    "axes only for images": (
        lambda d: write_xspress3(d / "x.h5", frames=4),
        {"streams": {"x": "/entry/instrument/xspress3"}, "axes": {"x": "NHW"}},
        "has protocol xspress; axes cuts image datasets only",
        ["-s", "x=/entry/instrument/xspress3", "--axes", "x=NHW"],
        "has protocol xspress; --axes cuts image datasets only",
    ),
    "frames in common": (
        plain,
        {"streams": {"det": None, "more": "/more"}},
        "select a common range with frames",
        ["-s", "det", "-s", "more=/more"],
        "select a common range with --frames",
    ),
    "a truncated detector": (
        truncated,
        {"scan": True},
        "select the common part with frames = slice(0, 15, None)",
        ["--scan"],
        "select the common part with --frames 0:15",
    ),
    "a step in a scan": (
        write_scan,
        {"scan": True, "frames": slice(0, 4, 2)},
        "in a scan, frames selects a range of points",
        ["--scan", "--frames", "0:4:2"],
        "in a scan, --frames selects a range of points",
    ),
    "not a contrast master": (
        plain,
        {"scan": True},
        "(describe other layouts with config)",
        ["--scan"],
        "(describe other layouts with --config)",
    ),
    "a detector file missing": (
        write_fly_scan,
        {"scan": True},
        "give streams = ['contrast', 'panda0', 'xspress3']",
        ["--scan"],
        "give --stream contrast --stream panda0 --stream xspress3",
    ),
    "no path before the protocol": (
        plain,
        {"streams": {"d": ":stins"}},
        "streams = {'d': ':stins'}: give a dataset or group path",
        ["-s", "d=:stins"],
        "--stream d=:stins: give a dataset or group path",
    ),
    "axes for no stream": (
        plain,
        {"streams": ["det"], "axes": {"other": "HWN"}},
        "axes = {'other': 'HWN'}: no stream other is converted",
        ["-s", "det", "--axes", "other=HWN"],
        "--axes other=HWN: no stream other is converted",
    ),
    "frames outside": (
        plain,
        {"streams": ["det"], "frames": slice(50, 60)},
        "frames = slice(50, 60, None) is outside the 4 frames",
        ["-s", "det", "--frames", "50:60"],
        "--frames 50:60 is outside the 4 frames",
    ),
    "no frame selected": (
        plain,
        {"streams": ["det"], "frames": slice(3, 3)},
        "frames = slice(3, 3, None) selects no frame",
        ["-s", "det", "--frames", "3:3"],
        "--frames 3:3 selects no frame",
    ),
    "names that cannot be searched": (
        not_utf8,
        {"streams": ["det"]},
        "give the dataset as streams = {'NAME': '/path'}",
        ["-s", "det"],
        "give the dataset as --stream NAME=/path",
    ),
    "no dataset found": (
        plain,
        {"streams": ["nothing"]},
        "give one as streams = {'nothing': '/path/to/dataset'}",
        ["-s", "nothing"],
        "give one as --stream nothing=/path/to/dataset",
    ),
    "axes that do not fit": (
        plain,
        {"streams": ["det"], "axes": "HW"},
        "axes = 'HW' names 2 axes",
        ["-s", "det", "--axes", "HW"],
        "--axes HW names 2 axes",
    ),
    "frames never stored": (
        sparse,
        {"streams": ["det"]},
        "Select stored frames with frames",
        ["-s", "det"],
        "Select stored frames with --frames",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_convert_names_its_arguments_and_the_cli_its_options(
    case: str, tmp_path: Path, cli: Cli
) -> None:
    make, arguments, python_words, options, cli_words = CASES[case]
    h5 = make(tmp_path)
    with pytest.raises(H5ToCborsError) as raised:
        convert(h5, output_dir=tmp_path / "api", **arguments)
    message = str(raised.value)
    assert python_words in message and "--" not in message, message
    code, _, err = cli("convert", h5, *options, "-o", tmp_path / "cli")
    assert code != 0 and cli_words in err, err
    assert not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()


def test_replay_source_of_a_file_that_is_no_scan_asks_for_streams(tmp_path: Path) -> None:
    """The reviewer's case: a `ReplaySource` without `streams` on a file that is not a scan
    was told to name one with `--stream`, an option it does not have."""

    class Plain(ReplaySource):
        input = plain(tmp_path)

    with pytest.raises(H5ToCborsError) as raised:
        Plain().get_source_generators()
    message = str(raised.value)
    assert message.startswith("no stream given: name one with streams, or"), message
    assert "--" not in message, message


def test_the_hint_for_tiny_frames_names_the_axes_argument(tmp_path: Path, cli: Cli) -> None:
    """`convert()`'s result advised `--axes HWN` for frames of 20x1."""
    h5 = write_h5(tmp_path / "tiny.h5", {"/velox": np.zeros((16, 20, 1), "u2")})
    result = convert(h5, {"v": "/velox"}, tmp_path / "api")
    assert result.streams[0].hint == "frames of 20x1: axes = 'HWN' makes 1 frame 16x20"
    code, out, err = cli("convert", h5, "-s", "v=/velox", "-o", tmp_path / "cli")
    assert code == 0 and "frames of 20x1: --axes HWN makes 1 frame 16x20" in out + err, out + err


def test_an_existing_output_and_the_hyperslab_path_name_the_arguments(
    tmp_path: Path, cli: Cli
) -> None:
    """`convert()` was told `use --force` for an output that exists, and its result called
    frames off the leading axes `(--axes HWN)`."""
    h5 = write_h5(tmp_path / "hwn.h5", {"/stack": np.zeros((8, 9, 3), "u2")})
    result = convert(h5, {"s": "/stack"}, tmp_path / "api", axes="HWN")
    assert "(axes = 'HWN'), read with HDF5 hyperslabs" in result.streams[0].fast_path
    with pytest.raises(H5ToCborsError) as raised:
        convert(h5, {"s": "/stack"}, tmp_path / "api", axes="HWN")
    assert str(raised.value).endswith("exists; use force = True to replace it"), raised.value
    code, _, err = cli("convert", h5, "-s", "s=/stack", "--axes", "HWN", "-o", tmp_path / "api")
    assert code == 1 and "exists; use --force to replace it" in err, err
