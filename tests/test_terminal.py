"""Names from files reach the terminal escaped: `ls`, `convert`, batch tables, `verify`, `inspect`.

ESC]0;...BEL retitles a terminal and ESC[2J clears it; a name may hold either. `--json`
output stays plain JSON, with the names as they are.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from h5tocbors.capture.encode import StreamPart, encode_message
from h5tocbors.capture.read import read_messages

from .conftest import run_cli, write_h5

TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2Jdata"
EVIL = f"/entry/det/{TITLE}/{CLEAR}"
SHOWN = "\\x1b]0;pwned\\x07/\\x1b[2Jdata"


def assert_escaped(*texts: str) -> None:
    """No raw control character; the escaped name where a name was printed."""
    for text in texts:
        assert "\x1b" not in text and "\x07" not in text, text
    assert any(SHOWN in text for text in texts), texts


@pytest.fixture
def evil(tmp_path: Path) -> Path:
    """An image stack whose link names hold terminal escape sequences."""
    stack = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    return write_h5(tmp_path / "evil.h5", {EVIL: stack})


def test_ls(evil: Path) -> None:
    result = run_cli("ls", evil)
    assert result.returncode == 0
    assert_escaped(result.stdout)
    listed = run_cli("ls", "--json", evil)
    assert EVIL in [d["path"] for d in json.loads(listed.stdout)]


def test_convert_summary_and_json(evil: Path, tmp_path: Path) -> None:
    result = run_cli("convert", evil, "-s", "det", "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert_escaped(result.stdout)
    again = run_cli("convert", evil, "-s", "det", "-o", tmp_path / "out", "--force", "--json")
    assert json.loads(again.stdout)["streams"][0]["dataset"] == EVIL


def test_batch_table(evil: Path, tmp_path: Path) -> None:
    """A failed file's reason names both matching datasets, in the table and on stderr."""
    stack = np.zeros((2, 4, 5), np.uint8)
    twice = write_h5(tmp_path / "twice.h5", {EVIL: stack, f"/entry/det/{CLEAR}": stack})
    result = run_cli("convert", evil, twice, "-s", "det", "-o", tmp_path / "out")
    assert result.returncode == 1
    assert "several datasets match" in result.stdout
    assert_escaped(result.stdout, result.stderr)


def test_verify_lines_and_errors(evil: Path, tmp_path: Path) -> None:
    assert run_cli("convert", evil, "-s", "det", "-o", tmp_path / "out").returncode == 0
    good = run_cli("verify", evil, tmp_path / "out" / "det.cbors")
    assert good.returncode == 0
    assert_escaped(good.stdout)
    # a capture whose stream is named after the group: it resolves, and one frame differs
    bad = tmp_path / "bad.cbors"
    with open(bad, "wb") as fh:
        for msg in read_messages(tmp_path / "out" / "det.cbors"):
            frames = list(msg.streams["det"].frames)
            if msg.event_number == 1:
                frames[1] = bytes(len(frames[1]))
            part = {TITLE: StreamPart("STINS", frames)}
            for buf in encode_message(msg.event_number, part, msg.created_at):  # type: ignore[arg-type]
                fh.write(buf)  # type: ignore[arg-type]
    result = run_cli("verify", evil, bad)
    assert result.returncode == 1 and "event 1: frame 0 " in result.stderr
    assert "\x1b" not in result.stdout + result.stderr and "\\x1b]0;pwned\\x07" in result.stderr


def test_inspect_stream_name(tmp_path: Path) -> None:
    path = tmp_path / "c.cbors"
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with open(path, "wb") as fh:
        for buf in encode_message(0, {TITLE + CLEAR: StreamPart("STINS", [b"{}"])}, when):
            fh.write(buf)  # type: ignore[arg-type]
    for args in (["inspect"], ["inspect", "--events"], ["inspect", "--strict"]):
        result = run_cli(*args, path)
        assert "\x1b" not in result.stdout + result.stderr and "\x07" not in result.stdout
        assert "\\x1b]0;pwned\\x07\\x1b[2Jdata" in result.stdout
    listed = run_cli("inspect", "--json", path)
    assert list(json.loads(listed.stdout)["files"][0]["streams"]) == [TITLE + CLEAR]


def test_rich_markup_in_names_is_text(tmp_path: Path) -> None:
    """A name that looks like rich markup is printed as it is, not styled, not an error."""
    stack = np.zeros((2, 4, 5), np.uint8)
    path = write_h5(tmp_path / "markup.h5", {"/entry/det[/]/[bold]x": stack})
    result = run_cli("ls", path)
    assert result.returncode == 0, result.stderr
    assert "/entry/det[/]/[bold]x" in result.stdout
