"""Structure search with a fake forward model: shifts computed from each atom's surroundings."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from rdkit import Chem

from nmrpeak_cli.generate.search import (
    PredictionCache,
    SearchConfig,
    Seed,
    reseed,
    sequence_logprobs,
    structure_search,
)
from nmrpeak_cli.spectra import Peak, PeakList, Spectrum


def fake_spectrum(
    smiles: str, id: str = "q", formula: str | None = None, labels: bool = False
) -> Spectrum:
    """13C/1H lists from atom environments: every ring position around a heteroatom differs
    (``labels``: 13C peaks labelled with their carbon's attached-H count, as a DEPT would)."""
    mol = Chem.MolFromSmiles(smiles)
    c13, h1, counts, n_h = [], [], [], []
    for atom in mol.GetAtoms():
        if atom.GetSymbol() != "C":
            continue
        hetero = sum(n.GetSymbol() != "C" for n in atom.GetNeighbors())
        second = sum(
            nn.GetSymbol() != "C"
            for n in atom.GetNeighbors()
            for nn in n.GetNeighbors()
            if nn.GetIdx() != atom.GetIdx()
        )
        shift = 12 + 6 * atom.GetDegree() + 95 * atom.GetIsAromatic() + 30 * hetero + 7 * second
        c13.append(float(shift))
        n_h.append(atom.GetTotalNumHs() if labels else None)
        if atom.GetTotalNumHs():
            h1.append(0.9 + 5.5 * atom.GetIsAromatic() + 1.1 * hetero + 0.35 * second)
            counts.append(float(atom.GetTotalNumHs()))
    return Spectrum(
        id,
        c13=PeakList("13C", tuple(Peak(s, n_h=h) for s, h in zip(c13, n_h, strict=True))),
        h1=PeakList.from_shifts("1H", h1, counts) if h1 else None,
        formula=formula,
    )


class CountingPredictor:
    """The fake forward model, counting the molecules it was asked for."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, smiles: Sequence[str], solvent: str | None) -> list[Spectrum | None]:
        self.calls += len(smiles)
        return [fake_spectrum(s) if "Si" not in s else None for s in smiles]


TRUTH = "CCCc1ccncc1"  # 4-propylpyridine, C8H11N


def query(truth: str = TRUTH, formula: str | None = "C8H11N") -> Spectrum:
    return fake_spectrum(truth, formula=formula)


def key(smiles: str) -> str:
    return Chem.MolToInchiKey(Chem.MolFromSmiles(smiles))


def test_search_finds_the_positional_isomer_of_a_seed():
    result = structure_search(
        query(), ["CCCc1cccnc1"], predictor=CountingPredictor(), config=SearchConfig(budget=300)
    )
    best = result.candidates[0]
    assert best.inchikey == key(TRUTH), f"top-1 {best.smiles}, stopped: {result.stopped}"
    assert best.similarity == pytest.approx(1.0)
    assert best.source == "search" and best.move in {"walk", "swap"}
    assert best.similarity_c13 == pytest.approx(1.0) and best.similarity_h1 == pytest.approx(1.0)
    assert result.predictions <= 300 + SearchConfig().stereo * SearchConfig().stereo_limit
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores, reverse=True), "candidates must come best first"


class RecordingPredictor(CountingPredictor):
    """The fake forward model, remembering every SMILES it predicted."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __call__(self, smiles: Sequence[str], solvent: str | None) -> list[Spectrum | None]:
        self.seen.extend(smiles)
        return super().__call__(smiles, solvent)


ISOPROPYL = "CC(C)c1ccncc1"  # of the formula, but a CH and no CH2: DEPT rules it out


def test_attached_h_labels_rule_out_proposals_before_any_prediction():
    from nmrpeak_cli.generate.labels import labels_fit, query_label_counts

    labelled = fake_spectrum(TRUTH, formula="C8H11N", labels=True)
    wanted = query_label_counts(labelled)
    assert wanted == {0: 1, 1: 2, 2: 1, 3: 1}, "the two CH2 share a fake shift: one peak"
    seeds = [ISOPROPYL, "CCCc1cccnc1"]
    predictor = RecordingPredictor()
    found = structure_search(labelled, seeds, predictor=predictor, config=SearchConfig(budget=300))
    assert found.candidates[0].inchikey == key(TRUTH)
    assert found.rejected > 0
    assert Chem.CanonSmiles(ISOPROPYL) not in predictor.seen
    assert all(labels_fit(Chem.MolFromSmiles(s), wanted) for s in predictor.seen)
    assert all(labels_fit(Chem.MolFromSmiles(c.smiles), wanted) for c in found.candidates)
    # without labels the same search spends predictions on what the labels ruled out
    blind = RecordingPredictor()
    plain = structure_search(query(), seeds, predictor=blind, config=SearchConfig(budget=300))
    assert plain.rejected == 0 and Chem.CanonSmiles(ISOPROPYL) in blind.seen


def test_labels_are_ignored_when_switched_off_or_contradicting_the_formula():
    from dataclasses import replace

    from nmrpeak_cli.similarity import DEFAULT_PARAMS

    labelled = fake_spectrum(TRUTH, formula="C8H11N", labels=True)
    off = replace(DEFAULT_PARAMS, attached_h=False)
    found = structure_search(
        labelled, [ISOPROPYL], predictor=CountingPredictor(), similarity_params=off
    )
    assert found.rejected == 0 and found.predictions > 0
    unfiltered = structure_search(
        labelled, [ISOPROPYL], predictor=CountingPredictor(),
        config=SearchConfig(label_filter=False),
    )  # fmt: skip
    assert unfiltered.rejected == 0 and unfiltered.predictions > 0
    # five CH3 labels need 15 hydrogens: C8H11N cannot carry them, so no label is used
    wrong = Spectrum(
        "w", c13=PeakList("13C", tuple(Peak(10.0 + i, n_h=3) for i in range(5))),
        formula="C8H11N",
    )  # fmt: skip
    assert structure_search(wrong, [ISOPROPYL], predictor=CountingPredictor()).rejected == 0


def test_seeds_the_labels_rule_out_are_still_mutated():
    labelled = fake_spectrum(TRUTH, formula="C8H11N", labels=True)
    predictor = RecordingPredictor()
    found = structure_search(
        labelled, [ISOPROPYL], predictor=predictor, config=SearchConfig(budget=300, recombine=False)
    )
    assert found.iterations > 0 and found.candidates, found.stopped
    assert Chem.CanonSmiles(ISOPROPYL) not in predictor.seen


def test_search_is_deterministic_and_the_cache_saves_predictions():
    predictor = CountingPredictor()
    cache = PredictionCache(predictor)
    config = SearchConfig(budget=120, per_iteration=30, time_limit=None)
    first = structure_search(query(), ["CCCc1ccccn1"], predictor=cache, config=config)
    calls = predictor.calls
    again = structure_search(query(), ["CCCc1ccccn1"], predictor=cache, config=config)
    assert first.candidates == again.candidates, "same seed and settings, same answer"
    assert predictor.calls == calls and again.predictions == 0, "second run is all cache hits"
    fresh = structure_search(query(), ["CCCc1ccccn1"], predictor=CountingPredictor(), config=config)
    assert fresh.candidates == first.candidates


def test_budget_bounds_the_predictions():
    predictor = CountingPredictor()
    result = structure_search(
        query(), ["CCCc1ccccn1"], predictor=predictor,
        config=SearchConfig(budget=10, stereo=0, recombine=False),
    )  # fmt: skip
    assert result.predictions <= 10 and predictor.calls <= 10
    assert result.stopped == "budget"


def test_recombination_and_repair_reach_the_formula_from_wrong_formula_seeds():
    # neither seed has the formula; their fragments (propyl + pyridyl) make 4-propylpyridine
    result = structure_search(
        query(), ["CCCc1ccccc1", "Cc1ccncc1"], predictor=CountingPredictor(),
        config=SearchConfig(budget=200, moves=(), repair=False),
    )  # fmt: skip
    assert result.candidates[0].inchikey == key(TRUTH)
    assert result.candidates[0].move == "recombine"
    # two hydrogens too many: the 1,2,3,6-tetrahydropyridine... made aromatic again by repair
    repaired = structure_search(
        query("CCCC1=CC=NCC1", "C8H13N"), ["CCCC1=CCNCC1"], predictor=CountingPredictor(),
        config=SearchConfig(budget=200, moves=(), recombine=False),
    )  # fmt: skip
    assert repaired.candidates[0].inchikey == key("CCCC1=CC=NCC1")
    assert repaired.candidates[0].move == "repair"


def test_stereoisomers_join_at_the_end():
    result = structure_search(
        fake_spectrum("C[C@H](N)C(=O)O", formula="C3H7NO2"), ["CC(N)C(=O)O"],
        predictor=CountingPredictor(), config=SearchConfig(budget=50, moves=()),
    )  # fmt: skip
    smiles = {c.smiles for c in result.candidates}
    assert {"C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O"} <= smiles
    assert any(c.move == "stereo" for c in result.candidates)


@pytest.mark.parametrize(
    ("spectrum", "seeds", "reason"),
    [
        (Spectrum("empty", formula="C8H11N"), ["CCCc1ccncc1"], "no 13C or 1H peaks"),
        (query(), [], "no readable seed"),
        (query(), ["not a smiles"], "no readable seed"),
        (query(), ["CCCCCCCCCCCCCCCCO"], "no seed of the formula"),
    ],
)
def test_a_search_that_cannot_run_says_why(spectrum, seeds, reason):
    result = structure_search(
        spectrum, seeds, predictor=CountingPredictor(), config=SearchConfig(budget=50)
    )
    assert result.candidates == () and reason in result.stopped


def test_failed_predictions_are_skipped_and_time_limit_stops():
    result = structure_search(
        query("C[Si](C)(C)CCc1ccccc1", "C11H18Si"), ["C[Si](C)(C)CCc1ccccc1"],
        predictor=CountingPredictor(), config=SearchConfig(budget=50),
    )  # fmt: skip
    assert result.candidates == ()
    slow = structure_search(
        query(), [Seed("CCCc1ccccn1")], predictor=CountingPredictor(),
        config=SearchConfig(budget=100_000, time_limit=1e-9, stereo=0),
    )  # fmt: skip
    assert slow.stopped == "time limit"


def test_without_formula_children_keep_the_seed_formula():
    result = structure_search(
        query(formula=None), ["CCCc1cccnc1"], predictor=CountingPredictor(),
        config=SearchConfig(budget=200),
    )  # fmt: skip
    assert result.candidates[0].inchikey == key(TRUTH)
    assert all(c.smiles.count("n") + c.smiles.count("N") == 1 for c in result.candidates)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"moves": ("teleport",)}, "unknown moves"),
        ({"budget": -1}, "budget"),
        ({"time_limit": 0}, "time_limit"),
        ({"rescore": 0}, "rescore"),
        ({"reseed_beam": -1}, "reseed_beam"),
    ],
)
def test_config_rejects_bad_settings(change, message):
    with pytest.raises(ValueError, match=message):
        SearchConfig(**change)


