"""Elucidation: candidates of every source pooled per query, scored on one scale, ranked.

Each source hands over one candidate group per query (:class:`SourceResult`): the library
search (``library``: its top entries and their embedding scores), the generator
(``generated``: its beam and log-probabilities), and any further source (a structure
search, ``search``) through the same type. :func:`answer` pools the groups of one query by
InChIKey and scores every candidate with one function, whatever its source:

1. **Similarity**: the peak-aware similarity of its predicted spectrum (stored in the
   library, or predicted by the forward model) to the query, per nucleus and combined with
   the retrieval's nucleus weights (``similarity.c13_weight``), plus the number of query peaks
   it matches.
2. **Score**: a logistic fusion of that similarity with the source evidence (the embedding
   score of a library hit, the log-probability of a generated one, agreement of sources),
   fitted on validation queries (:class:`ElucidateModel`, ``models/elucidate.json``).
3. **Confidence**: the probability that the candidate is right, a logistic calibration of
   score, margin to the next candidate, agreement between sources and peak-count
   consistency, fitted on validation queries.

The formula is a constraint for every source: under the default policy ``reject`` no
candidate of another formula is ever returned; ``penalize`` keeps them with a fixed
penalty on the score and ``ignore`` ranks them as any other, and rows say which policy let
them through. A query with nothing left gets one row saying why.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from nmrpeak_cli.consistency import check_consistency
from nmrpeak_cli.errors import NmrpeakError, NotAvailableError
from nmrpeak_cli.spectra import Nucleus, Spectrum

if TYPE_CHECKING:
    from nmrpeak_cli.generate.api import GenerateBatch, QueryResult
    from nmrpeak_cli.predict.forward import Predictor
    from nmrpeak_cli.retrieve.api import SearchBatch
    from nmrpeak_cli.similarity import SimilarityParams

SOURCES: tuple[str, ...] = ("library", "generated", "search")
"""Known candidate sources, in the order ``source`` names them (``library+generated``)."""
FORMULA_POLICIES: tuple[str, ...] = ("reject", "penalize", "ignore")
PENALTY_LOGIT = 4.0
"""Subtracted from a candidate's score logit under ``penalize`` when its formula differs."""
LOW_CONFIDENCE = 0.3
"""Below this top confidence a query's rows say the answer is probably not in the list."""
WARNING_PREFIX = "warning: "
"""Prefix of notes in ``error`` that do not mark the record as failed."""
MODEL_FILE = "elucidate.json"


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class Logistic:
    """``sigmoid(bias + sum(weights[f] * x[f]))`` over named features (missing features: 0),
    optionally mapped through a monotone (isotonic) recalibration.

    Attributes
    ----------
    weights
        Feature name → weight.
    bias
        Intercept.
    isotonic
        ``(x, y)`` knots of a non-decreasing piecewise-linear map applied to the probability
        (flat beyond the end knots), or ``None``.
    """

    weights: Mapping[str, float]
    bias: float = 0.0
    isotonic: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    def logit(self, features: Mapping[str, float]) -> float:
        """The linear part."""
        return self.bias + sum(w * float(features.get(n, 0.0)) for n, w in self.weights.items())

    def __call__(self, features: Mapping[str, float]) -> float:
        """Probability in (0, 1)."""
        p = sigmoid(self.logit(features))
        if self.isotonic is None:
            return p
        return interpolate(p, *self.isotonic)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {"weights": dict(self.weights), "bias": self.bias}
        if self.isotonic is not None:
            out["isotonic"] = {"x": list(self.isotonic[0]), "y": list(self.isotonic[1])}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Logistic:
        """Inverse of :meth:`to_dict`."""
        knots = data.get("isotonic")
        return cls(
            {str(k): float(v) for k, v in data["weights"].items()},
            float(data["bias"]),
            None
            if knots is None
            else (tuple(float(v) for v in knots["x"]), tuple(float(v) for v in knots["y"])),
        )


