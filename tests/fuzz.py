"""Seeded fuzzing of the whole CLI: mutated HDF5 files and captures, every run checked.

Three kinds of case, each a mutated copy of a file of a small corpus:
  image    an image file (seven storages: both HDF5 formats, bitshuffle-LZ4, gzip rows,
           zstd, lzf on a 4-D grid, contiguous, external links, virtual and raw sources)
           with bytes changed: `ls`, `convert`, `verify` against the original's capture;
  scan     one file of a contrast scan (the master, or its linked xspress3, PandA or Pilatus
           file, or a master with a detector key that attacks stream names: `contrast`,
           `..`, control characters, 240 characters) changed: `ls`, `convert --scan`,
           `verify --scan` against the original's;
  capture  a capture of every protocol typ (STINS, xspress, contrast, PCAP_RAW) changed,
           byte-wise or inside one frame (JSON headers, pickles, PandA text, events):
           `inspect --events`, `inspect --json --strict`, `verify` against its source.
A converted capture is inspected too (`inspect --strict`: what h5tocbors writes is sound).

Worker processes (`python -m tests.fuzz worker ...`) run the CLI in-process, many cases
each, with stdout and stderr caught at the file descriptor; the parent reads one line per
run and sees a worker that dies of a signal, or a run that does not end in time, as a
finding for the case it ran, then goes on in a new worker. Every run must end in exit 0 or
one `h5tocbors: error:` line with exit 1: no traceback, no "unexpected", no warning, no raw
control character, inputs unchanged, no code run by a pickle, and after a failed
`convert` nothing in its output directory.

By hand: `python -m tests.fuzz [FILES] [--seed N] [--keep DIR]` fuzzes about FILES mutated
files (default 300) and prints how the runs ended; `--case image:5` runs one case and
keeps its files in DIR.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gzip
import hashlib
import json
import os
import pickle
import random
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 60.0
"""Seconds one run may take before it counts as a hang (runs take milliseconds)."""
STALL = 5
"""Seconds the console script may make no progress, when it runs a case again."""
KINDS = ("image", "scan", "capture")
SHARE = {"image": 0.4, "scan": 0.15, "capture": 0.45}
"""How the mutated files split over the kinds (scan runs cost the most)."""
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


# --- the corpus --------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A file of the corpus to mutate, and how it is converted and verified."""

    kind: str
    path: str
    """Relative to the corpus; its folder is copied with it (linked files, raw files)."""
    target: str
    """The file in that folder that the commands are given (the mutated one, or the file
    that links to it)."""
    convert: list[str]
    verify: list[str]
    """`verify`'s arguments: INPUT stands for the target, CAPTURE for the mutated capture,
    `@path` for a file of the corpus."""
    data: list[list[int]] = field(default_factory=list)
    """Byte ranges of stored data (chunks): mutations favour the metadata elsewhere."""
    messages: list[list[int]] = field(default_factory=list)
    """Byte ranges of the bodies of object header messages: dataspaces, datatypes, layouts,
    filters, links. Mutations favour them."""
    checked: list[list[int]] = field(default_factory=list)
    """Metadata blocks of HDF5's newer formats, which end in a checksum: [start, where the
    checksum is]. Most mutations inside one get a checksum to match, so HDF5 reads them."""


