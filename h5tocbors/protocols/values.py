"""Compare decoded message values exactly, and name where two differ.

`verify` regenerates each message from the HDF5 file and compares it with the capture's:
arrays by dtype, shape and bits; floats by bits (a NaN equals itself, -0.0 differs from
0.0); containers key by key. The first difference is named by its key path.
"""

from __future__ import annotations

import reprlib
import struct
from collections.abc import Callable, Mapping, Sequence
from math import prod
from typing import TypeGuard

import numpy as np

from ..errors import shortened
from ..hdf5.types import dtype_name

Comparer = Callable[[Sequence[bytes], Sequence[bytes]], "str | None"]
"""Compares a message of a capture (second) with the one the HDF5 file gives (first):
where they differ, or None. A protocol's comparer may follow the stream (PCAP_RAW's
fields come in its header)."""


def difference(expected: object, actual: object, where: str = "") -> str | None:
    """Where `actual` differs from `expected`, or None when they are the same, bit for bit.

    Example:
        >>> difference({"x": np.arange(3.0), "dt": 0.5}, {"x": np.arange(3.0), "dt": 0.25})
        'dt is 0.25, not 0.5'
        >>> difference([1.0, float("nan")], [1.0, float("nan")]) is None
        True
    """
    label = where or "the value"
    if isinstance(expected, np.ndarray) or isinstance(actual, np.ndarray):
        return array_difference(expected, actual, label)
    if type(expected) is not type(actual):
        return f"{label} is {show(actual)}, not {show(expected)}"
    if isinstance(expected, Mapping):
        assert isinstance(actual, Mapping)
        return mapping_difference(expected, actual, where)
    if isinstance(expected, list | tuple):
        assert isinstance(actual, list | tuple)
        if len(expected) != len(actual):
            return f"{label} has {len(actual)} items, not {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            found = difference(e, a, f"{where}[{i}]")
            if found is not None:
                return found
        return None
    if isinstance(expected, float):
        same = struct.pack("<d", expected) == struct.pack("<d", actual)
    else:
        same = bool(expected == actual)
    return None if same else f"{label} is {show(actual)}, not {show(expected)}"


def loaded_difference(
    load: Callable[[list[bytes]], object], expected: Sequence[bytes], actual: Sequence[bytes]
) -> str | None:
    """Where two messages differ once `load` made values of their frames (a `str` from it:
    why the actual message cannot be read), or None."""
    got = load(list(actual))
    if isinstance(got, str):
        return got
    want = load(list(expected))
    assert not isinstance(want, str)
    return difference(want, got)


def mapping_difference(
    expected: Mapping[object, object], actual: Mapping[object, object], where: str
) -> str | None:
    """Keys missing or added, else the first value that differs."""
    label = where or "the message"
    missing = [k for k in expected if k not in actual]
    if missing:
        return f"{label} lacks {show(missing[0])}"
    extra = [k for k in actual if k not in expected]
    if extra:
        return f"{label} has {show(extra[0])}, which the source has not"
    for key, value in expected.items():
        found = difference(value, actual[key], f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def array_difference(expected: object, actual: object, label: str) -> str | None:
    """Dtype, shape, then how many elements differ."""
    if not isinstance(expected, np.ndarray) or not isinstance(actual, np.ndarray):
        return f"{label} is {show(actual)}, not {show(expected)}"
    if expected.dtype != actual.dtype or expected.shape != actual.shape:
        return (
            f"{label} is {dtype_name(actual.dtype)} {list(actual.shape)}, "
            f"not {dtype_name(expected.dtype)} {list(expected.shape)}"
        )
    if expected.tobytes() == actual.tobytes():
        return None
    size = expected.dtype.itemsize or 1
    a = np.frombuffer(expected.tobytes(), np.uint8).reshape(-1, size)
    b = np.frombuffer(actual.tobytes(), np.uint8).reshape(-1, size)
    count = int(np.count_nonzero((a != b).any(axis=1)))
    return f"{label} differs in {count} of {expected.size} elements"


def bytes_difference(expected: bytes, actual: bytes, label: str) -> str | None:
    """Lengths, then how many bytes differ."""
    if expected == actual:
        return None
    if len(expected) != len(actual):
        return f"{label} has {len(actual)} bytes, not {len(expected)}"
    count = int(
        np.count_nonzero(np.frombuffer(expected, np.uint8) != np.frombuffer(actual, np.uint8))
    )
    return f"{label} differs in {count} of {len(expected)} bytes"


class _Shown(reprlib.Repr):
    """`repr` that stops early: containers cut after a few items, integers too long to
    print (Python refuses more than 4300 digits) named by their size."""

    def __init__(self) -> None:
        super().__init__()
        self.maxstring = self.maxother = self.maxlong = 60

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 200:
            return f"<an integer of {x.bit_length()} bits>"
        return super().repr_int(x, level)


_shown = _Shown()


def show(value: object) -> str:
    """A value for a message, shortened: values from files can be huge.

    Example:
        >>> show(2**100_000), show(list(range(100)))
        ('<an integer of 100001 bits>', '[0, 1, 2, 3, 4, 5, ...]')
    """
    return shortened(_shown.repr(value))


def is_integer(value: object) -> TypeGuard[int]:
    """True for a JSON or CBOR integer, not `True` or `False` (which are ints to Python).

    Example:
        >>> is_integer(3), is_integer(True), is_integer(3.0)
        (True, False, False)
    """
    return isinstance(value, int) and not isinstance(value, bool)


def is_plain_number(dtype: np.dtype) -> bool:
    """True for the dtypes whose values are Python's own `bool`, `int` and `float` (up to
    64 bits): `float128` (long double) has no Python or JSON form that keeps its value.

    Example:
        >>> is_plain_number(np.dtype("f8")), is_plain_number(np.dtype("f16"))
        (True, False)
    """
    return dtype.kind in "biuf" and dtype.fields is None and dtype.itemsize <= 8


def array_nbytes(shape: object, dtype: object, ndim: int) -> int | None:
    """Bytes of an array a capture's JSON declares: `shape` a list of `ndim` sizes (checked
    before they are multiplied: a hostile list of huge sizes takes minutes), `dtype` a plain
    number type; None when either is not.

    Example:
        >>> array_nbytes([2, 3], "float64", 2), array_nbytes([10**400] * 9, "uint8", 2)
        (48, None)
    """
    if not isinstance(shape, list) or len(shape) != ndim:
        return None
    if not all(type(n) is int and n >= 0 for n in shape):
        return None
    try:
        dt = np.dtype(str(dtype))
    except (TypeError, ValueError):
        return None
    return prod(shape) * dt.itemsize if is_plain_number(dt) else None


def frame_count_difference(expected: Sequence[bytes], actual: Sequence[bytes]) -> str | None:
    """Messages with a different number of zmq frames."""
    if len(expected) != len(actual):
        return f"the message has {len(actual)} zmq frames, not {len(expected)}"
    return None
