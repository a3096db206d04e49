"""``nmrpeak peaks`` through the shared batch runner (--resume, --shard + merge, --jobs, error
rows), its batch body :class:`PeakBatch` and the lazy sample walk."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from nmrpeak_cli.cli.app import app
from nmrpeak_cli.io.raw.walk import Skipped, iter_samples
from nmrpeak_cli.processing.peaks import SKIPPED_KEY, PeakBatch
from nmrpeak_cli.processing.synthetic import SyntheticSignal, synthetic_fid, write_bruker

H1 = (SyntheticSignal(3.80, 3), SyntheticSignal(1.25, 3, (7.0, 7.0)))
C13 = tuple(SyntheticSignal(s, width_hz=4.0) for s in (170.0, 60.0, 20.0))
H1_ACQ = {"nucleus": "1H", "observe_mhz": 400.13, "sweep_hz": 4800.0, "carrier_ppm": 5.0}
C13_ACQ = {"nucleus": "13C", "observe_mhz": 100.61, "sweep_hz": 24000.0, "carrier_ppm": 100.0}
SAMPLES = ("a", "b", "c", "d")


def _bruker(folder: Path, signals=H1, acq=H1_ACQ, **kwargs) -> Path:
    params = {k: v for k, v in acq.items() if k != "nucleus"}
    fid = synthetic_fid(signals, **params, points=4096, noise=0.02)
    return write_bruker(folder, fid, **acq, **kwargs)


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    """Four samples, each with a 1H and a 13C experiment."""
    root = tmp_path / "raw"
    for name in SAMPLES:
        _bruker(root / name / "1")
        _bruker(root / name / "2", C13, C13_ACQ)
    return root


def _peaks(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["peaks", *args])
    return result.exit_code, result.output


def _rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def test_resume_skips_every_sample_and_redoes_a_changed_one(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "q.parquet"
    code, output = _peaks(str(raw), "-o", str(out), "--batch-size", "2")
    assert code == 0, output
    first = _rows(out)
    assert [r["id"] for r in first] == list(SAMPLES) and all(r["c13"] for r in first), first

    code, output = _peaks(str(raw), "-o", str(out), "--resume")
    assert code == 0 and "0 done, 0 failed, 4 skipped" in output, output
    assert _rows(out) == first, "a resume with nothing to do leaves the output as it was"

    _bruker(raw / "b" / "2", (*C13, SyntheticSignal(130.0, width_hz=4.0)), C13_ACQ)
    code, output = _peaks(str(raw), "-o", str(out), "--resume")
    assert code == 0 and "1 done, 0 failed, 3 skipped" in output, output
    redone = [r["c13"] for r in _rows(out) if r["id"] == "b"][-1]
    assert min(abs(p["shift"] - 130.0) for p in redone) < 0.05, f"the new peak is picked: {redone}"

    code, output = _peaks(str(raw), "-o", str(out), "--resume", "--min-snr-c13", "20")
    assert code == 2 and "different options" in output, output


def test_resume_replaces_the_row_of_a_changed_sample(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "q.parquet"
    assert _peaks(str(raw / "a"), str(raw / "b"), "-o", str(out))[0] == 0
    _bruker(raw / "b" / "1", H1[:1])
    assert _peaks(str(raw / "a"), str(raw / "b"), "-o", str(out), "--resume")[0] == 0
    assert [r["id"] for r in _rows(out)] == ["a", "b"]


def test_shards_merged_equal_the_whole(raw: Path, tmp_path: Path) -> None:
    whole = tmp_path / "whole.parquet"
    assert _peaks(str(raw), "-o", str(whole))[0] == 0
    pieces = []
    for index in range(2):
        piece = tmp_path / f"piece{index}.parquet"
        code, output = _peaks(str(raw), "-o", str(piece), "--shard", f"{index}/2")
        assert code == 0 and "2 done" in output, output
        assert all(r["c13"] and r["h1"] for r in _rows(piece)), "samples stay whole in a shard"
        pieces.append(str(piece))
    merged = tmp_path / "merged.parquet"
    result = CliRunner().invoke(app, ["merge", *pieces, "-o", str(merged)])
    assert result.exit_code == 0, result.output
    by_id = sorted(_rows(merged), key=lambda r: r["id"])
    assert by_id == _rows(whole)


def test_two_jobs_give_the_rows_of_one(raw: Path, tmp_path: Path) -> None:
    outputs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}.jsonl"
        code, output = _peaks(str(raw), "-o", str(out), "-j", jobs, "--batch-size", "1")
        assert code == 0, output
        outputs[jobs] = [json.loads(line) for line in out.read_text().splitlines()]
    assert outputs["2"] == outputs["1"] and len(outputs["1"]) == len(SAMPLES)


def test_unreadable_folder_among_good_ones_gives_an_error_row(raw: Path, tmp_path: Path) -> None:
    (raw / "broken" / "1").mkdir(parents=True)
    (raw / "broken" / "1" / "fid").write_bytes(b"\0" * 64)
    _bruker(raw / "c" / "3", C13, C13_ACQ, pulse_program="dept135")
    out = tmp_path / "q.csv"
    code, output = _peaks(str(raw), str(tmp_path / "missing"), "-o", str(out))
    assert code == 1, output
    assert "1 failed" in output and "4 done" in output, output
    assert "missing: no such file or folder" in output, "walker skips are logged"
    assert "c/3" not in output, "a DEPT beside its 13C labels the peaks, it is not skipped"
    text = out.read_text()
    assert "broken/1," in text and "missing acqus" in text, text


def test_peak_batch_pickles_and_gives_every_sample_rows(raw: Path) -> None:
    _bruker(raw / "a" / "3")
    _bruker(raw / "e" / "1", C13, C13_ACQ, pulse_program="dept135")
    samples = {s.id: s for s in iter_samples([raw], on_skip=pytest.fail)}
    body = pickle.loads(pickle.dumps(PeakBatch()))
    a_rows, e_rows = body([samples["a"], samples["e"]])
    assert len(a_rows) == 1 and a_rows[0]["error"] is None and a_rows[0]["h1"]
    assert [s.reason for s in a_rows[0][SKIPPED_KEY]] == [
        f"another 1H experiment of this sample was used ({raw / 'a' / '1'})"
    ]
    assert len(e_rows) == 1 and e_rows[0]["id"] == "e", e_rows
    assert e_rows[0]["error"].startswith("no usable 1D 13C/1H experiment: 1: DEPT-135 without")


def test_walk_groups_samples_and_reports_what_it_skips(raw: Path, tmp_path: Path) -> None:
    other = tmp_path / "other" / "a"
    _bruker(other / "1")
    (tmp_path / "notes.txt").write_text("not data")
    skipped: list[Skipped] = []
    roots = [raw / "b" / "1", raw / "b" / "2", raw / "c", raw / "c" / "1", raw / "c", other.parent]
    extra = [raw / "a", tmp_path / "notes.txt", tmp_path / "gone"]
    samples = iter_samples([*roots, *extra], on_skip=skipped.append)
    first = next(samples)
    assert (first.id, [e.path.name for e in first.experiments]) == ("b", ["1", "2"])
    assert skipped == [
        Skipped(str(raw / "c" / "1"), f"inside {raw / 'c'}, also given; used once"),
        Skipped(str(raw / "c"), "given twice; used once"),
        Skipped(str(tmp_path / "notes.txt"), "not a recognised raw NMR format"),
        Skipped(str(tmp_path / "gone"), "no such file or folder"),
    ], "roots are checked up front, folders walked lazily"
    rest = [(s.id, [e.path.name for e in s.experiments]) for s in samples]
    assert rest == [("c", ["1", "2"]), ("a", ["1"]), ("a~2", ["1", "2"])], rest
