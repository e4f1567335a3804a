"""Sardana channel keys: NXscan dataset names -> the keys the sardana stream writes.

The expected tables were read from MAX IV's public captures (drp-balder, drp-danmax,
drp-femtomax `data/*sardana*.cbors`).
"""

from __future__ import annotations

import json
from pathlib import Path

import cbor2
import pytest
from cbor2 import CBORTag

from h5tocbors.capture.read import read_messages
from h5tocbors.errors import H5ToCborsError
from h5tocbors.scan.channel_keys import capture_names, channel_keys, reference_parts, sanitize
from h5tocbors.scan.config import load_config

from .public_data import public_file

BALDER = (
    "maxiv-science/drp-balder",
    "data/dumpsardana-ingester-7dda366a-fe36-4d53-b66d-0398d78d1782.cbors",
)
DANMAX = (
    "maxiv-science/drp-danmax",
    "data/dumpsardana-ingester-70b3ce40-6e3e-4931-8dbc-245334e26eae.cbors",
)
MESH = (
    "maxiv-science/drp-danmax",
    "data/mesh2dworksardana-ingester-9c93f54e-2ca7-495d-85d2-7aba6cdc99a9.cbors",
)
BALOR = (
    "maxiv-science/drp-femtomax",
    "data/balorsardana-ingester-c7b27d51-f285-4880-ad3c-08c2eefb8b92.cbors",
)
LAB6 = (
    "maxiv-science/drp-femtomax",
    "data/pilatus_lab6sardana-ingester-61591c49-9ac8-4cde-9b7e-ca7828b412fb.cbors",
)
EIGER = (
    "maxiv-science/drp-balder",
    "data/dumpeigerxes-ingester-7dda366a-fe36-4d53-b66d-0398d78d1782.cbors",
)
BALDER_DB = "tango://b-v-balder-csdb-0.maxiv.lu.se:10000/"
DANMAX_DB = "tango://b-v-danmax-csdb-0.maxiv.lu.se:10000/"
FEMTO_DB = "tango://b-v-femtomax-csdb-0.maxiv.lu.se:10000/"
SCAN = {"Pt_No": "point_nb", "dt": "timestamp"}


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("#Pt No", "Pt_No"),
        ("dt", "dt"),
        ("albaem-01_ch3", "albaem01_ch3"),
        ("albaem-xrd_ch4", "albaemxrd_ch4"),
        ("2theta", "_2theta"),
        ("ion chamber (I0)", "ion_chamber_I0"),
        ("µ-x", "µx"),  # str.isalnum, as Sardana: letters of every script stay
        ("hdcm_E", "hdcm_E"),
    ],
)
def test_sanitize_as_sardanas_recorder(label: str, name: str) -> None:
    assert sanitize(label) == name


def test_reference_parts() -> None:
    balder = "/data/visitors/balder/raw/scan-21503_eiger_xes.h5:entry/instrument/eiger_xes/"
    assert reference_parts(balder) == ("scan-21503_eiger_xes.h5", "entry/instrument/eiger_xes")
    danmax = "/data/visitors/danmax/raw/mesh/scan-3218_pilatus.h5:/entry/instrument/pilatus"
    assert reference_parts(danmax) == ("scan-3218_pilatus.h5", "entry/instrument/pilatus")
    assert reference_parts("h5file:///data/x/pil.h5::/entry/data") == ("pil.h5", "entry/data")
    assert reference_parts("file:///data/x/pil.h5") == ("pil.h5", "")
    assert reference_parts("") is None
    assert reference_parts("some text") is None
    assert reference_parts("file:///") is None


def test_default_is_the_dataset_name() -> None:
    assert channel_keys(["Pt_No", "dt", "pilatus"]) == {
        "Pt_No": "Pt_No",
        "dt": "dt",
        "pilatus": "pilatus",
    }


