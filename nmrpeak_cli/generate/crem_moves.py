"""CReM mutations for the structure search: a fragment database and the ``crem`` move.

CReM (Polishchuk, J. Cheminform. 2020; the ``crem`` package, BSD-3) replaces a fragment of a
molecule by fragments seen in the same chemical context (the atoms within ``radius`` bonds
of the attachment points) in a database of real molecules, so its children stay
"chemically reasonable". Here:

- :func:`build_crem_db` writes a CReM fragment database (SQLite) from training molecules:
  :func:`crem_db_molecules` picks a seeded sample of the TRAINING split of
  ``experimental.parquet`` plus a seeded sample of MOSES molecules, and proves with
  :func:`~nmrpeak_cli.data.splits.check_no_leakage` that no validation/test molecule (any
  stereoisomer) is among them; a JSON card beside the database records its sha256, sources,
  split and command (``nmrpeak data crem-db``);
- :func:`crem_move` is a :data:`~nmrpeak_cli.generate.moves.Move` that replaces a fragment
  of 1–:data:`MAX_REPLACED` heavy atoms by a database fragment of the same elements and
  hydrogen count (CReM's ``get_replacements(min_inc=0, max_inc=0)``, filtered by composition
  before any child is built, then ``get_mols_from_replacements``), so children keep the
  formula; the search checks it again before any prediction is spent (as for every move).

``crem`` is an optional dependency (``pip install nmrpeak-cli[crem]``): the move needs a
database that is built, not shipped, and is off unless ``SearchConfig.crem_db`` names one.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nmrpeak_cli.errors import InputFileError, NotAvailableError

if TYPE_CHECKING:
    from rdkit.Chem import Mol

RADIUS = 2
"""Context radius (bonds around the attachment points) stored in the database and matched
by the move."""
MAX_FRAGMENT_ATOMS = 10
"""Largest fragment (heavy atoms) stored in the database."""
MAX_MOLECULE_ATOMS = 25
"""Molecules with more heavy atoms are not fragmented (the cost of CReM's 4-cut
fragmentation grows combinatorially with size)."""
MAX_REPLACED = 8
"""Largest fragment (heavy atoms) the move replaces."""
SET_NAME = "train"
"""Name of the database's one fragment set."""


def _require_crem() -> None:
    try:
        import crem  # noqa: F401
    except ImportError:
        raise NotAvailableError(
            "CReM mutations need the crem package: pip install 'nmrpeak-cli[crem]'"
        ) from None


def card_path(database: Path) -> Path:
    """The JSON card beside a database (``crem.db`` → ``crem.json``)."""
    return Path(database).with_suffix(".json")


def check_crem_db(database: Path, radius: int = RADIUS) -> None:
    """Raise :class:`InputFileError` naming ``database`` when it is missing, corrupt, not a
    CReM fragment database with a ``radius`` table, or not the file its card describes."""
    from nmrpeak_cli.paths import file_sha256

    database = Path(database)
    if not database.is_file():
        raise InputFileError(
            f"CReM fragment database {database} does not exist "
            "(build it with `nmrpeak data crem-db`)"
        )
    try:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
            connection.execute(f"SELECT COUNT(*) FROM radius{radius} LIMIT 1").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise InputFileError(
            f"{database} is corrupt or not a CReM fragment database with radius {radius} "
            f"({exc}); rebuild it with `nmrpeak data crem-db`"
        ) from None
    if f"radius{radius}" not in tables:
        raise InputFileError(f"{database} has no radius {radius} table (tables: {sorted(tables)})")
    card = card_path(database)
    if card.is_file():
        try:
            expected = json.loads(card.read_text()).get("sha256")
        except (OSError, ValueError) as exc:
            raise InputFileError(f"card {card} of {database} is unreadable: {exc}") from None
        if expected and file_sha256(database) != expected:
            raise InputFileError(
                f"{database} is corrupt or does not belong to its card {card} (sha256 differs)"
            )


@functools.lru_cache(maxsize=100_000)
def _composition(core: str) -> tuple[tuple[str, int], ...]:
    """Element and hydrogen counts of a CReM core SMILES (attachment points ``*`` left out;
    empty when RDKit cannot read it)."""
    from collections import Counter

    from rdkit import Chem

    mol = Chem.MolFromSmiles(core)
    if mol is None:
        return ()
    counts: Counter[str] = Counter()
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() > 0:
            counts[atom.GetSymbol()] += 1
            counts["H"] += atom.GetTotalNumHs()
    return tuple(sorted(counts.items()))


