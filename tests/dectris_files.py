"""DECTRIS Eiger masters and their data files, written with h5py/hdf5plugin as the detector's
file writer lays them out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np

SHAPE = (24, 40)
SETTINGS = {
    "count_time": 0.0099999,
    "countrate_correction_applied": 1,
    "description": "Dectris EIGER2 Si 500K",
    "threshold_energy": 6000.0,
    "nimages": 9,
    "ntrigger": 1,
    "photon_energy": 12000.0,
    "trigger_mode": "exts",
    "x_pixels_in_detector": SHAPE[1],
    "y_pixels_in_detector": SHAPE[0],
}
"""What the master's detector groups hold as settings, flat, as the start message carries them."""
DETECTOR_KEYS = ("count_time", "countrate_correction_applied", "description", "threshold_energy")


def image(number: int) -> np.ndarray:
    """The frame of image `number` (counted from 1): distinct Poisson counts."""
    return np.random.default_rng(number).poisson(2.0, SHAPE).astype(np.uint32)


def images(numbers: Sequence[int]) -> np.ndarray:
    return np.stack([image(i) for i in numbers])


def dectris_master(
    directory: Path,
    parts: Sequence[tuple[int, int]] = ((4, 6), (7, 9), (1, 3)),
    *,
    numbered: bool = True,
    prefix: str = "run",
) -> Path:
    """`<prefix>_master.h5` with links `/entry/data/data_00000N` (N from 1) to
    `<prefix>_data_00000N.h5:/entry/data/data`, which holds images `parts[N-1]` (first and
    last image number, from 1) with `image_nr_low`/`image_nr_high` where `numbered`, in
    bitshuffle-LZ4 chunks of one frame. The defaults write the files out of order: the
    links' names are not the images' order, the attributes tell it.
    """
    for n in sorted(range(len(parts)), key=lambda n: -parts[n][0]):  # last images first
        low, high = parts[n]
        with h5py.File(directory / f"{prefix}_data_{n + 1:06d}.h5", "w") as f:
            dset = f.create_dataset(
                "/entry/data/data",
                data=images(range(low, high + 1)),
                chunks=(1, *SHAPE),
                **hdf5plugin.Bitshuffle(cname="lz4"),
            )
            if numbered:
                dset.attrs["image_nr_low"] = np.uint64(low)
                dset.attrs["image_nr_high"] = np.uint64(high)
    master = directory / f"{prefix}_master.h5"
    with h5py.File(master, "w") as f:
        f.create_group("/entry").attrs["NX_class"] = "NXentry"
        data = f.create_group("/entry/data")
        data.attrs["NX_class"] = "NXdata"
        for n in reversed(range(len(parts))):
            data[f"data_{n + 1:06d}"] = h5py.ExternalLink(
                f"{prefix}_data_{n + 1:06d}.h5", "/entry/data/data"
            )
        detector = f.create_group("/entry/instrument/detector")
        detector.attrs["NX_class"] = "NXdetector"
        specific = detector.create_group("detectorSpecific")
        for key, value in SETTINGS.items():
            group = detector if key in DETECTOR_KEYS else specific
            group[key] = np.bytes_(value.encode()) if isinstance(value, str) else value
        specific["flatfield"] = np.ones(SHAPE, np.float32)  # data, not a setting
        specific["pixel_mask"] = np.zeros(SHAPE, np.uint32)
        specific["detectorModule_000/serialnumber"] = np.bytes_(b"E-32-0100")
    return master
