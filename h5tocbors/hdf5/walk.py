"""Walk an HDF5 file's links: every path, and the datasets they lead to, each once."""

from __future__ import annotations

import h5py

from ..errors import H5ToCborsError


def link_paths(f: h5py.File) -> list[str]:
    """Every link path in the file (soft and external links included), without the leading /."""
    paths: list[str | bytes] = []
    try:
        f.visit_links(paths.append)  # h5py gives bytes for a name it cannot decode
    except (UnicodeDecodeError, SystemError, RuntimeError) as e:
        paths.append(repr(e).encode())
    odd = next((p for p in paths if isinstance(p, bytes)), None)
    if odd is not None:
        raise H5ToCborsError(
            f"cannot list the objects of {f.filename}: link name {odd!r} is not UTF-8; "
            "give the dataset as --stream NAME=/path"
        )
    return [p for p in paths if isinstance(p, str)]


def unique_datasets(f: h5py.File, paths: list[str]) -> list[tuple[str, list[str], h5py.Dataset]]:
    """The datasets `paths` lead to, each once: (its path, other paths to it, the dataset).

    A path through hard links is preferred; dangling links and groups are left out.
    """
    hard_first = sorted(paths, key=lambda p: not isinstance(f.get(p, getlink=True), h5py.HardLink))
    found: dict[tuple[int, int], tuple[str, list[str], h5py.Dataset]] = {}
    for path in hard_first:
        try:
            obj = f.get(path)
        except (KeyError, OSError, ValueError, RuntimeError):
            continue  # a dangling soft or external link
        if isinstance(obj, h5py.Dataset):
            info = h5py.h5o.get_info(obj.id)
            if (info.fileno, info.addr) in found:
                found[info.fileno, info.addr][1].append("/" + path)
            else:
                found[info.fileno, info.addr] = ("/" + path, [], obj)
    return list(found.values())
