"""Value references of Sardana scans: parsed in both spellings, found beside the master only."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from h5tocbors.errors import H5ToCborsError
from h5tocbors.hdf5.paths import RefusedPath
from h5tocbors.scan.references import Reference, locate_beside, parse_reference


@pytest.mark.parametrize(
    ("text", "file", "path"),
    [
        (  # MAX IV (Balder): relative group, trailing /
            "/data/visit/raw/scan-21503_eiger_xes.h5:entry/instrument/eiger_xes/",
            "/data/visit/raw/scan-21503_eiger_xes.h5",
            "/entry/instrument/eiger_xes",
        ),
        (  # MAX IV (FemtoMAX): absolute group
            "/data/staff/femtomax/scan-3218_pilatus.h5:/entry/instrument/pilatus",
            "/data/staff/femtomax/scan-3218_pilatus.h5",
            "/entry/instrument/pilatus",
        ),
        ("/data/scan_1.h5", "/data/scan_1.h5", "/"),
        ("scan_1.h5:/entry//data/", "scan_1.h5", "/entry/data"),
        ("C:/data/scan_1.h5:entry", "C:/data/scan_1.h5", "/entry"),
        # Sardana's URIs, as its DummyTwoDController and NXscan recorder write and read them
        ("h5file:///tmp/dummy2d_default_1.h5::dataset", "/tmp/dummy2d_default_1.h5", "/dataset"),
        ("h5file:///tmp/dummy2d_default_1.h5", "/tmp/dummy2d_default_1.h5", "/dataset"),
        ("h5file:///tmp/d.h5::/entry/data/data", "/tmp/d.h5", "/entry/data/data"),
        ("h5file://det-host:8080/tmp/d.h5::entry/data", "/tmp/d.h5", "/entry/data"),
        ("H5FILE:/tmp/d.h5::data", "/tmp/d.h5", "/data"),
    ],
)
def test_both_spellings_are_parsed(text: str, file: str, path: str) -> None:
    assert parse_reference(text) == Reference(file, path)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "names no file"),
        (":entry/instrument/pilatus", "names no file"),
        ("/data/visit/:entry", "names no file"),
        ("/data/visit/..:entry", "names no file"),
        ("h5file://host::dataset", "names no file"),
        ("h5file:///tmp/::dataset", "names no file"),
        ("/data/scan\x1b[2J.h5:entry", "control characters"),
        ("/data/scan.h5:entry\nfake line", "control characters"),
    ],
)
def test_references_that_name_no_file_are_refused(text: str, why: str) -> None:
    """The message names the text, its control characters escaped."""
    with pytest.raises(H5ToCborsError) as e:
        parse_reference(text)
    message = str(e.value)
    assert why in message and repr(text) in message
    assert message.isprintable()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """`run/scan.h5` beside `run/det.h5`; `elsewhere/` holds files the scan must not read."""
    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    (run / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    for path, value in [
        (run / "scan.h5", 0),
        (run / "det.h5", 1),
        (run / "sub" / "det.h5", 2),
        (elsewhere / "det.h5", 3),
        (elsewhere / "secret.h5", 4),
    ]:
        with h5py.File(path, "w") as f:
            f["data"] = np.full(3, value)
    (run / "out.h5").symlink_to(elsewhere / "secret.h5")
    return run


def value_of(path: Path) -> int:
    with h5py.File(path, "r") as f:
        return int(f["data"][0])


def test_the_recorded_path_is_used_when_it_lies_in_the_folder(site: Path) -> None:
    found = locate_beside(str(site / "sub" / "det.h5"), site / "scan.h5")
    assert found == site / "sub" / "det.h5" and value_of(found) == 2
    found = locate_beside(str(site / "sub" / ".." / "det.h5"), site / "scan.h5")
    assert found == site / "det.h5"


def test_a_path_recorded_elsewhere_is_found_beside_the_master(site: Path) -> None:
    """The beamline's path does not exist here: the file of that name beside the master."""
    found = locate_beside("/data/visit/raw/det.h5", site / "scan.h5")
    assert found == site / "det.h5" and value_of(found) == 1


def test_a_path_outside_that_exists_is_not_read(site: Path) -> None:
    """A file of the same name outside holds other data: the one beside is read."""
    outside = site.parent / "elsewhere" / "det.h5"
    found = locate_beside(str(outside), site / "scan.h5")
    assert found == site / "det.h5" and value_of(found) == 1
    climbing = str(site / ".." / "elsewhere" / "det.h5")  # `..` out of the folder
    assert locate_beside(climbing, site / "scan.h5") == site / "det.h5"


def test_a_path_outside_with_nothing_beside_is_missing(site: Path) -> None:
    """`secret.h5` exists outside only: missing, naming it and where it was looked for."""
    outside = str(site.parent / "elsewhere" / "secret.h5")
    with pytest.raises(H5ToCborsError) as e:
        locate_beside(outside, site / "scan.h5")
    assert outside in str(e.value) and "missing" in str(e.value)
    assert f"looked for {site / 'secret.h5'})" in str(e.value)


def test_a_missing_file_is_named_with_where_it_was_looked_for(site: Path) -> None:
    with pytest.raises(H5ToCborsError) as e:
        locate_beside("/data/visit/raw/scan-7_pilatus.h5", site / "scan.h5")
    message = str(e.value)
    assert message.startswith("referenced file /data/visit/raw/scan-7_pilatus.h5 is missing")
    assert str(site / "scan-7_pilatus.h5") in message


@pytest.mark.parametrize("name", ["../elsewhere/secret.h5", "sub/../../elsewhere/secret.h5"])
def test_a_relative_path_that_climbs_out_is_refused(site: Path, name: str) -> None:
    with pytest.raises(RefusedPath) as e:
        locate_beside(name, site / "scan.h5")
    assert e.value.unsafe and "outside" in str(e.value) and name in str(e.value)


@pytest.mark.parametrize("spelled", ["{run}/out.h5", "/data/visit/out.h5", "out.h5"])
def test_a_symlink_out_of_the_folder_is_refused(site: Path, spelled: str) -> None:
    """Recorded in the folder, or found beside by name: a symlink that points out."""
    with pytest.raises(RefusedPath) as e:
        locate_beside(spelled.format(run=site), site / "scan.h5")
    assert e.value.unsafe and "a symlink to" in str(e.value) and "refused" in str(e.value)


def test_the_master_through_a_symlink_looks_beside_its_real_file(
    site: Path, tmp_path: Path
) -> None:
    alias = tmp_path / "alias.h5"
    alias.symlink_to(site / "scan.h5")
    assert locate_beside("/data/visit/raw/det.h5", alias) == site / "det.h5"


def test_a_folder_is_not_a_file(site: Path) -> None:
    with pytest.raises(RefusedPath, match="not a regular file"):
        locate_beside("/data/visit/sub", site / "scan.h5")
