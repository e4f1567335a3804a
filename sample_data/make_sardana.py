"""Write sample_data/sardana/: a small Sardana step scan, recorded by Sardana's own recorder.

`dscan xtal3_pit -0.5 0.5 10 0.1` (11 points), as Balder records it:
- `2024102408.h5`, the NXscan file, written by Sardana 3.7.1's `NXscanH5_FileRecorder`
  (`sardana_recorder.py` runs it without Tango): entry `/entry21503` with the motor, a scalar
  counter, a 1-D channel, `dt`, and the Eiger as a value-referenced channel whose reference
  names the detector file where the scan was recorded
  (`/data/visitors/balder/.../scan-21503_eiger_xes.h5:entry/instrument/eiger_xes/`); the root
  attribute `file_name` is that recorded path too;
- `scan-21503_eiger_xes.h5`, as the streaming-receiver writes it: `data` (11, 48, 64) uint32,
  each frame one bitshuffle-LZ4 chunk written with `write_direct_chunk`, beside the detector's
  settings as datasets.

Needs sardana 3.7.1 in build/sardana (`make .venv/.dev-stamp`).
Run: python sample_data/make_sardana.py [OUTPUT_DIR]
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import bitshuffle
import h5py
import hdf5plugin
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from sardana_recorder import Channel, Motor, Scan, record_scan

TANGO = "tango://b-v-balder-csdb-0.maxiv.lu.se:10000/expchan"
RECORDED = "/data/visitors/balder/20241146/2024102408/raw"
SERIALNO, POINTS, HEIGHT, WIDTH = 21503, 11, 48, 64


def eiger_settings(points: int) -> dict[str, Any]:
    """The Eiger's configuration, as the streaming-receiver stores it beside `data`."""
    return {
        "count_time": 0.1,
        "countrate_correction_applied": 1,
        "photon_energy": 9000.0,
        "threshold_energy": 4500.0,
        "nimages": 1,
        "ntrigger": points,
        "trigger_mode": "exts",
    }


def images(count: int, height: int, width: int, dtype: str = "uint32", seed: int = 0) -> np.ndarray:
    """Detector frames: a spot that walks across the sensor over Poisson background."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    out = np.empty((count, height, width), dtype)
    for k in range(count):
        cx = width * (0.2 + 0.6 * k / max(count - 1, 1))
        mean = 0.5 + 50.0 * np.exp(-0.5 * (((x - cx) / 3.0) ** 2 + ((y - height / 2) / 3.0) ** 2))
        out[k] = rng.poisson(mean)
    return out


def lz4_chunk(frame: np.ndarray) -> bytes:
    """One frame as an HDF5 bitshuffle-LZ4 chunk: the filter's 12-byte header (the frame's size
    and the block size in bytes, big-endian) and bitshuffle's LZ4 stream (default blocks)."""
    itemsize = frame.dtype.itemsize
    block = max(8192 // itemsize // 8 * 8, 128) * itemsize  # bitshuffle's default block
    stream = bitshuffle.compress_lz4(np.ascontiguousarray(frame)).tobytes()
    return frame.nbytes.to_bytes(8, "big") + block.to_bytes(4, "big") + stream


def write_receiver_file(
    path: Path, detector: str, frames: np.ndarray, settings: Mapping[str, Any]
) -> Path:
    """A detector file as the streaming-receiver writes it: `/entry/instrument/<detector>/data`
    frames first, one bitshuffle-LZ4 chunk per frame written with `write_direct_chunk`, the
    detector's settings as datasets beside it, and the frames' `sequence_number`."""
    with h5py.File(path, "w") as f:
        group = f.create_group(f"entry/instrument/{detector}")
        group.attrs["NX_class"] = "NXdetector"
        data = group.create_dataset(
            "data",
            shape=frames.shape,
            dtype=frames.dtype,
            chunks=(1, *frames.shape[1:]),
            **hdf5plugin.Bitshuffle(cname="lz4"),
        )
        for k, frame in enumerate(frames):
            data.id.write_direct_chunk((k, *(0,) * (frames.ndim - 1)), lz4_chunk(frame))
        for key, value in settings.items():
            group.create_dataset(key, data=value)
        group.create_dataset("sequence_number", data=np.arange(len(frames), dtype=np.uint32))
    return path


def step_scan(
    out: Path, points: int = POINTS, done: int | None = None
) -> tuple[Scan, Path, np.ndarray]:
    """The Balder-like `dscan` of `points` points (stopped after `done` of them, if given), its
    Eiger file written into `out`: the Scan for the recorder, the master file to record it
    into, and the Eiger's frames (one per point done)."""
    eiger = f"scan-{SERIALNO}_eiger_xes.h5"
    done = points if done is None else done
    frames = images(done, HEIGHT, WIDTH, seed=SERIALNO)
    write_receiver_file(out / eiger, "eiger_xes", frames, eiger_settings(points))
    rng = np.random.default_rng(SERIALNO)
    positions = np.linspace(-1.11, -0.11, points)
    channels = [
        Channel(f"{TANGO}/albaem_ctrl_01/3", "albaem-01_ch3", plot_axes=["xtal3_pit"]),
        Channel(f"{TANGO}/mca_ctrl/1", "1D mca", shape=(16,)),
        Channel(f"{TANGO}/eiger_xes_ctrl/1", "eiger_xes", value_ref=True),
    ]
    records = [
        {
            "xtal3_pit": float(positions[k]),
            channels[0].name: float(rng.normal(2.3e-8, 1e-10)),
            channels[1].name: rng.poisson(20.0, 16).astype(np.float64),
            channels[2].name: f"{RECORDED}/{eiger}:entry/instrument/eiger_xes/",
            "dt": 1.5 + 0.6 * k,
        }
        for k in range(done)
    ]
    start = datetime(2024, 10, 24, 16, 56, 47, 123456)
    title = f"dscan xtal3_pit -0.5 0.5 {points - 1} 0.1"
    motors = [Motor("xtal3_pit", -1.11, -0.11, instrument="/XTAL3")]
    snapshot = {"xtal3_pit": -0.61, "energy": 9000.0}
    scan = Scan(SERIALNO, title, motors, channels, records, start, 9.4, snapshot=snapshot)
    return scan, out / "2024102408.h5", frames


def main(output_dir: str = "sample_data/sardana") -> None:
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    scan, master, _ = step_scan(out)
    master.unlink(missing_ok=True)
    record_scan(master, scan, recorded=f"{RECORDED}/{master.name}")


if __name__ == "__main__":
    main(*sys.argv[1:])
