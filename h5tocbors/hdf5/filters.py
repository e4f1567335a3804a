"""A dataset's storage: its filter pipeline and whether it keeps raw data in external files."""

from __future__ import annotations

import h5py

BITSHUFFLE_FILTER = 32008
FILTER_NAMES = {
    1: "gzip",
    2: "shuffle",
    3: "fletcher32",
    4: "szip",
    5: "nbit",
    6: "scaleoffset",
    32000: "lzf",
    32001: "blosc",
    32004: "lz4",
    32013: "zfp",
    32015: "zstd",
    32017: "sz",
    32024: "sz3",
    32026: "blosc2",
}
BITSHUFFLE_MODES = {0: "bitshuffle", 2: "bitshuffle-lz4", 3: "bitshuffle-zstd"}


def filters(dset: h5py.Dataset) -> list[tuple[int, tuple[int, ...]]]:
    """The dataset's filter pipeline as (filter id, client values), in write order."""
    dcpl = dset.id.get_create_plist()
    return [dcpl.get_filter(i)[::2] for i in range(dcpl.get_nfilters())]


def is_external(dset: h5py.Dataset) -> bool:
    """True when the dataset keeps its data in external raw files."""
    return bool(dset.id.get_create_plist().get_external_count() > 0)


def filter_names(dset: h5py.Dataset) -> list[str]:
    """The dataset's filter pipeline by name, e.g. `["bitshuffle-lz4"]`; `[]` when none."""
    names = []
    for code, values in filters(dset):
        if code == BITSHUFFLE_FILTER:
            mode = values[4] if len(values) > 4 else 0
            names.append(BITSHUFFLE_MODES.get(mode, f"bitshuffle-{mode}"))
        else:
            names.append(FILTER_NAMES.get(code, f"filter-{code}"))
    return names
