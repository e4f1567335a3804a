"""Sardana's own NXscan recorder, run without Tango: scans recorded the way Sardana records them.

`record_scan` drives `sardana.macroserver.recorders.h5storage.NXscanH5_FileRecorder` (sardana
3.7.1) through Sardana's own `RecordList`, `DataHandler`, `ColumnDesc` and `MoveableDesc`, as
`GScan` does: the environment `GScan._setupEnvironment` builds, one `addRecord` per point, then
`end`. Sardana is installed without its dependencies into `build/sardana` (`make
.venv/.dev-stamp`); taurus and PyTango are not installed: the few names the recorder's modules
import from them are stubbed below, and the package `__init__`s that would pull in the rest of
the MacroServer (macros, Tango proxies) are skipped. Nothing of Sardana is copied here.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

SARDANA = Path(__file__).resolve().parent.parent / "build" / "sardana"
VERSION = "3.7.1"


class Enumeration:
    """taurus.core.util.enumeration.Enumeration: names with consecutive (or given) ints."""

    def __init__(self, name: str, items: Iterable[Any], flaggable: bool = False) -> None:
        self.__name__ = name
        self.lookup: dict[str, int] = {}
        self.reverseLookup: dict[int, str] = {}
        value = 0
        for item in items:
            if isinstance(item, tuple):
                item, value = item
            self.lookup[item] = value
            self.reverseLookup[value] = item
            value += 1

    def __getattr__(self, name: str) -> int:
        try:
            return self.__dict__["lookup"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: Any) -> Any:
        return self.lookup[key] if isinstance(key, str) else self.reverseLookup[key]

    def __contains__(self, key: Any) -> bool:
        return key in self.lookup or key in self.reverseLookup

    get = __getitem__

    def whatis(self, value: int) -> str:
        return self.reverseLookup[value]

    def keys(self) -> list[str]:
        return list(self.lookup)

    def has_key(self, key: str) -> bool:
        return key in self.lookup


class Logger:
    """taurus.core.util.log.Logger: the recorder's warnings are kept, the rest dropped."""

    warnings: ClassVar[list[str]] = []

    def call__init__(self, klass: type, *args: Any, **kwargs: Any) -> None:
        pass

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        Logger.warnings.append(msg % args if args else msg)

    def debug(self, *args: Any, **kwargs: Any) -> None:
        pass

    info = error = debug


class _Unavailable:
    """A taurus name the recorder's modules import but never call when recording."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("taurus is not available here")


def _module(name: str, path: Path | None = None, **names: Any) -> None:
    """Put a module named `name` into sys.modules: a stub holding `names`, or, with `path`, a
    package whose `__init__` is skipped but whose submodules load from Sardana's own files."""
    module = types.ModuleType(name)
    if path is not None:
        module.__path__ = [str(path)]
    module.__dict__.update(names)
    sys.modules[name] = module


def load() -> tuple[Any, Any]:
    """Sardana's `scandata` and `h5storage` modules, importable without taurus and Tango."""
    if "sardana.macroserver.recorders.h5storage" in sys.modules:
        return (
            sys.modules["sardana.macroserver.scan.scandata"],
            sys.modules["sardana.macroserver.recorders.h5storage"],
        )
    if not (SARDANA / "sardana" / "macroserver").is_dir():
        raise SystemExit(f"sardana {VERSION} is not in {SARDANA}: run `make .venv/.dev-stamp`")
    sys.path.insert(0, str(SARDANA))
    _module("taurus", Attribute=_Unavailable, Device=_Unavailable, Factory=_Unavailable)
    sys.modules["taurus"].__dict__.update(
        getSchemeFromName=_Unavailable, Release=types.SimpleNamespace(version="5.0.0")
    )
    _module("taurus.core", TaurusElementType=Enumeration("TaurusElementType", ()))
    _module(
        "taurus.core.taurusexception", TaurusException=type("TaurusException", (Exception,), {})
    )
    _module("taurus.core.util")
    _module("taurus.core.util.enumeration", Enumeration=Enumeration)
    _module("taurus.core.util.log", Logger=Logger)
    _module("taurus.core.util.singleton", Singleton=object)
    # Sardana's packages whose __init__ imports the whole MacroServer (macros, PyTango proxies)
    root = SARDANA / "sardana" / "macroserver"
    _module("sardana.macroserver.scan", root / "scan")
    _module("sardana.macroserver.recorders", root / "recorders")
    exceptions = {n: type(n, (Exception,), {}) for n in ("Abort", "Interrupt", "Release", "Stop")}
    _module(
        "sardana.taurus.core.tango.sardana.pool",
        **{f"{n}Exception": e for n, e in exceptions.items()},
    )
    _module(
        "sardana.taurus.core.tango.sardana",
        PlotType=Enumeration("PlotType", ("No", "Spectrum", "Image")),
    )
    scandata = importlib.import_module("sardana.macroserver.scan.scandata")
    h5storage = importlib.import_module("sardana.macroserver.recorders.h5storage")
    return scandata, h5storage


@dataclass
class Motor:
    """A scanned motor: its name, its range (`min_value`, `max_value`) and NeXus instrument."""

    name: str
    start: float
    stop: float
    instrument: str = ""

    def getName(self) -> str:  # Sardana's moveable interface
        return self.name


