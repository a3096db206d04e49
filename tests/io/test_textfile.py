"""Plain text files of journal sentences: one record per paragraph."""

from __future__ import annotations

from pathlib import Path

from nmrpeak_cli.io import RecordError


def test_paragraphs_titles_keys_and_wrapped_sentences(tmp_path: Path, read_all) -> None:
    path = tmp_path / "paper.txt"
    path.write_text(
        "Compound 3a\n"
        "1H NMR (400 MHz, CDCl3) δ 7.26 (d, J = 8.4 Hz, 2H),\n"
        "  3.81 (s, 3H).\n"
        "13C NMR (101 MHz, CDCl3) δ 170.2, 77.0.\n"
        "formula: C9H10O2\n"
        "\n\n"
        "1H NMR (500 MHz, DMSO-d6) δ 12.1 (br s, 1H); 13C NMR (126 MHz, DMSO-d6) δ 172.0\n"
        "\n"
        "id: broken\n"
        "1H NMR (400 MHz, CDCl3) δ 7.26 (d, 2H), see the SI for the rest\n"
        "\n"
        "just a remark without any spectrum\n"
    )
    first, second, broken, remark = read_all(path)
    assert first.id == "Compound 3a" and first.formula == "C9H10O2", "title line is the id"
    assert first.h1.shifts.tolist() == [7.26, 3.81] and first.c13.shifts.tolist() == [170.2, 77.0]
    assert (first.solvent, first.field_mhz) == ("CDCl3", 400.0), "conditions from the 1H sentence"
    assert second.id == "row2" and second.h1[0].multiplicity == "br s", "both sentences on one line"
    assert second.field_mhz == 500.0 and second.c13.shifts.tolist() == [172.0]
    assert isinstance(broken, RecordError) and broken.record == "broken" and broken.field == "h1"
    assert "see the SI" in broken.message, "the fragment is quoted"
    assert isinstance(remark, RecordError) and "no '1H NMR' or '13C NMR'" in remark.message


def test_text_written_reads_back(tmp_path: Path, spectra, read_all, write_spectra) -> None:
    path = write_spectra(tmp_path / "out.txt", spectra)
    assert "13C NMR (101 MHz, CDCl3) δ 167.1" in path.read_text(), "13C frequency printed"
    assert read_all(path) == spectra, "text round trip"
