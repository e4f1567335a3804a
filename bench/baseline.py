"""The baseline: what users do today, the hand-written replay source of dranspose's docs.

Reads each frame with h5py (`dset[i]`), compresses it with `bitshuffle.compress_lz4`,
wraps it in dranspose's `Stream1Start/Stream1Data/Stream1End`, `StreamData` and
`InternalWorkerMessage`, and writes each message the way `dranspose.ingester.Dumper`
does: `cbor2.dump(CBORTag(55799, msg), fh, default=dranspose.event.message_encoder)`.

Unlike the documented example, the series end gets its own event (N+1), so event
numbers run 0..N+1, as `h5tocbors` writes them.

Run: python bench/baseline.py INPUT.h5 DATASET OUTPUT.cbors [STREAM]
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator

import cbor2
import h5py
import hdf5plugin  # noqa: F401  (registers the bitshuffle/LZ4 filters with HDF5)
from bitshuffle import compress_lz4
from dranspose.data.stream1 import Stream1Data, Stream1End, Stream1Start
from dranspose.event import InternalWorkerMessage, StreamData, message_encoder


def messages(path: str, dataset: str, stream: str) -> Iterator[InternalWorkerMessage]:
    """The STINS messages of `dataset`, one frame per event, as the documented source."""
    with h5py.File(path, "r") as fd:
        dset = fd[dataset]
        msg_number = itertools.count(0)
        stins_start = Stream1Start(
            htype="header", filename="", msg_number=next(msg_number)
        ).model_dump_json()
        yield InternalWorkerMessage(
            event_number=0, streams={stream: StreamData(typ="STINS", frames=[stins_start])}
        )
        frameno = 0
        for frameno in range(dset.shape[0]):
            image = dset[frameno]
            stins = Stream1Data(
                htype="image",
                msg_number=next(msg_number),
                frame=frameno,
                shape=image.shape,
                compression="bslz4",
                type=str(image.dtype),
            ).model_dump_json()
            dat = compress_lz4(image)
            yield InternalWorkerMessage(
                event_number=frameno + 1,
                streams={stream: StreamData(typ="STINS", frames=[stins, dat.tobytes()])},
            )
        stins_end = Stream1End(htype="series_end", msg_number=next(msg_number)).model_dump_json()
        yield InternalWorkerMessage(
            event_number=dset.shape[0] + 1,
            streams={stream: StreamData(typ="STINS", frames=[stins_end])},
        )


def main(path: str, dataset: str, output: str, stream: str = "pilatus") -> None:
    with open(output, "wb") as fh:
        for msg in messages(path, dataset, stream):
            cbor2.dump(cbor2.CBORTag(55799, msg), fh, default=message_encoder)


if __name__ == "__main__":
    main(*sys.argv[1:])
