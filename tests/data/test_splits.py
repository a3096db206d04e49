"""Grouped scaffold and random splits: no leakage, balanced, deterministic; the leakage check."""

from __future__ import annotations

from collections import Counter

import pytest

from nmrpeak_cli.data.splits import (
    check_no_leakage,
    keys_in_several_splits,
    linked_groups,
    random_split,
    scaffold_split,
)
from nmrpeak_cli.errors import LeakageError


def _molecules(n_blocks: int = 500) -> tuple[list[str], list[str]]:
    """Connectivity blocks (every third one has two stereoisomers) and their scaffolds:
    acyclic for every 7th block, benzene (one huge group) for every 9th, else 97 others."""
    connectivity, scaffolds = [], []
    for block in range(n_blocks):
        if block % 7 == 0:
            scaffold = ""
        elif block % 9 == 0:
            scaffold = "c1ccccc1"
        else:
            scaffold = f"scaffold{block % 97}"
        for _ in range(2 if block % 3 == 0 else 1):
            connectivity.append(f"BLOCK{block:09d}")
            scaffolds.append(scaffold)
    return connectivity, scaffolds


def test_linked_groups_join_any_shared_key():
    groups = linked_groups(["a", "b", "c", "a", "d"], ["x", "y", "y", "", ""])
    assert groups == [[0, 3], [1, 2], [4]]
    assert linked_groups(["a", "", None]) == [[0], [1], [2]], "empty keys link nothing"
    with pytest.raises(ValueError, match="equal lengths"):
        linked_groups(["a"], ["a", "b"])


def test_scaffold_split_has_no_leaks_and_keeps_acyclic_molecules_everywhere():
    connectivity, scaffolds = _molecules()
    labels = scaffold_split(connectivity, scaffolds, seed=0)
    assert keys_in_several_splits(labels, connectivity) == [], "a stereoisomer leaked"
    assert keys_in_several_splits(labels, scaffolds) == [], "a scaffold leaked"
    counts = Counter(labels)
    assert abs(counts["train"] / len(labels) - 0.8) < 0.03, counts
    assert counts["valid"] > 0 and counts["test"] > 0, counts
    benzene = {label for label, s in zip(labels, scaffolds, strict=True) if s == "c1ccccc1"}
    assert benzene == {"train"}, "groups over half a valid/test share go to train"
    for split in ("train", "valid", "test"):
        acyclic = sum(
            1 for label, s in zip(labels, scaffolds, strict=True) if label == split and not s
        )
        assert acyclic > 0, f"acyclic molecules should reach {split}"


def test_random_split_groups_stereoisomers_and_is_seeded():
    connectivity, _ = _molecules()
    labels = random_split(connectivity, seed=1)
    assert keys_in_several_splits(labels, connectivity) == []
    counts = Counter(labels)
    assert abs(counts["valid"] / len(labels) - 0.1) < 0.02, counts
    assert random_split(connectivity, seed=1) == labels, "same seed, same split"
    assert random_split(connectivity, seed=2) != labels, "another seed, another split"


def test_scaffold_split_is_deterministic():
    connectivity, scaffolds = _molecules()
    first = scaffold_split(connectivity, scaffolds, seed=5)
    assert scaffold_split(list(connectivity), list(scaffolds), seed=5) == first
    assert scaffold_split(connectivity, scaffolds, seed=6) != first


@pytest.mark.parametrize("fractions", [(0.8, 0.1), (0.8, 0.3, 0.1), (1.2, -0.1, -0.1)])
def test_bad_fractions_are_rejected(fractions):
    with pytest.raises(ValueError, match="fractions"):
        random_split(["A", "B"], seed=0, fractions=fractions)


def test_keys_in_several_splits():
    assert keys_in_several_splits(["train", "test", "test"], ["a", "a", "b"]) == ["a"]
    assert keys_in_several_splits(["train", "test"], ["", ""]) == []


def test_leakage_is_refused_even_across_stereoisomers() -> None:
    check_no_leakage(["CCO"], ["CCCO"])
    with pytest.raises(LeakageError, match="1 validation/test molecules"):
        check_no_leakage(["C[C@H](N)C(=O)O", "CCO"], ["C[C@@H](N)C(=O)O"])
