"""How the CLI reports: one line per error on stderr, exit codes, a progress bar."""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Protocol, cast

from ..errors import Cancel, H5ToCborsError, Interrupted

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 130, 141


def fail(message: str, code: int = EXIT_FAILED) -> int:
    """Print `h5tocbors: error: message` on stderr and return `code`."""
    print(f"h5tocbors: error: {message}", file=sys.stderr)
    return code


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def reported(debug: bool, cancel: Cancel | None = None) -> Iterator[None]:
    """Turn any failure inside into one line on stderr and a nonzero `SystemExit`.

    Ctrl-C and SIGTERM set `cancel`, which the work checks at safe points; without it,
    or on a second signal, they raise `Interrupted` at once. Either way `finally`
    blocks remove partial outputs. With `debug`, the traceback is printed too.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        if cancel is None or cancel.is_set():
            raise Interrupted(signum)
        cancel.stop(signum)

    previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
    code = EXIT_OK
    try:
        yield
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
        for s, handler in previous.items():
            signal.signal(s, handler)
    if code != EXIT_OK:
        if debug:
            traceback.print_exc()
        raise SystemExit(code)


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
