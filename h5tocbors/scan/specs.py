"""What the user asks for: streams by name, by HDF5 path, and optionally by protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ..capture.names import check_stream_name
from ..errors import UsageError, option
from ..hdf5.layout import parse_axes
from ..protocols.registry import NAMES

PROTOCOL_NAMES = NAMES
"""The spellings of `--stream NAME=PATH:PROTOCOL`: stins, xspress, pcap-raw, contrast, sardana."""
EVERY = "*"
"""The key of `--axes AXES` (no name): every image stream that is not named."""
Axes = str | Mapping[str, str]
"""`--axes` in the Python API: the axes of every image stream (`"HWN"`), or axes by stream
name (`{"velox": "HWN"}`; the key `"*"` for every other image stream)."""


@dataclass(frozen=True)
class StreamSpec:
    """One stream to write: its name, its HDF5 path (None: found by name), its protocol
    (None: chosen by what the path is).

    Example:
        >>> spec = StreamSpec.parse("panda0", "/entry/measurement/panda0:pcap-raw")
        >>> spec.name, spec.path, spec.protocol
        ('panda0', '/entry/measurement/panda0', 'pcap-raw')
    """

    name: str
    path: str | None = None
    protocol: str | None = None
    axes: str | None = None
    """How an image dataset is cut into frames (`HWN`; see `hdf5.layout`), if given."""
    file: str | None = None
    """The file that holds `path`, found beside the input (a detector file a scan's values
    reference); None: the input."""
    parts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """The HDF5 paths of the stream's parts, by part, as a `--config` gives them (a Sardana
    per-scan master's title, motors, channels); (): as its path's object says."""

    def __post_init__(self) -> None:
        check_stream_name(self.name)  # every stream, however named, makes a file name

    @classmethod
    def parse(cls, name: str, target: str | None) -> StreamSpec:
        """`NAME` with `PATH` or `PATH:PROTOCOL`; a `:` naming no protocol is part of the path."""
        if not target:
            return cls(name)
        path, sep, protocol = target.rpartition(":")
        if sep and protocol in PROTOCOL_NAMES:
            if not path:
                given = option("streams", {name: target})
                raise UsageError(f"{given}: give a dataset or group path")
            return cls(name, path, protocol)
        return cls(name, target)

    @property
    def given(self) -> dict[str, str | None]:
        """The stream as the API's `streams` gives it: {name: PATH[:PROTOCOL] or None}."""
        target = self.path or ""
        if self.protocol:
            target += f":{self.protocol}"
        return {self.name: target or None}

    def __str__(self) -> str:
        target = self.given[self.name]
        return f"{self.name}={target}" if target else self.name


def parse_axes_options(texts: Sequence[str]) -> dict[str, str]:
    """`--axes [NAME=]AXES` items into {name: axes}, `"*"` for those without a name.

    Example:
        >>> parse_axes_options(["velox=hwn", "NHW"])
        {'velox': 'HWN', '*': 'NHW'}
    """
    axes: dict[str, str] = {}
    for text in texts:
        name, sep, spelling = text.rpartition("=")
        key = check_stream_name(name) if sep else EVERY
        if key in axes:
            raise UsageError(f"--axes is given twice for {'stream ' + key if sep else 'all'}")
        axes[key] = parse_axes(spelling, f"--axes {name}=" if sep else "--axes")
    return axes


def as_axes(axes: Axes | None) -> dict[str, str]:
    """The API's `axes` (checked) as {name: axes}, `"*"` for every image stream not named."""
    if axes is None:
        return {}
    if isinstance(axes, str):
        return {EVERY: parse_axes(axes, "axes")}
    return {
        n if n == EVERY else check_stream_name(n): parse_axes(a, f"axes[{n!r}]")
        for n, a in axes.items()
    }


def axes_for(axes: Mapping[str, str] | None, name: str) -> str | None:
    """The axes given for stream `name`: by its name, else for every stream, else None."""
    axes = axes or {}
    return axes.get(name, axes.get(EVERY))


def with_axes(specs: Sequence[StreamSpec], axes: Mapping[str, str]) -> list[StreamSpec]:
    """`specs` with the axes named for them (`--axes NAME=AXES`); every name must be one of
    theirs."""
    names = [s.name for s in specs]
    unknown = [n for n in axes if n != EVERY and n not in names]
    if unknown:
        raise UsageError(
            f"{option('axes', {unknown[0]: axes[unknown[0]]})}: no stream {unknown[0]} is "
            "converted "
            f"(the streams are {', '.join(names)})"
        )
    return [replace(s, axes=axes[s.name]) if s.name in axes else s for s in specs]
