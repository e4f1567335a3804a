"""EIGER_LEGACY writer, inspector and comparer: against dranspose's real dump
`tests/data/eiger-small.cbors`, its parser, and the real `dranspose replay`."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import cbor2
import h5py
import hdf5plugin
import numpy as np
import pytest
from bitshuffle import compress_lz4, decompress_lz4
from dranspose.data.eiger_legacy import EigerLegacyEnd, EigerLegacyHeader, EigerLegacyImage
from dranspose.event import StreamData
from dranspose.middlewares.eiger_legacy import parse

from h5tocbors import ReplaySource, convert
from h5tocbors.errors import H5ToCborsError
from h5tocbors.hdf5.passthrough import HEADER
from h5tocbors.protocols import eiger_legacy
from h5tocbors.protocols.registry import by_name, describe_frames

from .conftest import read_capture, run_cli, run_limited
from .dectris_files import SHAPE, dectris_master, images
from .protocol_files import context, inspect_frames, messages
from .public_data import public_file
from .test_replay_e2e import replay

Dump = list[list[bytes]]
SPEC = "eiger=/entry/data:eiger-legacy"
FLOAT32_SETTINGS = {"x_pixel_size", "y_pixel_size"}
"""Settings a DECTRIS master stores as float32."""


@pytest.fixture(scope="module")
def dump() -> Dump:
    """The real capture: header, 3 images, end; each item a plain list of frames."""
    items = []
    with open(public_file("felix-engelmann/dranspose", "tests/data/eiger-small.cbors"), "rb") as f:
        while True:
            try:
                items.append([bytes(frame) for frame in cbor2.load(f)])
            except EOFError:
                return items


def dump_master(directory: Path, dump: Dump) -> Path:
    """`series_6_master.h5` (nine 24x40 uint32 images in three data files) whose detector
    groups hold the dump's `info` and whose count-rate table is the dump's."""
    master = dectris_master(directory, prefix="series_6")
    with h5py.File(master, "a") as f:
        del f["/entry/instrument/detector"]
        specific = f.create_group("/entry/instrument/detector/detectorSpecific")
        detector = specific.parent
        for key, value in json.loads(dump[0][1]).items():
            own = key in ("count_time", "description", *FLOAT32_SETTINGS)
            group = detector if own else specific
            if isinstance(value, str):
                group[key] = np.bytes_(value.encode())
            elif key in FLOAT32_SETTINGS:
                group[key] = np.float32(value)
            else:
                group[key] = value
        specific["flatfield"] = np.linspace(0.5, 1.5, SHAPE[0] * SHAPE[1], dtype="<f4").reshape(
            SHAPE
        )
        mask = (np.arange(SHAPE[0] * SHAPE[1]) % 7 == 0).reshape(SHAPE) * 4
        specific["pixel_mask"] = mask.astype(np.uint32)
        table = np.frombuffer(dump[0][7], "<f4").reshape(1001, 2)
        specific["countrate_correction_table"] = table
    return master


def stored_chunks(master: Path) -> list[bytes]:
    """Every image's chunk as stored, in series order (data files 3, 1, 2 hold 1-3, 4-6, 7-9)."""
    chunks = []
    for n in (3, 1, 2):
        with h5py.File(master.parent / f"series_6_data_{n:06d}.h5", "r") as f:
            dset = f["/entry/data/data"]
            chunks += [dset.id.read_direct_chunk((k, 0, 0))[1] for k in range(dset.shape[0])]
    return chunks


def written(master: Path) -> list[StreamData]:
    with h5py.File(master, "r") as f:
        return messages(eiger_legacy.open_writer(f["/entry/data"], context()), "EIGER_LEGACY")


