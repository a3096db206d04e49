"""Environment memory: HOSE-hashed residual statistics, their correction, artifact and wiring."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nmrpeak_cli.errors import NotAvailableError
from nmrpeak_cli.predict.memory import (
    EnvironmentMemory,
    LevelTable,
    MemoryConfig,
    familiarity,
    forward_atoms,
    hashed_codes,
    load_memory,
    save_memory,
)
from nmrpeak_cli.predict.memory_build import Assignment, build_memory, train_memory


def _mol(smiles: str):
    from nmrpeak_cli.predict.featurize import parse_molecule

    return parse_molecule(smiles)


def test_equivalent_atoms_share_codes_and_levels_differ():
    codes = hashed_codes(_mol("CCOCC"))  # atoms 0/4 and 1/3 are equivalent
    assert codes.shape == (5, 6) and codes.dtype == np.int64
    assert (codes[0] == codes[4]).all() and (codes[1] == codes[3]).all(), "symmetric atoms"
    assert (codes[0] != codes[1]).all(), "different environments differ at every level"
    assert len(set(codes[0].tolist())) == 6, "each level has its own code"
    assert (hashed_codes(_mol("CCOCC")) == codes).all(), "deterministic"
    from nmrpeak_cli.predict.hose import molecule_codes

    text = molecule_codes(_mol("CCOCC"), 6)[1][3]
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    assert codes[1, 3] == int.from_bytes(digest, "little", signed=True), (
        "stored memories rely on it"
    )
    # the same methyl next to CH2-O is equal to sphere 2 in another molecule, then differs
    other = hashed_codes(_mol("CCOC"))
    assert other[0, 1] == codes[0, 1] and other[0, 2] != codes[0, 2]


def test_level_table_statistics_and_unseen_codes():
    table = LevelTable.from_pairs(np.array([5, 5, 5, -3]), np.array([1.0, 2.0, 3.0, -4.0]))
    assert table.keys.tolist() == [-3, 5]
    count, mean, sd = table.lookup(np.array([5, 7, -3]))
    assert count.tolist() == [3, 0, 1]
    assert mean.tolist() == pytest.approx([2.0, 0.0, -4.0])
    assert sd.tolist() == pytest.approx([1.0, 0.0, 0.0])
    empty = LevelTable.from_pairs(np.zeros(0, np.int64), np.zeros(0))
    assert empty.lookup(np.array([1]))[0].tolist() == [0.0]


def _toy_memory(config: MemoryConfig | None = None) -> tuple[EnvironmentMemory, np.ndarray]:
    """Ethanol seen 4 times, its 13C of C0 always 2 ppm above the network and its H on C1
    always 0.1 ppm below."""
    codes = hashed_codes(_mol("CCO"))
    predictions = np.zeros((3, 2))
    assignment = Assignment(
        np.array([0]), np.array([2.0]), np.array([1, 1]), np.array([-0.1, -0.1])
    )
    memory = build_memory([codes] * 4, [predictions] * 4, [assignment] * 4, config, ("abc",))
    return memory, codes


def test_correction_shrinks_the_mean_residual_of_seen_environments():
    memory, codes = _toy_memory(MemoryConfig(c13_k=4.0, c13_tau=0.0, h1_k=0.0, h1_tau=0.0))
    correction = memory.correction(codes)
    # every level has n = 4, residual 2: the estimate goes 2·4/8 = 1, then (8 + 4)/8 = 1.5...
    expected = 0.0
    for _ in range(6):
        expected = (4 * 2.0 + 4 * expected) / 8
    assert correction.delta[0, 0] == pytest.approx(expected)
    assert correction.delta[1, 1] == pytest.approx(-0.1), "k = 0: the mean itself"
    assert correction.level[0].tolist() == [6, 0] and correction.count[0, 0] == 4
    unseen = memory.correction(hashed_codes(_mol("c1ccccc1")))
    assert not unseen.delta.any() and not unseen.level.any(), "benzene was never seen"
    partly = memory.correction(hashed_codes(_mol("CCOC")))  # its O carries no H: sphere 2 differs
    assert partly.level[0, 0] == 1 and 0 < partly.delta[0, 0] < correction.delta[0, 0]


def test_disagreeing_residuals_are_trusted_less():
    codes = hashed_codes(_mol("CCO"))
    assignments = [
        Assignment(np.array([0]), np.array([v]), np.zeros(0, int), np.zeros(0))
        for v in (4.0, 0.0, 4.0, 0.0)
    ]
    noisy = build_memory([codes] * 4, [np.zeros((3, 2))] * 4, assignments)
    steady, _ = _toy_memory()
    assert noisy.tables[0][5].sd[0] > 2, "sd of 4, 0, 4, 0"
    noisy_delta = noisy.correction(codes).delta[0, 0]
    assert 0 < noisy_delta < steady.correction(codes).delta[0, 0]


def test_familiarity_classes():
    assert [familiarity(n) for n in range(7)] == ["new"] * 3 + ["near"] * 2 + ["seen"] * 2


def test_artifact_round_trip_and_predictor_check(tmp_path):
    memory, codes = _toy_memory()
    path = tmp_path / "predictor_memory.safetensors"
    card = save_memory(memory, path, {"note": "test"})
    assert card["predictor_sha256"] == ["abc"] and card["config"]["levels"] == 6
    loaded = load_memory(path, ["abc"])
    assert np.allclose(loaded.correction(codes).delta, memory.correction(codes).delta)
    with pytest.raises(NotAvailableError, match="built with predictor sha256 abc"):
        load_memory(path, ["def"])
    path.write_bytes(path.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(NotAvailableError, match="sha256"):
        load_memory(path)


def test_forward_atoms_needs_molecules_with_a_memory(tiny_weights):
    from nmrpeak_cli.predict.featurize import featurize
    from nmrpeak_cli.predict.weights import load_model

    model = load_model(tiny_weights)
    mol = _mol("CCO")
    plain = forward_atoms(model, [featurize(mol, 0)])
    assert plain.levels is None
    model.memory, _ = _toy_memory()
    try:
        with pytest.raises(ValueError, match="molecule"):
            forward_atoms(model, [featurize(mol, 0)])
        corrected = forward_atoms(model, [featurize(mol, 0)], [mol])
    finally:
        model.memory = None
    delta = corrected.shifts[0] - plain.shifts[0]
    assert delta[0, 0] > 1.0 and corrected.levels[0][0, 0] == 6


@pytest.fixture
def memory_dir(tiny_weights, tmp_path) -> Path:
    shutil.copy(tiny_weights, tmp_path / "predictor.safetensors")
    shutil.copy(tiny_weights.with_suffix(".json"), tmp_path / "predictor.json")
    return tmp_path


def test_train_memory_is_applied_by_predict_and_uncertainty(memory_dir, tiny_table):
    from nmrpeak_cli.predict.infer import predict_records
    from nmrpeak_cli.predict.uncertainty import calibrate_predictor
    from nmrpeak_cli.predict.weights import load_model

    weights = memory_dir / "predictor.safetensors"
    raw = next(iter(predict_records([("x", "CCO")], weights=weights, device="cpu")))
    card = train_memory(weights, data=tiny_table, split_column="split_scaffold")
    assert card["valid"]["with_memory"]["c13_mae"] <= card["valid"]["network"]["c13_mae"]
    predictor_card = json.loads(weights.with_suffix(".json").read_text())
    assert predictor_card["memory"] == "predictor_memory.safetensors"
    model = load_model(weights)
    assert model.memory is not None
    (corrected,) = predict_records([("x", "CCO")], model=model, device="cpu")
    assert corrected.spectrum.c13 != raw.spectrum.c13, "training residuals were added back"
    calibration = calibrate_predictor(weights, data=tiny_table, split_column="split_random")
    assert calibration.familiarity
    assert any("|" in label for label in calibration.c13.floors) or calibration.c13.default_floor
    (prediction,) = predict_records([("x", "CCO")], model=load_model(weights), device="cpu")
    assert all(sd > 0 for sd in prediction.shift_sd[0])


def test_a_memory_of_other_weights_is_refused(memory_dir, tiny_table, tiny_weights):
    import torch

    from nmrpeak_cli.predict.model import ShiftModel
    from nmrpeak_cli.predict.weights import load_model, save_model

    weights = memory_dir / "predictor.safetensors"
    train_memory(weights, data=tiny_table, split_column="split_scaffold")
    card = json.loads(weights.with_suffix(".json").read_text())
    torch.manual_seed(9)
    save_model(ShiftModel(load_model(tiny_weights).config), weights, card)  # retrained weights
    with pytest.raises(NotAvailableError, match="rebuild it with `nmrpeak train memory"):
        load_model(weights)
    assert load_model(weights, memory=False).memory is None


def test_forward_model_identity_names_the_memory(memory_dir, tiny_table):
    from nmrpeak_cli.predict.forward import ForwardModel

    weights = memory_dir / "predictor.safetensors"
    before = ForwardModel(weights).identity
    card = train_memory(weights, data=tiny_table, split_column="split_scaffold")
    after = ForwardModel(weights).identity
    assert after.sha256 == before.sha256
    assert after.version == f"{before.version}+memory-{card['sha256'][:12]}"
