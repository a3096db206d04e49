"""SDF: NMRShiftDB2 ``Spectrum`` properties (real records), NMReDATA tags, molecules, errors."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from nmrpeak_cli.io import RecordError, read_molecules
from nmrpeak_cli.io.sdf import format_nmredata_1d, parse_nmredata_1d, parse_shiftdb_spectrum
from nmrpeak_cli.spectra import Nucleus, Peak


def sd_record(smiles: str | None, title: str, props: dict[str, str]) -> str:
    """One SD record made with RDKit (empty molecule when ``smiles`` is None)."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles) if smiles else Chem.Mol()
    body = Chem.MolToMolBlock(mol).split("\n", 1)[1]
    tags = "".join(f">  <{name}>\n{value}\n\n" for name, value in props.items())
    return f"{title}\n{body}{tags}$$$$\n"


def shiftdb_property(shifts, labels, atoms) -> str:
    return "".join(f"{s};0.0{m or ''};{a}|" for s, m, a in zip(shifts, labels, atoms, strict=True))


def test_shiftdb_entries_grouped_by_shift() -> None:
    text = "128.2;0.0D;2|128.2;0.0D;4|17.6;0.0Q;9|201.0;0.0S;1|55.0;0.0u;7|"
    peaks = parse_shiftdb_spectrum(text, Nucleus.C13)
    assert peaks.shifts.tolist() == [201.0, 128.2, 55.0, 17.6], "one peak per distinct shift"
    by_shift = {p.shift: p for p in peaks}
    assert (by_shift[128.2].integration, by_shift[128.2].atoms, by_shift[128.2].n_h) == (
        2,
        (2, 4),
        1,
    )
    assert [by_shift[s].n_h for s in (201.0, 17.6, 55.0)] == [0, 3, None], "S/Q/unknown"
    protons = parse_shiftdb_spectrum(
        "1.69;0.0s;29|1.69;0.0s;29|5.01;0.0br s;15|3.41;0.0AA'BB';3|", Nucleus.H1
    )
    assert [(p.shift, p.integration, p.multiplicity) for p in protons] == [
        (5.01, 1, "br s"),
        (3.41, 1, None),
        (1.69, 2, "s"),
    ], "1H grouped; free-text labels dropped"


def test_nmredata_signals_with_ranges_couplings_and_backslashes() -> None:
    text = "Larmor=400.13\\\nSpectrum_Location=file:./nmr/10/1/pdata/1\\\n7.26, S=d, N=2, J=8.4(H6), L=H5\\\n2.10-1.95, S=m, E=2\\\n3.81, L=H9, S=s, N=3\n"
    peaks, larmor = parse_nmredata_1d(text, Nucleus.H1)
    assert larmor == 400.13, "Larmor frequency"
    assert peaks[0] == Peak(7.26, integration=2, multiplicity="d", j_hz=(8.4,)), (
        "J with a partner label"
    )
    assert (peaks[2].shift_lo, peaks[2].shift_hi, peaks[2].integration) == (1.95, 2.10, 2.0), (
        "range"
    )
    again, _ = parse_nmredata_1d(format_nmredata_1d(peaks, 400.13), Nucleus.H1)
    assert again == peaks, "format/parse round trip"


@pytest.mark.integration
def test_shared_nmrshiftdb2_records_read_back(tmp_path: Path, shared_data: Path, read_all) -> None:
    folder = shared_data / "nmrshiftdb2"
    table = pq.read_table(folder / "nmrshiftdb2_spectra.parquet")
    rows = (
        table.filter(pc.is_in(table["nucleus"], pa.array(["13C", "1H"]))).slice(0, 400).to_pylist()
    )
    molecules = pq.read_table(folder / "nmrshiftdb2_molecules.parquet", columns=["id", "smiles"])
    smiles = dict(zip(molecules["id"].to_pylist(), molecules["smiles"].to_pylist(), strict=True))
    ids = list(dict.fromkeys(r["id"] for r in rows))[:8]
    records, expected = [], {}
    for mol_id in ids:
        props: dict[str, str] = {}
        for row in (r for r in rows if r["id"] == mol_id):
            name = f"Spectrum {row['nucleus']} {row['spectrum_index']}"
            props[name] = shiftdb_property(row["shifts"], row["multiplicity"], row["atoms"])
            expected.setdefault((str(mol_id), row["nucleus"]), row)  # lowest index first
        records.append(sd_record(smiles[mol_id], str(mol_id), props))
    path = tmp_path / "shiftdb.sdf"
    path.write_text("".join(records))
    got = read_all(path)
    assert [r.id for r in got] == [str(i) for i in ids], "one spectrum per record, ids from titles"
    n_h = {"S": 0, "D": 1, "T": 2, "Q": 3}
    for spectrum in got:
        assert not isinstance(spectrum, RecordError), f"record failed: {spectrum}"
        assert spectrum.smiles, "truth SMILES taken from the structure"
        for nucleus in ("13C", "1H"):
            row = expected.get((spectrum.id, nucleus))
            peaks = spectrum.peaks(nucleus)
            if row is None:
                assert peaks is None, f"{spectrum.id}: no {nucleus} expected"
                continue
            where = f"{spectrum.id} {nucleus}"
            assert peaks.total_count == len(row["shifts"]), f"{where}: every entry counted"
            assert len(peaks) == len(set(row["shifts"])), f"{where}: grouped by shift"
            assert {a for p in peaks for a in p.atoms} == set(row["atoms"]), f"{where}: atoms"
            if nucleus == "13C":
                labels = {}
                for shift, label in zip(row["shifts"], row["multiplicity"], strict=True):
                    labels.setdefault(shift, set()).add(n_h.get((label or "").upper()))
                for peak in peaks:
                    if len(labels[peak.shift]) == 1:
                        assert peak.n_h == next(iter(labels[peak.shift])), (
                            f"{where}: n_h at {peak.shift}"
                        )


