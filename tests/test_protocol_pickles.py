"""Pickles: written loadable under numpy 1.x and 2.x; untrusted ones refused unless plain."""

from __future__ import annotations

import json
import os
import pickle
import pickletools
import subprocess
from collections import OrderedDict
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import cbor2
import h5py
import numpy as np
import pytest

from h5tocbors.capture.encode import StreamPart, encode_message
from h5tocbors.protocols import contrast, xspress
from h5tocbors.protocols.pickles import MAX_DEPTH, RefusedPickle, dumps, loads

from .conftest import run_cli
from .numpy1_check import describe
from .protocol_files import Boom, context, contrast_scan, messages
from .public_data import public_file

NUMPY1_GLOBALS = {
    "collections OrderedDict",
    "numpy.core.multiarray _reconstruct",
    "numpy ndarray",
    "numpy dtype",
    "_codecs encode",
}
AWKWARD = OrderedDict(
    f8=np.array([0.1, -0.0, np.inf, 5e-324]),
    f4=np.arange(3, dtype=np.float32) / 3,
    be=np.arange(4, dtype=">u2"),
    fortran=np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3)),
    empty=np.zeros((0, 3)),
    flags=np.array([True, False]),
    text=np.array(["ab", "c"]),
    complex=np.array([1 + 2j]),
    nested={"x": np.arange(2.0), "none": None, "tuple": (1, "two", b"3", 4.5)},
)


def globals_of(data: bytes) -> set[str]:
    """The module and name of every global a pickle refers to."""
    return {
        str(arg) for op, arg, _ in pickletools.genops(data) if op.name in ("GLOBAL", "INST")
    } | {"STACK_GLOBAL" for op, _, _ in pickletools.genops(data) if op.name == "STACK_GLOBAL"}


@pytest.mark.parametrize("protocol", [2, 3])
def test_dumps_names_numpy1_globals_and_round_trips(protocol: int) -> None:
    data = dumps(AWKWARD, protocol)
    assert globals_of(data) <= NUMPY1_GLOBALS | {"__builtin__ bytes"}
    assert describe(pickle.loads(data)) == describe(AWKWARD)
    assert describe(loads(data)) == describe(AWKWARD)
    assert loads(data)["fortran"].flags["F_CONTIGUOUS"]


def test_values_that_spell_the_global_are_left_alone() -> None:
    """Array bytes or strings that read `numpy._core...` are data, not opcodes to rewrite."""
    spelled = b"cnumpy._core.multiarray\n_reconstruct\n"
    message = OrderedDict(
        text="numpy._core.multiarray", data=np.frombuffer(spelled, np.uint8), x=np.arange(3)
    )
    for protocol in (2, 3):
        data = dumps(message, protocol)
        assert globals_of(data) <= NUMPY1_GLOBALS
        assert describe(pickle.loads(data)) == describe(message) == describe(loads(data))


def test_plain_numpy2_pickles_load_too() -> None:
    for protocol in (2, 3, 4):
        data = pickle.dumps(AWKWARD, protocol)
        assert describe(loads(data)) == describe(AWKWARD)


def test_writers_pickles_load_under_numpy1(tmp_path: Path) -> None:
    """Writes the pickles of real writers with what they must load as; `make test-numpy1`
    loads them again in a venv with numpy 1.x (H5TOCBORS_NUMPY1_PICKLES names the folder)."""
    out = Path(os.environ.get("H5TOCBORS_NUMPY1_PICKLES", tmp_path / "pickles"))
    out.mkdir(parents=True, exist_ok=True)
    master = contrast_scan(tmp_path)
    with h5py.File(master, "r") as f:
        payloads = {
            f"contrast-{k}": m.frames[0]
            for k, m in enumerate(
                messages(contrast.open_writer(f["/entry"], context()), "contrast")
            )
        }
        group = f["/entry/measurement/xspress3"]
        xspress_msgs = messages(xspress.open_writer(group, context()), "xspress")
    payloads["xspress-meta"] = xspress_msgs[1].frames[2]
    payloads["awkward"] = dumps(AWKWARD)
    for name, data in payloads.items():
        assert globals_of(data) <= NUMPY1_GLOBALS | {"__builtin__ bytes"}, name
        assert b"numpy._core" not in data
        (out / f"{name}.pickle").write_bytes(data)
        (out / f"{name}.json").write_text(json.dumps(describe(pickle.loads(data))))
    assert describe(loads(payloads["contrast-1"])) == describe(pickle.loads(payloads["contrast-1"]))


