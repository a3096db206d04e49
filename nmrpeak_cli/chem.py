"""Chemistry helpers on RDKit: SMILES parsing, identifiers, formula, symmetry, scaffolds.

RDKit is a hard dependency but is imported inside the functions, so importing this module
(and ``nmrpeak --help``) stays fast. RDKit's own log messages are captured, never printed:
a failure raises :class:`~nmrpeak_cli.errors.ChemistryError` carrying RDKit's reason.

Parsing policy: a wrong *type* raises ``TypeError``; a SMILES that RDKit cannot read or
sanitize raises :class:`ChemistryError` (use :func:`try_parse_smiles` to get ``None``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from nmrpeak_cli.errors import ChemistryError

if TYPE_CHECKING:
    from rdkit.Chem import Mol

_INCHIKEY = re.compile(r"^[A-Z]{14}-[A-Z]{10}-[A-Z]$")


def _log_text(messages: str | list[str] | None) -> str:
    """RDKit's captured log as one line, without timestamps."""
    if not messages:
        return ""
    text = messages if isinstance(messages, str) else "\n".join(messages)
    lines = (re.sub(r"^\[\d\d:\d\d:\d\d\]\s*", "", line.strip()) for line in text.splitlines())
    return "; ".join(line for line in lines if line)


def parse_smiles(smiles: str) -> Mol:
    """Parse and sanitize a SMILES string into an RDKit molecule (implicit hydrogens).

    Parameters
    ----------
    smiles
        A SMILES string. Leading/trailing whitespace is ignored.

    Returns
    -------
    rdkit.Chem.Mol
        The sanitized molecule.

    Raises
    ------
    TypeError
        ``smiles`` is not a string.
    ChemistryError
        The SMILES is empty, has a syntax error, or fails sanitization (valence, aromaticity);
        the message quotes the SMILES and RDKit's reason.
    """
    if not isinstance(smiles, str):
        raise TypeError(f"expected a SMILES string, got {type(smiles).__name__}")
    from rdkit import Chem, rdBase

    text = smiles.strip()
    if not text:
        raise ChemistryError("empty SMILES; expected a molecule such as 'CCO'")
    with rdBase.BlockLogs(), rdBase.CaptureErrorLog() as capture:
        mol = Chem.MolFromSmiles(text)
    if mol is not None:
        if mol.GetNumAtoms() == 0:
            raise ChemistryError(f"SMILES {text!r} has no atoms")
        return mol
    with rdBase.BlockLogs():  # parse again without sanitizing to tell syntax from chemistry
        raw = Chem.MolFromSmiles(text, sanitize=False)
        if raw is None:
            reason = _log_text(capture.messages) or "syntax error"
            raise ChemistryError(f"unparseable SMILES {text!r}: {reason}")
        try:
            Chem.SanitizeMol(raw)
            reason = _log_text(capture.messages) or "unknown reason"
        except Exception as exc:  # RDKit raises several sanitization exception types
            reason = str(exc).strip() or type(exc).__name__
    raise ChemistryError(f"SMILES {text!r} fails sanitization: {reason}")


def try_parse_smiles(smiles: str) -> Mol | None:
    """Like :func:`parse_smiles` but return ``None`` for SMILES RDKit cannot read."""
    try:
        return parse_smiles(smiles)
    except ChemistryError:
        return None


def canonical_smiles(mol: Mol, isomeric: bool = True) -> str:
    """RDKit canonical SMILES (with stereo and isotopes unless ``isomeric=False``)."""
    from rdkit import Chem

    return Chem.MolToSmiles(mol, isomericSmiles=isomeric)


def inchikey(mol: Mol) -> str:
    """Standard InChIKey of ``mol``; raises :class:`ChemistryError` when InChI fails."""
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs(), rdBase.CaptureErrorLog() as capture:  # warnings blocked, errors kept
        key = Chem.MolToInchiKey(mol)
    if not key:
        reason = _log_text(capture.messages) or "no InChI generated"
        raise ChemistryError(f"no InChIKey for {canonical_smiles(mol)!r}: {reason}")
    return key


def connectivity_key(key: str) -> str:
    """First block of an InChIKey (the skeleton, without stereo and protonation).

    Raises :class:`ChemistryError` when ``key`` is not an InChIKey (``XXXXXXXXXXXXXX-XXXXXXXXXX-X``).
    """
    if not isinstance(key, str) or not _INCHIKEY.match(key):
        raise ChemistryError(
            f"expected an InChIKey like 'BSYNRYMUTXBXSQ-UHFFFAOYSA-N', got {key!r}"
        )
    return key[:14]


def formula(mol: Mol) -> str:
    """Molecular formula in Hill order (``C9H10O2``), charges appended as RDKit writes them."""
    from rdkit.Chem import rdMolDescriptors

    return rdMolDescriptors.CalcMolFormula(mol)


def heavy_atom_count(mol: Mol) -> int:
    """Number of non-hydrogen atoms."""
    return int(mol.GetNumHeavyAtoms())


def hydrogen_count(mol: Mol) -> int:
    """Number of hydrogen atoms, implicit and explicit."""
    explicit = sum(1 for atom in mol.GetAtoms() if atom.GetAtomicNum() == 1)
    return explicit + sum(atom.GetTotalNumHs() for atom in mol.GetAtoms())


def element_counts(mol: Mol) -> dict[str, int]:
    """Atom counts per element symbol, hydrogens included."""
    counts: dict[str, int] = {}
    for atom in mol.GetAtoms():
        counts[atom.GetSymbol()] = counts.get(atom.GetSymbol(), 0) + 1
    hydrogens = sum(atom.GetTotalNumHs() for atom in mol.GetAtoms())
    if hydrogens:
        counts["H"] = counts.get("H", 0) + hydrogens
    return counts


def symmetry_classes(mol: Mol) -> list[int]:
    """Topological symmetry class per atom (canonical ranks without tie breaking).

    Atoms with equal values are symmetry-equivalent (e.g. the four aromatic CH of p-xylene),
    so their shifts coincide and they give one peak.
    """
    from rdkit import Chem

    return [int(rank) for rank in Chem.CanonicalRankAtoms(mol, breakTies=False)]


def murcko_scaffold(mol: Mol) -> str:
    """Bemis–Murcko scaffold as canonical SMILES without stereo; ``""`` for acyclic molecules.

    Stereo is left out so that stereoisomers share a scaffold (the scaffold is a 2D notion,
    and splits must keep stereoisomers together).
    """
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    if mol.GetRingInfo().NumRings() == 0:
        return ""
    scaffold = MurckoScaffold.GetScaffoldForMol(mol)
    return Chem.MolToSmiles(scaffold, isomericSmiles=False)