def test_messages_are_the_real_dumps(tmp_path: Path, dump: Dump) -> None:
    """Byte for byte where the master holds it: the header's JSON, info and count-rate table,
    the JSON of every image but its hash, size, shape and time base, the series end."""
    msgs = written(dump_master(tmp_path, dump))
    packets = [parse(m) for m in msgs]
    assert isinstance(packets[0], EigerLegacyHeader) and packets[0].header_detail == "all"
    assert all(isinstance(p, EigerLegacyImage) for p in packets[1:-1])
    assert isinstance(packets[-1], EigerLegacyEnd)
    header = msgs[0].frames
    assert [header[i] for i in (0, 1, 6, 7)] == [dump[0][i] for i in (0, 1, 6, 7)]
    assert header[2] == b'{"htype":"dflatfield-1.0","shape":[40,24],"type":"float32"}'
    assert header[4] == b'{"htype":"dpixelmask-1.0","shape":[40,24],"type":"uint32"}'
    with h5py.File(tmp_path / "series_6_master.h5", "r") as f:
        specific = f["/entry/instrument/detector/detectorSpecific"]
        assert header[3] == specific["flatfield"][()].tobytes()
        assert header[5] == specific["pixel_mask"][()].astype("<u4").tobytes()
    assert header[8] == b"{}"
    assert msgs[-1].frames == dump[-1]
    chunks = stored_chunks(tmp_path / "series_6_master.h5")
    for k, (msg, chunk) in enumerate(zip(msgs[1:-1], chunks)):
        image, data, blob, config, appendix = msg.frames
        assert blob == chunk  # the stored chunk, 12-byte header included
        assert json.loads(image)["hash"] == hashlib.md5(blob).hexdigest()
        real = dump[1][0].replace(b'"frame":0', b'"frame":%d' % k)
        assert re.sub(rb'"hash":"\w+"', b"", image) == re.sub(rb'"hash":"\w+"', b"", real)
        sized = data.replace(b'[40,24],"size":%d' % len(blob), b'[3108,3262],"size":755083')
        assert sized == dump[1][1]
        times = json.loads(config)
        assert times == {
            "htype": "dconfig-1.0",
            "real_time": 9999900,  # count_time 0.0099999 s, as in the dump
            "start_time": k * 10000000,  # frame_time 0.01 s apart, as in the dump
            "stop_time": k * 10000000 + 9999900,
        }
        assert list(times) == list(json.loads(dump[1][3]))
        assert appendix == b"{}"
    assert [len(m.frames) for m in msgs] == [9] + [5] * 9 + [1]


def test_json_is_written_as_the_detector_writes_it(dump: Dump) -> None:
    """Every JSON frame of the real dump but its appendix (written by Python) comes back the
    same from its parsed value: keys sorted, compact, floats as rapidjson prints them."""
    frames = [f for item in dump for i, f in enumerate(item) if f[:1] == b"{" and f[:2] != b"{}"]
    detector = [f for f in frames if b'"collect_dict"' not in f]
    assert len(detector) == 1 + 1 + 3 + 3 * 3 + 1
    for frame in detector:
        assert eiger_legacy.dectris_json(json.loads(frame)) == frame


def test_convert_replay_inspect_verify(tmp_path: Path, dump: Dump) -> None:
    """The CLI: stored chunks passed through (copied by the kernel), the real `dranspose
    replay` parsing every message, `inspect` and `verify` of the capture and of a changed one."""
    master = dump_master(tmp_path, dump)
    out = tmp_path / "out"
    proc = run_cli("convert", master, "-o", out, "--stream", SPEC, "--frames", "2:7")
    assert proc.returncode == 0, proc.stderr
    assert "eiger: EIGER_LEGACY, 5 frames from /entry/data" in proc.stdout
    assert "[passed through]" in proc.stdout
    capture = out / "eiger.cbors"
    record = replay(tmp_path, "-f", capture)
    assert record[0]["eiger"]["info"] == json.loads(dump[0][1])
    chunks = stored_chunks(master)[2:7]
    for k, frame in enumerate(images(range(3, 8))):
        entry = record[k + 1]["eiger"]
        assert (entry["frame"], entry["series"], entry["encoding"]) == (k, 6, "bs32-lz4<")
        assert entry["md5"] == entry["hash"] == hashlib.md5(chunks[k]).hexdigest()
        assert entry["sha256"] == hashlib.sha256(frame.astype("<u4").tobytes()).hexdigest()
        assert entry["shape"] == list(SHAPE)
    assert record[6]["eiger"]["htype"] == "dseries_end-1.0"

    proc = run_cli("inspect", capture)
    assert proc.returncode == 0, proc.stderr
    assert "5 frames" in proc.stdout and "[40, 24] uint32 bs32-lz4<" in proc.stdout
    assert "header flatfield 3840 bytes, pixelmask 3840 bytes" in proc.stdout
    verify = ("verify", master, capture, "--stream", SPEC, "--frames", "2:7")
    proc = run_cli(*verify)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    changed = bytearray(capture.read_bytes())
    at = changed.find(chunks[3][100:140])
    changed[at] ^= 1
    capture.write_bytes(bytes(changed))
    proc = run_cli(*verify)
    assert proc.returncode == 1
    assert "frame 2 differs in 1 of" in proc.stdout + proc.stderr


