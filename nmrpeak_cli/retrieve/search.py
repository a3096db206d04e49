"""Spectrum → molecule search over a library: candidates, three scorers, fusion, ranking.

For each query spectrum:

1. **Candidates.** With a formula, by ``SearchParams.formula_policy``: ``reject`` (default)
   the entries of that exact formula only (none: the query's row says so); ``penalize`` the
   exact formula, else the nearest formulas (±1–2 H first, then one heavy-atom count ±1 with
   ±0–2 H), else the whole library, with ``formula_match`` false on such rows; ``ignore`` as
   without a formula. Without a formula: the whole library when it holds
   at most ``SearchParams.candidates`` entries, else the union of the top
   ``SearchParams.candidates`` entries by peak density (:mod:`~nmrpeak_cli.retrieve.binned`)
   and by every embedding index.
2. **Scores** of every candidate, each in [0, 1]: ``ssr`` the peak-aware similarity between
   the query and the candidate's predicted spectrum
   (:func:`~nmrpeak_cli.similarity.spectrum_score_many`); ``sme``/``sse`` the cosine
   similarity of the query's embedding with the candidate's, mapped to ``(1 + cos) / 2``.
3. **Fusion**: the weighted mean of the available component scores
   (:class:`FusionWeights`, fitted on the validation split), then the top ``k``.

Queries that cannot be searched (no peaks, a formula contradicting the peaks
(:func:`~nmrpeak_cli.consistency.check_consistency`), a row that does not parse) give one
result row with ``error`` set; the batch goes on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nmrpeak_cli.consistency import attached_h_problem, check_consistency, without_attached_h
from nmrpeak_cli.errors import NmrpeakError
from nmrpeak_cli.io.records import batched
from nmrpeak_cli.retrieve.library import Library, gather_packed
from nmrpeak_cli.retrieve.models import Encoder
from nmrpeak_cli.schema import ResultRow, row_to_spectrum
from nmrpeak_cli.similarity import (
    DEFAULT_PARAMS,
    PackedPeakLists,
    SimilarityParams,
    spectrum_score_many,
)
from nmrpeak_cli.spectra import Spectrum, hill_formula, parse_formula

log = logging.getLogger(__name__)

COMPONENTS: tuple[str, ...] = ("ssr", "sme", "sse")
"""Component scores of retrieval, in the order of the results columns."""
FORMULA_POLICIES: tuple[str, ...] = ("reject", "penalize", "ignore")
"""How a query formula constrains the candidates (:attr:`SearchParams.formula_policy`)."""


@dataclass(frozen=True, slots=True)
class FusionWeights:
    """Weights of the component scores in the fused score (renormalized over those present).

    Attributes
    ----------
    ssr, sme, sse
        Non-negative weight of each component.
    """

    ssr: float = 1.0
    sme: float = 0.0
    sse: float = 0.0

    def __post_init__(self) -> None:
        for name in COMPONENTS:
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"fusion weight {name} must be a finite number ≥ 0, got {value!r}")
        if self.ssr + self.sme + self.sse <= 0:
            raise ValueError("at least one fusion weight must be positive")

    def to_dict(self) -> dict[str, float]:
        """JSON form (model card)."""
        return {name: getattr(self, name) for name in COMPONENTS}


@dataclass(frozen=True, slots=True)
class SearchParams:
    """Settings of :func:`retrieve`.

    Attributes
    ----------
    k
        Results per query.
    candidates
        Entries taken from each embedding index when the query has no formula.
    weights
        Fusion weights.
    similarity
        Parameters of the peak-aware similarity (SSR).
    batch_size
        Queries embedded and searched together.
    formula_policy
        Entries of another formula than the query's: ``reject`` (never returned),
        ``penalize`` (the nearest formulas when the exact one is absent) or ``ignore``
        (searched as if the query had no formula).
    """

    k: int = 10
    candidates: int = 2000
    weights: FusionWeights = field(default_factory=FusionWeights)
    similarity: SimilarityParams = DEFAULT_PARAMS
    batch_size: int = 256
    formula_policy: str = "reject"

    def __post_init__(self) -> None:
        for name in ("k", "candidates", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.formula_policy not in FORMULA_POLICIES:
            raise ValueError(
                f"formula_policy must be one of {', '.join(FORMULA_POLICIES)}, "
                f"got {self.formula_policy!r}"
            )

    def uses_formula(self, spectrum: Spectrum) -> bool:
        """Whether the query's formula selects its candidates."""
        return spectrum.formula is not None and self.formula_policy != "ignore"


