"""Bad input: one line on stderr, the right exit code, and nothing left in the output dir."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest

from h5tocbors.protocols.xspress import META

from .conftest import BIN, Cli, read_capture, run_cli, write_h5

PREFIX = "h5tocbors: error: "


def assert_one_error(code: int, err: str, expected: int, *fragments: str) -> str:
    """Check the exit code and a single `h5tocbors: error:` line holding every fragment."""
    assert code == expected, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith(PREFIX), line
    for fragment in fragments:
        assert fragment in line, line
    return line


def assert_no_output(out: Path) -> None:
    """Nothing in `out` (if it exists at all): no capture and no `.NAME.cbors.*.part` temporary."""
    if out.exists():
        assert sorted(p.name for p in out.iterdir()) == []


@pytest.fixture
def stack() -> np.ndarray:
    """Six small uint16 frames."""
    return np.arange(6 * 8 * 10, dtype=np.uint16).reshape(6, 8, 10)


@pytest.fixture
def good_h5(tmp_path: Path, stack: np.ndarray) -> Path:
    """A file with one 3-D stack at /entry/det/data."""
    return write_h5(tmp_path / "good.h5", {"/entry/det/data": stack})


# --- the input file ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [("missing", "does not exist"), ("text", "not an HDF5 file"), ("directory", "is a directory")],
)
def test_bad_input_file(cli: Cli, tmp_path: Path, kind: str, fragment: str) -> None:
    """A missing file, a text file and a directory are each named as such."""
    path = tmp_path / "input.h5"
    if kind == "text":
        path.write_text("not HDF5 at all\n" * 100)
    elif kind == "directory":
        path.mkdir()
    out = tmp_path / "out"
    code, _, err = cli("convert", path, "--stream", "det", "-o", out)
    line = assert_one_error(code, err, 1, fragment)
    assert "input.h5" in line
    assert_no_output(out)


def test_unreadable_input(tmp_path: Path, good_h5: Path) -> None:
    """An input that cannot be read is bad input (exit 1), not a usage error (exit 2).

    As root every file is readable, so the command then runs without the capabilities that
    override file permissions (setpriv). It stays root, the owner of the clone: running as
    `nobody` failed where the clone lies in a folder only root may enter (`/root`).
    """
    good_h5.chmod(0o000)
    command = [str(BIN / "h5tocbors")]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
        if not shutil.which("setpriv") or subprocess.run([*command[:2], "true"]).returncode:
            pytest.skip("running as root, unable to drop CAP_DAC_OVERRIDE: every file is readable")
    out = tmp_path / "out"
    for args in (
        ["convert", good_h5, "-s", "det", "-o", out],
        ["ls", good_h5],
        ["verify", good_h5, good_h5],
    ):
        result = subprocess.run(
            [*command, *map(str, args)], capture_output=True, text=True, timeout=60
        )
        assert_one_error(result.returncode, result.stderr, 1, "good.h5", "permission denied")
    assert_no_output(out)


def test_fifo_input(cli: Cli, tmp_path: Path) -> None:
    """A named pipe is refused at once (reading it would wait for a writer)."""
    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)
    for args in (["convert", fifo, "-s", "det", "-o", tmp_path / "out"], ["ls", fifo]):
        code, _, err = cli(*args)
        assert_one_error(code, err, 1, "pipe.h5", "not a regular file")


def test_bad_input_file_subprocess(tmp_path: Path) -> None:
    """The installed command reports a missing input the same way, without a traceback."""
    out = tmp_path / "out"
    result = run_cli("convert", tmp_path / "nope.h5", "--stream", "det", "-o", out)
    assert_one_error(result.returncode, result.stderr, 1, "nope.h5", "does not exist")
    assert_no_output(out)


def test_error_prints_nothing_on_stdout(cli: Cli, tmp_path: Path) -> None:
    """With --json or not, a failure writes no result on stdout."""
    for extra in ([], ["--json"], ["--quiet"]):
        code, stdout, err = cli(
            "convert", tmp_path / "nope.h5", "--stream", "det", "-o", tmp_path / "out", *extra
        )
        assert_one_error(code, err, 1, "does not exist")
        assert stdout == ""


def test_debug_shows_traceback(tmp_path: Path) -> None:
    """With --debug the error line comes with a traceback on stderr."""
    out = tmp_path / "out"
    result = run_cli("convert", tmp_path / "nope.h5", "--stream", "det", "-o", out, "--debug")
    assert result.returncode == 1
    assert PREFIX in result.stderr
    assert "Traceback" in result.stderr
    assert "does not exist" in result.stderr
    assert_no_output(out)


# --- the dataset ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fragments"),
    [("/no/such", ("no dataset", "/no/such")), ("/entry/det", ("/entry/det", "group"))],
)
def test_bad_dataset_path(
    cli: Cli, tmp_path: Path, good_h5: Path, path: str, fragments: tuple[str, ...]
) -> None:
    """A path to nothing or to a group is named."""
    out = tmp_path / "out"
    code, _, err = cli("convert", good_h5, "--stream", f"det={path}", "-o", out)
    assert_one_error(code, err, 1, *fragments)
    assert_no_output(out)


def test_dangling_links(cli: Cli, tmp_path: Path, good_h5: Path) -> None:
    """Links to nowhere (a missing external file, a soft link) are named, not followed."""
    with h5py.File(good_h5, "a") as f:
        f["/ext"] = h5py.ExternalLink("gone.h5", "/data")
        f["/soft"] = h5py.SoftLink("/nowhere")
    out = tmp_path / "out"
    for path in ("/ext", "/soft"):
        code, _, err = cli("convert", good_h5, "--stream", f"det={path}", "-o", out)
        assert_one_error(code, err, 1, path)
        assert_no_output(out)


def test_truncated_hdf5_file(cli: Cli, tmp_path: Path, good_h5: Path) -> None:
    """An HDF5 file cut short is named, with HDF5's reason, in one line."""
    truncated = tmp_path / "cut.h5"
    truncated.write_bytes(good_h5.read_bytes()[:1500])
    out = tmp_path / "out"
    code, _, err = cli("convert", truncated, "--stream", "det", "-o", out)
    assert_one_error(code, err, 1, "cut.h5")
    assert_no_output(out)


