"""Run `h5tocbors ls` and `verify` on mutated copies of an HDF5 file, in one process.

`python -m tests.mutate_hdf5 FILE CAPTURE SEED COUNT` prints one JSON line per run:
{"offset", "value", "command", "code", "stderr"}. A crash of the process is a finding
too, so the caller runs this in a subprocess.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import sys
import tempfile
from pathlib import Path

from h5tocbors.commands.cli import main


def run(args: list[str]) -> tuple[int, str]:
    """The CLI in-process: (exit code, stderr)."""
    err = io.StringIO()
    code: int | str | None = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(args)
        except SystemExit as e:
            code = e.code
    return (code if isinstance(code, int) else 1), err.getvalue()


def mutations(data: bytes, seed: int, count: int) -> list[tuple[int, int]]:
    """`count` (offset, new byte) pairs, seeded; offsets in the metadata-dense first 4 KiB."""
    rng = random.Random(seed)
    limit = min(len(data), 4096)
    found: list[tuple[int, int]] = []
    while len(found) < count:
        offset, value = (
            rng.randrange(limit),
            rng.choice((0x00, 0xFF, 0x80, 0x01, rng.randrange(256))),
        )
        if data[offset] != value:
            found.append((offset, value))
    return found


def main_(argv: list[str]) -> None:
    source, capture, seed, count = Path(argv[0]), argv[1], int(argv[2]), int(argv[3])
    data = source.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        mutated = Path(tmp) / source.name
        for offset, value in mutations(data, seed, count):
            changed = bytearray(data)
            changed[offset] = value
            mutated.write_bytes(changed)
            for command in (["ls", str(mutated)], ["verify", str(mutated), capture]):
                code, err = run(command)
                line = {
                    "offset": offset,
                    "value": value,
                    "command": command[0],
                    "code": code,
                    "stderr": err,
                }
                print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main_(sys.argv[1:])