def interpolate(p: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    """Piecewise-linear ``ys`` over ``xs`` (sorted) at ``p``, flat beyond the ends."""
    if not xs:
        return p
    if p <= xs[0]:
        return float(ys[0])
    if p >= xs[-1]:
        return float(ys[-1])
    import bisect

    i = bisect.bisect_right(xs, p)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return float(y0 + (y1 - y0) * (p - x0) / (x1 - x0)) if x1 > x0 else float(y1)


DEFAULT_FUSION = Logistic({"similarity": 12.0, "library_embedding": 2.0, "gen_logprob": 1.0}, -9.0)
"""Hand-set fusion used when no fitted model is shipped (similarity dominates)."""
DEFAULT_CALIBRATION = Logistic({"score": 4.0, "margin": 4.0}, -3.0)
"""Hand-set calibration used when no fitted model is shipped."""


@dataclass(frozen=True, slots=True)
class ElucidateModel:
    """The fitted fusion and calibration, with the similarity they were fitted with.

    Attributes
    ----------
    fusion
        Score of a candidate from :func:`fusion_features`.
    calibration
        Confidence of a candidate from :func:`calibration_features`.
    similarity
        Peak-aware similarity parameters (the retrieval's, nucleus weights included).
    card
        The rest of the model card (data, split, command, metrics).
    """

    fusion: Logistic
    calibration: Logistic
    similarity: SimilarityParams
    card: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the model card)."""
        from nmrpeak_cli.similarity import similarity_to_dict

        return {
            "model": "nmrpeak.elucidate",
            **self.card,
            "fusion": self.fusion.to_dict(),
            "calibration": self.calibration.to_dict(),
            "similarity": similarity_to_dict(self.similarity),
        }


def model_path(models: Path | None = None) -> Path:
    """``models/elucidate.json``."""
    from nmrpeak_cli.paths import models_dir

    return (models or models_dir()) / MODEL_FILE


def load_model(path: Path | None = None) -> ElucidateModel:
    """The fitted model at ``path`` (default: the shipped ``models/elucidate.json``); the
    hand-set defaults with the retrieval's similarity when the default file does not exist.

    Raises
    ------
    NotAvailableError
        ``path`` was given but does not exist, or the card cannot be read.
    """
    target = Path(path) if path is not None else model_path()
    if path is not None and not target.is_file():
        raise NotAvailableError(f"elucidate model {path} not found")
    return _read_model(target.absolute(), target.stat().st_mtime_ns if target.is_file() else 0)


@lru_cache(maxsize=4)
def _read_model(target: Path, mtime_ns: int) -> ElucidateModel:
    """:func:`load_model` once per file version and process."""
    from nmrpeak_cli.retrieve.encoders import load_similarity_params
    from nmrpeak_cli.similarity import similarity_from_dict

    if not mtime_ns:
        return ElucidateModel(
            DEFAULT_FUSION, DEFAULT_CALIBRATION, load_similarity_params(target.parent)
        )
    try:
        data = json.loads(target.read_text())
        card = {k: v for k, v in data.items() if k not in {"fusion", "calibration", "similarity"}}
        return ElucidateModel(
            Logistic.from_dict(data["fusion"]),
            Logistic.from_dict(data["calibration"]),
            similarity_from_dict(data["similarity"]),
            card,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NotAvailableError(f"elucidate model {target} is unreadable: {exc}") from None


# --------------------------------------------------------------------------------------------
# Sources → proposals
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Pooling and scoring
# --------------------------------------------------------------------------------------------


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


def rank_measured(
    measured: Sequence[Scored], model: ElucidateModel, policy: str = "reject"
) -> list[Scored]:
    """Score and rank measured candidates (:func:`measure_pool`), best first, with their
    confidence (calibrated for the top answer; never above the confidence of a higher rank)."""
    scored: list[tuple[Scored, float]] = []
    for candidate in measured:
        logit = model.fusion.logit(fusion_features(candidate))
        if policy == "penalize" and candidate.formula_match is False:
            logit -= PENALTY_LOGIT
        scored.append((replace(candidate, score=sigmoid(logit)), logit))
    scored.sort(key=lambda c: (-c[1], -c[0].similarity, c[0].proposal.inchikey))
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


def sigmoid(x: float) -> float:
    """Logistic function, clipped against overflow."""
    return 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0)))


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


def _row(**values: Any) -> dict[str, Any]:
    """A RESULTS_SCHEMA row: every column present, null unless given."""
    from nmrpeak_cli.schema import RESULTS_SCHEMA

    return {**dict.fromkeys(RESULTS_SCHEMA.names), **values}


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
        return [_row(query_id=query.id, error=empty_reason(query, groups, policy))]
    warnings = list(notes)
    warnings += [f"{g.source} failed: {g.note}" for g in groups if g.failed]
    warnings += [f"{g.source}: {g.note}" for g in groups if g.note and not g.failed]
    if query.formula and policy != "reject" and any(c.formula_match is False for c in ranked):
        warnings.append(f"candidates of other formulas kept (--formula-policy {policy})")
    if ranked[0].confidence < LOW_CONFIDENCE:
        warnings.append(
            f"top confidence {ranked[0].confidence:.2f}: answer probably not in the list"
        )
    warning = WARNING_PREFIX + "; ".join(dict.fromkeys(warnings)) if warnings else None
    rows = []
    for rank, c in enumerate(ranked, start=1):
        evidence = c.proposal.evidence
        rows.append(
            _row(
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
            )
        )
    return rows


def predict_missing(
    groups: Sequence[Sequence[SourceResult]],
    solvents: Sequence[str | None],
    predictor: Predictor | None,
) -> tuple[list[list[SourceResult]], str | None]:
    """Every proposal without a stored spectrum gets the forward model's prediction (one call
    per solvent); returns the groups and, when prediction is unavailable, why."""
    wanted: dict[str | None, list[str]] = {}
    for query_groups, solvent in zip(groups, solvents, strict=True):
        for group in query_groups:
            wanted.setdefault(solvent, []).extend(
                p.smiles for p in group.proposals if p.predicted is None
            )
    predicted: dict[str | None, dict[str, Spectrum | None]] = {}
    problem = None
    if predictor is None and any(wanted.values()):
        problem = "no forward model: generated candidates are scored without their spectra"
    elif predictor is not None:
        try:
            for solvent, smiles in wanted.items():
                unique = list(dict.fromkeys(smiles))
                spectra = list(predictor(unique, solvent)) if unique else []
                if len(spectra) != len(unique):
                    raise NmrpeakError(
                        f"predictor returned {len(spectra)} spectra for {len(unique)} SMILES"
                    )
                predicted[solvent] = dict(zip(unique, spectra, strict=True))
        except NmrpeakError as exc:
            problem = f"forward prediction failed ({exc}): candidates scored without spectra"
            predicted = {}
    filled = [
        [
            replace(
                group,
                proposals=tuple(
                    p
                    if p.predicted is not None
                    else replace(p, predicted=predicted.get(solvent, {}).get(p.smiles))
                    for p in group.proposals
                ),
            )
            for group in query_groups
        ]
        for query_groups, solvent in zip(groups, solvents, strict=True)
    ]
    return filled, problem


# --------------------------------------------------------------------------------------------
# The batch body (CLI and Python API)
# --------------------------------------------------------------------------------------------


class CandidateSource(Protocol):
    """A picklable source: one :class:`SourceResult` per query of a batch.

    A source with a true ``seeded`` attribute runs after the others and is called as
    ``source(queries, groups)``, with every query's groups so far (predicted spectra filled
    in): the structure search starts from their structures (:class:`SearchSource`).
    """

    def __call__(self, queries: list[Spectrum]) -> list[SourceResult]: ...


@dataclass(frozen=True, slots=True)
class LibrarySource:
    """The library search as a candidate source (the retrieval's batch body underneath).

    Attributes
    ----------
    search
        Opened once per process; its ``params.formula_policy`` applies.
    """

    search: SearchBatch

    def __call__(self, queries: list[Spectrum]) -> list[SourceResult]:
        """The top library entries of each query, with their stored predicted spectra."""
        searcher = self.search.searcher()
        groups = self.search(queries)
        wanted = sorted({r["library_row"] for rows in groups for r in rows if r.get("smiles")})
        stored = dict(
            zip(wanted, searcher.library.predicted(wanted) if wanted else [], strict=True)
        )
        formulas = _formulas(searcher.library, wanted)
        return [
            library_result(
                [{**r, "formula": formulas.get(r.get("library_row"))} for r in rows],
                [stored[r["library_row"]] for r in rows if r.get("smiles")],
            )
            for rows in groups
        ]


def _formulas(library, rows: Sequence[int]) -> dict[int, str]:
    if not rows:
        return {}
    table = library.entries.take(list(rows)).column("formula").to_pylist()
    return dict(zip(rows, table, strict=True))


@dataclass(frozen=True, slots=True)
class GeneratorSource:
    """The generator's beam as a candidate source.

    Attributes
    ----------
    generation
        Generator weights, device, beam and formula policy (its ``k`` is not used).
    """

    generation: GenerateBatch

    def __call__(self, queries: list[Spectrum]) -> list[SourceResult]:
        """The decoded candidates of each query (unscored: the pool scores them)."""
        from nmrpeak_cli.generate.api import propose

        results = propose(
            queries,
            self.generation.generator(),
            beam=self.generation.beam,
            formula_policy=self.generation.formula_policy,
        )
        return [generated_result(r) for r in results]


SEARCH_BUDGET = 100
"""Forward predictions per query of elucidate's structure search (``--search-budget``):
small, so that a single inline query stays within the 3 s cold start (``generate --search``
spends up to 1,000)."""
SEARCH_TIME_LIMIT = 1.0
"""Wall seconds per query of elucidate's structure search (``--time-limit``)."""


def search_config(budget: int = SEARCH_BUDGET, time_limit: float | None = SEARCH_TIME_LIMIT):
    """Elucidate's structure search settings (:class:`~nmrpeak_cli.generate.search.SearchConfig`
    with ``budget`` predictions and ``time_limit`` seconds per query, ``None``: no limit).

    Smaller steps than ``generate --search`` (2 parents and 50 children per iteration, the 20
    best rescored by the generator): enumerating a parent's moves costs more than predicting
    the few children a small budget allows."""
    from nmrpeak_cli.generate.search import SearchConfig

    return SearchConfig(
        budget=budget, time_limit=time_limit, parents=2, per_iteration=50, rescore=20
    )


def search_seeds(groups: Sequence[SourceResult]) -> list[Any]:
    """Seeds of the structure search from one query's groups: the generator's candidates
    (beam order), the library's (rank order), then the generator's other hypotheses."""
    from nmrpeak_cli.generate.search import Seed

    ordered = sorted(groups, key=lambda g: g.source != "generated")
    seeds = [
        Seed(p.smiles, "beam" if g.source == "generated" else "library")
        for g in ordered
        for p in g.proposals
    ]
    seeds += [Seed(s, "beam") for g in groups for s in g.seeds]
    return seeds


def search_group(
    query: Spectrum,
    groups: Sequence[SourceResult],
    generator: Any,
    cache: Any,
    config: Any,
    extra_seeds: Sequence[str] = (),
) -> SourceResult:
    """The structure search's group for one query, seeded by its other groups' structures
    (their predicted spectra are put in ``cache`` first, so seeds cost no budget)."""
    from nmrpeak_cli import chem
    from nmrpeak_cli.generate.inputs import canonical_input
    from nmrpeak_cli.generate.search import Seed, structure_search

    canonical = canonical_input(query)
    solvent = canonical.solvent
    for group in groups:
        for p in group.proposals:
            if p.predicted is None:
                continue
            mol = chem.try_parse_smiles(p.smiles)
            key = None if mol is None else chem.canonical_smiles(mol)
            if key is not None and (solvent, key) not in cache:
                cache.put(key, solvent, p.predicted)
    seeds = [*search_seeds(groups), *(Seed(s, "beam") for s in extra_seeds)]
    try:
        found = structure_search(canonical, seeds, predictor=cache, config=config,
                                 generator=generator)  # fmt: skip
        spectra, _ = cache.get([c.smiles for c in found.candidates], solvent)
    except NmrpeakError as exc:
        return SourceResult("search", note=f"structure search failed: {exc}", failed=True)
    proposals = tuple(
        Proposal(
            c.smiles,
            c.inchikey,
            query.formula,
            "search",
            {
                "search_score": float(c.score),
                **({"gen_logprob": float(c.logprob)} if c.logprob is not None else {}),
            },
            spectrum,
        )
        for c, spectrum in zip(found.candidates, spectra, strict=True)
    )
    note = None if proposals else f"structure search found nothing: {found.stopped}"
    return SourceResult("search", proposals, note)


def reseed_queries(
    queries: Sequence[Spectrum], groups: Sequence[Sequence[SourceResult]], generator: Any, beam: int
) -> list[list[str]]:
    """Extra seeds for queries with a formula whose generator group proposed nothing: the
    hypotheses of a beam that keeps any hydrogen count
    (:func:`~nmrpeak_cli.generate.search.reseed`)."""
    from nmrpeak_cli.generate.inputs import canonical_input
    from nmrpeak_cli.generate.search import reseed

    empty = [
        j
        for j, (q, gs) in enumerate(zip(queries, groups, strict=True))
        if q.formula
        and any(g.source == "generated" and not g.failed and not g.proposals for g in gs)
    ]
    out: list[list[str]] = [[] for _ in queries]
    if empty and beam > 0:
        again = reseed(generator, [canonical_input(queries[j]) for j in empty], beam)
        for j, seeds in zip(empty, again, strict=True):
            out[j] = seeds
    return out


def fill_logprobs(
    queries: Sequence[Spectrum], groups: Sequence[Sequence[SourceResult]], generator: Any
) -> list[list[SourceResult]]:
    """The generator's teacher-forced log-probability per token (``gen_logprob``) for every
    proposal that has none (library entries), so all candidates carry the same evidence."""
    from nmrpeak_cli.generate.inputs import canonical_input
    from nmrpeak_cli.generate.search import sequence_logprobs

    out = []
    for query, query_groups in zip(queries, groups, strict=True):
        wanted = list(
            dict.fromkeys(
                p.smiles
                for g in query_groups
                for p in g.proposals
                if "gen_logprob" not in p.evidence
            )
        )
        if not wanted:
            out.append(list(query_groups))
            continue
        scores = dict(
            zip(wanted, sequence_logprobs(generator, canonical_input(query), wanted), strict=True)
        )
        out.append(
            [
                replace(
                    g,
                    proposals=tuple(
                        p
                        if "gen_logprob" in p.evidence or scores.get(p.smiles) is None
                        else replace(p, evidence={**p.evidence, "gen_logprob": scores[p.smiles]})
                        for p in g.proposals
                    ),
                )
                for g in query_groups
            ]
        )
    return out


@dataclass(frozen=True, slots=True)
class SearchSource:
    """The structure search (:mod:`nmrpeak_cli.generate.search`) as a candidate source,
    seeded by the other sources' structures of each query.

    Attributes
    ----------
    generation
        Generator and forward-model weights (the generator scores the search's final
        structures and re-decodes queries whose beam found nothing of their formula).
    config
        Budget, time limit and moves (:func:`search_config`).
    """

    generation: GenerateBatch
    config: Any
    seeded = True

    def __call__(
        self, queries: list[Spectrum], groups: Sequence[Sequence[SourceResult]]
    ) -> list[SourceResult]:
        """One search per query, sharing one prediction cache over the batch."""
        from nmrpeak_cli.generate.search import PredictionCache

        generator = self.generation.generator()
        cache = PredictionCache(self.generation.forward())
        try:
            extra = reseed_queries(queries, groups, generator, self.config.reseed_beam)
        except NmrpeakError as exc:
            note = f"re-decoding for search seeds failed: {exc}"
            return [SourceResult("search", note=note, failed=True) for _ in queries]
        return [
            search_group(q, g, generator, cache, self.config, e)
            for q, g, e in zip(queries, groups, extra, strict=True)
        ]


@dataclass(frozen=True, slots=True)
class ElucidateBatch:
    """Picklable batch body of ``elucidate`` (CLI and :func:`elucidate`): the sources' groups
    of each query pooled, scored and ranked (:func:`answer`).

    Attributes
    ----------
    sources
        Candidate sources (:class:`LibrarySource`, :class:`GeneratorSource`, or any other
        :class:`CandidateSource`, e.g. a structure search).
    predictor
        Forward-model weights: spectra of candidates no source stored, report overlays.
    device, threads
        Where the forward model runs and torch CPU threads (``None``: torch's default).
    model
        Fitted fusion and calibration (``None``: shipped).
    k, formula_policy
        Candidates kept per query; ``reject``, ``penalize`` or ``ignore``.
    report
        Folder for one HTML report per query, or ``None``.
    generation
        The generator that gives every candidate without one its log-probability
        (:func:`fill_logprobs`; ``None``: none).
    """

    sources: tuple[CandidateSource, ...]
    predictor: Path | None = None
    device: str = "cpu"
    threads: int | None = None
    model: Path | None = None
    k: int = 10
    formula_policy: str = "reject"
    report: Path | None = None
    generation: GenerateBatch | None = None

    def forward(self) -> Predictor | None:
        """This process's forward model (``None`` without weights)."""
        if self.predictor is None:
            return None
        from nmrpeak_cli.generate.api import forward_predictor

        return forward_predictor(self.predictor, self.device, self.threads)

    def rows(self, batch: Sequence[Spectrum | Any]) -> list[list[dict[str, Any]]]:
        """Rows of each item of ``batch``, without reports."""
        out: list[list[dict[str, Any]] | None] = [None] * len(batch)
        good: list[int] = []
        warnings: dict[int, tuple[str, ...]] = {}
        for i, item in enumerate(batch):
            if not isinstance(item, Spectrum):
                out[i] = [_row(query_id=record_id(item), error=str(getattr(item, "error", item)))]
                continue
            check = check_consistency(item)
            if check.errors:
                out[i] = [_row(query_id=item.id, error="; ".join(check.errors))]
                continue
            good.append(i)
            warnings[i] = check.warnings
        queries = [batch[i].without_truth() for i in good]
        first = [s for s in self.sources if not getattr(s, "seeded", False)]
        seeded = [s for s in self.sources if getattr(s, "seeded", False)]
        per_source = [source(queries) for source in first] if queries else []
        groups = [[found[j] for found in per_source] for j in range(len(queries))]
        groups, problem = predict_missing(groups, [q.solvent for q in queries], self.forward())
        if self.generation is not None and queries:
            try:
                groups = fill_logprobs(queries, groups, self.generation.generator())
            except NmrpeakError as exc:
                problem = "; ".join(filter(None, [problem, f"log-probabilities skipped: {exc}"]))
        for source in seeded if queries else []:
            for query_groups, group in zip(groups, source(queries, groups), strict=True):
                query_groups.append(group)
        model = load_model(self.model)
        for j, i in enumerate(good):
            notes = [*warnings[i], *([problem] if problem else [])]
            out[i] = answer(
                queries[j], groups[j], model, k=self.k, policy=self.formula_policy, notes=notes
            )
        return [rows or [] for rows in out]

    def __call__(self, batch: list[Spectrum | Any]) -> list[list[dict[str, Any]]]:
        """Answer one batch; failed queries give rows with ``error``."""
        groups = self.rows(batch)
        if self.report is not None:
            from nmrpeak_cli.report import write_reports

            write_reports(batch, groups, self.report, self.forward())
        return groups


def record_id(item: Any) -> str:
    """Id of a query or of a record that failed to read (its ``record`` or ``id``)."""
    return str(getattr(item, "record", None) or getattr(item, "id", None) or "?")


def elucidate(
    spectra: Iterable[Spectrum | Any],
    k: int = 10,
    *,
    library: str | Path | None = None,
    beam: int = 10,
    formula_policy: str = "reject",
    generator_weights: Path | None = None,
    predictor_weights: Path | None = None,
    model: Path | None = None,
    device: str = "cpu",
    batch_size: int = 16,
    search: bool = True,
    search_budget: int = SEARCH_BUDGET,
    time_limit: float | None = SEARCH_TIME_LIMIT,
) -> Iterator[dict[str, Any]]:
    """One ranked list per query from the library and the generator together.

    Parameters
    ----------
    spectra
        Query spectra; records that failed to read pass through as error rows.
    k
        Candidates kept per query.
    library
        Library folder (``None``: generation only).
    beam
        Generator beam width.
    formula_policy
        ``reject`` (default), ``penalize`` or ``ignore`` candidates of another formula.
    generator_weights, predictor_weights, model
        Generator, forward model and elucidate model (default: shipped).
    device
        Torch device.
    batch_size
        Queries answered together.
    search, search_budget, time_limit
        Run the structure search from the library's and the generator's structures, with
        this many forward predictions and wall seconds per query (``None``: no limit).

    Yields
    ------
    dict
        RESULTS_SCHEMA rows, per query in input order, rank 1 first (the same rows as
        ``nmrpeak elucidate``: both run :class:`ElucidateBatch`).
    """
    body = elucidate_batch(
        library=Path(library) if library is not None else None,
        k=k,
        beam=beam,
        formula_policy=formula_policy,
        generator_weights=generator_weights,
        predictor_weights=predictor_weights,
        model=model,
        device=device,
        search=search_config(search_budget, time_limit) if search else None,
    )
    from nmrpeak_cli.io.records import batched

    for batch in batched(spectra, batch_size):
        for rows in body(batch):
            yield from rows


def elucidate_batch(
    *,
    library: Path | None,
    k: int = 10,
    beam: int = 10,
    formula_policy: str = "reject",
    generator_weights: Path | None = None,
    predictor_weights: Path | None = None,
    model: Path | None = None,
    device: str = "cpu",
    threads: int | None = None,
    checksums: bool = True,
    rerank: bool = True,
    report: Path | None = None,
    extra_sources: Sequence[CandidateSource] = (),
    search: Any = None,
) -> ElucidateBatch:
    """The batch body for these settings (library ``None``: generation only).

    ``search`` (a :func:`search_config`, ``None``: off) adds the structure search
    (:class:`SearchSource`, needs the forward model); ``extra_sources`` are further
    candidate sources, pooled like the library and the generator. ``rerank=False`` scores
    generated candidates without their predicted spectra.
    """
    from nmrpeak_cli.generate.api import GenerateBatch
    from nmrpeak_cli.generate.model import weights_path
    from nmrpeak_cli.predict.weights import default_weights

    if formula_policy not in FORMULA_POLICIES:
        raise ValueError(
            f"formula policy must be one of {', '.join(FORMULA_POLICIES)}, got {formula_policy!r}"
        )
    forward = (predictor_weights or default_weights()).absolute()
    generation = GenerateBatch(
        (generator_weights or weights_path()).absolute(),
        forward,
        device,
        k=k,
        beam=max(beam, k),
        formula_policy=formula_policy,
        threads=threads,
    )
    sources: list[CandidateSource] = []
    if library is not None:
        sources.append(LibrarySource(library_search(library, formula_policy, threads, checksums)))
    sources.append(GeneratorSource(generation))
    if search is not None and rerank:
        sources.append(SearchSource(generation, search))
    sources.extend(extra_sources)
    return ElucidateBatch(
        tuple(sources),
        predictor=forward if rerank else None,
        device=device,
        threads=threads,
        model=model,
        k=k,
        formula_policy=formula_policy,
        report=report,
        generation=generation,
    )


POOL_DEPTH = 10
"""Library entries pooled per query (whatever ``k``)."""


def library_search(
    library: Path, formula_policy: str, threads: int | None = None, checksums: bool = True
) -> SearchBatch:
    """The retrieval batch body elucidate pools from: the top :data:`POOL_DEPTH` entries."""
    from nmrpeak_cli.retrieve.api import SearchBatch
    from nmrpeak_cli.retrieve.search import SearchParams

    return SearchBatch(
        Path(library).absolute(),
        k=POOL_DEPTH,
        params=SearchParams(formula_policy=formula_policy),
        checksums=checksums,
        threads=threads,
    )


__all__ = [
    "FORMULA_POLICIES",
    "SOURCES",
    "CandidateSource",
    "ElucidateBatch",
    "ElucidateModel",
    "GeneratorSource",
    "LibrarySource",
    "Logistic",
    "Proposal",
    "Scored",
    "SearchSource",
    "SourceResult",
    "answer",
    "calibration_features",
    "elucidate",
    "elucidate_batch",
    "fill_logprobs",
    "fusion_features",
    "generated_result",
    "library_result",
    "load_model",
    "measure_pool",
    "pool",
    "predict_missing",
    "rank_measured",
    "score_pool",
    "search_config",
    "search_group",
]
