"""``data prepare`` end to end on a synthetic source: outputs, determinism, no leakage."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rdkit import Chem

from nmrpeak_cli.data import moses
from nmrpeak_cli.data.dataset import DATASET_SCHEMA, read_dataset
from nmrpeak_cli.data.prepare import PrepareOptions, prepare
from nmrpeak_cli.errors import InputFileError
from nmrpeak_cli.schema import QUERY_SCHEMA, row_to_spectrum, schema_for
from tests.data.data_builders import GOOD_SMILES

QUERY_FILES = [
    f"queries/{s}_{p}.parquet" for s in ("scaffold", "random") for p in ("valid", "test")
]


@pytest.fixture
def prepared(synthetic_source, fake_wheel, tmp_path):
    """Run prepare twice into two folders; return (summary, out1, out2)."""
    runs = []
    for name in ("one", "two"):
        options = PrepareOptions(
            source=synthetic_source.root,
            out=tmp_path / name,
            seed=3,
            report=tmp_path / name / "DATA.md",
            cache=tmp_path / "cache",
            moses_wheel=fake_wheel,
        )
        runs.append(prepare(options))
    return runs[0], tmp_path / "one", tmp_path / "two"


def test_outputs_are_identical_bytes_on_a_second_run(prepared):
    _, one, two = prepared
    names = ["experimental.parquet", "simulated_molecules.parquet", "manifest.json", "DATA.md"]
    for name in names + QUERY_FILES:
        assert (one / name).read_bytes() == (two / name).read_bytes(), f"{name} differs"


def test_drop_reasons_and_counts(prepared, synthetic_source):
    summary, one, _ = prepared
    assert summary.dropped == synthetic_source.expected_drops
    assert summary.n_records == synthetic_source.n_good
    table = pq.read_table(one / "experimental.parquet")
    assert table.schema.equals(DATASET_SCHEMA, check_metadata=False)
    assert schema_for("dataset").names == table.schema.names, "registered as 'dataset'"
    assert table.num_rows == len(GOOD_SMILES)
    rows = table.to_pylist()
    assert [r["inchikey"] for r in rows] == sorted(r["inchikey"] for r in rows), "sorted rows"
    assert all(r["c13_complete"] for r in rows), "synthetic 13C lists every carbon"
    for row in rows:
        mol = Chem.MolFromSmiles(row["smiles"])
        if row["h1_shifts"] is not None and not any(
            a.GetSymbol() != "C" and a.GetTotalNumHs() > 1 for a in mol.GetAtoms()
        ):
            # group-style lists (one entry per CH3) are expanded with the 13C H counts; only
            # an NH2 listed once stays short, as nothing says how many H it stands for
            assert row["h1_complete"], f"{row['smiles']}: {row['h1_shifts']}"


def test_rows_are_consistent(prepared):
    _, one, _ = prepared
    for row in pq.read_table(one / "experimental.parquet").to_pylist():
        assert row["id"].startswith("nmrshiftdb2:")
        assert len(row["c13_shifts"]) == len(row["c13_n_h"])
        assert sum(p["n_atoms"] for p in row["c13"]) == len(row["c13_shifts"])
        if row["h1"] is not None:
            assert sum(p["integration"] for p in row["h1"]) == len(row["h1_shifts"])
        assert row["solvent_c13"] == "CDCl3" and row["split_scaffold"] in {"train", "valid", "test"}
        assert row["solvent_h1"] in {None, "DMSO-d6"}


def test_cascade_shifts_land_on_the_right_atoms(prepared, synthetic_source):
    summary, one, _ = prepared
    rows = pq.read_table(one / "experimental.parquet").to_pylist()
    mapped = [r for r in rows if r["cascade_atoms"] is not None]
    assert sorted(r["id"] for r in mapped) == [
        f"nmrshiftdb2:{i}" for i in synthetic_source.cascade_ids
    ]
    assert summary.n_cascade == 2 and summary.n_cascade_unmapped == 0
    for row in mapped:
        mol = Chem.MolFromSmiles(row["smiles"])
        assert len(row["cascade_atoms"]) == sum(a.GetSymbol() == "C" for a in mol.GetAtoms())
        for atom, shift in zip(row["cascade_atoms"], row["cascade_shifts"], strict=True):
            # the synthetic CASCADE shift encodes the attached-H count: 20 + 30 * nH
            assert mol.GetAtomWithIdx(atom).GetTotalNumHs() == round((shift - 20) / 30), row[
                "smiles"
            ]


def test_splits_have_no_leaks_and_queries_match(prepared):
    _, one, _ = prepared
    rows = pq.read_table(one / "experimental.parquet").to_pylist()
    for scheme in ("scaffold", "random"):
        where: dict[str, set[str]] = {}
        for row in rows:
            where.setdefault(row["inchikey"][:14], set()).add(row[f"split_{scheme}"])
            if scheme == "scaffold" and row["scaffold"]:
                where.setdefault(row["scaffold"], set()).add(row["split_scaffold"])
        assert all(len(s) == 1 for s in where.values()), f"{scheme} split leaks"
    by_id = {row["id"]: row for row in rows}
    for name in QUERY_FILES:
        table = pq.read_table(one / name)
        assert table.schema.equals(QUERY_SCHEMA, check_metadata=False)
        scheme, split = Path(name).stem.split("_")
        expected = sorted(r["id"] for r in rows if r[f"split_{scheme}"] == split)
        assert sorted(table.column("id").to_pylist()) == expected
        for query in table.to_pylist():
            spectrum = row_to_spectrum(query)
            truth = by_id[query["id"]]
            assert spectrum.smiles == truth["smiles"] and spectrum.formula == truth["formula"]
            assert len(spectrum.c13) == len({p["shift"] for p in truth["c13"]}), "one per peak"
            if truth["h1"] is not None:
                assert spectrum.h1.total_count == len(truth["h1_shifts"]), "integrations kept"


def test_simulated_molecules_exclude_valid_and_test_blocks(prepared, fake_wheel, tmp_path):
    summary, one, _ = prepared
    rows = pq.read_table(one / "experimental.parquet").to_pylist()
    held = {
        r["inchikey"][:14]
        for r in rows
        for s in ("scaffold", "random")
        if r[f"split_{s}"] in {"valid", "test"}
    }
    simulated = pq.read_table(one / "simulated_molecules.parquet").to_pylist()
    assert held and not held & {r["inchikey"][:14] for r in simulated}, "a held-out molecule leaked"
    everything = moses.moses_table(fake_wheel, tmp_path / "cache").to_pylist()
    excluded = [r for r in everything if r["inchikey"][:14] in held]
    assert summary.n_simulated == len(simulated) == len(everything) - len(excluded)
    assert summary.n_simulated_excluded == len(excluded) > len(held), "both alanines go"
    assert {"CCCCCCCC", "c1ccc2[nH]ccc2c1"} <= {r["smiles"] for r in simulated}


def test_manifest_and_report(prepared, synthetic_source):
    _, one, _ = prepared
    manifest = json.loads((one / "manifest.json").read_text())
    assert manifest["seeds"] == {"split_scaffold": 3, "split_random": 4}
    assert set(manifest["sources"]) == {
        "nmrshiftdb2/nmrshiftdb2_molecules.parquet",
        "nmrshiftdb2/nmrshiftdb2_spectra.parquet",
        "cascade-exp5k/Exp5K.csv.gz",
        "cascade-exp5k/Exp5K_FF.sdf.gz",
    }
    assert all(len(v) == 64 for v in manifest["sources"].values()), "sha256 hex digests"
    assert manifest["counts"]["dropped"] == synthetic_source.expected_drops
    assert manifest["moses_wheel_sha256"] and manifest["nmrpeak_version"]
    report = (one / "DATA.md").read_text()
    for heading in (
        "## Records",
        "## Dropped records",
        "## Splits",
        "## Solvents",
        "## Heavy atoms",
    ):
        assert heading in report, f"{heading} missing from the report"
    assert "`net_charge` | 1" in report


def test_seed_changes_the_split(synthetic_source, tmp_path):
    labels = []
    for seed in (0, 11):
        out = tmp_path / f"s{seed}"
        prepare(PrepareOptions(synthetic_source.root, out, seed=seed, moses=False))
        table = pq.read_table(out / "experimental.parquet", columns=["split_random"])
        labels.append(table.column("split_random").to_pylist())
    assert labels[0] != labels[1]
    assert not (tmp_path / "s0" / "simulated_molecules.parquet").exists(), "--no-moses"


def test_missing_source_is_an_input_error(tmp_path):
    with pytest.raises(InputFileError, match="--source"):
        prepare(PrepareOptions(tmp_path / "nowhere", tmp_path / "out", moses=False))


def test_read_dataset_selects_a_split(prepared, tmp_path):
    _, one, _ = prepared
    everything = read_dataset(one)
    test = read_dataset(one / "experimental.parquet", ("scaffold", "test"), ["id", "smiles"])
    assert test.column_names == ["id", "smiles"]
    expected = [r["id"] for r in everything.to_pylist() if r["split_scaffold"] == "test"]
    assert test.column("id").to_pylist() == expected and expected
    with pytest.raises(ValueError, match="scheme"):
        read_dataset(one, ("butterfly", "test"))
    with pytest.raises(InputFileError, match="data prepare"):
        read_dataset(tmp_path / "absent")
    pq.write_table(everything.drop_columns(["scaffold"]), tmp_path / "old.parquet")
    with pytest.raises(InputFileError, match="scaffold"):
        read_dataset(tmp_path / "old.parquet")
