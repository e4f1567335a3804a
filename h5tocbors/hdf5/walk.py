"""Walk an HDF5 file's links: every path, the object each leads to, the datasets, each once.

h5tocbors follows soft and external links itself, one link at a time, instead of letting
HDF5 do it: HDF5 would open the target of an external link wherever its search finds it
(an absolute path, the current directory). Here the target must pass the path rule
(`paths`) before it is opened, and an absolute path outside the folder is looked for beside
(`rebase` does the same for virtual datasets); where HDF5 will follow the path itself (a
virtual source), `beside=False` checks what HDF5 opens.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from typing import TypeAlias

import h5py

from ..errors import H5ToCborsError, option
from .open import metadata_of, open_dataset, open_referenced
from .paths import LINK, RefusedPath, folder_of, referenced_file
from .rebase import rebased

MAX_HOPS = 16
"""Soft and external links followed for one path, as HDF5's default (a loop ends here)."""

Object: TypeAlias = h5py.Group | h5py.Dataset | h5py.Datatype


class BrokenLink(RefusedPath):
    """A path that leads to no object: a missing name, a dangling or refused link."""

    def __init__(self, message: str, *, unsafe: bool = False) -> None:
        super().__init__(message, unsafe=unsafe)


def link_paths(f: h5py.File) -> list[str]:
    """Every link path in the file (soft and external links included), without the leading /.

    HDF5 descends through hard links only, so every path is reached through hard links
    but its last link.
    """
    paths: list[str | bytes] = []
    try:
        f.visit_links(paths.append)  # h5py gives bytes for a name it cannot decode
    except UnicodeDecodeError:
        paths.append(b"?")
    except (RuntimeError, SystemError, OSError, ValueError) as e:
        raise H5ToCborsError(
            f"cannot list the objects of {f.filename}: corrupt HDF5 metadata ({e}); "
            f"give the dataset as {option('streams', {'NAME': '/path'})}"
        ) from e
    odd = next((p for p in paths if isinstance(p, bytes)), None)
    if odd is not None:
        raise H5ToCborsError(
            f"cannot list the objects of {f.filename}: link name {odd!r} is not UTF-8; "
            f"give the dataset as {option('streams', {'NAME': '/path'})}"
        )
    return [p for p in paths if isinstance(p, str)]


def follow(start: h5py.Group, path: str, beside: bool = True) -> Object:
    """The object at `path` (absolute, or relative to the group `start`), every soft and
    external link followed safely.

    Raises `BrokenLink` naming the link that leads nowhere (or outside what the path rule
    allows). Datasets are opened with `open.dataset_access`. With `beside`, external links
    and virtual sources named by absolute paths outside the folder are found beside
    (`paths.referenced_file`, `rebase`); without it, as HDF5 would find them.

    Example:
        >>> follow(f, "/entry/data/data_000001").file.filename  # doctest: +SKIP
        '/data/run/run_data_000001.h5'
    """
    return _follow(root(start) if isinstance(start, h5py.File) else start, path, [0], beside)


def root(f: h5py.File) -> h5py.Group:
    """The root group of `f` (which can be unreadable in a corrupt file)."""
    with metadata_of(f, "/"):
        group: h5py.Group = f["/"]
    return group


def _follow(group: h5py.Group, path: str, hops: list[int], beside: bool) -> Object:
    obj: Object = root(group.file) if path.startswith("/") else group
    for name in (p for p in path.split("/") if p and p != "."):
        if not isinstance(obj, h5py.Group):
            raise BrokenLink(f"{obj.name} in {obj.file.filename} is not a group")
        obj = _step(obj, name, hops, beside)
    return obj


