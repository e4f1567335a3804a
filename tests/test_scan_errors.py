"""Bad scans and configs: one line on stderr naming the problem, exit 1, nothing written."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from h5tocbors.protocols.pickles import loads

from .conftest import REPO, Cli, read_capture, run_limited
from .scan_files import PILATUS, XSPRESS3, write_scan, write_step_scan
from .test_errors import assert_no_output, assert_one_error


def fails(cli: Cli, out: Path, *args: object) -> str:
    """Run `convert ... -o out`: exit 1, one line on stderr, no traceback, no capture written."""
    code, _, err = cli("convert", *args, "-o", out)
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "unexpected" not in err, err
    assert not (out.exists() and any(out.iterdir())), list(out.iterdir())
    return err


def test_scan_on_a_file_that_is_not_a_contrast_master(tmp_path: Path, cli: Cli) -> None:
    err = fails(cli, tmp_path / "out", REPO / "sample_data/pilatus_100k.h5", "--scan")
    assert "not a contrast master file" in err
    assert "/entry/snapshots" in err and "/entry/description" in err


def test_missing_linked_detector_file_is_named(tmp_path: Path, cli: Cli) -> None:
    master = write_scan(tmp_path / "scan")
    (master.parent / XSPRESS3).unlink()
    assert XSPRESS3 in fails(cli, tmp_path / "out", master, "--scan")


def test_per_point_arrays_not_a_multiple_of_the_steps(tmp_path: Path, cli: Cli) -> None:
    master = write_scan(tmp_path / "scan")
    with h5py.File(master, "a") as f:
        for group in ("pseudo", "panda0"):
            for d in f[f"entry/measurement/{group}"].values():
                d.resize(21, axis=0)
    err = fails(cli, tmp_path / "out", master, "--scan")
    assert ("21" in err and "2 steps" in err) or "multiple" in err, err


def test_panda_field_names_that_do_not_parse(tmp_path: Path, cli: Cli) -> None:
    master = write_scan(tmp_path / "scan")
    with h5py.File(master, "a") as f:
        f["entry/measurement/panda0/not a field"] = np.zeros(20)
    err = fails(cli, tmp_path / "out", master, "--scan")
    assert "/entry/measurement/panda0" in err and "not a field" in err


@pytest.mark.parametrize("group", ["panda0", ""])
def test_link_name_that_is_not_utf8(tmp_path: Path, cli: Cli, group: str) -> None:
    """h5py gives bytes for such a name: it reached `follow` and was "unexpected TypeError"
    (found by the fuzz, `test_fuzz.py`)."""
    master = write_scan(tmp_path / "scan")
    with h5py.File(master, "a") as f:
        f[f"entry/measurement/{group}".rstrip("/").encode() + b"/A.B\xa2_Value"] = np.zeros(20)
    err = fails(cli, tmp_path / "out", master, "--scan")
    where = f"/entry/measurement/{group}".rstrip("/")
    assert f"{where} in {master}: link name b'A.B\\xa2_Value' is not UTF-8" in err, err


def test_xspress3_group_without_data(tmp_path: Path, cli: Cli) -> None:
    master = write_scan(tmp_path / "scan")
    with h5py.File(master.parent / XSPRESS3, "a") as f:
        del f["entry/instrument/xspress3/data"]
    err = fails(cli, tmp_path / "out", master, "--scan")
    assert "xspress3" in err and "no data" in err


def test_xspress3_meta_of_the_wrong_shape(tmp_path: Path, cli: Cli) -> None:
    master = write_step_scan(tmp_path / "scan", steps=3)
    with h5py.File(master.parent / "scan_000003_xspress3.hdf5", "a") as f:
        del f["entry/instrument/xspress3/all_good"]
        f["entry/instrument/xspress3/all_good"] = np.zeros((3, 5), np.uint32)
    err = fails(cli, tmp_path / "out", master, "--scan")
    assert "all_good" in err and "(3, 5)" in err


def test_missing_detector_dataset_in_its_file(tmp_path: Path, cli: Cli) -> None:
    master = write_scan(tmp_path / "scan")
    with h5py.File(master.parent / PILATUS, "a") as f:
        del f["entry/instrument/pilatus/data"]
    err = fails(cli, tmp_path / "out", master, "--scan")
    assert "/entry/measurement/pilatus/frames" in err and PILATUS in err


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ('pionts = 3\n[streams.a]\npath = "/data"\n', ["line 1", "unknown key pionts"]),
        ('[streams.a]\npath = "/data"\nprotcol = "stins"\n', ["line 3", "streams.a.protcol"]),
        ('[streams.a]\npath = "/nowhere"\n', ["line 2", "/nowhere"]),
        ('points = "/missing"\n[streams.a]\npath = "/data"\n', ["line 1", "/missing"]),
        ('[streams.a]\npath = "/data"\nprotocol = "tiff"\n', ["line 3", "tiff"]),
        ('points = 4\nsteps = 3\n[streams.a]\npath = "/data"\n', ["4 points", "3"]),
        ("[streams\n", ["not valid TOML"]),
        ('points = 1000000000000\n[streams.a]\npath = "/data"\n', ["line 1", "1,048,576"]),
        ('points = 4\nsteps = 10000000000000\n[streams.a]\npath = "/data"\n', ["line 2", "steps"]),
        ('points = 100000000000000000000\n[streams.a]\npath = "/data"\n', ["line 1", "points"]),
        ("a = " + "[" * 100_000 + "]" * 100_000, ["nests arrays or tables too deep"]),
        ("a = " + "{b=" * 5_000 + "}" * 5_000, ["nests arrays or tables too deep"]),
        ('points = "/big"\nsteps = 2\n[streams.a]\npath = "/data"\n', ["line 1", "/big"]),
        ("points = 3\n", ["[streams.NAME]"]),
    ],
)
def test_bad_config(tmp_path: Path, cli: Cli, config: str, expected: list[str]) -> None:
    """An unknown key, a missing path, a bad value: named with the config's line."""
    h5 = tmp_path / "run.h5"
    with h5py.File(h5, "w") as f:
        f["data"] = np.zeros((4, 3, 5), np.uint16)
        f.create_dataset("big", (2**62,), "u1", chunks=(1024,))
    toml = tmp_path / "scan.toml"
    toml.write_text(config)
    err = fails(cli, tmp_path / "out", h5, "--config", toml)
    for text in expected:
        assert text in err, err