def test_balder_step_scan() -> None:
    """Balder's channels are all referenced (none in column_desc): matched by file name."""
    names = ["Pt_No", "dt", "xtal3_pit", "albaem_2d_01", "albaem_2d_02", "pcap", "eiger_xes"]
    assert channel_keys(names, names_from=public_file(*BALDER)) == SCAN | {
        "xtal3_pit": "xtal3_pit",
        "albaem_2d_01": BALDER_DB + "expchan/albaem_2d_ctrl_01/1",
        "albaem_2d_02": BALDER_DB + "expchan/albaem_2d_ctrl_02/1",
        "pcap": BALDER_DB + "expchan/pcap_ctrl/1",
        "eiger_xes": BALDER_DB + "expchan/eiger_xes_ctrl/1",
    }


def test_balder_by_recorded_reference() -> None:
    """With each dataset's own reference, any dataset name matches its detector."""
    recorded = {
        "xes": "/elsewhere/scan-21503_eiger_xes.h5::/entry/instrument/eiger_xes",
        "em1": "h5file:///moved/scan-21503_albaem_2d_01.h5::entry/instrument/albaem",
    }
    keys = channel_keys(["xes", "em1", "em2"], names_from=public_file(*BALDER), references=recorded)
    assert keys == {
        "xes": BALDER_DB + "expchan/eiger_xes_ctrl/1",
        "em1": BALDER_DB + "expchan/albaem_2d_ctrl_01/1",
        "em2": "em2",  # group "albaem" is two detectors' and file stem is not em2: unmatched
    }


def test_ambiguous_name_is_left_alone() -> None:
    """Balder's two electrometers both write group `albaem`: a dataset `albaem` is neither."""
    keys = channel_keys(["albaem", "eiger_xes"], names_from=public_file(*BALDER))
    assert keys == {"albaem": "albaem", "eiger_xes": BALDER_DB + "expchan/eiger_xes_ctrl/1"}


def test_danmax_continuous_scan() -> None:
    names = ["Pt_No", "dt", "tom_ry", "orca", "albaem01_ch3", "pcap_trigts", "albaemxrd_ch3"]
    names += ["albaemxrd_ch4", "pcap_rot"]
    assert channel_keys(names, names_from=public_file(*DANMAX)) == SCAN | {
        "tom_ry": "tom_ry",
        "orca": DANMAX_DB + "expchan/orca_ctrl/1",
        "albaem01_ch3": DANMAX_DB + "expchan/albaem_ctrl_01/4",
        "pcap_trigts": DANMAX_DB + "expchan/pcap_ctrl/10",
        "albaemxrd_ch3": DANMAX_DB + "B304A-EA03/CTL/AEM-EA03-01-CH3",
        "albaemxrd_ch4": DANMAX_DB + "B304A-EA03/CTL/AEM-EA03-01-CH4",
        "pcap_rot": DANMAX_DB + "expchan/pcap_ctrl/11",
    }


def test_danmax_mesh() -> None:
    got = capture_names(public_file(*MESH))
    assert got.labels == SCAN | {
        "pd_sam_x": "pd_sam_x",
        "pd_sam_y": "pd_sam_y",
        "albaem01_ch1": DANMAX_DB + "expchan/albaem_ctrl_01/2",
        "albaem01_ch3": DANMAX_DB + "expchan/albaem_ctrl_01/4",
        "albaemxrd_ch1": DANMAX_DB + "B304A-EA03/CTL/AEM-EA03-01-CH1",
        "albaemxrd_ch2": DANMAX_DB + "B304A-EA03/CTL/AEM-EA03-01-CH2",
        "albaemxrd_ch3": DANMAX_DB + "B304A-EA03/CTL/AEM-EA03-01-CH3",
        "albaemxrd_ch4": DANMAX_DB + "B304A-EA03/CTL/AEM-EA03-01-CH4",
        "pcap_mean": DANMAX_DB + "expchan/pcap_ctrl/3",
        "pcap_trigts": DANMAX_DB + "expchan/pcap_ctrl/10",
        "pcap_ttl1": DANMAX_DB + "expchan/pcap_ctrl/4",
        "bragg_enc": DANMAX_DB + "expchan/proxy_timer_ctrl/1",
        "hdcm_E": DANMAX_DB + "expchan/proxy_timer_ctrl/2",
    }
    assert got.references == {
        DANMAX_DB + "expchan/pilatus_ctrl/1": "/data/visitors/danmax/20240936/2024042712/raw/"
        "mesh/scan-3218_pilatus.h5:/entry/instrument/pilatus"
    }
    keys = channel_keys(["pilatus", "hdcm_E", "Pt_No"], names_from=public_file(*MESH))
    assert keys == {
        "pilatus": DANMAX_DB + "expchan/pilatus_ctrl/1",
        "hdcm_E": DANMAX_DB + "expchan/proxy_timer_ctrl/2",
        "Pt_No": "point_nb",
    }


