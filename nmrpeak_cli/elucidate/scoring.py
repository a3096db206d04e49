"""Pooling and scoring: one query's groups merged by InChIKey under the formula policy,
every candidate measured against the query (peak-aware similarity of its predicted
spectrum), fused into one score with its source evidence, ranked, given a calibrated
confidence, and written as :class:`~nmrpeak_cli.schema.ResultRow` rows (:func:`answer`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from nmrpeak_cli.elucidate.model import ElucidateModel, sigmoid
from nmrpeak_cli.elucidate.values import (
    FORMULA_POLICIES,
    LOW_CONFIDENCE,
    PENALTY_LOGIT,
    SOURCES,
    WARNING_PREFIX,
    Proposal,
    Scored,
    SourceResult,
)
from nmrpeak_cli.schema import ResultRow
from nmrpeak_cli.spectra import Nucleus, Spectrum

if TYPE_CHECKING:
    from nmrpeak_cli.similarity import SimilarityParams


def formula_of(proposal: Proposal) -> str | None:
    """The proposal's formula, computed from its SMILES when the source gave none."""
    if proposal.formula is not None:
        return proposal.formula
    from nmrpeak_cli import chem

    mol = chem.try_parse_smiles(proposal.smiles)
    return None if mol is None else chem.formula(mol)


def pool(
    query: Spectrum, groups: Iterable[SourceResult], policy: str = "reject"
) -> list[tuple[Proposal, tuple[str, ...]]]:
    """Merge the groups' proposals by InChIKey (evidence united, with each source's rank as
    ``<source>_rank``; a stored prediction kept), dropping those of another formula under
    ``reject``; first-seen order. Each group lists its proposals best first."""
    if policy not in FORMULA_POLICIES:
        raise ValueError(f"formula policy must be one of {FORMULA_POLICIES}, got {policy!r}")
    merged: dict[str, tuple[Proposal, list[str]]] = {}
    for group in groups:
        for rank, proposal in enumerate(group.proposals, start=1):
            formula = formula_of(proposal)
            if policy == "reject" and query.formula and formula != query.formula:
                continue
            evidence = {**proposal.evidence, f"{proposal.source}_rank": float(rank)}
            proposal = replace(proposal, formula=formula, evidence=evidence)
            if proposal.inchikey not in merged:
                merged[proposal.inchikey] = (proposal, [proposal.source])
                continue
            old, sources = merged[proposal.inchikey]
            if proposal.source not in sources:
                sources.append(proposal.source)
            merged[proposal.inchikey] = (
                replace(
                    old,
                    evidence={**proposal.evidence, **old.evidence},
                    predicted=old.predicted or proposal.predicted,
                ),
                sources,
            )
    order = {s: i for i, s in enumerate(SOURCES)}
    return [
        (p, tuple(sorted(s, key=lambda n: order.get(n, len(order))))) for p, s in merged.values()
    ]


MISSING_LOGPROB = -3.0
"""Per-token log-probability standing in for one the generator could not give (flagged by
the ``logprob_missing`` feature)."""


def agreement(sources: Iterable[str]) -> bool:
    """Whether the two independent sources (library and generator) both found a candidate
    (the search starts from their structures, so it does not count)."""
    return {"library", "generated"} <= set(sources)


def fusion_features(candidate: Scored) -> dict[str, float]:
    """Inputs of the fused score: similarity and the evidence of each source that found it.

    ``similarity`` (fitted tolerances) and ``similarity_tight`` (library defaults) score the
    predicted spectrum, the same for every source; ``library_embedding`` is the centred
    embedding score of a library hit (SSE, else SME; 0 without encoders), ``library_sme`` its
    SME score, ``library_rank_inv`` one over its rank in the library's list (so the fusion
    can follow the retrieval's own order); ``gen_logprob`` the
    generator's per-token log-probability of the structure given the query (from the beam, or
    teacher-forced for library and search candidates; :data:`MISSING_LOGPROB` with
    ``logprob_missing`` where it has none); ``search_score`` the structure search's own fused
    score; ``library``/``generated``/``search`` flag the sources, ``agreement`` the library and
    the generator both; ``library_top``/``generated_top``/``search_top`` a source's own first
    choice.
    """
    evidence = candidate.proposal.evidence
    sources = set(candidate.sources)
    embedding = evidence.get("sse", evidence.get("sme"))
    logprob = evidence.get("gen_logprob")
    return {
        "similarity": candidate.similarity,
        "similarity_tight": candidate.similarity_tight,
        "similarity_gap": candidate.similarity_gap,
        "similarity_top": float(candidate.similarity_gap > 0),
        "library": float("library" in sources),
        "library_embedding": embedding - 0.5 if embedding is not None else 0.0,
        "library_sme": evidence["sme"] - 0.5 if evidence.get("sme") is not None else 0.0,
        "library_rank_inv": 1.0 / evidence["library_rank"] if "library_rank" in evidence else 0.0,
        "generated": float("generated" in sources),
        "gen_logprob": float(MISSING_LOGPROB if logprob is None else logprob),
        "logprob_missing": float(logprob is None),
        "search": float("search" in sources),
        "search_score": float(evidence.get("search_score", 0.0)),
        "agreement": float(agreement(sources)),
        "library_top": float(evidence.get("library_rank") == 1),
        "generated_top": float(evidence.get("generated_rank") == 1),
        "search_top": float(evidence.get("search_rank") == 1),
    }