def add_to_master(
    master: Path, name: str, shape: tuple[int, ...], dtype: str, chunked: bool = True
) -> None:
    """A dataset `name` under /entry, declared (chunked, or contiguous), never written."""
    with h5py.File(master, "a") as f:
        if name in f["entry"]:
            del f["entry"][name]
        chunks = (1, *shape[1:]) if chunked else None
        f["entry"].create_dataset(name, shape, dtype, chunks=chunks)


@pytest.mark.parametrize("width", [10**6, 10**10])
def test_a_never_written_wide_array_is_refused(tmp_path: Path, width: int) -> None:
    """20 points of 10**6 float64 made a 160 MB capture from a 160 KB master, whose
    messages `inspect` and `verify` then refused; 10**10 was "unexpected MemoryError"."""
    master = write_scan(tmp_path / "scan")
    add_to_master(master, "measurement/wide", (20, width), "f8")
    out = tmp_path / "out"
    result = run_limited("convert", master, "--scan", "-o", out, address_space=2 << 30)
    assert_one_error(result.returncode, result.stderr, 1, "/entry/measurement/wide", "64 MiB")
    assert_no_output(out)


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "contiguous"])
def test_unwritten_rows_are_counted_in_bytes(tmp_path: Path, cli: Cli, chunked: bool) -> None:
    """5 steps of 2*10**6 float64, never written: 16 MB a message, fine for a capture's
    reader, but 80 MB of fill values from a few KB (5 rows passed a guard that counted rows,
    and a contiguous dataset was not counted at all)."""
    master = write_step_scan(tmp_path / "scan", steps=5)
    add_to_master(master, "measurement/wide", (5, 2 * 10**6), "f8", chunked)
    err = fails(cli, tmp_path / "out", master, "--scan")
    assert "/entry/measurement/wide" in err and "fill value" in err and "76.3 MiB" in err, err


