"""Rerank generated candidates by forward prediction and fuse the evidence into one score.

Each candidate's spectrum is predicted (a :class:`~nmrpeak_cli.predict.forward.Predictor`:
the shipped forward model in use, a function of its call signature in tests) and compared
with the query by the peak-aware similarity over the nuclei the query has. The final score is a logistic fusion of
the length-normalized log-probability and that similarity (:class:`RerankCalibration`), fitted on
the validation split by :func:`fit_fusion` so that it reads as the probability that the
candidate is the right structure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from nmrpeak_cli.errors import NmrpeakError
from nmrpeak_cli.generate.decode import Candidate
from nmrpeak_cli.generate.model import RerankCalibration
from nmrpeak_cli.predict.forward import Predictor
from nmrpeak_cli.spectra import Spectrum

SimilarityFn = Callable[[Spectrum, Spectrum], float]
"""``(query, predicted) -> similarity in [0, 1]``."""


def default_similarity() -> SimilarityFn:
    """The peak-aware :func:`~nmrpeak_cli.similarity.spectrum_similarity`."""
    from nmrpeak_cli.similarity import spectrum_similarity

    return spectrum_similarity


def predict_candidates(
    predictor: Predictor, smiles: Sequence[str], solvent: str | None = None
) -> dict[str, Spectrum | None]:
    """Predicted spectrum per unique SMILES (``None`` where prediction failed)."""
    unique = list(dict.fromkeys(smiles))
    if not unique:
        return {}
    predicted = list(predictor(unique, solvent))
    if len(predicted) != len(unique):
        raise NmrpeakError(
            f"predictor returned {len(predicted)} spectra for {len(unique)} SMILES; expected one each"
        )
    return dict(zip(unique, predicted, strict=True))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0)))


def beam_score(candidate: Candidate, fusion: RerankCalibration) -> float:
    """Calibrated score from the log-probability alone."""
    return _sigmoid(fusion.beam_bias + fusion.beam_w_logprob * candidate.logprob)


def fused_score(candidate: Candidate, similarity: float, fusion: RerankCalibration) -> float:
    """Calibrated score from log-probability and similarity."""
    return _sigmoid(
        fusion.bias + fusion.w_logprob * candidate.logprob + fusion.w_similarity * similarity
    )


def score_by_beam(candidates: Sequence[Candidate], fusion: RerankCalibration) -> list[Candidate]:
    """Candidates with beam-only scores, in beam (log-probability) order."""
    scored = [replace(c, score=beam_score(c, fusion)) for c in candidates]
    return sorted(scored, key=lambda c: -c.logprob)


def rerank(
    query: Spectrum,
    candidates: Sequence[Candidate],
    predicted: Mapping[str, Spectrum | None],
    fusion: RerankCalibration,
    similarity: SimilarityFn,
) -> list[Candidate]:
    """Score candidates by fused log-probability and predicted-spectrum similarity, best first.

    A candidate whose prediction failed gets similarity 0 (it cannot be supported by the
    spectrum).
    """
    out = []
    for candidate in candidates:
        spectrum = predicted.get(candidate.smiles)
        sim = 0.0 if spectrum is None else float(similarity(query, spectrum))
        out.append(replace(candidate, similarity=sim, score=fused_score(candidate, sim, fusion)))
    return sorted(out, key=lambda c: (-(c.score or 0.0), -c.logprob))


def fit_fusion(
    logprobs: np.ndarray,
    similarities: np.ndarray,
    labels: np.ndarray,
    *,
    l2: float | None = None,
    fitted_on: str = "validation",
) -> RerankCalibration:
    """Fit both logistic fusions (with and without similarity) on labelled candidates.

    Parameters
    ----------
    logprobs, similarities
        Per candidate: length-normalized log-probability and similarity to its query.
    labels
        1 where the candidate is the true structure, else 0.
    l2
        Ridge penalty on the weights of the standardized features (not the intercepts) in
        the mean log-loss. Default ``1 / len(labels)``: a unit Gaussian prior per
        standardized weight, weak enough that the scores stay as sharp as the data support
        when correct candidates are rare (a fixed 1e-2 on raw features pulled every score
        to the base rate, about 1 %).
    fitted_on
        Recorded in the weights.
    """
    from scipy.optimize import minimize

    x_lp = np.asarray(logprobs, float)
    x_sim = np.asarray(similarities, float)
    y = np.asarray(labels, float)
    if not (len(x_lp) == len(x_sim) == len(y)):
        raise ValueError(
            f"logprobs, similarities and labels differ in length: {len(x_lp)}, {len(x_sim)}, {len(y)}"
        )
    if len(y) == 0 or y.min() == y.max():
        raise ValueError("fusion needs both correct and wrong candidates to fit")
    l2 = 1.0 / len(y) if l2 is None else l2

    def fit(raw: np.ndarray) -> np.ndarray:
        center, scale = raw.mean(axis=0), raw.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        features = (raw - center) / scale

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            z = w[0] + features @ w[1:]
            p = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
            eps = 1e-9
            value = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))
            value += l2 * float(np.sum(w[1:] ** 2))
            grad_z = (p - y) / len(y)
            grad = np.concatenate([[grad_z.sum()], features.T @ grad_z + 2 * l2 * w[1:]])
            return value, grad

        start = np.zeros(features.shape[1] + 1)
        w = minimize(loss, start, jac=True, method="L-BFGS-B").x
        slopes = w[1:] / scale
        return np.concatenate([[w[0] - float(slopes @ center)], slopes])

    full = fit(np.column_stack([x_lp, x_sim]))
    beam = fit(x_lp[:, None])
    return RerankCalibration(
        w_logprob=float(full[1]),
        w_similarity=float(full[2]),
        bias=float(full[0]),
        beam_w_logprob=float(beam[1]),
        beam_bias=float(beam[0]),
        fitted_on=fitted_on,
    )
