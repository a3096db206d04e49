"""The candidate sources of a batch: the library search (:class:`LibrarySource`), the
generator's beam (:class:`GeneratorSource`) and the structure search seeded by both
(:class:`SearchSource`), with what they share: forward predictions for candidates no source
stored (:func:`predict_missing`) and the generator's log-probability for every candidate
(:func:`fill_logprobs`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from nmrpeak_cli.elucidate.values import (
    Proposal,
    SourceResult,
    generated_result,
    library_result,
)
from nmrpeak_cli.errors import NmrpeakError
from nmrpeak_cli.spectra import Spectrum

if TYPE_CHECKING:
    from nmrpeak_cli.generate.api import GenerateBatch
    from nmrpeak_cli.predict.forward import Predictor
    from nmrpeak_cli.retrieve.api import SearchBatch
    from nmrpeak_cli.retrieve.library import Library


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
        formulas = library_formulas(searcher.library, wanted)
        return [
            library_result(
                [{**r, "formula": formulas.get(r.get("library_row"))} for r in rows],
                [stored[r["library_row"]] for r in rows if r.get("smiles")],
            )
            for rows in groups
        ]


def library_formulas(library: Library, rows: Sequence[int]) -> dict[int, str]:
    """The ``formula`` of the library entries at ``rows``: ``{row: formula}``."""
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
