"""`--stream NAME` finds its dataset; `--frames` selects with slice rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from h5tocbors.errors import H5ToCborsError, UsageError, cli_wording
from h5tocbors.hdf5.resolve import find_dataset
from h5tocbors.hdf5.selection import parse_frames, select_frames


@pytest.fixture
def nexus(tmp_path: Path) -> Iterator[h5py.File]:
    """A NeXus-like file: two detectors, masks, positions, links."""
    path = tmp_path / "scan.h5"
    with h5py.File(path, "w") as f:
        f["/entry/measurement/pilatus/frames"] = np.zeros((3, 4, 5), "u4")
        f["/entry/instrument/pilatus/mask"] = np.zeros((4, 5), "u1")
        f["/entry/instrument/pilatus/data"] = h5py.SoftLink("/entry/measurement/pilatus/frames")
        f["/entry/instrument/pilatus/name"] = "Pilatus 100K"
        f["/entry/instrument/eiger/data"] = np.zeros((2, 6, 6), "u2")
        f["/entry/instrument/eiger/mask"] = np.zeros((6, 6), "u1")
        f["/entry/instrument/eiger/pixel_mask"] = np.zeros((6, 6), "u1")
        f["/entry/measurement/line/spectrum"] = np.zeros((3, 100), "f4")
        f["/entry/measurement/x"] = np.arange(3.0)
        f["/entry/measurement/eiger"] = h5py.SoftLink("/entry/instrument/eiger/data")
        f["/entry/dangling"] = h5py.SoftLink("/nowhere/pilatus")
        f["/entry/ext"] = h5py.ExternalLink("missing.h5", "/pilatus")
    f = h5py.File(path, "r")
    yield f
    f.close()


def test_stack_wins_over_2d_and_links_count_once(nexus: h5py.File) -> None:
    assert find_dataset(nexus, "pilatus").name == "/entry/measurement/pilatus/frames"
    assert find_dataset(nexus, "eiger").name == "/entry/instrument/eiger/data"


def test_a_dataset_named_like_the_stream_counts(nexus: h5py.File) -> None:
    assert find_dataset(nexus, "frames").name == "/entry/measurement/pilatus/frames"


def test_2d_is_used_when_no_stack_matches(nexus: h5py.File) -> None:
    assert find_dataset(nexus, "line").name == "/entry/measurement/line/spectrum"


def test_several_2d_candidates_are_listed(nexus: h5py.File) -> None:
    with pytest.raises(H5ToCborsError) as e, cli_wording():
        find_dataset(nexus, "instrument")
    assert "several datasets" in str(e.value)
    assert "/entry/instrument/eiger/data" in str(e.value)
    assert "/entry/measurement/pilatus/frames" in str(e.value) or "pilatus" in str(e.value)
    assert "--stream instrument=/" in str(e.value)


def test_no_candidate_shows_the_name_path_form(nexus: h5py.File) -> None:
    with pytest.raises(H5ToCborsError, match=r"--stream x=/path/to/dataset"), cli_wording():
        find_dataset(nexus, "x")
    with pytest.raises(H5ToCborsError, match=r"streams = \{'x': '/path/to/dataset'\}"):
        find_dataset(nexus, "x")  # a Python caller is told the API's setting


@pytest.mark.parametrize(
    ("text", "count", "expected"),
    [
        ("0:3", 5, [0, 1, 2]),
        ("::2", 5, [0, 2, 4]),
        ("-2:", 5, [3, 4]),
        ("::-1", 3, [2, 1, 0]),
        (":5", 5, [0, 1, 2, 3, 4]),
        ("1:-1", 4, [1, 2]),
        ("3", 5, [3]),
        ("-1", 5, [4]),
        ("-5", 5, [0]),
    ],
)
def test_frame_selection(text: str, count: int, expected: list[int]) -> None:
    assert list(select_frames(parse_frames(text), count)) == expected


@pytest.mark.parametrize("text", ["", "a:b", "1:2:3:4", "::0", "1.5:2", "--1", "1 2"])
def test_malformed_selection_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        parse_frames(text)


@pytest.mark.parametrize("text", ["6:8", "0:7", "-7:", "3:3", "4:1", "5", "-6"])
def test_selection_outside_or_empty_is_an_error(text: str) -> None:
    with pytest.raises(H5ToCborsError) as e, cli_wording():
        select_frames(parse_frames(text), 5)
    assert not isinstance(e.value, UsageError)
    assert "--frames" in str(e.value)


def test_a_name_that_finds_nothing_lists_the_image_datasets(nexus: h5py.File) -> None:
    """`--stream pilatu` (a typo) names the image datasets the file has."""
    with pytest.raises(H5ToCborsError) as e:
        find_dataset(nexus, "pilatu")
    assert "its image datasets: " in str(e.value)
    assert "/entry/measurement/pilatus/frames (3, 4, 5)" in str(e.value)
