"""Raw readers: write synthetic FIDs with nmrglue's writers, read back, process; bad inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from nmrpeak_cli.io.raw import RawDataError, detect_format, read_raw
from nmrpeak_cli.processing.peaks import peaks_from_folders
from nmrpeak_cli.processing.pipeline import peaks_from_raw
from nmrpeak_cli.processing.synthetic import (
    SyntheticSignal,
    synthetic_fid,
    write_bruker,
    write_pipe,
    write_varian,
)

H1 = (
    SyntheticSignal(7.45, 2, (8.0,)),
    SyntheticSignal(3.80, 3),
    SyntheticSignal(1.25, 3, (7.0, 7.0)),
)
C13 = tuple(SyntheticSignal(s, width_hz=4.0) for s in (170.0, 130.0, 60.0, 20.0))
H1_ACQ = {"nucleus": "1H", "observe_mhz": 400.13, "sweep_hz": 4800.0, "carrier_ppm": 5.0}
C13_ACQ = {"nucleus": "13C", "observe_mhz": 100.61, "sweep_hz": 24000.0, "carrier_ppm": 100.0}


def _fid(signals, acq, group_delay=0.0):
    params = {k: v for k, v in acq.items() if k != "nucleus"}
    return synthetic_fid(
        signals, **params, points=8192, noise=0.02, phase_deg=(30.0, 10.0), group_delay=group_delay
    )


def _bruker(folder: Path, signals=H1, acq=H1_ACQ, **kwargs) -> Path:
    return write_bruker(folder, _fid(signals, acq, kwargs.get("group_delay", 0.0)), **acq, **kwargs)


def test_bruker_round_trip(tmp_path):
    folder = _bruker(tmp_path / "s" / "1", group_delay=68.0)
    assert detect_format(folder) == "bruker"
    raw = read_raw(folder)
    assert (raw.nucleus, raw.domain, raw.solvent) == ("1H", "time", "CDCl3")
    assert raw.carrier_ppm == pytest.approx(5.0, abs=1e-6) and raw.group_delay == 68.0
    shifts = [p.shift for p in peaks_from_raw(raw, h_count=8).peak_list()]
    assert np.allclose(shifts, [7.45, 3.80, 1.25], atol=0.005), shifts


def test_pipe_round_trip(tmp_path):
    path = write_pipe(tmp_path / "c.fid", _fid(C13, C13_ACQ), **C13_ACQ)
    assert detect_format(path) == "pipe"
    raw = read_raw(path)
    assert raw.nucleus == "13C" and raw.carrier_ppm == pytest.approx(100.0)
    shifts = [p.shift for p in peaks_from_raw(raw).peak_list()]
    assert np.allclose(shifts, [170.0, 130.0, 60.0, 20.0], atol=0.02), shifts


def test_varian_round_trip(tmp_path):
    folder = write_varian(tmp_path / "mol_H1.fid", _fid(H1, H1_ACQ), **H1_ACQ)
    assert detect_format(folder) == "varian"
    raw = read_raw(folder)
    assert (raw.nucleus, raw.solvent, raw.temperature_k) == ("1H", "CDCl3", 298.15)
    assert raw.carrier_ppm == pytest.approx(5.0, abs=1e-4)
    shifts = [p.shift for p in peaks_from_raw(raw, h_count=8).peak_list()]
    assert np.allclose(shifts, [7.45, 3.80, 1.25], atol=0.005), shifts


def test_missing_procpar(tmp_path):
    folder = write_varian(tmp_path / "mol_H1.fid", _fid(H1, H1_ACQ), **H1_ACQ)
    (folder / "procpar").unlink()
    with pytest.raises(RawDataError, match="missing procpar"):
        read_raw(folder)


def test_truncated_fid(tmp_path):
    folder = _bruker(tmp_path / "s" / "1")
    data = (folder / "fid").read_bytes()
    (folder / "fid").write_bytes(data[: len(data) // 3])
    with pytest.raises(RawDataError, match="truncated"):
        read_raw(folder)


def test_missing_acqus(tmp_path):
    folder = _bruker(tmp_path / "s" / "1")
    (folder / "acqus").unlink()
    with pytest.raises(RawDataError, match="missing acqus"):
        read_raw(folder)


def test_two_d_experiment(tmp_path):
    folder = _bruker(tmp_path / "s" / "1")
    shutil.copy(folder / "fid", folder / "ser")
    with pytest.raises(RawDataError, match="2D"):
        read_raw(folder)


def test_unknown_format(tmp_path):
    junk = tmp_path / "notes.xyz"
    junk.write_text("hello")
    assert detect_format(junk) is None
    with pytest.raises(RawDataError, match="not a recognised raw NMR format"):
        read_raw(junk)


PEAK_TABLE = """##TITLE= test peaks
##JCAMP-DX= 5.01
##DATA TYPE= NMR PEAK TABLE
##.OBSERVE FREQUENCY= 100.6
##.OBSERVE NUCLEUS= ^13C
##.SOLVENT NAME= CDCl3
##XUNITS= PPM
##YUNITS= ARBITRARY UNITS
##NPOINTS= 3
##PEAK TABLE= (XY..XY)
170.2, 100.0
77.16, 300.0; 128.4, 250.0
##END=
"""


def test_jcamp_peak_table_only(tmp_path):
    path = tmp_path / "peaks.jdx"
    path.write_text(PEAK_TABLE)
    raw = read_raw(path)
    assert (raw.nucleus, raw.domain, raw.solvent) == ("13C", "frequency", "CDCl3")
    result = peaks_from_raw(raw)
    assert [round(p.shift, 2) for p in result.peak_list()] == [170.2, 128.4], result.signals
    assert [round(s.shift, 2) for s in result.excluded if s.label == "solvent"] == [77.16]


def test_unreadable_jcamp(tmp_path):
    bad = tmp_path / "bad.jdx"
    bad.write_text("##TITLE= nothing\n##END=\n")
    with pytest.raises(RawDataError, match="no 1D data block"):
        read_raw(bad)
    binary = tmp_path / "binary.dx"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(RawDataError):
        read_raw(binary)


def test_folder_groups_samples_and_reports_skips(tmp_path):
    _bruker(tmp_path / "sampleA" / "1")
    _bruker(tmp_path / "sampleA" / "2", C13, C13_ACQ)
    _bruker(tmp_path / "sampleA" / "3", C13, C13_ACQ, pulse_program="dept135")
    _bruker(tmp_path / "sampleA" / "4", C13, {**C13_ACQ, "nucleus": "15N"})
    broken = _bruker(tmp_path / "sampleB" / "1")
    (broken / "acqus").unlink()
    truncated = _bruker(tmp_path / "sampleB" / "2")
    (truncated / "fid").write_bytes((truncated / "fid").read_bytes()[:1000])
    (tmp_path / "readme.txt").write_text("not data")
    report = peaks_from_folders([tmp_path])
    rows = {row["id"]: row for row in report.rows}
    assert set(rows) == {"sampleA", "sampleB/1", "sampleB/2"}, rows.keys()
    assert "truncated" in rows["sampleB/2"]["error"]
    assert rows["sampleA"]["error"] is None and len(rows["sampleA"]["c13"]) == 4
    assert len(rows["sampleA"]["h1"]) == 3 and rows["sampleA"]["solvent"] == "CDCl3"
    assert "missing acqus" in rows["sampleB/1"]["error"]
    reasons = " | ".join(s.reason for s in report.skipped)
    assert "DEPT" not in reasons and "missing acqus" in reasons, "the DEPT labels sampleA"
    assert "only 13C and 1H" in reasons, reasons
    assert report.failed == 2


def test_folder_shards_keep_samples_whole(tmp_path):
    from nmrpeak_cli.batch import Shard

    for sample in ("a", "b", "c"):
        _bruker(tmp_path / sample / "1")
        _bruker(tmp_path / sample / "2", C13, C13_ACQ)
    ids = [
        [row["id"] for row in peaks_from_folders([tmp_path], shard=Shard(i, 2)).rows]
        for i in range(2)
    ]
    assert ids == [["a", "c"], ["b"]], ids
    rows = peaks_from_folders([tmp_path], shard=Shard(1, 2)).rows
    assert rows[0]["c13"] and rows[0]["h1"], "a sample's 13C and 1H must stay in one shard"
