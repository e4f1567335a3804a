"""bitshuffle runs on one OpenMP thread in every thread where h5tocbors calls it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from h5tocbors.bshuf import openmp_runtimes, single_openmp_thread
from h5tocbors.payloads.pipeline import ordered_map


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Any:
    """bitshuffle's OpenMP runtime (skipped for a bitshuffle built without OpenMP)."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    runtimes = openmp_runtimes()
    if not runtimes:
        pytest.skip("this bitshuffle has no OpenMP runtime")
    return runtimes[0]


@pytest.mark.parametrize("jobs", [1, 2])
def test_worker_threads_run_bitshuffle_on_one_openmp_thread(runtime: Any, jobs: int) -> None:
    """The team bitshuffle would start: one thread, not one per core spinning while it waits."""
    teams = list(ordered_map(lambda k: k, lambda _: runtime.omp_get_max_threads(), 6, jobs))
    assert teams == [1] * 6


def test_an_omp_num_threads_the_user_set_is_left_alone(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []

    def in_a_new_thread() -> None:
        before = runtime.omp_get_max_threads()
        single_openmp_thread()
        seen.extend([before, runtime.omp_get_max_threads()])

    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    thread = threading.Thread(target=in_a_new_thread)
    thread.start()
    thread.join()
    assert seen[0] == seen[1]
