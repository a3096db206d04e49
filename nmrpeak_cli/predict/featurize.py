"""Molecule → graph featurization for the shift model.

The graph has one node per heavy atom (hydrogens are implicit and counted per atom) and two
directed edges per bond. Features are one-hot blocks built with numpy from per-atom integer
codes gathered in one pass over the atoms, so featurization costs a few tens of microseconds
per molecule. :data:`FEATURE_VERSION` changes whenever the layout changes; it is stored with
the weights and checked on load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nmrpeak_cli.errors import ChemistryError
from nmrpeak_cli.solvents import CANONICAL_SOLVENTS, normalize_solvent

if TYPE_CHECKING:
    from rdkit import Chem

FEATURE_VERSION = "2"
"""Version of the atom/bond feature layout. Layouts are append-only: version 2 is version 1
followed by :data:`EXTRA_ATOM_DIM` more columns, so a model trained on an older version reads
the first ``atom_dim`` columns (see :data:`ATOM_DIMS`)."""

SUPPORTED_ELEMENTS: tuple[str, ...] = (
    "B",
    "C",
    "N",
    "O",
    "F",
    "Si",
    "P",
    "S",
    "Cl",
    "Se",
    "Br",
    "I",
)
"""Heavy elements with their own feature column (hydrogen is implicit). Other non-metals and
main-group elements share the "other element" column (see :func:`check_molecule`)."""

MAX_HEAVY_ATOMS = 200
"""Largest molecule (heavy atoms) the model accepts."""

MODEL_SOLVENTS: tuple[str, ...] = (
    "CDCl3",
    "DMSO-d6",
    "CD3OD",
    "D2O",
    "acetone-d6",
    "C6D6",
    "other",
    "unknown",
)
"""Solvent categories of the model; ``unknown`` is used when no solvent is given."""

_ATOMIC_NUMBERS = {"B": 5, "C": 6, "N": 7, "O": 8, "F": 9, "Si": 14, "P": 15, "S": 16, "Cl": 17}
_ATOMIC_NUMBERS |= {"Se": 34, "Br": 35, "I": 53}
_ELEMENT_CODE = np.full(128, len(SUPPORTED_ELEMENTS), dtype=np.int64)
for _code, _symbol in enumerate(SUPPORTED_ELEMENTS):
    _ELEMENT_CODE[_ATOMIC_NUMBERS[_symbol]] = _code
_SUPPORTED_Z = frozenset(_ATOMIC_NUMBERS.values())
#: Neighbour classes counted per atom: C, N, O, S, halogen, other.
_NEIGHBOUR_CLASS = np.full(128, 5, dtype=np.int64)
_NEIGHBOUR_CLASS[[6, 7, 8, 16, 9, 17, 35, 53]] = [0, 1, 2, 3, 4, 4, 4, 4]

#: Pauling electronegativity by atomic number (2.5 where not listed).
_ELECTRONEGATIVITY = np.full(128, 2.5, dtype=np.float32)
_ELECTRONEGATIVITY[[1, 5, 6, 7, 8, 9, 14, 15, 16, 17, 32, 33, 34, 35, 50, 51, 52, 53]] = [
    2.20, 2.04, 2.55, 3.04, 3.44, 3.98, 1.90, 2.19, 2.58, 3.16,
    2.01, 2.18, 2.55, 2.96, 1.96, 2.05, 2.10, 2.66,
]  # fmt: skip
#: Period of the periodic table by atomic number.
_PERIOD = np.digitize(np.arange(128), [3, 11, 19, 37, 55, 87]).astype(np.int64) + 1
#: Metals (alkali, alkaline earth, Al excluded; d- and f-block): refused.
_METALS = frozenset(
    {3, 4, 11, 12, 19, 20, 37, 38, 55, 56, 87, 88}
    | set(range(21, 31))
    | set(range(39, 49))
    | set(range(57, 81))
    | set(range(89, 104))
)
_SALT_METALS = frozenset({3, 4, 11, 12, 19, 20, 37, 38, 55, 56})
"""Alkali and alkaline-earth metals: bonded to O/N/S/halogens they are ionic salts."""
_N_ELEMENTS = len(SUPPORTED_ELEMENTS) + 1
_RING_SIZES = (3, 4, 5, 6, 7, 8)
# Block widths: element, heavy degree 0-5, total H 0-4, hybridization (s, sp, sp2, sp3, other),
# aromatic, in ring, ring sizes, ring count 0-3, formal charge -1/0/+1, chirality (none, CW, CCW),
# neighbour-class counts, H-bearing heavy neighbours count.
ATOM_DIM_V1 = _N_ELEMENTS + 6 + 5 + 5 + 1 + 1 + len(_RING_SIZES) + 4 + 3 + 3 + 6 + 1
"""Width of the version-1 atom features."""
# Version 2 adds: neighbours' hybridization counts (sp, sp2, sp3, aromatic), smallest ring size
# one-hot (none, 3-8), heteroatoms in the smallest ring, aromatic 5-/6-ring membership,
# conjugated, Gasteiger charge, Pauling electronegativity and the neighbours' mean, period
# one-hot (2-5+) and charge as a number, so rarer elements and ions are placed sensibly.
EXTRA_ATOM_DIM = 4 + 7 + 1 + 2 + 1 + 1 + 2 + 4 + 1
"""Width of the columns version 2 appends."""
ATOM_DIM = ATOM_DIM_V1 + EXTRA_ATOM_DIM
"""Width of the atom feature vector."""
ATOM_DIMS: dict[str, int] = {"1": ATOM_DIM_V1, "2": ATOM_DIM}
"""Atom feature width of each feature version this code can serve."""
# Bond type (single, double, triple, aromatic), conjugated, in ring, stereo (none, Z, E, other).
BOND_DIM = 4 + 1 + 1 + 4
"""Width of the bond feature vector."""


@dataclass(frozen=True, slots=True)
class MolGraph:
    """A featurized molecule.

    Attributes
    ----------
    atom_features
        ``(n_atoms, ATOM_DIM)`` float32, one row per heavy atom in RDKit atom order.
    edge_index
        ``(2, n_edges)`` int64 source/target atom indices, both directions of every bond.
    edge_features
        ``(n_edges, BOND_DIM)`` float32.
    atomic_numbers
        ``(n_atoms,)`` int64.
    n_h
        ``(n_atoms,)`` int64 number of attached hydrogens.
    solvent
        Index into :data:`MODEL_SOLVENTS`.
    """

    atom_features: np.ndarray
    edge_index: np.ndarray
    edge_features: np.ndarray
    atomic_numbers: np.ndarray
    n_h: np.ndarray
    solvent: int

    @property
    def n_atoms(self) -> int:
        """Number of heavy atoms."""
        return int(self.atomic_numbers.shape[0])


def solvent_index(solvent: str | None) -> int:
    """Model category of a solvent name; ``None`` → ``unknown``.

    Raises
    ------
    ValueError
        When the name is not a known solvent (``normalize_solvent`` gives ``other`` for it).
    """
    if solvent is None or str(solvent).strip().lower() in {"", "unknown", "none"}:
        return MODEL_SOLVENTS.index("unknown")
    canonical = normalize_solvent(solvent)
    if canonical is None:
        return MODEL_SOLVENTS.index("unknown")
    if canonical == "other" and str(solvent).strip().lower() != "other":
        raise ValueError(
            f"solvent: unknown solvent {solvent!r}; expected one of {', '.join(CANONICAL_SOLVENTS)}"
        )
    return (
        MODEL_SOLVENTS.index(canonical)
        if canonical in MODEL_SOLVENTS
        else MODEL_SOLVENTS.index("other")
    )


def parse_molecule(smiles: str) -> Chem.Mol:
    """Parse and check a SMILES for the model.

    Parsing policy: a non-string raises ``TypeError``; anything the model cannot handle raises
    :class:`~nmrpeak_cli.errors.ChemistryError` with the reason (see :func:`check_molecule`):
    unparseable or unsanitizable SMILES, empty molecule, metals, radicals, more than
    :data:`MAX_HEAVY_ATOMS` heavy atoms. Charged species are accepted (formal charge is an
    atom feature). Salts and mixtures are accepted as they are; :func:`main_component` picks
    the component to predict.
    """
    mol = parse_molecule_unchecked(smiles)
    check_molecule(mol)
    return mol


def prepare_molecule(smiles: str) -> tuple[Chem.Mol, tuple[str, ...]]:
    """What inference predicts for a SMILES: its :func:`main_component`, checked, with notes
    (removed fragments, rare elements) for the output's ``note`` column."""
    mol, removed = main_component(ionic_salt(parse_molecule_unchecked(smiles)))
    notes = check_molecule(mol)
    return mol, ((removed,) if removed else ()) + notes