def test_other_chunks_are_encoded(tmp_path: Path) -> None:
    """One gzip dataset with its settings in its own file: each frame is compressed as the
    HDF5 filter would store it, and the summary says why it was not passed through."""
    path = tmp_path / "gzip.h5"
    frames = images(range(1, 4)).astype(np.uint16)
    with h5py.File(path, "w") as f:
        f.create_dataset("/entry/data/data", data=frames, chunks=(1, *SHAPE), compression="gzip")
        detector = f.create_group("/entry/instrument/detector")
        detector["count_time"] = 0.5
        detector["detectorSpecific/x_pixels_in_detector"] = SHAPE[1]
        detector["detectorSpecific/y_pixels_in_detector"] = SHAPE[0]
    with h5py.File(path, "r") as f:
        writer = eiger_legacy.open_writer(f["/entry/data/data"], context())
        msgs = messages(writer, "EIGER_LEGACY")
        assert writer.fast_path == "filters are gzip, not bitshuffle alone"
    assert json.loads(msgs[0].frames[1]) == {
        "count_time": 0.5,
        "x_pixels_in_detector": 40,
        "y_pixels_in_detector": 24,
    }
    assert msgs[0].frames[2:8] == [
        b'{"htype":"dflatfield-1.0","shape":[0,0],"type":"float32"}',
        b"",
        b'{"htype":"dpixelmask-1.0","shape":[0,0],"type":"uint32"}',
        b"",
        b'{"htype":"dcountrate_table-1.0","shape":[0,0],"type":"float32"}',
        b"",
    ]
    for frame, msg in zip(frames, msgs[1:-1]):
        packet = parse(msg)
        assert isinstance(packet, EigerLegacyImage)
        assert packet.data["encoding"] == "bs16-lz4<" and packet.data["shape"] == [40, 24]
        blob = packet.data["buffer"]
        with h5py.File(tmp_path / "bs.h5", "w") as g:  # as the HDF5 filter stores it
            g.create_dataset("d", data=frame[None], chunks=(1, *SHAPE), **hdf5plugin.Bitshuffle())
            assert blob == g["d"].id.read_direct_chunk((0, 0, 0))[1]
        assert blob[12:] == compress_lz4(frame).tobytes()
        decoded = decompress_lz4(np.frombuffer(blob[12:], np.uint8), SHAPE, np.dtype("<u2"))
        assert np.array_equal(decoded, frame)
        assert json.loads(msg.frames[3])["real_time"] == 500000000
    assert json.loads(msgs[0].frames[0])["series"] == 1  # not named series_<id>_...


