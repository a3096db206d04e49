"""Train/valid/test splits that keep related molecules together.

Both schemes are grouped: every molecule of a group lands in the same split.

* **scaffold**: groups join molecules that share a Bemis–Murcko scaffold *or* an InChIKey
  connectivity block (union of both relations, so neither a scaffold nor a stereoisomer is
  ever in two splits). Acyclic molecules (scaffold ``""``) have no scaffold to leak and are
  grouped by connectivity block only, so each split holds some. Balanced as in chemprop:
  groups larger than half a valid/test share go first (to train, in seeded order), then the
  rest in seeded random order; each group goes to train while it fits, then valid, then test.
* **random**: groups are connectivity blocks, in seeded random order, filled the same way.

No validation/test molecule may be in any training set (experimental or simulated):
:func:`check_no_leakage` raises :class:`~nmrpeak_cli.errors.LeakageError` otherwise, comparing
molecules by their stereo-free InChIKey block (:func:`molecule_keys`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from nmrpeak_cli import chem
from nmrpeak_cli.errors import LeakageError, NmrpeakError

SPLITS: tuple[str, ...] = ("train", "valid", "test")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(
            f"split fractions must be three non-negative numbers summing to 1 (train, valid, "
            f"test), got {tuple(fractions)}"
        )
    return (float(fractions[0]), float(fractions[1]), float(fractions[2]))


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def linked_groups(*keys: Sequence[str | None]) -> list[list[int]]:
    """Connected components of items linked by equal keys (``None`` and ``""`` link nothing).

    Parameters
    ----------
    *keys
        One or more key sequences, all as long as the number of items; two items are linked
        when any of the sequences gives them the same non-empty key.

    Returns
    -------
    list of list of int
        Item indices per group, each ascending, groups ordered by their first item.
    """
    sizes = {len(k) for k in keys}
    if len(sizes) > 1:
        raise ValueError(f"key sequences must have equal lengths, got {sorted(sizes)}")
    n = sizes.pop() if sizes else 0
    parent = list(range(n))
    for sequence in keys:
        first: dict[str, int] = {}
        for i, key in enumerate(sequence):
            if not key:
                continue
            if key in first:
                a, b = _find(parent, first[key]), _find(parent, i)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                first[key] = i
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(_find(parent, i), []).append(i)
    return [groups[root] for root in sorted(groups)]


def _fill(
    groups: Sequence[Sequence[int]], n: int, fractions: tuple[float, float, float]
) -> list[str]:
    n_train, n_valid = fractions[0] * n, fractions[1] * n
    labels = [""] * n
    counts = [0, 0]
    for group in groups:
        if counts[0] + len(group) <= n_train:
            split, counts[0] = "train", counts[0] + len(group)
        elif counts[1] + len(group) <= n_valid:
            split, counts[1] = "valid", counts[1] + len(group)
        else:
            split = "test"
        for i in group:
            labels[i] = split
    return labels


def scaffold_split(
    connectivity: Sequence[str],
    scaffolds: Sequence[str],
    seed: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> list[str]:
    """Balanced Bemis–Murcko scaffold split (see the module docstring).

    Parameters
    ----------
    connectivity
        InChIKey first block per molecule.
    scaffolds
        Murcko scaffold SMILES per molecule, ``""`` when acyclic.
    seed
        Seed of the group shuffle.
    fractions
        Train, valid, test shares.

    Returns
    -------
    list of str
        ``"train"``, ``"valid"`` or ``"test"`` per molecule.
    """
    shares = _check_fractions(fractions)
    groups = linked_groups(connectivity, scaffolds)
    n = len(connectivity)
    big_limit = min(shares[1], shares[2]) * n / 2
    big = [g for g in groups if len(g) > big_limit]
    small = [g for g in groups if len(g) <= big_limit]
    rng = np.random.default_rng(seed)
    ordered = [big[i] for i in rng.permutation(len(big))]
    ordered += [small[i] for i in rng.permutation(len(small))]
    return _fill(ordered, n, shares)


def random_split(
    connectivity: Sequence[str], seed: int, fractions: Sequence[float] = DEFAULT_FRACTIONS
) -> list[str]:
    """Random split by InChIKey connectivity block (stereoisomers stay together)."""
    shares = _check_fractions(fractions)
    groups = linked_groups(connectivity)
    rng = np.random.default_rng(seed)
    return _fill([groups[i] for i in rng.permutation(len(groups))], len(connectivity), shares)


def keys_in_several_splits(labels: Sequence[str], keys: Sequence[str | None]) -> list[str]:
    """Keys (connectivity blocks, scaffolds) found in more than one split; empty keys ignored."""
    seen: dict[str, set[str]] = {}
    for label, key in zip(labels, keys, strict=True):
        if key:
            seen.setdefault(key, set()).add(label)
    return sorted(key for key, splits in seen.items() if len(splits) > 1)


def _connectivity(smiles: str) -> str | None:
    mol = chem.try_parse_smiles(smiles)
    if mol is None:
        return None
    try:
        return chem.connectivity_key(chem.inchikey(mol))
    except NmrpeakError:
        return None


def molecule_keys(smiles: Iterable[str], jobs: int = 1) -> set[str]:
    """First InChIKey blocks (stereo-free) of the molecules RDKit can read."""
    from nmrpeak_cli.batch import parallel_map

    keys = parallel_map(_connectivity, smiles, jobs=jobs, chunk_size=512)
    return {k for k in keys if k is not None}


def check_no_leakage(training: Iterable[str], held_out: Iterable[str], jobs: int = 1) -> None:
    """Raise :class:`LeakageError` if a held-out molecule (any stereoisomer) is in ``training``."""
    overlap = molecule_keys(training, jobs) & molecule_keys(held_out, jobs)
    if overlap:
        example = sorted(overlap)[:3]
        raise LeakageError(
            f"{len(overlap)} validation/test molecules are in the training set "
            f"(InChIKey first blocks {example}); rebuild the splits or filter the corpus"
        )