def build_corpus(root: Path) -> dict[str, Any]:
    """Write the corpus into `root` (image files, a scan, their captures): `corpus.json`."""
    import h5py
    import hdf5plugin
    import numpy as np

    rng = np.random.default_rng(7)
    frames = rng.poisson(3.0, (4, 6, 10)).astype(np.uint16)

    def image(name: str, libver: str = "earliest", data: Any = frames, **create: Any) -> h5py.File:
        folder = root / "images" / name
        folder.mkdir(parents=True)
        f = h5py.File(folder / f"{name}.h5", "w", libver=libver)
        f.create_dataset("/entry/det/data", data=data, **create)
        return f

    with image("earliest", chunks=(1, 6, 10)) as f:
        f["/entry/x"] = np.arange(4.0)
        f["/entry/alias"] = h5py.SoftLink("/entry/det/data")
    with image("latest", "latest", chunks=(2, 6, 10), compression="gzip", shuffle=True):
        pass
    with image("bslz4", chunks=(1, 6, 10), **hdf5plugin.Bitshuffle(cname="lz4")) as f:
        f["/entry/det"].attrs["NX_class"] = "NXdetector"
        f["/entry/det/energy"] = 12000.0
        f["/entry/det/mode"] = "exts"
    with image("zstd", "latest", chunks=(1, 6, 5), maxshape=(None, 6, 10), **hdf5plugin.Zstd()):
        pass
    with image("contiguous") as f:
        f["/entry/be"] = frames.astype(">i4")
    with image("grid", data=frames.reshape(2, 2, 6, 10), chunks=(1, 1, 6, 10), compression="lzf"):
        pass
    links = root / "images" / "links"
    links.mkdir()
    with h5py.File(links / "linked.h5", "w") as f:
        f["data"] = frames
    with h5py.File(links / "src.h5", "w") as f:
        f["data"] = frames[:, ::-1]
    (links / "raw.bin").write_bytes(frames.tobytes())
    with h5py.File(links / "links.h5", "w") as f:
        f["/entry/ext"] = h5py.ExternalLink("linked.h5", "/data")
        layout = h5py.VirtualLayout(frames.shape, frames.dtype)
        layout[:] = h5py.VirtualSource("src.h5", "data", frames.shape)
        f.create_virtual_dataset("/entry/vds", layout)
        f.create_dataset("/entry/raw", frames.shape, frames.dtype, external=[("raw.bin", 0, 480)])
    images = {
        "earliest": ["-s", "det"],
        "latest": ["-s", "det"],
        "bslz4": ["-s", "det"],
        "zstd": ["-s", "det"],
        "contiguous": ["-s", "det", "-s", "be=/entry/be", "-c", "none"],
        "grid": ["-s", "det"],
        "links": ["-s", "ext=/entry/ext", "-s", "vds=/entry/vds", "-s", "raw=/entry/raw"],
    }
    sources: list[Source] = []
    captures: dict[str, Source] = {}
    for name, args in images.items():
        h5 = root / "images" / name / f"{name}.h5"
        out = h5.parent / "out"
        _cli(["convert", str(h5), *args, "-o", str(out), "-q"])
        streams = [a for a in args if a not in ("-c", "none")]
        outs = sorted(out.glob("*.cbors"))
        check = ["INPUT", *(_at(root, c) for c in outs), *streams]
        for mutated in sorted(h5.parent.glob("*.h5")):
            at = mutated.relative_to(root).as_posix()
            sources.append(Source("image", at, h5.name, args, check, *_layout(mutated)))
        for c in outs:
            verify = [_at(root, h5), "CAPTURE", *streams]
            captures[f"{name}/{c.name}"] = Source("capture", _at(root, c)[1:], "", [], verify)

    from .protocol_files import contrast_scan

    scan = root / "scan"
    scan.mkdir()
    master = contrast_scan(scan, lines=2, per_line=3, panda_file=True)
    out = scan / "out"
    _cli(["convert", str(master), "--scan", "-o", str(out), "-q"])
    outs = sorted(out.glob("*.cbors"))
    for path in sorted(scan.glob("*.h*5")):
        at = path.relative_to(root).as_posix()
        check = ["INPUT", *(_at(root, c) for c in outs), "--scan"]
        sources.append(Source("scan", at, master.name, ["--scan"], check, *_layout(path)))
    for c in outs:
        verify = [_at(root, master), "CAPTURE", "--scan"]
        captures[f"scan/{c.name}"] = Source("capture", _at(root, c)[1:], "", [], verify)
    sources += named_scans(root, master, outs)
    big = root / "bigscan"  # steps of BIG_STEP values: contrast pickles of tens of KB
    big.mkdir()
    big_master = contrast_scan(big, lines=2, per_line=BIG_STEP)
    _cli(["convert", str(big_master), "--scan", "-s", "contrast", "-o", str(big / "out"), "-q"])
    _cli(["inspect", "--strict", str(big / "out" / "contrast.cbors")])  # sound before mutated
    verify = [_at(root, big_master), "CAPTURE", "--scan"]
    captures["bigscan/contrast.cbors"] = Source(
        "capture", _at(root, big / "out" / "contrast.cbors")[1:], "", [], verify
    )
    sources += [captures[c] for c in CAPTURES]
    corpus = {"sources": [s.__dict__ for s in sources]}
    (root / "corpus.json").write_text(json.dumps(corpus))
    return corpus


STREAM_NAMES = ["contrast", "..", ".hidden", "det\nproblem: fake", "det\x1b[2J", "d" * 240]
"""Measurement keys that attack stream names: the scan's own stream's, dot files, control
characters, a name too long for a file name."""


def named_scans(root: Path, master: Path, outs: list[Path]) -> list[Source]:
    """Scans (`named/N/`) whose master links its xspress3 file once more, as STREAM_NAMES[N]."""
    import h5py

    sources = []
    for i, key in enumerate(STREAM_NAMES):
        folder = root / "named" / str(i)
        shutil.copytree(master.parent, folder, ignore=shutil.ignore_patterns("out"))
        path = folder / master.name
        with h5py.File(path, "a") as f:
            link = f["entry/measurement"].get("xspress3", getlink=True)
            f["entry/measurement"][key] = h5py.ExternalLink(link.filename, link.path)
        check = ["INPUT", *(_at(root, c) for c in outs), "--scan"]
        at = path.relative_to(root).as_posix()
        sources.append(Source("scan", at, master.name, ["--scan"], check, *_layout(path)))
    return sources


