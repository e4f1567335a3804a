"""The `h5tocbors` command line: assembles the commands and turns usage errors into one line."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Annotated, Any

import typer

from .. import __version__
from ..errors import cli_wording
from . import convert, inspect, ls, verify
from .options import EXIT_CODES
from .reporting import EXIT_OK, EXIT_USAGE, OutputError, fail
from .script import OPENBLAS_THREADS, run  # noqa: F401  (run: the script's old name)

COMMANDS: dict[str, tuple[Callable[..., Any], str]] = {
    "convert": (convert.convert_command, convert.EPILOG),
    "ls": (ls.ls_command, ls.EPILOG),
    "inspect": (inspect.inspect_command, inspect.EPILOG),
    "verify": (verify.verify_command, verify.EPILOG),
}
"""The subcommands: the function that runs each, and the epilog of its help."""


def print_version(value: bool) -> None:
    """`--version`: print the version and stop."""
    if value:
        print(f"h5tocbors {__version__}")
        raise typer.Exit()


def options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=print_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Turn HDF5 detector data into captures that `dranspose replay -f` reads unchanged."""


def build_app(commands: Iterable[str] = COMMANDS) -> typer.Typer:
    """The CLI with the given subcommands (all by default).

    A run that names its subcommand gets an app of that one only: Typer turns every
    command's signature into options when the app is built, which for all four costs more
    than the run's own work on a small file. Its help, options and errors are the same.
    """
    cli = typer.Typer(
        name="h5tocbors",
        help=(
            "Turn HDF5 detector data into captures that [bold]dranspose replay -f[/] reads "
            "unchanged.\n\n[dim]h5tocbors convert run.h5 --stream pilatus && "
            "dranspose replay -w src.worker:W -r src.reducer:R -f out/*.cbors[/]"
        ),
        epilog=EXIT_CODES,
        rich_markup_mode="rich",
        no_args_is_help=True,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    cli.callback()(options)
    for name in commands:
        function, epilog = COMMANDS[name]
        cli.command(name, epilog=epilog)(function)
    return cli


app = build_app()
"""The whole CLI."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning usage errors into one line and exit code 2.

    Messages name settings as options (`--stream`), not as the Python API does."""
    given = sys.argv[1:] if argv is None else argv
    chosen = build_app([given[0]]) if given and given[0] in COMMANDS else app
    command = typer.main.get_command(chosen)
    try:
        with cli_wording():
            code = command.main(args=argv, prog_name="h5tocbors", standalone_mode=False)
    except OutputError as e:  # a help page, flushed by rich as click parses the options
        code = fail(str(e))
    except Exception as e:
        # Click's exceptions (typer vendors its own click): duck-typed, so both kinds work.
        if not hasattr(e, "format_message"):
            raise
        ctx = getattr(e, "ctx", None)
        if type(e).__name__ == "NoArgsIsHelpError":
            code = EXIT_USAGE  # the help was printed already
        else:
            hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            code = fail(e.format_message() + hint, getattr(e, "exit_code", EXIT_USAGE))
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def command(argv: list[str] | None = None) -> int:
    """`main(argv)`'s exit code (the CLI in this process).

    Example:
        >>> command(["--version"])  # doctest: +SKIP
        0
    """
    try:
        main(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return EXIT_OK
