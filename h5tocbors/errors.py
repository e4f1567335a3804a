"""Errors that h5tocbors reports to its user as one line, without a traceback."""

from __future__ import annotations


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
    """Raised from a SIGTERM handler so that cleanup runs as for Ctrl-C (exit code 143)."""

    exit_code = 143