def test_autodetect_finds_nothing(cli: Cli, tmp_path: Path, good_h5: Path) -> None:
    """No dataset has the stream name in its path: say how to give the path."""
    out = tmp_path / "out"
    code, _, err = cli("convert", good_h5, "--stream", "eiger", "-o", out)
    assert_one_error(code, err, 1, "eiger", "--stream eiger=/")
    assert_no_output(out)


def test_autodetect_finds_several(cli: Cli, tmp_path: Path, stack: np.ndarray) -> None:
    """Several stacks match: each is listed, with the NAME=/path form to choose one."""
    h5 = write_h5(
        tmp_path / "two.h5",
        {
            "/entry/det/a": stack,
            "/entry/det/b": stack[:3],
            "/entry/det/image": stack[0],  # 2-D: a stack wins over it, so it is not listed
        },
    )
    out = tmp_path / "out"
    code, _, err = cli("convert", h5, "--stream", "det", "-o", out)
    line = assert_one_error(code, err, 1, "/entry/det/a", "/entry/det/b", "det=/entry/det/")
    assert "/entry/det/image" not in line
    assert_no_output(out)


@pytest.mark.parametrize(
    ("kind", "named"),
    [("vlen-str", "string data"), ("compound", "compound data"), ("complex", "complex128 data")],
)
@pytest.mark.parametrize("given", [True, False], ids=["path", "auto"])
def test_non_numeric_dataset(cli: Cli, tmp_path: Path, kind: str, named: str, given: bool) -> None:
    """Strings, compound records and complex numbers cannot be images: the dtype is named,
    whether the dataset is given or found by its name."""
    h5 = tmp_path / "odd.h5"
    with h5py.File(h5, "w") as f:
        if kind == "vlen-str":
            data = np.array([["a", "bb"], ["ccc", "d"]] * 3, dtype=object).reshape(3, 2, 2)
            f.create_dataset("/entry/det/data", data=data, dtype=h5py.string_dtype())
        elif kind == "compound":
            rec = np.dtype([("x", "<u2"), ("y", "<f4")])
            f.create_dataset("/entry/det/data", data=np.zeros((3, 4, 5), dtype=rec))
        else:
            f.create_dataset("/entry/det/data", data=np.zeros((3, 4, 5), dtype=np.complex128))
    out = tmp_path / "out"
    stream = "det=/entry/det/data" if given else "det"
    code, _, err = cli("convert", h5, "--stream", stream, "-o", out)
    assert_one_error(code, err, 1, "/entry/det/data", named, "STINS images must be real numbers")
    assert_no_output(out)