def _mutate(
    mol: Mol, *, database: str, radius: int, max_size: int, max_replacements: int | None
) -> Iterator[str]:
    """Children of ``mol``: one fragment replaced by a database fragment of the same elements
    and hydrogen count (so the child keeps the formula; the search checks it again).

    Replacements of another composition are dropped before any child is built (building
    children is most of CReM's cost, and ~95 % of same-size replacements change the formula).
    """
    from crem.crem import get_mols_from_replacements, get_replacements
    from rdkit import rdBase

    from nmrpeak_cli import chem

    with rdBase.BlockLogs():
        try:
            found = get_replacements(
                mol, database, radius, min_size=1, max_size=max_size, min_inc=0, max_inc=0,
                max_replacements=max_replacements, return_frag_smi_only=False, seed=0,
            )  # fmt: skip
            replacements = [
                r for r in found if r[0] != r[1] and _composition(r[0]) == _composition(r[1])
            ]
            children = set(get_mols_from_replacements(mol, radius, replacements))
        except (ValueError, RuntimeError, KeyError, IndexError):  # odd molecules: no children
            return
        for smiles in sorted(children):
            child = chem.try_parse_smiles(smiles)
            if child is not None and "." not in smiles:
                yield chem.canonical_smiles(child)


@functools.cache
def crem_move(
    database: Path,
    radius: int = RADIUS,
    max_size: int = MAX_REPLACED,
    max_replacements: int | None = None,
) -> Callable[[Mol], Iterator[str]]:
    """The ``crem`` move on ``database`` (checked once per process; see :func:`check_crem_db`).

    Parameters
    ----------
    database
        CReM fragment database (``nmrpeak data crem-db``).
    radius
        Context radius to match (the database must hold it).
    max_size
        Largest fragment replaced (heavy atoms).
    max_replacements
        Children drawn per parent (seeded) when more are possible (``None``: all).
    """
    _require_crem()
    check_crem_db(database, radius)
    return functools.partial(
        _mutate, database=str(database), radius=radius, max_size=max_size,
        max_replacements=max_replacements,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class CremMolecules:
    """Molecules of a CReM database and the held-out molecules they must not contain."""

    train: list[str]
    """Sampled training-split SMILES of ``experimental.parquet``."""
    moses: list[str]
    """Sampled MOSES SMILES (held-out molecules removed)."""
    held_out: list[str]
    """Validation and test SMILES of the split (never in the database)."""
    sources: list[dict[str, Any]]
    """What was read: path, sha256, rows, molecules kept."""


def _sample(smiles: Sequence[str], n: int, seed: int) -> list[str]:
    import numpy as np

    unique = sorted(set(smiles))
    if n >= len(unique):
        return unique
    rng = np.random.default_rng(seed)
    return [unique[i] for i in sorted(rng.choice(len(unique), size=n, replace=False))]


def crem_db_molecules(
    data: Path,
    split: str,
    n_train: int,
    n_moses: int,
    seed: int = 0,
    max_atoms: int = MAX_MOLECULE_ATOMS,
    moses: Path | None = None,
) -> CremMolecules:
    """Seeded samples of training molecules (``split_<split> == "train"``) and MOSES molecules
    of at most ``max_atoms`` heavy atoms.

    MOSES comes from ``moses`` or ``DATA/simulated_molecules.parquet`` when it exists, else
    the ``molsets`` wheel's table (:func:`~nmrpeak_cli.data.library_input.moses_source`);
    sampled MOSES molecules that are held-out molecules (first InChIKey block, the MOSES
    loader's :func:`~nmrpeak_cli.data.moses.exclude_leaks`) are dropped.
    """
    import pyarrow.parquet as pq

    from nmrpeak_cli import chem
    from nmrpeak_cli.data.splits import molecule_keys
    from nmrpeak_cli.paths import file_sha256

    experimental = Path(data) / "experimental.parquet"
    column = f"split_{split}"
    try:
        table = pq.read_table(experimental, columns=["smiles", "n_heavy", column])
    except (OSError, ValueError, KeyError) as exc:
        raise InputFileError(f"cannot read {experimental} (column {column}): {exc}") from None
    smiles = table.column("smiles").to_pylist()
    labels = table.column(column).to_pylist()
    heavy = table.column("n_heavy").to_pylist()
    train = [s for s, lab, n in zip(smiles, labels, heavy, strict=True)
             if lab == "train" and n <= max_atoms]  # fmt: skip
    held_out = [s for s, lab in zip(smiles, labels, strict=True) if lab in ("valid", "test")]
    sources: list[dict[str, Any]] = [
        {"path": str(experimental), "sha256": file_sha256(experimental),
         "split": f"{column} == train", "heavy atoms": f"<= {max_atoms}"},
    ]  # fmt: skip
    train = _sample(train, n_train, seed)
    sources[0]["molecules"] = len(train)
    pool: list[str] = []
    if n_moses > 0:
        from nmrpeak_cli.data.library_input import moses_source
        from nmrpeak_cli.data.moses import exclude_leaks

        table, source = moses_source(data, moses)
        banned = molecule_keys(held_out)
        allowed = set(exclude_leaks(table, banned).column("smiles").to_pylist())
        every = table.column("smiles").to_pylist()
        kept = []
        for s in _sample(every, min(len(every), 2 * n_moses), seed + 1):
            if s not in allowed:
                continue  # a held-out molecule (first InChIKey block)
            mol = chem.try_parse_smiles(s)
            if mol is not None and mol.GetNumHeavyAtoms() <= max_atoms:
                kept.append(s)
                if len(kept) == n_moses:
                    break
        source.update({"molecules": len(kept), "seed": seed + 1})
        sources.append(source)
        pool = kept
    return CremMolecules(train, pool, held_out, sources)


def build_crem_db(
    molecules: CremMolecules,
    out: Path,
    *,
    command: str,
    split: str,
    seed: int,
    radius: int = RADIUS,
    max_fragment_atoms: int = MAX_FRAGMENT_ATOMS,
    jobs: int = 1,
) -> dict[str, Any]:
    """Write the CReM database of ``molecules`` to ``out`` (atomically) and its card beside
    it; return the card.

    Raises :class:`~nmrpeak_cli.errors.LeakageError` (and writes nothing) when a held-out
    molecule is among the molecules.
    """
    import crem
    from crem.db import create_db
    from rdkit import rdBase

    from nmrpeak_cli.data.splits import check_no_leakage
    from nmrpeak_cli.paths import atomic_path, file_sha256, write_json_atomic

    _require_crem()
    smiles = list(dict.fromkeys([*molecules.train, *molecules.moses]))
    if not smiles:
        raise InputFileError("no training molecule to build a CReM database from")
    check_no_leakage(smiles, molecules.held_out, jobs=jobs)
    out = Path(out)
    with atomic_path(out) as temporary, rdBase.BlockLogs():
        temporary.unlink()  # CReM creates the SQLite file itself
        create_db(
            [f"{s} m{i}" for i, s in enumerate(smiles)], temporary, SET_NAME,
            radii=(radius,), ncpu=max(jobs, 1), max_heavy_atoms=max_fragment_atoms,
            mode=1, frag_mode="acyclic", verbose=False,
        )  # fmt: skip
        for extra in temporary.parent.glob(f"{temporary.name}?*"):  # journal, error log
            extra.unlink(missing_ok=True)
    card = {
        "kind": "crem fragment database",
        "sha256": file_sha256(out),
        "bytes": out.stat().st_size,
        "crem": crem.__version__,
        "radius": radius,
        "max fragment heavy atoms": max_fragment_atoms,
        "fragmentation": "acyclic single bonds, heavy atoms only (CReM mode 1)",
        "split": split,
        "seed": seed,
        "molecules": len(smiles),
        "sources": molecules.sources,
        "leakage check": f"no validation/test molecule of split_{split} (first InChIKey "
        f"block, {len(molecules.held_out)} held out) is in the database",
        "command": command,
    }
    write_json_atomic(card_path(out), card)
    return card


__all__ = [
    "MAX_FRAGMENT_ATOMS",
    "MAX_MOLECULE_ATOMS",
    "MAX_REPLACED",
    "RADIUS",
    "CremMolecules",
    "build_crem_db",
    "card_path",
    "check_crem_db",
    "crem_db_molecules",
    "crem_move",
]
