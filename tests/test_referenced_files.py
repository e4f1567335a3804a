"""The path rule: an HDF5 file makes h5tocbors read only files in its own folder or below.

A hostile file names a file elsewhere (an absolute path, `../`, a symlink that points out)
as external raw data, as an external link, or as a virtual dataset source. h5tocbors must
refuse it, naming the dataset and the path, in `convert`, `verify` and `ls`, and must not
let HDF5 open it first.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

from .conftest import BIN, Cli, decoded_frames, listing, run_cli
from .test_errors import assert_no_output, assert_one_error

FRAMES = np.arange(6 * 4 * 5, dtype=np.uint8).reshape(6, 4, 5)
SECRET = FRAMES + 100  # what a file outside the input's folder holds


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """`run/` holds an input and its data; `elsewhere/` holds what the input must not read."""
    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    run.mkdir()
    elsewhere.mkdir()
    (elsewhere / "secret.bin").write_bytes(SECRET.tobytes())
    with h5py.File(elsewhere / "secret.h5", "w") as f:
        f["data"] = SECRET
    (run / "raw.bin").write_bytes(FRAMES.tobytes())
    (run / "sub").mkdir()
    (run / "sub" / "raw.bin").write_bytes(FRAMES.tobytes())
    with h5py.File(run / "sub" / "good.h5", "w") as f:
        f["data"] = FRAMES
    (run / "link.bin").symlink_to(elsewhere / "secret.bin")
    (run / "link.h5").symlink_to(elsewhere / "secret.h5")
    (run / "inside.bin").symlink_to(run / "raw.bin")  # a symlink that stays inside is fine
    return run


NAMES = {
    "absolute": lambda run, ext: str(run.parent / "elsewhere" / f"secret.{ext}"),
    "climbing": lambda run, ext: f"../elsewhere/secret.{ext}",
    "symlink": lambda run, ext: f"link.{ext}",
}


def input_with(run: Path, kind: str, name: str) -> Path:
    """`run/input.h5` whose /entry/det/data reads from the file `name` as `kind`."""
    path = run / "input.h5"
    with h5py.File(path, "w") as f:
        if kind == "raw":
            f.create_dataset(
                "/entry/det/data", FRAMES.shape, FRAMES.dtype, external=[(name, 0, 120)]
            )
        elif kind == "link":
            f["/entry/det/data"] = h5py.ExternalLink(name, "/data")
        else:
            layout = h5py.VirtualLayout(FRAMES.shape, FRAMES.dtype)
            layout[:] = h5py.VirtualSource(name, "/data", shape=FRAMES.shape)
            f.create_virtual_dataset("/entry/det/data", layout, fillvalue=0)
    return path


@pytest.mark.parametrize("kind", ["raw", "link", "virtual"])
@pytest.mark.parametrize("how", list(NAMES))
def test_files_outside_the_folder_are_refused(
    cli: Cli, site: Path, tmp_path: Path, kind: str, how: str
) -> None:
    """convert, verify and ls refuse the file with one line naming the dataset and the path."""
    name = NAMES[how](site, "bin" if kind == "raw" else "h5")
    h5 = input_with(site, kind, name)
    out = tmp_path / "out"
    code, _, err = cli("convert", h5, "--stream", "det", "-o", out)
    assert_one_error(code, err, 1, "/entry/det/data", name, "outside", "refused")
    assert_no_output(out)
    code, _, err = cli("convert", h5, "--stream", "det=/entry/det/data", "-o", out)
    assert_one_error(code, err, 1, "/entry/det/data", name, "refused")
    assert_no_output(out)

    # a capture of the secret, made elsewhere, must not be called identical to this input
    with h5py.File(tmp_path / "honest.h5", "w") as f:
        f["/entry/det/data"] = SECRET
    assert cli("convert", tmp_path / "honest.h5", "-s", "det", "-o", tmp_path / "c", "-q")[0] == 0
    code, out_text, err = cli("verify", h5, tmp_path / "c" / "det.cbors")
    assert_one_error(code, err, 1, "/entry/det/data", name, "refused")
    assert "identical" not in out_text

    entry = listing(cli, h5)["/entry/det/data"]
    assert entry["stream"] is None and not entry["image"]
    assert name in entry["note"] and "refused" in entry["note"]
    if kind == "link":  # the target is not opened: nothing of it shows
        assert (entry["layout"], entry["shape"]) == ("link", None)
    else:
        assert [(s["file"], s["exists"], s["refused"]) for s in entry["sources"]] == [
            (name, False, True)
        ]


@pytest.mark.parametrize("kind", ["raw", "link", "virtual"])
@pytest.mark.parametrize("name", ["sub/{file}", "sub/../sub/{file}", "{inside}"])
def test_files_in_the_folder_or_below_are_read(
    cli: Cli, site: Path, tmp_path: Path, kind: str, name: str
) -> None:
    """Beside the input, below its folder, or a symlink that stays inside: converted and
    verified."""
    if kind == "raw":
        name = name.format(file="raw.bin", inside="inside.bin")
    else:
        name = name.format(file="good.h5", inside="sub/good.h5")
    h5 = input_with(site, kind, name)
    out = tmp_path / "out"
    code, _, err = cli("convert", h5, "--stream", "det", "-o", out, "-q")
    assert code == 0, err
    frames = decoded_frames(out / "det.cbors", "det")
    assert np.array_equal(np.stack(frames), FRAMES)
    code, _, err = cli("verify", h5, out / "det.cbors")
    assert code == 0, err
    assert listing(cli, h5)["/entry/det/data"]["stream"] == "--stream det=/entry/det/data"


def test_absolute_path_inside_the_folder_is_read(cli: Cli, site: Path, tmp_path: Path) -> None:
    """The rule is where the file lies, not how it is spelled."""
    h5 = input_with(site, "raw", str(site / "raw.bin"))
    code, _, err = cli("convert", h5, "--stream", "det", "-o", tmp_path / "out", "-q")
    assert code == 0, err


@pytest.mark.parametrize("kind", ["link", "virtual"])
def test_moved_data_is_found_beside_the_input(
    cli: Cli, site: Path, tmp_path: Path, kind: str
) -> None:
    """An absolute link or source path that does not exist here (the data was copied from
    the beamline) is looked for by its name beside the input, as HDF5 does."""
    (site / "good.h5").write_bytes((site / "sub" / "good.h5").read_bytes())
    h5 = input_with(site, kind, "/beamline/visit/raw/good.h5")
    code, _, err = cli("convert", h5, "--stream", "det", "-o", tmp_path / "out", "-q")
    assert code == 0, err


def test_absolute_raw_file_outside_is_refused_even_if_absent(cli: Cli, site: Path) -> None:
    """HDF5 reads an external raw file exactly where an absolute name says: refused, not
    "missing"."""
    h5 = input_with(site, "raw", "/home/user/.ssh/id_rsa")
    code, _, err = cli("convert", h5, "--stream", "det", "-o", site / "out")
    assert_one_error(
        code, err, 1, "/entry/det/data", "/home/user/.ssh/id_rsa", "outside", "refused"
    )


def test_the_input_itself_through_a_symlink(cli: Cli, site: Path, tmp_path: Path) -> None:
    """An input opened through a symlink names files beside the file it points to."""
    h5 = input_with(site, "virtual", "sub/good.h5")
    alias = tmp_path / "alias.h5"
    alias.symlink_to(h5)
    code, _, err = cli("convert", alias, "--stream", "det", "-o", tmp_path / "out", "-q")
    assert code == 0, err


@pytest.mark.parametrize(
    ("kind", "variable", "file"),
    [
        ("raw", "HDF5_EXTFILE_PREFIX", "secret.bin"),
        ("link", "HDF5_EXT_PREFIX", "secret.h5"),
        ("virtual", "HDF5_VDS_PREFIX", "secret.h5"),
    ],
)
def test_folders_the_user_names_in_hdf5_variables(
    site: Path, tmp_path: Path, kind: str, variable: str, file: str
) -> None:
    """HDF5 looks in the folders of its variables first: the user chose them, so a file
    found there is read, and it is the file that h5tocbors checked."""
    h5 = input_with(site, kind, file)
    out = tmp_path / "out"
    env = {variable: str(site.parent / "elsewhere")}
    result = run_cli("convert", h5, "-s", "det", "-o", out, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    frames = decoded_frames(out / "det.cbors", "det")
    assert np.array_equal(np.stack(frames), SECRET)

    # without the variable, the same name is looked for beside the input only
    result = run_cli("convert", h5, "-s", "det", "-o", tmp_path / "out2", timeout=120)
    assert_one_error(result.returncode, result.stderr, 1, file, "missing", str(site))


def test_external_link_targets_are_not_opened_by_hdf5(cli: Cli, site: Path) -> None:
    """ls follows links itself: a refused target's contents (its shape) never show."""
    h5 = input_with(site, "link", str(site.parent / "elsewhere" / "secret.h5"))
    entry = listing(cli, h5)["/entry/det/data"]
    assert (entry["layout"], entry["shape"], entry["dtype"]) == ("link", None, "")


