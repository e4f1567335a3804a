"""Write sample_data/pilatus_100k.h5: a small, realistic Pilatus 100K scan.

20 frames of 195x487 uint32 photon counts (a diffraction ring over Poisson
background, with the detector's module gaps), stored as NeXus-style
`/entry/measurement/pilatus/frames` with bitshuffle-LZ4, one frame per chunk,
the way Dectris/MAX IV writers store them. `/entry/instrument/pilatus/data`
is a soft link to the same frames; `/entry/measurement/x` holds motor positions.

Run: python sample_data/make_sample.py [OUTPUT]
"""

from __future__ import annotations

import sys

import h5py
import hdf5plugin
import numpy as np

FRAMES, HEIGHT, WIDTH = 20, 195, 487


def frames(seed: int = 7) -> np.ndarray:
    """The frames: a ring whose radius moves with the scan, Poisson counts, gaps at -1."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:HEIGHT, :WIDTH]
    r = np.hypot(y - 97.0, x - 243.0)
    out = np.empty((FRAMES, HEIGHT, WIDTH), np.uint32)
    for k in range(FRAMES):
        radius = 60 + 2.0 * k
        mean = 0.3 + 40.0 * np.exp(-0.5 * ((r - radius) / 2.5) ** 2)
        out[k] = rng.poisson(mean)
    out[:, :, 60:67] = np.iinfo(np.uint32).max  # gaps between chips read as -1
    return out


def main(path: str = "sample_data/pilatus_100k.h5") -> None:
    with h5py.File(path, "w") as f:
        f.attrs["NX_class"] = "NXroot"
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        pilatus = entry.create_group("measurement/pilatus")
        dset = pilatus.create_dataset(
            "frames",
            data=frames(),
            chunks=(1, HEIGHT, WIDTH),
            **hdf5plugin.Bitshuffle(cname="lz4"),
        )
        dset.attrs["units"] = "counts"
        entry["measurement/x"] = np.linspace(0.0, 1.9, FRAMES)
        entry.create_group("instrument/pilatus")
        entry["instrument/pilatus/data"] = h5py.SoftLink(dset.name)
        entry["instrument/pilatus/description"] = "Pilatus 100K"


if __name__ == "__main__":
    main(*sys.argv[1:])