@pytest.mark.parametrize("data", [np.arange(10, dtype=np.uint16), np.uint16(7)], ids=["1d", "0d"])
def test_too_few_dimensions(cli: Cli, tmp_path: Path, data: np.ndarray) -> None:
    """A 1-D or scalar dataset holds no frames."""
    h5 = write_h5(tmp_path / "flat.h5", {"/entry/det/data": data})
    out = tmp_path / "out"
    code, _, err = cli("convert", h5, "--stream", "det=/entry/det/data", "-o", out)
    assert_one_error(code, err, 1, "/entry/det/data", "dimension", "at least 2")
    assert_no_output(out)


def test_dataset_without_frames(cli: Cli, tmp_path: Path, stack: np.ndarray) -> None:
    """A stack of zero frames cannot make a series."""
    h5 = write_h5(tmp_path / "empty.h5", {"/entry/det/data": stack[:0]})
    out = tmp_path / "out"
    code, _, err = cli("convert", h5, "--stream", "det", "-o", out)
    assert_one_error(code, err, 1, "no frames")
    assert_no_output(out)


def test_zero_size_frames_are_not_unexpected(cli: Cli, tmp_path: Path) -> None:
    """Frames without pixels fare the same with either output compression, never "unexpected"."""
    h5 = write_h5(tmp_path / "thin.h5", {"/entry/det/data": np.zeros((3, 0, 5), np.uint16)})
    codes: dict[str, int] = {}
    for compression in ("bslz4", "none"):
        out = tmp_path / compression
        code, _, err = cli(
            "convert", h5, "--stream", "det", "-o", out, "-q", "--compression", compression
        )
        assert "unexpected" not in err, err
        if code != 0:
            assert_one_error(code, err, 1, "/entry/det/data")
            assert_no_output(out)
        codes[compression] = code
    assert codes["bslz4"] == codes["none"], codes


# --- arguments -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frames", "expected", "fragment"),
    [
        ("abc", 2, "'abc'"),
        ("1:2:3:4", 2, "'1:2:3:4'"),
        ("a:b", 2, "integers"),
        ("0:4:0", 2, "STEP cannot be 0"),
        ("50:60", 1, "outside the 6 frames"),
        ("-10:", 1, "outside the 6 frames"),
        ("3:3", 1, "selects no frame"),
        ("4:2", 1, "selects no frame"),
    ],
)
def test_bad_frames(
    cli: Cli, tmp_path: Path, good_h5: Path, frames: str, expected: int, fragment: str
) -> None:
    """Malformed selections are usage errors; selections the series cannot meet are not."""
    out = tmp_path / "out"
    code, _, err = cli("convert", good_h5, "--stream", "det", "-o", out, f"--frames={frames}")
    assert_one_error(code, err, expected, "--frames", fragment)
    assert_no_output(out)


@pytest.mark.parametrize(
    "name", ["a/b", ".hidden", "a b", "", "..", "=/entry/det/data", "a\\b", "a\nb"]
)
def test_bad_stream_name(cli: Cli, tmp_path: Path, good_h5: Path, name: str) -> None:
    """Stream names become file names: only plain names are accepted."""
    out = tmp_path / "out"
    code, _, err = cli("convert", good_h5, "--stream", name, "-o", out)
    assert_one_error(code, err, 2, "stream name", "not a plain name")
    assert_no_output(out)


def test_stream_path_missing_after_equals(cli: Cli, tmp_path: Path, good_h5: Path) -> None:
    """`NAME=` with nothing after it is a usage error."""
    out = tmp_path / "out"
    code, _, err = cli("convert", good_h5, "--stream", "det=", "-o", out)
    assert_one_error(code, err, 2, "'det='", "after '='")
    assert_no_output(out)


@pytest.mark.parametrize("length", [240, 250, 300])
def test_stream_name_too_long_for_a_file(
    cli: Cli, tmp_path: Path, good_h5: Path, length: int
) -> None:
    """A name too long for its capture or temporary file name (255 bytes) is a usage error."""
    name = "a" * length
    out = tmp_path / "out"
    code, _, err = cli("convert", good_h5, "--stream", f"{name}=/entry/det/data", "-o", out)
    assert_one_error(code, err, 2)
    assert "unexpected" not in err
    assert_no_output(out)