def test_femtomax_burst_scans() -> None:
    """1-D channels (the PandA's) are in no column_desc: they keep their names."""
    names = ["Pt_No", "dt", "dummy_mot_01", "balor", "zyla12", "pcap_ch4"]
    assert channel_keys(names, names_from=public_file(*BALOR)) == SCAN | {
        "dummy_mot_01": "dummy_mot_01",
        "balor": FEMTO_DB + "expchan/andor3_balor_ctrl/1",
        "zyla12": FEMTO_DB + "expchan/andor3_zyla12_ctrl/1",
        "pcap_ch4": "pcap_ch4",
    }
    assert channel_keys(["pilatus"], names_from=public_file(*LAB6)) == {
        "pilatus": FEMTO_DB + "expchan/pilatus_ctrl/1"
    }


def test_names_table_wins(tmp_path: Path) -> None:
    keys = channel_keys(
        ["pcap_ch4", "balor", "dt"],
        names={"pcap_ch4": FEMTO_DB + "expchan/panda_femtopcap_ctrl/4", "balor": "mine"},
        names_from=public_file(*BALOR),
    )
    assert keys == {
        "pcap_ch4": FEMTO_DB + "expchan/panda_femtopcap_ctrl/4",
        "balor": "mine",
        "dt": "timestamp",
    }


def test_capture_without_sardana_stream() -> None:
    with pytest.raises(
        H5ToCborsError, match=r"holds no sardana stream \(its first message: 'eigerxes'\)"
    ):
        channel_keys(["x"], names_from=public_file(*EIGER))


def message(event: int, streams: dict[str, tuple[str, list[bytes]]]) -> bytes:
    """One capture message as dranspose's Dumper writes it."""
    body = {name: CBORTag(42878, [typ, frames]) for name, (typ, frames) in streams.items()}
    return cbor2.dumps(CBORTag(55799, CBORTag(42877, [event, body])))


@pytest.mark.parametrize(
    ("frames", "error"),
    [
        ([b"\x80\x02"], "event 0: the sardana message is not a JSON object"),
        ([b"[" * 100_000], "event 0: the sardana message is not a JSON object"),
        ([b'{"type":"RecordData","timestamp":1}'], "starts with 'RecordData', not a Data"),
        ([b'{"type":"DataDescription"}'], "the DataDescription has no column_desc list"),
        (
            [b'{"type":"DataDescription","column_desc":[{"name":"a\\u001b[2J"}]}'],
            r"column_desc entry without a name and a label: .*\\x1b\[2J",
        ),
        ([], "event 0: the sardana message is not a JSON object"),
    ],
)
def test_bad_captures(tmp_path: Path, frames: list[bytes], error: str) -> None:
    path = tmp_path / "bad.cbors"
    path.write_bytes(message(0, {"sardana": ("sardana", frames)}))
    with pytest.raises(H5ToCborsError, match=error):
        capture_names(path)


