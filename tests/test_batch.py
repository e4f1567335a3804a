"""Batch conversion: layout, isolation of failures, resuming, shards, and parallel == serial."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from itertools import count
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest

from h5tocbors import convert
from h5tocbors.core.batch import parse_shard, plan_outputs, take_shard
from h5tocbors.errors import H5ToCborsError, UsageError

from .conftest import Cli, decode_frame, read_capture


def scan(path: Path, frames: int = 3, seed: int = 0) -> Path:
    """A small scan with a pilatus stack."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).integers(0, 50, (frames, 6, 7), dtype=np.uint16)
    with h5py.File(path, "w") as f:
        f.create_dataset(
            "/entry/pilatus/data", data=data, chunks=(1, 6, 7), **hdf5plugin.Bitshuffle()
        )
    return path


def test_single_input_keeps_flat_layout(cli: Cli, tmp_path: Path) -> None:
    code, _, _ = cli("convert", scan(tmp_path / "a.h5"), "-s", "pilatus", "-o", tmp_path / "o")
    assert code == 0 and (tmp_path / "o" / "pilatus.cbors").is_file()


def test_many_inputs_go_to_stem_directories(cli: Cli, tmp_path: Path) -> None:
    inputs = [scan(tmp_path / "scans" / f"scan{i}.h5", frames=i + 1, seed=i) for i in range(3)]
    code, out, err = cli("convert", *inputs, "-s", "pilatus", "-o", tmp_path / "o", "-j", "2")
    assert (code, err) == (0, "")
    for i, source in enumerate(inputs):
        msgs = read_capture(tmp_path / "o" / f"scan{i}" / "pilatus.cbors")
        assert len(msgs) == i + 3
        with h5py.File(source) as f:
            np.testing.assert_array_equal(
                decode_frame(msgs[1], "pilatus"), f["/entry/pilatus/data"][0]
            )
    lines = out.splitlines()
    assert lines[0].split() == ["file", "streams", "frames", "seconds", "status"]
    assert sum(line.endswith(" ok") for line in lines) == 3


def test_same_stem_is_an_error_before_anything_is_written(cli: Cli, tmp_path: Path) -> None:
    a, b = scan(tmp_path / "x" / "run.h5"), scan(tmp_path / "y" / "run.h5")
    c = scan(tmp_path / "z" / "other.h5")
    code, _, err = cli("convert", a, c, b, "-s", "pilatus", "-o", tmp_path / "o")
    assert code == 1 and str(a) in err and str(b) in err and len(err.splitlines()) == 1
    assert f"-> {tmp_path / 'o' / 'run'};" in err
    assert not (tmp_path / "o").exists()


def test_one_failing_file_does_not_stop_the_others(cli: Cli, tmp_path: Path) -> None:
    good = [scan(tmp_path / f"good{i}.h5", seed=i) for i in range(2)]
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    nodata = tmp_path / "nodata.h5"
    with h5py.File(nodata, "w") as f:
        f["/entry/other"] = np.zeros((2, 3, 3))
    code, out, err = cli(
        "convert", good[0], bad, nodata, good[1], "-s", "pilatus", "-o", tmp_path / "o"
    )
    assert code == 1
    assert err.startswith("h5tocbors: error: 2 of 4 files failed:") and len(err.splitlines()) == 1
    assert str(bad) in err and str(nodata) in err
    assert (tmp_path / "o" / "good0" / "pilatus.cbors").is_file()
    assert (tmp_path / "o" / "good1" / "pilatus.cbors").is_file()
    for failed in ("bad", "nodata"):
        leftovers = (
            list((tmp_path / "o" / failed).glob("*")) if (tmp_path / "o" / failed).exists() else []
        )
        assert leftovers == []
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "failed: input" in rows[str(bad)] and "not an HDF5 file" in rows[str(bad)]
    assert "failed: no image dataset" in rows[str(nodata)]


def test_json_for_a_batch(cli: Cli, tmp_path: Path) -> None:
    inputs = [scan(tmp_path / f"s{i}.h5") for i in range(2)]
    code, out, _ = cli("convert", *inputs, "-s", "pilatus", "-o", tmp_path / "o", "--json")
    assert code == 0
    files = json.loads(out)["files"]
    assert [f["status"] for f in files] == ["ok", "ok"]
    assert files[0]["result"]["streams"][0]["frames"] == 3


def test_skip_existing_resumes_and_leaves_outputs_untouched(cli: Cli, tmp_path: Path) -> None:
    inputs = [scan(tmp_path / f"s{i}.h5") for i in range(3)]
    out = tmp_path / "o"
    assert cli("convert", *inputs[:2], "-s", "pilatus", "-o", out)[0] == 0
    # an interrupted batch: s0 and s1 done, s2 not; s1's output has a known mtime
    done = out / "s1" / "pilatus.cbors"
    before = (done.stat().st_mtime_ns, done.read_bytes())
    code, text, _ = cli("convert", *inputs, "-s", "pilatus", "-o", out, "--skip-existing")
    assert code == 0
    assert (done.stat().st_mtime_ns, done.read_bytes()) == before
    assert (out / "s2" / "pilatus.cbors").is_file()
    rows = {line.split()[0]: line for line in text.splitlines()[1:]}
    assert rows[str(inputs[1])].endswith("skipped") and rows[str(inputs[2])].endswith("ok")
    # without it, existing outputs are an error for those files
    code, _, err = cli("convert", *inputs, "-s", "pilatus", "-o", out)
    assert code == 1 and "3 of 3 files failed" in err