@pytest.mark.parametrize(
    "streams", [("det", "det"), ("det", "det=/entry/det/data"), ("x=/entry/det/data",) * 2]
)
def test_stream_given_twice(
    cli: Cli, tmp_path: Path, good_h5: Path, streams: tuple[str, ...]
) -> None:
    """The same stream name twice would write one file twice."""
    out = tmp_path / "out"
    args = [a for s in streams for a in ("--stream", s)]
    code, _, err = cli("convert", good_h5, *args, "-o", out)
    assert_one_error(code, err, 2, "twice")
    assert_no_output(out)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["--bogus"], "--bogus"), (["--compression", "gzip"], "gzip"), ([], "--stream")],
    ids=["unknown-option", "bad-compression", "no-stream"],
)
def test_usage_errors(
    cli: Cli, tmp_path: Path, good_h5: Path, args: list[str], fragment: str
) -> None:
    """Click's own usage errors are one line and exit 2 too."""
    out = tmp_path / "out"
    stream = [] if not args else ["--stream", "det"]
    code, _, err = cli("convert", good_h5, *stream, *args, "-o", out)
    assert_one_error(code, err, 2, fragment)
    assert_no_output(out)


@pytest.mark.parametrize("args", [["--bogus"], []], ids=["unknown-option", "no-stream"])
def test_usage_errors_subprocess(tmp_path: Path, good_h5: Path, args: list[str]) -> None:
    """The installed command reports usage errors in one line, exit 2."""
    out = tmp_path / "out"
    stream = [] if not args else ["--stream", "det"]
    result = run_cli("convert", good_h5, *stream, *args, "-o", out)
    assert_one_error(result.returncode, result.stderr, 2)
    assert_no_output(out)


# --- the output directory ----------------------------------------------------------


def test_output_dir_is_a_file(cli: Cli, tmp_path: Path, good_h5: Path) -> None:
    """An output directory that is a regular file is named and left alone."""
    out = tmp_path / "out"
    out.write_bytes(b"keep me")
    code, _, err = cli("convert", good_h5, "--stream", "det", "-o", out)
    assert_one_error(code, err, 1, str(out), "is a file")
    assert out.read_bytes() == b"keep me"


def test_output_dir_cannot_be_created(cli: Cli, tmp_path: Path, good_h5: Path) -> None:
    """An output directory below a regular file cannot exist."""
    blocker = tmp_path / "file"
    blocker.write_bytes(b"keep me")
    out = blocker / "sub" / "out"
    code, _, err = cli("convert", good_h5, "--stream", "det", "-o", out)
    assert_one_error(code, err, 1, "cannot create output directory", str(out))
    assert blocker.read_bytes() == b"keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_output_dir_read_only(cli: Cli, tmp_path: Path, good_h5: Path) -> None:
    """A directory without write permission is named; nothing is left in it."""
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        code, _, err = cli("convert", good_h5, "--stream", "det", "-o", out)
    finally:
        out.chmod(0o755)
    assert_one_error(code, err, 1, str(out))
    assert list(out.iterdir()) == []


def test_output_path_is_a_directory(cli: Cli, tmp_path: Path, good_h5: Path) -> None:
    """A directory at the output name is never replaced, even with --force."""
    out = tmp_path / "out"
    (out / "det.cbors").mkdir(parents=True)
    (out / "det.cbors" / "inside").write_bytes(b"keep me")
    code, _, err = cli("convert", good_h5, "--stream", "det", "-o", out, "--force")
    assert_one_error(code, err, 1, "det.cbors", "directory")
    assert (out / "det.cbors" / "inside").read_bytes() == b"keep me"
    assert [p.name for p in out.iterdir()] == ["det.cbors"]


def test_existing_output_needs_force(cli: Cli, tmp_path: Path, good_h5: Path) -> None:
    """An existing capture is kept unless --force is given; with it, it is replaced."""
    out = tmp_path / "out"
    out.mkdir()
    target = out / "det.cbors"
    target.write_bytes(b"old capture")
    code, _, err = cli("convert", good_h5, "--stream", "det", "-o", out, "-q")
    assert_one_error(code, err, 1, "det.cbors", "--force")
    assert target.read_bytes() == b"old capture"
    assert sorted(p.name for p in out.iterdir()) == ["det.cbors"]

    code, _, err = cli("convert", good_h5, "--stream", "det", "-o", out, "-q", "--force")
    assert code == 0, err
    assert target.read_bytes() != b"old capture"
    assert target.stat().st_size > 0
    assert sorted(p.name for p in out.iterdir()) == ["det.cbors"]


def test_existing_output_of_second_stream_blocks_both(
    cli: Cli, tmp_path: Path, stack: np.ndarray
) -> None:
    """If one of two outputs exists, neither is written."""
    h5 = write_h5(tmp_path / "two.h5", {"/a/data": stack, "/b/data": stack})
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.cbors").write_bytes(b"old capture")
    code, _, err = cli("convert", h5, "--stream", "a", "--stream", "b", "-o", out)
    assert_one_error(code, err, 1, "b.cbors", "--force")
    assert (out / "b.cbors").read_bytes() == b"old capture"
    assert sorted(p.name for p in out.iterdir()) == ["b.cbors"]


