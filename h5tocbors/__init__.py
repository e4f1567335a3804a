"""h5tocbors: turn HDF5 detector data into captures that `dranspose replay -f` reads.

Example:
    >>> import h5tocbors
    >>> result = h5tocbors.convert("run.h5", ["pilatus"], "out")  # doctest: +SKIP
    >>> result.streams[0].output  # doctest: +SKIP
    'out/pilatus.cbors'

The names below are imported when first used: `import h5tocbors` (and the command line's
`--version` and `--help`) loads neither h5py nor numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import H5ToCborsError

if TYPE_CHECKING:
    from .core.convert import ConversionResult, StreamResult, convert
    from .core.replay import ReplaySource, iter_messages

__version__ = "0.1.0"
__all__ = [
    "ConversionResult",
    "H5ToCborsError",
    "ReplaySource",
    "StreamResult",
    "__version__",
    "convert",
    "iter_messages",
]
LAZY = {
    "ConversionResult": ".core.convert",
    "StreamResult": ".core.convert",
    "convert": ".core.convert",
    "ReplaySource": ".core.replay",
    "iter_messages": ".core.replay",
}
"""Where each public name lives, imported on first use (PEP 562)."""


def __getattr__(name: str) -> object:
    """A public name, imported from where `LAZY` says the first time it is asked for."""
    if name not in LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, with the public ones not yet imported."""
    return sorted(set(globals()) | set(__all__))