def ionic_salt(mol: Chem.Mol) -> Chem.Mol:
    """An alkali or alkaline-earth salt written with covalent metal bonds, as ions.

    ``CC(=O)O[Na]`` becomes ``CC(=O)[O-].[Na+]`` (RDKit's MetalDisconnector), so
    :func:`main_component` can predict the organic ion. Molecules with any other metal, or a
    metal bonded to carbon (organolithium, Grignard reagents), are returned unchanged and
    refused later by :func:`check_molecule`.
    """
    metals = [a for a in mol.GetAtoms() if a.GetAtomicNum() in _METALS]
    if not metals or any(
        a.GetAtomicNum() not in _SALT_METALS or any(n.GetAtomicNum() == 6 for n in a.GetNeighbors())
        for a in metals
    ):
        return mol
    if all(a.GetDegree() == 0 for a in metals):
        return mol
    from rdkit.Chem.MolStandardize import rdMolStandardize

    return rdMolStandardize.MetalDisconnector().Disconnect(mol)


def parse_molecule_unchecked(smiles: str) -> Chem.Mol:
    """Parse a SMILES (same policy as :func:`parse_molecule`) without the model's checks."""
    from rdkit import Chem, RDLogger

    if not isinstance(smiles, str):
        raise TypeError(f"expected a SMILES string, got {type(smiles).__name__}")
    text = smiles.strip()
    if not text:
        raise ChemistryError("empty SMILES")
    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(text)
    if mol is None:
        raw = Chem.MolFromSmiles(text, sanitize=False)
        what = "cannot be sanitized" if raw is not None else "cannot be parsed"
        raise ChemistryError(f"SMILES {text!r} {what}")
    return mol