def test_read_only_input(cli: Cli, tmp_path: Path, good_h5: Path) -> None:
    """The input is opened read-only: a 0o444 file converts and is left byte-for-byte as is."""
    good_h5.chmod(0o444)
    before = good_h5.read_bytes()
    os.utime(good_h5, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    stat = good_h5.stat()
    out = tmp_path / "out"
    code, _, err = cli("convert", good_h5, "--stream", "det", "-o", out, "-q")
    assert code == 0, err
    assert (out / "det.cbors").stat().st_size > 0
    assert good_h5.read_bytes() == before
    after = good_h5.stat()
    assert after.st_mtime_ns == stat.st_mtime_ns
    assert after.st_size == stat.st_size
    assert after.st_mode & 0o777 == 0o444


# --- failures while converting -----------------------------------------------------


def corrupt_chunk(path: Path, dataset: str, index: int, keep: int = 0) -> None:
    """Overwrite the stored bytes of chunk `index` of `dataset`, after its first `keep` bytes."""
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(index)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + keep)
        fh.write(b"\xff" * (info.size - keep))


@pytest.mark.parametrize(
    ("filter_name", "compression"),
    [("gzip", "bslz4"), ("gzip", "none"), ("bslz4", "none")],
)
def test_chunk_fails_to_decode(
    cli: Cli, tmp_path: Path, stack: np.ndarray, filter_name: str, compression: str
) -> None:
    """A chunk that cannot be decoded names its frame, and no output is left behind."""
    h5 = tmp_path / "broken.h5"
    create = (
        {"compression": "gzip"}
        if filter_name == "gzip"
        else dict(hdf5plugin.Bitshuffle(cname="lz4"))
    )
    write_h5(h5, {"/entry/det/data": stack}, chunks=(1, *stack.shape[1:]), **create)
    # bitshuffle: keep the 12-byte header so the filter fails on the LZ4 blocks
    corrupt_chunk(h5, "/entry/det/data", 2, keep=12 if filter_name == "bslz4" else 0)
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = cli("convert", h5, "--stream", "det", "-o", out, "--compression", compression)
    assert_one_error(code, err, 1, "frame 2")
    assert_no_output(out)


def test_chunk_fails_to_decode_subprocess(tmp_path: Path, stack: np.ndarray) -> None:
    """The installed command: one line, no traceback, no output; with --debug a traceback."""
    h5 = write_h5(
        tmp_path / "broken.h5",
        {"/entry/det/data": stack},
        chunks=(1, *stack.shape[1:]),
        compression="gzip",
    )
    corrupt_chunk(h5, "/entry/det/data", 4)
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli("convert", h5, "--stream", "det", "-o", out)
    assert_one_error(result.returncode, result.stderr, 1, "frame 4")
    assert_no_output(out)

    result = run_cli("convert", h5, "--stream", "det", "-o", out, "--debug")
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert PREFIX in result.stderr and "frame 4" in result.stderr
    assert_no_output(out)


def test_failed_force_keeps_existing_output(cli: Cli, tmp_path: Path, stack: np.ndarray) -> None:
    """A conversion that fails midway with --force leaves the old capture in place."""
    h5 = write_h5(
        tmp_path / "broken.h5",
        {"/entry/det/data": stack},
        chunks=(1, *stack.shape[1:]),
        compression="gzip",
    )
    corrupt_chunk(h5, "/entry/det/data", 3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "det.cbors").write_bytes(b"old capture")
    code, _, err = cli("convert", h5, "--stream", "det", "-o", out, "--force")
    assert_one_error(code, err, 1, "frame 3")
    assert (out / "det.cbors").read_bytes() == b"old capture"
    assert sorted(p.name for p in out.iterdir()) == ["det.cbors"]


def test_failure_in_one_stream_removes_both(cli: Cli, tmp_path: Path, stack: np.ndarray) -> None:
    """Streams converted together: if one fails midway, no output of either is left."""
    h5 = tmp_path / "two.h5"
    chunks = (1, *stack.shape[1:])
    with h5py.File(h5, "w") as f:
        f.create_dataset("/a/data", data=stack, chunks=chunks, compression="gzip")
        f.create_dataset("/b/data", data=stack, chunks=chunks, compression="gzip")
    corrupt_chunk(h5, "/b/data", 5)
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = cli("convert", h5, "--stream", "a", "--stream", "b", "-o", out)
    assert_one_error(code, err, 1, "frame 5", "/b/data")
    assert_no_output(out)