@dataclass(frozen=True, slots=True)
class QueryError:
    """A query record that could not be read: its id and the reason."""

    id: str
    error: str


# --------------------------------------------------------------------------------------------
# Formula filter
# --------------------------------------------------------------------------------------------


def near_formulas(formula: str) -> list[list[str]]:
    """Formulas near ``formula``, by tier: ±1/±2 H, then one heavy-atom count ±1 with 0–±2 H.

    Returns
    -------
    list of list of str
        Tier 1 and tier 2 formulas (Hill order), excluding ``formula`` itself.
    """
    counts = parse_formula(formula)

    def variant(changes: Mapping[str, int]) -> str | None:
        new = dict(counts)
        for element, delta in changes.items():
            new[element] = new.get(element, 0) + delta
            if new[element] < 0:
                return None
        new = {e: n for e, n in new.items() if n > 0}
        return hill_formula(new) if new else None

    tier1 = [variant({"H": dh}) for dh in (-1, 1, -2, 2)]
    heavy = sorted({e for e in counts if e != "H"} | {"C", "N", "O"})
    tier2 = [
        variant({element: de, "H": dh})
        for element in heavy
        for de in (-1, 1)
        for dh in (0, -1, 1, -2, 2)
    ]
    seen = {formula}
    tiers = []
    for tier in (tier1, tier2):
        unique = []
        for f in tier:
            if f is not None and f not in seen:
                seen.add(f)
                unique.append(f)
        tiers.append(unique)
    return tiers


def formula_candidates(library: Library, formula: str) -> tuple[np.ndarray, bool]:
    """Rows of ``formula`` in the library, else of the nearest formulas present.

    Returns
    -------
    rows, exact
        Candidate row numbers (empty when no near formula is present either) and whether
        they carry the exact formula.
    """
    rows = library.rows_with_formula(formula)
    if len(rows):
        return rows, True
    for tier in near_formulas(formula):
        found = [library.rows_with_formula(f) for f in tier]
        found = [r for r in found if len(r)]
        if found:
            return np.sort(np.concatenate(found)), False
    return np.zeros(0, np.int64), False


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


def _subset(packed: PackedPeakLists, rows: np.ndarray | None) -> PackedPeakLists:
    if rows is None:
        return packed
    arrays = {
        "shifts": packed.shifts,
        "weights": packed.weights,
        "offsets": packed.offsets,
        "totals": packed.totals,
        "counted": packed.counted,
        "n_h": packed.n_h,
    }
    return PackedPeakLists(nucleus=packed.nucleus, **gather_packed(arrays, rows))


