"""Stream names that `ls` suggests, made unique across a file: pasting two of its `--stream`
arguments must not give one name twice (every Delmic acquisition's `ImageData`, an
xspress3 group and its `data`)."""

from __future__ import annotations

import shlex
from collections import defaultdict

from ..capture.names import MAX_STREAM_NAME
from .listing import GENERIC_NAMES, DatasetInfo, argument, is_plain, safe_name

MAX_ROUNDS = 64
"""Rounds of lengthening colliding names, at most (each lengthens every colliding name)."""


def longer_names(path: str, name: str) -> list[str]:
    """`name` (a path's stream name), then longer names for it, each more telling: a
    generic last component kept (`xspress3_data`), then parent groups put before it
    (`Acquisition0_ImageData`, ...).

    Example:
        >>> longer_names("/Acquisition0/ImageData/Image", "ImageData")
        ['ImageData', 'ImageData_Image', 'Acquisition0_ImageData', 'Acquisition0_ImageData_Image']
    """
    parts = [p for p in path.split("/") if p]
    generic = len(parts) > 1 and parts[-1].lower() in GENERIC_NAMES
    base = parts[:-1] if generic else parts
    found = [name]
    for start in range(len(base) - 1, -1, -1):
        found += ["_".join(base[start:])] if start < len(base) - 1 else []
        found += ["_".join(base[start:] + parts[-1:])] if generic else []
    valid = [safe_name(n) for n in found]
    return list(dict.fromkeys(n for n in valid if is_plain(n)))


def unique_streams(datasets: list[DatasetInfo]) -> None:
    """Give the `--stream` arguments of `datasets` distinct names, in place.

    Where names collide, the one row with the shortest path keeps its name (an xspress3
    group before its `data`; all rows when several are as short), and the others take
    their next longer name (`longer_names`) until none collide or none has a longer one;
    repeats left then are numbered.
    """
    rows = [d for d in datasets if d.stream and d.stream.startswith("--stream ")]
    split = [shlex.split(d.stream or "")[1].split("=", 1) for d in rows]
    choices = [longer_names(d.path, name) for d, (name, _) in zip(rows, split)]
    level = [0] * len(rows)
    for _ in range(MAX_ROUNDS):
        named: defaultdict[str, list[int]] = defaultdict(list)
        for i, names in enumerate(choices):
            named[names[level[i]]].append(i)
        moved = False
        for same in (s for s in named.values() if len(s) > 1):
            depth = [rows[i].path.count("/") for i in same]
            keep = [i for i, d in zip(same, depth) if d == min(depth)]
            for i in same if len(keep) > 1 else [i for i in same if i not in keep]:
                if level[i] + 1 < len(choices[i]):
                    level[i] += 1
                    moved = True
        if not moved:
            break
    final = numbered([names[at] for names, at in zip(choices, level)])
    for d, (_, target), name in zip(rows, split, final):
        d.stream = argument(name, target)


def numbered(names: list[str]) -> list[str]:
    """`names` with a number added to each repeat that longer names could not tell apart
    (`/a/ImageData/Image` when `/a_ImageData_Image` holds its longest name).

    Example:
        >>> numbered(["a", "b", "a", "a_2"])
        ['a', 'b', 'a_3', 'a_2']
    """
    taken = set(names)
    seen: set[str] = set()
    result = []
    for name in names:
        if name in seen:
            n = 2
            while f"{name[: MAX_STREAM_NAME - 8]}_{n}" in taken:
                n += 1
            name = f"{name[: MAX_STREAM_NAME - 8]}_{n}"
            taken.add(name)
        seen.add(name)
        result.append(name)
    return result