def calibration_features(candidate: Scored) -> dict[str, float]:
    """Inputs of the confidence: score, margin to the best other candidate, share of the pool,
    agreement of sources, peak-count consistency."""
    return {
        "score": candidate.score,
        "margin": candidate.margin,
        "share": candidate.share,
        "agreement": float(agreement(candidate.sources)),
        "count_consistency": candidate.count_consistency,
    }


def _peak_units(spectrum: Spectrum) -> float:
    return float(sum(len(p) for p in (spectrum.c13, spectrum.h1) if p))


def similarity_of(
    query: Spectrum, predicted: Spectrum | None, params: SimilarityParams | None = None
) -> tuple[float, float | None, float | None, int, float]:
    """Combined, 13C and 1H similarity, matched query peaks and count consistency of one
    predicted spectrum (zeros without a prediction; ``params`` default: the library's)."""
    from nmrpeak_cli.similarity import DEFAULT_PARAMS, match_spectra

    if predicted is None:
        return 0.0, None, None, 0, 0.0
    match = match_spectra(query, predicted, params=params or DEFAULT_PARAMS)
    per = {n: m.score for n, m in match.matches.items()}
    matched = sum(len({int(i) for i in m.pairs[:, 0]}) for m in match.matches.values())
    n_query = _peak_units(query)
    n_predicted = float(sum(len(p) for n in query.nuclei if (p := predicted.peaks(n))))
    consistency = 1.0 - abs(n_query - n_predicted) / max(n_query, n_predicted, 1.0)
    return (
        float(match.score),
        per.get(Nucleus.C13),
        per.get(Nucleus.H1),
        matched,
        consistency,
    )


def measure_pool(
    query: Spectrum,
    pooled: Sequence[tuple[Proposal, tuple[str, ...]]],
    similarity: SimilarityParams | None,
) -> list[Scored]:
    """The pooled candidates with their similarities and formula match, not yet scored (the
    expensive part of :func:`score_pool`, independent of the fusion)."""
    out = []
    for proposal, sources in pooled:
        sim, c13, h1, matched, consistency = similarity_of(query, proposal.predicted, similarity)
        match = None if not query.formula else proposal.formula == query.formula
        tight = 0.0 if proposal.predicted is None else similarity_of(query, proposal.predicted)[0]
        out.append(Scored(proposal, sources, match, sim, c13, h1, matched, consistency, tight))
    best = sorted((c.similarity for c in out), reverse=True)[:2]
    return [
        replace(c, similarity_gap=c.similarity - (best[1] if c.similarity == best[0] and
                                                     len(best) > 1 else best[0]))
        for c in out
    ]  # fmt: skip


def leading_library_choice(measured: Sequence[Scored], margin: float | None) -> int | None:
    """Index of the library's first choice when ``margin`` is set, its formula is not known
    to differ from the query's and its similarity is at most ``margin`` below the pool's best
    (the rule :attr:`ElucidateModel.library_lead`); ``None`` otherwise.

    With the answer in the library a search structure matching the spectrum about as well
    (an isomer whose predicted shifts happen to fit) could outrank it on the fused score; a
    library entry that the retrieval ranks first and that fits as well as anything keeps
    first place.
    """
    if margin is None:
        return None
    for i, c in enumerate(measured):
        if (
            c.proposal.evidence.get("library_rank") == 1
            and c.formula_match is not False
            and c.similarity_gap >= -margin
        ):
            return i
    return None


