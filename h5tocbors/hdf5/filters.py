"""A dataset's storage: its filter pipeline and whether it keeps raw data in external files."""

from __future__ import annotations

import h5py

from ..errors import H5ToCborsError
from .open import load_filters

DEFLATE, SHUFFLE, ZSTD, BITSHUFFLE_FILTER = 1, 2, 32015, 32008
FILTER_NAMES = {
    1: "gzip",
    2: "shuffle",
    3: "fletcher32",
    4: "szip",
    5: "nbit",
    6: "scaleoffset",
    305: "lzo",
    307: "bzip2",
    32000: "lzf",
    32001: "blosc",
    32002: "mafisc",
    32003: "snappy",
    32004: "lz4",
    32005: "apax",
    32006: "cbf",
    32007: "jpeg-xr",
    32009: "spdp",
    32010: "lpc-rice",
    32011: "ccsds-123",
    32012: "jpeg-ls",
    32013: "zfp",
    32014: "fpzip",
    32015: "zstd",
    32016: "b3d",
    32017: "sz",
    32018: "fcidecomp",
    32019: "jpeg",
    32020: "vbz",
    32021: "fapec",
    32022: "bitgroom",
    32023: "granularbr",
    32024: "sz3",
    32025: "delta-rice",
    32026: "blosc2",
    32027: "flac",
    32028: "sperr",
    32033: "htj2k",
}
"""Filter ids as registered with the HDF Group (its list of registered filter plugins)."""
BITSHUFFLE_LZ4, BITSHUFFLE_ZSTD = 2, 3
"""The compression modes of the HDF5 bitshuffle filter (its client value 4; 0: none)."""
BITSHUFFLE_MODES = {
    0: "bitshuffle",
    BITSHUFFLE_LZ4: "bitshuffle-lz4",
    BITSHUFFLE_ZSTD: "bitshuffle-zstd",
}


def bitshuffle_mode(values: tuple[int, ...]) -> int:
    """The compression mode in the bitshuffle filter's client `values` (0 when not given).

    Example:
        >>> bitshuffle_mode((0, 3, 4, 0, 2)), bitshuffle_mode((0, 3, 4))
        (2, 0)
    """
    return values[4] if len(values) > 4 else 0


def filters(dset: h5py.Dataset) -> list[tuple[int, tuple[int, ...]]]:
    """The dataset's filter pipeline as (filter id, client values), in write order."""
    dcpl = dset.id.get_create_plist()
    return [dcpl.get_filter(i)[::2] for i in range(dcpl.get_nfilters())]


def is_external(dset: h5py.Dataset) -> bool:
    """True when the dataset keeps its data in external raw files."""
    return bool(dset.id.get_create_plist().get_external_count() > 0)


def filter_name(code: int, values: tuple[int, ...] = ()) -> str:
    """A filter's name, e.g. `gzip`, `bitshuffle-lz4` (with its client values), `filter-40000`.

    Example:
        >>> filter_name(32001), filter_name(32008, (0, 3, 4, 0, 2)), filter_name(40000)
        ('blosc', 'bitshuffle-lz4', 'filter-40000')
    """
    if code == BITSHUFFLE_FILTER:
        mode = bitshuffle_mode(values)
        return BITSHUFFLE_MODES.get(mode, f"bitshuffle-{mode}")
    return FILTER_NAMES.get(code, f"filter-{code}")


def filter_names(dset: h5py.Dataset) -> list[str]:
    """The dataset's filter pipeline by name, e.g. `["bitshuffle-lz4"]`; `[]` when none."""
    return [filter_name(code, values) for code, values in filters(dset)]


def describe_filters(pipeline: list[tuple[int, tuple[int, ...]]]) -> str:
    """A filter pipeline by name, in write order, e.g. `shuffle, gzip`; `none` for no filter.

    Example:
        >>> describe_filters([(2, ()), (1, (4,))])
        'shuffle, gzip'
    """
    return ", ".join(filter_name(code, values) for code, values in pipeline) or "none"


PLUGIN_FILTERS = frozenset({BITSHUFFLE_FILTER, 32004, ZSTD})
"""Detector filters that hdf5plugin (a dependency) registers with HDF5 (bitshuffle, lz4,
zstd): available without importing it, which loads a dozen plugin libraries (24 ms). It is
imported only before HDF5 decodes data (`load_filters`); passed-through chunks never are."""


def unavailable_filters(dset: h5py.Dataset) -> list[str]:
    """The filters of the dataset's pipeline that HDF5 cannot decode here (no plugin for them),
    each as `32019 (jpeg)`; `[]` when every one is available.

    Example:
        >>> unavailable_filters(f["/entry/jpeg_images"])  # doctest: +SKIP
        ['32019 (jpeg)']
    """
    if dset.chunks is None:
        return []
    pipeline = filters(dset)
    if all(code in PLUGIN_FILTERS or h5py.h5z.filter_avail(code) for code, _ in pipeline):
        return []
    load_filters()  # hdf5plugin's filters count as available: register them, look again
    return [
        f"{code} ({filter_name(code, values)})"
        for code, values in pipeline
        if not h5py.h5z.filter_avail(code)
    ]


def filters_refusal(dset: h5py.Dataset) -> str | None:
    """Why the data of `dset` cannot be decoded here (a filter without its plugin), or None.

    Example:
        >>> filters_refusal(f["/entry/jpeg_images"])  # doctest: +SKIP
        'filter 32019 (jpeg) is not available (no HDF5 plugin for it here), so its data ...'
    """
    missing = unavailable_filters(dset)
    if not missing:
        return None
    return (
        f"{'filter' if len(missing) == 1 else 'filters'} {', '.join(missing)} "
        f"{'is' if len(missing) == 1 else 'are'} not available (no HDF5 plugin for it "
        "here), so its data cannot be decoded"
    )


def check_filters_available(dset: h5py.Dataset) -> None:
    """Refuse a dataset whose data needs a filter that is not available, before any is read.

    HDF5 would fail on the first chunk with its plugin search path as the only hint.
    """
    refusal = filters_refusal(dset)
    if refusal is not None:
        raise H5ToCborsError(f"{dset.name}: {refusal}")
