"""Value references: the detector file and HDF5 path a scan's channel names, found here.

Sardana records a 2-D channel's value as a reference to where its detector wrote it. Two
spellings occur: MAX IV's `/data/.../scan-21503_eiger_xes.h5:entry/instrument/eiger_xes/`
(the file, `:`, the group) and Sardana's URI `h5file:///abs/path/file.h5::dataset` (its
`NXscanH5_FileRecorder` turns those into virtual datasets; `dataset` when no `::` part).
The recorded path is where the scan ran; `locate_beside` finds the file here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import H5ToCborsError, quoted
from ..hdf5.paths import REFERENCE, RefusedPath, referenced_file

H5FILE = re.compile(r"h5file:(?://(?P<authority>[^/]*))?(?P<rest>.*)", re.IGNORECASE | re.DOTALL)
"""Sardana's `h5file:` URI: an optional `//host[:port]`, then the path and `::dataset`."""
DRIVE = re.compile(r"[A-Za-z]:[/\\]")
"""A Windows drive at the start of a path, whose `:` separates nothing."""
DEFAULT_DATASET = "/dataset"
"""The dataset of an `h5file:` reference without `::`, as Sardana's recorder takes it."""


@dataclass(frozen=True)
class Reference:
    """Where a channel's value lies: a file (as recorded) and an HDF5 path in it."""

    file: str
    """The file name as the scan recorded it, typically an absolute path elsewhere."""
    path: str
    """The group or dataset in it: absolute, without a trailing `/` (the root is `/`)."""


def parse_reference(text: str) -> Reference:
    """The file and HDF5 path `text` names; `H5ToCborsError` naming it when it names no file.

    Example:
        >>> parse_reference("/data/visit/scan-3218_pilatus.h5:entry/instrument/pilatus/")
        Reference(file='/data/visit/scan-3218_pilatus.h5', path='/entry/instrument/pilatus')
        >>> parse_reference("h5file:///tmp/dummy2d_default_1.h5::data")
        Reference(file='/tmp/dummy2d_default_1.h5', path='/data')
    """
    if not text.isprintable():
        raise H5ToCborsError(f"reference {quoted(text)} holds control characters")
    uri = H5FILE.fullmatch(text)
    if uri is not None:
        file, sep, inside = uri["rest"].rpartition("::")
        file, inside = (file, inside) if sep else (inside, DEFAULT_DATASET)
    else:
        skip = 2 if DRIVE.match(text) else 0
        cut = text.find(":", skip)
        file, inside = (text, "/") if cut < 0 else (text[:cut], text[cut + 1 :])
    if not file or file.endswith(("/", "\\")) or PurePosixPath(file).name in ("", ".", ".."):
        raise H5ToCborsError(f"reference {quoted(text)} names no file")
    return Reference(file, "/" + "/".join(p for p in inside.split("/") if p))


def locate_beside(recorded: str, master: Path) -> Path:
    """The file a scan recorded as `recorded`, found beside `master` (its real path).

    As HDF5 resolves an absolute external link or virtual source name: the recorded path
    if it exists and lies in the master's folder or below (symlinks resolved), else its
    file name in that folder. A path outside is never opened.

    Raises `H5ToCborsError` naming `recorded` and where it was looked for when it is
    missing, and `RefusedPath` when it leads outside the folder (`..`, a symlink out).
    """
    here = Path(os.path.realpath(master)).parent
    try:
        return referenced_file(recorded, here, REFERENCE)
    except RefusedPath as e:
        raise RefusedPath(f"referenced file {e}", unsafe=e.unsafe) from e
