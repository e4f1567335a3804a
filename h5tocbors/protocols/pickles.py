"""Pickles as contrast and the xspress3 streamer send them, and a strict loader for captures.

`dumps` writes pickles that load under numpy 1.x and 2.x alike: numpy 2 pickles arrays by
`numpy._core.multiarray._reconstruct`, a module numpy 1.x does not have, so the global is
written under its numpy 1 name `numpy.core.multiarray`, which numpy 2 still resolves.

`loads` unpickles untrusted payloads: plain containers, `OrderedDict` and numpy arrays of
non-object dtypes, nothing else. numpy's own unpickling is never reached: arrays are
rebuilt here from their shape, a checked dtype and their bytes. Any other global, an
object dtype, a cycle, deep nesting, a dict key or set member that is not a str (`pickle_scan`),
or an oversized payload is refused with `RefusedPickle`. The globals a pickle may name are
stand-ins with no state a pickle could change: nothing leaks from one load to the next.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import re
import reprlib
from collections import OrderedDict
from collections.abc import Callable
from math import prod
from typing import Any

import numpy as np

from .. import reading
from ..errors import H5ToCborsError
from .pickle_scan import refusal

MAX_BYTES = 64 << 20
"""The largest payload `loads` accepts."""
MAX_DEPTH = 64
"""The deepest nesting of containers `loads` accepts."""
MAX_DIMS = 32
"""The most dimensions of an array `loads` accepts (numpy 1.x's and HDF5's limit)."""


def _numpy1_global(module: str, name: str) -> bytes:
    """The GLOBAL opcode naming `module.name`, `numpy._core` written as `numpy.core`."""
    return pickle.GLOBAL + f"numpy.core{module[len('numpy._core') :]}\n{name}\n".encode()


class _Numpy1Pickler(pickle._Pickler):  # typeshed lacks the pure pickler's save_* API
    """The pure-Python pickler, writing `numpy._core.*` globals under their numpy 1 names."""

    def save_global(self, obj: Any, name: str | None = None) -> None:
        module = getattr(obj, "__module__", None) or ""
        if module == "numpy._core" or module.startswith("numpy._core."):
            self.write(_numpy1_global(module, name or obj.__qualname__))  # type: ignore[attr-defined]
            self.memoize(obj)  # type: ignore[attr-defined]
            return
        super().save_global(obj, name)  # type: ignore[misc]


def dumps(obj: object, protocol: int = 2) -> bytes:
    """`pickle.dumps(obj, protocol)`, loadable under numpy 1.x and 2.x (protocol 2 or 3).

    The C pickler memoizes a global: `_reconstruct` is written once, before any array's
    data, where the opcodes (not a text search, which array bytes could fool) find it.
    Where another `numpy._core` name remains, the pure-Python pickler writes it all.

    Example:
        >>> b"numpy.core.multiarray\\n_reconstruct" in dumps([np.zeros(2)])
        True
    """
    if protocol not in (2, 3):
        raise ValueError(f"protocol {protocol}: only 2 and 3 write the GLOBAL names mapped here")
    data = pickle.dumps(obj, protocol)
    for op, arg, pos in pickletools.genops(data):
        if op.name == "GLOBAL" and str(arg).startswith("numpy._core") and pos is not None:
            module, name = str(arg).split(" ", 1)
            end = pos + len(f"c{module}\n{name}\n")
            data = data[:pos] + _numpy1_global(module, name) + data[end:]
            break
    if b"numpy._core" not in data:
        return data
    buf = io.BytesIO()  # another such global, or those letters in a value: the slow, sure way
    _Numpy1Pickler(buf, protocol).dump(obj)
    return buf.getvalue()


class RefusedPickle(H5ToCborsError):
    """A payload that `loads` will not unpickle, and why."""


_SIMPLE_DTYPE = re.compile(r"[biufcSU][0-9]{1,4}|b1|\?")


class _Global:
    """A global a pickle may name: called as the pickle calls it; BUILD on it is refused, and
    it has no other state, so that no pickle changes it for the loads after it."""

    __slots__ = ("call",)

    def __init__(self, call: Callable[..., object]) -> None:
        self.call = call

    def __call__(self, *args: object) -> object:
        return self.call(*args)

    def __setstate__(self, state: object) -> None:
        raise RefusedPickle("the pickle sets the state of a global (BUILD), which is refused")


class _DtypeStub:
    """A dtype as pickled: checked and made by `resolve`, never by numpy's unpickling."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, spec: object) -> None:
        if not isinstance(spec, str) or not _SIMPLE_DTYPE.fullmatch(spec):
            raise RefusedPickle(f"dtype {_shown(spec)} is not a plain numeric or string dtype")
        try:
            size = np.dtype(spec).itemsize
        except TypeError:  # 'f0', 'i3': the pattern allows sizes numpy has no type for
            raise RefusedPickle(f"dtype {spec!r} is no numpy dtype") from None
        if size == 0:
            raise RefusedPickle(f"dtype {spec!r} has no size (no array can hold it)")
        self.spec = spec
        self.order = "|"

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, tuple) or len(state) < 5 or state[1] not in ("<", ">", "|", "="):
            raise RefusedPickle("dtype state is not that of a plain dtype")
        if state[2] is not None or state[3] is not None or state[4] is not None:
            raise RefusedPickle("structured or sub-array dtypes are refused")
        self.order = state[1]

    def resolve(self) -> np.dtype:
        dtype = np.dtype(self.spec).newbyteorder(self.order)  # type: ignore[arg-type]
        if dtype.hasobject:
            raise RefusedPickle("object dtypes are refused")
        return dtype


