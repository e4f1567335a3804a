"""Temporaries beside the outputs, locked while written, so that later runs remove abandoned ones.

A conversion holds an exclusive `flock` on each temporary `.NAME.cbors.XXXXXXXX.part` it writes.
The kernel drops the lock when the process dies, however it dies (SIGKILL, an out-of-memory kill,
`scancel`), so a later run can tell a temporary that nobody writes any more: it takes the lock
without waiting, and removes the file only if it gets it. On a node that crashed, the lock goes
with the node (NFS: once the server has noticed).

Where `flock` is emulated with POSIX locks (NFS), the locks of one process do not exclude each
other and closing any descriptor of a file drops them, so this process also keeps a list of the
temporaries it writes, and sweeps and creations in it take turns.

Example:
    >>> path, fh = create_locked(Path("out/pilatus.cbors"), [])  # doctest: +SKIP
    >>> remove_abandoned(Path("out"))  # doctest: +SKIP
    []
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
import threading
from pathlib import Path
from typing import BinaryIO

WRITE_BUFFER = 1 << 20
TEMPORARY = re.compile(r"\..+\.cbors\.[0-9a-f]{8}\.part")
"""The names `create_locked` gives, and the only ones `remove_abandoned` touches."""
NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS}
"""`flock` fails so where the file system has no locks: a sweep cannot lock there either."""
ATTEMPTS = 8

_turns = threading.Lock()
_live: set[tuple[int, int]] = set()
"""(st_dev, st_ino) of the temporaries this process holds."""


def create_locked(path: Path, names: list[Path]) -> tuple[Path, BinaryIO]:
    """A new temporary beside `path`, open for writing and locked until `release`.

    Each name tried is appended to `names` before the file exists, so that removing
    `names` after any failure (even a signal) leaves nothing behind.
    """
    for _ in range(ATTEMPTS):
        temporary = path.parent / f".{path.name}.{os.urandom(4).hex()}.part"
        names.append(temporary)
        with _turns:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            try:
                if _lock(fd) and (key := _same_file(fd, temporary)) is not None:
                    _live.add(key)
                    return temporary, os.fdopen(fd, "wb", buffering=WRITE_BUFFER)
            except BaseException:
                os.close(fd)
                raise
        # another run's sweep took it between creation and lock: it was not ours yet
        os.close(fd)
        temporary.unlink(missing_ok=True)
    raise OSError(errno.EAGAIN, f"temporaries in {path.parent} keep being removed")


def release(fh: BinaryIO) -> None:
    """Close a temporary from `create_locked`, which drops its lock."""
    if fh.closed:
        return
    try:
        st = os.fstat(fh.fileno())
        _live.discard((st.st_dev, st.st_ino))
    finally:
        fh.close()


def remove_abandoned(directory: Path) -> list[Path]:
    """Remove the temporaries in `directory` that no live process holds; return their paths.

    Anything that cannot be listed, opened, locked or removed is left alone.
    """
    try:
        names = sorted(n for n in os.listdir(directory) if TEMPORARY.fullmatch(n))
    except OSError:  # not there yet, not a directory, not readable: nothing to do
        return []
    with _turns:
        return [directory / n for n in names if _remove_if_unlocked(directory / n)]


def _remove_if_unlocked(temporary: Path) -> bool:
    try:
        st = os.lstat(temporary)
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in _live:
            return False
        fd = os.open(temporary, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # OSError while a live process holds it
        if _same_file(fd, temporary) is None:
            return False
        os.unlink(temporary)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _lock(fd: int) -> bool:
    """Lock `fd` without waiting; False if someone else holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in NO_LOCKS:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
    return True


def _same_file(fd: int, path: Path) -> tuple[int, int] | None:
    """(st_dev, st_ino) of `fd` if `path` still names it, else None."""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return None
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino) if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino) else None
