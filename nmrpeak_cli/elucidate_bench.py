"""Benchmark and fitting of :mod:`nmrpeak_cli.elucidate` (``bench elucidate``, ``train elucidate``).

Queries are experimental spectra with a ``smiles`` truth column. One benchmark library holds
the molecules of the query tables first, then distractors in a fixed seeded order (other
experimental molecules, then MOSES from the ``molsets`` wheel): the retrieval benchmark's
recipe (:func:`~nmrpeak_cli.retrieve.bench.benchmark_molecules`). Every query is answered
twice: with its molecule in the library ("in library") and with every entry sharing the first
InChIKey block of its molecule removed from the library's candidates ("not in library"), so
both cases come from one build. For each query and configuration the candidates of every
source are collected once (:class:`QueryPool`); the fusion and the calibration are then fitted
(validation queries) or evaluated (test queries) on those pools.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nmrpeak_cli.elucidate import (
    DEFAULT_CALIBRATION,
    POOL_DEPTH,
    ElucidateModel,
    Logistic,
    Scored,
    SourceResult,
    calibration_features,
    fill_logprobs,
    fusion_features,
    generated_result,
    library_formulas,
    library_result,
    measure_pool,
    pool,
    predict_missing,
    rank_measured,
    reseed_queries,
    search_group,
)
from nmrpeak_cli.paths import atomic_path
from nmrpeak_cli.retrieve.models import Encoder
from nmrpeak_cli.spectra import Spectrum

if TYPE_CHECKING:
    from nmrpeak_cli.similarity import SimilarityParams

BENCH_CONFIGURATIONS: tuple[tuple[str, bool], ...] = (("C+H", True), ("C+H", False))
"""Input configurations benchmarked: both nuclei, with and without the formula."""


def bench_library(
    query_tables: Sequence[Path],
    data_dir: Path,
    size: int,
    predictor,
    encoders: Mapping[str, Encoder],
    work_dir: Path,
    *,
    seed: int = 0,
    log: Callable[[str], None] = print,
):
    """Build (or reuse) the benchmark library: the molecules of the queries with both nuclei
    in ``query_tables`` first, then distractors, ``size`` entries in all."""
    from nmrpeak_cli.retrieve.bench import benchmark_molecules, prepared_library

    smiles, keys = [], []
    for table in query_tables:
        for query, key in zip(*both_nuclei_queries(table), strict=True):
            smiles.append(query.smiles)
            keys.append(key)
    stems = "+".join(t.stem for t in query_tables)
    tag = f"elucidate-{stems}-{size}-s{seed}-{predictor.identity.sha256[:8]}"
    lib_dir = work_dir / tag
    log(f"benchmark library {lib_dir} ({len(smiles)} query molecules, {size} entries)")
    molecules = islice(
        benchmark_molecules(smiles, keys, data_dir, seed, moses=True, simulated=False), size
    )
    return prepared_library(lib_dir, molecules, predictor, encoders, f"bench {tag}")


def both_nuclei_queries(path: Path) -> tuple[list[Spectrum], list[str]]:
    """The queries of ``path`` (any query table format) with 13C, 1H and a ``smiles`` truth
    that parses, and their InChIKeys."""
    from nmrpeak_cli import chem
    from nmrpeak_cli.io import read_spectra

    queries, keys = [], []
    for batch in read_spectra(path):
        for query in batch:
            if not isinstance(query, Spectrum) or not (query.c13 and query.h1 and query.smiles):
                continue
            mol = chem.try_parse_smiles(query.smiles)
            if mol is not None:
                queries.append(query)
                keys.append(chem.inchikey(mol))
    return queries, keys


@dataclass(frozen=True, slots=True)
class QueryPool:
    """The candidates of every source for one query in one configuration and library case.

    Attributes
    ----------
    query
        The query as configured (formula dropped for formula-free configurations).
    truth
        InChIKey of the right answer.
    configuration
        ``C+H+formula`` or ``C+H``.
    in_library
        Whether the library's candidates may include the right answer.
    groups
        The sources' groups, every proposal with its predicted spectrum.
    retrieve_top
        InChIKey ``nmrpeak retrieve`` ranks first (``None``: no answer).
    generate_top
        InChIKey ``nmrpeak generate`` ranks first (after its rerank; ``None``: no answer).
    search_top
        InChIKey the structure search ranks first by its own score (``None``: no search or
        no answer).
    """

    query: Spectrum
    truth: str
    configuration: str
    in_library: bool
    groups: tuple[SourceResult, ...]
    retrieve_top: str | None
    generate_top: str | None
    search_top: str | None = None


class _Memo:
    """A predictor remembering its spectra (one query's searches share the compute, while
    each search's :class:`~nmrpeak_cli.generate.search.PredictionCache` counts its budget
    as if alone)."""

    def __init__(self, predictor) -> None:
        self.predictor = predictor
        self.spectra: dict[tuple[str | None, str], Any] = {}

    def __call__(self, smiles: Sequence[str], solvent: str | None) -> list[Any]:
        missing = [s for s in dict.fromkeys(smiles) if (solvent, s) not in self.spectra]
        if missing:
            for key, spectrum in zip(missing, self.predictor(missing, solvent), strict=True):
                self.spectra[(solvent, key)] = spectrum
        return [self.spectra[(solvent, s)] for s in smiles]


def collect(
    queries: Sequence[Spectrum],
    keys: Sequence[str],
    searcher,
    generator,
    predictor,
    *,
    beam: int = 10,
    batch_size: int = 16,
    search=None,
    log: Callable[[str], None] = print,
) -> list[QueryPool]:
    """Candidate pools of every query in every :data:`BENCH_CONFIGURATIONS`, each in both
    library cases (the "not in library" case drops the entries sharing the truth's first
    InChIKey block from the library's list before its top :data:`POOL_DEPTH` are taken).

    Library candidates get the generator's log-probability as in ``elucidate``; with
    ``search`` (a :class:`~nmrpeak_cli.generate.search.SearchConfig`, run without a time
    limit so that the benchmark does not depend on the machine's load) each case also gets
    the structure search's group, seeded by that case's library and generator groups."""

    from nmrpeak_cli.generate.api import propose
    from nmrpeak_cli.generate.rerank import default_similarity, rerank
    from nmrpeak_cli.generate.search import PredictionCache
    from nmrpeak_cli.retrieve.bench import configuration_name, configure

    if search is not None:
        search = replace(search, time_limit=None)

    similarity = default_similarity()
    pools: list[QueryPool] = []
    for nuclei, formula in BENCH_CONFIGURATIONS:
        name = configuration_name(nuclei, formula)
        picked = [(configure(q, nuclei, formula), k) for q, k in zip(queries, keys, strict=True)]
        picked = [(q, k) for q, k in picked if q is not None]
        for start in range(0, len(picked), batch_size):
            chunk = picked[start : start + batch_size]
            batch = [q for q, _ in chunk]
            per_query = searcher.groups(batch)
            generated = propose(batch, generator, beam=beam, formula_policy="reject")
            gen_groups = [generated_result(r) for r in generated]
            wanted = sorted(
                {r["library_row"] for group in per_query for r in group if r.get("smiles")}
            )
            stored = dict(
                zip(wanted, searcher.library.predicted(wanted) if wanted else [], strict=True)
            )
            formulas = library_formulas(searcher.library, wanted)
            extra = (
                reseed_queries(batch, [[g] for g in gen_groups], generator, search.reseed_beam)
                if search is not None
                else [[] for _ in batch]
            )
            for (query, truth), lib_rows, gen_group, result, more in zip(
                chunk, per_query, gen_groups, generated, extra, strict=True
            ):
                gen_filled, _ = predict_missing([[gen_group]], [query.solvent], predictor)
                gen_group = gen_filled[0][0]
                predicted = {p.smiles: p.predicted for p in gen_group.proposals}
                reranked = rerank(query, result.candidates, predicted, generator.fusion, similarity)
                generate_top = reranked[0].inchikey if reranked else None
                all_found = [r for r in lib_rows if r.get("smiles")]
                everything = library_result(
                    all_found, [stored[r["library_row"]] for r in all_found]
                )
                logprobs = {
                    p.smiles: p.evidence.get("gen_logprob")
                    for p in fill_logprobs([query], [[everything]], generator)[0][0].proposals
                }
                memo = _Memo(predictor)
                for in_library in (True, False):
                    kept = [
                        {**r, "formula": formulas.get(r.get("library_row"))}
                        for r in lib_rows
                        if in_library or not r.get("inchikey") or r["inchikey"][:14] != truth[:14]
                    ]
                    found = [r for r in kept if r.get("smiles")][:POOL_DEPTH]
                    library = library_result(
                        found or kept[:1], [stored[r["library_row"]] for r in found]
                    )
                    library = replace(
                        library,
                        proposals=tuple(
                            p
                            if logprobs.get(p.smiles) is None
                            else replace(
                                p, evidence={**p.evidence, "gen_logprob": logprobs[p.smiles]}
                            )
                            for p in library.proposals
                        ),
                    )
                    groups: tuple[SourceResult, ...] = (library, gen_group)
                    search_top = None
                    if search is not None:
                        found_group = search_group(
                            query, groups, generator, PredictionCache(memo), search, more
                        )
                        groups = (*groups, found_group)
                        search_top = (
                            found_group.proposals[0].inchikey if found_group.proposals else None
                        )
                    pools.append(
                        QueryPool(
                            query,
                            truth,
                            name,
                            in_library,
                            groups,
                            found[0]["inchikey"] if found else None,
                            generate_top,
                            search_top,
                        )
                    )
            log(f"  {name}: {min(start + batch_size, len(picked))}/{len(picked)} queries")
    return pools


def cached_pools(
    work_dir: Path, setup: Mapping[str, Any], build: Callable[[], list[QueryPool]]
) -> list[QueryPool]:
    """``build()``, kept in ``work_dir`` under a digest of ``setup`` (queries, library,
    models, beam) so refitting or re-evaluating does not decode again. The cache is a local
    pickle of this run's own objects, never shipped."""
    import hashlib
    import json
    import pickle

    digest = hashlib.sha256(json.dumps(setup, sort_keys=True, default=str).encode()).hexdigest()
    path = work_dir / f"pools-{digest[:16]}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    pools = build()
    with atomic_path(path) as tmp:
        tmp.write_bytes(pickle.dumps(pools))
    return pools


def measured_pools(pools: Sequence[QueryPool], similarity: SimilarityParams) -> list[list[Scored]]:
    """Every pool's candidates with their similarities (default formula policy), unscored."""
    return [measure_pool(p.query, pool(p.query, p.groups), similarity) for p in pools]


def scored_pools(
    pools: Sequence[QueryPool],
    model: ElucidateModel,
    measured: Sequence[Sequence[Scored]] | None = None,
) -> list[list[Scored]]:
    """Every pool ranked by ``model`` (default formula policy); ``measured``: the pools'
    :func:`measured_pools` under ``model.similarity``, when already computed."""
    if measured is None:
        measured = measured_pools(pools, model.similarity)
    return [rank_measured(m, model) for m in measured]


FUSION_FEATURES: tuple[str, ...] = (
    "similarity", "similarity_tight", "library", "library_embedding", "generated",
    "gen_logprob", "logprob_missing", "search", "search_score", "agreement", "library_top",
    "generated_top", "search_top", "similarity_gap", "similarity_top", "library_rank_inv",
)  # fmt: skip
CALIBRATION_FEATURES: tuple[str, ...] = (
    "score",
    "margin",
    "share",
    "agreement",
    "count_consistency",
)
CALIBRATION_FOLDS = 1
"""Folds of the cross-fitting of the confidence (1: none, fitted on the fusion's own
validation scores). Chosen on random-valid by nested 5-fold CV of the top answer's ECE:
logistic 0.061 (no cross-fit) / 0.076 (5 folds); with the isotonic map 0.039 / 0.060."""


LIBRARY_LEAD = 0.01
"""Similarity margin of the library-lead rule fitted cards carry
(:attr:`~nmrpeak_cli.elucidate.ElucidateModel.library_lead`). Chosen on scaffold-valid (150
queries, GPU generator, out-of-fold fusion by query): 0.01 and 0.015 change 6 / 8 of 600
top answers, 2 right answers more and none fewer; 0.02 and 0.03 lose 2 not-in-library
answers, 0.05 loses 4 for 3 gained; 0 and 0.005 change nothing."""


def fit_fusion(pools: Sequence[QueryPool], measured: Sequence[Sequence[Scored]]) -> Logistic:
    """The fusion of validation pools: a conditional logit of :data:`FUSION_FEATURES` (softmax
    over each pool holding the answer), then a one-feature logistic of that utility on every
    candidate for the score's scale (same order)."""
    from nmrpeak_cli.calibration import fit_conditional_logit, fit_logistic

    groups, right = [], []
    for p, cands in zip(pools, measured, strict=True):
        hits = [i for i, c in enumerate(cands) if c.proposal.inchikey == p.truth]
        if hits and len(cands) > 1:
            groups.append([fusion_features(c) for c in cands])
            right.append(hits[0])
    weights = fit_conditional_logit(groups, right, FUSION_FEATURES)
    utility = Logistic(weights)
    rows = [{"u": utility.logit(fusion_features(c))} for cands in measured for c in cands]
    labels = [
        c.proposal.inchikey == p.truth for p, cands in zip(pools, measured, strict=True)
        for c in cands
    ]  # fmt: skip
    slope, bias = fit_logistic(rows, labels, ["u"])
    return Logistic({n: w * slope["u"] for n, w in weights.items()}, bias)


def fit_model(
    pools: Sequence[QueryPool],
    similarity: SimilarityParams,
    card: Mapping[str, Any],
    *,
    isotonic: bool = True,
    folds: int = CALIBRATION_FOLDS,
    library_lead: float | None = LIBRARY_LEAD,
) -> ElucidateModel:
    """Fit the fusion and the calibration on validation pools.

    1. Fusion (:func:`fit_fusion`) on every pool.
    2. Confidence, cross-fitted: the queries are split into ``folds`` (seeded); each fold's
       pools are ranked by a fusion fitted on the other folds, and a logistic of
       :data:`CALIBRATION_FEATURES` is fitted on those out-of-fold top answers (right or
       not), so that it sees scores as unseen queries get them; ``isotonic`` maps its
       output through an isotonic regression fitted on the same out-of-fold answers.

    The model ranks with the library-lead rule of margin ``library_lead`` (``None``: none),
    and its confidence is fitted on the answers that rule gives.
    """
    from nmrpeak_cli.calibration import fit_isotonic, fit_logistic

    measured = measured_pools(pools, similarity)
    fusion = fit_fusion(pools, measured)
    names = sorted({p.query.id for p in pools})
    folds = min(folds, len(names))  # one query cannot be held out from itself
    order = np.random.default_rng(0).permutation(len(names))
    fold_of = {names[i]: rank % max(folds, 1) for rank, i in enumerate(order)}
    tops: list[tuple[Scored, bool]] = []
    for k in range(max(folds, 1)):
        inside = [i for i, p in enumerate(pools) if fold_of[p.query.id] != k or folds < 2]
        held = [i for i, p in enumerate(pools) if fold_of[p.query.id] == k or folds < 2]
        fold_fusion = (
            fusion
            if folds < 2
            else fit_fusion([pools[i] for i in inside], [measured[i] for i in inside])
        )
        model = ElucidateModel(
            fold_fusion, DEFAULT_CALIBRATION, similarity, library_lead=library_lead
        )
        for i in held:
            ranked = rank_measured(measured[i], model)
            if ranked:
                tops.append((ranked[0], ranked[0].proposal.inchikey == pools[i].truth))
    features = [calibration_features(c) for c, _ in tops]
    labels = [ok for _, ok in tops]
    cal_weights, cal_bias = fit_logistic(features, labels, CALIBRATION_FEATURES)
    calibration = Logistic(cal_weights, cal_bias)
    if isotonic:
        calibration = replace(
            calibration, isotonic=fit_isotonic([calibration(f) for f in features], labels)
        )
    return ElucidateModel(
        fusion, calibration, similarity, {**card, "calibration_fit": {
            "folds": folds, "isotonic": isotonic, "out_of_fold_answers": len(tops)}},
        library_lead,
    )  # fmt: skip


def evaluate(
    pools: Sequence[QueryPool],
    model: ElucidateModel,
    measured: Sequence[Sequence[Scored]] | None = None,
) -> dict[str, Any]:
    """Top-1 of retrieve, generate and elucidate per configuration × library case, the
    formula violations of the pool under ``reject``, and the calibration of the top answer."""
    from nmrpeak_cli.calibration import expected_calibration_error, reliability

    ranked = scored_pools(pools, model, measured)
    sets: dict[str, dict[str, Any]] = {}
    tops_by_set: dict[str, list[tuple[float, bool]]] = {}
    for p, cands in zip(pools, ranked, strict=True):
        name = f"{p.configuration}, {'in' if p.in_library else 'not in'} library"
        if cands:
            tops_by_set.setdefault(name, []).append(
                (cands[0].confidence, cands[0].proposal.inchikey == p.truth)
            )
        entry = sets.setdefault(name, {"queries": 0, "retrieve": 0, "generate": 0, "search": 0,
                                       "elucidate": 0, "elucidate_top5": 0,
                                       "other_formula": 0})  # fmt: skip
        entry["queries"] += 1
        entry["retrieve"] += p.retrieve_top == p.truth
        entry["generate"] += p.generate_top == p.truth
        entry["search"] += getattr(p, "search_top", None) == p.truth
        entry["elucidate"] += bool(cands) and cands[0].proposal.inchikey == p.truth
        entry["elucidate_top5"] += any(c.proposal.inchikey == p.truth for c in cands[:5])
        if p.query.formula:
            entry["other_formula"] += sum(c.proposal.formula != p.query.formula for c in cands)
    for name, entry in sets.items():
        tops = tops_by_set.get(name, [])
        entry["ece"] = expected_calibration_error([t[0] for t in tops], [t[1] for t in tops])
        n = max(1, entry["queries"])
        for key in ("retrieve", "generate", "search", "elucidate", "elucidate_top5"):
            entry[f"{key}_top1" if key != "elucidate_top5" else key] = entry.pop(key) / n
    tops = [
        (c[0].confidence, c[0].proposal.inchikey == p.truth)
        for p, c in zip(pools, ranked, strict=True)
        if c
    ]
    confidence = [t[0] for t in tops]
    correct = [t[1] for t in tops]
    sure = [ok for conf, ok in tops if conf >= 0.9]
    return {
        "sets": sets,
        "calibration": {
            "answers": len(tops),
            "ece": expected_calibration_error(confidence, correct),
            "confident_answers": len(sure),
            "precision_at_0.9": float(np.mean(sure)) if sure else None,
            "reliability": reliability(confidence, correct),
        },
    }


def markdown(report: Mapping[str, Any]) -> str:
    """The evaluation as Markdown tables."""
    lines = [
        "| set | queries | retrieve top-1 | generate top-1 | search top-1 | elucidate top-1 | elucidate top-5 | other-formula candidates | ECE |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in report["sets"].items():
        lines.append(
            f"| {name} | {e['queries']} | {e['retrieve_top1']:.3f} | {e['generate_top1']:.3f} "
            f"| {e.get('search_top1', 0.0):.3f} | **{e['elucidate_top1']:.3f}** "
            f"| {e['elucidate_top5']:.3f} | {e['other_formula']} | {e['ece']:.3f} |"
        )
    cal = report["calibration"]
    precision = cal["precision_at_0.9"]
    lines += [
        "",
        f"Top answers {cal['answers']}: ECE {cal['ece']:.3f}; confidence ≥ 0.9 on "
        f"{cal['confident_answers']}, of which right "
        + (f"{precision:.3f}" if precision is not None else "—"),
        "",
        "| confidence bin | answers | mean confidence | accuracy |",
        "|---|---|---|---|",
    ]
    for row in cal["reliability"]:
        lines.append(
            f"| {row['low']:.1f}–{row['high']:.1f} | {row['n']} | {row['confidence']:.3f} | {row['accuracy']:.3f} |"
        )
    return "\n".join(lines)