def main_component(mol: Chem.Mol) -> tuple[Chem.Mol, str | None]:
    """The component of a salt or mixture to predict, and a note naming what was removed.

    Keeps the largest organic fragment (most carbons, then most heavy atoms); counter-ions
    (``[Na+]``, ``[Cl-]``, ``OS(=O)(=O)O``…), crystal solvent and other fragments are
    dropped. A single-component molecule is returned unchanged with no note.
    """
    from rdkit import Chem

    fragments = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=True)
    if len(fragments) == 1:
        return mol, None

    def size(fragment: Chem.Mol) -> tuple[int, int]:
        carbons = sum(1 for a in fragment.GetAtoms() if a.GetAtomicNum() == 6)
        return carbons, fragment.GetNumAtoms()

    order = sorted(range(len(fragments)), key=lambda i: size(fragments[i]), reverse=True)
    kept = fragments[order[0]]
    removed = sorted(Chem.MolToSmiles(fragments[i]) for i in order[1:])
    return kept, (
        f"predicted the largest organic component {Chem.MolToSmiles(kept)}; "
        f"removed {', '.join(removed)}"
    )


def check_molecule(mol: Chem.Mol) -> tuple[str, ...]:
    """Raise :class:`ChemistryError` when ``mol`` cannot be predicted; else return notes.

    Refused: no atoms, more than :data:`MAX_HEAVY_ATOMS` heavy atoms, radicals, and metals
    (alkali, alkaline-earth, transition metals, lanthanides: their coordination compounds are
    outside what a graph of covalent bonds describes). Main-group elements outside
    :data:`SUPPORTED_ELEMENTS` (Ge, As, Sn, Te…) go through the "other element" features
    with one note per element, since the training data holds few of them.
    """
    n_atoms = mol.GetNumAtoms()
    if n_atoms == 0:
        raise ChemistryError("molecule has no heavy atoms")
    if n_atoms > MAX_HEAVY_ATOMS:
        raise ChemistryError(f"{n_atoms} heavy atoms; the limit is {MAX_HEAVY_ATOMS}")
    others: dict[str, int] = {}
    for atom in mol.GetAtoms():
        z = atom.GetAtomicNum()
        if z in _METALS:
            raise ChemistryError(
                f"metal {atom.GetSymbol()} at atom {atom.GetIdx()}: organometallic and "
                "coordination compounds cannot be predicted"
            )
        if atom.GetNumRadicalElectrons():
            raise ChemistryError(
                f"radical at atom {atom.GetIdx()} ({atom.GetSymbol()}); radicals are not supported"
            )
        if z not in _SUPPORTED_Z and z != 1:
            others[atom.GetSymbol()] = others.get(atom.GetSymbol(), 0) + 1
    return tuple(
        f"{symbol} ({count} atom{'s' if count > 1 else ''}) is rare in the training data: "
        "shifts near it are less reliable"
        for symbol, count in sorted(others.items())
    )


