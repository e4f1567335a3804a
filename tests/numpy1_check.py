"""Load the pickles the writers made under an old numpy with plain `pickle.loads`, as an old
worker image does, and compare each with the values recorded beside it. Needs only numpy
and the standard library.

numpy 1.26 already reads numpy 2's `numpy._core` names, older 1.x releases do not: the
check first proves that the numpy running it cannot load a plain numpy 2 pickle, so that
passing means something.

Run: python tests/numpy1_check.py DIR  (DIR holds NAME.pickle and NAME.json pairs)
"""

from __future__ import annotations

import json
import pickle
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np


def describe(value: Any) -> Any:
    """A JSON form of a message that tells containers, order, dtypes and bytes apart."""
    if isinstance(value, np.ndarray):  # values compared in native byte order
        native = value.astype(value.dtype.newbyteorder("="))
        return {"array": [native.dtype.str, list(value.shape), native.tobytes().hex()]}
    if isinstance(value, dict):
        kind = "OrderedDict" if isinstance(value, OrderedDict) else "dict"
        return {kind: [[describe(k), describe(v)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        return {type(value).__name__: [describe(v) for v in value]}
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, float):
        return {"float": value.hex()}
    if value is None or isinstance(value, bool | int | str):
        return {type(value).__name__: value}
    raise TypeError(f"unexpected {type(value).__name__} in a message")


NUMPY2_PICKLE = (
    b"\x80\x02cnumpy._core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01K\x00\x85q\x02"
    b"c_codecs\nencode\nq\x03X\x01\x00\x00\x00bq\x04X\x06\x00\x00\x00latin1q\x05\x86q\x06Rq\x07"
    b"\x87q\x08Rq\t(K\x01K\x01\x85q\ncnumpy\ndtype\nq\x0bX\x02\x00\x00\x00u1q\x0c\x89\x88\x87q\r"
    b"Rq\x0e(K\x03X\x01\x00\x00\x00|q\x0fNNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\x10b\x89h\x03"
    b"X\x01\x00\x00\x00\x00q\x11h\x05\x86q\x12Rq\x13tq\x14b."
)
"""`pickle.dumps(np.zeros(1, np.uint8), 2)` under numpy 2: refers to `numpy._core`."""


def main(directory: str) -> int:
    try:
        pickle.loads(NUMPY2_PICKLE)
    except ModuleNotFoundError:
        pass
    else:
        print(f"numpy1_check: numpy {np.__version__} reads numpy 2 pickles: no proof here")
        return 1
    pairs = sorted(Path(directory).glob("*.pickle"))
    if not pairs:
        print(f"numpy1_check: no pickles in {directory}", file=sys.stderr)
        return 1
    for path in pairs:
        try:
            loaded = describe(pickle.loads(path.read_bytes()))
        except Exception as e:
            print(f"numpy1_check: {path.name} fails under numpy {np.__version__}: {e!r}")
            return 1
        expected = json.loads(path.with_suffix(".json").read_text())
        if loaded != expected:
            print(f"numpy1_check: {path.name} loads differently under numpy {np.__version__}")
            return 1
    print(f"numpy {np.__version__}: {len(pairs)} pickles load with the values written")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
