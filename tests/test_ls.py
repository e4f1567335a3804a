"""`h5tocbors ls`: every dataset with its storage, and how to convert it."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest

from .conftest import BIN, REPO, Cli, listing
from .scan_files import write_xspress3
from .test_errors import assert_one_error


@pytest.fixture
def scan(tmp_path: Path) -> Path:
    """Datasets stored every way `ls` tells apart."""
    frames = np.zeros((3, 8, 10), np.uint16)
    for i in range(2):
        with h5py.File(tmp_path / f"part{i}.h5", "w") as f:
            f["data"] = frames
    path = tmp_path / "scan.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("lz4", data=frames, chunks=(1, 8, 10), **hdf5plugin.Bitshuffle())
        f.create_dataset(
            "zstd", data=frames, chunks=(1, 8, 10), **hdf5plugin.Bitshuffle(cname="zstd")
        )
        f.create_dataset("gz", data=frames, chunks=(1, 8, 10), compression="gzip", shuffle=True)
        f.create_dataset("lzf", data=frames, chunks=(3, 8, 10), compression="lzf")
        f.create_dataset("plain", data=frames)
        f["instrument/eiger/data"] = frames
        f["positions"] = np.arange(3.0)
        f["title"] = "a scan"
        f["table"] = np.zeros(3, dtype=[("x", "f4"), ("y", "i4")])
        f["alias"] = h5py.SoftLink("/lz4")
        layout = h5py.VirtualLayout((6, 8, 10), np.uint16)
        for i in range(2):
            layout[3 * i : 3 * i + 3] = h5py.VirtualSource(f"part{i}.h5", "data", (3, 8, 10))
        f.create_virtual_dataset("vds", layout)
        f.create_dataset("ext", (2, 4, 4), "u1", external=[("raw.bin", 0, 32)])
    (tmp_path / "part1.h5").unlink()
    return path


def test_storage_and_filters(cli: Cli, scan: Path) -> None:
    ds = listing(cli, scan)
    assert ds["/lz4"]["filters"] == ["bitshuffle-lz4"]
    assert ds["/zstd"]["filters"] == ["bitshuffle-zstd"]
    assert ds["/gz"]["filters"] == ["shuffle", "gzip"]
    assert ds["/lzf"]["filters"] == ["lzf"] and ds["/lzf"]["chunks"] == [3, 8, 10]
    assert ds["/plain"]["layout"] == "contiguous" and ds["/plain"]["filters"] == []
    assert (ds["/lz4"]["shape"], ds["/lz4"]["dtype"]) == ([3, 8, 10], "uint16")


def test_fast_path_and_stream_arguments(cli: Cli, scan: Path) -> None:
    ds = listing(cli, scan)
    assert [p for p, d in ds.items() if d["fast_path"]] == ["/lz4"]
    assert ds["/lz4"]["stream"] == "--stream lz4=/lz4"
    assert ds["/instrument/eiger/data"]["stream"] == "--stream eiger=/instrument/eiger/data"
    assert ds["/lz4"]["links"] == ["/alias"] and "/alias" not in ds
    for path in ("/positions", "/title", "/table"):
        assert not ds[path]["image"] and ds[path]["stream"] is None
    assert ds["/title"]["dtype"] == "string" and ds["/table"]["dtype"] == "compound"


def test_virtual_and_external_sources(cli: Cli, scan: Path) -> None:
    ds = listing(cli, scan)
    vds = ds["/vds"]
    assert vds["layout"] == "virtual"
    part0, part1 = vds["sources"]
    assert part0 == {
        "file": "part0.h5",
        "dataset": "data",
        "exists": True,
        "problem": None,
        "refused": False,
    }
    assert (part1["file"], part1["exists"], part1["refused"]) == ("part1.h5", False, False)
    assert part1["problem"].startswith("part1.h5 is missing")
    assert not vds["image"] and vds["stream"] is None  # no --stream: its data is not all there
    assert vds["note"].startswith("missing source part1.h5:data: part1.h5 is missing")
    ext = ds["/ext"]
    assert ext["layout"] == "external" and ext["stream"] is None
    assert [(s["file"], s["dataset"], s["exists"]) for s in ext["sources"]] == [
        ("raw.bin", None, False)
    ]


def test_table(cli: Cli, scan: Path) -> None:
    code, out, _ = cli("ls", scan)
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "chunked 1x8x10 bitshuffle-lz4" in rows["/lz4"] and " yes " in rows["/lz4"]
    assert "--stream lz4=/lz4" in rows["/lz4"] and "also at /alias" in rows["/lz4"]
    assert "virtual (2 sources, 1 missing)" in rows["/vds"]
    assert "string data" in rows["/title"]


def test_sample_data(cli: Cli) -> None:
    ds = listing(cli, REPO / "sample_data" / "pilatus_100k.h5")
    frames = ds["/entry/measurement/pilatus/frames"]
    assert frames["fast_path"] and frames["stream"].startswith("--stream pilatus=")


@pytest.mark.parametrize("content", [None, b"not hdf5"])
def test_bad_input(cli: Cli, tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "x.h5"
    if content is not None:
        path.write_bytes(content)
    code, _, err = cli("ls", path)
    assert code == 1 and len(err.splitlines()) == 1 and "x.h5" in err


def test_compact_layout(cli: Cli, tmp_path: Path) -> None:
    """A dataset stored in its object header is shown as compact, not contiguous."""
    path = tmp_path / "compact.h5"
    with h5py.File(path, "w") as f:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        space = h5py.h5s.create_simple((2, 3, 4))
        h5py.h5d.create(f.id, b"small", h5py.h5t.STD_U8LE, space, dcpl=dcpl)
    assert listing(cli, path)["/small"]["layout"] == "compact"
    code, out, _ = cli("ls", path)
    assert code == 0 and "compact none" in out


def test_stream_argument_is_quoted_for_a_shell(cli: Cli, tmp_path: Path) -> None:
    """A path with spaces or quotes is suggested quoted, and the suggestion works in a shell."""
    path = tmp_path / "odd names.h5"
    with h5py.File(path, "w") as f:
        f["/entry/my det's/data"] = np.zeros((2, 3, 4), np.uint8)
    stream = listing(cli, path)["/entry/my det's/data"]["stream"]
    assert stream == "--stream 'my_det_s=/entry/my det'\"'\"'s/data'"
    assert shlex.split(stream) == ["--stream", "my_det_s=/entry/my det's/data"]
    out = tmp_path / "out"
    program, h5, directory = (shlex.quote(str(p)) for p in (BIN / "h5tocbors", path, out))
    command = f"{program} convert {h5} {stream} -o {directory} -q"
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (out / "my_det_s.cbors").exists()


def typed_dataset(f: h5py.Group, name: str, tid: h5py.h5t.TypeID, shape: tuple[int, ...]) -> None:
    """A dataset of an HDF5 type made with h5py's low-level API (one numpy may lack)."""
    h5py.h5d.create(f.id, name.encode(), tid, h5py.h5s.create_simple(shape))