def _cosine01(query_vector: np.ndarray, vectors: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    matrix = vectors if rows is None else vectors[rows]
    cosine = np.asarray(matrix, np.float32) @ query_vector.astype(np.float32)
    return np.clip((1.0 + cosine.astype(float)) / 2.0, 0.0, 1.0)


def fuse(scores: Mapping[str, np.ndarray], weights: FusionWeights) -> np.ndarray:
    """Weighted mean of the component scores present (weights renormalized over them)."""
    present = [name for name in COMPONENTS if name in scores and getattr(weights, name) > 0]
    if not present:
        present = [name for name in COMPONENTS if name in scores]
        return sum(scores[name] for name in present) / len(present)
    total = sum(getattr(weights, name) for name in present)
    return sum(getattr(weights, name) * scores[name] for name in present) / total


def error_result(query_id: str, error: str) -> dict[str, Any]:
    """A results row for a query that could not be searched."""
    return ResultRow(query_id=query_id, error=error).to_dict()


@dataclass(frozen=True, slots=True)
class Scored:
    """Every candidate of one query with its component scores (before ranking).

    Attributes
    ----------
    rows
        Library row numbers of the candidates.
    scores
        Component name → ``(len(rows),)`` scores in [0, 1].
    exact_formula
        Whether the candidates carry the query's formula (``None`` without a query formula).
    empty_reason
        Why there is no candidate (a formula absent from the library under ``reject``).
    """

    rows: np.ndarray
    scores: Mapping[str, np.ndarray]
    exact_formula: bool | None
    empty_reason: str | None = None


def score_candidates(
    spectrum: Spectrum,
    library: Library,
    query_vectors: Mapping[str, np.ndarray],
    params: SearchParams,
    index_rows: np.ndarray | None = None,
) -> Scored:
    """Candidates of one query and their component scores.

    ``query_vectors`` maps encoder names to the query's embedding; ``index_rows`` are the
    rows the embedding indexes proposed (used when the query has no formula).
    """
    exact: bool | None = None
    rows: np.ndarray | None = None
    if params.uses_formula(spectrum) and params.formula_policy == "reject":
        rows, exact = library.rows_with_formula(spectrum.formula), True
        if not len(rows):
            reason = (
                f"no library entry has the formula {spectrum.formula} "
                "(--formula-policy penalize searches the nearest formulas)"
            )
            return Scored(np.zeros(0, np.int64), {}, True, reason)
    elif params.uses_formula(spectrum):
        rows, exact = formula_candidates(library, spectrum.formula)
        if not len(rows):
            rows = None
    elif index_rows is not None:
        rows = index_rows
    packed = {n: _subset(library.packed[n], rows) for n in spectrum.nuclei}
    scores = {"ssr": spectrum_score_many(spectrum, packed, params=params.similarity)}
    for name, vector in query_vectors.items():
        scores[name] = _cosine01(vector, library.embeddings[name], rows)
    if rows is None:
        rows = np.arange(len(library))
    return Scored(rows=np.asarray(rows, np.int64), scores=scores, exact_formula=exact)


def rank(
    scored: Scored, library: Library, query: Spectrum, params: SearchParams
) -> list[dict[str, Any]]:
    """Top ``params.k`` result rows of one query, best first."""
    if scored.empty_reason is not None:
        return [error_result(query.id, scored.empty_reason)]
    fused = fuse(scored.scores, params.weights)
    if not len(fused):
        return [error_result(query.id, f"library {library.path} is empty")]
    k = min(params.k, len(fused))
    top = np.argpartition(-fused, k - 1)[:k] if k < len(fused) else np.arange(len(fused))
    top = top[np.lexsort((scored.rows[top], -fused[top]))]
    library_rows = scored.rows[top]
    entries = library.entries.take(library_rows).to_pydict()
    results = []
    for position, (i, row) in enumerate(zip(top, library_rows, strict=True)):
        formula = entries["formula"][position]
        components = {
            name: float(scored.scores[name][i]) if name in scored.scores else None
            for name in COMPONENTS
        }
        result = ResultRow(
            query_id=query.id,
            rank=position + 1,
            smiles=entries["smiles"][position],
            inchikey=entries["inchikey"][position],
            score=float(fused[i]),
            **components,
            source="library",
            formula_match=None if query.formula is None else formula == query.formula,
        )
        results.append(result.to_dict(library_row=int(row)))
    return results


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _check_encoders(library: Library, encoders: Mapping[str, Encoder]) -> None:
    from nmrpeak_cli.retrieve.library import check_models

    check_models(
        library.manifest, str(library.path), encoders=[e.identity for e in encoders.values()]
    )


def propose_candidates(
    library: Library,
    queries: Sequence[Spectrum],
    vectors: Mapping[str, np.ndarray],
    params: SearchParams,
) -> list[np.ndarray | None]:
    """Candidate rows of each query: ``None`` (its formula group, or the whole library when it
    is small) or, for a query without formula in a library larger than
    ``params.candidates``, the union of the ``params.candidates`` best entries of each
    embedding index (``vectors``: the queries' embeddings per encoder name) and the best by
    peak density (:mod:`~nmrpeak_cli.retrieve.binned`): ``params.candidates`` of them
    without encoders, a quarter as many beside them (they add recall where the embeddings
    are weak, 1H-only queries, at little scoring cost)."""
    proposals: list[np.ndarray | None] = [None] * len(queries)
    need = [i for i, q in enumerate(queries) if not params.uses_formula(q)]
    depth = min(params.candidates, len(library))
    if not need or depth >= len(library):
        return proposals
    density_depth = depth if not vectors else max(1, depth // 4)
    found: list[list[np.ndarray]] = [
        [rows] for rows in library.binned.search([queries[i] for i in need], density_depth)
    ]
    for name, matrix in vectors.items():
        picked = np.ascontiguousarray(matrix[need], np.float32)
        _, ids = library.index(name).search(picked, depth)
        for parts, row_ids in zip(found, ids, strict=True):
            parts.append(row_ids[row_ids >= 0])
    for i, parts in zip(need, found, strict=True):
        proposals[i] = np.unique(np.concatenate(parts))
    return proposals


def retrieve(
    spectra: Iterable[Spectrum | QueryError],
    library: Library,
    *,
    encoders: Mapping[str, Encoder] | None = None,
    params: SearchParams = SearchParams(),
) -> Iterator[dict[str, Any]]:
    """Rank library entries for each query spectrum.

    Parameters
    ----------
    spectra
        Query spectra (their ``smiles`` is never read), or :class:`QueryError` records from a
        reader, which pass through as error rows.
    library
        An opened library (:func:`~nmrpeak_cli.retrieve.library.open_library`).
    encoders
        Query-side encoders by name (``sme``, ``sse``); each must be the version the library
        was built with. Encoders the library does not hold are an error; library encoders
        not given are not used.
    params
        ``k``, candidate depth, fusion weights, similarity parameters.

    Yields
    ------
    dict
        RESULTS_SCHEMA rows (plus ``library_row``, the entry's row in the library): ``k``
        per query, best first, or one row with ``error`` for a query that cannot be searched.
    """
    for rows in retrieve_groups(spectra, library, encoders=encoders, params=params):
        yield from rows


def retrieve_groups(
    spectra: Iterable[Spectrum | QueryError],
    library: Library,
    *,
    encoders: Mapping[str, Encoder] | None = None,
    params: SearchParams = SearchParams(),
) -> Iterator[list[dict[str, Any]]]:
    """:func:`retrieve`, one list of rows per query (in input order): the candidate group
    elucidate pools, with no flatten-then-regroup."""
    encoders = dict(encoders or {})
    _check_encoders(library, encoders)
    for batch in batched(spectra, params.batch_size):
        problems = {
            id(item): check_consistency(item).errors
            for item in batch
            if not isinstance(item, QueryError)
        }
        good = [
            item for item in batch if not isinstance(item, QueryError) and not problems[id(item)]
        ]
        if params.similarity.attached_h:
            good = [_usable_labels(item) for item in good]
            if any(q.c13 and any(p.n_h is not None for p in q.c13) for q in good):
                library = library.labelled  # label the predicted peaks once, on first need
        vectors = {
            name: np.asarray(encoder.embed_queries(good), np.float32) if good else None
            for name, encoder in encoders.items()
        }
        index_rows = propose_candidates(
            library, good, {n: v for n, v in vectors.items() if v is not None}, params
        )
        position = 0
        labelled = iter(good)
        for item in batch:
            if isinstance(item, QueryError):
                yield [error_result(item.id, item.error)]
                continue
            if problems[id(item)]:
                yield [error_result(item.id, "; ".join(problems[id(item)]))]
                continue
            query_vectors = {name: v[position] for name, v in vectors.items()}
            scored = score_candidates(
                next(labelled).without_truth(), library, query_vectors, params, index_rows[position]
            )
            position += 1
            yield rank(scored, library, item, params)


def _usable_labels(spectrum: Spectrum) -> Spectrum:
    """The query without its attached-H labels when they contradict its formula (logged)."""
    problem = attached_h_problem(spectrum)
    if problem is None:
        return spectrum
    log.warning("%s: %s; searched without the labels", spectrum.id, problem)
    return without_attached_h(spectrum)


def read_queries(rows: Iterable[Mapping[str, Any]]) -> Iterator[Spectrum | QueryError]:
    """Query-table rows → spectra, or :class:`QueryError` for rows that do not parse."""
    for number, row in enumerate(rows, start=1):
        record_id = str(row.get("id") or f"record {number}")
        if row.get("error"):
            yield QueryError(record_id, str(row["error"]))
            continue
        try:
            yield row_to_spectrum(row)
        except (NmrpeakError, ValueError, TypeError) as exc:
            yield QueryError(record_id, str(exc))


__all__ = [
    "COMPONENTS",
    "FusionWeights",
    "QueryError",
    "SearchParams",
    "fuse",
    "near_formulas",
    "read_queries",
    "retrieve",
    "retrieve_groups",
]
