"""A stream's images: one image dataset, or an image series over several (a DECTRIS master's
data files), checked to be all there before a frame is read."""

from __future__ import annotations

import h5py

from ..errors import H5ToCborsError
from .frames import FrameSeries
from .resolve import find_path, image_series, not_an_image, open_object
from .series import ImageSeries, ordered_parts, series_parts
from .sources import check_sources


def open_images(
    obj: h5py.Group | h5py.Dataset,
    selection: slice | None = None,
    name: str = "",
    axes: str | None = None,
) -> ImageSeries:
    """The frames `selection` picks (all when None) of the image dataset or series group
    `obj`, known as `name` in the input (default: `obj`'s own path), each dataset cut into
    frames as `axes` say (see `layout`; None: as its shape and NeXus hints say).

    A series must be whole (every data file there, no image missing or repeated); the data
    of every selected frame must be there (see `sources.check_sources`).

    Example:
        >>> images = open_images(f["/entry/data"], slice(98, 102))  # doctest: +SKIP
        >>> images.name, [p.dataset.file.filename for p in images.parts]  # doctest: +SKIP
        ('/entry/data', ['/data/run_data_000001.h5', '/data/run_data_000002.h5'])
    """
    if isinstance(obj, h5py.Dataset):
        return ImageSeries.single(name or obj.name, image_series(obj, selection, axes=axes))
    parts = series_parts(obj, axes)
    if not parts:
        raise H5ToCborsError(
            f"{obj.name} in {obj.file.filename} is a group, not an image dataset nor an image "
            "series (links data_000001, data_000002, ... to data files)"
        )
    whole = []
    for part in ordered_parts(obj, parts):
        assert part.dataset is not None and part.dtype is not None  # all there
        refusal = not_an_image(part.dtype, part.shape, part.layout)
        if refusal is not None:
            raise H5ToCborsError(f"{part.dataset.name} in {part.dataset.file.filename}: {refusal}")
        whole.append(FrameSeries.of(part.dataset, None, part.layout))
    images = ImageSeries.join(name or obj.name, whole, selection)
    for selected in images.parts:  # each part was checked as an image above: now its data
        check_sources(selected.dataset, selected.indices, layout=selected.layout)
    return images


def resolve_images(
    f: h5py.File,
    name: str,
    path: str | None,
    frames: slice | None = None,
    axes: str | None = None,
) -> ImageSeries:
    """The images of stream `name`: at `path` if given, else found by `name` (see
    `resolve.find_path`), with the frames `frames` selects, cut as `axes` say."""
    path = path or find_path(f, name)
    return open_images(open_object(f, path), frames, path, axes)
