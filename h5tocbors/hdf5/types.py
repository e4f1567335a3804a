"""Element types named as a user reads them, and datasets whose type numpy cannot hold.

HDF5 has types numpy lacks (its time type, 128-bit floats on x86) and types numpy names
by size alone: x86's 80-bit long double is numpy's `float128`, an array of 3 float64 is
`void192`.
"""

from __future__ import annotations

import h5py
import numpy as np

from ..errors import H5ToCborsError
from .open import metadata_of

CLASSES = {
    h5py.h5t.INTEGER: "integer",
    h5py.h5t.FLOAT: "float",
    h5py.h5t.TIME: "time",
    h5py.h5t.STRING: "string",
    h5py.h5t.BITFIELD: "bitfield",
    h5py.h5t.OPAQUE: "opaque",
    h5py.h5t.COMPOUND: "compound",
    h5py.h5t.REFERENCE: "reference",
    h5py.h5t.ENUM: "enum",
    h5py.h5t.VLEN: "variable-length",
    h5py.h5t.ARRAY: "array",
}
EXTENDED, QUAD = 63, 112
"""Mantissa bits (stored, without the implicit bit) of x87's 80-bit extended float and of
IEEE quadruple precision."""


class NoNumpyType(H5ToCborsError):
    """A dataset whose element type numpy has no equivalent for; the message names it (not
    the dataset: callers say where)."""


def float_name(bits: int, mantissa: int) -> str:
    """A float wider than 64 bits by what it is, not by its padded size.

    Example:
        >>> float_name(128, 63), float_name(128, 112)
        ('80-bit extended float (long double)', '128-bit float (quadruple precision)')
    """
    if mantissa == EXTENDED:
        return "80-bit extended float (long double)"
    if mantissa == QUAD:
        return "128-bit float (quadruple precision)"
    return f"{bits}-bit float ({mantissa}-bit mantissa)"


def dtype_name(dtype: np.dtype) -> str:
    """`uint16`, `>u2` for big-endian, `complex128`, `string`, `compound`, `array of 3
    float64`, `80-bit extended float (long double)`, `opaque (24 bytes)`, ...

    Example:
        >>> dtype_name(np.dtype(("<f8", (3,)))), dtype_name(np.dtype(">u2"))
        ('array of 3 float64', '>u2')
        >>> dtype_name(np.dtype("V24")), dtype_name(np.dtype(np.clongdouble))
        ('opaque (24 bytes)', 'complex 80-bit extended float (long double)')
    """
    if h5py.check_string_dtype(dtype) is not None:
        return "string"
    if dtype.fields is not None:
        return "compound"
    if dtype.subdtype is not None:
        base, shape = dtype.subdtype
        return f"array of {'x'.join(map(str, shape))} {dtype_name(base)}"
    if dtype.kind in "fc" and dtype.itemsize > (8 if dtype.kind == "f" else 16):
        part = dtype if dtype.kind == "f" else np.dtype(f"f{dtype.itemsize // 2}")
        name = float_name(part.itemsize * 8, np.finfo(part).nmant)
        return name if dtype.kind == "f" else f"complex {name}"
    if dtype.kind == "V":  # HDF5's opaque type: numpy names it by bits, `void192`
        return f"opaque ({dtype.itemsize} bytes)"
    return dtype.str if dtype.byteorder == ">" else dtype.name


def hdf5_type_name(tid: h5py.h5t.TypeID) -> str:
    """An HDF5 type by what it is: `time (32-bit)`, `128-bit float (quadruple precision)`,
    `array of 3 ...`; else its class (`compound`, `opaque`, ...)."""
    if isinstance(tid, h5py.h5t.TypeArrayID):
        shape = "x".join(map(str, tid.get_array_dims()))
        return f"array of {shape} {hdf5_type_name(tid.get_super())}"
    if isinstance(tid, h5py.h5t.TypeFloatID):
        return float_name(tid.get_size() * 8, tid.get_fields()[4])
    if isinstance(tid, h5py.h5t.TypeTimeID):
        return f"HDF5 time ({tid.get_size() * 8}-bit)"
    return CLASSES.get(tid.get_class(), f"HDF5 type class {tid.get_class()}")


def numpy_dtype(dset: h5py.Dataset) -> np.dtype:
    """The numpy dtype of `dset`'s elements.

    Raises `NoNumpyType` naming the HDF5 type when numpy has none (h5py then raises
    TypeError or ValueError); unreadable metadata is a corrupt file (`metadata_of`).
    """
    with metadata_of(dset.file, dset.name):
        tid = dset.id.get_type()
    try:
        dtype: np.dtype = dset.dtype
    except (TypeError, ValueError) as e:
        with metadata_of(dset.file, dset.name):
            name = hdf5_type_name(tid)
        raise NoNumpyType(
            f"{name} data: numpy has no such type, so h5tocbors cannot read it"
        ) from e
    return dtype
