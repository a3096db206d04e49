"""Python API: :func:`generate`, one RESULTS_SCHEMA row per candidate (elucidation, which
pools these candidates with the library's, lives in :mod:`nmrpeak_cli.elucidate`).

Queries are checked first (:func:`check_query`): a query the model cannot read (no peaks, an
impossible formula, a formula contradicting the peak count, more tokens than the model
reads) gives one row with ``error`` set and no candidates; a query it can read but that lies
outside the training distribution (shifts beyond the tokenizer range) is answered, and its
rows carry a ``warning: ...`` note in ``error``. Candidates are always valid molecules; a
query for which none survives decoding gets one row saying so.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from nmrpeak_cli.consistency import QueryCheck, check_consistency, formula_problem
from nmrpeak_cli.errors import NmrpeakError
from nmrpeak_cli.generate.decode import (
    Candidate,
    beam_search,
    candidates_from_hypotheses,
    hypothesis_filter,
    length_cap,
)
from nmrpeak_cli.generate.inputs import (
    Configuration,
    apply_configuration,
    canonical_input,
)
from nmrpeak_cli.generate.labels import labels_fit, query_label_counts
from nmrpeak_cli.generate.library_seeds import LibrarySeeds
from nmrpeak_cli.generate.model import Generator
from nmrpeak_cli.generate.rerank import (
    SimilarityFn,
    default_similarity,
    predict_candidates,
    rerank,
    score_by_beam,
)
from nmrpeak_cli.generate.search import (
    PredictionCache,
    SearchConfig,
    SearchResult,
    Seed,
    reseed,
    structure_search,
)
from nmrpeak_cli.io.records import batched
from nmrpeak_cli.predict.forward import ForwardModel, Predictor
from nmrpeak_cli.schema import result_row
from nmrpeak_cli.spectra import Spectrum

log = logging.getLogger(__name__)

WARNING_PREFIX = "warning: "
"""Prefix of notes in ``error`` that do not mark the record as failed."""

LABEL_POLICIES = ("drop", "demote", "off")
"""What the beam does with a finished hypothesis that the query's attached-H (DEPT) labels
rule out (:func:`~nmrpeak_cli.generate.labels.labels_fit`): ``drop`` frees its beam slot as
it ends (the beam refills from the live hypotheses, like a formula mismatch), ``demote``
keeps it with :data:`LABEL_PENALTY` off its log-probability, ``off`` ignores the labels
(the similarity still matches peaks within their attached-H class). Queries without labels
decode the same under every policy. ``drop`` was chosen on the random validation split
(benchmarks/RESULTS.md, DEPT part)."""
LABEL_PENALTY = 1.0
"""Subtracted from the per-token log-probability of a candidate the labels rule out under
``demote`` (as :data:`~nmrpeak_cli.generate.decode.FORMULA_PENALTY` for a formula mismatch)."""


def check_query(spectrum: Spectrum, generator: Generator) -> QueryCheck:
    """Errors and warnings for one (canonical) query: its consistency
    (:func:`~nmrpeak_cli.consistency.check_consistency`), then what the model can read."""
    check = check_consistency(spectrum)
    errors, warnings = list(check.errors), list(check.warnings)
    tokenizer = generator.spectrum_tokenizer
    for peaks, bins in ((spectrum.c13, tokenizer.c13_bins), (spectrum.h1, tokenizer.h1_bins)):
        if peaks:
            low, high = bins.edges[0], bins.edges[-1]
            outside = [s for s in peaks.shifts if not low <= s <= high]
            if outside:
                warnings.append(
                    f"{len(outside)} {peaks.nucleus.value} shift(s) outside the training range "
                    f"[{low:g}, {high:g}] ppm (e.g. {outside[0]:g}); the answer is unreliable"
                )
    if not errors:
        n_tokens = len(tokenizer.encode(spectrum))
        if n_tokens > generator.model.config.max_src_len:
            errors.append(
                f"the query makes {n_tokens} input tokens; the model reads at most "
                f"{generator.model.config.max_src_len} (too many peaks for this model)"
            )
    return QueryCheck(tuple(errors), tuple(warnings))


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Candidates for one query (or the reason there are none)."""

    query: Spectrum
    """The canonical query the model read."""
    candidates: tuple[Candidate, ...] = ()
    """Best first."""
    error: str | None = None
    """Why the query was not answered."""
    warnings: tuple[str, ...] = ()
    """Notes on a query that was answered."""
    seeds: tuple[str, ...] = ()
    """Every valid hypothesis in beam order, whatever its formula (structure search seeds)."""


