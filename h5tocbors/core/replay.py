"""Replay HDF5 files directly: `dranspose replay -s` sources that need no capture file."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..buffers import read_range
from ..hdf5.open import open_input
from ..payloads import Compression
from ..payloads.encoding import InputFile
from ..protocols import StreamContext
from ..scan.config import ScanConfig
from ..scan.master import is_master
from ..scan.nxscan import is_nxscan
from ..scan.specs import EVERY, Axes, as_axes
from ..scan.streams import Streams, as_config, as_mapping, open_streams
from .events import PlacedStream, iter_events

if TYPE_CHECKING:
    import h5py


def iter_messages(
    input: str | os.PathLike[str],
    stream: str,
    dataset: str | None = None,
    *,
    scan: bool = False,
    config: ScanConfig | str | os.PathLike[str] | None = None,
    frames: slice | None = None,
    compression: Compression = "bslz4",
    filename: str = "",
    axes: str | None = None,
) -> Iterator[Any]:
    """dranspose `InternalWorkerMessage`s of one stream, for a `dranspose replay -s` source.

    With `scan` (or `config`), `stream` is one of the scan's streams and its messages
    carry the events they have in the scan's captures. `axes` cuts an image dataset into
    frames, as `--axes` does (`"HWN"`).

    Example:
        >>> msgs = iter_messages("sample_data/pilatus_100k.h5", "pilatus")
        >>> [m.event_number for m in msgs][:3]
        [0, 1, 2]
    """
    with open_input(input) as f:
        cut = as_axes(axes).get(EVERY)
        ctx = StreamContext(
            InputFile().encoder, frames, compression, filename, axes=cut, input=os.fspath(input)
        )
        placed = open_streams(f, {stream: dataset}, ctx, scan=scan, config=as_config(config))
        yield from stream_messages(placed)


def stream_messages(placed: Sequence[PlacedStream]) -> Iterator[Any]:
    """The messages of placed streams as dranspose `InternalWorkerMessage`s, event by event."""
    from dranspose.event import InternalWorkerMessage, StreamData  # slow to import: only here

    for event, parts, created_at in iter_events(placed):
        streams = {
            n: StreamData(typ=p.typ, frames=[bytes(read_range(b)) for b in p.frames])
            for n, p in parts.items()
        }
        yield InternalWorkerMessage(event_number=event, streams=streams, created_at=created_at)


class ReplaySource:
    """A `dranspose replay -s` source that reads an HDF5 scan directly; subclass it.

    By default every stream of a contrast scan (`input` is its master file) or of a
    Sardana NXscan file's scan (`entry`); set `streams`
    to replay only those, or to name image datasets of a file that is not a scan
    (`["pilatus"]`, `{"eiger": "/entry/instrument/eiger/data"}`), and `config` for a scan
    layout described by a TOML file. The generators give the same messages, on the same
    events, as the captures `h5tocbors convert` writes.

    Example:
        >>> class Scan8(ReplaySource):  # src/sources.py
        ...     input = "000008.h5"
        >>> # dranspose replay -w src.worker:W -r src.reducer:R -s src.sources:Scan8
    """

    input: str | os.PathLike[str] = ""
    streams: Streams = ()
    scan: bool | None = None
    """Whether `input` is a scan; None: it is when it has a contrast master's layout or
    Sardana scan entries."""
    entry: str | None = None
    """The scan of a Sardana NXscan file (`"entry21503"`); None: its only one."""
    config: ScanConfig | str | os.PathLike[str] | None = None
    frames: slice | None = None
    compression: Compression = "bslz4"
    filename: str = ""
    axes: Axes | None = None
    """How image datasets are cut into frames, as `convert`'s `axes`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def get_source_generators(self) -> list[Iterator[Any]]:
        """One generator of `InternalWorkerMessage`s per stream, as dranspose asks for.

        The input stays open while the replay runs: the generators read it in turn.
        """
        f = open_input(self.input)
        try:
            placed = self._placed(f)
        except BaseException:
            f.close()
            raise
        return [stream_messages([p]) for p in placed]

    def _placed(self, f: h5py.File) -> list[PlacedStream]:
        """The streams to replay, planned in the open input `f`."""
        scan = self.scan if self.scan is not None else is_master(f) or is_nxscan(f)
        ctx = StreamContext(
            InputFile().encoder,
            self.frames,
            self.compression,
            self.filename,
            input=os.fspath(self.input),
        )
        config = as_config(self.config)
        streams, axes = as_mapping(self.streams), as_axes(self.axes)
        return open_streams(f, streams, ctx, scan=scan, config=config, axes=axes, entry=self.entry)
