"""Beam search, sampling and candidate filtering."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from nmrpeak_cli import chem
from nmrpeak_cli.generate.decode import (
    Hypothesis,
    SyntaxState,
    beam_search,
    candidates_from_hypotheses,
    decode,
    element_counts,
    heavy_atom_budget,
    hypothesis_filter,
    sample,
    token_element,
)
from nmrpeak_cli.tokenizer import EOS, SmilesTokenizer, smiles_tokens

TOKENIZER = SmilesTokenizer.fit(["CCO", "OCC", "CC=O", "C1CC", "C[C@H](N)C(=O)O"])


def _hyp(smiles: str, logprob: float) -> Hypothesis:
    return Hypothesis(tuple(TOKENIZER.encode(smiles)[1:-1]), logprob)


def test_beam_search_returns_memorized_molecules_first(tiny_generator, tiny_pairs) -> None:
    pairs = tiny_pairs
    sources = [tiny_generator.spectrum_tokenizer.encode(p.spectrum) for p in pairs]
    results = beam_search(tiny_generator, sources, beam=4)
    assert len(results) == len(pairs), "one hypothesis list per query"
    for pair, hyps in zip(pairs, results, strict=True):
        assert 0 < len(hyps) <= 4, f"{pair.smiles}: expected 1..4 hypotheses, got {len(hyps)}"
        scores = [h.logprob_per_token for h in hyps]
        assert scores == sorted(scores, reverse=True), "hypotheses must be best first"
        top = tiny_generator.smiles_tokenizer.decode(hyps[0].ids)
        assert top == pair.smiles, f"memorized {pair.smiles!r} should be top-1, got {top!r}"


@pytest.mark.parametrize(
    ("token", "element"),
    [("C", "C"), ("c", "C"), ("Cl", "Cl"), ("[nH]", "N"), ("[C@@H]", "C"), ("[O-]", "O"),
     ("[se]", "Se"), ("[13CH3]", "C"), ("[NH3+]", "N"), ("[2H]", None), ("[H]", None),
     ("(", None), ("=", None), ("%12", None), ("1", None)],
)  # fmt: skip
def test_token_element(token: str, element: str | None) -> None:
    assert token_element(token) == element


def test_heavy_atom_budget_counts_heavy_atoms_and_flags_unwritable_elements() -> None:
    elements, table = element_counts(TOKENIZER)
    assert elements == ("C", "N", "O")
    assert table[TOKENIZER.vocab.index("[C@H]")].tolist() == [1, 0, 0]
    assert table[TOKENIZER.vocab.index("(")].sum() == 0
    budget = heavy_atom_budget(["C3H7NO2", None, "C2H5Br"], elements)
    assert budget[0].tolist() == [3, 1, 2, 0]
    assert np.isinf(budget[1]).all(), "no formula, no constraint"
    assert budget[2].tolist() == [2, 0, 0, 1], "Br cannot be written: the last column holds it"


def test_formula_constrained_beam_writes_exactly_the_heavy_atoms(
    tiny_generator, tiny_pairs
) -> None:
    sources = [tiny_generator.spectrum_tokenizer.encode(p.spectrum) for p in tiny_pairs]
    # ethanol's spectrum with acetone's formula, an unwritable formula, and no formula
    formulas = ["C3H6O", "C2H5Br", None, *[None] * (len(sources) - 3)]
    results = beam_search(tiny_generator, sources, beam=6, formulas=formulas)
    tokenizer = tiny_generator.smiles_tokenizer
    assert results[0], "acetone's heavy atoms can be written"
    for hyp in results[0]:
        counts = Counter(
            e for t in smiles_tokens(tokenizer.decode(hyp.ids)) if (e := token_element(t))
        )
        assert counts == {"C": 3, "O": 1}, tokenizer.decode(hyp.ids)
    assert results[1] == [], "a formula the vocabulary cannot write leaves no hypothesis"
    unconstrained = beam_search(tiny_generator, sources, beam=6)
    assert results[2] == unconstrained[2], "queries without a formula decode as before"
    with pytest.raises(ValueError, match="formulas"):
        beam_search(tiny_generator, sources, beam=2, formulas=["C2H6O"])


def _heavy_atoms(tokenizer: SmilesTokenizer, ids) -> Counter:
    return Counter(e for t in smiles_tokens(tokenizer.decode(ids)) if (e := token_element(t)))


def test_formula_constrained_sampling_writes_exactly_the_heavy_atoms(
    tiny_generator, tiny_pairs
) -> None:
    sources = [tiny_generator.spectrum_tokenizer.encode(p.spectrum) for p in tiny_pairs[:3]]
    formulas = ["C3H6O", "C2H5Br", None]
    drawn = sample(
        tiny_generator, sources, n_samples=12, temperature=2.0, formulas=formulas, seed=3
    )
    tokenizer = tiny_generator.smiles_tokenizer
    assert drawn[0], "hot sampling under acetone's formula still finishes some draws"
    for hyp in drawn[0]:
        assert _heavy_atoms(tokenizer, hyp.ids) == {"C": 3, "O": 1}, tokenizer.decode(hyp.ids)
    assert drawn[1] == [], "no draw can finish a formula the vocabulary cannot write"
    free = sample(tiny_generator, sources, n_samples=12, temperature=2.0, seed=3)
    strays = [h for h in free[0] if _heavy_atoms(tokenizer, h.ids) != {"C": 3, "O": 1}]
    assert strays, "without the formula, hot draws stray from its composition"


def test_decode_pools_sampled_hypotheses_with_the_beam(tiny_generator, tiny_pairs) -> None:
    sources = [tiny_generator.spectrum_tokenizer.encode(p.spectrum) for p in tiny_pairs[:2]]
    beams = beam_search(tiny_generator, sources, beam=2)
    assert decode(tiny_generator, sources, beam=2) == beams, "no samples: the beam alone"
    pooled = decode(tiny_generator, sources, beam=2, samples=6, temperature=2.0, seed=1)
    drawn = sample(tiny_generator, sources, n_samples=6, temperature=2.0, seed=1)
    assert all(beams) and any(drawn), "hypotheses to pool"
    for b, d, p in zip(beams, drawn, pooled, strict=True):
        assert len(p) == len(b) + len(d)
        assert set(p) == set(b) | set(d)
        scores = [h.logprob_per_token for h in p]
        assert scores == sorted(scores, reverse=True), "pooled hypotheses are best first"


def _allowed_after(prefix: str, exhausted: bool = False) -> set[str]:
    """Tokens (``<eos>`` included) the grammar allows after ``prefix``."""
    import torch

    state = SyntaxState(TOKENIZER, 1, "cpu")
    for token in smiles_tokens(prefix):
        state.advance(torch.tensor([0]), torch.tensor([TOKENIZER.vocab.index(token)]))
    logp = torch.zeros(1, len(TOKENIZER))
    state.mask(logp, torch.tensor([exhausted]))
    names = [*TOKENIZER.vocab[:EOS], "<eos>", *TOKENIZER.vocab[EOS + 1 :]]
    return {names[i] for i in torch.isfinite(logp[0]).nonzero().flatten().tolist()} - {"<pad>"}


@pytest.mark.parametrize(
    ("prefix", "allowed"),
    [
        ("", {"C", "N", "O", "[C@H]"}),  # a SMILES starts with an atom
        ("C(", {"C", "N", "O", "[C@H]", "="}),  # a branch opens on an atom or bond
        ("C(=", {"C", "N", "O", "[C@H]"}),  # ... and a bond there leads to an atom
        ("C=", {"C", "N", "O", "[C@H]", "1"}),  # after a bond: an atom or a ring label
        ("C1", {"C", "N", "O", "[C@H]", "=", "("}),  # ring open: no <eos>, no closing at once
        ("C1C", {"C", "N", "O", "[C@H]", "=", "(", "1"}),
        ("C1CC1", {"C", "N", "O", "[C@H]", "=", "(", "1", "<eos>"}),
        ("C(C", {"C", "N", "O", "[C@H]", "=", "(", ")", "1"}),  # inside a branch: ")", no <eos>
        ("C(C)", {"C", "N", "O", "[C@H]", "=", "(", "<eos>"}),  # no ring label after ")"
    ],
)
def test_syntax_state_allows_only_smiles_grammar(prefix: str, allowed: set[str]) -> None:
    assert _allowed_after(prefix) == allowed


def test_no_new_ring_once_the_formula_is_spent() -> None:
    assert "1" in _allowed_after("CC") and "1" not in _allowed_after("CC", exhausted=True)
    assert "1" in _allowed_after("C1CC", exhausted=True), "closing an open ring is still allowed"


def test_beam_and_sampled_hypotheses_always_parse(tiny_generator, tiny_pairs) -> None:
    from rdkit import Chem

    sources = [tiny_generator.spectrum_tokenizer.encode(p.spectrum) for p in tiny_pairs]
    beams = beam_search(tiny_generator, sources, beam=8, max_len=12)
    samples = sample(tiny_generator, sources, n_samples=8, temperature=3.0, max_len=12)
    checked = 0
    for hyps in [*beams, *samples]:
        for hyp in hyps:
            smiles = tiny_generator.smiles_tokenizer.decode(hyp.ids)
            assert Chem.MolFromSmiles(smiles, sanitize=False) is not None, smiles
            checked += 1
    assert all(beams), "every query has beam hypotheses"
    assert checked > len(beams), f"only {checked} hypotheses checked"


def test_hypothesis_filter_keeps_new_valid_molecules_of_the_formula() -> None:
    def ids(smiles: str) -> list[int]:
        return TOKENIZER.encode(smiles)[1:-1]

    accept = hypothesis_filter(TOKENIZER, ["C2H6O", None])
    assert not accept(0, ids("C1CC")), "an unclosed ring is not a molecule"
    assert not accept(0, ids("CC=O")), "C2H4O is not the query's C2H6O"
    assert accept(0, ids("CCO"))
    assert not accept(0, ids("OCC")), "the same molecule again"
    assert accept(1, ids("OCC")), "each query has its own record"
    assert accept(1, ids("CC=O")), "no formula, no formula test"
    loose = hypothesis_filter(TOKENIZER, ["C2H6O"], match_formula=False)
    assert loose(0, ids("CC=O")), "match_formula=False leaves the formula to the caller"


def test_rejected_hypotheses_free_their_beam_slot(tiny_generator, tiny_pairs) -> None:
    sources = [tiny_generator.spectrum_tokenizer.encode(p.spectrum) for p in tiny_pairs[:1]]
    tokenizer = tiny_generator.smiles_tokenizer
    plain = beam_search(tiny_generator, sources, beam=3)[0]
    best = tokenizer.decode(plain[0].ids)
    refused = beam_search(
        tiny_generator, sources, beam=3, accept=lambda q, ids: tokenizer.decode(ids) != best
    )[0]
    decoded = [tokenizer.decode(h.ids) for h in refused]
    assert best not in decoded, decoded
    assert len(refused) == 3, f"the freed slot is refilled from live hypotheses: {decoded}"


def test_candidates_are_unique_valid_canonical_and_limited(tiny_generator, tiny_pairs) -> None:
    pairs = tiny_pairs
    sources = [tiny_generator.spectrum_tokenizer.encode(p.spectrum) for p in pairs]
    for hyps in beam_search(tiny_generator, sources, beam=8):
        candidates = candidates_from_hypotheses(
            hyps, tiny_generator.smiles_tokenizer, formula_policy="ignore", limit=5
        )
        assert 0 < len(candidates) <= 5, "the memorized molecule at least; limit caps the rest"
        smiles = [c.smiles for c in candidates]
        assert len(set(smiles)) == len(smiles), f"duplicates in {smiles}"
        for c in candidates:
            mol = chem.parse_smiles(c.smiles)
            assert chem.canonical_smiles(mol) == c.smiles, f"{c.smiles} is not canonical"


def test_duplicates_and_invalid_sequences_are_dropped() -> None:
    hyps = [_hyp("OCC", -1.0), _hyp("CCO", -2.0), _hyp("C1CC", -0.5)]
    candidates = candidates_from_hypotheses(hyps, TOKENIZER)
    assert [c.smiles for c in candidates] == ["CCO"], (
        "OCC and CCO are one molecule; C1CC is invalid"
    )
    assert candidates[0].logprob == pytest.approx(-1.0 / 4), "the better spelling's score is kept"


def test_formula_constraint_rejects_penalizes_or_ignores() -> None:
    hyps = [_hyp("CC=O", -0.1), _hyp("CCO", -1.0)]
    rejected = candidates_from_hypotheses(hyps, TOKENIZER, formula="C2H6O")
    assert [c.smiles for c in rejected] == ["CCO"], "a C2H4O candidate must be rejected"
    assert rejected[0].formula_match is True
    penalized = candidates_from_hypotheses(
        hyps, TOKENIZER, formula="C2H6O", formula_policy="penalize"
    )
    assert [c.smiles for c in penalized] == ["CCO", "CC=O"], "the mismatch must drop below"
    assert penalized[1].formula_match is False
    ignored = candidates_from_hypotheses(hyps, TOKENIZER, formula_policy="ignore")
    assert ignored[0].formula_match is None, "no query formula: formula_match is None"
    with pytest.raises(ValueError, match="formula_policy"):
        candidates_from_hypotheses(hyps, TOKENIZER, formula_policy="maybe")


def test_stereo_is_kept() -> None:
    candidates = candidates_from_hypotheses([_hyp("C[C@H](N)C(=O)O", -0.1)], TOKENIZER)
    assert "@" in candidates[0].smiles, "isomeric SMILES must keep the stereocentre"


def test_sampling_is_seeded(tiny_generator, tiny_pairs) -> None:
    source = [tiny_generator.spectrum_tokenizer.encode(tiny_pairs[0].spectrum)]
    first = sample(tiny_generator, source, n_samples=5, seed=1)
    second = sample(tiny_generator, source, n_samples=5, seed=1)
    assert first == second, "the same seed must give the same samples"
    assert len(first[0]) <= 5