def test_empty_capture(tmp_path: Path) -> None:
    (tmp_path / "empty.cbors").write_bytes(b"")
    with pytest.raises(H5ToCborsError, match=r"no sardana stream \(its first message: no message"):
        capture_names(tmp_path / "empty.cbors")


def test_references_from_later_records(tmp_path: Path) -> None:
    """A channel null in the first record gets its reference from a later one."""
    desc = {"type": "DataDescription", "serialno": 1, "scandir": "/d", "title": "t"}
    desc["column_desc"] = [{"name": "point_nb", "label": "#Pt No"}]  # type: ignore[assignment]
    records = [
        {"type": "RecordData", "timestamp": 0.0, "det": None, "point_nb": 0},
        {"type": "RecordData", "timestamp": 1.0, "det": "/d/scan-1_det.h5:/entry/det", "n": "x"},
    ]
    path = tmp_path / "c.cbors"
    path.write_bytes(
        b"".join(
            message(i, {"sardana": ("sardana", [json.dumps(m).encode()])})
            for i, m in enumerate([desc, *records])
        )
    )
    got = capture_names(path)
    assert got.labels == {"Pt_No": "point_nb"}
    assert got.references == {"det": "/d/scan-1_det.h5:/entry/det"}


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scan.toml"
    path.write_text(text)
    return path


def test_config_names(tmp_path: Path) -> None:
    capture = tmp_path / "captures" / "sardana.cbors"
    capture.parent.mkdir()
    capture.write_bytes(public_file(*DANMAX).read_bytes())
    config = load_config(
        write_config(
            tmp_path,
            'names_from = "captures/sardana.cbors"\n\n[names]\n'
            'pcap_ch4 = "tango://h:10000/expchan/panda_ctrl/4"\n',
        )
    )
    assert config.streams == []
    assert config.names == {"pcap_ch4": "tango://h:10000/expchan/panda_ctrl/4"}
    assert config.names_from == capture.resolve()
    keys = channel_keys(["orca", "pcap_ch4"], config.names, config.names_from)
    assert keys == {
        "orca": DANMAX_DB + "expchan/orca_ctrl/1",
        "pcap_ch4": "tango://h:10000/expchan/panda_ctrl/4",
    }


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            'names_from = "../outside.cbors"\n',
            r"line 1: names_from '\.\./outside\.cbors' is outside",
        ),
        ('names_from = "/etc/passwd"\n', r"line 1: names_from '/etc/passwd' is outside"),
        ('names_from = "missing.cbors"\n', r"line 1: names_from 'missing\.cbors' is not a file"),
        ("names_from = 3\n", "line 1: names_from must be the file name of a capture"),
        ('names = "x"\n', "line 1: names must be a table of name = key"),
        ("[names]\npilatus = 3\n", r"line 2: names: 'pilatus' must map to a key"),
        ('[names]\npilatus = ""\n', r"line 2: names: 'pilatus' must map to a key"),
        ('[names]\n"a\\u001b[2J" = 1\n', r"names: 'a\\x1b\[2J' must map to a key"),
        ('[names.pilatus]\nkey = "x"\n', r"names: 'pilatus' must map to a key"),
        ('[name]\npilatus = "x"\n', "line 1: unknown key name "),
        ("points = 3\n", "give at least one \\[streams.NAME\\] table"),
    ],
)
def test_config_refuses(tmp_path: Path, text: str, error: str) -> None:
    folder = tmp_path / "cfg"
    folder.mkdir()
    (tmp_path / "outside.cbors").write_bytes(b"")
    with pytest.raises(H5ToCborsError, match=error):
        load_config(write_config(folder, text))


def test_config_names_from_not_a_capture(tmp_path: Path) -> None:
    """The capture is read when the keys are made: a bad one is one line, exit 1."""
    (tmp_path / "x.cbors").write_bytes(b"not a capture")
    config = load_config(write_config(tmp_path, 'names_from = "x.cbors"\n'))
    with pytest.raises(H5ToCborsError, match="not a capture message at byte 0"):
        channel_keys(["a"], config.names, config.names_from)


