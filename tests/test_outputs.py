"""The batch engine with resumable outputs: interruption, resume, no loss, no duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nmrpeak_cli.batch import run_records
from nmrpeak_cli.errors import InputFileError
from nmrpeak_cli.outputs import CollectOutput, ResumableOutput, StreamOutput, record_key

SCHEMA = pa.schema(
    [pa.field("id", pa.string()), pa.field("value", pa.int64()), pa.field("error", pa.string())]
)


def square(batch: list[int]) -> list[list[dict]]:
    return [
        [{"id": f"r{x}", "value": x * x, "error": "odd one out" if x == 13 else None}]
        for x in batch
    ]


def key(x: int) -> str:
    return record_key(f"r{x}", x)


class Boom(Exception):
    pass


def test_engine_counts_failures_and_keeps_order(tmp_path):
    out = tmp_path / "out.parquet"
    sink = ResumableOutput(out, SCHEMA, resume=False)
    summary = run_records(range(40), square, sink, key=key, batch_size=7)
    assert (summary.done, summary.failed, summary.skipped) == (39, 1, 0)
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == [f"r{x}" for x in range(40)]
    assert "_record_key" not in table.column_names, "internal key column must not leak"
    assert not (tmp_path / "out.parquet.parts").exists()


def test_interrupted_run_resumes_without_loss_or_duplicates(tmp_path):
    out = tmp_path / "out.csv"
    calls: list[int] = []

    def flaky(batch: list[int]) -> list[list[dict]]:
        calls.append(batch[0])
        if batch[0] >= 20:
            raise Boom
        return square(batch)

    with pytest.raises(Boom):
        run_records(
            range(50), flaky, ResumableOutput(out, SCHEMA, resume=False), key=key, batch_size=5
        )
    assert not out.exists(), "no half-written output"
    sink = ResumableOutput(out, SCHEMA, resume=True)
    done = sink.done_keys()
    assert len(done) == 20
    summary = run_records(range(50), square, sink, key=key, done=done, batch_size=5)
    assert summary.skipped == 20 and summary.done + summary.failed == 30
    ids = [line.split(",")[0] for line in out.read_text().splitlines()[1:]]
    assert ids == [f"r{x}" for x in range(50)], "every record once, in input order"


def test_resume_of_finished_output_skips_everything(tmp_path):
    out = tmp_path / "out.parquet"
    run_records(range(10), square, ResumableOutput(out, SCHEMA, resume=False), key=key)
    before = out.read_bytes()
    sink = ResumableOutput(out, SCHEMA, resume=True)
    summary = run_records(range(10), square, sink, key=key, done=sink.done_keys())
    assert summary.skipped == 10 and summary.done == 0
    assert out.read_bytes() == before, "a finished output is left as it is"
    # new records extend a finished Parquet output
    sink = ResumableOutput(out, SCHEMA, resume=True)
    run_records(range(12), square, sink, key=key, done=sink.done_keys())
    assert pq.read_table(out).column("id").to_pylist() == [f"r{x}" for x in range(12)]


def test_resume_with_different_options_is_refused(tmp_path):
    out = tmp_path / "out.parquet"
    run_records(
        range(3), square, ResumableOutput(out, SCHEMA, resume=False, run_digest="k=10"), key=key
    )
    with pytest.raises(InputFileError, match="different options"):
        ResumableOutput(out, SCHEMA, resume=True, run_digest="k=5")


def test_changed_input_content_is_redone(tmp_path):
    assert record_key("a", {"c13": [1.0]}) != record_key("a", {"c13": [1.5]})
    assert record_key("a", {"x": 1, "y": 2}) == record_key("a", {"y": 2, "x": 1})


def _offset_square(offset: int, fail_on: int | None = None):
    def process(batch: list[int]) -> list[list[dict]]:
        if fail_on in batch:
            raise Boom()
        return [[{"id": f"r{x}", "value": x * x + offset, "error": None}] for x in batch]

    return process


def test_resume_replaces_changed_records_and_drops_removed_ones(tmp_path):
    """Rows of a record whose input changed are replaced (not duplicated), in the finished
    output and in parts a killed run left; records gone from the input are dropped."""
    out = tmp_path / "out.parquet"
    run_records(range(6), square, ResumableOutput(out, SCHEMA, resume=False), key=key)

    def changed_key(x: int) -> str:  # record 2 now has other content; 7 and 8 are new
        return record_key(f"r{x}", x + 100 if x == 2 else x)

    sink = ResumableOutput(out, SCHEMA, resume=True)
    with pytest.raises(Boom):  # dies on its second batch: one part holds r2 (new) and r7
        run_records(
            [1, 2, 3, 4, 5, 7, 8],
            _offset_square(1000, fail_on=8),
            sink,
            key=changed_key,
            done=sink.done_keys(),
            batch_size=2,
        )
    sink = ResumableOutput(out, SCHEMA, resume=True)
    summary = run_records(
        [1, 3, 4, 5, 7, 8],  # r0 and r2 are gone from the input
        _offset_square(2000),
        sink,
        key=changed_key,
        done=sink.done_keys(),
        batch_size=2,
    )
    assert (summary.done, summary.skipped) == (1, 5)
    rows = pq.read_table(out).to_pylist()
    assert [r["id"] for r in rows] == ["r1", "r3", "r4", "r5", "r7", "r8"], rows
    values = {r["id"]: r["value"] for r in rows}
    assert values["r1"] == 1, "an unchanged record keeps its finished row"
    assert values["r7"] == 1049, "a row from the killed run's part is kept"
    assert values["r8"] == 2064
    resumed = ResumableOutput(out, SCHEMA, resume=True)
    assert len(resumed.done_keys()) == 6, "one completion key per row"


def test_stream_and_collect_outputs(tmp_path):
    collect = CollectOutput()
    run_records(range(3), square, collect, key=key)
    assert [r["value"] for r in collect.rows] == [0, 1, 4]
    out = tmp_path / "s.jsonl"
    with pytest.raises(Boom):
        run_records(
            range(3), lambda b: (_ for _ in ()).throw(Boom()), StreamOutput(out, SCHEMA), key=key
        )
    assert not out.exists() and not list(tmp_path.iterdir()), "aborted stream leaves no temp file"


@pytest.mark.slow
def test_sigkill_then_resume(tmp_path):
    out = tmp_path / "out.parquet"
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_outputs import SCHEMA, key, square
        from nmrpeak_cli.batch import run_records
        from nmrpeak_cli.outputs import ResumableOutput

        def slow(batch):
            time.sleep(0.05)
            return square(batch)

        resume = sys.argv[1] == "resume"
        sink = ResumableOutput({str(out)!r}, SCHEMA, resume=resume)
        run_records(range(400), slow if not resume else square, sink, key=key,
                    done=sink.done_keys() if resume else set(), batch_size=4)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script, "fresh"])
    parts = tmp_path / "out.parquet.parts"
    deadline = time.time() + 30
    while time.time() < deadline and len(list(parts.glob("part-*.parquet"))) < 5:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not out.exists(), "killed before the end: no final output yet"
    subprocess.run([sys.executable, "-c", script, "resume"], check=True)
    ids = pq.read_table(out).column("id").to_pylist()
    assert ids == [f"r{x}" for x in range(400)], "nothing lost, nothing duplicated"


def _shard_outputs(tmp_path, suffix: str, shards: int = 3, digest: str = "d"):
    paths = []
    for i in range(shards):
        path = tmp_path / f"out.shard{i}.{suffix}"
        sink = ResumableOutput(path, SCHEMA, resume=False, run_digest=digest, shard=f"{i}/{shards}")
        run_records(range(i, 12, shards), square, sink, key=key)
        paths.append(path)
    return paths


@pytest.mark.parametrize("suffix", ["parquet", "csv", "jsonl"])
def test_merge_job_array_outputs(tmp_path, suffix):
    from nmrpeak_cli.outputs import merge_outputs

    paths = _shard_outputs(tmp_path, suffix)
    out = tmp_path / f"merged.{suffix}"
    assert merge_outputs(list(reversed(paths)), out) == 12
    if suffix == "parquet":
        ids = pq.read_table(out).column("id").to_pylist()
    elif suffix == "csv":
        ids = [line.split(",")[0] for line in out.read_text().splitlines()[1:]]
    else:
        import json

        ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(ids, key=lambda s: int(s[1:])) == [f"r{x}" for x in range(12)]
    assert len(ids) == 12, "no duplicates, headers not repeated"


def test_merge_refuses_missing_and_unfinished_shards(tmp_path):
    from nmrpeak_cli.outputs import merge_outputs

    paths = _shard_outputs(tmp_path, "parquet")
    with pytest.raises(InputFileError, match=r"missing 1/3"):
        merge_outputs([paths[0], paths[2]], tmp_path / "m.parquet")
    (tmp_path / f".{paths[1].name}.done").unlink()
    with pytest.raises(InputFileError, match="did not finish"):
        merge_outputs(paths, tmp_path / "m.parquet")
    other = _shard_outputs(
        tmp_path / "x" if (tmp_path / "x").mkdir() is None else tmp_path, "parquet", digest="e"
    )
    with pytest.raises(InputFileError, match="different options"):
        merge_outputs([paths[0], other[1], paths[2]], tmp_path / "m.parquet")
    assert not (tmp_path / "m.parquet").exists()


def test_merge_cli_exit_codes(tmp_path):
    from typer.testing import CliRunner

    from nmrpeak_cli.cli.app import app

    paths = [str(p) for p in _shard_outputs(tmp_path, "parquet")]
    runner = CliRunner()
    ok = runner.invoke(app, ["merge", *paths, "-o", str(tmp_path / "all.parquet")])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["merge", paths[0], "-o", str(tmp_path / "bad.parquet")])
    assert bad.exit_code == 2 and "missing" in bad.output


def test_finished_outputs_get_the_usual_file_mode(tmp_path):
    import os
    import stat

    out = ResumableOutput(tmp_path / "out.parquet", SCHEMA, resume=False)
    run_records(range(3), square, out, key=key)
    mask = os.umask(0o022)
    os.umask(mask)
    for path in (tmp_path / "out.parquet", tmp_path / ".out.parquet.done"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path