def write_unlimited_vds(path: Path, source: bytes) -> None:
    """A virtual dataset with an unlimited mapping: HDF5 opens its source to find the extent."""
    from h5py import h5d, h5p, h5s, h5t

    with h5py.File(path, "w") as f:
        dcpl = h5p.create(h5p.DATASET_CREATE)
        vspace = h5s.create_simple((0, 4, 5), (h5s.UNLIMITED, 4, 5))
        vspace.select_hyperslab((0, 0, 0), (h5s.UNLIMITED, 1, 1), (1, 1, 1), (1, 4, 5))
        sspace = h5s.create_simple((6, 4, 5), (h5s.UNLIMITED, 4, 5))
        sspace.select_hyperslab((0, 0, 0), (h5s.UNLIMITED, 1, 1), (1, 1, 1), (1, 4, 5))
        dcpl.set_virtual(vspace, source, b"data", sspace)
        group = f.require_group("/entry/det")
        h5d.create(group.id, b"data", h5t.py_create(np.dtype("u1")), vspace, dcpl=dcpl)


def test_unlimited_virtual_dataset_over_a_file_outside(
    cli: Cli, site: Path, tmp_path: Path
) -> None:
    """HDF5 opens an unlimited mapping's source as soon as it is asked for the shape: the
    source is checked before that, so the outside file's extent never shows."""
    h5 = site / "growing.h5"
    write_unlimited_vds(h5, str(site.parent / "elsewhere" / "secret.h5").encode())
    entry = listing(cli, h5)["/entry/det/data"]
    assert entry["shape"] is None and entry["stream"] is None
    assert entry["sources"][0]["refused"]
    code, _, err = cli("convert", h5, "-s", "det=/entry/det/data", "-o", tmp_path / "out")
    assert_one_error(code, err, 1, "/entry/det/data", "secret.h5", "refused")

    write_unlimited_vds(h5, b"sub/good.h5")  # the same inside the folder converts
    code, _, err = cli("convert", h5, "-s", "det=/entry/det/data", "-o", tmp_path / "ok", "-q")
    assert code == 0, err


