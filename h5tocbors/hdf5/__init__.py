"""The HDF5 side: open an input, resolve a stream to a dataset, see it as frames, find where
each frame is stored, decode it or pass its stored bytes through.

`open` -> `walk`/`resolve` (+ `sources`, `filters`) -> `frames`/`selection` (+ `layout`:
which axes are frames; `slabs`: frames off the leading axes) -> `locate` -> `decode` or
`passthrough`; `series` joins the datasets of one image series (a DECTRIS master's data
files) and `images` opens a stream's images, one dataset or a series, checked; `listing`
describes a file for `h5tocbors ls`. `paths` holds the rule for the files an input names
(external raw files, external links, virtual sources).
"""
