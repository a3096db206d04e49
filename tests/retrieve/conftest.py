"""Tiny stand-ins for the retriever's models, built by code: a deterministic fake predictor
(shifts from atom environments) and random-projection encoders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nmrpeak_cli.artifacts import ModelIdentity
from nmrpeak_cli.retrieve.build import build_library
from nmrpeak_cli.spectra import Spectrum

MOLECULES: tuple[tuple[str, str], ...] = (
    ("ethanol", "CCO"),
    ("acetone", "CC(C)=O"),
    ("toluene", "Cc1ccccc1"),
    ("phenol", "Oc1ccccc1"),
    ("anisole", "COc1ccccc1"),
    ("ethyl_acetate", "CCOC(C)=O"),
    ("propanol", "CCCO"),
    ("isopropanol", "CC(C)O"),
    ("acetic_acid", "CC(=O)O"),
    ("benzaldehyde", "O=Cc1ccccc1"),
    ("methyl_benzoate", "COC(=O)c1ccccc1"),
    ("p_xylene", "Cc1ccc(C)cc1"),
    ("cyclohexanone", "O=C1CCCCC1"),
    ("pyridine", "c1ccncc1"),
    ("butanone", "CCC(C)=O"),
    ("diethyl_ether", "CCOCC"),
)


def _carbon_shift(atom) -> float:
    """A made-up but deterministic 13C shift from the atom's environment."""
    shift = 15.0 + 8.0 * atom.GetDegree() - 3.0 * atom.GetTotalNumHs()
    if atom.GetIsAromatic():
        shift += 100.0
    for neighbour in atom.GetNeighbors():
        shift += {8: 40.0, 7: 25.0}.get(neighbour.GetAtomicNum(), 2.0)
    for bond in atom.GetBonds():
        if bond.GetBondTypeAsDouble() == 2.0:
            shift += 60.0
    return min(shift, 230.0)


class FakePredictor:
    """Predicts peaks from atom environments; symmetry-equivalent atoms share a peak."""

    def __init__(self, version: str = "fake-1") -> None:
        self._identity = ModelIdentity("predictor", version, "0" * 64)

    @property
    def identity(self) -> ModelIdentity:
        return self._identity

    def predict_rows(self, records: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        from rdkit import Chem

        rows = []
        for record_id, smiles in records:
            mol = Chem.MolFromSmiles(smiles)
            if any(a.GetSymbol() == "Si" for a in mol.GetAtoms()):
                rows.append({"id": record_id, "smiles": smiles, "error": "unsupported element Si"})
                continue
            ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
            c13: dict[int, list[int]] = {}
            h1: dict[int, list[int]] = {}
            for atom in mol.GetAtoms():
                if atom.GetAtomicNum() == 6:
                    c13.setdefault(ranks[atom.GetIdx()], []).append(atom.GetIdx())
                if atom.GetTotalNumHs() and atom.GetAtomicNum() == 6:
                    h1.setdefault(ranks[atom.GetIdx()], []).append(atom.GetIdx())
            c13_peaks = [
                {"shift": _carbon_shift(mol.GetAtomWithIdx(a[0])), "n_atoms": len(a), "atoms": a}
                for a in c13.values()
            ]
            h1_peaks = [
                {
                    "shift": _carbon_shift(mol.GetAtomWithIdx(a[0])) / 20.0,
                    "integration": float(sum(mol.GetAtomWithIdx(i).GetTotalNumHs() for i in a)),
                    "multiplicity": "s",
                    "j_hz": [],
                    "atoms": a,
                }
                for a in h1.values()
            ]
            rows.append(
                {"id": record_id, "smiles": smiles, "c13": c13_peaks, "h1": h1_peaks, "error": None}
            )
        return rows


def _histogram(spectrum: Spectrum) -> np.ndarray:
    c13 = np.histogram(spectrum.c13.shifts if spectrum.c13 else [], bins=24, range=(0, 240))[0]
    h1 = np.histogram(spectrum.h1.shifts if spectrum.h1 else [], bins=24, range=(0, 12))[0]
    return np.concatenate([c13, h1]).astype(np.float32)


class FakeEncoder:
    """Random projection of a shift histogram (SSE-like) or of atom counts (SME-like)."""

    def __init__(self, name: str, version: str = "enc-1", dim: int = 8, seed: int = 0) -> None:
        self._identity = ModelIdentity(name, version, "1" * 64)
        self._projection = np.random.default_rng(seed).normal(size=(48, dim)).astype(np.float32)

    @property
    def identity(self) -> ModelIdentity:
        return self._identity

    @property
    def dim(self) -> int:
        return self._projection.shape[1]

    def _embed(self, spectra: Sequence[Spectrum]) -> np.ndarray:
        vectors = np.stack([_histogram(s) for s in spectra]) @ self._projection
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    def embed_entries(self, smiles: Sequence[str], predicted: Sequence[Spectrum]) -> np.ndarray:
        return self._embed(predicted)

    def embed_queries(self, spectra: Sequence[Spectrum]) -> np.ndarray:
        return self._embed(spectra)


def predicted_spectrum(smiles: str, record_id: str = "q") -> Spectrum:
    """The fake predictor's spectrum of ``smiles`` (a query that should find it)."""
    from nmrpeak_cli.retrieve.models import prediction_to_spectrum

    row = FakePredictor().predict_rows([(record_id, smiles)])[0]
    return prediction_to_spectrum(row)


@pytest.fixture
def predictor() -> FakePredictor:
    return FakePredictor()


@pytest.fixture
def encoders() -> list[FakeEncoder]:
    return [FakeEncoder("sme", seed=1), FakeEncoder("sse", seed=2)]


@pytest.fixture
def library_dir(tmp_path: Path, predictor: FakePredictor, encoders: list[FakeEncoder]) -> Path:
    out = tmp_path / "lib"
    build_library(MOLECULES, out, predictor, encoders, part_size=5)
    return out