@pytest.fixture
def odd_types(tmp_path: Path) -> Path:
    """Healthy datasets of types numpy lacks or names by size, beside an image stack (as
    in PyTables' float.h5 and times-nested-be.h5)."""
    quad = h5py.h5t.IEEE_F64LE.copy()
    quad.set_size(16)
    quad.set_precision(128)
    quad.set_fields(127, 112, 15, 0, 112)
    quad.set_ebias(16383)
    nested = h5py.h5t.create(h5py.h5t.COMPOUND, 12)
    nested.insert(b"t", 0, h5py.h5t.UNIX_D32BE)
    nested.insert(b"x", 4, h5py.h5t.IEEE_F64BE)
    path = tmp_path / "types.h5"
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((3, 8, 8), np.uint16)
        typed_dataset(f, "quadprecision", quad, (4,))
        typed_dataset(f, "time", h5py.h5t.UNIX_D32LE.copy(), (3,))
        typed_dataset(f, "nested", nested, (3,))
        typed_dataset(f, "long_double", h5py.h5t.NATIVE_LDOUBLE.copy(), (2, 8, 8))
        typed_dataset(f, "vectors", h5py.h5t.array_create(h5py.h5t.IEEE_F64LE, (3,)), (5, 4, 4))
        f["opaque"] = np.zeros(3, "V24")
        f["complex_long_double"] = np.zeros(3, np.clongdouble)
    return path