def featurize(mol: Chem.Mol, solvent: int) -> MolGraph:
    """Featurize a checked molecule (see :func:`parse_molecule`) for solvent category ``solvent``."""
    from rdkit import Chem

    hyb = Chem.HybridizationType
    hyb_code = {hyb.S: 0, hyb.SP: 1, hyb.SP2: 2, hyb.SP3: 3}
    chiral = Chem.ChiralType
    chiral_code = {chiral.CHI_TETRAHEDRAL_CW: 1, chiral.CHI_TETRAHEDRAL_CCW: 2}
    codes = np.array(
        [
            (
                a.GetAtomicNum(),
                a.GetDegree(),
                a.GetTotalNumHs(),
                hyb_code.get(a.GetHybridization(), 4),
                a.GetIsAromatic(),
                a.GetFormalCharge(),
                chiral_code.get(a.GetChiralTag(), 0),
            )
            for a in mol.GetAtoms()
        ],
        dtype=np.int64,
    ).reshape(-1, 7)
    n = codes.shape[0]
    z, degree, n_h, hybrid, aromatic, charge, chirality = codes.T

    rings = mol.GetRingInfo().AtomRings()
    ring_member = np.zeros((n, len(_RING_SIZES)), dtype=np.float32)
    ring_count = np.zeros(n, dtype=np.int64)
    for ring in rings:
        idx = np.fromiter(ring, np.int64, len(ring))
        ring_count[idx] += 1
        if len(ring) <= _RING_SIZES[-1]:
            ring_member[idx, len(ring) - _RING_SIZES[0]] = 1.0

    smallest = np.zeros(n, dtype=np.int64)
    ring_hetero = np.zeros(n, dtype=np.float32)
    aromatic_ring = np.zeros((n, 2), dtype=np.float32)
    for ring in sorted(rings, key=len):
        idx = np.fromiter(ring, np.int64, len(ring))
        fresh = idx[smallest[idx] == 0]
        smallest[fresh] = len(ring)
        ring_hetero[fresh] = float(np.count_nonzero(z[idx] != 6))
        if aromatic[idx].all() and len(ring) in (5, 6):
            aromatic_ring[idx, len(ring) - 5] = 1.0

    bond_codes = np.array(
        [
            (
                b.GetBeginAtomIdx(),
                b.GetEndAtomIdx(),
                _bond_type_code(b.GetBondTypeAsDouble()),
                b.GetIsConjugated(),
                b.IsInRing(),
                _stereo_code(int(b.GetStereo())),
            )
            for b in mol.GetBonds()
        ],
        dtype=np.int64,
    ).reshape(-1, 6)
    src = np.concatenate([bond_codes[:, 0], bond_codes[:, 1]])
    dst = np.concatenate([bond_codes[:, 1], bond_codes[:, 0]])
    neighbour_counts = np.zeros((n, 6), dtype=np.float32)
    np.add.at(neighbour_counts, (dst, _NEIGHBOUR_CLASS[z[src]]), 1.0)
    h_neighbours = np.zeros(n, dtype=np.float32)
    np.add.at(h_neighbours, dst, (n_h[src] > 0).astype(np.float32))

    neighbour_hybrid = np.zeros((n, 4), dtype=np.float32)
    sp_any = (hybrid[src] >= 1) & (hybrid[src] <= 3)  # sp, sp2, sp3 → columns 0-2
    np.add.at(neighbour_hybrid, (dst[sp_any], hybrid[src][sp_any] - 1), 1.0)
    np.add.at(neighbour_hybrid, (dst, np.full(src.shape, 3)), aromatic[src].astype(np.float32))
    conjugated = np.zeros(n, dtype=np.float32)
    conjugated[src[np.concatenate([bond_codes[:, 3], bond_codes[:, 3]]) > 0]] = 1.0
    electronegativity = _ELECTRONEGATIVITY[z]
    neighbour_en = np.zeros(n, dtype=np.float32)
    np.add.at(neighbour_en, dst, electronegativity[src])
    neighbour_en /= np.maximum(degree, 1)

    eye = np.eye
    atom_features = np.concatenate(
        [
            eye(_N_ELEMENTS, dtype=np.float32)[_ELEMENT_CODE[z]],
            eye(6, dtype=np.float32)[np.minimum(degree, 5)],
            eye(5, dtype=np.float32)[np.minimum(n_h, 4)],
            eye(5, dtype=np.float32)[hybrid],
            aromatic[:, None].astype(np.float32),
            (ring_count > 0)[:, None].astype(np.float32),
            ring_member,
            eye(4, dtype=np.float32)[np.minimum(ring_count, 3)],
            eye(3, dtype=np.float32)[np.clip(charge, -1, 1) + 1],
            eye(3, dtype=np.float32)[chirality],
            neighbour_counts / 4.0,
            (h_neighbours / 4.0)[:, None],
            # version 2
            neighbour_hybrid / 4.0,
            eye(7, dtype=np.float32)[np.where(smallest > 8, 0, np.maximum(smallest - 2, 0))],
            (ring_hetero / 3.0)[:, None],
            aromatic_ring,
            conjugated[:, None],
            _gasteiger(mol)[:, None],
            ((electronegativity - 2.5) / 1.0)[:, None],
            ((neighbour_en - 2.5) / 1.0)[:, None],
            eye(4, dtype=np.float32)[np.clip(_PERIOD[z] - 2, 0, 3)],
            (charge.astype(np.float32) / 2.0)[:, None],
        ],
        axis=1,
    )
    bond_half = np.concatenate(
        [
            eye(4, dtype=np.float32)[bond_codes[:, 2]],
            bond_codes[:, 3:5].astype(np.float32),
            eye(4, dtype=np.float32)[bond_codes[:, 5]],
        ],
        axis=1,
    )
    return MolGraph(
        atom_features=atom_features,
        edge_index=np.stack([src, dst]),
        edge_features=np.concatenate([bond_half, bond_half]),
        atomic_numbers=z.copy(),
        n_h=n_h.copy(),
        solvent=solvent,
    )


def _gasteiger(mol: Chem.Mol) -> np.ndarray:
    """Gasteiger partial charges (clipped to ±1; 0 where RDKit has no parameters)."""
    from rdkit import Chem
    from rdkit.Chem import rdPartialCharges

    copy = Chem.Mol(mol)
    rdPartialCharges.ComputeGasteigerCharges(copy, throwOnParamFailure=False)
    values = np.array(
        [a.GetDoubleProp("_GasteigerCharge") for a in copy.GetAtoms()], dtype=np.float32
    )
    return np.clip(np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)


def _bond_type_code(order: float) -> int:
    return {1.0: 0, 2.0: 1, 3.0: 2, 1.5: 3}.get(order, 0)


def _stereo_code(stereo: int) -> int:
    # RDKit BondStereo: 0 NONE, 1 ANY, 2 Z, 3 E, 4 CIS, 5 TRANS.
    return {0: 0, 2: 1, 4: 1, 3: 2, 5: 2}.get(stereo, 3)
