"""How the CLI reports: one line per error on stderr, exit codes, a progress bar."""

from __future__ import annotations

import gc
import io
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any, Protocol, cast

from ..errors import Cancel, H5ToCborsError, Interrupted

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 130, 141
EXIT_SIGNALLED = 128
"""Exit codes from here up say a signal ended the command (128 + its number)."""


def printable(text: str) -> str:
    r"""`text` with control characters escaped, fit for a terminal.

    Names come from files (HDF5 links, capture streams): ESC]0;...BEL would retitle the
    terminal, ESC[2J clear it, a newline forge another line. Every line the CLI prints
    for a person passes through here; `--json` output is JSON, escaped by `json.dumps`.

    Example:
        >>> printable("det\x1b[2J\nfake")
        'det\\x1b[2J\\nfake'
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class OutputError(H5ToCborsError):
    """Standard output cannot be written (a full disk, `> /dev/full`)."""


class CheckedOutput(io.TextIOWrapper):
    """Standard output whose failed writes are named: `OutputError`, not an OSError that
    looks like a bug (a broken pipe stays `BrokenPipeError`: see `reported`)."""

    def write(self, text: str) -> int:
        with _named_output_errors():
            return super().write(text)

    def flush(self) -> None:
        with _named_output_errors():
            super().flush()


@contextmanager
def _named_output_errors() -> Iterator[None]:
    """An OSError inside, other than a broken pipe, as `OutputError`."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as e:
        raise OutputError(f"cannot write to standard output: {e.strerror or e}") from e


def checked_stdout() -> None:
    """Make `sys.stdout` a `CheckedOutput` over the same file (the console script's)."""
    out = sys.stdout
    if isinstance(out, io.TextIOWrapper):  # the old wrapper stays referenced: sys.__stdout__
        sys.stdout = CheckedOutput(
            out.buffer, out.encoding, out.errors, line_buffering=out.line_buffering
        )


def say(line: str) -> None:
    """Print one line on stdout, escaped."""
    print(printable(line))


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Print a table on stdout: fitted to a terminal, unwrapped and unpadded when piped.

    Cells are plain text, escaped: a name like `[bold]` or `ESC[2J` is shown as it is.
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(printable(cell)) for cell in row))
    console = Console()
    if console.is_terminal:
        console.print(table)
        return
    plain = Console(width=1000, no_color=True, highlight=False)
    with plain.capture() as captured:
        plain.print(table)
    print("\n".join(line.rstrip() for line in captured.get().splitlines()))


def fail(message: str, code: int = EXIT_FAILED) -> int:
    """Print `h5tocbors: error: message` on stderr, escaped, and return `code`."""
    print(f"h5tocbors: error: {printable(message)}", file=sys.stderr)
    return code


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE_SECONDS = 3.0
"""How long work asked to stop may take to reach a safe point: then the signal is sent
again to the main thread, which raises it wherever it waits (a full pipe)."""


def started_up() -> None:
    """Start-up is over (the command's modules are imported): turn the cyclic garbage
    collector back on, if the console script turned it off (`script.run`), with what was
    imported so far kept out of its passes (`gc.freeze`). In a process that kept it on
    (the Python API, tests), nothing changes."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


@contextmanager
def reported(debug: bool, cancel: Cancel | None = None) -> Iterator[None]:
    """Turn any failure inside into one line on stderr and a nonzero `SystemExit`.

    Ctrl-C and SIGTERM set `cancel`, which the work checks at safe points; without it,
    on a second signal, or when the work has not stopped `GRACE_SECONDS` later, they raise
    `Interrupted`. Either way `finally` blocks remove partial outputs. With `debug`, the
    traceback is printed too.
    """
    started_up()
    finished = threading.Event()
    if cancel is not None:  # started here: a thread started in the handler could deadlock
        args = (cancel, finished, threading.get_ident())
        threading.Thread(target=escalate, args=args, daemon=True, name="stop").start()

    def stop(signum: int, frame: FrameType | None) -> None:
        if cancel is None or cancel.is_set():
            raise Interrupted(signum)
        cancel.stop(signum)

    previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
    code = EXIT_OK
    try:
        yield
        sys.stdout.flush()  # here, where a failure is named and a signal ends the wait
    except BrokenPipeError:
        # stdout went away (`| head`): stop quietly, as a shell tool does on SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(EXIT_BROKEN_PIPE) from None
    except H5ToCborsError as e:
        code = fail(str(e), e.exit_code)
    except KeyboardInterrupt:
        code = fail("interrupted; unfinished outputs were removed", EXIT_INTERRUPTED)
    except Interrupted as e:
        code = fail(f"{e}; unfinished outputs were removed", e.exit_code)
    except Exception as e:
        hint = "" if debug else " (run with --debug for the traceback)"
        code = fail(f"unexpected {type(e).__name__}: {e}{hint}")
    finally:
        finished.set()
        if cancel is not None:
            cancel.set()  # wakes `escalate`, which then ends
        for s, handler in previous.items():
            signal.signal(s, handler)
    if code != EXIT_OK:
        if debug:
            for line in traceback.format_exc().splitlines():
                print(printable(line), file=sys.stderr)
        raise SystemExit(code)


def escalate(cancel: Cancel, finished: threading.Event, main: int) -> None:
    """Once `cancel` is set, give the work `GRACE_SECONDS` to see it, then send the signal
    again to thread `main`, whose handler then raises it wherever that thread waits. Work
    that is stopping (removing its outputs) is left to finish."""
    cancel.wait()
    if not finished.wait(GRACE_SECONDS) and not cancel.honoured:
        signal.pthread_kill(main, cancel.signum)


class Bar(Protocol):
    """What the commands use of a progress bar (rich's `Progress`, or `NoBar`)."""

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> Any: ...

    def update(self, task: Any, **fields: Any) -> None: ...

    def advance(self, task: Any) -> None: ...

    def __enter__(self) -> Bar: ...

    def __exit__(self, *exc: object) -> None: ...


class NoBar:
    """A progress bar that shows nothing (quiet, or stderr is not a terminal)."""

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> int:
        return 0

    def update(self, task: Any, **fields: Any) -> None:
        pass

    def advance(self, task: Any) -> None:
        pass

    def __enter__(self) -> NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(enabled: bool) -> Bar:
    """A progress bar on stderr if `enabled` and stderr is a terminal (else rich is not loaded)."""
    if not (enabled and sys.stderr.isatty()):
        return NoBar()
    from .progress import rich_bar

    return cast(Bar, rich_bar())