def hostile(marker: Path) -> dict[str, bytes]:
    """Pickles that must be refused, each for its own reason."""
    dtype_o = pickle.dumps(np.dtype("O"), 2)
    return {
        "os.system by GLOBAL and REDUCE": f"cos\nsystem\n(S'touch {marker}'\ntR.".encode(),
        "builtins.eval": b"cbuiltins\neval\n(S'1+1'\ntR.",
        "a function by STACK_GLOBAL": pickle.dumps(Boom(marker), 4),
        "a class instance": pickle.dumps(Boom(marker), 2),
        "an object array": pickle.dumps(np.array([1, "x"], dtype=object), 2),
        "a structured array": pickle.dumps(np.zeros(2, "i4,f8"), 2),
        "a bare object dtype": dtype_o,
        "another codec": b"c_codecs\nencode\n(Vx\nVrot13\ntR.",
        "bytes of a size": b"\x80\x02c__builtin__\nbytes\nJ\x00\xca\x9a;\x85R.",
        "_reconstruct of a list": b"\x80\x02cnumpy.core.multiarray\n_reconstruct\n"
        b"c__builtin__\nlist\nK\x00\x85C\x01b\x87R.",
        "a set": pickle.dumps({1, 2}, 2),
        "a persistent id": b"\x80\x02X\x01\x00\x00\x00xQ.",
        "a truncated pickle": dumps({"x": np.arange(3.0)})[:-5],
        "a list that holds itself": b"\x80\x02]q\x00h\x00a.",
        "deep nesting": b"\x80\x02" + b"]" * (MAX_DEPTH + 5) + b"a" * (MAX_DEPTH + 4) + b".",
        "array data of the wrong size": dumps(np.arange(4.0)).replace(b"K\x04\x85", b"K\x05\x85"),
    }


def test_hostile_pickles_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    cases = hostile(marker)
    for name, data in cases.items():
        with pytest.raises(RefusedPickle):
            loads(data)
        assert not marker.exists(), name
    with pytest.raises(RefusedPickle, match=r"os\.system, which is not allowed"):
        loads(cases["os.system by GLOBAL and REDUCE"])
    with pytest.raises(RefusedPickle, match="dtype 'O8' is not a plain"):
        loads(cases["an object array"])
    with pytest.raises(RefusedPickle, match="contains itself"):
        loads(cases["a list that holds itself"])
    with pytest.raises(RefusedPickle, match="nested deeper"):
        loads(cases["deep nesting"])


@pytest.mark.parametrize("spec", [b"f0", b"i3", b"c4", b"b2"])
def test_dtype_sizes_numpy_has_no_type_for(spec: bytes) -> None:
    """An array of dtype 'f0' in an xspress meta list was "unexpected TypeError" from numpy
    in `inspect` and `verify` (found by the fuzz, `test_fuzz.py`)."""
    data = dumps(np.arange(4.0)).replace(b"X\x02\x00\x00\x00f8", b"X\x02\x00\x00\x00" + spec)
    assert data != dumps(np.arange(4.0))
    with pytest.raises(RefusedPickle, match=f"dtype '{spec.decode()}' is no numpy dtype"):
        loads(data)


def test_shared_references_do_not_multiply_memory() -> None:
    """One byte string referenced by many arrays would be copied once per array."""
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R"
        b"(K\x01J\x00\x00\x10\x00\x85cnumpy\ndtype\nX\x02\x00\x00\x00u1\x89\x88\x87R"
        b"(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89h\x00tb"
    )
    data = b"\x80\x03B\x00\x00\x10\x00" + b"x" * (1 << 20) + b"q\x00(" + array * 100 + b"l."
    assert len(data) < 2 << 20
    with pytest.raises(RefusedPickle, match="more data than it holds"):
        loads(data)
    one = b"\x80\x03B\x00\x00\x10\x00" + b"x" * (1 << 20) + b"q\x00(" + array + b"l."
    assert loads(one)[0].nbytes == 1 << 20