def test_name_patterns_are_refused(cli: Cli, site: Path, tmp_path: Path) -> None:
    """`%b` names a series of files HDF5 finds by trying numbers: not followed."""
    h5 = site / "pattern.h5"
    from h5py import h5d, h5p, h5s, h5t

    with h5py.File(h5, "w") as f:
        dcpl = h5p.create(h5p.DATASET_CREATE)
        vspace = h5s.create_simple((0, 4, 5), (h5s.UNLIMITED, 4, 5))
        vspace.select_hyperslab((0, 0, 0), (h5s.UNLIMITED, 1, 1), (1, 1, 1), (1, 4, 5))
        dcpl.set_virtual(vspace, b"part_%b.h5", b"data", h5s.create_simple((1, 4, 5)))
        h5d.create(f.id, b"data", h5t.py_create(np.dtype("u1")), vspace, dcpl=dcpl)
    code, _, err = cli("convert", h5, "-s", "det=/data", "-o", tmp_path / "out")
    assert_one_error(code, err, 1, "/data", "part_%b.h5", "%b")


def test_virtual_source_with_external_raw_files_is_refused(
    cli: Cli, site: Path, tmp_path: Path
) -> None:
    """When HDF5 reads a virtual dataset, its sources' external raw files are looked for in
    the current directory, whatever the access properties say: refused."""
    h5 = site / "nested.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("/raw", FRAMES.shape, FRAMES.dtype, external=[("raw.bin", 0, 120)])
        layout = h5py.VirtualLayout(FRAMES.shape, FRAMES.dtype)
        layout[:] = h5py.VirtualSource(".", "/raw", shape=FRAMES.shape)
        f.create_virtual_dataset("/entry/det/data", layout, fillvalue=0)
    out = tmp_path / "out"
    code, _, err = cli("convert", h5, "-s", "det", "-o", out)
    assert_one_error(code, err, 1, "/entry/det/data", "/raw", "current directory", "refused")
    assert_no_output(out)