def test_broken_properties_and_bad_molblocks_do_not_stop_the_file(tmp_path: Path, read_all) -> None:
    good = sd_record("CCO", "ethanol", {"Spectrum 13C 0": "58.0;0.0T;1|18.0;0.0Q;0|"})
    broken = sd_record("CC", "ethane", {"Spectrum 13C 0": "7.0;0.0Q;0|oops|"})
    bad_nmredata = sd_record(None, "q", {"NMREDATA_1D_13C": "Larmor=100\\\nabc, S=s\\"})
    no_peaks = sd_record("C", "methane", {"comment": "nothing"})
    bad_block = "mangled\n  RDKit\n\n  9  9  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n"
    plain = sd_record(None, "", {"c13": "170.2, 77.0", "h1": "7.26 (s, 1H)", "formula": "C2H4O2"})
    path = tmp_path / "mixed.sdf"
    path.write_text(good + broken + bad_nmredata + no_peaks + bad_block + plain)
    got = read_all(path)
    assert len(got) == 6, f"every record accounted for: {got}"
    assert got[0].c13.shifts.tolist() == [58.0, 18.0] and got[0].smiles == "CCO"
    assert (
        isinstance(got[1], RecordError)
        and got[1].field == "Spectrum 13C 0"
        and got[1].record == "ethane"
    )
    assert "oops" in got[1].message, "the broken entry is quoted"
    assert isinstance(got[2], RecordError) and got[2].field == "NMREDATA_1D_13C"
    assert (
        isinstance(got[3], RecordError)
        and got[3].record == "methane"
        and "no peaks" in got[3].message
    )
    assert (
        isinstance(got[4], RecordError) and got[4].record == "row5" and got[4].field == "molblock"
    )
    assert got[5].id == "row6" and got[5].formula == "C2H4O2" and got[5].h1[0].integration == 1


def test_molecules_from_sdf(tmp_path: Path) -> None:
    path = tmp_path / "mols.sdf"
    path.write_text(
        sd_record("c1ccccc1", "benzene", {})
        + sd_record("CC(=O)O", "", {"id": "acetic"})
        + sd_record(None, "empty", {})
    )
    got = [r for batch in read_molecules(path) for r in batch]
    assert [(m.id, m.smiles) for m in got[:2]] == [("benzene", "c1ccccc1"), ("acetic", "CC(=O)O")]
    assert isinstance(got[2], RecordError) and got[2].field == "molblock", "no atoms is an error"


def test_query_sdf_carries_nmredata_tags(tmp_path: Path, spectra, write_spectra) -> None:
    text = write_spectra(tmp_path / "q.sdf", spectra).read_text()
    assert ">  <NMREDATA_1D_13C>\nLarmor=101\\\n167.1\\" in text, "13C tag with the 13C Larmor"
    assert "7.23, S=dd, N=2, J=8.2,0.6\\" in text, "1H signal line"
    assert "2.2-1.95, S=m, N=3\\" in text, "range signal"
    peaks, _ = parse_nmredata_1d(
        text.split(">  <NMREDATA_1D_1H>\n")[1].split("\n\n")[0], Nucleus.H1
    )
    expected = [
        (p.shift_lo, p.shift_hi, p.integration, p.multiplicity, p.j_hz) for p in spectra[0].h1
    ]
    got = [(p.shift_lo, p.shift_hi, p.integration, p.multiplicity, p.j_hz) for p in peaks]
    assert got == expected, "tag reads back to the 1H list (a range's centre becomes its midpoint)"


@pytest.mark.parametrize("title", ["", "  "])
def test_missing_sdf_title_gets_generated_id(tmp_path: Path, title: str, read_all) -> None:
    path = tmp_path / "untitled.sdf"
    path.write_text(sd_record("CCO", title, {"c13": "58.0, 18.0"}) * 2)
    assert [r.id for r in read_all(path)] == ["row1", "row2"], "row<N> ids"


def test_shiftdb_conditions_follow_the_spectrum_index(tmp_path: Path, read_all) -> None:
    props = {
        "Spectrum 13C 1": "58.0;0.0T;1|18.0;0.0Q;0|",
        "Solvent": "0:Methanol-D4 (CD3OD) 1:Chloroform-D1 (CDCl3)",
        "Field Strength [MHz]": "0:Unreported 1:100",
    }
    unreported = {**props, "Field Strength [MHz]": "1:Unreported"}
    broken = {**props, "Field Strength [MHz]": "1:fast"}
    path = tmp_path / "conditions.sdf"
    path.write_text(
        "".join(sd_record("CCO", t, p) for t, p in [("a", props), ("b", unreported), ("c", broken)])
    )
    a, b, c = read_all(path)
    assert (a.solvent, a.field_mhz) == ("CDCl3", 400.0), "index 1 values; 13C MHz → 1H MHz"
    assert b.field_mhz is None, "'Unreported' is no value"
    assert isinstance(c, RecordError) and c.field == "field_mhz" and "'fast'" in c.message
