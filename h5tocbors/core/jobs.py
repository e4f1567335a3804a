"""How many threads h5tocbors uses by default (no heavy import: the CLI's help shows it)."""

from __future__ import annotations

import os


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