def converts_and_verifies(cli: Cli, h5: Path, out: Path) -> None:
    """Stream `det` of `h5` converts to FRAMES (not SECRET), and verifies."""
    code, _, err = cli("convert", h5, "--stream", "det", "-o", out, "-q")
    assert code == 0, err
    assert np.array_equal(np.stack(decoded_frames(out / "det.cbors", "det")), FRAMES)
    code, _, err = cli("verify", h5, out / "det.cbors")
    assert code == 0, err


@pytest.mark.parametrize("kind", ["link", "virtual"])
def test_absolute_names_outside_are_read_beside(
    cli: Cli, site: Path, tmp_path: Path, kind: str
) -> None:
    """An absolute link or source path outside the folder that exists (a file of that name
    outside holds other data) is not read: the file of that name beside the input is."""
    with h5py.File(site / "secret.h5", "w") as f:
        f["data"] = FRAMES
    h5 = input_with(site, kind, str(site.parent / "elsewhere" / "secret.h5"))
    converts_and_verifies(cli, h5, tmp_path / "out")
    entry = listing(cli, h5)["/entry/det/data"]
    assert entry["stream"] == "--stream det=/entry/det/data"
    if kind == "virtual":  # the source shows as the file read
        assert [(s["file"], s["exists"]) for s in entry["sources"]] == [
            (str(site / "secret.h5"), True)
        ]


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
@pytest.mark.parametrize("kind", ["link", "virtual"])
@pytest.mark.parametrize("command", ["convert", "ls"])
def test_no_file_call_touches_the_path_outside(
    site: Path, tmp_path: Path, kind: str, command: str
) -> None:
    """Traced, neither h5tocbors nor HDF5 opens, or even looks at, the path outside."""
    with h5py.File(site / "secret.h5", "w") as f:
        f["data"] = FRAMES
    h5 = input_with(site, kind, str(site.parent / "elsewhere" / "secret.h5"))
    trace = tmp_path / "trace.txt"
    args = ["-s", "det", "-o", tmp_path / "out", "-q"] if command == "convert" else []
    traced = ["strace", "-f", "-qq", "-e", "trace=%file", "-o", trace]
    result = subprocess.run(
        [*traced, BIN / "h5tocbors", command, h5, *args], capture_output=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    calls = trace.read_text().splitlines()
    assert any(str(site / "secret.h5") in call for call in calls)  # the trace works
    assert not [call for call in calls if "elsewhere" in call]


def write_per_frame_vds(path: Path, names: list[str]) -> None:
    """A virtual dataset of one frame per source file, as Sardana's recorder makes from its
    `h5file://` references (each source a whole 2-D dataset), and a frame of its own file."""
    with h5py.File(path, "w") as f:
        f["own"] = FRAMES[-1]
        layout = h5py.VirtualLayout(FRAMES.shape, FRAMES.dtype)
        for i, name in enumerate(names):
            layout[i] = h5py.VirtualSource(name, "/data", shape=FRAMES.shape[1:])
        layout[len(names)] = h5py.VirtualSource(".", "/own", shape=FRAMES.shape[1:])
        f.create_virtual_dataset("/entry/det/data", layout, fillvalue=0)


def test_sardana_like_virtual_dataset_resolves_every_source_beside(
    cli: Cli, site: Path, tmp_path: Path
) -> None:
    """Absolute names of a beamline's folder and of one outside, a `///` spelling, `%` in a
    name, and the file itself: each frame read from the file beside."""
    beamline = Path("/data/visit/raw")
    files = [f"point_{i}.h5" if i != 2 else "100%_point.h5" for i in range(5)]
    for i, name in enumerate(files):
        with h5py.File(site / name, "w") as f:
            f["data"] = FRAMES[i]
        with h5py.File(site.parent / "elsewhere" / name, "w") as f:
            f["data"] = SECRET[i]
    names = [str(beamline / files[0]), str(site.parent / "elsewhere" / files[1])]
    names += [f"//{beamline / files[2]}".replace("%", "%%"), str(site / files[3]), files[4]]
    h5 = site / "scan.h5"
    write_per_frame_vds(h5, names)
    converts_and_verifies(cli, h5, tmp_path / "out")


def test_a_source_outside_that_is_not_beside_is_refused(
    cli: Cli, site: Path, tmp_path: Path
) -> None:
    """One source of five has no file beside: its frame is refused, naming it; the others
    convert with --frames."""
    names = []
    for i in range(5):
        with h5py.File(site.parent / "elsewhere" / f"p{i}.h5", "w") as f:
            f["data"] = SECRET[i]
        if i != 3:
            with h5py.File(site / f"p{i}.h5", "w") as f:
                f["data"] = FRAMES[i]
        names.append(str(site.parent / "elsewhere" / f"p{i}.h5"))
    h5 = site / "scan.h5"
    write_per_frame_vds(h5, names)
    out = tmp_path / "out"
    code, _, err = cli("convert", h5, "--stream", "det", "-o", out)
    assert_one_error(code, err, 1, "/entry/det/data", "frame 3", names[3], "outside", "refused")
    assert_no_output(out)
    code, _, err = cli("convert", h5, "-s", "det", "--frames", ":3", "-o", out, "-q")
    assert code == 0, err
    assert np.array_equal(np.stack(decoded_frames(out / "det.cbors", "det")), FRAMES[:3])


def test_unlimited_virtual_dataset_outside_is_sized_beside(
    cli: Cli, site: Path, tmp_path: Path
) -> None:
    """HDF5 sizes an unlimited mapping by opening its source: the one beside (6 frames),
    not the one outside (a longer secret)."""
    with h5py.File(site / "secret.h5", "w") as f:
        f["data"] = FRAMES
    with h5py.File(site.parent / "elsewhere" / "secret.h5", "w") as f:
        f["data"] = np.concatenate([SECRET, SECRET])
    h5 = site / "growing.h5"
    write_unlimited_vds(h5, str(site.parent / "elsewhere" / "secret.h5").encode())
    assert listing(cli, h5)["/entry/det/data"]["shape"] == [6, 4, 5]
    out = tmp_path / "out"
    code, _, err = cli("convert", h5, "-s", "det=/entry/det/data", "-o", out, "-q")
    assert code == 0, err
    assert np.array_equal(np.stack(decoded_frames(out / "det.cbors", "det")), FRAMES)


def test_nested_virtual_source_naming_a_file_outside_is_refused(
    cli: Cli, site: Path, tmp_path: Path
) -> None:
    """A virtual source that is itself a virtual dataset over a file outside: HDF5 would
    open that file where it is named, so it is refused, even with a file beside."""
    with h5py.File(site / "secret.h5", "w") as f:
        f["data"] = FRAMES
    inner = input_with(site, "virtual", str(site.parent / "elsewhere" / "secret.h5"))
    h5 = site / "outer.h5"
    with h5py.File(h5, "w") as f:
        layout = h5py.VirtualLayout(FRAMES.shape, FRAMES.dtype)
        layout[:] = h5py.VirtualSource(inner.name, "/entry/det/data", shape=FRAMES.shape)
        f.create_virtual_dataset("/entry/det/data", layout, fillvalue=0)
    out = tmp_path / "out"
    code, _, err = cli("convert", h5, "-s", "det", "-o", out)
    assert_one_error(code, err, 1, "/entry/det/data", "secret.h5", "outside", "refused")
    assert_no_output(out)
