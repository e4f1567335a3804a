"""What the user asks for: streams by name, by HDF5 path, and optionally by protocol."""

from __future__ import annotations

from dataclasses import dataclass

from ..capture.names import check_stream_name
from ..errors import UsageError
from ..protocols.registry import BY_NAME

PROTOCOL_NAMES = tuple(BY_NAME)
"""The spellings of `--stream NAME=PATH:PROTOCOL`: stins, xspress, pcap-raw, contrast."""


@dataclass(frozen=True)
class StreamSpec:
    """One stream to write: its name, its HDF5 path (None: found by name), its protocol
    (None: chosen by what the path is).

    Example:
        >>> StreamSpec.parse("panda0", "/entry/measurement/panda0:pcap-raw")
        StreamSpec(name='panda0', path='/entry/measurement/panda0', protocol='pcap-raw')
    """

    name: str
    path: str | None = None
    protocol: str | None = None

    @classmethod
    def parse(cls, name: str, target: str | None) -> StreamSpec:
        """`NAME` with `PATH` or `PATH:PROTOCOL`; a `:` naming no protocol is part of the path."""
        check_stream_name(name)
        if not target:
            return cls(name)
        path, sep, protocol = target.rpartition(":")
        if sep and protocol in PROTOCOL_NAMES:
            if not path:
                raise UsageError(f"--stream {name}={target}: give a dataset or group path")
            return cls(name, path, protocol)
        return cls(name, target)

    def __str__(self) -> str:
        target = self.path or ""
        if self.protocol:
            target += f":{self.protocol}"
        return f"{self.name}={target}" if target else self.name
