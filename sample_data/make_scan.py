"""Write sample_data/scan/: a small contrast fly scan, as contrast's recorders leave it on disk.

A 2-line fly scan (`npointflyscan sx 0 0.9 9 sy 0 1 1 0.05`: 2 lines of 10 points) with
- `000008.h5`, the master file written the way contrast's `Hdf5Recorder` writes it (the
  `record` function below follows `Hdf5Recorder.act_on_data`): description, pre- and
  post-scan snapshots, and one entry per recorded key under `/entry/measurement`: the
  motors (one value per line), `dt`, `pseudo` and `panda0` (one value per point),
  `xspress3` and `pilatus/frames` as ExternalLinks into the detectors' own files;
- `scan_000008_xspress3.hdf5`, as the xspress3 streamer writes it: `data` (20, 4, 4096)
  uint32 spectra (gzip, chunks spanning several frames) and the eight meta datasets;
- `scan_000008_pilatus.hdf5`, as the streaming-receiver writes it: `data` (20, 195, 487)
  bitshuffle-LZ4, one frame per chunk, beside the detector's configuration datasets.

Run: python sample_data/make_scan.py [OUTPUT_DIR]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from make_sample import HEIGHT, WIDTH, frames

LINES, POINTS_PER_LINE = 2, 10
POINTS = LINES * POINTS_PER_LINE
CHANNELS, BINS = 4, 4096
SCANNR = 8
CLOCK_HZ = 80e6
EXPTIME = 0.05
META = {
    "output_count_rate": np.float64,
    "all_events": np.uint32,
    "all_good": np.uint32,
    "clock_ticks": np.uint32,
    "total_ticks": np.uint32,
    "reset_ticks": np.uint32,
    "event_width": np.int32,
    "dead_time_correction": np.float64,
}


def spectra(rng: np.random.Generator) -> np.ndarray:
    """Fluorescence spectra: Fe and Cu K lines whose strength follows the sample position."""
    energy = np.arange(BINS) * 10.0  # eV per bin
    out = np.empty((POINTS, CHANNELS, BINS), np.uint32)
    for i in range(POINTS):
        iron = 40.0 * (1 + np.sin(i / 3))
        copper = 25.0 * (1 + np.cos(i / 4))
        mean = (
            0.02
            + iron * np.exp(-0.5 * ((energy - 6404) / 60) ** 2)
            + copper * np.exp(-0.5 * ((energy - 8048) / 70) ** 2)
        )
        out[i] = rng.poisson(np.broadcast_to(mean, (CHANNELS, BINS)))
    return out


def write_xspress3(path: Path, rng: np.random.Generator) -> None:
    """The xspress3 file: spectra and per-channel meta, one row per point."""
    data = spectra(rng)
    with h5py.File(path, "w") as f:
        group = f.create_group("entry/instrument/xspress3")
        group.attrs["NX_class"] = "NXdetector"
        group.create_dataset("data", data=data, chunks=(5, 1, 1024), compression="gzip")
        counts = data.sum(axis=2)
        ticks = np.full((POINTS, CHANNELS), round(EXPTIME * CLOCK_HZ) - 10, np.uint32)
        values = {
            "output_count_rate": counts / EXPTIME,
            "all_events": counts + rng.integers(0, 5, counts.shape),
            "all_good": counts,
            "clock_ticks": ticks,
            "total_ticks": ticks,
            "reset_ticks": rng.integers(0, 100, counts.shape),
            "event_width": np.full(counts.shape, 6),
            "dead_time_correction": 1 + counts * 1e-6,
        }
        for name, dtype in META.items():
            group.create_dataset(name, data=np.asarray(values[name], dtype), chunks=(1, CHANNELS))


def write_pilatus(path: Path) -> None:
    """The Pilatus file: frames as the streaming-receiver stores them, and its configuration."""
    with h5py.File(path, "w") as f:
        group = f.create_group("entry/instrument/pilatus")
        group.attrs["NX_class"] = "NXdetector"
        group.create_dataset(
            "data",
            data=frames()[:POINTS],
            chunks=(1, HEIGHT, WIDTH),
            **hdf5plugin.Bitshuffle(cname="lz4"),
        )
        for key, value in {"energy": 12000.0, "threshold": 6000.0, "exptime": EXPTIME}.items():
            group.create_dataset(key, data=value)
        group.create_dataset("sequence_number", data=np.arange(POINTS, dtype=np.uint32))


def record(fp: h5py.File, dct: dict[str, Any], base: str = "entry/measurement/") -> None:
    """Store one packet the way contrast's `Hdf5Recorder.act_on_data` does."""
    for key, val in dct.items():
        name = base + key
        if val is None:
            val = "None"
        if isinstance(val, dict):
            record(fp, {f"{key}/{k}": v for k, v in val.items()}, base)
            continue
        create = name not in fp
        if isinstance(val, np.ndarray):  # arrays are stacked along the first axis
            if create:
                d = fp.create_dataset(
                    name, shape=val.shape, maxshape=(None, *val.shape[1:]), dtype=val.dtype
                )
                old = 0
            else:
                d = fp[name]
                old = d.shape[0]
                d.resize((old + val.shape[0], *d.shape[1:]))
            d[old:] = val
        elif isinstance(val, h5py.ExternalLink):  # universal links, with relative file names
            if create:
                rel = os.path.relpath(val.filename, start=os.path.dirname(fp.filename))
                fp[name] = h5py.ExternalLink(rel, val.path)
        else:  # strings and scalars: one value per step
            if create:
                dtype = "S100" if isinstance(val, str) else type(val)
                d = fp.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype)
            else:
                d = fp[name]
            d.resize((d.shape[0] + 1,))
            d[-1] = val.encode("ascii", "ignore") if isinstance(val, str) else val


