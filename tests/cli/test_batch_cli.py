"""Batch behaviour of the CLI end to end with the shipped predictor: SLURM job arrays and
``nmrpeak merge``, SIGKILL then ``--resume``, a Dask cluster, bad outputs, disk full, SDF."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from nmrpeak_cli.cli.app import app
from nmrpeak_cli.outputs import KEY_COLUMN

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not (REPO / "models" / "predictor.safetensors").is_file(), reason="no shipped predictor"
)

#: Small molecules of varied shape (symmetric, aromatic, hetero atoms).
MOLECULES = [
    "CCO", "CC(C)=O", "Cc1ccccc1", "CCOC(C)=O", "c1ccncc1", "CC(C)O", "OC(=O)c1ccccc1",
    "CCCC", "COc1ccc(C)cc1", "CC(=O)Nc1ccccc1", "ClCCl", "C=CC#N", "CCN(CC)CC",
]  # fmt: skip
SLURM_VARIABLES = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN")


@pytest.fixture(autouse=True)
def outside_slurm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their own shard; a SLURM job running the suite must not pick one."""
    for name in SLURM_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def smiles_file(path: Path, count: int, bad: dict[int, str] | None = None) -> Path:
    """``count`` records ``SMILES m<i>`` cycling through :data:`MOLECULES`; ``bad`` replaces
    the SMILES of some positions."""
    bad = bad or {}
    path.write_text(
        "".join(f"{bad.get(i, MOLECULES[i % len(MOLECULES)])} m{i}\n" for i in range(count))
    )
    return path


def invoke(*args: object) -> Result:
    """Run ``nmrpeak ARGS`` in-process (stdout is not a terminal: files or JSONL)."""
    return CliRunner().invoke(app, [str(a) for a in args])


def by_id(path: Path) -> dict[str, dict[str, Any]]:
    """Rows of a Parquet output keyed by id (each id must occur once)."""
    rows = pq.read_table(path).to_pylist()
    counts = Counter(row["id"] for row in rows)
    assert all(n == 1 for n in counts.values()), f"duplicated ids: {counts.most_common(3)}"
    return {row["id"]: row for row in rows}