def test_steps_of_many_values_inspect_and_verify(tmp_path: Path) -> None:
    """Protocol 2 pickles array bytes as latin-1 text (`_codecs.encode`); those bytes were
    counted twice against a budget of the pickle's size, so `inspect` and `verify --scan`
    refused every `running` message of a step of about 1,000 values or more ("the pickle
    makes more data than it holds")."""
    master = contrast_scan(tmp_path, lines=2, per_line=10_000)
    out = tmp_path / "out"
    converted = run_cli("convert", master, "--scan", "--stream", "contrast", "-o", out)
    assert converted.returncode == 0, converted.stderr
    inspected = run_cli("inspect", out / "contrast.cbors")
    assert inspected.returncode == 0, inspected.stdout
    assert "2 steps" in inspected.stdout and "problem" not in inspected.stdout
    verified = run_cli("verify", master, out / "contrast.cbors", "--scan")
    assert verified.returncode == 0, verified.stderr


def ingested(path: Path) -> Iterator[bytes]:
    """The frames of a `.pkls` file as dranspose's replay reads it: pickled worker messages,
    one after another (public data, trusted: loaded with dranspose's classes)."""
    with path.open("rb") as f:
        while f.peek(1):
            for stream in pickle.load(f).streams.values():
                yield from stream.frames


def dumped(path: Path) -> Iterator[bytes]:
    """The frames of a dump of raw zmq messages: CBOR arrays of frames, one after another."""
    with path.open("rb") as f:
        while f.peek(1):
            yield from cbor2.load(f)


def test_real_contrast_pickles_load() -> None:
    """NanoMAX scan 8 (11 steps of 101 points) as h5tocbors writes it, its pickles as contrast
    sent them (drp-nanomax's ingest), and those in dranspose's tests load as pickle loads them."""
    nanomax = "maxiv-science/drp-nanomax"
    with h5py.File(public_file(nanomax, "data/000008.h5"), "r") as f:
        writer = contrast.open_writer(f["/entry"], context())
        written = [m.frames[0] for m in messages(writer, "contrast")]
    assert len(written) == 13
    sent = [
        *ingested(public_file(nanomax, "data/contrast_ingest.pkls")),
        *dumped(public_file("felix-engelmann/dranspose", "tests/data/contrast-dump.cbors")),
    ]
    assert len(sent) == 48
    for data in written + sent:
        assert describe(loads(data)) == describe(pickle.loads(data))


def test_oversized_payload_is_refused_unread() -> None:
    with pytest.raises(RefusedPickle, match="larger than 10"):
        loads(b"\x80\x02" + b"N" * 20 + b".", max_bytes=10)


def test_lengths_beyond_the_data_are_refused_before_anything_is_allocated(
    tmp_path: Path,
) -> None:
    """A pickle of 120 bytes that declares a bytearray of 2**62 bytes: the unpickler tried to
    allocate it, and Python printed "SystemError: deallocated bytearray object has exported
    buffers" beside `inspect`'s output (found by the fuzz, `test_fuzz.py`)."""
    data = b"\x80\x02}q\x00\x96" + (2**62 + 12345).to_bytes(8, "little") + b"x" * 100 + b"."
    with pytest.raises(RefusedPickle, match="bytearray8, but only 101 remain"):
        loads(data)
    result = inspect_events(tmp_path, data)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "bytearray8" in result.stdout


def inspect_events(folder: Path, pickled: bytes) -> subprocess.CompletedProcess[str]:
    """`inspect --events` of a capture of one contrast message: `pickled`."""
    capture = folder / "contrast.cbors"
    started = datetime(2026, 1, 2, tzinfo=timezone.utc)
    message = encode_message(0, {"contrast": StreamPart("contrast", [pickled])}, started)
    capture.write_bytes(b"".join(bytes(b) for b in message))
    return run_cli("inspect", "--events", capture)


def array_pickle(shape: tuple[int, ...], dtype: str = "u1", data: bytes = b"") -> bytes:
    """A protocol 3 pickle of an array as numpy writes one, of any shape, dtype and data."""

    def part(value: object) -> bytes:
        return pickle.dumps(value, 3)[2:-1]

    return (
        b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R"
        + b"(K\x01"
        + part(shape)
        + b"cnumpy\ndtype\n"
        + part(dtype)
        + b"\x89\x88\x87R(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89"
        + part(data)
        + b"tb."
    )


