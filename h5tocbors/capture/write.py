"""Write output files atomically: a locked temporary beside each, published only when complete."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import queue
import signal
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ..buffers import SMALL_RANGE, Buffer, FileRange, InputChanged, nbytes, read_range
from ..errors import H5ToCborsError, Interrupted, option
from .temporary import create_locked, release


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
        for path in (directory, *directory.parents):
            if path.is_symlink() and not path.exists():
                raise H5ToCborsError(
                    f"cannot create output directory {directory}: {path} is a dangling symlink "
                    f"(to {os.readlink(path)}); create its target or remove it"
                ) from e
        raise H5ToCborsError(f"cannot create output directory {directory}: {e.strerror}") from e


def exists_error(path: Path) -> H5ToCborsError:
    """The error for an output name that is taken, without `--force`."""
    what = ""
    if path.is_symlink():
        what = " (a symlink)" if path.exists() else " (a dangling symlink)"
    return H5ToCborsError(f"{path} exists{what}; use {option('force', True)} to replace it")


def existing_output(path: Path) -> bool:
    """Whether a finished output is at `path`, for `--skip-existing`; an error if something else is.

    Outputs only ever appear complete, so a non-empty regular file (or a symlink to one)
    is one. A directory, a dangling symlink or an empty file is named as an error, not skipped.
    """
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        if path.is_symlink():
            raise H5ToCborsError(f"{path} is a dangling symlink, not an output") from None
        return False
    except OSError as e:
        raise H5ToCborsError(f"cannot check {path}: {e.strerror}") from e
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise H5ToCborsError(f"{path} is {kind}, not an output")
    if st.st_size == 0:
        raise H5ToCborsError(f"{path} is empty, not a capture; remove it")
    return True


NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS}
"""How `link` fails on file systems without hard links (vfat, exFAT, SMB, many FUSE mounts)."""


def publish_new(temporary: Path, path: Path) -> None:
    """Give `temporary`'s file the name `path` too, unless `path` exists (even as a dangling
    symlink): then FileExistsError, and nothing changes. The caller removes `temporary`.

    A hard link is made, or fails, in one step, so of two runs publishing at once exactly one
    wins, on local file systems and NFS alike. Without hard links, `claim_and_replace`.
    """
    try:
        os.link(temporary, path, follow_symlinks=False)
    except OSError as e:
        if e.errno not in NO_HARD_LINKS:
            raise
        claim_and_replace(temporary, path)


def claim_and_replace(temporary: Path, path: Path) -> None:
    """Take the name `path` with an empty placeholder (O_EXCL: one run wins), then move
    `temporary` over it. FileExistsError if `path` exists.

    Chosen because it works wherever O_EXCL does. renameat2(RENAME_NOREPLACE) would need no
    placeholder, but many mounts without hard links (FUSE before protocol 7.23) lack it too.
    The placeholder is visible for one system call; a run killed right then leaves an empty
    file, which `existing_output` refuses to take for a finished output.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    placeholder = os.fstat(fd)
    os.close(fd)
    try:
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):  # unless a --force run has replaced it meanwhile
            if os.path.samestat(os.lstat(path), placeholder):
                path.unlink()
        raise