def test_shards_partition_the_inputs(cli: Cli, tmp_path: Path) -> None:
    inputs = [scan(tmp_path / "in" / f"scan{i:02d}.h5") for i in range(7)]
    out = tmp_path / "o"
    seen: list[str] = []
    for k in range(3):
        code, text, _ = cli(
            "convert", *reversed(inputs), "-s", "pilatus", "-o", out, "--shard", f"{k}/3"
        )
        assert code == 0
        seen += [line.split()[0] for line in text.splitlines()[1:]]
    assert sorted(seen) == sorted(map(str, inputs)) and len(seen) == len(set(seen))
    assert sorted(p.name for p in out.iterdir()) == [f"scan{i:02d}" for i in range(7)]


def test_a_shard_of_one_input_keeps_the_batch_layout(cli: Cli, tmp_path: Path) -> None:
    inputs = [scan(tmp_path / f"s{i}.h5") for i in range(2)]
    assert cli("convert", *inputs, "-s", "pilatus", "-o", tmp_path / "o", "--shard", "1/2")[0] == 0
    assert (tmp_path / "o" / "s1" / "pilatus.cbors").is_file()
    assert not (tmp_path / "o" / "pilatus.cbors").exists()


@pytest.mark.parametrize("text", ["2/2", "-1/3", "a/b", "3", "1/0"])
def test_bad_shard(cli: Cli, tmp_path: Path, text: str) -> None:
    code, _, err = cli("convert", scan(tmp_path / "a.h5"), "-s", "pilatus", "--shard", text)
    assert code == 2 and "--shard" in err
    with pytest.raises(UsageError):
        parse_shard(text)


def test_take_shard_is_deterministic_and_disjoint() -> None:
    items = [f"f{i}" for i in (5, 3, 9, 1, 7, 2)]
    parts = [take_shard(items, (k, 4), key=str) for k in range(4)]
    assert sorted(x for part in parts for x in part) == sorted(items)
    assert parts == [take_shard(list(reversed(items)), (k, 4), key=str) for k in range(4)]


def test_plan_names_the_shared_output_directories() -> None:
    inputs = [Path("a/x.h5"), Path("a/y.h5"), Path("b/x.h5"), Path("c/z.h5"), Path("d/z.h5")]
    with pytest.raises(H5ToCborsError) as info:
        plan_outputs(inputs, Path("captures"))
    assert str(info.value) == (
        "inputs would share an output directory: a/x.h5, b/x.h5 -> captures/x; "
        "c/z.h5, d/z.h5 -> captures/z; convert them separately with -o"
    )


def clock() -> Callable[[], datetime]:
    """A deterministic created_at clock."""
    ticks = count()
    return lambda: datetime.fromtimestamp(1.7e9 + next(ticks) / 1000, timezone.utc)


@pytest.mark.parametrize(
    "storage",
    [
        hdf5plugin.Bitshuffle(),
        hdf5plugin.Bitshuffle(cname="zstd"),
        {"compression": "gzip", "shuffle": True},
        {"compression": "gzip"},
        {"compression": "lzf"},
        {},
    ],
    ids=["bslz4", "bszstd", "shuffle-gzip", "gzip", "lzf", "raw"],
)
@pytest.mark.parametrize("compression", ["bslz4", "none"])
def test_parallel_output_is_byte_identical_to_serial(
    tmp_path: Path, storage: dict[str, object], compression: str
) -> None:
    src = tmp_path / "in.h5"
    data = np.random.default_rng(4).integers(0, 3000, (40, 16, 24), dtype=np.uint32)
    with h5py.File(src, "w") as f:
        f.create_dataset("d", data=data, chunks=(1, 16, 24), **storage)
        f.create_dataset("c", data=data[:, :8].astype(">i4"))  # contiguous, big-endian
    outputs = []
    for jobs in (1, 2, 5):
        out = tmp_path / f"j{jobs}"
        convert(src, {"d": "/d", "c": "/c"}, out, jobs=jobs, clock=clock(), compression=compression)
        outputs.append([(out / n).read_bytes() for n in ("d.cbors", "c.cbors")])
    assert outputs[0] == outputs[1] == outputs[2]
    msgs = read_capture(tmp_path / "j5" / "d.cbors")
    for k in (0, 17, 39):
        np.testing.assert_array_equal(decode_frame(msgs[k + 1], "d"), data[k])


def test_kernel_copies_equal_hdf5_reads(tmp_path: Path) -> None:
    from h5tocbors import iter_messages

    src = scan(tmp_path / "a.h5", frames=5)
    convert(src, ["pilatus"], tmp_path / "o")
    on_disk = [m.streams["pilatus"].frames for m in read_capture(tmp_path / "o" / "pilatus.cbors")]
    via_api = [m.streams["pilatus"].frames for m in iter_messages(src, "pilatus")]
    assert on_disk == via_api