def make_vds(directory: Path, stack: np.ndarray, *, absolute: bool = False) -> Path:
    """A VDS at `directory/vds.h5` (/entry/det/data) over halves in part0.h5 and part1.h5."""
    directory.mkdir()
    half = stack.shape[0] // 2
    layout = h5py.VirtualLayout(shape=stack.shape, dtype=stack.dtype)
    for i in range(2):
        source = directory / f"part{i}.h5"
        write_h5(source, {"/data": stack[i * half : (i + 1) * half]})
        name = str(source) if absolute else source.name
        layout[i * half : (i + 1) * half] = h5py.VirtualSource(
            name, "/data", shape=(half, *stack.shape[1:]), dtype=stack.dtype
        )
    vds = directory / "vds.h5"
    with h5py.File(vds, "w") as f:
        f.create_virtual_dataset("/entry/det/data", layout, fillvalue=0)
    return vds


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_virtual_dataset_missing_source(
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stack: np.ndarray,
    absolute: bool,
) -> None:
    """A VDS whose source file is gone is refused, naming the file, not read as fill values."""
    vds = make_vds(tmp_path / "data", stack, absolute=absolute)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("HDF5_VDS_PREFIX", raising=False)

    out = tmp_path / "out"
    code, _, err = cli("convert", vds, "--stream", "det", "-o", out, "-q")
    assert code == 0, err  # with both sources present it converts

    (tmp_path / "data" / "part1.h5").unlink()
    out = tmp_path / "out2"
    code, _, err = cli("convert", vds, "--stream", "det", "-o", out)
    assert_one_error(code, err, 1, "part1.h5", "missing")
    assert_no_output(out)


@pytest.mark.parametrize("damage", ["not-hdf5", "no-dataset", "too-short"])
def test_virtual_dataset_bad_source(
    cli: Cli, tmp_path: Path, stack: np.ndarray, damage: str
) -> None:
    """A VDS source that is not HDF5, lacks the dataset or is too short is named."""
    vds = make_vds(tmp_path / "data", stack)
    source = tmp_path / "data" / "part1.h5"
    if damage == "not-hdf5":
        source.write_text("not HDF5\n" * 100)
    elif damage == "no-dataset":
        write_h5(source, {"/other": stack[:3]})
    else:
        write_h5(source, {"/data": stack[:1]})
    out = tmp_path / "out"
    code, _, err = cli("convert", vds, "--stream", "det", "-o", out, "--compression", "none")
    line = assert_one_error(code, err, 1)
    assert "unexpected" not in line
    if damage == "too-short":  # found when read, or checked up front
        assert "frame 4" in line or "part1.h5" in line
    else:
        assert "part1.h5" in line
    assert_no_output(out)


def test_streams_with_different_frame_counts(cli: Cli, tmp_path: Path, stack: np.ndarray) -> None:
    """Streams share event numbers, so their frame counts must agree."""
    h5 = write_h5(tmp_path / "two.h5", {"/a/data": stack, "/b/data": stack[:4]})
    out = tmp_path / "out"
    code, _, err = cli("convert", h5, "--stream", "a", "--stream", "b", "-o", out)
    assert_one_error(code, err, 1, "same number of frames", "--frames")
    assert_no_output(out)


def test_streams_with_different_frame_counts_subprocess(tmp_path: Path, stack: np.ndarray) -> None:
    """Different frame counts through the installed command."""
    h5 = write_h5(tmp_path / "two.h5", {"/a/data": stack, "/b/data": stack[:4]})
    out = tmp_path / "out"
    result = run_cli("convert", h5, "-s", "a", "-s", "b=/b/data", "-o", out)
    assert_one_error(result.returncode, result.stderr, 1, "same number of frames")
    assert_no_output(out)


def test_a_corrupt_bitshuffle_block_length_is_an_error_not_a_crash(
    tmp_path: Path, stack: np.ndarray
) -> None:
    """bitshuffle trusts its block lengths: a wrong one would read out of bounds and crash."""
    h5 = write_h5(
        tmp_path / "broken.h5",
        {"/entry/det/data": stack},
        chunks=(1, *stack.shape[1:]),
        **hdf5plugin.Bitshuffle(cname="lz4"),
    )
    with h5py.File(h5, "r") as f:
        info = f["/entry/det/data"].id.get_chunk_info(1)
    with open(h5, "r+b") as fh:
        fh.seek(info.byte_offset + 12)  # the first block's length, after the chunk header
        fh.write((0x7FFFFFFF).to_bytes(4, "big"))
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli("convert", h5, "--stream", "det", "-o", out, "--compression", "none")
    assert_one_error(result.returncode, result.stderr, 1, "frame 1")
    assert_no_output(out)
    # passed through as stored, then caught by verify rather than crashing it
    assert run_cli("convert", h5, "--stream", "det", "-o", out).returncode == 0
    result = run_cli("verify", h5, out / "det.cbors")
    assert_one_error(result.returncode, result.stderr, 1, "frame 1 fails to decode")


