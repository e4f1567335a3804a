"""How the CLI reports: one line per error on stderr, exit codes, a progress bar."""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from .errors import H5ToCborsError, Interrupted

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 130, 141


def fail(message: str, code: int = EXIT_FAILED) -> int:
    """Print `h5tocbors: error: message` on stderr and return `code`."""
    print(f"h5tocbors: error: {message}", file=sys.stderr)
    return code


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(f"terminated by signal {signum}")


@contextmanager
def reported(debug: bool) -> Iterator[None]:
    """Turn any failure inside into one line on stderr and a nonzero `SystemExit`.

    SIGTERM is handled like Ctrl-C, so `finally` blocks remove partial outputs.
    With `debug`, the traceback is printed too.
    """
    previous = signal.signal(signal.SIGTERM, _terminate)
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
        code = fail("interrupted; no output was left behind", EXIT_INTERRUPTED)
    except Interrupted as e:
        code = fail(f"{e}; no output was left behind", Interrupted.exit_code)
    except Exception as e:
        hint = "" if debug else " (run with --debug for the traceback)"
        code = fail(f"unexpected {type(e).__name__}: {e}{hint}")
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code != EXIT_OK:
        if debug:
            traceback.print_exc()
        raise SystemExit(code)


class RateColumn(ProgressColumn):
    """Frames per second and MB/s of a task whose `bytes` field counts bytes written."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        if elapsed <= 0:
            return Text("", style="progress.data.speed")
        frames = task.completed / elapsed
        mbytes = task.fields.get("bytes", 0) / elapsed / 1e6
        return Text(f"{frames:,.0f} frames/s {mbytes:,.1f} MB/s", style="progress.data.speed")


def progress_bar(enabled: bool) -> Progress:
    """A progress bar on stderr; shown only when `enabled` and stderr is a terminal."""
    console = Console(stderr=True)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not (enabled and console.is_terminal),
        transient=True,
    )