@dataclass
class Channel:
    """A measurement group channel: full name (Tango URI), label, dtype and shape of one value;
    `value_ref` for a channel that reports references (`value_ref_enabled`)."""

    name: str
    label: str
    dtype: str = "float64"
    shape: tuple[int, ...] = ()
    value_ref: bool = False
    instrument: str = ""
    plot_axes: list[str] = field(default_factory=list)


@dataclass
class Scan:
    """One scan as `GScan` hands it to the recorders."""

    serialno: int
    title: str
    motors: Sequence[Motor]
    channels: Sequence[Channel]
    records: Sequence[Mapping[str, Any]]  # per point: motor and channel names -> values, "dt"
    start: datetime  # the macro's start
    seconds: float  # from the macro's start to the scan's end
    nb_points: int | None = None
    user: str = "b-user"
    snapshot: Mapping[str, float] = field(default_factory=dict)
    block: int | None = None  # continuous scans: points per block of data from the pool


def record_scan(path: Path, scan: Scan, recorded: str | None = None) -> list[str]:
    """Record `scan` into the NXscan file `path` (created, or a new entry added) with Sardana's
    recorder; returns the warnings the recorder logged. `recorded` is the absolute file name
    the scan was recorded under (the root attribute `file_name`, the folder of the scan): the
    file is opened here and handed to the recorder under that name, as Sardana's write
    sessions (`h5util._h5_file_handler`) hand it an open file."""
    scandata, h5storage = load()
    h5util = importlib.import_module("sardana.macroserver.recorders.h5util")
    name = recorded or str(path)
    fd = h5util._open_h5_file(str(path))
    h5util._h5_file_handler._files[name] = fd
    try:
        return _record(scandata, h5storage, name, scan)
    finally:
        del h5util._h5_file_handler._files[name]
        fd.close()


def _record(scandata: Any, h5storage: Any, name: str, scan: Scan) -> list[str]:
    """Hand `scan` to the recorder of the file registered as `name`, as `GScan` does."""
    Logger.warnings = []
    env = _environment(scandata, scan)
    handler = scandata.DataHandler()
    handler.addRecorder(h5storage.NXscanH5_FileRecorder(filename=name))
    records = scandata.RecordList(handler, env)
    env["scanstarttime"] = scan.start + timedelta(seconds=1)  # after the macro's set-up
    records.start()
    rows = [
        {("timestamp" if key == "dt" else key): v for key, v in values.items()}
        for values in scan.records
    ]
    if scan.block is None:  # step scans: one record per point, as `SScan` adds them
        for k, row in enumerate(rows):
            records.addRecord({"point_nb": k, **row})
    else:  # continuous scans: each column's values in blocks, as `CTScan` adds them
        columns = {m.name: "value" for m in scan.motors} | {"timestamp": "value"}
        columns |= {ch.name: "value_ref" if ch.value_ref else "value" for ch in scan.channels}
        for begin in range(0, len(rows), scan.block):
            index = list(range(begin, min(begin + scan.block, len(rows))))
            for column, key in columns.items():
                values = [rows[i][column] for i in index]
                records.addData({"label": column, "index": index, key: values})
        records.endRecords()
    env["endtime"] = scan.start + timedelta(seconds=scan.seconds)
    records.end()
    return list(Logger.warnings)


def _environment(scandata: Any, scan: Scan) -> Any:
    """The scan's environment as `GScan._setupEnvironment` builds it: the column descriptions
    (point number, motors, channels, `dt`), the pre-scan snapshot, the title and serial number."""
    env = scandata.ScanDataEnvironment(
        {"serialno": scan.serialno, "user": scan.user, "title": scan.title}
    )
    env["starttime"] = scan.start
    last = None if scan.nb_points is None else scan.nb_points - 1
    first = None if last is None else 0
    point_nb = {"name": "point_nb", "label": "#Pt No", "dtype": "int64"}
    datadesc = [scandata.ColumnDesc(**point_nb, min_value=first, max_value=last)]
    for motor in scan.motors:
        lo, hi = sorted((motor.start, motor.stop))
        datadesc.append(
            scandata.MoveableDesc(
                moveable=motor,
                min_value=lo,
                max_value=hi,
                is_reference=True,
                instrument=motor.instrument,
            )
        )
    env["ref_moveables"] = [m.name for m in scan.motors][::-1]
    for ch in scan.channels:
        datadesc.append(
            scandata.ColumnDesc(
                name=ch.name,
                label=ch.label,
                dtype=ch.dtype,
                shape=list(ch.shape),
                instrument=ch.instrument,
                source=f"{ch.name}/Value",
                output=True,
                conditioning="",
                normalization=0,
                plot_type=1 if ch.plot_axes else 0,  # PlotType.Spectrum, PlotType.No
                plot_axes=ch.plot_axes,
                data_units="",
                value_ref_enabled=ch.value_ref,
            )
        )
    env["counters"] = [ch.name for ch in scan.channels]
    datadesc.append(scandata.ColumnDesc(name="timestamp", label="dt", dtype="float64"))
    env["datadesc"] = datadesc
    env["DataCompressionRank"] = -1
    env["preScanSnapShot"] = []
    for label, value in scan.snapshot.items():
        column = scandata.ColumnDesc(name=label, label=label, source=label)
        column.pre_scan_value, column.shape, column.dtype = value, (), "float64"
        env["preScanSnapShot"].append(column)
    env["estimatedtime"], env["total_scan_intervals"] = -1.0, len(scan.records) - 1
    return env