def test_link_names_that_are_not_utf8(cli: Cli, tmp_path: Path, stack: np.ndarray) -> None:
    h5 = tmp_path / "names.h5"
    with h5py.File(h5, "w") as f:
        group = h5py.h5g.create(f.id, b"det\xff")
        space = h5py.h5s.create_simple(stack.shape)
        h5py.h5d.create(group, b"data", h5py.h5t.py_create(stack.dtype), space)
    out = tmp_path / "out"
    code, _, err = cli("convert", h5, "--stream", "det", "-o", out)
    assert_one_error(code, err, 1, "not UTF-8", "--stream NAME=/path")
    code, _, err = cli("ls", h5)
    assert_one_error(code, err, 1, "not UTF-8")


def test_filename_that_is_not_utf8(cli: Cli, tmp_path: Path, good_h5: Path) -> None:
    out = tmp_path / "out"
    code, _, err = cli("convert", good_h5, "-s", "det", "-o", out, "--filename", "run\udcff.h5")
    assert_one_error(code, err, 2, "--filename")
    assert_no_output(out)


def test_input_stems_that_cannot_name_a_directory(cli: Cli, tmp_path: Path, good_h5: Path) -> None:
    odd = tmp_path / "...h5"
    odd.write_bytes(good_h5.read_bytes())
    out = tmp_path / "deep" / "out"
    code, _, err = cli("convert", good_h5, odd, "-s", "det", "-o", out)
    assert_one_error(code, err, 1, "cannot name an output directory", "...h5")
    assert not out.exists()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, where a conversion runs out of space (skipped where mounting is refused)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


@pytest.mark.parametrize("side", [128, 256], ids=["written", "spliced"])
def test_disk_full_names_the_output(tmp_path: Path, tiny_disk: Path, side: int) -> None:
    """Frames of 32 kB are read and written; of 128 kB, spliced from the input."""
    data = np.random.default_rng(0).integers(0, 2**16, (40, side, side), dtype=np.uint16)
    h5 = write_h5(tmp_path / "big.h5", {"/entry/det/data": data})
    old = tiny_disk / "det.cbors"
    old.write_bytes(b"the previous capture")
    result = run_cli("convert", h5, "-s", "det", "-o", tiny_disk, "--force", "-c", "none")
    assert_one_error(result.returncode, result.stderr, 1, "cannot write", "det.cbors")
    assert old.read_bytes() == b"the previous capture"
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["det.cbors"]


def test_version_and_bare_command(tmp_path: Path) -> None:
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("h5tocbors ")
    bare = run_cli()
    assert bare.returncode == 2 and "convert" in bare.stderr + bare.stdout


# --- standard streams -------------------------------------------------------


