"""Literature records: CSV rows built by code → training rows, text query rows, drop counts."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from nmrpeak_cli.data.dataset import DATASET_SCHEMA
from nmrpeak_cli.data.literature import (
    COLUMNS,
    QUERY_TEXT_SCHEMA,
    build_literature,
    conditions,
    load_literature,
)
from nmrpeak_cli.errors import InputFileError
from nmrpeak_cli.schema import row_to_spectrum, rows_to_table
from nmrpeak_cli.spectra import Nucleus


def literature_row(
    smiles: str,
    c13: str = "",
    h1: str = "",
    c13_conditions: str = "",
    h1_conditions: str = "",
    pmcid: str = "PMC1",
) -> dict[str, str]:
    """One source row with the curated CSV's column names."""
    values = {
        "pmcid": pmcid,
        "smiles": smiles,
        "c13": c13,
        "h1": h1,
        "c13_conditions": c13_conditions,
        "h1_conditions": h1_conditions,
    }
    return {COLUMNS[role]: value for role, value in values.items()}


ETHYL_ACETATE = literature_row(
    "CCOC(C)=O",
    c13="171.1, 60.4, 21.0, 14.2",
    h1="4.12 (q, J = 7.1 Hz, 2H), 2.05 (s, 3H), 1.30–1.22 (m, 3H)",
    c13_conditions="101 MHz, CDCl3",
    h1_conditions="400 MHz, CDCl3",
)
ROWS = [
    ETHYL_ACETATE,
    literature_row("Not mentioned", c13="128.5"),
    literature_row("C1CC1(", c13="10.0"),  # unparseable SMILES
    literature_row("[Na+].[O-]C(C)=O", c13="176.0, 24.0"),  # a salt: two fragments
    literature_row(  # prose 13C, usable 1H
        "c1ccccc1O",
        c13="18 carbon signals, two for ketone (δC 206.7)",
        h1="7.24 (t, 2H), 6.93 (t, 1H), 6.84 (d, 2H), 5.10 (br s, 1H)",
        c13_conditions="DMSO-d6, 75 MHz",
    ),
    literature_row("CCO", c13="prose only", h1="no peaks either"),
    literature_row("CCOC(C)=O", c13="171.0, 60.5, 21.1, 14.3", pmcid="PMC2"),  # duplicate
]


def test_rows_counts_and_reasons():
    data = build_literature(ROWS)
    assert data.n_source == len(ROWS)
    assert data.dropped == {
        "missing_smiles": 1,
        "unparseable_smiles": 1,
        "multiple_fragments": 1,
        "no_usable_spectrum": 1,
        "duplicate_inchikey": 1,
    }, data.dropped
    assert data.rejected == {"c13_unparseable": 2, "h1_missing": 1, "h1_unparseable": 1}, (
        data.rejected
    )
    rows = {row["smiles"]: row for row in data.rows()}
    assert sorted(rows) == ["CCOC(C)=O", "Oc1ccccc1"], sorted(rows)
    ester = rows["CCOC(C)=O"]
    assert ester["id"] == "literature:PMC1:1", "the first, more complete duplicate is kept"
    assert ester["c13_shifts"] == [171.1, 60.4, 21.0, 14.2]
    assert ester["c13_n_h"] == [None] * 4, "attached-H counts unknown unless labelled"
    assert ester["c13_complete"] and ester["h1_complete"]
    assert ester["h1_shifts"] == [4.12, 4.12, 2.05, 2.05, 2.05, 1.26, 1.26, 1.26], (
        "per-H entries by integration, a range at its centre"
    )
    assert (ester["solvent_c13"], ester["solvent_h1"]) == ("CDCl3", "CDCl3")
    assert ester["split_scaffold"] == ester["split_random"] == "literature"
    phenol = rows["Oc1ccccc1"]
    assert phenol["c13_shifts"] is None, "prose 13C rejected, the record kept for its 1H"
    assert phenol["h1_shifts"] == [7.24, 7.24, 6.93, 6.84, 6.84, 5.1]
    assert phenol["h1_complete"], "five aromatic H and the OH"
    assert rows_to_table(data.rows(), DATASET_SCHEMA).num_rows == 2


