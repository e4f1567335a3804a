"""The seeded fuzz (`tests/fuzz.py`): a few hundred mutated HDF5 files and captures through
every command, in worker processes. No run may end in a traceback, an "unexpected" error, a
crash signal or a hang, nor leave an output after a failure. (Workers run the CLI in-process;
a run that crashes one is run again through the console script, which must end it in one
error line: it runs each command in a child process, `h5tocbors.commands.isolate`.)

`FUZZ_RUNS=5000 FUZZ_SEED=11 pytest tests/test_fuzz.py -s` fuzzes more, with another seed,
and prints how the runs ended (or `python -m tests.fuzz 5000 --seed 11`).
"""

from __future__ import annotations

import os

import pytest

from .fuzz import fuzz


def test_fuzz(tmp_path_factory: pytest.TempPathFactory) -> None:
    count = int(os.environ.get("FUZZ_RUNS", "300"))
    result = fuzz(tmp_path_factory.mktemp("fuzz"), count, seed=int(os.environ.get("FUZZ_SEED", 7)))
    print(result.table())
    assert not result.findings, "\n".join(f[:1000] for f in result.findings[:10])
    ends: dict[str, set[int]] = {}
    for run in result.runs:
        ends.setdefault(f"{run.case.split(':')[0]} {run.label}", set()).add(run.code)
    assert len(ends) == 10, sorted(ends)
    for what, codes in ends.items():  # the mutations reach each command, both ways
        assert what.endswith("inspect-output") or codes == {0, 1}, (what, codes)
    assert len(result.runs) > 3 * count