CAPTURES = [
    "scan/contrast.cbors",
    "scan/xspress3.cbors",
    "scan/panda0.cbors",
    "scan/pilatus.cbors",
    "bslz4/det.cbors",
    "bigscan/contrast.cbors",
    "scan/xspress3.cbors",
    "contiguous/be.cbors",
]
"""The captures to mutate, in turn: every protocol typ, pickles (contrast, xspress) twice as
often (contrast's once with steps of `BIG_STEP` values), STINS with the detector's settings,
and uncompressed."""
BIG_STEP = 1500
"""Values in a step of the big scan: its pickles were refused from about 1,000 on."""


def _at(root: Path, path: Path) -> str:
    """`@path`: a file of the corpus, relative to it."""
    return "@" + path.relative_to(root).as_posix()


def _cli(args: list[str]) -> None:
    """Run the CLI in-process; the corpus must convert."""
    from h5tocbors.commands.cli import command

    assert command(args) == 0, f"h5tocbors {' '.join(args)} failed"


def _layout(path: Path) -> tuple[list[list[int]], ...]:
    """Where an HDF5 file keeps stored data (chunks, contiguous data), the bodies of its
    object header messages, and its checksummed blocks."""
    import h5py

    data = path.read_bytes()
    stored: list[list[int]] = []
    messages: list[list[int]] = []

    def visit(name: str, obj: object) -> None:
        messages.extend(_header_messages(data, h5py.h5o.get_info(obj.id).addr))
        if not isinstance(obj, h5py.Dataset) or obj.is_virtual or obj.external:
            return
        if obj.chunks is None:
            offset = obj.id.get_offset()
            if offset is not None:
                stored.append([offset, offset + obj.id.get_storage_size()])
            return
        for i in range(obj.id.get_num_chunks()):
            info = obj.id.get_chunk_info(i)
            stored.append([info.byte_offset, info.byte_offset + info.size])

    with h5py.File(path, "r") as f:
        visit("/", f["/"])
        f.visititems(visit)
    return stored, messages, _checksummed(data)


def _header_messages(data: bytes, at: int) -> list[list[int]]:
    """The message bodies of the object header at `at`: version 1 (16 bytes, then messages
    of type, size, flags, 3 reserved bytes, body) or version 2 (`OHDR`, flags, optional
    times and limits, the chunk's size, then messages of type, size, flags, body)."""

    def number(start: int, size: int) -> int:
        return int.from_bytes(data[start : start + size], "little")

    found = []
    if data[at] == 1:
        pos, end, head, kind = at + 16, at + 16 + number(at + 8, 4), 8, 2
    elif data[at : at + 4] == b"OHDR":
        flags = data[at + 5]
        pos = at + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 3)
        pos, end = pos + width, pos + width + number(pos, width)
        head, kind = 4 + (2 if flags & 0x04 else 0), 1
    else:
        return []
    while pos + head <= end:
        size = number(pos + kind, 2)
        if number(pos, kind):  # not a NIL message (free space)
            found.append([pos + head, pos + head + size])
        pos += head + size
    return found


SIGNATURES = re.compile(
    rb"\x89HDF\r\n\x1a\n|OHDR|OCHK|FAHD|FADB|BTHD|BTIN|BTLF|EAHD|EAIB|EASB|EADB|FRHP|FHDB|FHIB|FSHD|FSSE|SMTB|SMLI"
)


def _checksummed(data: bytes) -> list[list[int]]:
    """[start, checksum offset] of each block that starts with a signature of HDF5's newer
    formats and ends in a checksum (Jenkins' lookup3 of the block before it) that matches."""
    found: list[list[int]] = []
    if data[8] < 2:  # superblock versions 0 and 1: the format without checksums
        return found
    for match in SIGNATURES.finditer(data):
        start = match.start()
        for end in range(start + 8, min(len(data) - 3, start + 4096)):
            if lookup3(data[start:end]) == int.from_bytes(data[end : end + 4], "little"):
                found.append([start, end])
                break
    return found