def test_sequence_logprobs_equal_the_beam_scores(tiny_generator, tiny_pairs):
    from nmrpeak_cli.generate.decode import beam_search

    pair = next(p for p in tiny_pairs if p.spectrum.id == "toluene")
    source = tiny_generator.spectrum_tokenizer.encode(pair.spectrum)
    hyps = beam_search(tiny_generator, [source], beam=3)[0]
    texts = [tiny_generator.smiles_tokenizer.decode(h.ids) for h in hyps]
    scored = sequence_logprobs(tiny_generator, pair.spectrum, [*texts, "[Si]"])
    for hyp, value in zip(hyps, scored, strict=False):
        assert value == pytest.approx(hyp.logprob_per_token, abs=1e-3)
    assert scored[-1] is None, "a token outside the vocabulary cannot be scored"


def test_generator_logprob_enters_the_fused_score(tiny_generator):
    spectrum = fake_spectrum("Cc1ccccc1", formula="C7H8")
    result = structure_search(
        spectrum, ["Cc1ccccc1"], predictor=CountingPredictor(),
        config=SearchConfig(budget=20), generator=tiny_generator,
    )  # fmt: skip
    best = result.candidates[0]
    assert best.logprob is not None and 0.0 <= best.score <= 1.0


def test_reseed_returns_valid_hypotheses_of_any_hydrogen_count(tiny_generator, tiny_pairs):
    toluene = next(p for p in tiny_pairs if p.spectrum.id == "toluene").spectrum
    found = reseed(tiny_generator, [toluene], beam=3)
    assert len(found) == 1 and found[0], "one list of seeds per query"
    assert all(Chem.MolFromSmiles(s) is not None for s in found[0])
    assert reseed(tiny_generator, [], beam=3) == []
    assert reseed(tiny_generator, [toluene], beam=0) == [[]]


