"""Pooling, one-scale scoring, the formula constraint and the batch body of elucidate."""

from __future__ import annotations

import pytest

from nmrpeak_cli import chem
from nmrpeak_cli.elucidate import (
    DEFAULT_CALIBRATION,
    DEFAULT_FUSION,
    WARNING_PREFIX,
    ElucidateModel,
    Proposal,
    SourceResult,
    answer,
    is_failure,
    library_result,
    pool,
    predict_missing,
    score_pool,
)
from nmrpeak_cli.schema import RESULTS_SCHEMA, rows_to_table
from nmrpeak_cli.similarity import DEFAULT_PARAMS
from nmrpeak_cli.spectra import Peak, Spectrum

MODEL = ElucidateModel(DEFAULT_FUSION, DEFAULT_CALIBRATION, DEFAULT_PARAMS)

QUERY = Spectrum(
    "ethyl-acetate",
    c13=[171.1, 60.5, 21.0, 14.2],
    h1=[Peak(4.12, integration=2), Peak(2.05, integration=3), Peak(1.26, integration=3)],
    formula="C4H8O2",
)
RIGHT = Spectrum("p1", c13=[171.0, 60.4, 21.1, 14.3], h1=[Peak(4.1, integration=2),
                 Peak(2.0, integration=3), Peak(1.25, integration=3)])  # fmt: skip
WRONG = Spectrum("p2", c13=[174.0, 51.5, 27.4, 9.2], h1=[Peak(3.67, integration=3),
                 Peak(2.32, integration=2), Peak(1.14, integration=3)])  # fmt: skip


def proposal(smiles: str, source: str, predicted=None, **evidence: float) -> Proposal:
    mol = chem.parse_smiles(smiles)
    return Proposal(smiles, chem.inchikey(mol), chem.formula(mol), source, evidence, predicted)


def test_pool_merges_sources_by_inchikey_and_keeps_the_stored_spectrum() -> None:
    library = SourceResult("library", (proposal("CCOC(C)=O", "library", RIGHT, sse=0.9),))
    generated = SourceResult("generated", (proposal("CC(=O)OCC", "generated", gen_logprob=-0.2),))
    (merged,) = pool(QUERY, [library, generated])
    found, sources = merged
    assert sources == ("library", "generated"), sources
    assert found.predicted is RIGHT, "the library's stored prediction is kept"
    expected = {"sse": 0.9, "library_rank": 1.0, "gen_logprob": -0.2, "generated_rank": 1.0}
    assert found.evidence == expected, found.evidence


def test_every_source_is_scored_by_its_spectrum_on_one_scale() -> None:
    # The library's wrong hit has the better embedding score; the generated candidate matches.
    library = SourceResult("library", (proposal("CCC(=O)OC", "library", WRONG, sse=0.99),))
    generated = SourceResult(
        "generated", (proposal("CCOC(C)=O", "generated", RIGHT, gen_logprob=-0.3),)
    )
    ranked = score_pool(QUERY, pool(QUERY, [library, generated]), MODEL)
    assert [c.proposal.smiles for c in ranked] == ["CCOC(C)=O", "CCC(=O)OC"], ranked
    assert ranked[0].similarity > 0.9 > ranked[1].similarity, "the spectrum decides"
    assert ranked[0].similarity_c13 is not None and ranked[0].similarity_h1 is not None
    assert ranked[0].n_matched_peaks == 7, "4 13C + 3 1H query peaks matched"
    assert ranked[0].confidence > ranked[1].confidence


@pytest.mark.parametrize("source", ["library", "generated", "search"])
def test_reject_policy_drops_other_formulas_from_every_source(source: str) -> None:
    other = SourceResult(source, (proposal("CCCC(=O)OC", source, RIGHT),))  # C5H10O2
    rows = answer(QUERY, [other], MODEL, k=5)
    (row,) = rows
    assert row["smiles"] is None and is_failure(row), rows
    assert "another formula than C4H8O2" in row["error"], row["error"]
    assert "--formula-policy penalize" in row["error"], "the row says how to keep them"


