"""The values elucidate passes around: a source's candidates (:class:`Proposal`, one
:class:`SourceResult` per source and query), a pooled and scored candidate (:class:`Scored`),
and the library's and the generator's output turned into them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nmrpeak_cli.spectra import Spectrum

if TYPE_CHECKING:
    from nmrpeak_cli.generate.api import QueryResult

SOURCES: tuple[str, ...] = ("library", "generated", "search")
"""Known candidate sources, in the order ``source`` names them (``library+generated``)."""
FORMULA_POLICIES: tuple[str, ...] = ("reject", "penalize", "ignore")
PENALTY_LOGIT = 4.0
"""Subtracted from a candidate's score logit under ``penalize`` when its formula differs."""
LOW_CONFIDENCE = 0.3
"""Below this top confidence a query's rows say the answer is probably not in the list."""
WARNING_PREFIX = "warning: "
"""Prefix of notes in ``error`` that do not mark the record as failed."""


@dataclass(frozen=True, slots=True)
class Proposal:
    """One candidate structure from one source.

    Attributes
    ----------
    smiles, inchikey
        Canonical isomeric SMILES and standard InChIKey.
    formula
        Its molecular formula (Hill), ``None`` when unknown.
    source
        Where it came from (one of :data:`SOURCES`).
    evidence
        Source-specific scores: ``ssr``/``sme``/``sse`` (library), ``gen_logprob``
        (generated, per token), anything a further source reports.
    predicted
        Its predicted spectrum when the source has one (library entries store theirs).
    """

    smiles: str
    inchikey: str
    formula: str | None
    source: str
    evidence: Mapping[str, float] = field(default_factory=dict)
    predicted: Spectrum | None = None


@dataclass(frozen=True, slots=True)
class SourceResult:
    """What one source returned for one query.

    Attributes
    ----------
    source
        The source's name.
    proposals
        Its candidates (any order).
    note
        Why it has none, or a warning about them.
    failed
        Whether the source could not answer the query (``note`` says why).
    seeds
        Further structures the source saw but does not propose (the generator's hypotheses
        of another formula): starting points of the structure search.
    """

    source: str
    proposals: tuple[Proposal, ...] = ()
    note: str | None = None
    failed: bool = False
    seeds: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Scored:
    """A pooled candidate with its similarity, score and confidence.

    Attributes
    ----------
    proposal
        The merged proposal (``source`` joined with ``+`` when several sources found it).
    sources
        The sources that found it.
    formula_match
        Whether its formula equals the query's (``None`` without a query formula).
    similarity
        Combined peak-aware similarity to the query, in [0, 1] (0 without a prediction).
    similarity_c13, similarity_h1
        Per nucleus (``None`` when the query lacks it or there is no prediction).
    n_matched_peaks
        Query peaks matched by its predicted spectrum, both nuclei.
    count_consistency
        1 minus the relative difference of query and predicted peak counts, in [0, 1].
    similarity_tight
        The same similarity at the library default (narrower) tolerances, as the generator's
        rerank computes it.
    similarity_gap
        ``similarity`` minus the best other candidate's in the pool (positive only for the
        single most similar candidate: the retrieval's own first choice when it holds).
    score
        Fused score in [0, 1] (the ranking key).
    margin
        Score minus the best other candidate's.
    share
        Its share of the pool with a "none of these" option of logit 0:
        ``exp(u) / (1 + sum(exp(u_j)))`` over the score logits ``u`` (small when every
        candidate scores low, however few they are).
    confidence
        Calibrated probability that it is the right structure.
    """

    proposal: Proposal
    sources: tuple[str, ...]
    formula_match: bool | None
    similarity: float
    similarity_c13: float | None
    similarity_h1: float | None
    n_matched_peaks: int
    count_consistency: float
    similarity_tight: float = 0.0
    similarity_gap: float = 0.0
    score: float = 0.0
    margin: float = 0.0
    share: float = 0.0
    confidence: float = 0.0


def library_result(
    rows: Sequence[Mapping[str, Any]], predicted: Sequence[Spectrum]
) -> SourceResult:
    """The library's group from one query's retrieval rows (``predicted``: the stored spectra
    of its candidate rows, in order)."""
    found = [r for r in rows if r.get("smiles")]
    if not found:
        error = next((str(r["error"]) for r in rows if r.get("error")), "no library entry")
        return SourceResult("library", note=error, failed=not error.startswith("no library"))
    proposals = tuple(
        Proposal(
            smiles=r["smiles"],
            inchikey=r["inchikey"],
            formula=r.get("formula"),
            source="library",
            evidence={c: float(r[c]) for c in ("ssr", "sme", "sse") if r.get(c) is not None},
            predicted=spectrum,
        )
        for r, spectrum in zip(found, predicted, strict=True)
    )
    return SourceResult("library", proposals)


def generated_result(result: QueryResult) -> SourceResult:
    """The generator's group from its decoded candidates of one query."""
    if result.error:
        return SourceResult("generated", note=result.error, failed=True)
    proposals = tuple(
        Proposal(c.smiles, c.inchikey, c.formula, "generated", {"gen_logprob": float(c.logprob)})
        for c in result.candidates
    )
    note = "; ".join(result.warnings) or (None if proposals else "no valid structure decoded")
    return SourceResult("generated", proposals, note, seeds=tuple(result.seeds))