def lookup3(data: bytes) -> int:
    """Bob Jenkins' lookup3 `hashlittle`, as HDF5 checksums its metadata (initial value 0)."""
    m = 0xFFFFFFFF

    def rot(x: int, k: int) -> int:
        return ((x << k) | (x >> (32 - k))) & m

    n = len(data)
    a = b = c = (0xDEADBEEF + n) & m
    if n == 0:
        return c
    k = 0
    while n - k > 12:
        a = (a + int.from_bytes(data[k : k + 4], "little")) & m
        b = (b + int.from_bytes(data[k + 4 : k + 8], "little")) & m
        c = (c + int.from_bytes(data[k + 8 : k + 12], "little")) & m
        for ra, rb, rc in ((4, 6, 8), (16, 19, 4)):  # lookup3's mix: two rounds
            a = ((a - c) & m) ^ rot(c, ra)
            c = (c + b) & m
            b = ((b - a) & m) ^ rot(a, rb)
            a = (a + c) & m
            c = ((c - b) & m) ^ rot(b, rc)
            b = (b + a) & m
        k += 12
    tail = bytes(data[k:]) + bytes(12 - (n - k))
    a = (a + int.from_bytes(tail[0:4], "little")) & m
    b = (b + int.from_bytes(tail[4:8], "little")) & m
    c = (c + int.from_bytes(tail[8:12], "little")) & m
    c = ((c ^ b) - rot(b, 14)) & m
    a = ((a ^ c) - rot(c, 11)) & m
    b = ((b ^ a) - rot(a, 25)) & m
    c = ((c ^ b) - rot(b, 16)) & m
    a = ((a ^ c) - rot(c, 4)) & m
    b = ((b ^ a) - rot(a, 14)) & m
    return ((c ^ b) - rot(b, 24)) & m


def cases(count: int) -> list[tuple[str, int]]:
    """About `count` cases, split over the kinds as `SHARE` says: (kind, index)."""
    return [(k, i) for k in KINDS for i in range(max(1, round(count * SHARE[k])))]


# --- mutations -------------------------------------------------------------------------


def mutate_hdf5(data: bytes, source: Source, rng: random.Random) -> bytes:
    """1 to 4 changes: a byte set or a bit flipped, 8 bytes set (an address, a size), or
    the file cut short. 2 in 5 land in an object header message, 2 in 5 elsewhere outside
    the stored data, in the metadata. A checksummed block changed gets a matching checksum
    4 times in 5."""
    out = _mutate_hdf5(data, source, rng)
    for start, end in source.checked:
        if end + 4 <= len(out) and out[start:end] != data[start:end] and rng.random() < 0.8:
            out[end : end + 4] = lookup3(out[start:end]).to_bytes(4, "little")
    return bytes(out)


def _mutate_hdf5(data: bytes, source: Source, rng: random.Random) -> bytearray:
    out = bytearray(data)
    metadata = [i for i in range(len(data)) if not any(a <= i < b for a, b in source.data)]
    fields = [i for a, b in source.messages for i in range(a, b)] or metadata
    for _ in range(rng.choice((1, 1, 1, 2, 4))):
        where = rng.random()
        pool = fields if where < 0.4 else metadata if where < 0.8 else range(len(out))
        at = rng.choice(pool)
        how = rng.random()
        if how < 0.05:
            return out[:at]
        if how < 0.2:
            value = rng.choice((b"\xff" * 8, rng.randbytes(8), (2**31).to_bytes(8, "little")))
            out[at : at + 8] = value[: len(out) - at]
        elif how < 0.45:
            out[at] ^= 1 << rng.randrange(8)
        else:
            out[at] = rng.choice((0x00, 0xFF, 0x80, 0x01, 0x7F, rng.randrange(256)))
    return out


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """A capture with 1 to 4 bits flipped, runs cut out or random runs inserted."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(out) or 1)
        how = rng.choice(("flip", "cut", "insert"))
        if how == "flip" and out:
            out[at] ^= 1 << rng.randrange(8)
        elif how == "cut":
            del out[at : at + rng.randint(1, 9)]
        else:
            out[at:at] = rng.randbytes(rng.randint(1, 9))
    return bytes(out)


def mutate_messages(data: bytes, rng: random.Random, marker: Path) -> bytes:
    """A capture whose envelope stays sound but whose content is hostile: one frame changed
    (bits, a cut, a JSON value, a pickle swapped for a hostile one, PandA text), or the
    messages reordered, dropped, repeated, renumbered or renamed."""
    from h5tocbors.capture.encode import StreamPart, encode_message
    from h5tocbors.capture.read import read_messages

    with tempfile.NamedTemporaryFile(suffix=".cbors") as tmp:
        tmp.write(data)
        tmp.flush()
        messages = [
            [m.event_number, {n: [s.typ, list(s.frames)] for n, s in m.streams.items()}]
            for m in read_messages(tmp.name)
        ]
    m = rng.randrange(len(messages))
    event, streams = messages[m]
    name = rng.choice(list(streams))
    frames = streams[name][1]
    how = rng.random()
    if how < 0.6 and frames:
        k = rng.randrange(len(frames))
        frames[k] = mutate_frame(frames[k], rng, marker)
    elif how < 0.65:
        frames.append(rng.choice(frames) if frames else b"")
    elif how < 0.7 and frames:
        del frames[rng.randrange(len(frames))]
    elif how < 0.75:
        streams[name] = [rng.choice(("STINS", "xspress", "contrast", "PCAP_RAW", "x")), frames]
    elif how < 0.8:
        streams[rng.choice(("other", name + "\x1b[2J", "a" * 300))] = streams.pop(name)
    elif how < 0.85:
        messages[m][0] = rng.choice((0, event + 1, max(0, event - 1), 2**40, 2**63 - 1))
    elif how < 0.9:
        del messages[m]
    elif how < 0.95:
        messages.insert(m, copy.deepcopy(messages[m]))
    else:
        rng.shuffle(messages)
    out = bytearray()
    for event, streams in messages:
        parts = {n: StreamPart(t, [bytes(f) for f in fs]) for n, (t, fs) in streams.items()}
        out += b"".join(bytes(b) for b in encode_message(event, parts, T0))
    return bytes(out)


def mutate_frame(frame: bytes, rng: random.Random, marker: Path) -> bytes:
    """One zmq frame changed as its content invites: JSON values, pickles, text, bytes."""
    if frame[:1] == b"{" and rng.random() < 0.6:
        try:
            header = json.loads(frame)
        except ValueError:
            header = None
        if isinstance(header, dict) and header:
            key = rng.choice(list(header))
            value = rng.choice(JSON_VALUES)
            if rng.random() < 0.2:
                del header[key]
            else:
                header[key] = value
            return json.dumps(header).encode()
    if frame[:1] == b"\x80" and rng.random() < 0.5:
        return rng.choice(hostile_pickles(marker))
    if rng.random() < 0.3:
        text = frame.decode("latin-1")
        numbers = re.findall(r"-?\d+(?:\.\d+)?", text)
        if numbers:
            old = rng.choice(numbers)
            new = rng.choice(("-1", "0", "1e400", "nan", "99999999999999999999", "x", ""))
            return text.replace(old, new, 1).encode("latin-1")
    return mutate_bytes(frame, rng)


JSON_VALUES: list[object] = [
    True, None, -1, 0, 2**70, 1e308, "32", "", "x" * 300, [], {}, [2**40, 2**40],
    ["32", 40.9], [0], [-1, 5], "uint16", "V0", "S", "float128", "bslz4", "none", "header",
    "image", "series_end", "started", "running", "finished", [[[]]],
]  # fmt: skip
"""Values put in place of a JSON header's: wrong types, huge sizes, odd dtypes."""