def test_elucidate_search_group_starts_from_the_pooled_structures_for_free():
    """Seeds whose spectra a source already holds cost no prediction; the search's group keeps
    the formula, names its source and reaches the positional isomer."""
    from nmrpeak_cli import chem
    from nmrpeak_cli.elucidate import Proposal, SourceResult, fusion_features, pool, search_group
    from nmrpeak_cli.elucidate import search_config as elucidate_search

    seed = "CCCc1cccnc1"
    mol = chem.parse_smiles(seed)
    stored = Proposal(seed, chem.inchikey(mol), chem.formula(mol), "library", {"sse": 0.7},
                      fake_spectrum(seed))  # fmt: skip
    predictor = CountingPredictor()
    cache = PredictionCache(predictor)
    group = search_group(query(), [SourceResult("library", (stored,))], None, cache,
                         elucidate_search(60, None))  # fmt: skip
    assert group.source == "search" and not group.failed, group.note
    assert predictor.calls <= 60, "the stored seed is not predicted again"
    assert (None, chem.canonical_smiles(mol)) in cache
    assert all(p.formula == "C8H11N" and p.predicted is not None for p in group.proposals)
    assert group.proposals[0].inchikey == key(TRUTH)
    pooled = dict(
        (p.inchikey, s) for p, s in pool(query(), [SourceResult("library", (stored,)), group])
    )
    assert pooled[stored.inchikey] == ("library", "search")
    from nmrpeak_cli.elucidate import (
        DEFAULT_CALIBRATION,
        DEFAULT_FUSION,
        ElucidateModel,
        score_pool,
    )
    from nmrpeak_cli.similarity import DEFAULT_PARAMS

    model = ElucidateModel(DEFAULT_FUSION, DEFAULT_CALIBRATION, DEFAULT_PARAMS)
    scored = {c.proposal.inchikey: fusion_features(c) for c in score_pool(
        query(), pool(query(), [SourceResult("library", (stored,)), group]), model)}  # fmt: skip
    seed_features = scored[stored.inchikey]
    assert seed_features["agreement"] == 0.0, "library + search is not two independent sources"
    assert seed_features["logprob_missing"] == 1.0, "no generator: no log-probability"
    assert scored[key(TRUTH)]["search_top"] == 1.0 and scored[key(TRUTH)]["search"] == 1.0


