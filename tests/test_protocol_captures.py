"""A fly scan's contrast, xspress and PCAP_RAW streams placed on one timeline, written as
captures, read back by dranspose's own reader and parsers, and inspected by the real CLI."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from dranspose.data.contrast import ContrastFinished, ContrastRunning, ContrastStarted
from dranspose.middlewares.contrast import parse as parse_contrast
from dranspose.middlewares.positioncap import PositioncapParser
from dranspose.middlewares.xspress import parse as parse_xspress

from h5tocbors.buffers import read_range
from h5tocbors.capture.encode import encode_message
from h5tocbors.core.events import Timeline, iter_events, place
from h5tocbors.protocols import Steps, contrast, pcap_raw, xspress

from .conftest import read_capture, run_cli
from .protocol_files import context, contrast_scan


def write_captures(master: Path, out: Path) -> tuple[int, int]:
    """The three streams of `master` as `out/<stream>.cbors`; returns (points, steps)."""
    out.mkdir()
    with h5py.File(master, "r") as f:
        points, steps = contrast.scan_shape(f["/entry"])
        timeline = Timeline(points, Steps.even(points, steps))
        m = f["/entry/measurement"]
        placed = [
            place("contrast", contrast.open_writer(f["/entry"], context()), "step", timeline),
            place("xspress3", xspress.open_writer(m["xspress3"], context()), "point", timeline),
            place("panda0", pcap_raw.open_writer(m["panda0"], context()), "point", timeline),
        ]
        files = {p.name: (out / f"{p.name}.cbors").open("wb") for p in placed}
        for event, parts, created_at in iter_events(placed):
            for name, part in parts.items():
                for buf in encode_message(event, {name: part}, created_at):
                    files[name].write(read_range(buf))
        for fh in files.values():
            fh.close()
    return points, steps


def test_streams_line_up_event_by_event(tmp_path: Path) -> None:
    master = contrast_scan(tmp_path, lines=3, per_line=4)
    with h5py.File(master, "r") as f:
        x = f["/entry/measurement/pseudo/x"][()]
        inenc = f["/entry/measurement/panda0/INENC2.VAL_Mean"][()]
        spectra = f["/entry/measurement/xspress3/data"][()]
    points, steps = write_captures(master, tmp_path / "out")
    assert (points, steps) == (12, 3)
    names = ("contrast", "xspress3", "panda0")
    streams = {n: read_capture(tmp_path / "out" / f"{n}.cbors") for n in names}
    assert [m.event_number for m in streams["contrast"]] == [0, 4, 8, 12, 13]
    assert [m.event_number for m in streams["xspress3"]] == list(range(14))
    assert [m.event_number for m in streams["panda0"]] == list(range(14))
    parser = PositioncapParser()
    scan = [parse_contrast(m.streams["contrast"]) for m in streams["contrast"]]
    assert isinstance(scan[0], ContrastStarted) and isinstance(scan[-1], ContrastFinished)
    running = {m.event_number: p for m, p in zip(streams["contrast"], scan)}
    assert all(isinstance(running[e], ContrastRunning) for e in (4, 8, 12))
    parser.parse(streams["panda0"][0].streams["panda0"])  # the header, at event 0
    for msg_x, msg_p in zip(streams["xspress3"][1:-1], streams["panda0"][1:-1]):
        point = msg_x.event_number - 1
        assert msg_p.event_number == msg_x.event_number
        assert np.array_equal(parse_xspress(msg_x.streams["xspress3"]).data, spectra[point])
        row = parser.parse(msg_p.streams["panda0"])
        assert row.fields["INENC2.VAL.Mean"].value == inenc[point]
        step_end = 4 * (point // 4 + 1)
        assert running[step_end].pseudo["x"][point % 4] == x[point]


def test_inspect_understands_the_new_typs(tmp_path: Path) -> None:
    write_captures(contrast_scan(tmp_path, lines=2, per_line=3), tmp_path / "out")
    files = sorted((tmp_path / "out").glob("*.cbors"))
    result = run_cli("inspect", "--strict", *files)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "  contrast: contrast, 4 messages, 2 steps, " in "\n".join(lines)
    xspress_line = "  xspress3: xspress, 8 messages, 6 spectra [2, 16] uint32 none"
    assert any(line.startswith(xspress_line) for line in lines)
    assert any(line.startswith("  panda0: PCAP_RAW, 8 messages, 6 rows, ") for line in lines)
    events = run_cli("inspect", "--events", tmp_path / "out" / "contrast.cbors").stdout
    assert "contrast contrast running dt=0.25 sy, ring_current, pseudo, panda0" not in events
    assert "contrast contrast running dt=0.25 comment, panda0, pilatus, pseudo" in events
