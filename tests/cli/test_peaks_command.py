"""``nmrpeak peaks`` end to end on a synthetic Bruker folder."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nmrpeak_cli.cli.app import app
from nmrpeak_cli.processing.synthetic import SyntheticSignal, synthetic_fid, write_bruker

ACQ = {"observe_mhz": 400.13, "sweep_hz": 4800.0, "carrier_ppm": 5.0}
C13_ACQ = {"observe_mhz": 100.61, "sweep_hz": 24000.0, "carrier_ppm": 100.0}


def test_peaks_writes_query_rows_and_exit_codes(tmp_path):
    fid = synthetic_fid(
        (SyntheticSignal(3.8, 3), SyntheticSignal(1.2, 3, (7.0, 7.0))),
        points=8192,
        noise=0.01,
        **ACQ,
    )
    write_bruker(tmp_path / "mol" / "1", fid, nucleus="1H", **ACQ)
    runner = CliRunner()
    result = runner.invoke(app, ["peaks", str(tmp_path)])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["id"] == "mol" and [p["multiplicity"] for p in row["h1"]] == ["s", "t"], row
    (tmp_path / "bad" / "1").mkdir(parents=True)
    (tmp_path / "bad" / "1" / "fid").write_bytes(b"\0" * 64)
    result = runner.invoke(app, ["peaks", str(tmp_path), "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 1, result.output
    assert "missing acqus" in (tmp_path / "out.csv").read_text()


def test_peaks_plot_option_and_nothing_usable(tmp_path):
    pytest.importorskip("matplotlib")
    fid = synthetic_fid((SyntheticSignal(2.0, 3),), points=4096, noise=0.01, **ACQ)
    write_bruker(tmp_path / "mol" / "1", fid, nucleus="1H", **ACQ)
    runner = CliRunner()
    out = tmp_path / "q.jsonl"
    result = runner.invoke(
        app, ["peaks", str(tmp_path / "mol"), "-o", str(out), "--plot", str(tmp_path / "png")]
    )
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "png").glob("*.png")), "no plot written"
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["peaks", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no raw 1D experiments" in result.output, result.output
    fid = synthetic_fid((SyntheticSignal(40.0, 1),), points=4096, noise=0.01, **C13_ACQ)
    write_bruker(tmp_path / "dept" / "1", fid, nucleus="13C", pulse_program="dept135", **C13_ACQ)
    result = runner.invoke(app, ["peaks", str(tmp_path / "dept")])
    assert result.exit_code == 2 and "no usable 1D 13C/1H" in result.output, result.output
    assert "DEPT" in result.stderr, "the skipped experiment is listed with its reason"


def test_peaks_on_a_pdata_folder_walks_up_to_the_experiment(tmp_path):
    fid = synthetic_fid((SyntheticSignal(3.8, 3),), points=4096, noise=0.01, **ACQ)
    experiment = write_bruker(tmp_path / "mol" / "1", fid, nucleus="1H", **ACQ)
    (experiment / "pdata" / "1").mkdir(parents=True)
    runner = CliRunner()
    for given in (experiment / "pdata" / "1", experiment / "pdata", experiment / "fid"):
        result = runner.invoke(app, ["peaks", str(given)])
        assert result.exit_code == 0, f"{given}: {result.output}"
        assert json.loads(result.stdout.strip().splitlines()[-1])["id"] == "mol"


def test_terminal_table_prints_journal_precision(capsys, monkeypatch):
    from nmrpeak_cli.cli.peaks import render_table

    monkeypatch.setenv("COLUMNS", "200")
    row = {
        "id": "s1",
        "c13": [{"shift": 128.3456, "multiplicity": "d"}, {"shift": 77.04, "multiplicity": None}],
        "h1": [
            {"shift": 8.0148, "integration": 1.96, "multiplicity": "d", "j_hz": [8.43]},
            {"shift": 1.2612, "integration": 3.04, "multiplicity": "s", "j_hz": []},
        ],
        "solvent": "CDCl3",
        "field_mhz": 400.13,
        "error": None,
    }
    render_table([row])
    out = capsys.readouterr().out
    assert "8.01 (d, J = 8.4 Hz, 2H)" in out and "1.26 (s, 3H)" in out, out
    assert "128.3 (CH)" in out and "77.0" in out and "8.0148" not in out, out
