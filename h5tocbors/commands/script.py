"""The `h5tocbors` console script: forks at once, then the child loads the CLI and runs it.

Forking before Typer, rich and the commands are imported keeps the parent, which only
waits (see `isolate`), small, and spares the child the copy-on-write faults of pages it
would otherwise share with it.
"""

from __future__ import annotations

import gc
import os
import sys

from .isolate import isolated
from .reporting import EXIT_SIGNALLED, OutputError, checked_stdout, fail

OPENBLAS_THREADS = "OPENBLAS_NUM_THREADS"
"""Read by OpenBLAS as numpy is imported: the threads it starts then, one per core."""


def command() -> int:
    """The CLI's exit code for this process's arguments (run in the child)."""
    from .cli import command as cli_command

    return cli_command()


def run() -> None:
    """The console script: the CLI in a child process (see `isolate`: a crash in HDF5 is one
    error line), then exit without tearing down the interpreter.

    Every file is closed by then; skipping the teardown of numpy, h5py and pydantic saves
    a twentieth of a second per call, which counts when converting many small files.
    Unless told otherwise, numpy's OpenBLAS starts no threads: h5tocbors does no linear
    algebra, and starting one per core costs as much again as numpy's own import.
    Python's cyclic garbage collector is off while numpy, h5py, Typer and the command are
    imported: they make some 10^5 objects that all live, and its passes over them took
    a tenth of the start-up (0.01 s).
    """
    gc.disable()  # until the command's modules are imported (`reporting.started_up`)
    closed = [name for name, s in (("output", sys.stdout), ("error", sys.stderr)) if s is None]
    if closed:  # the line goes to the other stream if it is open (`print` to None is stdout)
        os._exit(fail(f"standard {' and '.join(closed)} closed (redirect to /dev/null instead)"))
    checked_stdout()
    os.environ.setdefault(OPENBLAS_THREADS, "1")
    code = isolated(command)
    for stream in (sys.stdout, sys.stderr):
        if stream is sys.stdout and code >= EXIT_SIGNALLED:
            continue  # interrupted: output not yet written is dropped (a full pipe would block)
        try:
            stream.flush()
        except OutputError as e:
            code = code or fail(str(e))
        except (OSError, ValueError):
            code = code or 1
    os._exit(code)
