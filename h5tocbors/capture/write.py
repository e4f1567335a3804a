"""Write output files atomically: a temporary beside each, renamed only when complete."""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import secrets
import signal
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ..buffers import Buffer, FileRange, InputChanged, nbytes
from ..errors import H5ToCborsError, Interrupted

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

    def __init__(self, paths: list[Path], *, force: bool, sync: bool = False) -> None:
        self.paths = paths
        self.sync = sync  # fsync before the rename: complete on disk even after a crash
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
                fh.flush()
                if self.sync:
                    os.fsync(fh.fileno())
                fh.close()
            with signals_deferred():  # all outputs appear, or none
                for temporary, path in zip(self.temporaries, self.paths):
                    os.replace(temporary, path)
            if self.sync:
                for directory in {p.parent for p in self.paths}:
                    fd = os.open(directory, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
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
    """Append `src` to the file `dst` at its position: `copy_file_range`, else read and write.

    A source that ends before the range does (truncated meanwhile) raises `InputChanged`.
    """
    offset, left = src.offset, src.size
    try:
        while left > 0 and hasattr(os, "copy_file_range"):  # Linux only
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
            raise InputChanged()
        view = memoryview(data)
        while view:
            view = view[os.write(dst, view) :]
        offset, left = offset + len(data), left - len(data)


class BackgroundWriter:
    """Writes buffers on a thread of its own, in order, while the caller prepares the next.

    Kernel copies and writes release the GIL, so the per-frame Python work overlaps them.
    At most `depth` messages wait. An error in the thread is raised in the caller at the
    next `write` or at the end of the `with` block.

    Example:
        >>> with BackgroundWriter() as writer:  # doctest: +SKIP
        ...     writer.write(fh, encode_message(0, parts, now))
    """

    def __init__(self, depth: int = 4) -> None:
        self._queue: queue.Queue[tuple[BinaryIO, list[Buffer], str] | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="h5tocbors-writer", daemon=True)

    def write(self, fh: BinaryIO, buffers: list[Buffer], name: str = "output") -> int:
        """Queue `buffers` for `fh` (called `name` in errors); return their size in bytes."""
        self._raise()
        self._queue.put((fh, buffers, name))
        return sum(nbytes(b) for b in buffers)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                fh, buffers, name = item
                try:
                    write_buffers(fh, buffers)
                except OSError as e:
                    self._error = H5ToCborsError(f"cannot write {name}: {e.strerror or e}")
                except BaseException as e:  # handed to the caller
                    self._error = e

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def __enter__(self) -> BackgroundWriter:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None:
            self._error = self._error or Interrupted()  # skip what is still queued
        self._queue.put(None)
        self._thread.join()
        if kind is None:
            self._raise()