class _ArrayStub:
    """An array as pickled: its state is checked and the array built by `resolve`."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self) -> None:
        self.state: tuple[tuple[int, ...], _DtypeStub, bool, bytes] | None = None

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, tuple) or len(state) != 5:
            raise RefusedPickle("array state is not (version, shape, dtype, fortran, data)")
        _, shape, dtype, fortran, data = state
        if not isinstance(dtype, _DtypeStub):
            raise RefusedPickle("array dtype is not a plain dtype")
        if not isinstance(data, bytes):
            raise RefusedPickle("array data is not bytes (object arrays are refused)")
        if not isinstance(shape, tuple) or not all(
            isinstance(n, int) and 0 <= n <= MAX_BYTES for n in shape
        ):
            raise RefusedPickle(f"array shape {_shown(shape)} is not a tuple of sizes")
        if len(shape) > MAX_DIMS:
            raise RefusedPickle(f"array of {len(shape)} dimensions, more than {MAX_DIMS}")
        self.state = (shape, dtype, bool(fortran), data)

    def resolve(self, budget: _Budget) -> np.ndarray:
        if self.state is None:
            raise RefusedPickle("array without data")
        shape, stub, fortran, data = self.state
        dtype = stub.resolve()
        if prod(shape) * dtype.itemsize != len(data):
            raise RefusedPickle(f"array of shape {shape} {dtype} has {len(data)} bytes of data")
        spans = prod(n or 1 for n in shape) * dtype.itemsize  # numpy refuses it though empty
        if 0 in shape and spans > MAX_BYTES:
            raise RefusedPickle(f"array of shape {shape} {dtype} spans more than {MAX_BYTES} bytes")
        budget.copy(data)
        flat = np.frombuffer(data, dtype)
        return flat.reshape(shape, order="F" if fortran else "C").copy(order="K")


class _Budget:
    """Bytes that the loader may make beyond what the pickle holds: no more than its size.

    Each byte is counted once: a byte string the pickle holds is free, one that latin-1 of a
    str makes is counted where it is made; an array's copy of its data is free the first
    time, counted when another array takes the same byte string (shared references: one
    byte string referenced a thousand times is not copied a thousand times).
    """

    def __init__(self, left: int) -> None:
        self.left = left
        self.copied: set[int] = set()

    def spend(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise RefusedPickle("the pickle makes more data than it holds (shared references)")

    def copy(self, data: bytes) -> None:
        """Counts an array's copy of `data` (alive, and so its id its own, while loading)."""
        if id(data) in self.copied:
            self.spend(len(data))
        self.copied.add(id(data))


def _shown(obj: object) -> str:
    """`obj` for a message, shortened (a pickle's values can be megabytes)."""
    return reprlib.repr(obj)


def _ndarray(*args: object) -> object:
    """`numpy.ndarray` called: refused (it stands only as `_reconstruct`'s first argument)."""
    raise RefusedPickle("numpy.ndarray is only allowed as the class _reconstruct makes")


def _reconstruct(cls: object, shape: object, typecode: object) -> _ArrayStub:
    if cls is not _NDARRAY:
        raise RefusedPickle("_reconstruct of something other than numpy.ndarray")
    return _ArrayStub()


def _dtype(spec: object, align: object = False, copy: object = False) -> _DtypeStub:
    return _DtypeStub(spec)


