"""Errors that h5tocbors reports to its user as one line, without a traceback."""

from __future__ import annotations

import signal
import threading


def shortened(text: str, limit: int = 60) -> str:
    """`text` with its middle cut out when it is longer than `limit` characters.

    Example:
        >>> shortened("x" * 5_000_000, limit=8)
        'xxxx…xxxx (5000000 characters)'
    """
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}…{text[-half:]} ({len(text)} characters)"


def quoted(name: str, limit: int = 60) -> str:
    """`name` quoted for a message, shortened: names in files can be megabytes long.

    Control characters come out escaped, as `repr` does.

    Example:
        >>> quoted("pilatus")
        "'pilatus'"
        >>> quoted("x" * 5_000_000, limit=8)
        "'xxxx…xxxx' (5000000 characters)"
    """
    if len(name) <= limit:
        return repr(name)
    half = limit // 2
    return f"{name[:half] + '…' + name[-half:]!r} ({len(name)} characters)"


class H5ToCborsError(Exception):
    """A problem with the input or the environment, named for the user (exit code 1).

    Example:
        >>> raise H5ToCborsError("no dataset at /entry/data in run.h5")
        Traceback (most recent call last):
        ...
        h5tocbors.errors.H5ToCborsError: no dataset at /entry/data in run.h5
    """

    exit_code = 1


class UsageError(H5ToCborsError):
    """An argument the user gave that cannot be right whatever the input (exit code 2)."""

    exit_code = 2


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM: work stops and unfinished outputs are removed (exit code 128 + signal)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.exit_code = 128 + signum


class Cancel(threading.Event):
    """A stop request: set from a signal handler, honoured by the work at its next safe point.

    Raising from the handler instead could strike inside a lock's `with` block (a thread
    pool's, a queue's) and leave it held, so that cleanup then waits forever.

    Example:
        >>> cancel = Cancel()
        >>> cancel.stop(signal.SIGTERM)
        >>> cancel.check()
        Traceback (most recent call last):
        ...
        h5tocbors.errors.Interrupted: interrupted by SIGTERM
    """

    signum: int = signal.SIGINT
    honoured: bool = False
    """Whether the work has seen the stop (and is stopping)."""

    def stop(self, signum: int) -> None:
        """Ask the work to stop, because of signal `signum`."""
        self.signum = signum
        self.set()

    def check(self) -> None:
        """Raise `Interrupted` if a stop was asked for."""
        if self.is_set():
            self.honoured = True
            raise Interrupted(self.signum)