def test_penalize_and_ignore_keep_other_formulas_and_say_so() -> None:
    groups = [
        SourceResult("library", (proposal("CCCC(=O)OC", "library", RIGHT),)),
        SourceResult("generated", (proposal("CCC(=O)OC", "generated", WRONG),)),
    ]
    penalized = answer(QUERY, groups, MODEL, policy="penalize")
    ignored = answer(QUERY, groups, MODEL, policy="ignore")
    for rows in (penalized, ignored):
        assert {r["formula_match"] for r in rows} == {False, True}, rows
        assert "--formula-policy" in rows[0]["error"] and not is_failure(rows[0]), rows[0]
    by_smiles = {r["smiles"]: r for r in penalized}
    unpenalized = {r["smiles"]: r for r in ignored}
    assert by_smiles["CCCC(=O)OC"]["score"] < unpenalized["CCCC(=O)OC"]["score"], "penalty"


def test_rows_follow_the_schema_and_name_every_source() -> None:
    groups = [
        SourceResult("library", (proposal("CCOC(C)=O", "library", RIGHT, ssr=0.9, sse=0.8),)),
        SourceResult("generated", (proposal("CCOC(C)=O", "generated", gen_logprob=-0.1),
                                   proposal("CCC(=O)OC", "generated", WRONG, gen_logprob=-0.5))),
    ]  # fmt: skip
    rows = answer(QUERY, groups, MODEL, k=5)
    assert rows_to_table(rows, RESULTS_SCHEMA).num_rows == 2
    assert rows[0]["source"] == "library+generated", rows[0]
    assert all(r["similarity_c13"] is not None for r in rows), "library rows carry similarity"
    assert [r["rank"] for r in rows] == [1, 2]
    assert all(0.0 <= r["confidence"] <= 1.0 for r in rows)


def test_low_confidence_says_the_answer_is_probably_not_listed() -> None:
    rows = answer(
        QUERY, [SourceResult("generated", (proposal("CCC(=O)OC", "generated", WRONG),))], MODEL
    )
    assert rows[0]["error"].startswith(WARNING_PREFIX), rows[0]
    assert "answer probably not in the list" in rows[0]["error"]


@pytest.mark.parametrize("kept", ["c13", "h1"])
def test_a_one_nucleus_query_says_its_confidence_is_not_calibrated(kept: str) -> None:
    from dataclasses import replace

    query = replace(QUERY, **{"h1" if kept == "c13" else "c13": None})
    group = SourceResult("library", (proposal("CCOC(C)=O", "library", RIGHT),))
    rows = answer(query, [group], MODEL)
    nucleus = "13C" if kept == "c13" else "1H"
    assert rows[0]["smiles"] == "CCOC(C)=O" and not is_failure(rows[0]), rows[0]
    assert f"{nucleus} peaks only: the confidence was calibrated on 13C+1H" in rows[0]["error"]
    both = answer(QUERY, [group], MODEL)
    assert "peaks only" not in (both[0]["error"] or ""), "a 13C+1H query has no such note"


def test_a_failed_source_is_a_warning_when_another_answers() -> None:
    groups = [
        SourceResult("library", (proposal("CCOC(C)=O", "library", RIGHT),)),
        SourceResult("generated", note="the query makes 300 input tokens", failed=True),
    ]
    rows = answer(QUERY, groups, MODEL)
    assert "generated failed: the query makes 300" in rows[0]["error"] and not is_failure(rows[0])


def test_library_result_reads_retrieval_rows() -> None:
    rows = [{"query_id": "q", "rank": 1, "smiles": "CCO", "inchikey": "LFQSCWFLJHTTHZ-UHFFFAOYSA-N",
             "ssr": 0.8, "sme": None, "sse": 0.7, "formula": "C2H6O"}]  # fmt: skip
    result = library_result(rows, [RIGHT])
    assert result.proposals[0].evidence == {"ssr": 0.8, "sse": 0.7}
    absent = library_result([{"query_id": "q", "rank": None, "smiles": None,
                              "error": "no library entry has the formula C9H9"}], [])  # fmt: skip
    assert not absent.failed and "C9H9" in absent.note, "an absent formula is not a failure"


def test_predict_missing_fills_only_unpredicted_proposals() -> None:
    calls = []

    def predictor(smiles, solvent):
        calls.append(list(smiles))
        return [RIGHT for _ in smiles]

    groups = [[SourceResult("library", (proposal("CCO", "library", WRONG),)),
               SourceResult("generated", (proposal("CCOC(C)=O", "generated"),))]]  # fmt: skip
    filled, problem = predict_missing(groups, [None], predictor)
    assert problem is None and calls == [["CCOC(C)=O"]], calls
    assert filled[0][0].proposals[0].predicted is WRONG
    assert filled[0][1].proposals[0].predicted is RIGHT
    _, problem = predict_missing(groups, [None], None)
    assert "no forward model" in problem