def propose(
    spectra: Sequence[Spectrum],
    generator: Generator,
    *,
    beam: int = 10,
    formula_policy: str = "reject",
    configuration: Configuration | None = None,
    label_policy: str = "drop",
) -> list[QueryResult]:
    """Beam-decode one batch of queries into valid candidates in beam order (no scores);
    ``label_policy`` (:data:`LABEL_POLICIES`) says what to do with candidates the query's
    attached-H labels rule out."""
    if label_policy not in LABEL_POLICIES:
        raise ValueError(f"unknown label_policy {label_policy!r}; expected one of {LABEL_POLICIES}")
    queries = [canonical_input(s) for s in spectra]
    if configuration is not None:
        queries = [apply_configuration(q, configuration) for q in queries]
    checks = [check_query(q, generator) for q in queries]
    runnable = [i for i, c in enumerate(checks) if not c.errors]
    sources = [generator.spectrum_tokenizer.encode(queries[i]) for i in runnable]
    limit = generator.model.config.max_tgt_len
    max_len = max((length_cap(queries[i].formula, limit) for i in runnable), default=limit)
    reject = formula_policy == "reject"
    formulas = [queries[i].formula for i in runnable] if reject else None
    accept = hypothesis_filter(
        generator.smiles_tokenizer, [queries[i].formula for i in runnable], match_formula=reject
    )
    wanted = [query_label_counts(queries[i]) for i in runnable]
    if label_policy == "drop" and any(wanted):
        accept = _label_accept(accept, generator, wanted)
    found = beam_search(
        generator, sources, beam=beam, max_len=max_len, formulas=formulas, accept=accept
    )
    hypotheses = dict(zip(runnable, found, strict=True))
    results = []
    for i, (query, check) in enumerate(zip(queries, checks, strict=True)):
        if check.errors:
            results.append(QueryResult(query, error="; ".join(check.errors)))
            continue
        candidates = candidates_from_hypotheses(
            hypotheses[i],
            generator.smiles_tokenizer,
            formula=query.formula,
            formula_policy=formula_policy,
        )
        if label_policy == "demote":
            candidates = demote_unfitting(candidates, query_label_counts(query))
        seeds = candidates_from_hypotheses(
            hypotheses[i], generator.smiles_tokenizer, formula_policy="ignore"
        )
        results.append(
            QueryResult(
                query, tuple(candidates), warnings=check.warnings,
                seeds=tuple(c.smiles for c in seeds),
            )
        )  # fmt: skip
    return results


def _label_accept(accept, generator: Generator, wanted: Sequence[Counter[int]]):
    """``accept`` that also rejects, per query, a hypothesis its labels rule out."""
    from nmrpeak_cli import chem

    decode = generator.smiles_tokenizer.decode

    def fits(query: int, ids: Sequence[int]) -> bool:
        if not accept(query, ids):
            return False
        if not wanted[query]:
            return True
        mol = chem.try_parse_smiles(decode(ids))
        return mol is None or labels_fit(mol, wanted[query])

    return fits


def demote_unfitting(candidates: Sequence[Candidate], wanted: Counter[int]) -> list[Candidate]:
    """Candidates with :data:`LABEL_PENALTY` off the log-probability of those the labels
    counted in ``wanted`` rule out, best first (unchanged when ``wanted`` is empty)."""
    if not wanted:
        return list(candidates)
    from nmrpeak_cli import chem

    out = []
    for candidate in candidates:
        mol = chem.try_parse_smiles(candidate.smiles)
        ruled_out = mol is not None and not labels_fit(mol, wanted)
        out.append(
            replace(candidate, logprob=candidate.logprob - LABEL_PENALTY)
            if ruled_out
            else candidate
        )
    return sorted(out, key=lambda c: -c.logprob)