def write_master(out: Path, rng: np.random.Generator) -> None:
    """The master file: what contrast recorded at each line of the fly scan."""
    xspress3 = out / f"scan_{SCANNR:06d}_xspress3.hdf5"
    pilatus = out / f"scan_{SCANNR:06d}_pilatus.hdf5"
    snapshot = {"sx": 0.0, "sy": 0.0, "energy": 12000.0, "attenuator1_x": 0.048}
    with h5py.File(out / f"{SCANNR:06d}.h5", "w") as fp:
        record(fp, {"snapshots/pre_scan/": snapshot}, base="entry/")
        record(fp, {"description": "npointflyscan sx 0 0.9 9 sy 0 1 1 0.05"}, base="entry/")
        fast = np.linspace(0.0, 0.9, POINTS_PER_LINE)
        for line in range(LINES):
            jitter = rng.normal(0.0, 1e-4, (3, POINTS_PER_LINE))
            x, y, z = fast + jitter[0], float(line) + jitter[1], jitter[2]
            trig = line * 1.0 + np.arange(POINTS_PER_LINE) * EXPTIME
            record(
                fp,
                {
                    "sx": float(fast[-1]),
                    "sy": float(line),
                    "pseudo": {"x": x, "y": y, "z": z},
                    "panda0": {
                        "INENC2.VAL_Mean": x,
                        "INENC3.VAL_Mean": y,
                        "PCAP.TS_TRIG_Value": trig,
                        "COUNTER1.OUT_Value": rng.poisson(1000.0, POINTS_PER_LINE) * 1.0,
                    },
                    "xspress3": h5py.ExternalLink(str(xspress3), "/entry/instrument/xspress3/"),
                    "pilatus": {
                        "frames": h5py.ExternalLink(str(pilatus), "/entry/instrument/pilatus/data"),
                        "thumbs:": None,
                    },
                    "dt": 0.6 + 0.01 * line,
                },
            )
        record(fp, {"snapshots/post_scan/": snapshot | {"sx": 0.9, "sy": 1.0}}, base="entry/")


def main(output_dir: str = "sample_data/scan") -> None:
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(8)
    write_xspress3(out / f"scan_{SCANNR:06d}_xspress3.hdf5", rng)
    write_pilatus(out / f"scan_{SCANNR:06d}_pilatus.hdf5")
    write_master(out, rng)


if __name__ == "__main__":
    main(*sys.argv[1:])