def test_a_master_without_the_headers_settings_is_refused(tmp_path: Path) -> None:
    master = dectris_master(tmp_path)
    with h5py.File(master, "a") as f:
        del f["/entry/instrument/detector/count_time"]
        del f["/entry/instrument/detector/detectorSpecific/x_pixels_in_detector"]
    with h5py.File(master, "r") as f, pytest.raises(H5ToCborsError) as err:
        eiger_legacy.open_writer(f["/entry/data"], context())
    assert str(err.value) == (
        f"{master} has no count_time, x_pixels_in_detector in /entry/instrument/detector or its "
        "detectorSpecific/: the legacy Eiger header needs them"
    )
    with h5py.File(master, "a") as f:
        f["/entry/instrument/detector/count_time"] = -1.0
        f["/entry/instrument/detector/detectorSpecific/x_pixels_in_detector"] = 40
    with h5py.File(master, "r") as f, pytest.raises(H5ToCborsError, match=r"count_time is -1\.0"):
        eiger_legacy.open_writer(f["/entry/data"], context())
    proc = run_cli("convert", master, "-o", tmp_path / "out", "--stream", SPEC)
    assert proc.returncode == 1 and "count_time is -1.0, not a time" in proc.stderr
    assert not (tmp_path / "out" / "eiger.cbors").exists()
    with h5py.File(master, "a") as f:
        f["/entry/instrument/detector/count_time"][()] = 0.01
        del f["/entry/instrument/detector/detectorSpecific/pixel_mask"]
        f["/entry/instrument/detector/detectorSpecific/pixel_mask"] = np.zeros(5, np.uint32)
    with h5py.File(master, "r") as f, pytest.raises(H5ToCborsError) as err:
        eiger_legacy.open_writer(f["/entry/data"], context())
    assert str(err.value) == (
        f"'/entry/instrument/detector/detectorSpecific/pixel_mask' in {master}: shape (5,), not 2-D"
    )


def test_a_large_header_array_is_read_once_not_copied(tmp_path: Path) -> None:
    """A 256 MiB flatfield (declared, never written) converts in 768 MiB of address space:
    its bytes go out as read, not copied into a second 256 MiB; a larger one is refused."""
    master = dectris_master(tmp_path)
    flatfield = "/entry/instrument/detector/detectorSpecific/flatfield"
    with h5py.File(master, "a") as f:
        del f[flatfield]
        f.create_dataset(flatfield, shape=(8192, 8192), dtype="f4", chunks=(256, 1024))
    out = tmp_path / "out"
    proc = run_limited("convert", master, "-o", out, "--stream", SPEC, address_space=768 << 20)
    assert proc.returncode == 0, proc.stderr
    assert len(read_capture(out / "eiger.cbors")[0].streams["eiger"].frames[3]) == 256 << 20
    with h5py.File(master, "a") as f:
        del f[flatfield]
        f.create_dataset(flatfield, shape=(8192, 8193), dtype="f4", chunks=(256, 1024))
    proc = run_limited("convert", master, "-o", tmp_path / "o2", "--stream", SPEC)
    assert proc.returncode == 1 and not (tmp_path / "o2").exists()
    assert proc.stderr.endswith("[8192, 8193] float32 is larger than 256 MiB\n"), proc.stderr


def test_one_data_file_of_a_master_takes_the_masters_settings(tmp_path: Path) -> None:
    """A data file named through the master's link has no settings of its own: the header
    holds the master's."""
    master = dectris_master(tmp_path)
    out = tmp_path / "out"
    proc = run_cli("convert", master, "-o", out, "-s", "e=/entry/data/data_000001:eiger-legacy")
    assert proc.returncode == 0, proc.stderr
    msgs = [m.streams["e"] for m in read_capture(out / "e.cbors")]
    assert json.loads(msgs[0].frames[1])["x_pixels_in_detector"] == SHAPE[1]
    assert len(msgs) == 2 + 3  # images 4..6 of the first data file


def test_series_stays_stins_unless_named(tmp_path: Path) -> None:
    master = dectris_master(tmp_path)
    proc = run_cli("convert", master, "-o", tmp_path / "out", "--stream", "eiger=/entry/data")
    assert proc.returncode == 0 and "eiger: STINS" in proc.stdout, proc.stderr
    assert by_name("eiger-legacy") is eiger_legacy


def frames_of(msgs: list[StreamData]) -> list[list[bytes]]:
    return [[bytes(f) for f in m.frames] for m in msgs]


