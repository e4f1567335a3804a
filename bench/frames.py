"""The benchmark's Pilatus 2M frames (realistic and cheap to make), and frames decoded back
from a capture."""

from __future__ import annotations

import json
from typing import Any

import bitshuffle
import numpy as np

from .runner import STREAM

HEIGHT, WIDTH = 1679, 1475  # Pilatus 2M: 3 x 8 modules of 487 x 195 pixels
MODULE_W, MODULE_H, GAP_W, GAP_H = 487, 195, 7, 17
GAP_VALUE = np.iinfo(np.uint32).max  # gap pixels read -1, as uint32
BASE_FRAMES = 8
SEED = 20240601
GENERATOR = "g1"
"""Version of the data generator, part of every file name: bump it when `frame` changes."""


class FrameMaker:
    """Realistic, cheap Pilatus 2M frames.

    A few Poisson frames (background of mean ~0.5-1.6 falling off from the beam, a few
    diffraction rings, hot and dead pixels) are drawn once; frame k is base frame k % 8
    shifted by a k-dependent offset, with the module gaps at -1. Frames are all different
    but cost a copy each, and compress as real low-count frames do.
    """

    def __init__(self, count: int = BASE_FRAMES, seed: int = SEED) -> None:
        rng = np.random.default_rng(seed)
        y, x = np.mgrid[:HEIGHT, :WIDTH].astype(np.float32)
        r = np.hypot(y - 1190.0, x - 760.0)
        background = 0.4 + 1.2 * np.exp(-r / 600.0)
        rings = ((180.0, 3.0, 30.0), (310.0, 4.0, 12.0), (520.0, 5.0, 6.0), (760.0, 6.0, 3.0))
        self.base = []
        for k in range(count):
            mean = background.copy()
            for radius, width, height in rings:
                mean += height * np.exp(-0.5 * ((r - radius * (1 + 0.003 * k)) / width) ** 2)
            self.base.append(rng.poisson(mean).astype(np.uint32))
        gaps = np.zeros((HEIGHT, WIDTH), bool)
        for c in range(1, 3):
            start = c * MODULE_W + (c - 1) * GAP_W
            gaps[:, start : start + GAP_W] = True
        for row in range(1, 8):
            start = row * MODULE_H + (row - 1) * GAP_H
            gaps[start : start + GAP_H, :] = True
        self.gaps = np.flatnonzero(gaps)
        pixels = rng.choice(HEIGHT * WIDTH, 60, replace=False)
        self.hot, self.dead = pixels[:20], pixels[20:]
        self.hot_counts = rng.integers(1000, 100000, self.hot.size).astype(np.uint32)

    def frame(self, k: int) -> np.ndarray:
        step = k // len(self.base)
        out = np.roll(self.base[k % len(self.base)], (3 * step % HEIGHT, 7 * step % WIDTH), (0, 1))
        flat = out.reshape(-1)
        flat[self.hot] = self.hot_counts
        flat[self.dead] = 0
        flat[self.gaps] = GAP_VALUE
        return out


def decode(msg: Any) -> tuple[dict[str, Any], np.ndarray | None]:
    frames = msg.streams[STREAM].frames
    header = decode_header(msg)
    if header.get("htype") != "image":
        return header, None
    raw = np.frombuffer(bytes(frames[1]), np.uint8)
    shape, dtype = tuple(header["shape"]), np.dtype(header["type"])
    if header["compression"] == "bslz4":
        return header, bitshuffle.decompress_lz4(raw, shape, dtype)
    return header, raw.view(dtype).reshape(shape)


def decode_header(msg: Any) -> dict[str, Any]:
    first = msg.streams[STREAM].frames[0]
    return dict(json.loads(first if isinstance(first, str) else bytes(first)))


# ---------------------------------------------------------------------------- the bench