class AtomicOutputs:
    """Temporary files for a set of final paths; all published on success, all removed on failure.

    Without `force`, an output that exists (or appears while the files are written, from
    another run) is never replaced: the run fails with "exists; use --force" and publishes none.
    Each temporary is locked while written (see `temporary`).

    Example:
        >>> with AtomicOutputs([Path("out/pilatus.cbors")], force=False) as files:  # doctest: +SKIP
        ...     files[0].write(b"...")
    """

    def __init__(self, paths: list[Path], *, force: bool, sync: bool = False) -> None:
        self.paths = paths
        self.force = force
        self.sync = sync  # fsync before publishing: complete on disk even after a crash
        for path in paths:
            prepare_directory(path.parent)
            if path.is_dir():
                raise H5ToCborsError(f"{path} is a directory")
            if not force and os.path.lexists(path):
                raise exists_error(path)
        self.created: list[Path] = []
        self.temporaries: list[Path] = []
        self.files: list[BinaryIO] = []

    def __enter__(self) -> list[BinaryIO]:
        try:
            for path in self.paths:
                temporary, fh = create_locked(path, self.created)
                self.temporaries.append(temporary)
                self.files.append(fh)
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
            with signals_deferred():  # all outputs appear, or none
                self._publish()
            for fh in self.files:
                release(fh)
            if self.sync:
                for directory in {p.parent for p in self.paths}:
                    fd = os.open(directory, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
        except OSError as e:
            self._discard()
            where = e.filename2 or e.filename or ", ".join(map(str, self.paths))
            raise H5ToCborsError(f"cannot finish {where}: {e.strerror}") from e
        except BaseException:
            self._discard()
            raise

    def _publish(self) -> None:
        """Give each temporary its final name, while still holding its lock."""
        if self.force:
            for temporary, path in zip(self.temporaries, self.paths):
                os.replace(temporary, path)
            return
        done: list[tuple[BinaryIO, Path]] = []
        try:
            for fh, temporary, path in zip(self.files, self.temporaries, self.paths):
                publish_new(temporary, path)
                done.append((fh, path))
        except BaseException as e:
            for fh, published in done:  # none or all: take back what this run published
                with contextlib.suppress(OSError):
                    if os.path.samestat(os.lstat(published), os.fstat(fh.fileno())):
                        published.unlink()
            if isinstance(e, FileExistsError):
                raise exists_error(path) from None  # another run published it meanwhile
            raise
        for temporary in self.temporaries:
            with contextlib.suppress(OSError):  # published already: a later run removes it
                temporary.unlink(missing_ok=True)

    def _discard(self) -> None:
        for temporary in self.created:
            with contextlib.suppress(OSError):  # EROFS even where it was never created
                temporary.unlink(missing_ok=True)
        for fh in self.files:
            with contextlib.suppress(OSError):
                release(fh)


CopyRange = Callable[[FileRange, int], None]
"""Appends an input range to an output file descriptor (`copy_range`, `range_copier`)."""


def write_buffers(fh: BinaryIO, buffers: Iterable[Buffer], copy: CopyRange | None = None) -> int:
    """Write buffers in order, file ranges copied by the kernel with `copy` (default
    `copy_range`; small ones read and written through the file's buffer: a kernel copy
    would first flush it); return the byte count."""
    total = 0
    for buf in buffers:
        if isinstance(buf, FileRange) and buf.size <= SMALL_RANGE:
            total += fh.write(read_range(buf))
        elif isinstance(buf, FileRange):
            fh.flush()
            (copy or copy_range)(buf, fh.fileno())
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


PIPE_BYTES = 1 << 20
"""The pipe `range_copier` moves a range through: a whole Pilatus 2M frame at once."""


def grown_pipe() -> tuple[int, int] | None:
    """A pipe (read end, write end) of `PIPE_BYTES`, or None where splice is missing or a
    pipe cannot grow so (Linux's `pipe-max-size`)."""
    grow = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only, as splice
    if grow is None or not hasattr(os, "splice"):
        return None
    try:
        read_end, write_end = os.pipe()
    except OSError:
        return None
    try:
        fcntl.fcntl(write_end, grow, PIPE_BYTES)
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    return read_end, write_end


@contextlib.contextmanager
def range_copier() -> Iterator[CopyRange]:
    """A `CopyRange` for many ranges: `splice` through a pipe of `PIPE_BYTES` (`grown_pipe`)
    kept open meanwhile, else `copy_range`.

    On ext4 a range of a Pilatus frame (858 kB) moves in 268 µs by two splices through such
    a pipe, against 315 µs by `copy_file_range`, which pipes it in 64 kB pieces (1000 frames,
    page cache warm; one copy of the whole file took 244 ms).
    """
    pipe = grown_pipe()
    if pipe is None:
        yield copy_range
        return
    read_end, write_end = pipe
    try:
        yield lambda src, dst: splice_range(src, dst, read_end, write_end)
    finally:
        os.close(read_end)
        os.close(write_end)


def splice_range(src: FileRange, dst: int, read_end: int, write_end: int) -> None:
    """Append `src` to `dst` through the empty pipe (`read_end`, `write_end`) of
    `PIPE_BYTES`; `copy_range` where the input cannot be spliced. A source that ends before
    the range does raises `InputChanged`."""
    offset, left = src.offset, src.size
    while left > 0:
        try:
            moved = os.splice(src.fd, write_end, min(left, PIPE_BYTES), offset_src=offset)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            copy_range(FileRange(src.fd, offset, left), dst)  # the pipe is empty here
            return
        if moved == 0:
            raise InputChanged()
        written = 0
        while written < moved:
            written += os.splice(read_end, dst, moved - written)
        offset, left = offset + moved, left - moved


class BackgroundWriter:
    """Writes buffers on a thread of its own, in order, while the caller prepares the next.

    Kernel copies and writes release the GIL, so the per-frame Python work overlaps them.
    Messages for one file are handed over in batches (up to `BATCH_BYTES` in memory,
    `BATCH_COPY_BYTES` to copy from the input, or `BATCH_MESSAGES` messages), not one by
    one: a thread switch per small frame costs more than its write; and large copies start
    while the next messages are prepared. At most `depth` batches holding bytes wait, and
    at most `ranges` that only copy from the input (they hold next to nothing: passed-through
    frames are all queued early, and the caller then sleeps instead of contending for
    Python's lock with the copies). An error in the thread is raised in the caller at the
    next `write` or at the end of the `with` block.

    Example:
        >>> with BackgroundWriter() as writer:  # doctest: +SKIP
        ...     writer.write(fh, encode_message(0, parts, now))
    """

    BATCH_BYTES = 1 << 20
    BATCH_COPY_BYTES = 16 << 20
    BATCH_MESSAGES = 256

    def __init__(self, depth: int = 4, ranges: int = 256) -> None:
        self._queue: queue.Queue[tuple[BinaryIO, list[Buffer], str, bool] | None]
        self._queue = queue.Queue(depth + ranges)
        self._holding = threading.BoundedSemaphore(depth)
        """One slot per queued batch that holds bytes (beyond a few headers)."""
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="h5tocbors-writer", daemon=True)
        self._batch: list[Buffer] = []
        self._batch_to: tuple[BinaryIO, str] | None = None
        self._batch_bytes = self._batch_copies = self._batch_messages = 0

    def write(self, fh: BinaryIO, buffers: list[Buffer], name: str = "output") -> int:
        """Queue `buffers` for `fh` (called `name` in errors); return their size in bytes."""
        self._raise()
        if self._batch_to is not None and self._batch_to[0] is not fh:
            self._hand_over()
        self._batch_to = (fh, name)
        self._batch += buffers
        self._batch_messages += 1
        size = 0
        for b in buffers:
            n = nbytes(b)
            size += n
            if isinstance(b, FileRange):
                self._batch_copies += n
            else:
                self._batch_bytes += n
        if (
            self._batch_bytes >= self.BATCH_BYTES
            or self._batch_copies >= self.BATCH_COPY_BYTES
            or self._batch_messages >= self.BATCH_MESSAGES
        ):
            self._hand_over()
        return size

    def _hand_over(self) -> None:
        """Queue the batch gathered so far."""
        if self._batch_to is not None and self._batch:
            fh, name = self._batch_to
            holds = self._batch_bytes >= self.BATCH_BYTES // 16
            if holds:
                self._holding.acquire()
            self._queue.put((fh, self._batch, name, holds))
        self._batch, self._batch_to = [], None
        self._batch_bytes = self._batch_copies = self._batch_messages = 0

    def _run(self) -> None:
        with range_copier() as copy:
            self._write_queued(copy)

    def _write_queued(self, copy: CopyRange) -> None:
        while (item := self._queue.get()) is not None:
            fh, buffers, name, holds = item
            if holds:
                self._holding.release()
            if self._error is None:
                try:
                    write_buffers(fh, buffers, copy)
                    fh.flush()  # a full disk is named here, as a failed write
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
        else:
            self._hand_over()
        self._queue.put(None)
        self._thread.join()
        if kind is None:
            self._raise()
