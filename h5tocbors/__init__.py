"""h5tocbors: turn HDF5 detector data into captures that `dranspose replay -f` reads.

Example:
    >>> import h5tocbors
    >>> result = h5tocbors.convert("run.h5", ["pilatus"], "out")  # doctest: +SKIP
    >>> result.streams[0].output  # doctest: +SKIP
    'out/pilatus.cbors'
"""

from .core.convert import ConversionResult, StreamResult, convert
from .core.replay import ReplaySource, iter_messages
from .errors import H5ToCborsError

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
