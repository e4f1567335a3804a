"""Errors that h5tocbors reports to its user as one line, without a traceback."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


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


FLAGS = {
    "streams": "--stream",
    "axes": "--axes",
    "frames": "--frames",
    "scan": "--scan",
    "config": "--config",
    "force": "--force",
    "entry": "--entry",
}
"""The command line's option for each setting of the Python API that messages name."""

_cli_wording = False


@contextmanager
def cli_wording() -> Iterator[None]:
    """Messages made inside name settings as the command line does (`option`): the CLI's
    `main` chooses this; a Python caller gets the API's words."""
    global _cli_wording
    before, _cli_wording = _cli_wording, True
    try:
        yield
    finally:
        _cli_wording = before


def option(name: str, value: object = None, metavar: str = "") -> str:
    """Setting `name` of the Python API (`streams`, one of `FLAGS`), with `value` as given
    there, in its caller's words: the API's, or the command line's inside `cli_wording`.

    Example:
        >>> option("streams", ["a", "b"]), option("frames", slice(0, 5)), option("scan", True)
        ("streams = ['a', 'b']", 'frames = slice(0, 5, None)', 'scan = True')
        >>> with cli_wording():
        ...     option("streams", ["a", "b"]), option("frames", slice(0, 5)), option("scan", True)
        ('--stream a --stream b', '--frames 0:5', '--scan')
        >>> with cli_wording():
        ...     option("streams", {"eiger": "/entry/data"}), option("streams", metavar="NAME")
        ('--stream eiger=/entry/data', '--stream NAME')
    """
    if not _cli_wording:
        return name if value is None else f"{name} = {value!r}"
    flag = FLAGS[name]
    if value is None or value is True:
        return f"{flag} {metavar}" if metavar else flag
    items: list[object]
    if isinstance(value, dict):
        items = [k if v is None else f"{k}={v}" for k, v in value.items()]
    elif isinstance(value, list):
        items = value
    elif isinstance(value, slice):
        items = [slice_text(value)]
    else:
        items = [value]
    return " ".join(f"{flag} {item}" for item in items)


def slice_text(selection: slice) -> str:
    """`selection` as `--frames` spells it.

    Example:
        >>> slice_text(slice(None, 5)), slice_text(slice(8, None, -1))
        (':5', '8::-1')
    """
    parts = ["" if v is None else str(v) for v in (selection.start, selection.stop, selection.step)]
    return ":".join(parts[:2] if selection.step is None else parts)


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