def test_inspector_names_what_is_wrong(tmp_path: Path, dump: Dump) -> None:
    msgs = frames_of(written(dump_master(tmp_path, dump)))
    check, problems = inspect_frames(
        eiger_legacy.EigerLegacyInspector, "EIGER_LEGACY", "eiger", msgs
    )
    assert problems == [] and check.frames == 9
    assert (check.shape, check.type, check.compression) == ([40, 24], "uint32", "bs32-lz4<")
    assert check.details == [
        "header flatfield 3840 bytes, pixelmask 3840 bytes, countrate_table 8008 bytes"
    ]
    assert describe_frames("EIGER_LEGACY", msgs[2]).startswith("dimage frame=1 [85, 90, ")
    assert describe_frames("EIGER_LEGACY", msgs[0]).startswith("dheader series=6 [56, 1231,")
    bad: list[Any] = [msgs[0], msgs[1], msgs[3], msgs[4][:4], list(msgs[5]), [b"\x00"]]
    bad[4][2] = bad[4][2][:-1] + bytes([bad[4][2][-1] ^ 1])
    _, problems = inspect_frames(eiger_legacy.EigerLegacyInspector, "EIGER_LEGACY", "eiger", bad)
    assert problems == [
        "eiger: image at event 2 is frame 2, not 1",
        "eiger: dimage-1.0 at event 3 has 4 zmq frames, not 5",
        "eiger: image at event 4 is frame 4, not 3",
        f"eiger: image at event 4: hash '{json.loads(msgs[5][0])['hash']}' is not the blob's MD5",
        "eiger: event 5 has no dheader, dimage or dseries_end JSON header",
        "eiger: no dseries_end-1.0 message",
    ]


def test_config_and_replay_source_name_the_protocol(tmp_path: Path) -> None:
    """`--config` (`protocol = "eiger-legacy"`) and a `ReplaySource` give the same messages."""
    master = dectris_master(tmp_path, parts=((1, 3),))
    config = tmp_path / "scan.toml"
    config.write_text(
        'points = 3\n[streams.eiger]\npath = "/entry/data"\nprotocol = "eiger-legacy"\n'
    )
    convert(master, output_dir=tmp_path / "out", config=config)
    captured = [m.streams["eiger"] for m in read_capture(tmp_path / "out" / "eiger.cbors")]

    source = ReplaySource()
    source.input, source.streams = master, {"eiger": "/entry/data:eiger-legacy"}
    (generator,) = source.get_source_generators()
    replayed = [m.streams["eiger"] for m in generator]
    assert [s.typ for s in captured] == ["EIGER_LEGACY"] * 5
    assert [len(s.frames) for s in captured] == [9, 5, 5, 5, 1]
    assert [[bytes(f) for f in s.frames] for s in replayed] == [s.frames for s in captured]
    assert [type(parse(s)).__name__ for s in replayed][1:-1] == ["EigerLegacyImage"] * 3


def test_inspector_on_the_real_dump(dump: Dump) -> None:
    """The real dump passes every check but those its cut blobs (20000 bytes) fail."""
    check, problems = inspect_frames(
        eiger_legacy.EigerLegacyInspector, "EIGER_LEGACY", "eiger", dump
    )
    sizes = [json.loads(item[1])["size"] for item in dump[1:-1]]
    assert problems == [
        f"eiger: image at event {k + 1}: size is {size}, the blob has 20000 bytes"
        for k, size in enumerate(sizes)
    ]
    assert check.frames == 3
    assert check.details == [
        "header flatfield 20000 bytes, pixelmask 20000 bytes, countrate_table 8008 bytes"
    ]
    data = json.loads(dump[1][1]) | {"size": 20000}  # its bitshuffle header is checked next
    assert eiger_legacy.blob_problem(data, dump[1][2], None) == "hash None is not the blob's MD5"
    assert dump[1][2][:12] == HEADER.pack(3108 * 3262 * 4, 8192)
