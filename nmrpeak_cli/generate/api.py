"""Python API: :func:`generate` and :func:`elucidate`, one RESULTS_SCHEMA row per candidate.

Queries are checked first (:func:`check_query`): a query the model cannot read (no peaks, an
impossible formula, a formula contradicting the peak count, more tokens than the model
reads) gives one row with ``error`` set and no candidates; a query it can read but that lies
outside the training distribution (shifts beyond the tokenizer range) is answered, and its
rows carry a ``warning: ...`` note in ``error``. Candidates are always valid molecules; a
query for which none survives decoding gets one row saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nmrpeak_cli.errors import NmrpeakError, NotAvailableError
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
from nmrpeak_cli.generate.model import Generator
from nmrpeak_cli.generate.rerank import (
    Predictor,
    SimilarityFn,
    default_predictor,
    default_similarity,
    predict_candidates,
    rerank,
    score_by_beam,
)
from nmrpeak_cli.spectra import Spectrum, parse_formula

if TYPE_CHECKING:
    from nmrpeak_cli.retrieve.api import SearchBatch

log = logging.getLogger(__name__)

WARNING_PREFIX = "warning: "
"""Prefix of notes in ``error`` that do not mark the record as failed."""

_VALENCE = {"C": 4, "Si": 4, "N": 3, "P": 3, "B": 3, "O": 2, "S": 2, "Se": 2}
_MONOVALENT = {"H", "D", "F", "Cl", "Br", "I"}


@dataclass(frozen=True, slots=True)
class QueryCheck:
    """Outcome of :func:`check_query`."""

    errors: tuple[str, ...] = ()
    """Problems that prevent generation."""
    warnings: tuple[str, ...] = ()
    """Problems that make the answer less reliable."""


def formula_problem(formula: str) -> str | None:
    """Why a (Hill) formula cannot be a neutral closed-shell molecule, ``None`` if it can."""
    counts = parse_formula(formula)
    unknown = [e for e in counts if e not in _VALENCE and e not in _MONOVALENT]
    if unknown:
        return f"formula {formula}: elements {unknown} are outside what the model knows"
    heavy = sum(n for e, n in counts.items() if e not in _MONOVALENT)
    if heavy == 0:
        return f"formula {formula} has no carbon or other backbone atom"
    # Degree of unsaturation: (2 + sum n_i (v_i - 2)) / 2 must be a non-negative integer.
    doubled = 2 + sum(n * (_VALENCE.get(e, 1) - 2) for e, n in counts.items())
    if doubled < 0:
        return f"formula {formula} has more hydrogens/halogens than its atoms can bind"
    if doubled % 2:
        return f"formula {formula} has an odd electron count (a radical or a typo)"
    return None


def check_query(spectrum: Spectrum, generator: Generator) -> QueryCheck:
    """Errors and warnings for one (canonical) query; see the module docstring."""
    errors: list[str] = []
    warnings: list[str] = []
    if not spectrum.nuclei:
        errors.append("no 13C or 1H peaks; expected at least one peak list (c13 or h1)")
    if spectrum.formula:
        problem = formula_problem(spectrum.formula)
        if problem:
            errors.append(problem)
        else:
            counts = parse_formula(spectrum.formula)
            n_c = counts.get("C", 0)
            if spectrum.c13 and len(spectrum.c13) > n_c:
                errors.append(
                    f"{len(spectrum.c13)} distinct 13C signals but the formula "
                    f"{spectrum.formula} has {n_c} carbons"
                )
            n_h = counts.get("H", 0)
            if spectrum.h1 and spectrum.h1.total_count > n_h + 0.5:
                warnings.append(
                    f"1H integrations sum to {spectrum.h1.total_count:g} but the formula "
                    f"{spectrum.formula} has {n_h} hydrogens"
                )
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


def propose(
    spectra: Sequence[Spectrum],
    generator: Generator,
    *,
    beam: int = 10,
    formula_policy: str = "reject",
    configuration: Configuration | None = None,
) -> list[QueryResult]:
    """Beam-decode one batch of queries into valid candidates in beam order (no scores)."""
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
        results.append(QueryResult(query, tuple(candidates), warnings=check.warnings))
    return results


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


def _row(**values: Any) -> dict[str, Any]:
    """A RESULTS_SCHEMA row: every column present, null unless given."""
    from nmrpeak_cli.schema import RESULTS_SCHEMA

    return {**dict.fromkeys(RESULTS_SCHEMA.names), **values}


def result_rows(result: QueryResult, k: int, note: str | None = None) -> list[dict[str, Any]]:
    """RESULTS_SCHEMA rows of one query (``source="generated"``)."""
    qid = result.query.id
    if result.error:
        return [_row(query_id=qid, error=result.error)]
    notes = [*result.warnings, *([note] if note else [])]
    warning = WARNING_PREFIX + "; ".join(notes) if notes else None
    if not result.candidates:
        reason = "no valid candidate: every decoded structure was invalid"
        if result.query.formula:
            reason += " or contradicted the formula"
        return [_row(query_id=qid, error=reason)]
    return [
        _row(
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


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


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
    batch_size: int = 16,
    device: str = "cpu",
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
    batch_size
        Queries decoded together.
    device
        Torch device for the generator and default predictor.

    Yields
    ------
    dict
        RESULTS_SCHEMA rows, per query in input order, rank 1 first.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if generator is None:
        from nmrpeak_cli.generate.model import load_generator

        generator = load_generator(device=device)
    if rerank:
        predictor = predictor or default_predictor(device)
        similarity = similarity or default_similarity()
    else:
        predictor = similarity = None
    for batch in _batches(spectra, batch_size):
        for rows in answer_batch(
            batch, generator, k=k, beam=beam, predictor=predictor, similarity=similarity,
            formula_policy=formula_policy,
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
) -> list[list[dict[str, Any]]]:
    """RESULTS_SCHEMA rows of each item of one batch, decoded together (see :func:`generate`).

    Items that are not spectra (reader errors) give one error row each.
    """
    good = [s for s in batch if isinstance(s, Spectrum)]
    proposed = propose(good, generator, beam=beam, formula_policy=formula_policy)
    scored, note = score_results(proposed, generator, predictor=predictor, similarity=similarity)
    by_position = iter(scored)
    return [
        result_rows(next(by_position), k, note)
        if isinstance(item, Spectrum)
        else [_row(query_id=record_id(item), error=str(item))]
        for item in batch
    ]


def record_id(item: Any) -> str:
    """Id of a query or of a record that failed to read (its ``record`` or ``id``)."""
    return str(getattr(item, "record", None) or getattr(item, "id", None) or "?")


def elucidate(
    spectra: Iterable[Spectrum | Any],
    k: int = 10,
    *,
    library_rows: Iterable[dict[str, Any]] | None = None,
    **generate_options: Any,
) -> Iterator[dict[str, Any]]:
    """One ranked list per query: generated candidates merged with library candidates.

    Parameters
    ----------
    spectra
        Query spectra (as for :func:`generate`).
    k
        Candidates kept per query.
    library_rows
        RESULTS_SCHEMA rows from retrieval for the same queries (``source="library"``), or
        ``None`` for generation only.
    generate_options
        Passed to :func:`generate`.

    Yields
    ------
    dict
        RESULTS_SCHEMA rows; a structure found by both keeps its best score, the component
        scores of both and ``source`` of the better one.
    """
    library: dict[str, list[dict[str, Any]]] = {}
    for row in library_rows or ():
        library.setdefault(str(row["query_id"]), []).append(dict(row))
    current: str | None = None
    rows: list[dict[str, Any]] = []
    for row in generate(spectra, k=k, **generate_options):
        if row["query_id"] != current and current is not None:
            yield from merge_ranked(rows, library.pop(current, []), k)
            rows = []
        current = row["query_id"]
        rows.append(row)
    if current is not None:
        yield from merge_ranked(rows, library.pop(current, []), k)
    for extra in library.values():
        yield from merge_ranked([], extra, k)


def merge_ranked(
    generated: Sequence[dict[str, Any]], retrieved: Sequence[dict[str, Any]], k: int
) -> list[dict[str, Any]]:
    """Merge two candidate lists of one query by InChIKey, rank by score, keep ``k``.

    When one source failed and the other found candidates, the candidates carry the failure
    as a warning; when neither found any, the first error row is returned.
    """
    notes = [r for r in (*generated, *retrieved) if r.get("smiles") is None]
    failures = [
        f"{source} failed: {row['error']}"
        for source, rows in (("generation", generated), ("library search", retrieved))
        for row in rows
        if row.get("smiles") is None and is_failure(row)
    ]
    merged: dict[str, dict[str, Any]] = {}
    for row in (*retrieved, *generated):
        key = row.get("inchikey") or row.get("smiles")
        if key is None:
            continue
        if key not in merged:
            merged[key] = dict(row)
            continue
        old = merged[key]
        better, other = (
            (row, old) if (row.get("score") or 0) > (old.get("score") or 0) else (old, row)
        )
        combined = dict(better)
        for column in ("ssr", "sme", "sse", "gen_logprob", "rerank", "formula_match"):
            if combined.get(column) is None:
                combined[column] = other.get(column)
        merged[key] = combined
    ranked = sorted(merged.values(), key=lambda r: -(r.get("score") or 0.0))[:k]
    for rank, row in enumerate(ranked, start=1):
        row["rank"] = rank
        if failures:
            earlier = [row["error"].removeprefix(WARNING_PREFIX)] if row.get("error") else []
            row["error"] = WARNING_PREFIX + "; ".join([*earlier, *failures])
    if ranked:
        return ranked
    return notes[:1] or []


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

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return load_generator(weights, device=device)


def forward_predictor(weights: Path, device: str, threads: int | None = None) -> Predictor:
    """The forward model of ``weights`` as a :data:`Predictor`, loaded on first call once per
    process (:func:`~nmrpeak_cli.predict.infer.process_model`); molecules it cannot handle get
    ``None``. Raises :class:`NotAvailableError` at call time when the model is missing."""

    def predictor(smiles: Sequence[str], solvent: str | None) -> list[Spectrum | None]:
        try:
            from nmrpeak_cli.predict.infer import predict_records, process_model
        except ImportError as exc:
            raise NotAvailableError(f"forward prediction is not available: {exc}") from None
        model = process_model(weights, device, threads)
        return [p.spectrum for p in predict_records(list(smiles), solvent=solvent, model=model)]

    return predictor


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
    k, beam, rerank, formula_policy
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

    def generator(self) -> Generator:
        """This process's generator (loaded on first use)."""
        return process_generator(self.weights, self.device, self.threads)

    def forward(self) -> Predictor:
        """This process's forward model."""
        return forward_predictor(self.predictor, self.device, self.threads)

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
        )

    def __call__(self, batch: list[Spectrum | Any]) -> list[list[dict[str, Any]]]:
        """Answer one batch; failed queries give rows with ``error``."""
        groups = self.rows(batch)
        if self.report is not None:
            write_reports(batch, groups, self.report, self.forward())
        return groups


