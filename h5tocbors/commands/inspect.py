"""`h5tocbors inspect`: what is in captures, and what is wrong with them."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import H5ToCborsError
from .options import EXIT_CODES, UNITS, Debug, Json
from .reporting import reported, say

if TYPE_CHECKING:
    from ..capture.inspect import CaptureSummary
    from ..capture.read import RawMessage

EPILOG = (
    "[bold]Examples[/]\n\n"
    "h5tocbors inspect out/*.cbors\n\n"
    "h5tocbors inspect dump.cbors.gz --events\n\n"
    "h5tocbors inspect out/*.cbors --json | jq '.files[].problems'\n\n"
    "Reads any capture dranspose wrote (with or without tag 55799 and created_at, .cbors.gz); "
    "any stream typ is listed, payloads are never unpickled. Problems (start not first, end "
    "missing or not last, repeated or out-of-order events, msg_number or frame gaps) are "
    "reported; a truncated or corrupt file, or any problem with --strict, exits 1.\n\n" + EXIT_CODES
)


def inspect_command(
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE.cbors...", help="Captures to read.", readable=False),
    ],
    events: Annotated[bool, typer.Option("--events", help="One line per message.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on any problem.")] = False,
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    """Summarize captures: messages, events, and per stream its typ, frames, shape and bytes."""
    from ..capture.inspect import inspect_capture

    with reported(debug):
        on_message = None if as_json or not events else print_event
        summaries = []
        for path in files:
            if on_message is not None:
                say(f"{path}:")
            summaries.append(inspect_capture(path, on_message))
            if not as_json:
                print_summary(summaries[-1])
        if as_json:
            print(json.dumps({"files": [asdict(s) for s in summaries]}, indent=2))
        broken = next((s for s in summaries if not s.intact), None)
        if broken is not None:
            raise H5ToCborsError(broken.problems[0])
        if strict and any(s.problems for s in summaries):
            raise H5ToCborsError(
                "problems found in " + ", ".join(s.path for s in summaries if s.problems)
            )


def print_event(msg: RawMessage) -> None:
    """One line for one message."""
    from ..protocols.registry import describe_frames

    parts = [
        f"{name} {stream.typ} {describe_frames(stream.typ, stream.frames)}"
        for name, stream in msg.streams.items()
    ]
    when = f" {msg.created_at.isoformat()}" if msg.created_at else ""
    say(f"  #{msg.index} event {msg.event_number} @{msg.offset}{when}: " + "; ".join(parts))


def print_summary(s: CaptureSummary) -> None:
    """A few lines per capture."""
    events = f"events {s.first_event}..{s.last_event}" if s.messages else "no events"
    verdict = "ok" if not s.problems else f"{s.problem_count} problem(s)"
    say(f"{s.path}: {s.messages} messages, {events}, {verdict}")
    for name, st in s.streams.items():
        image = f" {st.shape} {st.type} {st.compression}" if st.shape is not None else ""
        when = f", created {st.created_at[0]} .. {st.created_at[1]}" if st.created_at else ""
        say(
            f"  {name}: {st.typ}, {st.messages} messages, {st.frames} {UNITS.get(st.typ, 'frames')}"
            f"{image}, {st.bytes:,} bytes{when}"
        )
        for detail in st.details:
            say(f"    {detail}")
    for problem in s.problems:
        say(f"  problem: {problem}")
