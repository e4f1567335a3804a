"""Real public files users have (MAX IV's drp-nanomax, dranspose's tests/data), found here.

They are not committed (they are other projects' data). A test asks for one by repository and path:

    path = public_file("maxiv-science/drp-nanomax", "data/000008.h5")

It is taken from `$H5TOCBORS_PUBLIC_DATA/<owner>+<name>/<path>` when that exists, else extracted
once from a local git snapshot of the repository (`$H5TOCBORS_MIRRORS/<owner>+<name>/repo`, default
`/work/.mirror`) into `build/public-data/`; the test is skipped, saying so, when neither has it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "build" / "public-data"


def public_file(repository: str, path: str) -> Path:
    """The local copy of `path` in the public `repository` (owner/name), or skip the test."""
    folder = repository.replace("/", "+")
    given = os.environ.get("H5TOCBORS_PUBLIC_DATA")
    if given and (Path(given) / folder / path).is_file():
        return Path(given) / folder / path
    cached = CACHE / folder / path
    if cached.is_file():
        return cached
    mirror = Path(os.environ.get("H5TOCBORS_MIRRORS", "/work/.mirror")) / folder / "repo"
    if not mirror.is_dir():
        pytest.skip(f"public data {repository}:{path} is not on this machine")
    shown = subprocess.run(
        ["git", "--git-dir", str(mirror), "show", f"HEAD:{path}"], capture_output=True, check=False
    )
    if shown.returncode != 0:
        pytest.skip(f"public data {repository}:{path} is not in {mirror}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    part = cached.with_name(f"{cached.name}.{os.getpid()}.part")
    part.write_bytes(shown.stdout)
    part.replace(cached)
    return cached
