"""What a damaged chunk gives, filter by filter: an error, the right data, or wrong data.

For each filter, writes six small frames of photon counts with h5py/hdf5plugin, then damages
chunk 1 many times over (one random byte, or 8 random bytes, at a random place) and reads
frame 1 back two ways:
  hdf5       h5py `dset[1]` twice, each from a fresh open, in a forked child (a crash is
             counted, not suffered); "varies" means the two reads differed;
  h5tocbors  the decoder h5tocbors uses for that storage (`chunk_decoder`), where it has one.
The README's table of what h5tocbors detects comes from this.

Run: python bench/corruption.py [TRIALS]   (default 300; about a minute)
"""

from __future__ import annotations

import os
import random
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np

from h5tocbors.hdf5.decode import chunk_decoder
from h5tocbors.hdf5.frames import FrameSeries

SHAPE = (64, 96)
FILTERS: dict[str, dict[str, Any]] = {
    "gzip": {"compression": "gzip"},
    "shuffle+gzip": {"compression": "gzip", "shuffle": True},
    "lzf": {"compression": "lzf"},
    "zstd": dict(hdf5plugin.Zstd()),
    "lz4": dict(hdf5plugin.LZ4()),
    "blosc-lz4": dict(hdf5plugin.Blosc(cname="lz4")),
    "blosc-zstd": dict(hdf5plugin.Blosc(cname="zstd")),
    "blosc2-lz4": dict(hdf5plugin.Blosc2(cname="lz4")),
    "blosc2-zstd": dict(hdf5plugin.Blosc2(cname="zstd")),
    "bitshuffle-lz4": dict(hdf5plugin.Bitshuffle(cname="lz4")),
    "bitshuffle-zstd": dict(hdf5plugin.Bitshuffle(cname="zstd")),
    "fletcher32+zstd": {"fletcher32": True, **hdf5plugin.Zstd()},
}


def read_in_child(path: Path, want: np.ndarray) -> str:
    """Read frame 1 twice through HDF5 in a forked child: error, same, WRONG, WRONG-varies."""
    pid = os.fork()
    if pid == 0:
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)  # some filters print what they found (lz4: "decompressed size ...")
        os.dup2(quiet, 2)
        try:
            reads = []
            for _ in range(2):
                with h5py.File(path, "r", rdcc_nbytes=0) as f:
                    reads.append(f["d"][1])
        except Exception:
            os._exit(10)
        if not np.array_equal(reads[0], reads[1]):
            os._exit(13)
        os._exit(11 if np.array_equal(reads[0], want) else 12)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"crash ({signal.Signals(os.WTERMSIG(status)).name})"
    return {10: "error", 11: "same", 12: "WRONG", 13: "WRONG, varies"}[os.WEXITSTATUS(status)]


def decode_own(decode: Any, raw: bytes, want: np.ndarray) -> str:
    try:
        got = decode(raw)
    except ValueError:
        return "error"
    return "same" if np.array_equal(got.reshape(want.shape), want) else "WRONG"


def trial_bytes(rng: random.Random, size: int, t: int) -> tuple[int, bytes]:
    pos = rng.randrange(size)
    count = 1 if t % 2 else min(8, size - pos)
    return pos, bytes(rng.randrange(256) for _ in range(count))


def main(trials: int) -> None:
    frames = np.random.default_rng(7).poisson(2.0, (6, *SHAPE)).astype(np.uint16)
    frames[:, 10:20, 10:20] = 0
    print(f"{trials} damaged copies of chunk 1 per filter (64x96 uint16 photon counts)\n")
    print(f"{'storage':<17} {'chunk B':>7}  {'hdf5':<48} h5tocbors")
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in FILTERS.items():
            path = Path(tmp) / f"{name}.h5"
            with h5py.File(path, "w") as f:
                f.create_dataset("d", data=frames, chunks=(1, *SHAPE), **options)
            with h5py.File(path, "r") as f:
                info = f["d"].id.get_chunk_info(1)
                raw = bytes(f["d"].id.read_direct_chunk((1, 0, 0))[1])
                decode = chunk_decoder(FrameSeries.of(f["d"]))
            rng = random.Random(name)
            hdf5, own = Counter[str](), Counter[str]()
            for t in range(trials):
                pos, new = trial_bytes(rng, info.size, t)
                if raw[pos : pos + len(new)] == new:
                    continue
                with open(path, "r+b") as fh:
                    fh.seek(info.byte_offset + pos)
                    fh.write(new)
                try:
                    hdf5[read_in_child(path, frames[1])] += 1
                finally:
                    with open(path, "r+b") as fh:
                        fh.seek(info.byte_offset + pos)
                        fh.write(raw[pos : pos + len(new)])
                if decode is not None:
                    own[decode_own(decode, raw[:pos] + new + raw[pos + len(new) :], frames[1])] += 1
            show = ", ".join(f"{k} {v}" for k, v in sorted(hdf5.items()))
            mine = ", ".join(f"{k} {v}" for k, v in sorted(own.items())) or "(HDF5 decodes)"
            print(f"{name:<17} {info.size:>7}  {show:<48} {mine}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
