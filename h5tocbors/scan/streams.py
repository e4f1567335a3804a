"""Which streams to convert: those named, a contrast scan's (`--scan`), or a config's.

The scan layouts (contrast masters, NXscan files, configs) are imported only for a scan:
converting named streams does without them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import h5py

from ..capture.names import check_stream_name
from ..core.events import PlacedStream
from ..errors import UsageError, option
from ..hdf5.resolve import open_object
from ..protocols import StreamContext
from .plan import ScanShape, plan_streams, steps_of
from .specs import EVERY, StreamSpec, with_axes

if TYPE_CHECKING:
    from .config import ScanConfig

Streams = Mapping[str, str | None] | Sequence[str]
"""Stream names, or names mapped to `PATH[:PROTOCOL]` (None: found by name)."""


def as_mapping(streams: Streams) -> dict[str, str | None]:
    """Stream names (a list) or names with paths (a mapping) as a mapping, each name
    checked as `--stream` checks it (plain, given once)."""
    if isinstance(streams, str | bytes):
        raise UsageError(
            f"streams must be a list of names or a mapping, not a {type(streams).__name__}"
        )
    if isinstance(streams, Mapping):
        return {check_stream_name(name): path for name, path in streams.items()}
    named: dict[str, str | None] = {}
    for name in streams:
        if check_stream_name(name) in named:
            raise UsageError(f"stream {name!r} is given twice")
        named[name] = None
    return named


def as_config(config: ScanConfig | str | os.PathLike[str] | None) -> ScanConfig | None:
    """A loaded scan config, from a path or as given."""
    if config is None:
        return None
    from .config import ScanConfig, load_config

    if isinstance(config, ScanConfig):
        return config
    return load_config(config)


def open_streams(
    f: h5py.File,
    streams: Mapping[str, str | None],
    ctx: StreamContext,
    *,
    scan: bool = False,
    config: ScanConfig | None = None,
    axes: Mapping[str, str] | None = None,
    entry: str | None = None,
) -> list[PlacedStream]:
    """The placed streams of a conversion.

    Without `scan` or `config`, `streams` maps names to `PATH[:PROTOCOL]` (None: found by
    name). With them, the scan's streams are converted, or only those named in `streams`.
    `axes` cuts image streams into frames: by stream name, `"*"` for the others (see
    `specs.parse_axes_options`). `entry` picks the scan of a Sardana NXscan file (None:
    its only one).

    Example:
        >>> [p.name for p in open_streams(f, {}, ctx, scan=True)]  # doctest: +SKIP
        ['contrast', 'pilatus', 'panda0', 'xspress3']
    """
    axes = axes or {}
    ctx = replace(ctx, axes=axes.get(EVERY, ctx.axes))
    if config is None and not scan:
        if not streams:
            raise UsageError(
                f"no stream given: name one with {option('streams', metavar='NAME[=PATH]')}, "
                f"or convert a whole scan with {option('scan', True)}"
            )
        specs = [StreamSpec.parse(n, t) for n, t in streams.items()]
        return plan_streams(f, with_axes(specs, axes), ctx)
    named = [n for n, target in streams.items() if target is None]
    if len(named) != len(streams):
        raise UsageError(
            f"with {option('scan')} or {option('config')}, {option('streams')} takes names only "
            "(the scan says where each is)"
        )
    from . import nxscan
    from .master import is_master, scan_streams

    shape: ScanShape | None
    if config is not None and config.streams:
        specs = config.named(f, named)
        shape = config.shape(f, specs)
    elif config is not None or entry is not None or (not is_master(f) and nxscan.is_nxscan(f)):
        picked = nxscan.pick_entry(f, entry)
        specs = nxscan.scan_streams(f, picked, named)
        shape = ScanShape(nxscan.scan_steps(f, picked, specs))
        if config is not None:  # a config of channel keys only
            ctx = replace(ctx, keys=nxscan.record_keys(f, picked, config.names, config.names_from))
    else:
        specs = scan_streams(f, named)
        shape = ScanShape(steps_of(open_object(f, "/entry")))
    return plan_streams(f, with_axes(specs, axes), ctx, shape)


def stream_names(
    f: h5py.File, config: ScanConfig | None = None, entry: str | None = None
) -> list[str]:
    """The names of a scan's streams, without opening them: a config's, else a contrast
    master's (`contrast` and the measurement's keys, detectors or not), else an NXscan
    entry's."""
    from . import nxscan
    from .master import CONTRAST, check_master, is_master, measurement_keys

    if config is not None and config.streams:
        return nxscan.listed_streams([s.name for s in config.streams], config.referenced(f))
    if config is not None or entry is not None or (not is_master(f) and nxscan.is_nxscan(f)):
        picked = nxscan.pick_entry(f, entry)
        return nxscan.stream_names(f, picked)
    check_master(f)
    return [CONTRAST.name, *measurement_keys(f)]
