"""Frames to payloads: what each data message carries, from the HDF5 side to the protocols.

`encoding` reads each frame's stored bytes (`hdf5`), then decodes and compresses them, or
passes the stored chunk through, on worker threads (`pipeline`). The protocols wrap the
payloads in their messages; nothing here knows a protocol.
"""

from typing import Literal

Compression = Literal["bslz4", "none"]
"""How data messages carry frames: bitshuffle-LZ4 (`bslz4`, what detectors send) or raw."""