def events(repository: str, path: str) -> dict[str, list[int]]:
    """Each stream's event numbers in a public capture."""
    out: dict[str, list[int]] = {}
    for m in read_messages(public_file(repository, path)):
        for name in m.streams:
            out.setdefault(name, []).append(m.event_number)
    return out


def span(start: int, stop: int) -> list[int]:
    return list(range(start, stop))


MESH_RECORDS = [12 * line + 1 + j for line in range(5) for j in range(10)]
MESH_PCAP = sorted(
    {12 * line + k for line in range(5) for k in range(12)} | {59}
)  # per line: header, 10 rows, END


@pytest.mark.parametrize(
    ("captures", "expected"),
    [
        (  # step scan: 1:1
            [
                BALDER,
                EIGER,
                (BALDER[0], "data/dumppcap-ingester-7dda366a-fe36-4d53-b66d-0398d78d1782.cbors"),
            ],
            {"sardana": span(0, 43), "eigerxes": span(0, 43), "pcap": span(0, 43)},
        ),
        (  # continuous scan: 1:1
            [
                DANMAX,
                (DANMAX[0], "data/dumporca-ingester-70b3ce40-6e3e-4931-8dbc-245334e26eae.cbors"),
                (
                    DANMAX[0],
                    "data/dumppcap_rotRAW-ingester-70b3ce40-6e3e-4931-8dbc-245334e26eae.cbors",
                ),
            ],
            {"sardana": span(0, 13), "orca": span(0, 13), "pcap_rot": span(0, 13)},
        ),
        (  # mesh, PandA re-armed per line: its END and header on events without sardana
            [
                MESH,
                (
                    MESH[0],
                    "data/mesh2dworkpcap_rotRAW-ingester-9c93f54e-2ca7-495d-85d2-7aba6cdc99a9.cbors",
                ),
            ],
            {"sardana": [0, *MESH_RECORDS, 59], "pcap_rot": MESH_PCAP},
        ),
        (  # burst: every frame an event, the record on the point's last frame
            [
                LAB6,
                (
                    LAB6[0],
                    "data/pilatus_lab6pilatus-ingester-61591c49-9ac8-4cde-9b7e-ca7828b412fb.cbors.gz",
                ),
            ],
            {"sardana": [0, 6, 12, 18, 24, 30, 31], "pilatus": span(0, 32)},
        ),
        ([BALOR], {"sardana": [0, 5, 10, 15, 20, 25, 26]}),
    ],
)
def test_event_alignment(captures: list[tuple[str, str]], expected: dict[str, list[int]]) -> None:
    """How real captures put sardana messages beside detector and PandA captures."""
    got: dict[str, list[int]] = {}
    for capture in captures:
        got.update(events(*capture))
    assert got == expected


def test_readme_example(tmp_path: Path) -> None:
    """README's `names_from` example gives README's table."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    text = readme.split('```toml\nnames_from = "dumpsardana')[1].split("```")[0]
    capture = public_file(*DANMAX)
    (tmp_path / capture.name).write_bytes(capture.read_bytes())
    config = load_config(write_config(tmp_path, 'names_from = "dumpsardana' + text))
    names = ["Pt_No", "dt", "tom_ry", "orca", "albaem01_ch3", "albaemxrd_ch3", "pcap_ch4"]
    assert channel_keys(names, config.names, config.names_from) == SCAN | {
        "tom_ry": "tom_ry",
        "orca": DANMAX_DB + "expchan/orca_ctrl/1",
        "albaem01_ch3": DANMAX_DB + "expchan/albaem_ctrl_01/4",
        "albaemxrd_ch3": DANMAX_DB + "B304A-EA03/CTL/AEM-EA03-01-CH3",
        "pcap_ch4": DANMAX_DB + "expchan/pcap_ctrl/4",
    }
