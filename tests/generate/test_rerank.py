"""Rerank by forward prediction (fake predictor) and fitting the score fusion."""

from __future__ import annotations

import numpy as np
import pytest

from nmrpeak_cli.errors import NmrpeakError
from nmrpeak_cli.generate.decode import Candidate
from nmrpeak_cli.generate.model import RerankCalibration
from nmrpeak_cli.generate.rerank import fit_fusion, predict_candidates, rerank, score_by_beam
from nmrpeak_cli.similarity import spectrum_similarity
from nmrpeak_cli.spectra import Spectrum

QUERY = Spectrum("q", c13=[170.0, 60.0, 14.0])
SPECTRA = {
    "CCO": Spectrum("p1", c13=[58.0, 18.0]),
    "CCOC=O": Spectrum("p2", c13=[170.5, 60.2, 14.1]),
}


def _candidate(smiles: str, logprob: float) -> Candidate:
    return Candidate(smiles, f"KEY-{smiles}", logprob, "C?", None)


def fake_predictor(smiles, solvent):
    """Looks the spectrum up in :data:`SPECTRA`; unknown molecules fail (None)."""
    return [SPECTRA.get(s) for s in smiles]


def test_rerank_orders_by_similarity_over_logprob() -> None:
    candidates = [_candidate("CCO", -0.1), _candidate("CCOC=O", -0.3), _candidate("C", -0.2)]
    beam = score_by_beam(candidates, RerankCalibration())
    assert [c.smiles for c in beam] == ["CCO", "C", "CCOC=O"], "beam order follows log p"
    predicted = predict_candidates(fake_predictor, [c.smiles for c in candidates])
    ranked = rerank(QUERY, candidates, predicted, RerankCalibration(), spectrum_similarity)
    assert ranked[0].smiles == "CCOC=O", "the candidate whose prediction matches must win"
    assert ranked[0].similarity > 0.8 > ranked[1].similarity, "similarity must be recorded"
    failed = next(c for c in ranked if c.smiles == "C")
    assert failed.similarity == 0.0, "a failed prediction scores similarity 0"
    assert all(0.0 <= c.score <= 1.0 for c in ranked), "scores must be calibrated to [0, 1]"


def test_predictor_must_answer_every_smiles() -> None:
    with pytest.raises(NmrpeakError, match="expected one each"):
        predict_candidates(lambda smiles, solvent: [], ["CCO"])


def _labelled(n: int, rate: float, noise: float, seed: int):
    """Candidates whose similarity (0.9 for correct, 0.5 for wrong, plus noise) separates the
    classes while the log-probability does not."""
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < rate
    similarity = np.where(labels, 0.9, 0.5) + rng.normal(0, noise, n)
    return rng.normal(-0.5, 0.2, n), similarity, labels


def test_fit_fusion_learns_that_similarity_matters() -> None:
    logprob, similarity, labels = _labelled(400, 0.2, 0.05, seed=0)
    weights = fit_fusion(logprob, similarity, labels.astype(float))
    assert weights.w_similarity > 1.0, f"similarity separates the classes: {weights}"
    assert weights.fitted_on == "validation"
    with pytest.raises(ValueError, match="both correct and wrong"):
        fit_fusion(logprob, similarity, np.zeros(400))


def test_fit_fusion_stays_calibrated_when_correct_candidates_are_rare() -> None:
    logprob, similarity, labels = _labelled(3000, 0.02, 0.08, seed=1)
    weights = fit_fusion(logprob, similarity, labels.astype(float))
    z = weights.bias + weights.w_logprob * logprob + weights.w_similarity * similarity
    p = 1 / (1 + np.exp(-z))
    assert p[labels].mean() > 0.5, "the similarity nearly separates: correct ones score high"
    assert p[~labels].mean() < 0.05
