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
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nmrpeak_cli.elucidate import (
    DEFAULT_CALIBRATION,
    DEFAULT_FUSION,
    POOL_DEPTH,
    ElucidateModel,
    Logistic,
    Scored,
    SourceResult,
    _formulas,
    calibration_features,
    fusion_features,
    generated_result,
    library_result,
    pool,
    predict_missing,
    score_pool,
)
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
    """

    query: Spectrum
    truth: str
    configuration: str
    in_library: bool
    groups: tuple[SourceResult, ...]
    retrieve_top: str | None
    generate_top: str | None


def collect(
    queries: Sequence[Spectrum],
    keys: Sequence[str],
    searcher,
    generator,
    predictor,
    *,
    beam: int = 10,
    batch_size: int = 16,
    log: Callable[[str], None] = print,
) -> list[QueryPool]:
    """Candidate pools of every query in every :data:`BENCH_CONFIGURATIONS`, each in both
    library cases (the "not in library" case drops the entries sharing the truth's first
    InChIKey block from the library's list before its top :data:`POOL_DEPTH` are taken)."""
    from nmrpeak_cli.generate.api import propose
    from nmrpeak_cli.generate.rerank import default_similarity, rerank
    from nmrpeak_cli.retrieve.bench import configuration_name, configure

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
            formulas = _formulas(searcher.library, wanted)
            for (query, truth), lib_rows, gen_group, result in zip(
                chunk, per_query, gen_groups, generated, strict=True
            ):
                gen_filled, _ = predict_missing([[gen_group]], [query.solvent], predictor)
                gen_group = gen_filled[0][0]
                predicted = {p.smiles: p.predicted for p in gen_group.proposals}
                reranked = rerank(query, result.candidates, predicted, generator.fusion, similarity)
                generate_top = reranked[0].inchikey if reranked else None
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
                    pools.append(
                        QueryPool(
                            query,
                            truth,
                            name,
                            in_library,
                            (library, gen_group),
                            found[0]["inchikey"] if found else None,
                            generate_top,
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
    work_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(pools))
    tmp.replace(path)
    return pools


def scored_pools(pools: Sequence[QueryPool], model: ElucidateModel) -> list[list[Scored]]:
    """Every pool ranked by ``model`` (default formula policy)."""
    return [score_pool(p.query, pool(p.query, p.groups), model) for p in pools]


FUSION_FEATURES: tuple[str, ...] = (
    "similarity", "similarity_tight", "library", "library_embedding", "generated",
    "gen_logprob", "agreement", "library_top", "generated_top",
)  # fmt: skip
CALIBRATION_FEATURES: tuple[str, ...] = (
    "score",
    "margin",
    "share",
    "agreement",
    "count_consistency",
)


def fit_model(
    pools: Sequence[QueryPool], similarity: SimilarityParams, card: Mapping[str, Any]
) -> ElucidateModel:
    """Fit the fusion and the calibration on validation pools.

    1. Ranking: a conditional logit (softmax over each pool holding the right answer) of
       :data:`FUSION_FEATURES`, so the weights are those that rank the right candidate first.
    2. Scale: a one-feature logistic of that utility on every candidate, so the score reads as
       a per-candidate probability (same order).
    3. Confidence: a logistic of :data:`CALIBRATION_FEATURES` on each pool's top candidate
       (right or not), the answer the confidence is read for.
    """
    from nmrpeak_cli.calibration import fit_conditional_logit, fit_logistic

    start = ElucidateModel(DEFAULT_FUSION, DEFAULT_CALIBRATION, similarity)
    ranked = scored_pools(pools, start)
    groups, right = [], []
    for p, cands in zip(pools, ranked, strict=True):
        hits = [i for i, c in enumerate(cands) if c.proposal.inchikey == p.truth]
        if hits and len(cands) > 1:
            groups.append([fusion_features(c) for c in cands])
            right.append(hits[0])
    weights = fit_conditional_logit(groups, right, FUSION_FEATURES)
    utility = Logistic(weights)
    rows = [{"u": utility.logit(fusion_features(c))} for cands in ranked for c in cands]
    labels = [
        c.proposal.inchikey == p.truth
        for p, cands in zip(pools, ranked, strict=True)
        for c in cands
    ]
    slope, bias = fit_logistic(rows, labels, ["u"])
    fusion = Logistic({n: w * slope["u"] for n, w in weights.items()}, bias)
    ranked = scored_pools(pools, ElucidateModel(fusion, DEFAULT_CALIBRATION, similarity))
    tops = [(cands[0], p.truth) for p, cands in zip(pools, ranked, strict=True) if cands]
    features = [calibration_features(c) for c, _ in tops]
    cal_weights, cal_bias = fit_logistic(
        features, [c.proposal.inchikey == t for c, t in tops], CALIBRATION_FEATURES
    )
    return ElucidateModel(fusion, Logistic(cal_weights, cal_bias), similarity, card)


def evaluate(pools: Sequence[QueryPool], model: ElucidateModel) -> dict[str, Any]:
    """Top-1 of retrieve, generate and elucidate per configuration × library case, the
    formula violations of the pool under ``reject``, and the calibration of the top answer."""
    from nmrpeak_cli.calibration import expected_calibration_error, reliability

    ranked = scored_pools(pools, model)
    sets: dict[str, dict[str, Any]] = {}
    tops_by_set: dict[str, list[tuple[float, bool]]] = {}
    for p, cands in zip(pools, ranked, strict=True):
        name = f"{p.configuration}, {'in' if p.in_library else 'not in'} library"
        if cands:
            tops_by_set.setdefault(name, []).append(
                (cands[0].confidence, cands[0].proposal.inchikey == p.truth)
            )
        entry = sets.setdefault(name, {"queries": 0, "retrieve": 0, "generate": 0, "elucidate": 0,
                                       "elucidate_top5": 0, "other_formula": 0})  # fmt: skip
        entry["queries"] += 1
        entry["retrieve"] += p.retrieve_top == p.truth
        entry["generate"] += p.generate_top == p.truth
        entry["elucidate"] += bool(cands) and cands[0].proposal.inchikey == p.truth
        entry["elucidate_top5"] += any(c.proposal.inchikey == p.truth for c in cands[:5])
        if p.query.formula:
            entry["other_formula"] += sum(c.proposal.formula != p.query.formula for c in cands)
    for name, entry in sets.items():
        tops = tops_by_set.get(name, [])
        entry["ece"] = expected_calibration_error([t[0] for t in tops], [t[1] for t in tops])
        n = max(1, entry["queries"])
        for key in ("retrieve", "generate", "elucidate", "elucidate_top5"):
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
        "| set | queries | retrieve top-1 | generate top-1 | elucidate top-1 | elucidate top-5 | other-formula candidates | ECE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, e in report["sets"].items():
        lines.append(
            f"| {name} | {e['queries']} | {e['retrieve_top1']:.3f} | {e['generate_top1']:.3f} "
            f"| **{e['elucidate_top1']:.3f}** | {e['elucidate_top5']:.3f} | {e['other_formula']} "
            f"| {e['ece']:.3f} |"
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
