"""Which streams to convert: those named, a contrast scan's (`--scan`), or a config's."""

from __future__ import annotations

from collections.abc import Mapping

import h5py

from ..core.events import PlacedStream
from ..errors import H5ToCborsError, UsageError
from ..protocols import StreamContext
from .config import ScanConfig
from .master import check_master, scan_streams
from .plan import ScanShape, plan_streams, steps_of
from .specs import StreamSpec


def open_streams(
    f: h5py.File,
    streams: Mapping[str, str | None],
    ctx: StreamContext,
    *,
    scan: bool = False,
    config: ScanConfig | None = None,
) -> list[PlacedStream]:
    """The placed streams of a conversion.

    Without `scan` or `config`, `streams` maps names to `PATH[:PROTOCOL]` (None: found by
    name). With them, the scan's streams are converted, or only those named in `streams`.

    Example:
        >>> [p.name for p in open_streams(f, {}, ctx, scan=True)]  # doctest: +SKIP
        ['contrast', 'pilatus', 'panda0', 'xspress3']
    """
    if config is None and not scan:
        if not streams:
            raise H5ToCborsError("no stream given: name at least one with --stream NAME[=PATH]")
        return plan_streams(f, [StreamSpec.parse(n, t) for n, t in streams.items()], ctx)
    named = [n for n, target in streams.items() if target is None]
    if len(named) != len(streams):
        raise UsageError(
            "with --scan or --config, --stream takes names only (the scan says where each is)"
        )
    shape: ScanShape | None
    if config is not None:
        config.check_paths(f)
        available, shape = config.streams, config.shape(f)
    else:
        check_master(f)
        available, shape = scan_streams(f), ScanShape(steps_of(f["/entry"]))
    by_name = {s.name: s for s in available}
    unknown = [n for n in named if n not in by_name]
    if unknown:
        raise H5ToCborsError(
            f"{f.filename} has no stream {', '.join(unknown)}; its streams are {', '.join(by_name)}"
        )
    specs = [by_name[n] for n in named] if named else available
    return plan_streams(f, specs, ctx, shape)