def assert_same_prediction(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Same molecule, same peaks (shifts to 1e-3 ppm: batches of other sizes may round apart)."""
    assert (a["id"], a["smiles"], a["error"]) == (b["id"], b["smiles"], b["error"]), (a, b)
    for nucleus in ("c13", "h1"):
        if a[nucleus] is None or b[nucleus] is None:
            assert a[nucleus] is b[nucleus] is None, (a["id"], nucleus, a[nucleus], b[nucleus])
            continue
        assert len(a[nucleus]) == len(b[nucleus]), (a["id"], nucleus, a[nucleus], b[nucleus])
        for p, q in zip(a[nucleus], b[nucleus], strict=True):
            assert p["shift"] == pytest.approx(q["shift"], abs=1e-3), (a["id"], nucleus, p, q)
            assert {k: v for k, v in p.items() if k != "shift"} == {
                k: v for k, v in q.items() if k != "shift"
            }, (a["id"], nucleus, p, q)


def test_slurm_job_array_then_merge_equals_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = smiles_file(tmp_path / "in.smi", 20)
    whole = tmp_path / "whole.parquet"
    assert invoke("predict", source, "-o", whole, "--batch-size", 8).exit_code == 0
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "1")  # --array=1-3
    shards = []
    for task in (1, 2, 3):
        monkeypatch.setenv("SLURM_ARRAY_TASK_ID", str(task))
        out = tmp_path / f"pred_{task}.parquet"
        result = invoke("predict", source, "-o", out, "--batch-size", 3)
        assert result.exit_code == 0, result.output
        shards.append(out)
    for name in SLURM_VARIABLES:
        monkeypatch.delenv(name)
    sizes = [pq.read_metadata(p).num_rows for p in shards]
    assert sizes == [7, 7, 6], f"records i % 3 == task - 1 go to each task: {sizes}"

    incomplete = invoke("merge", *shards[:2], "-o", tmp_path / "merged.parquet")
    assert incomplete.exit_code == 2 and "missing 2/3" in incomplete.output, incomplete.output
    assert not (tmp_path / "merged.parquet").exists()

    merged = tmp_path / "merged.parquet"
    result = invoke("merge", *shards, "-o", merged)
    assert result.exit_code == 0, result.output
    expected, got = by_id(whole), by_id(merged)
    assert sorted(got) == sorted(expected), "the shards together hold every record once"
    for record_id, row in expected.items():
        assert_same_prediction(got[record_id], row)


def _part_keys(parts: Path) -> list[str]:
    return [
        key
        for part in sorted(parts.glob("part-*.parquet"))
        for key in pq.read_table(part, columns=[KEY_COLUMN]).column(KEY_COLUMN).to_pylist()
    ]


def test_sigkill_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    count = 1000
    source = smiles_file(tmp_path / "big.smi", count)
    out = tmp_path / "out.parquet"
    parts = tmp_path / "out.parquet.parts"
    command = [sys.executable, "-m", "nmrpeak_cli.cli.app", "predict", str(source), "-o", str(out)]
    process = subprocess.Popen(
        [*command, "--batch-size", "20"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(parts.glob("part-*.parquet")):
        time.sleep(0.02)
    still_running = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert still_running, "the run finished before it could be killed; give it more records"
    assert not out.exists(), "a killed run leaves no final output"
    finished = _part_keys(parts)
    assert 0 < len(finished) < count, len(finished)

    resumed = invoke("predict", source, "-o", out, "--resume", "--batch-size", 500)
    assert resumed.exit_code == 0, resumed.output
    summary = " ".join(resumed.stderr.split())
    assert f"{count - len(finished)} done, 0 failed, {len(finished)} skipped" in summary, summary
    ids = pq.read_table(out, columns=["id"]).column("id").to_pylist()
    assert Counter(ids) == Counter(f"m{i}" for i in range(count)), "every id exactly once"
    assert not parts.exists(), "the parts are folded into the output"
    leftovers = {p.name for p in tmp_path.iterdir()} - {
        "big.smi",
        "out.parquet",
        ".out.parquet.done",
    }
    assert not leftovers, f"stray files: {leftovers}"


@pytest.mark.slow
def test_predict_on_a_local_dask_cluster(tmp_path: Path) -> None:
    distributed = pytest.importorskip("dask.distributed")
    source = smiles_file(tmp_path / "in.smi", 9, bad={4: "C1CC"})
    local = tmp_path / "local.parquet"
    assert invoke("predict", source, "-o", local).exit_code == 1
    out = tmp_path / "dask.parquet"
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        result = invoke(
            "predict", source, "-o", out, "--backend", "dask",
            "--scheduler", cluster.scheduler_address, "--batch-size", 2,
        )  # fmt: skip
    assert result.exit_code == 1, f"one bad SMILES → exit 1: {result.output}"
    assert "8 done, 1 failed" in " ".join(result.stderr.split()), result.stderr
    ids = pq.read_table(out, columns=["id"]).column("id").to_pylist()
    assert ids == [f"m{i}" for i in range(9)], "Dask keeps input order"
    expected = by_id(local)
    for record_id, row in by_id(out).items():
        assert_same_prediction(row, expected[record_id])


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_output_under_a_file_is_a_usage_error(tmp_path: Path) -> None:
    source = smiles_file(tmp_path / "in.smi", 3)
    (tmp_path / "notes.txt").write_text("not a folder")
    before = _files(tmp_path)
    result = invoke("predict", source, "-o", tmp_path / "notes.txt" / "out.parquet")
    message = " ".join(result.output.split())
    assert result.exit_code == 2 and "Not a directory" in message, message
    assert "notes.txt/out.parquet" in message, "the message names the output"
    assert _files(tmp_path) == before, "no stray files"


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders"
)
def test_output_in_a_read_only_folder_is_a_usage_error(tmp_path: Path) -> None:
    source = smiles_file(tmp_path / "in.smi", 3)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = invoke("predict", source, "-o", locked / "out.parquet")
    finally:
        locked.chmod(0o755)
    message = " ".join(result.output.split())
    assert result.exit_code == 2 and "Permission denied" in message, message
    assert not list(locked.iterdir()), "no stray files"


@pytest.mark.parametrize(
    ("fail_at", "when"), [(3, "writing the third part"), (7, "assembling the output")]
)
def test_disk_full_then_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int, when: str
) -> None:
    from nmrpeak_cli.io.table import ParquetWriter

    source = smiles_file(tmp_path / "in.smi", 30)
    out = tmp_path / "out.parquet"
    write = ParquetWriter.write
    calls = 0

    def full_disk(self: ParquetWriter, rows: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == fail_at:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write(self, rows)

    with monkeypatch.context() as patch:
        patch.setattr(ParquetWriter, "write", full_disk)
        result = invoke("predict", source, "-o", out, "--batch-size", 5)  # 6 parts, then out
    code, message = result.exit_code, " ".join(result.output.split())
    assert code == 2 and "No space left on device" in message, (when, message)
    assert str(out) in message or "out.parquet" in message, "the message names the output"
    assert not out.exists(), f"disk full while {when}: no half-written output"
    stray = [p for p in _files(tmp_path) if p.endswith(".tmp")]
    assert not stray, f"temporary files left after a failed write: {stray}"
    kept = len(_part_keys(tmp_path / "out.parquet.parts"))
    assert kept == min(fail_at - 1, 6) * 5, kept

    resumed = invoke("predict", source, "-o", out, "--batch-size", 5, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert f"{kept} skipped" in " ".join(resumed.stderr.split()), resumed.stderr
    assert sorted(by_id(out)) == sorted(f"m{i}" for i in range(30))


def test_batch_usage_errors_exit_2(tmp_path: Path) -> None:
    source = smiles_file(tmp_path / "in.smi", 3)
    no_output = invoke("predict", source, "--resume")
    assert no_output.exit_code == 2 and "--resume needs an output file" in no_output.output
    out_of_range = invoke("predict", source, "--shard", "5/4", "-o", tmp_path / "x.parquet")
    message = " ".join(out_of_range.output.split())
    assert out_of_range.exit_code == 2 and "out of range for 4 shards" in message, message
    assert not (tmp_path / "x.parquet").exists()
    backend = invoke("predict", source, "--backend", "dask")
    assert backend.exit_code == 2 and "--scheduler" in backend.output, backend.output


def test_mixed_good_and_bad_smiles_exit_1_with_error_rows(tmp_path: Path) -> None:
    source = smiles_file(tmp_path / "in.smi", 5, bad={1: "C1CC", 3: "not_a_smiles"})
    result = invoke("predict", source)  # JSONL on a pipe
    assert result.exit_code == 1, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == [f"m{i}" for i in range(5)], "error rows keep their place"
    failed = {r["id"] for r in rows if r["error"]}
    assert failed == {"m1", "m3"}, rows
    assert all(r["c13"] for r in rows if not r["error"]), "good records have peaks"
    assert "3 done, 2 failed" in " ".join(result.stderr.split()), result.stderr


def test_sdf_output_reads_back_with_rdkit(tmp_path: Path) -> None:
    from rdkit import Chem

    from nmrpeak_cli.io.text import parse_peaks
    from nmrpeak_cli.spectra import Nucleus

    source = smiles_file(tmp_path / "in.smi", 6, bad={2: "C1CC"})
    sdf, parquet = tmp_path / "out.sdf", tmp_path / "out.parquet"
    assert invoke("predict", source, "-o", sdf, "--batch-size", 4).exit_code == 1
    assert invoke("predict", source, "-o", parquet).exit_code == 1
    expected = pq.read_table(parquet).to_pylist()
    molecules = list(Chem.SDMolSupplier(str(sdf)))
    assert len(molecules) == 6 and all(m is not None for m in molecules), molecules
    for mol, row in zip(molecules, expected, strict=True):
        assert mol.GetProp("_Name") == mol.GetProp("id") == row["id"]
        if row["error"]:
            assert mol.GetNumAtoms() == 0 and mol.GetProp("error") == row["error"]
            continue
        assert Chem.MolToSmiles(mol) == Chem.CanonSmiles(row["smiles"]), "structure kept"
        assert mol.GetConformer().Is3D() is False, "2D coordinates"
        c13 = parse_peaks(mol.GetProp("c13"), Nucleus.C13)
        assert [p.shift for p in c13] == pytest.approx(
            [p["shift"] for p in row["c13"]], abs=0.01
        ), row["id"]
        assert [p.integration for p in c13] == [p["n_atoms"] for p in row["c13"]]
        h1 = parse_peaks(mol.GetProp("h1"), Nucleus.H1)
        assert [(p.multiplicity, p.integration) for p in h1] == [
            (p["multiplicity"], p["integration"]) for p in row["h1"]
        ], row["id"]
