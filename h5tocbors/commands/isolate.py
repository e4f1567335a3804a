"""Each command in a child process, so that a crash in a C library is one line, not a death.

HDF5 parses metadata that h5tocbors cannot check beforehand, and a corrupt file can make it
crash: a virtual dataset whose mapping declares a hyperslab selection of rank 384 overflows
HDF5 2.0's stack as the dataset is opened (SIGSEGV). The console script forks: the child runs
the command; the parent waits, passes on the stop signals sent to it alone (those from the
terminal reach both), and turns a child killed by a crash signal into `h5tocbors: error:`
naming the file the child was reading, and exit 1. A child killed otherwise (SIGKILL by the
out-of-memory killer) kills the parent the same way, so the exit status is what it always
was. The child dies with the parent (`PR_SET_PDEATHSIG`): `scancel` leaves no orphan.

Example:
    >>> code = isolated(lambda: 0)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import signal
import sys
from collections.abc import Callable

from .. import reading
from .reporting import EXIT_FAILED, fail

CRASHES = {signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGABRT}
PASSED_ON = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}
WATCHED = PASSED_ON | {signal.SIGCHLD}
PR_SET_PDEATHSIG = 1
SENT_BY_A_PROCESS = 0
"""`si_code` at or below which a signal was sent by a process (`kill`, `sigqueue`, `tgkill`),
not by the kernel (a terminal's Ctrl-C goes to the whole foreground process group)."""


def isolated(command: Callable[[], int]) -> int:
    """The exit code of `command()`, run in a child process where `fork` exists.

    In the child, `command`'s code is returned as is (the caller exits with it); in the
    parent, the child's, or 1 after one error line when the child crashed.
    """
    if not hasattr(os, "fork") or not hasattr(signal, "sigwaitinfo"):
        return command()
    page = mmap.mmap(-1, reading.PAGE)
    parent = os.getpid()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    child = os.fork()
    if child == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        die_with(parent)
        reading.share(page)
        return command()
    return outcome(supervise(child), page)


def die_with(parent: int) -> None:
    """Have the kernel kill this process when `parent` dies (Linux; elsewhere nothing)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(EXIT_FAILED)


def supervise(child: int) -> int:
    """Wait for `child` to end, passing on the stop signals sent to this process alone;
    returns its wait status."""
    while True:
        info = signal.sigwaitinfo(WATCHED)
        if info.si_signo != signal.SIGCHLD:
            if info.si_code <= SENT_BY_A_PROCESS:
                os.kill(child, info.si_signo)
            continue
        done, status = os.waitpid(child, os.WNOHANG)
        if done == child:
            return status


def outcome(status: int, page: mmap.mmap) -> int:
    """The exit code for the child's wait `status`: its own, or 1 after a crash; a child
    killed by any other signal kills this process with it."""
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    signum = os.WTERMSIG(status)
    if signum in CRASHES:
        name = signal.Signals(signum).name
        what = reading.last(page) or "the input"
        return fail(
            f"crashed ({name}) reading {what}: corrupt HDF5 metadata that HDF5 does not check"
        )
    with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    os.kill(os.getpid(), signum)
    return 128 + signum  # a signal that does not kill (SIGCHLD, SIGCONT...): exit as a shell says