def score_results(
    results: Sequence[QueryResult],
    generator: Generator,
    *,
    predictor: Predictor | None,
    similarity: SimilarityFn | None,
) -> tuple[list[QueryResult], str | None]:
    """Score every query's candidates: reranked when a predictor is given, else beam order.

    Returns the scored results and, when reranking was asked for but failed, why.
    """
    fusion = generator.fusion
    if predictor is not None and similarity is not None:
        try:
            by_solvent: dict[str | None, list[str]] = {}
            for result in results:
                by_solvent.setdefault(result.query.solvent, []).extend(
                    c.smiles for c in result.candidates
                )
            predicted = {}
            for solvent, smiles in by_solvent.items():
                predicted[solvent] = predict_candidates(predictor, smiles, solvent)
            return [
                replace(
                    r,
                    candidates=tuple(
                        rerank(
                            r.query, r.candidates, predicted[r.query.solvent], fusion, similarity
                        )
                    ),
                )
                for r in results
            ], None
        except NmrpeakError as exc:
            reason = f"rerank skipped: {exc}"
            log.warning(reason)
            return _beam_scored(results, fusion), reason
    return _beam_scored(results, fusion), None


def _beam_scored(results: Sequence[QueryResult], fusion) -> list[QueryResult]:
    return [replace(r, candidates=tuple(score_by_beam(r.candidates, fusion))) for r in results]


def result_rows(result: QueryResult, k: int, note: str | None = None) -> list[dict[str, Any]]:
    """RESULTS_SCHEMA rows of one query (``source="generated"``)."""
    qid = result.query.id
    if result.error:
        return [result_row(query_id=qid, error=result.error)]
    notes = [*result.warnings, *([note] if note else [])]
    warning = WARNING_PREFIX + "; ".join(notes) if notes else None
    if not result.candidates:
        reason = "no valid candidate: every decoded structure was invalid"
        if result.query.formula:
            reason += " or contradicted the formula"
        return [result_row(query_id=qid, error=reason)]
    return [
        result_row(
            query_id=qid,
            rank=rank,
            smiles=c.smiles,
            inchikey=c.inchikey,
            score=c.score,
            gen_logprob=c.logprob,
            rerank=c.similarity,
            source="generated",
            formula_match=c.formula_match,
            error=warning,
        )
        for rank, c in enumerate(result.candidates[:k], start=1)
    ]


def search_rows(
    result: QueryResult, found: SearchResult, k: int, note: str | None = None
) -> list[dict[str, Any]]:
    """RESULTS_SCHEMA rows of one query's structure search: ``source`` is ``generated`` for a
    beam hypothesis, ``search`` for a structure a move made (``library`` for a library seed).

    A search that found nothing keeps the reranked beam answer, with the reason as a warning.
    """
    if result.error or not found.candidates:
        reason = None if result.error else f"structure search found nothing: {found.stopped}"
        return result_rows(result, k, "; ".join(n for n in (note, reason) if n) or None)
    notes = [*result.warnings, *([note] if note else [])]
    warning = WARNING_PREFIX + "; ".join(notes) if notes else None
    match = True if result.query.formula else None
    return [
        result_row(
            query_id=result.query.id,
            rank=rank,
            smiles=c.smiles,
            inchikey=c.inchikey,
            score=c.score,
            gen_logprob=c.logprob,
            rerank=c.similarity,
            source="generated" if c.source == "beam" else c.source,
            formula_match=match,
            similarity_c13=c.similarity_c13,
            similarity_h1=c.similarity_h1,
            error=warning,
        )
        for rank, c in enumerate(found.candidates[:k], start=1)
    ]


def search_batch(
    results: Sequence[QueryResult],
    generator: Generator,
    predictor: Predictor,
    config: SearchConfig,
    library: LibrarySeeds | None = None,
) -> tuple[list[SearchResult | None], str | None]:
    """The structure search of each answered query, seeded by its reranked candidates and
    then the rest of its beam (one prediction cache for the batch), then (``library``) its
    nearest library entries retrieved ignoring the formula, as ``library`` seeds; ``None``
    for queries with an error. Queries whose beam found nothing of their formula are
    re-decoded for seeds first (:func:`~nmrpeak_cli.generate.search.reseed`). Returns also
    why the search was skipped, if it failed."""
    cache = PredictionCache(predictor)
    found: list[SearchResult | None] = []
    empty = [
        i for i, r in enumerate(results) if not r.error and not r.candidates and r.query.formula
    ]
    answered = [i for i, r in enumerate(results) if not r.error]
    try:
        again = reseed(generator, [results[i].query for i in empty], config.reseed_beam)
        extra = dict(zip(empty, again, strict=True))
        near: dict[int, list[str]] = {}
        if library is not None:
            retrieved = library.smiles([results[i].query for i in answered])
            near = dict(zip(answered, retrieved, strict=True))
        for i, result in enumerate(results):
            if result.error:
                found.append(None)
                continue
            beam = dict.fromkeys(
                [*(c.smiles for c in result.candidates), *result.seeds, *extra.get(i, ())]
            )
            seeds = [Seed(s, "beam") for s in beam]
            seeds += [Seed(s, "library") for s in near.get(i, ()) if s not in beam]
            found.append(
                structure_search(
                    result.query, seeds, predictor=cache, config=config, generator=generator
                )
            )
    except NmrpeakError as exc:
        reason = f"structure search skipped: {exc}"
        log.warning(reason)
        return [None] * len(results), reason
    return found, None


