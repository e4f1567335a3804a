"""A `dranspose replay -s` source built on `h5tocbors.iter_messages`, for the end-to-end tests.

`dranspose replay -s tests.replay_source:PilatusSource ...` replays the `pilatus` stream of
the HDF5 file named by the environment variable `H5TOCBORS_INPUT`, without any capture file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

from dranspose.event import InternalWorkerMessage

from h5tocbors import ReplaySource, iter_messages

INPUT_ENV = "H5TOCBORS_INPUT"
CONFIG_ENV = "H5TOCBORS_CONFIG"


class PilatusSource:
    """One generator: the STINS messages of stream `pilatus` of `$H5TOCBORS_INPUT`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def get_source_generators(self) -> list[Iterator[InternalWorkerMessage]]:
        return [iter_messages(os.environ[INPUT_ENV], "pilatus")]


class ScanSource(ReplaySource):
    """Every stream of the contrast scan whose master file is `$H5TOCBORS_INPUT`."""

    input = os.environ.get(INPUT_ENV, "")


class ScanStreamsSource(ScanSource):
    """Three streams of that scan, as NanoMAX scan 8 is replayed (its Pilatus file is lost)."""

    streams = ("xspress3", "panda0", "contrast")


class SardanaEntrySource(ScanSource):
    """The streams of scan entry `entry4` of the NXscan file `$H5TOCBORS_INPUT`."""

    entry = "entry4"


class ConfiguredScanSource(ScanSource):
    """The streams of `$H5TOCBORS_INPUT` as the `--config` file `$H5TOCBORS_CONFIG` gives them."""

    config = os.environ.get(CONFIG_ENV) or None


class AlbaemSource(ReplaySource):
    """The AlbaEM stream `em` of the group `/entry/instrument/albaem` of `$H5TOCBORS_INPUT`."""

    input = os.environ.get(INPUT_ENV, "")
    streams = MappingProxyType({"em": "/entry/instrument/albaem:albaem"})