def test_confidence_never_rises_down_the_list() -> None:
    generated = SourceResult(
        "generated",
        tuple(
            proposal(s, "generated", WRONG, gen_logprob=-0.1 * i)
            for i, s in enumerate(["CCC(=O)OC", "CCOC(C)=O", "COC(=O)CC", "CC(=O)OCC"])
        ),
    )
    ranked = score_pool(QUERY, pool(QUERY, [generated]), MODEL)
    confidences = [c.confidence for c in ranked]
    assert confidences == sorted(confidences, reverse=True), confidences


def test_a_calibration_with_isotonic_knots_round_trips_and_stays_monotone() -> None:
    from nmrpeak_cli.elucidate import Logistic

    cal = Logistic({"score": 4.0}, -2.0, ((0.1, 0.5, 0.9), (0.05, 0.3, 0.95)))
    again = Logistic.from_dict(cal.to_dict())
    assert again == cal
    values = [again({"score": s}) for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert values == sorted(values) and values[0] >= 0.05 and values[-1] <= 0.95
    assert Logistic.from_dict(Logistic({"score": 1.0}).to_dict()).isotonic is None


def test_only_the_most_similar_candidate_has_a_positive_similarity_gap() -> None:
    from nmrpeak_cli.elucidate import fusion_features, measure_pool

    groups = [SourceResult("library", (proposal("CCOC(C)=O", "library", RIGHT),
                                       proposal("CCC(=O)OC", "library", WRONG)))]  # fmt: skip
    right, wrong = measure_pool(QUERY, pool(QUERY, groups), DEFAULT_PARAMS)
    assert right.similarity_gap == pytest.approx(right.similarity - wrong.similarity)
    assert wrong.similarity_gap == pytest.approx(wrong.similarity - right.similarity)
    assert right.similarity_gap > 0 > wrong.similarity_gap
    assert fusion_features(right)["similarity_top"] == 1.0
    assert fusion_features(wrong)["similarity_top"] == 0.0
    assert fusion_features(wrong)["library_rank_inv"] == 0.5


def _lead_pool(gap: float, formula_match: bool | None = True) -> list:
    """The library's first choice ``gap`` below a search structure's similarity; the search
    structure wins on the fused score."""
    from nmrpeak_cli.elucidate import Scored

    library = proposal("CCOC(C)=O", "library", RIGHT, sse=0.9, library_rank=1.0)
    found = proposal("CCC(=O)OC", "search", WRONG, search_score=0.9, search_rank=1.0)
    best = 0.95
    return [
        Scored(library, ("library",), formula_match, best - gap, None, None, 7, 1.0,
               similarity_gap=-gap),
        Scored(found, ("search",), True, best, None, None, 7, 1.0, similarity_gap=gap),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("lead", "gap", "first"),
    [(None, 0.005, "search"), (0.01, 0.005, "library"), (0.01, 0.02, "search")],
)
def test_the_library_first_choice_leads_when_it_fits_as_well(lead, gap, first) -> None:
    from dataclasses import replace

    from nmrpeak_cli.elucidate import Logistic, rank_measured

    fusion = Logistic({"similarity": 1.0, "search_score": 5.0, "library_embedding": 1.0})
    model = replace(MODEL, fusion=fusion, library_lead=lead)
    ranked = rank_measured(_lead_pool(gap), model)
    assert ranked[0].sources == (first,), [c.sources for c in ranked]
    assert ranked[0].score >= ranked[1].score, "the promoted answer is level with the best"
    assert ranked[0].confidence >= ranked[1].confidence


def test_the_lead_rule_never_promotes_another_formula_and_travels_in_the_card(tmp_path) -> None:
    import json
    from dataclasses import replace

    from nmrpeak_cli.elucidate import Logistic, load_model, rank_measured

    fusion = Logistic({"search_score": 5.0})
    model = replace(MODEL, fusion=fusion, library_lead=0.05)
    ranked = rank_measured(_lead_pool(0.001, formula_match=False), model, policy="penalize")
    assert ranked[0].sources == ("search",), "an entry of another formula is not promoted"
    card = tmp_path / "elucidate.json"
    card.write_text(json.dumps(model.to_dict()))
    assert load_model(card).library_lead == 0.05
    older = model.to_dict()
    del older["library_lead"]
    before = tmp_path / "older.json"
    before.write_text(json.dumps(older))
    assert load_model(before).library_lead is None, "cards without the key rank as before"