def test_types_numpy_lacks_are_listed_and_named(cli: Cli, odd_types: Path) -> None:
    ds = listing(cli, odd_types)
    assert ds["/images"]["stream"] == "--stream images=/images"
    for path, dtype in [
        ("/quadprecision", "128-bit float (quadruple precision)"),
        ("/time", "HDF5 time (32-bit)"),
        ("/nested", "compound"),
    ]:
        assert (ds[path]["dtype"], ds[path]["image"]) == (dtype, False)
        assert (
            ds[path]["note"] == f"{dtype} data: numpy has no such type, so h5tocbors cannot read it"
        )
    assert ds["/vectors"]["dtype"] == "array of 3 float64"
    assert ds["/long_double"]["dtype"] == "80-bit extended float (long double)"
    assert ds["/opaque"]["dtype"] == "opaque (24 bytes)"  # numpy's name: void192
    assert ds["/complex_long_double"]["dtype"] == "complex 80-bit extended float (long double)"
    assert not ds["/long_double"]["image"]


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/time", "HDF5 time (32-bit) data: numpy has no such type"),
        ("/long_double", "80-bit extended float (long double) data: STINS images carry numbers"),
        ("/vectors", "array of 3 float64 data"),
    ],
)
def test_convert_refuses_odd_types_by_name(
    cli: Cli, odd_types: Path, tmp_path: Path, path: str, named: str
) -> None:
    code, _, err = cli("convert", odd_types, "-o", tmp_path / "out", "--stream", f"x={path}")
    assert code == 1 and named in err and "unexpected" not in err
    assert not (tmp_path / "out" / "x.cbors").exists()


def test_no_stream_offered_that_convert_refuses(cli: Cli, tmp_path: Path) -> None:
    """Empty datasets (PyTables indexes, NWB) and data behind a filter with no plugin here
    (mafisc, bitgroom, jpeg) were offered a --stream that convert always refuses."""
    path = tmp_path / "refused.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("empty", (0, 8, 8), "u2", chunks=(1, 8, 8), maxshape=(None, 8, 8))
        f.create_dataset("rows", (0, 8), "f4")
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((1, 8, 8))
        dcpl.set_filter(32002, h5py.h5z.FLAG_OPTIONAL, ())  # mafisc: written unfiltered
        space = h5py.h5s.create_simple((3, 8, 8))
        h5py.h5d.create(f.id, b"mafisc", h5py.h5t.STD_U16LE, space, dcpl)
        f["mafisc"][...] = np.ones((3, 8, 8), np.uint16)
    ds = listing(cli, path)
    refused = {"empty": "holds no frames", "rows": "holds no frames", "mafisc": "(mafisc)"}
    for name, why in refused.items():
        assert (ds[f"/{name}"]["stream"], ds[f"/{name}"]["image"]) == (None, False)
        code, _, err = cli("convert", path, "-o", tmp_path / name, "--stream", f"x=/{name}")
        assert_one_error(code, err, 1, f"/{name}", why)
    assert ds["/empty"]["note"] == ds["/rows"]["note"] == "empty: no frames"
    assert ds["/mafisc"]["note"].startswith("filter 32002 (mafisc) is not available")


def test_stream_names_find_no_dataset_that_convert_refuses(cli: Cli, tmp_path: Path) -> None:
    """`--stream NAME` weighed an empty dataset and one without its filter plugin like any
    image: "several datasets match", suggesting `--stream pilatus=/a/pilatus/data`, which
    convert refuses, and listing them among the image datasets of the file."""
    path = tmp_path / "scan.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("a/pilatus/data", (0, 8, 8), "u2", chunks=(1, 8, 8), maxshape=(None, 8, 8))
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((1, 8, 8))
        dcpl.set_filter(32002, h5py.h5z.FLAG_OPTIONAL, ())  # mafisc, as above
        group = f.create_group("c/pilatus")
        h5py.h5d.create(
            group.id, b"data", h5py.h5t.STD_U16LE, h5py.h5s.create_simple((3, 8, 8)), dcpl
        )
        f["b/pilatus/data"] = np.ones((3, 8, 8), np.uint16)
        f["values"] = np.ones(3)
    code, out, err = cli("convert", path, "-s", "pilatus", "-o", tmp_path / "out")
    assert code == 0 and "from /b/pilatus/data" in out, err
    code, _, err = cli("convert", path, "-s", "values", "-o", tmp_path / "out2")
    line = assert_one_error(code, err, 1, "its image datasets: /b/pilatus/data (3, 8, 8);")
    assert "/a/pilatus" not in line and "/c/pilatus" not in line


