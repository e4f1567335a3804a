"""Write output files atomically: a temporary beside each, renamed only when complete."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from .capture import Buffer, FileRange
from .errors import H5ToCborsError

WRITE_BUFFER = 1 << 20


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block is done (main thread only)."""
    held = {signal.SIGINT, signal.SIGTERM}
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


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
                temporary = path.parent / f".{path.name}.{secrets.token_hex(4)}.part"
                self.temporaries.append(temporary)  # before it exists: a signal can't orphan it
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                self.files.append(os.fdopen(fd, "wb", buffering=WRITE_BUFFER))
        except OSError as e:
            self._discard()
            raise H5ToCborsError(f"cannot write to {path.parent}: {e.strerror}") from e
        except BaseException:
            self._discard()
            raise
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
            with signals_deferred():  # all outputs appear, or none
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


def write_buffers(fh: BinaryIO, buffers: Iterable[Buffer]) -> int:
    """Write buffers in order, file ranges copied by the kernel; return the byte count."""
    total = 0
    for buf in buffers:
        if isinstance(buf, FileRange):
            fh.flush()
            copy_range(buf, fh.fileno())
            total += buf.size
        else:
            total += fh.write(buf)
    return total


def copy_range(src: FileRange, dst: int) -> None:
    """Append `src` to the file `dst` at its position: `copy_file_range`, else read and write."""
    offset, left = src.offset, src.size
    try:
        while left > 0:
            done = os.copy_file_range(src.fd, dst, left, offset)
            if done == 0:
                break
            offset, left = offset + done, left - done
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    while left > 0:  # no copy_file_range here (old kernel, other filesystems)
        data = os.pread(src.fd, min(left, 1 << 24), offset)
        if not data:
            raise OSError(errno.EIO, f"input ended {left} bytes early")
        view = memoryview(data)
        while view:
            view = view[os.write(dst, view) :]
        offset, left = offset + len(data), left - len(data)