def rank_measured(
    measured: Sequence[Scored], model: ElucidateModel, policy: str = "reject"
) -> list[Scored]:
    """Score and rank measured candidates (:func:`measure_pool`), best first, with their
    confidence (calibrated for the top answer; never above the confidence of a higher rank)."""
    logits = []
    for candidate in measured:
        logit = model.fusion.logit(fusion_features(candidate))
        if policy == "penalize" and candidate.formula_match is False:
            logit -= PENALTY_LOGIT
        logits.append(logit)
    lead = leading_library_choice(measured, model.library_lead)
    if lead is not None:  # first, level with the best fused score
        logits[lead] = max(logits)
    order = sorted(
        range(len(measured)),
        key=lambda i: (
            -logits[i],
            i != lead,
            -measured[i].similarity,
            measured[i].proposal.inchikey,
        ),
    )
    scored = [(replace(measured[i], score=sigmoid(logits[i])), logits[i]) for i in order]
    top = max([0.0, *(logit for _, logit in scored)])
    total = math.exp(-top) + sum(math.exp(logit - top) for _, logit in scored)
    best = [c.score for c, _ in scored[:2]]
    out = []
    for i, (candidate, logit) in enumerate(scored):
        other = best[1] if i == 0 and len(best) > 1 else (best[0] if i > 0 else 0.0)
        candidate = replace(
            candidate,
            margin=candidate.score - other,
            share=math.exp(logit - top) / total,
        )
        confidence = model.calibration(calibration_features(candidate))
        if out:  # a lower-ranked candidate is never more likely right than a higher one
            confidence = min(confidence, out[-1].confidence)
        out.append(replace(candidate, confidence=confidence))
    return out


def score_pool(
    query: Spectrum,
    pooled: Sequence[tuple[Proposal, tuple[str, ...]]],
    model: ElucidateModel,
    policy: str = "reject",
) -> list[Scored]:
    """Score and rank one query's pooled candidates, best first, with their confidence
    (calibrated for the top answer; never above the confidence of a higher rank)."""
    return rank_measured(measure_pool(query, pooled, model.similarity), model, policy)


def is_failure(row: Mapping[str, Any]) -> bool:
    """Whether a result row marks a failed record (warnings do not)."""
    error = row.get("error")
    return bool(error) and not str(error).startswith(WARNING_PREFIX)


def empty_reason(query: Spectrum, groups: Sequence[SourceResult], policy: str) -> str:
    """Why a query has no candidate: each source's note, and the formula under ``reject``."""
    notes = [f"{g.source}: {g.note}" for g in groups if g.note and not g.proposals]
    found = sum(len(g.proposals) for g in groups)
    if query.formula and policy == "reject" and found:
        notes.append(
            f"all {found} candidates had another formula than {query.formula} "
            "(--formula-policy penalize keeps them)"
        )
    elif not groups:
        notes.append("no candidate source (no library, no generator)")
    return "no candidate: " + ("; ".join(notes) or "every source came back empty")


def answer(
    query: Spectrum,
    groups: Sequence[SourceResult],
    model: ElucidateModel,
    *,
    k: int = 10,
    policy: str = "reject",
    notes: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """RESULTS_SCHEMA rows of one query from its sources' groups: the seam where any further
    source (e.g. a structure search) joins, as one more :class:`SourceResult`.

    ``notes`` are warnings about the query itself (consistency, prediction).
    """
    ranked = score_pool(query, pool(query, groups, policy), model, policy)[:k]
    if not ranked:
        reason = empty_reason(query, groups, policy)
        return [ResultRow(query_id=query.id, error=reason).to_dict()]
    warnings = list(notes)
    warnings += [f"{g.source} failed: {g.note}" for g in groups if g.failed]
    warnings += [f"{g.source}: {g.note}" for g in groups if g.note and not g.failed]
    if query.formula and policy != "reject" and any(c.formula_match is False for c in ranked):
        warnings.append(f"candidates of other formulas kept (--formula-policy {policy})")
    if len(query.nuclei) == 1:  # the calibration has seen 13C+1H queries only
        warnings.append(
            f"{query.nuclei[0].value} peaks only: the confidence was calibrated on 13C+1H "
            "queries and may be too high"
        )
    if ranked[0].confidence < LOW_CONFIDENCE:
        warnings.append(
            f"top confidence {ranked[0].confidence:.2f}: answer probably not in the list"
        )
    warning = WARNING_PREFIX + "; ".join(dict.fromkeys(warnings)) if warnings else None
    rows = []
    for rank, c in enumerate(ranked, start=1):
        evidence = c.proposal.evidence
        rows.append(
            ResultRow(
                query_id=query.id,
                rank=rank,
                smiles=c.proposal.smiles,
                inchikey=c.proposal.inchikey,
                score=c.score,
                ssr=evidence.get("ssr"),
                sme=evidence.get("sme"),
                sse=evidence.get("sse"),
                gen_logprob=evidence.get("gen_logprob"),
                rerank=c.similarity,
                source="+".join(c.sources),
                formula_match=c.formula_match,
                similarity_c13=c.similarity_c13,
                similarity_h1=c.similarity_h1,
                n_matched_peaks=c.n_matched_peaks,
                confidence=c.confidence,
                error=warning,
            ).to_dict()
        )
    return rows