@dataclass(frozen=True, slots=True)
class ElucidateBatch:
    """Picklable batch body of ``elucidate``: generated and library candidates of each query,
    merged into one ranked list (:func:`merge_ranked`).

    Attributes
    ----------
    generation
        Generation settings (its ``report`` is not used).
    search
        Library search (opened once per process), or ``None`` for generation only.
    report
        Folder for one HTML report per query, or ``None``.
    """

    generation: GenerateBatch
    search: SearchBatch | None = None
    report: Path | None = None

    def __call__(self, batch: list[Spectrum | Any]) -> list[list[dict[str, Any]]]:
        """Answer one batch; failed queries give rows with ``error``."""
        generated = self.generation.rows(batch)
        library: list[list[dict[str, Any]]] = [[] for _ in batch]
        spectra = [i for i, item in enumerate(batch) if isinstance(item, Spectrum)]
        if self.search is not None and spectra:
            found = self.search([batch[i] for i in spectra])
            for i, rows in zip(spectra, found, strict=True):
                library[i] = rows
        k = self.generation.k
        groups = [merge_ranked(g, r, k) for g, r in zip(generated, library, strict=True)]
        if self.report is not None:
            write_reports(batch, groups, self.report, self.generation.forward())
        return groups


def write_reports(
    batch: Sequence[Spectrum | Any],
    groups: Sequence[list[dict[str, Any]]],
    out_dir: Path,
    predictor: Predictor,
    *,
    top: int = 3,
) -> None:
    """One HTML report per query spectrum of ``batch`` (:func:`nmrpeak_cli.report.write_query_report`),
    its candidates overlaid with ``predictor``'s spectra (none when the model is missing).

    A report that cannot be written marks its query's rows with an ``error``.
    """
    from nmrpeak_cli.report import write_query_report

    for query, rows in zip(batch, groups, strict=True):
        if not isinstance(query, Spectrum):
            continue
        try:
            write_query_report(
                query, rows, out_dir, top=top,
                predict=partial(_predict_or_none, predictor, query.solvent),
            )  # fmt: skip
        except (NmrpeakError, ValueError, OSError) as exc:
            for row in rows:
                if not is_failure(row):
                    notes = [f"report not written: {exc}", row.get("error")]
                    row["error"] = "; ".join(n for n in notes if n)


def _predict_or_none(
    predictor: Predictor, solvent: str | None, smiles: list[str]
) -> list[Spectrum | None]:
    """``predictor`` for a report: no overlays (``None``) when the forward model is missing."""
    try:
        return list(predictor(smiles, solvent))
    except NmrpeakError as exc:
        log.warning("report overlays skipped: %s", exc)
        return [None] * len(smiles)


__all__ = [
    "ElucidateBatch",
    "GenerateBatch",
    "QueryCheck",
    "QueryResult",
    "answer_batch",
    "check_query",
    "elucidate",
    "formula_problem",
    "forward_predictor",
    "generate",
    "is_failure",
    "merge_ranked",
    "process_generator",
    "propose",
    "record_id",
    "result_rows",
    "score_results",
    "write_reports",
]
