"""Shared helpers: real HDF5 files written with h5py/hdf5plugin, captures read by dranspose."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import bitshuffle
import h5py
import hdf5plugin  # noqa: F401
import numpy as np
import pytest
from dranspose.event import InternalWorkerMessage
from dranspose.replay import get_internals

from h5tocbors.commands.cli import command

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent


def write_h5(path: Path, datasets: dict[str, Any], **create: Any) -> Path:
    """Write `datasets` (HDF5 path -> array) into a new file, each with `create` options."""
    with h5py.File(path, "w") as f:
        for name, data in datasets.items():
            f.create_dataset(name, data=data, **create)
    return path


def read_capture(path: Path | str) -> list[InternalWorkerMessage]:
    """Every message of a capture, read by dranspose's own reader."""
    return list(get_internals(str(path)))


def stins_header(msg: InternalWorkerMessage, stream: str) -> dict[str, Any]:
    """The JSON header of a STINS message."""
    frames = msg.streams[stream].frames
    return dict(json.loads(frames[0]))


def decode_frame(msg: InternalWorkerMessage, stream: str) -> np.ndarray:
    """The image of a STINS data message, decoded the way a worker does it."""
    header = stins_header(msg, stream)
    buf = msg.streams[stream].frames[1]
    if header["compression"] == "bslz4":
        return bitshuffle.decompress_lz4(
            np.frombuffer(buf, np.uint8), tuple(header["shape"]), np.dtype(header["type"])
        )
    assert header["compression"] == "none"
    return np.frombuffer(buf, dtype=header["type"]).reshape(header["shape"])


def run_cli(
    *args: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    cpu_seconds: int | None = None,
    address_space: int | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run the installed `h5tocbors` command in a subprocess, with extra environment
    variables `env`, and resource limits where given: CPU seconds, address space in bytes
    (`setrlimit`; a command that builds what a hostile file declares is then killed or runs
    out of memory on its own, instead of hanging the suite or the machine)."""

    def limit() -> None:
        if cpu_seconds is not None:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    return subprocess.run(
        [str(BIN / "h5tocbors"), *map(str, args)],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def run_limited(
    *args: str | os.PathLike[str], cpu_seconds: int | None = None, address_space: int | None = None
) -> subprocess.CompletedProcess[str]:
    """`run_cli` under resource limits, on one thread (threads reserve address space)."""
    one_thread = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return run_cli(
        *args, env=one_thread, cpu_seconds=cpu_seconds, address_space=address_space, timeout=600
    )


Cli = Callable[..., tuple[int, str, str]]
"""The `cli` fixture's type: run the CLI in-process, get (exit code, stdout, stderr)."""


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""

    def run(*args: str | os.PathLike[str]) -> tuple[int, str, str]:
        code = command([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def listing(cli: Cli, path: Path) -> dict[str, dict[str, Any]]:
    """`h5tocbors ls --json PATH`, which must succeed, by dataset path."""
    code, out, err = cli("ls", "--json", path)
    assert (code, err) == (0, ""), err
    return {d["path"]: d for d in json.loads(out)}


def decoded_frames(path: Path | str, stream: str) -> list[np.ndarray]:
    """The images of a STINS capture's data messages, decoded as a worker decodes them."""
    return [decode_frame(m, stream) for m in read_capture(path)[1:-1]]


@pytest.fixture
def frames_u32() -> np.ndarray:
    """Six Poisson-count frames of 24x40 uint32."""
    return np.random.default_rng(1).poisson(3.0, (6, 24, 40)).astype(np.uint32)


def pytest_report_header() -> str:
    """Say which cbor2 runs: the suite runs under cbor2 5 and, for the reader, cbor2 6."""
    return f"cbor2 {version('cbor2')}"
