"""Each command in a child process, so that a crash or a hang in a C library is one line.

HDF5 parses metadata that h5tocbors cannot check beforehand, and a corrupt file can make it
crash (a virtual dataset whose mapping declares a hyperslab selection of rank 2**31 + 3
overflows HDF5 2.0's stack as the dataset is opened: SIGSEGV) or loop for ever (a global
heap object of the wrong size, met as a string attribute is read). Neither returns to
Python. The console script forks: the child runs the command; the parent waits, passes on
the stop signals sent to it alone (those from the terminal reach both), and turns a child
killed by a crash signal into `h5tocbors: error:` naming the file the child was reading,
and exit 1. A thread of the child beats once a second; it cannot while the command holds
Python's lock, which h5py keeps while HDF5 works, so a child that misses its beats for
`H5TOCBORS_STALL_SECONDS` (default 60) is stuck in HDF5 and is killed, with the same kind
of line. A child killed otherwise (SIGKILL by the out-of-memory killer) kills the parent
the same way, so the exit status is what it always was. The child dies with the parent
(`PR_SET_PDEATHSIG`): `scancel` leaves no orphan.

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
import threading
import time
from collections.abc import Callable

from .. import reading
from .reporting import EXIT_FAILED, EXIT_USAGE, fail

CRASHES = {signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGABRT}
PASSED_ON = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}
WATCHED = PASSED_ON | {signal.SIGCHLD}
PR_SET_PDEATHSIG = 1
STALL_VARIABLE, STALL_SECONDS = "H5TOCBORS_STALL_SECONDS", 60.0
"""How long a command may go without a heartbeat: far more than any one HDF5 call takes."""
BEAT_SECONDS = 1.0
PAUSED_SECONDS = 5.0
"""A wait of the parent's this much longer than a beat: it was stopped (Ctrl-Z stops both)."""
OVERRUN_SECONDS = 0.5
"""A wait this much longer than its timeout was cut short by a stop; CPython 3.11's
`sigtimedwait` then returns a siginfo it never filled in (its signal number is garbage)."""
READ = {
    reading.HDF5: ("reading", "corrupt HDF5 metadata that HDF5 {}"),
    reading.CAPTURE: ("reading", "a payload that its decoder {}"),
    reading.PICKLE: ("loading a pickle of", "a bug in h5tocbors: its pickle loader {} this pickle"),
}
"""By the kind of thing read: how a message names it, and what it blames (`{}`: does not
check, loops on)."""
SENT_BY_A_PROCESS = 0
"""`si_code` at or below which a signal was sent by a process (`kill`, `sigqueue`, `tgkill`),
not by the kernel (a terminal's Ctrl-C goes to the whole foreground process group)."""


def isolated(command: Callable[[], int]) -> int:
    """The exit code of `command()`, run in a child process where `fork` exists.

    In the child, `command`'s code is returned as is (the caller exits with it); in the
    parent, the child's, or 1 after one error line when the child crashed or stalled (2 when
    `H5TOCBORS_STALL_SECONDS` is no time).
    """
    if not hasattr(os, "fork") or not hasattr(signal, "sigtimedwait"):
        return command()
    stall = stall_seconds()
    if stall is None:
        return fail(f"{STALL_VARIABLE} is not a positive number of seconds", EXIT_USAGE)
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
        threading.Thread(target=heart, args=(page,), daemon=True, name="heartbeat").start()
        return command()
    status, stalled = supervise(child, page, stall)
    return outcome(status, stalled and stall, page)


def stall_seconds() -> float | None:
    """The limit `H5TOCBORS_STALL_SECONDS` sets (default 60), or None if it is not one."""
    text = os.environ.get(STALL_VARIABLE, "").strip()
    try:
        seconds = float(text) if text else STALL_SECONDS
    except ValueError:
        return None
    return seconds if 0 < seconds < float("inf") else None


def heart(page: mmap.mmap) -> None:
    """Beat in `page` once a second, as long as the process lives."""
    while True:
        reading.beat(page)
        time.sleep(BEAT_SECONDS)


def die_with(parent: int) -> None:
    """Have the kernel kill this process when `parent` dies (Linux; elsewhere nothing)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(EXIT_FAILED)


def supervise(child: int, page: mmap.mmap, stall: float) -> tuple[int, bool]:
    """Wait for `child` to end, passing on the stop signals sent to this process alone,
    and killing it when it stops beating; returns its wait status, and whether it stalled."""
    seen, since, stalled = -1, time.monotonic(), False
    woke = since
    while True:
        info = signal.sigtimedwait(WATCHED, BEAT_SECONDS)
        beats, now = reading.beats(page), time.monotonic()
        if beats != seen or now - woke > PAUSED_SECONDS:  # or both were stopped (Ctrl-Z)
            seen, since = beats, now
        overran, woke = now - woke > BEAT_SECONDS + OVERRUN_SECONDS, now
        if not stalled and now - since > stall:
            os.kill(child, signal.SIGKILL)
            stalled = True
        if info is None or overran or info.si_signo not in WATCHED:
            pass  # a wait that a stop made outlast its timeout returns an unfilled siginfo
        elif info.si_signo != signal.SIGCHLD:
            if info.si_code <= SENT_BY_A_PROCESS:
                os.kill(child, info.si_signo)
            continue
        done, status = os.waitpid(child, os.WNOHANG)
        if done == child:
            return status, stalled


def outcome(status: int, stalled: float, page: mmap.mmap) -> int:
    """The exit code for the child's wait `status`: its own, or 1 after a crash or after it
    was stopped for making no progress for `stalled` seconds (0: it was not); a child killed
    by any other signal kills this process with it."""
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    signum = os.WTERMSIG(status)
    what, kind = reading.last(page)
    verb, cause = READ.get(kind, READ[reading.HDF5])
    if stalled:
        return fail(
            f"no progress for {stalled:g} s {verb} {what or 'the input'}: "
            f"{cause.format('loops on')} (stopped; {STALL_VARIABLE} sets the limit)"
        )
    if signum in CRASHES:
        name = signal.Signals(signum).name
        return fail(
            f"crashed ({name}) {verb} {what or 'the input'}: {cause.format('does not check')}"
        )
    with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    os.kill(os.getpid(), signum)
    return 128 + signum  # a signal that does not kill (SIGCHLD, SIGCONT...): exit as a shell says