def test_a_gigabyte_description_is_refused(tmp_path: Path) -> None:
    """An `S1000000000` description took 2 GB of memory and exited 0."""
    master = write_scan(tmp_path / "scan")
    with h5py.File(master, "a") as f:
        del f["entry/description"]
        f["entry"].create_dataset("description", (1,), "S1000000000")
    out = tmp_path / "out"
    result = run_limited("convert", master, "--scan", "-o", out, address_space=1 << 30)
    assert_one_error(result.returncode, result.stderr, 1, "/entry/description", "64 MiB")
    assert_no_output(out)


def replace_strings(master: Path, name: str, data: np.ndarray) -> None:
    """`/entry/measurement/<name>` replaced by `data`."""
    with h5py.File(master, "a") as f:
        group = f["entry/measurement"]
        if name in group:
            del group[name]
        group[name] = data


def test_strings_that_are_not_utf8_are_refused(tmp_path: Path, cli: Cli) -> None:
    """contrast records ASCII; other bytes became U+FFFD, which `verify` accepted as the
    file's (it rebuilt them the same way)."""
    master = write_scan(tmp_path / "scan")
    replace_strings(master, "note", np.array(["caf\N{REPLACEMENT CHARACTER}".encode(), b"ok"]))
    out = tmp_path / "out"
    code, _, err = cli("convert", master, "--scan", "-o", out)
    assert code == 0, err
    replace_strings(master, "note", np.array([b"caf\xff", b"ok"], "S6"))
    code, _, err = cli("verify", master, *sorted(out.glob("*.cbors")), "--scan")
    assert code == 1 and "/entry/measurement/note" in err and "not UTF-8" in err, err
    assert "unexpected" not in err and "identical" not in err, err
    err = fails(cli, tmp_path / "out2", master, "--scan")
    assert "/entry/measurement/note" in err and "row 0 is not UTF-8" in err, err


def test_arrays_of_strings_are_sent_as_arrays(tmp_path: Path, cli: Cli) -> None:
    """An array of byte strings per step is sent as contrast got it, a numpy array of bytes,
    not numpy's repr text (which elides all but a few elements: `verify` then passed
    a changed element)."""
    master = write_scan(tmp_path / "scan")
    names = np.array([[f"ch{i}".encode() for i in range(2000)]] * 2, "S6")
    replace_strings(master, "channels", names)
    out = tmp_path / "out"
    code, _, err = cli("convert", master, "--scan", "-o", out)
    assert code == 0, err
    running = loads(read_capture(out / "contrast.cbors")[1].streams["contrast"].frames[0])
    assert running["channels"].dtype == np.dtype("S6")
    assert running["channels"].tobytes() == names[:1].tobytes()
    names[0, 1000] = b"other"
    replace_strings(master, "channels", names)
    code, _, err = cli("verify", master, *sorted(out.glob("*.cbors")), "--scan")
    assert code == 1 and "channels differs in 1 of 2000 elements" in err, err


def test_arrays_of_variable_length_strings_are_refused(tmp_path: Path, cli: Cli) -> None:
    master = write_scan(tmp_path / "scan")
    strings = np.array([["a", "b"], ["c", "d"]], dtype=h5py.string_dtype())
    replace_strings(master, "names", strings)
    err = fails(cli, tmp_path / "out", master, "--scan")
    assert "/entry/measurement/names" in err and "variable-length strings" in err, err


def test_a_master_that_declares_a_trillion_steps(tmp_path: Path) -> None:
    """dt declared with 10**12 steps, never written: the plan of its steps ran out of memory."""
    master = tmp_path / "000001.h5"
    with h5py.File(master, "w") as f:
        f["entry/description"] = np.array([b"ascan"])
        f["entry/snapshots/pre_scan/sx"] = np.zeros(1)
        f.create_dataset("entry/measurement/dt", (10**12,), "f8", chunks=(1024,))
    out = tmp_path / "out"
    result = run_limited("convert", master, "--scan", "-o", out, address_space=2 << 30)
    assert_one_error(result.returncode, result.stderr, 1, "/entry/measurement/dt", "1,048,576")
    assert_no_output(out)