def test_suggested_stream_names_are_not_too_long(cli: Cli, tmp_path: Path) -> None:
    """A group of 240 characters gave `--stream dddd...=`, which convert refuses as longer
    than 200 characters; its long name is no name either when it collides."""
    path = tmp_path / "long.h5"
    with h5py.File(path, "w") as f:
        f[f"{'d' * 240}/data"] = np.zeros((3, 8, 8), np.uint16)
        f[f"{'d' * 240}/data2/data"] = np.zeros((3, 8, 8), np.uint16)
    streams = [d["stream"] for d in listing(cli, path).values() if d["stream"]]
    names = [shlex.split(s)[1] for s in streams]
    assert [n.split("=")[0] for n in names] == ["stream", "data2"], names
    code, _, err = cli(
        "convert", path, "-o", tmp_path / "out", *(a for n in names for a in ("-s", n))
    )
    assert (code, err) == (0, "")


def test_suggested_stream_names_are_unique(cli: Cli, tmp_path: Path) -> None:
    """Every Delmic acquisition was `ImageData=`, an xspress3 group and its `data` both
    `xspress3=`: pasting two suggestions gave "given twice"."""
    path = tmp_path / "delmic.h5"
    with h5py.File(path, "w") as f:
        for i in range(2):
            f[f"Acquisition{i}/ImageData/Image"] = np.zeros((3, 8, 8), np.uint16)
    write_xspress3(tmp_path / "xspress3.h5", frames=3)
    streams = [d["stream"] for d in listing(cli, path).values() if d["stream"]]
    assert streams == [
        "--stream Acquisition0_ImageData=/Acquisition0/ImageData/Image",
        "--stream Acquisition1_ImageData=/Acquisition1/ImageData/Image",
    ]
    xspress = listing(cli, tmp_path / "xspress3.h5")
    group, data = (xspress[f"/entry/instrument/xspress3{p}"]["stream"] for p in ("", "/data"))
    assert group.startswith("--stream xspress3=/entry/instrument/xspress3")
    assert data == "--stream xspress3_data=/entry/instrument/xspress3/data"
    names = [shlex.split(s)[1] for s in streams]
    code, _, err = cli(
        "convert", path, "-o", tmp_path / "out", *(a for n in names for a in ("-s", n))
    )
    assert (code, err) == (0, "")


def test_a_protocol_group_with_a_type_numpy_lacks(cli: Cli, tmp_path: Path) -> None:
    """A PandA-like group with an HDF5 time field: `ls` failed with "unexpected TypeError"
    while looking for streams, and convert called the file corrupt."""
    path = tmp_path / "panda.h5"
    with h5py.File(path, "w") as f:
        group = f.create_group("panda")
        group["A.B_Value"] = np.arange(4.0)
        typed_dataset(group, "C.D_Value", h5py.h5t.UNIX_D32LE.copy(), (4,))
    ds = listing(cli, path)
    assert ds["/panda/C.D_Value"]["dtype"] == "HDF5 time (32-bit)" and "/panda" not in ds
    code, _, err = cli("convert", path, "-s", "p=/panda:pcap-raw", "-o", tmp_path / "out")
    assert code == 1 and "/panda/C.D_Value" in err and "HDF5 time (32-bit) data" in err, err


def test_suggested_names_unique_when_no_longer_name_helps(cli: Cli, tmp_path: Path) -> None:
    """`/a/ImageData/Image` and `/a_ImageData_Image` both ran out of longer names at
    `a_ImageData_Image=`: two suggestions, one name, and "given twice" when pasted."""
    path = tmp_path / "clash.h5"
    with h5py.File(path, "w") as f:
        for name in (
            "b/ImageData/Image",
            "a/ImageData/Image",
            "a_ImageData/Image",
            "a_ImageData_Image",
        ):
            f[name] = np.zeros((3, 8, 8), np.uint16)
    streams = [d["stream"] for d in listing(cli, path).values() if d["stream"]]
    names = [shlex.split(s)[1] for s in streams]
    assert len({n.split("=")[0] for n in names}) == 4, names
    code, _, err = cli(
        "convert", path, "-o", tmp_path / "out", *(a for n in names for a in ("-s", n))
    )
    assert (code, err) == (0, "")
