"""An input truncated while it is converted: one clear line, exit 1, nothing left behind.

The stored bytes are read with `pread` (a memory map would die of SIGBUS) and kernel copies
notice a source that ends early; the conversion names the input that changed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
import pytest

from h5tocbors import convert
from h5tocbors.buffers import InputChanged

from .test_errors import assert_no_output, assert_one_error
from .test_signals import DEADLINE, pause, resume, start, wait_for_temporary

FRAMES = 20_000  # tiny frames, one thread: a conversion of about a second
SHAPE = (16, 16)


def make_input(path: Path, storage: str) -> int:
    """Write the stack; return the offset of its first stored byte (where it will be cut)."""
    data = np.random.default_rng(2).poisson(2.0, (FRAMES, *SHAPE)).astype(np.uint16)
    options: dict[str, Any] = {
        "contiguous": {},
        "gzip": {"chunks": (1, *SHAPE), "compression": "gzip", "compression_opts": 1},
        "bslz4": {"chunks": (1, *SHAPE), **hdf5plugin.Bitshuffle(cname="lz4")},
    }[storage]
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("/entry/det/data", data=data, **options)
        dset.attrs["note"] = "x" * 100
        if dset.chunks is None:
            return int(dset.id.get_offset())
        return int(min(dset.id.get_chunk_info(i).byte_offset for i in range(100)))


@pytest.mark.parametrize(
    ("storage", "compression"),
    [("contiguous", "bslz4"), ("gzip", "bslz4"), ("bslz4", "bslz4"), ("contiguous", "none")],
    ids=["contiguous-decoded", "gzip-decoded", "bslz4-passthrough", "contiguous-passthrough"],
)
def test_input_truncated_during_the_conversion(
    tmp_path: Path, storage: str, compression: str
) -> None:
    """Stop the conversion once it has started, cut the input short, let it go on."""
    h5 = tmp_path / "scan.h5"
    cut = make_input(h5, storage)
    out = tmp_path / "out"
    proc = start(h5, out, "-j", "1", "--compression", compression)
    try:
        wait_for_temporary(proc, out, "det")
        pause(proc)
        os.truncate(h5, cut + 1000)
        resume(proc)
        _, stderr = proc.communicate(timeout=DEADLINE)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    assert proc.returncode == 1, f"exit {proc.returncode}: {stderr}"
    assert_one_error(
        proc.returncode, stderr, 1, f"{h5} changed or was truncated during the conversion"
    )
    assert_no_output(out)


def test_input_rewritten_after_its_last_frame_was_read(tmp_path: Path) -> None:
    """Stored payloads are copied by the writer thread after the encoder has located them:
    a rewrite once every frame is located, before the last ones are copied, is named too
    (it was published)."""
    h5 = tmp_path / "scan.h5"
    data = np.random.default_rng(3).integers(0, 2**32, (20, 160, 160), np.uint32)
    with h5py.File(h5, "w") as f:  # frames of 100 kB: spliced, not read
        dset = f.create_dataset(
            "/entry/det/data", data=data, chunks=(1, 160, 160), **hdf5plugin.Bitshuffle()
        )
        last = dset.id.get_chunk_info(19)
    out = tmp_path / "out"

    def rewrite(events: int, total: int, written: int) -> None:
        if events == total:  # same size, other bytes, a later modification time
            with open(h5, "r+b") as fh:
                fh.seek(last.byte_offset + 12)
                fh.write(b"\xff" * 8)
            st = os.stat(h5)
            os.utime(h5, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))

    with pytest.raises(InputChanged, match="changed or was truncated"):
        convert(h5, {"det": "/entry/det/data"}, out, jobs=1, progress=rewrite)
    assert_no_output(out)
