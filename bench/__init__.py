"""Benchmark h5tocbors against the hand-written replay source users copy today, and cp.

Generates Pilatus 2M-sized scans (1679x1475 uint32 photon counts, one frame per chunk)
stored three ways (bitshuffle-LZ4, uncompressed, gzip level 1) in bench_data/, reused
when the parameters match. For each case it then times, side by side and alternating:

  baseline   bench/baseline.py: h5py `dset[i]`, `bitshuffle.compress_lz4`, dranspose
             models and `cbor2.dump` per message, as dranspose's docs and `Dumper` do;
  h5tocbors  `h5tocbors convert FILE --stream pilatus=/entry/data/data -o DIR --force --quiet`;
  cp         `cp FILE DIR/`, the floor for moving the bytes at all.

Each is a child process reaped with `os.wait4`, which gives its wall time and its own
peak RSS. Before timing, h5tocbors' output is checked against the baseline's (decoded
with `dranspose.replay.get_internals`), so no speed is reported for wrong output.

More sections:
  startup    `h5tocbors --version`, `--help` and a tiny conversion beside their floor,
             `python -c "import numpy, h5py"` (see startup.py);
  packed     frames stored many per chunk (xspress3 spectra in gzip chunks (70, 1, 256),
             Pilatus frames in gzip chunks of 10), h5tocbors against h5py reading the
             whole dataset in one call (each chunk decoded once, one thread);
  openmp     `h5tocbors verify` of many small frames, idle and beside one busy process,
             as it runs (bitshuffle on one OpenMP thread) and with OMP_NUM_THREADS set
             to the core count (libgomp's default team, whose threads spin).
With `--before REF` (e.g. main), h5tocbors as of that git revision runs beside the
current one in every case. Results are printed and written to BENCHMARKS.md.

Run: make bench    (or: python -m bench --help; --quick for a smoke run)
"""

from __future__ import annotations
