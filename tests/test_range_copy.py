"""Input ranges copied into outputs by the kernel: `copy_range`, and `range_copier`'s splice
through a pipe, byte for byte, and a truncated input named."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from h5tocbors.buffers import FileRange, InputChanged
from h5tocbors.capture.write import PIPE_BYTES, copy_range, grown_pipe, range_copier

SIZES = [1, 4096, 65_537, PIPE_BYTES, PIPE_BYTES + 3, 3 * PIPE_BYTES - 5]
"""Ranges under, at and over a pipe's size, page-aligned and not."""


@pytest.fixture
def source(tmp_path: Path) -> Iterator[tuple[int, bytes]]:
    data = os.urandom(4 * PIPE_BYTES)
    path = tmp_path / "in.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    yield fd, data
    os.close(fd)


def test_the_splice_pipe_is_had_here() -> None:
    """The machine the suite runs on splices (else the tests below test `copy_range`)."""
    pipe = grown_pipe()
    assert pipe is not None
    for end in pipe:
        os.close(end)


@pytest.mark.parametrize("size", SIZES)
def test_ranges_are_copied_exactly_after_what_was_written(
    source: tuple[int, bytes], tmp_path: Path, size: int
) -> None:
    fd, data = source
    out = tmp_path / "out.bin"
    with open(out, "wb") as fh, range_copier() as copy:
        fh.write(b"head")
        fh.flush()
        copy(FileRange(fd, 7, size), fh.fileno())
        copy_range(FileRange(fd, 11, size), fh.fileno())
        copy(FileRange(fd, 0, 3), fh.fileno())
    assert out.read_bytes() == b"head" + data[7 : 7 + size] + data[11 : 11 + size] + data[:3]


@pytest.mark.parametrize("copier", ["splice", "copy_file_range"])
def test_a_range_past_the_end_of_the_input_is_named(
    source: tuple[int, bytes], tmp_path: Path, copier: str
) -> None:
    """An input truncated during a conversion: its range ends early, and `InputChanged`
    says so (nothing is waited for)."""
    fd, data = source
    with open(tmp_path / "out.bin", "wb") as fh, range_copier() as splice:
        copy = splice if copier == "splice" else copy_range
        with pytest.raises(InputChanged):
            copy(FileRange(fd, len(data) - 10, PIPE_BYTES), fh.fileno())