def collisions(keys: int, protocol: int = 2) -> bytes:
    """A dict whose int keys, multiples of 2**61 - 1, all hash alike (0)."""
    return pickle.dumps(dict.fromkeys(k * (2**61 - 1) for k in range(keys)), protocol)


@pytest.mark.parametrize(
    ("data", "refusal"),
    [
        (b"\x80\x02}N" + b"\x85" * 1_000_000 + b"Ns.", "a dict key that is not a str"),
        (collisions(5000), "a dict key that is not a str"),
        (pickle.dumps({1.5: 0}, 2), "a dict key that is not a str"),
        (pickle.dumps({(2**61 - 1) * k for k in range(100)}, 4), "a set member that is not"),
        (pickle.dumps(frozenset({"a", 7}), 4), "a set member that is not a str"),
        (array_pickle((1,) * 65, data=b"x"), "array of 65 dimensions, more than 32"),
        (array_pickle((0,), "S0"), "dtype 'S0' has no size"),
        (array_pickle((0,), "U0"), "dtype 'U0' has no size"),
        (array_pickle((0, 2**26, 2**26, 2**26)), r"array of shape \(0, 67108864.* spans more"),
        (pickle.dumps({"x": 10**5000}, 2), "an int of 16610 bits, more than 4096"),
    ],
    ids=[
        "tuple-key-1e6-deep",
        "colliding-int-keys",
        "float-key",
        "colliding-int-set",
        "int-in-frozenset",
        "65-dimensions",
        "S0",
        "U0",
        "empty-but-huge",
        "int-of-5001-digits",
    ],
)
def test_payloads_that_crashed_hung_or_failed_are_refused(data: bytes, refusal: str) -> None:
    """A tuple nested 10**6 deep as a dict key crashed the process (SIGSEGV, as it was
    hashed); int keys that hash alike took 36 s of CPU for 750 KB; the rest was "unexpected
    ValueError" from numpy or from printing the int. Each is refused before it is made."""
    with pytest.raises(RefusedPickle, match=refusal):
        loads(data)


def test_str_keys_and_members_load() -> None:
    """What contrast and xspress3 send (str keys), and sets of str, load as they are."""
    shared = "shared"  # one str, pickled once and then fetched from the memo as a key
    plain = OrderedDict(a={"b": [1, 2.5, None, True]}, c=("x", b"y"), d=[{shared: 1}, {shared: 2}])
    for protocol in (0, 1, 2, 3, 4, 5):
        assert loads(pickle.dumps(plain, protocol)) == plain
    members = {"s": {"a", "b"}, "f": frozenset({"c"})}
    assert loads(pickle.dumps(members, 4)) == members


def test_deep_key_in_a_capture_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    """`inspect` reported "crashed (SIGSEGV) ... corrupt HDF5 metadata" for this capture."""
    result = inspect_events(tmp_path, b"\x80\x02}N" + b"\x85" * 1_000_000 + b"Ns.")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "refused: a dict key that is not a str" in result.stdout


def test_huge_int_in_a_capture_is_a_problem(tmp_path: Path) -> None:
    """`inspect --events` failed with "unexpected ValueError" printing a scan number of 5,001
    digits (Python prints no int of over 4,300)."""
    result = inspect_events(tmp_path, pickle.dumps({"scannr": 10**5000, "status": "started"}, 2))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "refused: an int of 16610 bits, more than 4096" in result.stdout


def test_build_on_a_global_changes_nothing_for_later_loads() -> None:
    """BUILD on `numpy.dtype` set its stand-in's defaults: `numpy.dtype()` without a spec then
    made a uint8 dtype in every later load of the process."""
    defaults = b"\x80\x02cnumpy\ndtype\nN}X\x0c\x00\x00\x00__defaults__X\x02\x00\x00\x00u1"
    build = defaults + b"\x89\x89\x87s\x86b."
    bare = b"\x80\x02cnumpy\ndtype\n)R."
    with pytest.raises(RefusedPickle):
        loads(build)
    with pytest.raises(RefusedPickle, match="missing 1 required positional argument: 'spec'"):
        loads(bare)
    with pytest.raises(RefusedPickle, match="sets the state of a global"):
        loads(build)