def run_with_stdout(
    args: list[str | Path], stdout: int | None, closed: int | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed command on `stdout` (None: a pipe), with descriptor `closed` closed."""
    return subprocess.run(
        [str(BIN / "h5tocbors"), *map(str, args)],
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=None if closed is None else lambda: os.close(closed),
        timeout=60,
    )


def commands(good_h5: Path, out: Path) -> list[list[str | Path]]:
    """A call of each command, and `--version`."""
    return [
        ["ls", good_h5],
        ["ls", "--json", good_h5],
        ["convert", good_h5, "-s", "det", "-o", out],
        ["verify", good_h5, good_h5],
        ["inspect", good_h5],
        ["--version"],
    ]


@pytest.mark.parametrize(("closed", "name"), [(1, "output"), (2, "error")])
def test_a_closed_standard_stream(tmp_path: Path, good_h5: Path, closed: int, name: str) -> None:
    """`h5tocbors ls f.h5 >&-` (or `2>&-`) died of an AttributeError traceback in isolate."""
    out = tmp_path / "out"
    for args in commands(good_h5, out):
        result = run_with_stdout(args, None, closed)
        assert result.returncode == 1, (args, result)
        line = result.stderr if closed == 1 else result.stdout
        assert line == f"{PREFIX}standard {name} closed (redirect to /dev/null instead)\n", args
        assert_no_output(out)


def test_a_full_standard_output(tmp_path: Path, good_h5: Path) -> None:
    """`ls > /dev/full` was "unexpected OSError"; others said nothing and exited 1."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    out = tmp_path / "out"
    with open("/dev/full", "w") as full:
        for args in commands(good_h5, out)[:3]:
            result = run_with_stdout(args, full.fileno())
            expected = "cannot write to standard output: No space left on device"
            assert_one_error(result.returncode, result.stderr, 1, expected)


def test_help_into_a_full_standard_output() -> None:
    """`h5tocbors --help > /dev/full` (and each command's) was a traceback: rich flushes the
    help page itself, inside click's option parsing."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        for args in (["--help"], ["convert", "--help"], ["ls", "-h"]):
            result = run_with_stdout(args, full.fileno())
            expected = "cannot write to standard output: No space left on device"
            assert_one_error(result.returncode, result.stderr, 1, expected)


@pytest.mark.parametrize(
    ("path", "names", "protocol", "said"),
    [
        ("/em", ["channel1"], "albaem", "holds no frames"),
        ("/entry/instrument/pandabox/data", ["i_0", "i_t"], "pcap", "its fields hold no rows"),
        ("/panda", ["INENC1.VAL_Mean"], "pcap-raw", "holds no frames"),
    ],
)
def test_empty_group_is_named(
    cli: Cli, tmp_path: Path, path: str, names: list[str], protocol: str, said: str
) -> None:
    """A group whose datasets hold no points says so, not that `--frames` (not given) selects
    none."""
    src = tmp_path / "empty.h5"
    with h5py.File(src, "w") as f:
        for name in names:
            f[f"{path}/{name}"] = np.zeros(0)
    out = tmp_path / "out"
    code, _, err = cli("convert", src, "-s", f"s={path}:{protocol}", "-o", out)
    assert_one_error(code, err, 1, f"{path} in {src}", said)
    assert "--frames" not in err
    assert_no_output(out)


DECLARED = 1 << 21
"""Rows an aborted scan declares in the tests below; the first 10 are written."""


def panda_like(names: list[str]) -> Callable[[h5py.Group], None]:
    """Per-point float64 datasets `names`, 10 of `DECLARED` rows written."""

    def write(g: h5py.Group) -> None:
        for name in names:
            g.create_dataset(name, shape=(DECLARED,), chunks=(10,), dtype="f8")[:10] = 1.0

    return write


def xspress_like(g: h5py.Group) -> None:
    """An xspress3 group: data and meta declared for `DECLARED` frames, 10 written."""
    for name, shape in [("data", (2, 8)), *((m, (2,)) for m in META)]:
        dset = g.create_dataset(name, shape=(DECLARED, *shape), chunks=(10, *shape), dtype="u4")
        dset[:10] = 7999990 if name == "clock_ticks" else 1


def lecroy_like(g: h5py.Group) -> None:
    """A LeCroy group of one channel: `DECLARED` traces declared, 10 written."""
    g.create_dataset("waveform1", shape=(DECLARED, 4), chunks=(10, 4), dtype="f8")[:10] = 1.0
    g.create_dataset("timestamp1", shape=(DECLARED,), chunks=(10,), dtype="f8")[:10] = 1.0


@pytest.mark.parametrize(
    ("protocol", "path", "write"),
    [
        ("albaem", "/em", panda_like(["channel1", "channel2"])),
        ("pcap-raw", "/panda", panda_like(["INENC1.VAL_Mean", "PCAP.TS_TRIG_Value"])),
        ("pcap", "/entry/instrument/pandabox/data", panda_like(["i_0", "i_t"])),
        ("xspress", "/x", xspress_like),
        ("lecroy", "/data", lecroy_like),
    ],
)
def test_rows_never_written_are_refused_before_writing_and_frames_selects_stored_ones(
    cli: Cli, tmp_path: Path, protocol: str, path: str, write: Callable[[h5py.Group], None]
) -> None:
    """A source declaring 2**21 rows of which 10 were written (an aborted scan) is refused
    while the conversion is planned, naming --frames; --frames 0:10 then converts it."""
    src = tmp_path / "aborted.h5"
    with h5py.File(src, "w") as f:
        write(f.create_group(path))
    out = tmp_path / "out"
    code, _, err = cli("convert", src, "-s", f"s={path}:{protocol}", "-o", out)
    assert_one_error(code, err, 1, "--frames")
    assert not (out / "s.cbors").exists()
    code, _, err = cli("convert", src, "-s", f"s={path}:{protocol}", "-o", out, "--frames", "0:10")
    assert code == 0, err
    assert len(read_capture(out / "s.cbors")) == 12
