"""CReM fragment database and the search's ``crem`` move, on a database built from six molecules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rdkit import Chem

from nmrpeak_cli.errors import InputFileError, LeakageError
from nmrpeak_cli.generate.crem_moves import (
    CremMolecules,
    build_crem_db,
    card_path,
    check_crem_db,
    crem_move,
)
from nmrpeak_cli.generate.moves import formula_of
from nmrpeak_cli.generate.search import SearchConfig, structure_search
from tests.generate.test_search import CountingPredictor, fake_spectrum

pytest.importorskip("crem")

TRAINING = [
    "COCc1ccccc1", "COCc1ccc(C)cc1", "CCOc1ccc(Cl)cc1", "CCCc1ccncc1", "CC(C)c1ccccc1",
    "OCCc1ccccc1",
]  # fmt: skip
HELD_OUT = ["CCOc1ccccc1", "CCCCO"]


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("crem") / "tiny.db"
    build_crem_db(
        CremMolecules(TRAINING, [], HELD_OUT, [{"path": "test"}]), out,
        command="pytest", split="random", seed=0,
    )  # fmt: skip
    return out


def test_build_writes_the_database_and_its_card(tiny_db):
    from nmrpeak_cli.paths import file_sha256

    card = json.loads(card_path(tiny_db).read_text())
    assert card["sha256"] == file_sha256(tiny_db), "the card names the database's sha256"
    assert card["molecules"] == len(TRAINING) and card["split"] == "random"
    assert card["command"] == "pytest" and card["sources"] == [{"path": "test"}]
    check_crem_db(tiny_db)  # a good database passes
    assert not list(tiny_db.parent.glob(".*tmp*")), "no temporary file is left behind"


def test_a_held_out_molecule_stops_the_build(tmp_path):
    out = tmp_path / "leaky.db"
    leaky = CremMolecules([*TRAINING, "C(C)Oc1ccccc1"], [], HELD_OUT, [])  # same molecule
    with pytest.raises(LeakageError, match="validation/test"):
        build_crem_db(leaky, out, command="x", split="random", seed=0)
    assert not out.exists() and not card_path(out).exists(), "nothing is written"


def test_crem_children_keep_the_size_and_are_canonical(tiny_db):
    parent = Chem.MolFromSmiles("CCOc1ccccc1")  # phenetole, C8H10O
    children = list(crem_move(tiny_db)(parent))
    assert "COCc1ccccc1" in children, "the ethoxy fragment is replaced by a database one"
    for child in children:
        mol = Chem.MolFromSmiles(child)
        assert mol.GetNumHeavyAtoms() == parent.GetNumHeavyAtoms(), child
        assert Chem.MolToSmiles(mol) == child, f"{child} is canonical"
    assert formula_of("COCc1ccccc1") == "C8H10O"


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), (b"not a database" * 100, "corrupt or not a CReM")],
)
def test_missing_or_corrupt_database_names_the_file(tmp_path, content, message):
    path = tmp_path / "bad.db"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputFileError, match=message) as error:
        check_crem_db(path)
    assert str(path) in str(error.value)


def test_a_database_that_does_not_match_its_card_is_rejected(tiny_db, tmp_path):
    copy = tmp_path / "copy.db"
    copy.write_bytes(tiny_db.read_bytes())
    card_path(copy).write_text(json.dumps({"sha256": "0" * 64}))
    with pytest.raises(InputFileError, match="does not belong to its card"):
        check_crem_db(copy)


def test_search_reaches_the_truth_only_with_the_crem_move(tiny_db):
    truth = "COCc1ccccc1"  # benzyl methyl ether; the seed is phenetole (same formula)
    query = fake_spectrum(truth, formula="C8H10O")
    plain = SearchConfig(budget=100, moves=(), recombine=False, repair=False, reseed_beam=0)
    without = structure_search(query, ["CCOc1ccccc1"], predictor=CountingPredictor(), config=plain)
    assert truth not in [c.smiles for c in without.candidates]
    config = SearchConfig(budget=100, moves=(), recombine=False, repair=False, crem_db=tiny_db)
    found = structure_search(query, ["CCOc1ccccc1"], predictor=CountingPredictor(), config=config)
    assert found.candidates[0].smiles == truth and found.candidates[0].move == "crem"
    assert all(formula_of(c.smiles) == "C8H10O" for c in found.candidates), "formula kept"


def test_cli_builds_from_the_training_split_only(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from nmrpeak_cli.cli.app import app

    smiles = [*TRAINING, *HELD_OUT]
    labels = ["train"] * len(TRAINING) + ["valid", "test"]
    heavy = [Chem.MolFromSmiles(s).GetNumHeavyAtoms() for s in smiles]
    table = pa.table({"smiles": smiles, "n_heavy": heavy, "split_random": labels})
    pq.write_table(table, tmp_path / "experimental.parquet")
    out = tmp_path / "crem.db"
    result = CliRunner().invoke(
        app, ["--seed", "3", "data", "crem-db", "--data", str(tmp_path), "-o", str(out),
              "--moses", "0", "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    card = json.loads(card_path(out).read_text())
    assert card["molecules"] == len(TRAINING) and card["seed"] == 3
    assert "--moses 0" in card["command"] and "held out" in card["leakage check"]
    check_crem_db(out)


def test_cli_rejects_a_corrupt_database_before_any_work(tmp_path):
    from typer.testing import CliRunner

    from nmrpeak_cli.cli.app import app

    bad = tmp_path / "bad.db"
    bad.write_bytes(b"\0garbage" * 200)
    args = ["generate", "--c13", "20, 30", "--formula", "C3H8", "--search", "--crem-db", str(bad)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "bad.db" in result.output, result.output


def test_moses_molecules_drop_held_out_ones_through_the_loader(tmp_path):
    """MOSES rows whose first InChIKey block is a held-out molecule's never reach the
    database molecules (the MOSES loader's exclusion), whatever their stereo."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nmrpeak_cli.generate.crem_moves import crem_db_molecules

    smiles = [*TRAINING, *HELD_OUT]
    labels = ["train"] * len(TRAINING) + ["valid", "test"]
    heavy = [Chem.MolFromSmiles(s).GetNumHeavyAtoms() for s in smiles]
    pq.write_table(
        pa.table({"smiles": smiles, "n_heavy": heavy, "split_random": labels}),
        tmp_path / "experimental.parquet",
    )
    moses = ["CCOc1ccccc1", "CCCCO", "CCCCCO", "c1ccncc1", "OC1CCCCC1", "CC(=O)N"]
    keys = [Chem.MolToInchiKey(Chem.MolFromSmiles(s)) for s in moses]
    pq.write_table(
        pa.table({"id": [f"m{i}" for i in range(len(moses))], "smiles": moses, "inchikey": keys}),
        tmp_path / "simulated_molecules.parquet",
    )
    made = crem_db_molecules(tmp_path, "random", 10, 10, seed=0)
    assert sorted(made.moses) == sorted(moses[2:]), made.moses
    assert made.sources[1]["molecules"] == 4 and made.sources[1]["rows"] == len(moses)