def test_query_rows_keep_the_printed_text_and_read_back():
    data = build_literature(ROWS)
    queries = {row["smiles"]: row for row in data.query_rows()}
    ester = queries["CCOC(C)=O"]
    assert ester["c13"] == ETHYL_ACETATE[COLUMNS["c13"]], "c13 as printed"
    assert ester["h1"] == ETHYL_ACETATE[COLUMNS["h1"]], "h1 as printed"
    assert (ester["formula"], ester["solvent"], ester["field_mhz"]) == ("C4H8O2", "CDCl3", 400.0)
    assert queries["Oc1ccccc1"]["c13"] is None, "a prose 13C text is not passed on"
    assert queries["Oc1ccccc1"]["solvent"] == "DMSO-d6", "1H falls back to the 13C conditions"
    table = rows_to_table(data.query_rows(), QUERY_TEXT_SCHEMA)
    spectrum = row_to_spectrum(next(r for r in table.to_pylist() if r["smiles"] == "CCOC(C)=O"))
    assert spectrum.c13 is not None and len(spectrum.c13) == 4
    assert spectrum.h1 is not None and spectrum.h1.total_count == 8


@pytest.mark.parametrize(
    ("text", "nucleus", "expected"),
    [
        ("101 MHz, CDCl3", Nucleus.C13, ("CDCl3", 400.0)),
        ("DMSO-d6, 100 MHz", Nucleus.C13, ("DMSO-d6", 400.0)),
        ("500 MHz, DMSO", Nucleus.H1, ("DMSO-d6", 500.0)),
        ("400 MHz", Nucleus.H1, (None, 400.0)),
        ("", Nucleus.H1, (None, None)),
        ("ionic liquid", Nucleus.H1, ("other", None)),
    ],
)
def test_conditions(text, nucleus, expected):
    assert conditions(text, nucleus) == expected


def test_load_literature_reads_a_gzipped_csv(tmp_path: Path):
    path = tmp_path / "curated.csv.gz"
    with gzip.open(path, "wt", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(ROWS[0]))
        writer.writeheader()
        writer.writerows(ROWS)
    data = load_literature(path)
    assert len(data.records) == 2 and data.n_source == len(ROWS)
    with pytest.raises(InputFileError, match="not found"):
        load_literature(tmp_path / "missing.csv.gz")
    bad = tmp_path / "bad.csv"
    bad.write_text("SMILES\nCCO\n")
    with pytest.raises(InputFileError, match="missing columns"):
        load_literature(bad)


def test_prepare_writes_the_literature_tables(synthetic_source, tmp_path: Path):
    from nmrpeak_cli.data.literature import LITERATURE_FILE
    from nmrpeak_cli.data.prepare import PrepareOptions, prepare

    source = synthetic_source.root
    path = source / LITERATURE_FILE
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wt", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(ROWS[0]))
        writer.writeheader()
        writer.writerows(ROWS)
    without = prepare(PrepareOptions(source, tmp_path / "a", moses=False, literature=False))
    summary = prepare(
        PrepareOptions(source, tmp_path / "b", moses=False, report=tmp_path / "DATA.md")
    )
    assert without.n_literature is None and summary.n_literature == 2
    assert (tmp_path / "a" / "experimental.parquet").read_bytes() == (
        tmp_path / "b" / "experimental.parquet"
    ).read_bytes(), "literature never changes experimental.parquet"
    assert pq.read_table(tmp_path / "b" / "literature.parquet").num_rows == 2
    queries = pq.read_table(tmp_path / "b" / "queries" / "literature.parquet")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["counts"]["literature"]["records"] == 2
    seen = manifest["counts"]["literature"]["in_experimental"]
    assert seen >= 1, "the fixture's ethyl acetate is also an experimental compound"
    assert queries.schema.field("c13").type == "string"
    assert queries.num_rows == 2 - seen, "queries are the unseen compounds only"
    assert set(manifest["literature_sha256"]) == {
        "literature.parquet",
        "queries/literature.parquet",
    }
    assert "## Literature records" in (tmp_path / "DATA.md").read_text()


def test_query_rows_leave_out_compounds_seen_elsewhere():
    data = build_literature(ROWS)
    ester_block = next(
        r.record.connectivity for r in data.records if r.record.smiles == "CCOC(C)=O"
    )
    kept = [row["smiles"] for row in data.query_rows(exclude={ester_block})]
    assert "CCOC(C)=O" not in kept, "a compound of the experimental data is no unseen query"
    assert kept and len(kept) == len(data.query_rows()) - 1, "the others stay"
    assert len(data.rows()) == len(data.records), "the training rows keep every compound"