def hostile_pickles(marker: Path) -> list[bytes]:
    """Pickles that must be refused: code to run, self-reference, sizes they do not hold."""
    import numpy as np

    from .protocol_files import Boom

    selfish: list[object] = []
    selfish.append(selfish)
    huge = pickle.dumps(np.zeros(4, np.uint8), protocol=2)
    return [
        pickle.dumps(Boom(marker), protocol=2),
        pickle.dumps(selfish, protocol=2),
        pickle.dumps(np.array([1, "x"], dtype=object), protocol=2),
        huge.replace(b"K\x04\x85", b"J\x00\x00\x00\x40\x85"),  # shape 2**30, 4 bytes of data
        b"\x80\x02" + b"]" * 100_000 + b".",
        b"\x80\x02(" * 50_000 + b".",
        pickle.dumps({"status": "running", "x": 2**100_000}, protocol=2),
        b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R.",
    ]


# --- the worker ------------------------------------------------------------------------


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """The CLI in this process, stdout and stderr caught at their file descriptors (what a
    C library prints counts too): (exit code, stdout, stderr)."""
    from h5tocbors.commands.cli import command

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            code = command(args)
        except BaseException as e:  # escaped the CLI: a finding, shown as such
            import traceback

            traceback.print_exc()
            code = -1 if not isinstance(e, KeyboardInterrupt) else -2
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out.seek(0)
        err.seek(0)
        return code, out.read().decode(errors="replace"), err.read().decode(errors="replace")


def case_files(corpus: dict[str, Any], root: Path, case: tuple[str, int], seed: int, work: Path):
    """Write case `case`'s mutated file into `work` (beside copies of its companions).

    Returns the source, the mutated file, and the folder that stands in for its own.
    """
    kind, index = case
    rng = random.Random(f"{seed}:{kind}:{index}")
    pool = [Source(**s) for s in corpus["sources"] if s["kind"] == kind]
    source = pool[index % len(pool)]
    original = root / source.path
    folder = work / "in"
    if kind == "capture":
        folder.mkdir()
        data = original.read_bytes()
        if rng.random() < 0.45:
            data = mutate_bytes(data, rng)
        else:
            data = mutate_messages(data, rng, work / "pwned")
        name = original.name + (".gz" if rng.random() < 0.15 else "")
        path = folder / name
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        return source, path, folder
    shutil.copytree(original.parent, folder, ignore=shutil.ignore_patterns("out"))
    path = folder / original.name
    path.write_bytes(mutate_hdf5(original.read_bytes(), source, rng))
    return source, path, folder


