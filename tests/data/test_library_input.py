"""``nmrpeak data library-input``: a split's training molecules plus seeded MOSES molecules,
never a validation/test molecule of the split (any stereoisomer)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from nmrpeak_cli import chem
from nmrpeak_cli.cli.app import app
from nmrpeak_cli.data.library_input import check_no_held_out, library_input
from nmrpeak_cli.errors import LeakageError

TRAIN = ["CCO", "CCCO", "c1ccccc1O", "CC(=O)OCC"]
HELD_OUT = {"valid": "CC(O)C(=O)O", "test": "C/C=C/C(=O)O"}
MOSES = [
    "CCCCO", "CCCCCO", "c1ccncc1", "CCN(CC)CC", "OC1CCCCC1", "CC(=O)N", "COc1ccccc1",
    "C[C@@H](O)C(=O)O",  # a stereoisomer of the valid molecule: must be dropped
    "C/C=C\\C(=O)O",  # a stereoisomer of the test molecule: must be dropped
    "CC(O)C(=O)O",  # the valid molecule itself
    "CCO",  # already a training molecule
]  # fmt: skip


def _key(smiles: str) -> str:
    return chem.inchikey(chem.parse_smiles(smiles))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    smiles = [*TRAIN, *HELD_OUT.values()]
    labels = ["train"] * len(TRAIN) + list(HELD_OUT)
    pq.write_table(
        pa.table({"smiles": smiles, "inchikey": [_key(s) for s in smiles],
                  "split_random": labels, "split_scaffold": ["train"] * len(smiles)}),
        tmp_path / "experimental.parquet",
    )  # fmt: skip
    pq.write_table(
        pa.table({"id": [f"moses:train:{i}" for i in range(len(MOSES))], "smiles": MOSES,
                  "inchikey": [_key(s) for s in MOSES]}),
        tmp_path / "simulated_molecules.parquet",
    )  # fmt: skip
    return tmp_path


def test_no_held_out_molecule_and_every_training_one(data: Path) -> None:
    made = library_input(data, "random", n_moses=100, seed=0)
    blocks = {_key(s)[:14] for _, s in made.molecules}
    assert not blocks & {_key(s)[:14] for s in HELD_OUT.values()}, "a held-out molecule leaked"
    assert {_key(s) for s in TRAIN} <= {_key(s) for _, s in made.molecules}
    assert len(made.molecules) == len(TRAIN) + 7, "11 MOSES rows, minus 3 held-out and 1 dup"
    assert len(blocks) == len(made.molecules), "no molecule twice"
    assert made.sources[1]["excluded as held-out"] == 3


def test_the_sample_is_seeded(data: Path) -> None:
    first = library_input(data, "random", n_moses=3, seed=1).molecules
    assert first == library_input(data, "random", n_moses=3, seed=1).molecules
    assert len(first) == len(TRAIN) + 3
    others = {tuple(library_input(data, "random", n_moses=3, seed=s).molecules) for s in range(6)}
    assert len(others) > 1, "another seed draws other MOSES molecules"


def test_the_leak_check_stops_a_held_out_molecule() -> None:
    with pytest.raises(LeakageError, match="1 validation/test"):
        check_no_held_out([("x", "C[C@H](O)C(=O)O")], {_key("CC(O)C(=O)O")[:14]})


def test_cli_writes_the_file_and_its_card(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "seeds.smi"
    result = CliRunner().invoke(
        app, ["--seed", "2", "data", "library-input", "--data", str(data), "--split", "random",
              "--moses", "2", "-o", str(out), "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert len(lines) == len(TRAIN) + 2 and lines[0] == f"CCO exp_{_key('CCO')}"
    card = json.loads(Path(str(out) + ".json").read_text())
    assert card["seed"] == 2 and card["molecules"] == len(lines) and card["split"] == "random"
    assert "--seed 2" in card["command"] and "--moses 2" in card["command"]
    bad = CliRunner().invoke(
        app, ["data", "library-input", "--data", str(tmp_path / "none"), "-o", str(out)]
    )
    assert bad.exit_code == 2 and "experimental.parquet" in bad.output
