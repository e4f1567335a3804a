"""Write output files atomically: a temporary beside each, renamed only when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from .errors import H5ToCborsError

WRITE_BUFFER = 1 << 20
UMASK = os.umask(0o022)
os.umask(UMASK)


def prepare_directory(directory: Path) -> None:
    """Create `directory` if needed; name the problem if it cannot be used for output."""
    if directory.exists() and not directory.is_dir():
        raise H5ToCborsError(f"output directory {directory} is a file")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise H5ToCborsError(f"cannot create output directory {directory}: {e.strerror}") from e


class AtomicOutputs:
    """Temporary files for a set of final paths; all renamed on success, all removed on failure.

    Example:
        >>> with AtomicOutputs([Path("out/pilatus.cbors")], force=False) as files:  # doctest: +SKIP
        ...     files[0].write(b"...")
    """

    def __init__(self, paths: list[Path], *, force: bool) -> None:
        self.paths = paths
        for path in paths:
            prepare_directory(path.parent)
            if path.exists() and not force:
                raise H5ToCborsError(f"{path} exists; use --force to replace it")
            if path.is_dir():
                raise H5ToCborsError(f"{path} is a directory")
        self.temporaries: list[Path] = []
        self.files: list[BinaryIO] = []

    def __enter__(self) -> list[BinaryIO]:
        try:
            for path in self.paths:
                fd, name = tempfile.mkstemp(
                    dir=path.parent, prefix=f".{path.name}.", suffix=".part"
                )
                self.temporaries.append(Path(name))
                os.chmod(fd, 0o666 & ~UMASK)  # as open() would create it, not mkstemp's 0600
                self.files.append(os.fdopen(fd, "wb", buffering=WRITE_BUFFER))
        except OSError as e:
            self._discard()
            raise H5ToCborsError(f"cannot write to {path.parent}: {e.strerror}") from e
        return self.files

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is not None:
            self._discard()
            return
        try:
            for fh in self.files:
                fh.close()
            for temporary, path in zip(self.temporaries, self.paths):
                os.replace(temporary, path)
        except OSError as e:
            self._discard()
            raise H5ToCborsError(f"cannot finish {path}: {e.strerror}") from e
        except BaseException:
            self._discard()
            raise

    def _discard(self) -> None:
        for fh in self.files:
            with contextlib.suppress(OSError):
                fh.close()
        for temporary in self.temporaries:
            temporary.unlink(missing_ok=True)