@dataclass
class Run:
    """One command of a case, as the worker reports it."""

    case: str
    label: str
    args: list[str]
    code: int
    stderr: str
    stdout_bad: str | None
    """A raw control character in stdout, if any (repr)."""
    outputs: list[str] | None = None
    """For `convert`: what its output directory holds after the run."""
    changed: bool = False
    """An input file was written to."""
    pwned: bool = False
    """A pickle ran code (wrote its marker file)."""


def observed(
    case: str,
    label: str,
    args: list[str],
    code: int,
    stdout: str,
    stderr: str,
    out: Path | None,
) -> Run:
    """A run as it ended: its code and stderr, a raw control character in its stdout, and
    for a `convert` what its output directory `out` holds."""
    bad = CONTROL.search(stdout)
    outputs = None if out is None else sorted(p.name for p in out.glob("*"))
    shown = repr(stdout[bad.start() : bad.start() + 20]) if bad else None
    return Run(case, label, args, code, stderr, shown, outputs)


def case_runs(
    corpus: dict[str, Any], root: Path, case: tuple[str, int], seed: int, work: Path
) -> Iterator[tuple[str, list[str], Path | None]]:
    """The commands of a case: (label, arguments, output directory of a convert)."""
    source, path, folder = case_files(corpus, root, case, seed, work)
    kind = case[0]
    target = folder / source.target
    places = {"INPUT": str(target), "CAPTURE": str(path)}
    verify = [places.get(a, str(root / a[1:]) if a[:1] == "@" else a) for a in source.verify]
    if kind == "capture":
        yield "inspect", ["inspect", "--events", str(path)], None
        yield "inspect", ["inspect", "--json", "--strict", str(path)], None
        yield "verify", ["verify", *verify], None
        return
    out = work / "out"
    yield "ls", ["ls", str(target)], None
    yield "convert", ["convert", str(target), *source.convert, "-o", str(out), "-q"], out
    written = sorted(str(p) for p in out.glob("*.cbors")) if out.exists() else []
    if written:
        yield "inspect-output", ["inspect", "--strict", *written], None
    if written and kind == "scan":  # the original's captures name the original's folder
        captures = [a for a in verify if a.endswith(".cbors")]
        verify = [a for a in verify if a not in captures] + written
    yield "verify", ["verify", *verify], None