def test_fused_score_weights_come_from_the_generator_card(tiny_generator):
    """A card's ``search_calibration`` orders the final candidates; a config value overrides
    it; a card without one falls back to the shipped constants."""
    import dataclasses
    import math

    from nmrpeak_cli.generate.search import FALLBACK_FUSION, calibration_of

    assert calibration_of(None) == FALLBACK_FUSION
    assert calibration_of(dataclasses.replace(tiny_generator, card={})) == FALLBACK_FUSION
    similarity_only = {"w_similarity": 1.0, "w_logprob": 0.0, "bias": 0.0}
    calibrated = dataclasses.replace(tiny_generator, card={"search_calibration": similarity_only})
    assert SearchConfig().for_generator(calibrated).w_logprob == 0.0
    assert SearchConfig(w_logprob=2.0).for_generator(calibrated).w_logprob == 2.0
    spectrum = fake_spectrum("Cc1ccccc1", formula="C7H8")
    result = structure_search(
        spectrum, ["Cc1ccccc1"], predictor=CountingPredictor(),
        config=SearchConfig(budget=20), generator=calibrated,
    )  # fmt: skip
    for c in result.candidates:
        assert c.score == pytest.approx(1 / (1 + math.exp(-c.similarity)))
    overridden = structure_search(
        spectrum, ["Cc1ccccc1"], predictor=CountingPredictor(),
        config=SearchConfig(budget=20, w_similarity=0.0), generator=calibrated,
    )  # fmt: skip
    assert all(c.score == pytest.approx(0.5) for c in overridden.candidates)


def test_invalid_card_calibration_is_a_clear_error(tiny_generator):
    import dataclasses

    from nmrpeak_cli.errors import NotAvailableError
    from nmrpeak_cli.generate.search import calibration_of

    broken = dataclasses.replace(tiny_generator, card={"search_calibration": {"bias": "high"}})
    with pytest.raises(NotAvailableError, match="search_calibration"):
        calibration_of(broken)


def test_write_calibration_keeps_the_card_loadable(tiny_generator, tmp_path):
    from nmrpeak_cli.artifacts import read_card
    from nmrpeak_cli.generate.model import load_generator, save_generator
    from nmrpeak_cli.generate.search import calibration_of, write_calibration

    weights = tmp_path / "generator.safetensors"
    save_generator(tiny_generator, weights, {"note": "kept"})
    fitted = {"w_similarity": 9.5, "w_logprob": 3.0, "bias": -8.0}
    write_calibration(weights, fitted, fitted_on="valid (3 queries)", command="fit")
    card = read_card(weights)
    assert card["note"] == "kept" and card["search_calibration"]["fitted_on"] == "valid (3 queries)"
    assert calibration_of(load_generator(weights)) == fitted
    with pytest.raises(ValueError, match="bias"):
        write_calibration(
            weights, {"w_similarity": 1.0, "w_logprob": 1.0}, fitted_on="", command=""
        )