def generate(
    spectra: Iterable[Spectrum | Any],
    k: int = 10,
    beam: int = 10,
    *,
    generator: Generator | None = None,
    predictor: Predictor | None = None,
    similarity: SimilarityFn | None = None,
    rerank: bool = True,
    formula_policy: str = "reject",
    search: SearchConfig | None = None,
    library: LibrarySeeds | None = None,
    batch_size: int = 16,
    device: str = "cpu",
    label_policy: str = "drop",
) -> Iterator[dict[str, Any]]:
    """Generate ranked candidate structures for each query spectrum.

    Parameters
    ----------
    spectra
        Query spectra; records that failed to read (objects with ``to_row()`` and an
        ``record`` id, e.g. :class:`~nmrpeak_cli.io.records.RecordError`) pass through as
        error rows.
    k
        Candidates kept per query.
    beam
        Beam width (at least ``k`` is sensible: invalid and duplicate sequences are dropped).
    generator
        A loaded generator (default: the shipped one).
    predictor, similarity
        Forward model and spectrum similarity for reranking (defaults: the shipped predictor
        and :func:`~nmrpeak_cli.similarity.spectrum_similarity`).
    rerank
        Rerank by forward prediction; when unavailable, rows say so and keep beam order.
    formula_policy
        ``reject``, ``penalize`` or ``ignore`` candidates whose formula differs from the query's.
    search
        Run the structure search (:func:`~nmrpeak_cli.generate.search.structure_search`)
        from each query's candidates with these settings (needs ``rerank``).
    library
        Also seed the search with each query's nearest library entries, retrieved ignoring
        the formula (:mod:`~nmrpeak_cli.generate.library_seeds`; needs ``search``).
    batch_size
        Queries decoded together.
    device
        Torch device for the generator and default predictor.
    label_policy
        Candidates the query's attached-H (DEPT) labels rule out: ``drop`` (default),
        ``demote`` or ``off`` (:data:`LABEL_POLICIES`).

    Yields
    ------
    dict
        RESULTS_SCHEMA rows, per query in input order, rank 1 first.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if search is not None and not rerank:
        raise ValueError("the structure search needs the forward model: rerank=True")
    if generator is None:
        from nmrpeak_cli.generate.model import load_generator

        generator = load_generator(device=device)
    if rerank:
        predictor = predictor or ForwardModel(device=device)
        similarity = similarity or default_similarity()
    else:
        predictor = similarity = None
    for batch in batched(spectra, batch_size):
        for rows in answer_batch(
            batch, generator, k=k, beam=beam, predictor=predictor, similarity=similarity,
            formula_policy=formula_policy, search=search, library=library,
            label_policy=label_policy,
        ):  # fmt: skip
            yield from rows


def answer_batch(
    batch: Sequence[Spectrum | Any],
    generator: Generator,
    *,
    k: int = 10,
    beam: int = 10,
    predictor: Predictor | None = None,
    similarity: SimilarityFn | None = None,
    formula_policy: str = "reject",
    search: SearchConfig | None = None,
    library: LibrarySeeds | None = None,
    label_policy: str = "drop",
) -> list[list[dict[str, Any]]]:
    """RESULTS_SCHEMA rows of each item of one batch, decoded together (see :func:`generate`).

    Items that are not spectra (reader errors) give one error row each.
    """
    good = [s for s in batch if isinstance(s, Spectrum)]
    proposed = propose(
        good, generator, beam=beam, formula_policy=formula_policy, label_policy=label_policy
    )
    scored, note = score_results(proposed, generator, predictor=predictor, similarity=similarity)
    if search is not None and predictor is not None and note is None:
        found, search_note = search_batch(scored, generator, predictor, search, library)
        groups = [
            result_rows(r, k, search_note) if f is None else search_rows(r, f, k)
            for r, f in zip(scored, found, strict=True)
        ]
    else:
        groups = [result_rows(r, k, note) for r in scored]
    by_position = iter(groups)
    return [
        next(by_position)
        if isinstance(item, Spectrum)
        else [result_row(query_id=record_id(item), error=str(item))]
        for item in batch
    ]


def record_id(item: Any) -> str:
    """Id of a query or of a record that failed to read (its ``record`` or ``id``)."""
    return str(getattr(item, "record", None) or getattr(item, "id", None) or "?")


def is_failure(row: dict[str, Any]) -> bool:
    """Whether a result row marks a failed record (warnings do not)."""
    error = row.get("error")
    return bool(error) and not str(error).startswith(WARNING_PREFIX)


@lru_cache(maxsize=2)
def process_generator(weights: Path, device: str, threads: int | None = None) -> Generator:
    """The generator of ``weights``, loaded once per process (workers and Dask tasks reuse it).

    ``threads`` sets torch's CPU threads first (1 in worker processes, so they do not
    oversubscribe the cores). Raises :class:`NotAvailableError` for missing or bad weights.
    """
    from nmrpeak_cli.generate.model import load_generator
    from nmrpeak_cli.predict.infer import set_torch_threads

    set_torch_threads(threads)
    return load_generator(weights, device=device)


@dataclass(frozen=True, slots=True)
class GenerateBatch:
    """Picklable batch body for :func:`nmrpeak_cli.batch.run_records`: the ranked generated
    candidates of each query (a :class:`~nmrpeak_cli.spectra.Spectrum`, or a record that failed
    to read, which gives an error row).

    Attributes
    ----------
    weights
        Generator weights (card and tokenizer beside), loaded once per process.
    predictor
        Forward-model weights for reranking and report overlays, loaded once per process
        when first needed (missing weights: beam order, with a warning).
    device
        Concrete torch device (``cpu``, ``cuda``).
    k, beam, rerank, formula_policy, search, library, label_policy
        See :func:`generate`.
    threads
        torch CPU threads in this process (``None``: torch's default).
    report
        Folder for one HTML report per query (written by the process that answered it), or
        ``None``.
    """

    weights: Path
    predictor: Path
    device: str = "cpu"
    k: int = 10
    beam: int = 10
    rerank: bool = True
    formula_policy: str = "reject"
    threads: int | None = None
    report: Path | None = None
    search: SearchConfig | None = None
    library: LibrarySeeds | None = None
    label_policy: str = "drop"

    def generator(self) -> Generator:
        """This process's generator (loaded on first use)."""
        return process_generator(self.weights, self.device, self.threads)

    def forward(self) -> Predictor:
        """This process's forward model."""
        return ForwardModel(self.predictor, self.device, self.threads)

    def rows(self, batch: Sequence[Spectrum | Any]) -> list[list[dict[str, Any]]]:
        """Rows of each query of ``batch``, without reports."""
        return answer_batch(
            batch,
            self.generator(),
            k=self.k,
            beam=self.beam,
            predictor=self.forward() if self.rerank else None,
            similarity=default_similarity() if self.rerank else None,
            formula_policy=self.formula_policy,
            search=self.search if self.rerank else None,
            library=self.library,
            label_policy=self.label_policy,
        )

    def __call__(self, batch: list[Spectrum | Any]) -> list[list[dict[str, Any]]]:
        """Answer one batch; failed queries give rows with ``error``."""
        groups = self.rows(batch)
        if self.report is not None:
            from nmrpeak_cli.report import write_reports

            groups = write_reports(batch, groups, self.report, self.forward())
        return groups


__all__ = [
    "LABEL_PENALTY",
    "LABEL_POLICIES",
    "GenerateBatch",
    "QueryCheck",
    "QueryResult",
    "answer_batch",
    "check_query",
    "demote_unfitting",
    "formula_problem",
    "generate",
    "is_failure",
    "process_generator",
    "propose",
    "record_id",
    "result_rows",
    "score_results",
    "search_batch",
    "search_rows",
]