def _empty_bytes(*args: object) -> bytes:
    """`bytes()`, as protocol 2 pickles an empty byte string (an empty array's data)."""
    if args:
        raise RefusedPickle("bytes is only allowed without arguments")
    return b""


def _ordered_dict(*args: object) -> OrderedDict[object, object]:
    """`OrderedDict()`, as pickles make one before they set its items (each key checked)."""
    if args:
        raise RefusedPickle("OrderedDict is only allowed without arguments")
    return OrderedDict()


_NDARRAY = _Global(_ndarray)
_STAND_INS = {
    "OrderedDict": _Global(_ordered_dict),
    "ndarray": _NDARRAY,
    "dtype": _Global(_dtype),
    "_reconstruct": _Global(_reconstruct),
    "bytes": _Global(_empty_bytes),
}


ALLOWED = {
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("_codecs", "encode"),
    ("__builtin__", "bytes"),
    ("builtins", "bytes"),
}
"""Every global a pickle may name; each is replaced by a stand-in that checks its use."""


class _StrictUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, budget: _Budget) -> None:
        super().__init__(io.BytesIO(data))
        self.budget = budget
        self.stand_ins = _STAND_INS | {"encode": _Global(self._latin1)}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise RefusedPickle(f"the pickle calls {module}.{name}, which is not allowed")
        return self.stand_ins[name]

    def persistent_load(self, pid: object) -> Any:
        raise RefusedPickle("persistent ids are refused")

    def _latin1(self, text: object, encoding: object = "utf-8") -> bytes:
        """`_codecs.encode` as protocol 2 uses it for bytes: latin-1 of a str, nothing else."""
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
            raise RefusedPickle("_codecs.encode is only allowed as latin1 of a str")
        self.budget.spend(len(text))
        return text.encode("latin-1")


_LEAVES = (type(None), bool, int, float, complex, str, bytes)


def loads(data: bytes, max_bytes: int = MAX_BYTES) -> Any:
    """Unpickle an untrusted payload that holds only containers, numbers, strings and arrays.

    Example:
        >>> loads(dumps({"x": np.arange(2.0)}))
        {'x': array([0., 1.])}
        >>> loads(b"cos\\nsystem\\n(S'true'\\ntR.")
        Traceback (most recent call last):
        ...
        h5tocbors.protocols.pickles.RefusedPickle: the pickle calls os.system, which is not allowed
    """
    if len(data) > max_bytes:
        raise RefusedPickle(f"pickle of {len(data)} bytes is larger than {max_bytes}")
    budget = _Budget(len(data))
    with reading.unpickling():
        try:
            refused = refusal(data)  # before the unpickler allocates, hashes or calls anything
            if refused:
                raise RefusedPickle(refused)
            obj = _StrictUnpickler(data, budget).load()
        except RefusedPickle:
            raise
        except Exception as e:  # any failure of an untrusted payload is a refusal, named
            raise RefusedPickle(f"not a valid pickle: {type(e).__name__}: {e}") from e
        return _Resolver(budget).resolve(obj, 0)


class _Resolver:
    """Replaces every stub by its array, each object once; refuses what is not allowed."""

    def __init__(self, budget: _Budget) -> None:
        self.budget = budget
        self.done: dict[int, object] = {}
        self.open: set[int] = set()

    def resolve(self, obj: object, depth: int) -> object:
        if isinstance(obj, _LEAVES):
            return obj
        key = id(obj)
        if key in self.done:
            return self.done[key]
        if key in self.open:
            raise RefusedPickle("the pickle holds a container that contains itself")
        if depth > MAX_DEPTH:
            raise RefusedPickle(f"containers nested deeper than {MAX_DEPTH}")
        self.open.add(key)
        result: object
        if isinstance(obj, _ArrayStub):
            result = obj.resolve(self.budget)
        elif isinstance(obj, _DtypeStub):
            result = obj.resolve()
        elif isinstance(obj, dict) and type(obj) in (dict, OrderedDict):
            result = type(obj)(
                (self.resolve(k, depth + 1), self.resolve(v, depth + 1)) for k, v in obj.items()
            )
        elif isinstance(obj, list | tuple | set | frozenset) and type(obj) in (
            list,
            tuple,
            set,
            frozenset,
        ):
            result = type(obj)(self.resolve(v, depth + 1) for v in obj)
        else:
            raise RefusedPickle(f"the pickle holds a {type(obj).__name__}, which is not allowed")
        self.open.discard(key)
        self.done[key] = result
        return result