def _step(group: h5py.Group, name: str, hops: list[int], beside: bool) -> Object:
    """The object that link `name` of `group` leads to."""
    where = posixpath.join(group.name, name)
    f = group.file
    with metadata_of(f, where):
        links, key = group.id.links, name.encode()
        if not links.exists(key):
            raise BrokenLink(f"{where} does not exist in {f.filename}")
        kind = links.get_info(key).type
        if kind == h5py.h5l.TYPE_HARD:
            if group.get(name, getclass=True) is h5py.Dataset:
                dset = open_dataset(group, name)
                return rebased(dset) if beside else dset
            found: Object = group[name]
            return found
        value = links.get_val(key)
    hops[0] += 1
    if hops[0] > MAX_HOPS:
        raise BrokenLink(
            f"{where}: more than {MAX_HOPS} soft or external links to follow (a loop?)"
        )
    if kind == h5py.h5l.TYPE_SOFT:
        target = value.decode("utf-8", "replace")
        try:
            return _follow(group, target, hops, beside)
        except BrokenLink as e:
            raise BrokenLink(f"{where} is a soft link to {target}: {e}", unsafe=e.unsafe) from e
    if kind == h5py.h5l.TYPE_EXTERNAL:
        file_name, target = os.fsdecode(value[0]), value[1].decode("utf-8", "replace")
        try:
            found = referenced_file(file_name, folder_of(f), LINK, beside)
            return _follow(root(open_referenced(found)), target, hops, beside)
        except RefusedPath as e:
            raise BrokenLink(
                f"{where} is an external link to {file_name}:{target}: {e}", unsafe=e.unsafe
            ) from e
    raise BrokenLink(f"{where} is a user-defined link, which h5tocbors does not follow")


@dataclass
class Entry:
    """A dataset the walk found, or a link that leads to none."""

    path: str
    dataset: h5py.Dataset | None
    links: list[str] = field(default_factory=list)
    """Other paths (soft or external links) to the same dataset."""
    problem: str | None = None
    """Why the link at `path` leads to no dataset (dangling, or refused)."""


def listed_paths(f: h5py.File) -> list[str]:
    """Every path a listing shows: `link_paths`, then those inside linked groups
    (`linked_group_paths`). Walking them visits every link and opens every linked file:
    `ls` does it once, for its datasets and its streams.

    Example:
        >>> listed_paths(f)[:3]  # doctest: +SKIP
        ['entry', 'entry/measurement', 'entry/measurement/xspress3']
    """
    paths = link_paths(f)
    return paths + linked_group_paths(f, paths)


MAX_LINKED_GROUPS = 64
"""Groups in other files that a listing descends into (a contrast master links a few)."""


def linked_group_paths(f: h5py.File, paths: list[str]) -> list[str]:
    """The paths, as seen from `f`, of everything inside groups that external links among
    `paths` lead to (HDF5's own walk stops at such links): a contrast master's
    `/entry/measurement/xspress3` is a group in the xspress3 file.

    Links that dangle or that the path rule refuses are left for `walk_datasets` to name.
    """
    found: list[str] = []
    for path in paths[:]:
        with metadata_of(f, "/" + path):
            link = f.get(path, getlink=True)
        if not isinstance(link, h5py.ExternalLink) or len(found) > MAX_LINKED_GROUPS * 1000:
            continue
        try:
            target = follow(f, "/" + path)
        except BrokenLink:
            continue
        if isinstance(target, h5py.Group):
            inside: list[str | bytes] = []
            with metadata_of(target.file, target.name):
                target.visit_links(inside.append)
            found += [f"{path}/{p}" for p in inside if isinstance(p, str)]
    return found


def walk_datasets(f: h5py.File, paths: list[str]) -> list[Entry]:
    """The datasets `paths` lead to, each once, and the links among them that lead nowhere.

    A path through hard links is preferred; groups are left out.
    """

    def hard(path: str) -> bool:
        with metadata_of(f, "/" + path):  # only the last link of a walked path can be soft
            return isinstance(f.get(path, getlink=True), h5py.HardLink)

    found: dict[tuple[int, int], Entry] = {}
    broken: list[Entry] = []
    for path in sorted(paths, key=lambda p: not hard(p)):
        try:
            obj = follow(f, "/" + path)
        except BrokenLink as e:
            broken.append(Entry("/" + path, None, problem=str(e)))
            continue
        if isinstance(obj, h5py.Dataset):
            with metadata_of(obj.file, obj.name):
                info = h5py.h5o.get_info(getattr(obj, "original", obj).id)
            key = (info.fileno, info.addr)
            if key in found:
                found[key].links.append("/" + path)
            else:
                found[key] = Entry("/" + path, obj)
    return [*found.values(), *broken]