def digest(folder: Path) -> str:
    """A hash of every file in `folder` (inputs must never change)."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def worker(root: Path, seed: int, todo: list[tuple[str, int]]) -> None:
    """Run `todo` cases, one JSON line per run on stdout: `{"start": ...}` before it."""
    report = os.fdopen(os.dup(1), "w", buffering=1)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)  # nothing but the reports reaches the parent's pipe
    warnings.simplefilter("always")  # each run shows its warnings, as a fresh process would
    corpus = json.loads((root / "corpus.json").read_text())
    for kind, index in todo:
        case = f"{kind}:{index}"
        work = Path(tempfile.mkdtemp(prefix=f"{kind}-{index}-", dir=root / "work"))
        print(json.dumps({"case": case}), file=report)
        try:
            runs = case_runs(corpus, root, (kind, index), seed, work)
            before = ""
            for label, args, out in runs:
                before = before or digest(work / "in")
                print(json.dumps({"start": label, "args": args}), file=report)
                code, stdout, stderr = run_cli(args)
                run = observed(case, label, args, code, stdout, stderr, out)
                run.changed = digest(work / "in") != before
                run.pwned = (work / "pwned").exists()
                print(json.dumps(run.__dict__), file=report)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"done": True}), file=report)
    report.close()


# --- the parent ------------------------------------------------------------------------


@dataclass
class Fuzz:
    """The outcome of a fuzz: every run, and what was wrong."""

    runs: list[Run] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    crashes: int = 0
    """Workers that died: the CLI crashed in-process."""
    hangs: int = 0
    contained: int = 0
    """Crashes and hangs that the console script ended in one error line (`contained`)."""

    def record(self, run: Run, how: str = "") -> bool:
        """Keep `run`, and each of its problems as a finding; True when it had none."""
        self.runs.append(run)
        found = problems(run)
        for problem in found:
            self.findings.append(f"{run.case} {' '.join(run.args)}{how}: {problem}: {run.stderr}")
        return not found

    def table(self) -> str:
        """How the runs of each kind ended: `image convert: 40 converted, 12 corrupt ...`."""
        counts: dict[str, Counter[str]] = {}
        for run in self.runs:
            key = f"{run.case.split(':')[0]:<7} {run.label}"
            counts.setdefault(key, Counter())[outcome(run)] += 1
        lines = [
            f"{key}: {sum(c.values())} runs: "
            + ", ".join(f"{n} {what}" for what, n in c.most_common())
            for key, c in sorted(counts.items())
        ]
        lines.append(
            f"crashes {self.crashes}, hangs {self.hangs} ({self.contained} of them one error line "
            f"from the console script), findings {len(self.findings)}"
        )
        return "\n".join(lines)


FAMILIES = [
    ("crashed (SIG", "HDF5 crashed on corrupt metadata"),
    ("no progress for", "HDF5 looped on corrupt metadata"),
    ("corrupt HDF5 metadata", "corrupt HDF5 metadata"),
    ("Unable to synchronously open file", "HDF5 cannot open the file"),
    ("not an HDF5 file", "not an HDF5 file"),
    ("changed or was truncated", "input changed"),
    ("not a capture message", "not a capture message"),
    ("truncated message", "truncated capture"),
    ("corrupt data", "corrupt gzip stream"),
    ("problems found", "problems found (--strict)"),
    ("differ", "differs from the source"),
    ("fail", "a frame fails to read or decode"),
    ("cannot be opened", "a file it names cannot be opened"),
    ("refused", "a file it names is refused"),
    ("frames to convert", "too many unwritten frames"),
    ("missing", "data missing"),
    ("fewer than", "data missing"),
    ("no image frames", "no images in the capture"),
    ("matches neither", "frames that fit no scan cadence"),
    ("but the scan has", "frames that fit no scan cadence"),
    ("does not exist", "data missing"),
    ("not available", "filter not available"),
    ("not a stream of", "a stream the source has not"),
    ("no stream", "no such stream"),
    ("no image dataset", "no such dataset"),
    ("no dataset", "no such dataset"),
    ("GiB", "frame over 1 GiB"),
    ("not a contrast master", "not a scan"),
    ("fits no", "no protocol fits"),
    ("holds no", "no frames"),
    ("not UTF-8", "a name that is not UTF-8"),
    ("stream name", "a name that is no stream name"),
]
"""Error families, by a phrase of the message (first match), for the counts; the rest
are shown as `other: ` and their first words."""


def outcome(run: Run) -> str:
    """How a run ended: `ok`, or the family of its error."""
    if run.code == 0:
        return {"convert": "converted", "verify": "identical"}.get(run.label, "ok")
    text = run.stderr
    for phrase, family in FAMILIES:
        if phrase in text:
            return family
    words = re.sub(r"\S*/\S*|\d+", "N", text.removeprefix("h5tocbors: error: ")).split()
    return "other: " + " ".join(words[:6])


def problems(run: Run) -> list[str]:
    """What is wrong with a run; [] when it ended as the README promises."""
    found = []
    lines = run.stderr.splitlines()
    if run.code not in (0, 1):
        found.append(f"exit {run.code}")
    if "Traceback" in run.stderr or "error: unexpected" in run.stderr:
        found.append("traceback or unexpected error")
    if run.code == 1 and (len(lines) != 1 or not lines[0].startswith("h5tocbors: error: ")):
        found.append("not one error line")
    if run.code == 0 and run.stderr:
        found.append("stderr on success")
    if len(run.stderr) > 2000:
        found.append(f"an error of {len(run.stderr)} characters")
    if CONTROL.search(run.stderr):
        found.append("raw control character on stderr")
    if run.stdout_bad:
        found.append(f"raw control character on stdout: {run.stdout_bad}")
    if run.changed:
        found.append("an input was written to")
    if run.pwned:
        found.append("a pickle ran code")
    if run.outputs is not None:
        final = [n for n in run.outputs if n.endswith(".cbors")]
        if run.code != 0 and run.outputs:
            found.append(f"left {run.outputs} after failing")
        if run.code == 0 and (not final or len(final) != len(run.outputs)):
            found.append(f"converted, but the output directory holds {run.outputs}")
    if run.label == "inspect-output" and run.code != 0:
        found.append("a capture h5tocbors wrote has problems")
    return found


def contained(case: str, started: dict[str, Any], result: Fuzz) -> bool:
    """Run again through the console script a run that crashed or hung its worker (which
    runs the CLI in-process): the script runs each command in a child process
    (`commands.isolate`), so a crash in HDF5, or a loop in it (given `STALL` seconds here),
    must end there as one error line, exit 1. True when it did."""
    args, label = started["args"], started["start"]
    out = Path(args[args.index("-o") + 1]) if label == "convert" else None
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "h5tocbors"), *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env=os.environ | {"OMP_NUM_THREADS": "1", "H5TOCBORS_STALL_SECONDS": str(STALL)},
    )
    run = observed(case, label, args, proc.returncode, proc.stdout, proc.stderr, out)
    clean = result.record(run, " (by the script)")
    result.contained += clean
    return clean


def fuzz(
    root: Path,
    count: int,
    seed: int = 7,
    workers: int = 2,
    only: list[tuple[str, int]] | None = None,
) -> Fuzz:
    """Fuzz about `count` mutated files with the corpus in `root` (built when missing)."""
    if not (root / "corpus.json").exists():
        build_corpus(root)
    (root / "work").mkdir(exist_ok=True)
    todo = only if only is not None else cases(count)
    result = Fuzz()
    active = [_Worker(root, seed, todo[w::workers]) for w in range(workers) if todo[w::workers]]
    selector = selectors.DefaultSelector()
    for w in active:
        selector.register(w.fd, selectors.EVENT_READ, w)
    while active:
        for key, _ in selector.select(timeout=1.0):
            w = key.data
            if w.read(result):
                continue
            selector.unregister(w.fd)
            active.remove(w)
            successor = w.finish(result)
            if successor is not None:
                active.append(successor)
                selector.register(successor.fd, selectors.EVENT_READ, successor)
        for w in active:
            if w.started is not None and time.monotonic() - w.started > RUN_TIMEOUT:
                w.hung = True
                w.proc.kill()  # its stdout ends: finish() records the hang
    return result


class _Worker:
    """A worker process, its cases, and the case and run it is in."""

    def __init__(self, root: Path, seed: int, todo: list[tuple[str, int]]) -> None:
        self.root, self.seed = root, seed
        self.todo = [f"{k}:{i}" for k, i in todo]
        self.case: str | None = None
        self.run: dict[str, Any] = {}
        self.started: float | None = None
        self.hung = False
        self.buffer = b""
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by finish())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fuzz", "worker", str(root), str(seed), *self.todo],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            cwd=REPO,
            env=os.environ | {"OMP_NUM_THREADS": "1"},
        )
        assert self.proc.stdout is not None
        self.fd = self.proc.stdout.fileno()

    def read(self, result: Fuzz) -> bool:
        """Take what the worker reported; False at its end."""
        data = os.read(self.fd, 1 << 16)
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            self.take(json.loads(line), result)
        return bool(data)

    def take(self, line: dict[str, Any], result: Fuzz) -> None:
        if "done" in line:
            self.todo = []
        elif "case" in line and "label" not in line:
            self.case = line["case"]
            self.todo = self.todo[self.todo.index(self.case) :]
            self.run = {}
        elif "start" in line:
            self.run, self.started = line, time.monotonic()
        else:
            self.started = None
            result.record(Run(**line))

    def finish(self, result: Fuzz) -> _Worker | None:
        """Collect the worker; a crash or hang is a finding, and the rest goes on anew."""
        code = self.proc.wait()
        self.stderr.seek(0)
        stderr = self.stderr.read().decode(errors="replace")[-2000:]
        self.stderr.close()
        if not self.todo:
            if code != 0:
                result.findings.append(f"worker exit {code}: {stderr}")
            return None
        case = self.todo.pop(0)
        if self.hung:
            result.hangs += 1
            problem = f"no end after {RUN_TIMEOUT:.0f} s"
        else:
            result.crashes += 1
            problem = f"the worker died (exit {code}): {stderr}"
        if "args" in self.run and contained(case, self.run, result):
            problem = ""
        args = " ".join(self.run.get("args", ["(making the files)"]))
        if problem:
            result.findings.append(f"{case} {args}: {problem}")
        rest = [(k, int(i)) for k, i in (c.split(":") for c in self.todo)]
        return _Worker(self.root, self.seed, rest) if rest else None


def keep_case(root: Path, case: tuple[str, int], seed: int, keep: Path) -> None:
    """Write the files of one case into `keep` and print its commands."""
    if not (root / "corpus.json").exists():
        build_corpus(root)
    corpus = json.loads((root / "corpus.json").read_text())
    keep.mkdir(parents=True, exist_ok=True)
    for _, args, _ in case_runs(corpus, root, case, seed, keep):
        print("h5tocbors " + " ".join(args))


def main(argv: list[str]) -> None:
    if argv[:1] == ["worker"]:
        todo = [(k, int(i)) for k, i in (c.split(":") for c in argv[3:])]
        worker(Path(argv[1]), int(argv[2]), todo)
        return
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("files", nargs="?", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--corpus", type=Path, help="a folder to build (or reuse) it in")
    parser.add_argument("--case", help="KIND:INDEX: run one case and keep its files (--keep)")
    parser.add_argument("--keep", type=Path, default=Path("fuzz-case"))
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        root = options.corpus or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if options.case:
            kind, index = options.case.split(":")
            keep_case(root, (kind, int(index)), options.seed, options.keep)
            return
        start = time.monotonic()
        result = fuzz(root, options.files, options.seed, options.workers)
        print(result.table())
        print(f"{len(result.runs)} runs in {time.monotonic() - start:.0f} s")
        for finding in result.findings:
            print("FINDING", finding[:3000])


if __name__ == "__main__":
    main(sys.argv[1:])
