"""``bench generate``: exact-match accuracy of generation on any query table with ``smiles``.

Per input configuration (C, H, C+H, each ± formula): top-1/5/10 exact match by isomeric
InChIKey and by first InChIKey block (stereo-free), in beam order and after reranking;
validity (share of decoded sequences RDKit accepts); formula-match rate (share of top-1
candidates whose formula equals the true one); seconds per spectrum. Queries that do not have
the parts a configuration needs are left out of that configuration (``n`` says how many
were scored). :func:`fusion_examples` collects the labelled candidates that
:func:`~nmrpeak_cli.generate.rerank.fit_fusion` fits on the validation split.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nmrpeak_cli import chem
from nmrpeak_cli.generate.api import check_query
from nmrpeak_cli.generate.decode import (
    Candidate,
    candidates_from_hypotheses,
    decode,
    hypothesis_filter,
    length_cap,
)
from nmrpeak_cli.generate.inputs import (
    CONFIGURATIONS,
    Configuration,
    apply_configuration,
    canonical_input,
)
from nmrpeak_cli.generate.library_seeds import LibrarySeeds
from nmrpeak_cli.generate.model import Generator
from nmrpeak_cli.generate.rerank import (
    SimilarityFn,
    predict_candidates,
    rerank,
    score_by_beam,
)
from nmrpeak_cli.generate.search import (
    CALIBRATION_KEY,
    PredictionCache,
    SearchCandidate,
    SearchConfig,
    SearchResult,
    Seed,
    reseed,
    structure_search,
)
from nmrpeak_cli.predict.forward import Predictor
from nmrpeak_cli.spectra import Spectrum

TOP_K = (1, 5, 10)


@dataclass(frozen=True, slots=True)
class Truth:
    """Identity of a query's true structure."""

    inchikey: str
    """Standard InChIKey (isomeric)."""
    formula: str
    """Hill formula."""

    @property
    def connectivity(self) -> str:
        """First InChIKey block."""
        return self.inchikey[:14]


def truth_of(spectrum: Spectrum) -> Truth | None:
    """The true structure of a benchmark query (``None`` without a readable ``smiles``)."""
    mol = chem.try_parse_smiles(spectrum.smiles or "")
    if mol is None:
        return None
    return Truth(chem.inchikey(mol), chem.formula(mol))


def _hit_rank(
    candidates: Sequence[Candidate | SearchCandidate], truth: Truth, stereo: bool
) -> int | None:
    for rank, c in enumerate(candidates, start=1):
        if (c.inchikey if stereo else c.inchikey[:14]) == (
            truth.inchikey if stereo else truth.connectivity
        ):
            return rank
    return None


@dataclass(frozen=True, slots=True)
class Decoded:
    """Everything the benchmark needs about one query in one configuration."""

    truth: Truth
    query: Spectrum
    n_hypotheses: int
    n_valid: int
    candidates: tuple[Candidate, ...]
    seeds: tuple[str, ...] = ()
    """Every valid hypothesis in beam order, whatever its formula (search seeds)."""


def decode_queries(
    generator: Generator,
    spectra: Sequence[Spectrum],
    config: Configuration,
    *,
    beam: int,
    samples: int = 0,
    batch_size: int = 16,
    limit: int | None = None,
    constrain: bool = True,
    match_formula: bool = True,
) -> list[Decoded]:
    """Decode the queries that have what ``config`` needs (the first ``limit`` of them) by
    beam search plus ``samples`` draws (:func:`~nmrpeak_cli.generate.decode.decode`);
    formula-reject when it has one, and (``constrain``) decode under its heavy-atom counts.
    ``match_formula=False`` keeps hypotheses of another hydrogen count in the beam (as search
    seeds) instead of dropping them as they end."""
    usable = []
    for spectrum in spectra:
        query = apply_configuration(canonical_input(spectrum), config)
        if (config.c13 and not query.c13) or (config.h1 and not query.h1):
            continue
        if config.formula and not query.formula:
            continue
        if check_query(query, generator).errors:
            continue
        truth = truth_of(spectrum)
        if truth is None:
            continue
        usable.append((query, truth))
        if limit is not None and len(usable) >= limit:
            break
    out = []
    for start in range(0, len(usable), batch_size):
        batch = usable[start : start + batch_size]
        sources = [generator.spectrum_tokenizer.encode(q) for q, _ in batch]
        limit = generator.model.config.max_tgt_len
        max_len = max(length_cap(q.formula, limit) for q, _ in batch)
        formulas = [q.formula for q, _ in batch] if config.formula and constrain else None
        accept = (
            hypothesis_filter(
                generator.smiles_tokenizer,
                [q.formula for q, _ in batch],
                match_formula=match_formula,
            )
            if constrain
            else None
        )
        found = decode(
            generator, sources, beam=beam, samples=samples, max_len=max_len,
            formulas=formulas, accept=accept, seed=start,
        )  # fmt: skip
        for (query, truth), hyps in zip(batch, found, strict=True):
            valid = candidates_from_hypotheses(
                hyps, generator.smiles_tokenizer, formula_policy="ignore"
            )
            n_valid = sum(
                1 for h in hyps if chem.try_parse_smiles(generator.smiles_tokenizer.decode(h.ids))
            )
            kept = (
                candidates_from_hypotheses(
                    hyps, generator.smiles_tokenizer, formula=query.formula, formula_policy="reject"
                )
                if config.formula
                else valid
            )
            seeds = tuple(c.smiles for c in valid)
            out.append(Decoded(truth, query, len(hyps), n_valid, tuple(kept), seeds))
    return out


def _metrics(
    ranked: Sequence[Sequence[Candidate | SearchCandidate]], truths: Sequence[Truth], prefix: str
) -> dict[str, float]:
    out = {}
    for stereo, label in ((True, "exact"), (False, "block1")):
        ranks = [_hit_rank(c, t, stereo) for c, t in zip(ranked, truths, strict=True)]
        for k in TOP_K:
            hits = sum(1 for r in ranks if r is not None and r <= k)
            out[f"{prefix}top{k}_{label}"] = hits / max(len(truths), 1)
    return out


def benchmark(
    generator: Generator,
    spectra: Sequence[Spectrum],
    *,
    configurations: Sequence[str] = tuple(CONFIGURATIONS),
    beam: int = 10,
    samples: int = 0,
    limit: int | None = None,
    predictor: Predictor | None = None,
    similarity: SimilarityFn | None = None,
    constrain: bool = True,
    search: SearchConfig | None = None,
    off_formula_seeds: bool = False,
    library: LibrarySeeds | None = None,
    library_peer: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Metrics per configuration (see the module docstring), on at most ``limit`` queries each.

    ``constrain`` decodes formula configurations under the formula's heavy-atom counts (as
    ``generate`` does); without it they are only filtered by formula after decoding.
    ``search`` (with a predictor) also runs the structure search from each query's reranked
    candidates and beam (metrics ``search_*``, predictions and CPU seconds per query);
    ``off_formula_seeds`` keeps beam hypotheses of another hydrogen count as seeds (they
    then take beam slots from candidates of the formula). ``library`` adds each query's
    nearest library entries, retrieved ignoring the formula, as ``library`` seeds (the
    ``search_*`` metrics, retrieval CPU included; ``library_seeds_*`` count the queries whose
    truth, or a structure of their formula, was among them); ``library_peer`` then also
    runs the search without them (``nolib_search_*``, its own prediction cache).
    """
    queries = [s for s in spectra if s.smiles]
    report: dict[str, Any] = {
        "n_queries": len(queries), "beam": beam, "samples": samples,
        "formula_constrained": constrain, "off_formula_seeds": off_formula_seeds,
        "configurations": {},
    }  # fmt: skip
    for name in configurations:
        config = CONFIGURATIONS[name]
        start, cpu_start = time.perf_counter(), time.process_time()
        decoded = decode_queries(
            generator, queries, config, beam=beam, samples=samples, limit=limit,
            constrain=constrain, match_formula=not off_formula_seeds,
        )  # fmt: skip
        beam_ranked = [score_by_beam(d.candidates, generator.fusion) for d in decoded]
        row: dict[str, Any] = {"n": len(decoded)}
        truths = [d.truth for d in decoded]
        row.update(_metrics(beam_ranked, truths, "beam_"))
        decode_seconds = time.perf_counter() - start
        if predictor is not None and similarity is not None and decoded:
            reranked = []
            for d in decoded:
                predicted = predict_candidates(
                    predictor, [c.smiles for c in d.candidates], d.query.solvent
                )
                reranked.append(
                    rerank(d.query, d.candidates, predicted, generator.fusion, similarity)
                )
            row.update(_metrics(reranked, truths, "rerank_"))
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_start
        if search is not None and predictor is not None and similarity is not None and decoded:
            if library is not None and library_peer:
                peer = _search_metrics(decoded, reranked, truths, generator, predictor, search)
                row.update({f"nolib_{k}": v for k, v in peer.items() if k != "search_config"})
            row.update(
                _search_metrics(decoded, reranked, truths, generator, predictor, search, library)
            )
        n_hyp = sum(d.n_hypotheses for d in decoded)
        row["validity"] = sum(d.n_valid for d in decoded) / max(n_hyp, 1)
        row["formula_match_top1"] = (
            float(
                np.mean(
                    [
                        bool(c) and c[0].formula == t.formula
                        for c, t in zip(beam_ranked, truths, strict=True)
                    ]
                )
            )
            if decoded
            else 0.0
        )
        row["answered"] = float(np.mean([bool(c) for c in beam_ranked])) if decoded else 0.0
        row["seconds_per_spectrum_beam"] = decode_seconds / max(len(decoded), 1)
        row["seconds_per_spectrum"] = seconds / max(len(decoded), 1)
        row["cpu_seconds_per_spectrum"] = cpu_seconds / max(len(decoded), 1)
        report["configurations"][name] = row
        if progress is not None:
            progress(name)
    return report


def search_seeds(decoded: Decoded, reranked: Sequence[Candidate]) -> list[Seed]:
    """Seeds of one query: its reranked candidates, then the rest of its beam."""
    first = [c.smiles for c in reranked]
    return [Seed(s, "beam") for s in dict.fromkeys([*first, *decoded.seeds])]


def run_searches(
    decoded: Sequence[Decoded],
    reranked: Sequence[Sequence[Candidate]],
    generator: Generator,
    predictor: Predictor,
    config: SearchConfig,
    library_seeds: Sequence[Sequence[str | dict[str, Any]]] | None = None,
) -> tuple[list[SearchResult], list[float]]:
    """The search result and CPU seconds of each query (one prediction cache for all).

    A query whose beam found nothing of its formula is first re-decoded for seeds
    (:func:`~nmrpeak_cli.generate.search.reseed`); its CPU time counts for that query.
    ``library_seeds[i]`` (SMILES or retrieval rows with ``smiles``), when given, are added
    to query ``i``'s seeds as ``library`` seeds, after the beam's."""
    cache = PredictionCache(predictor)
    results, cpu = [], []
    extras = library_seeds if library_seeds is not None else [()] * len(decoded)
    for d, ranked, more in zip(decoded, reranked, extras, strict=True):
        begin = time.process_time()
        seeds = search_seeds(d, ranked)
        if not d.candidates and d.query.formula and config.reseed_beam:
            extra = reseed(generator, [d.query], config.reseed_beam)[0]
            seeds += [Seed(s, "beam") for s in extra if s not in d.seeds]
        beam = {s.smiles for s in seeds}
        for item in more:
            smiles = item if isinstance(item, str) else item["smiles"]
            if smiles not in beam:
                seeds.append(Seed(smiles, "library"))
        results.append(
            structure_search(
                d.query,
                seeds,
                predictor=cache,
                config=config,
                generator=generator,
            )
        )
        cpu.append(time.process_time() - begin)
    return results, cpu


def library_neighbours(
    library: LibrarySeeds, decoded: Sequence[Decoded]
) -> tuple[list[list[dict[str, Any]]], list[float]]:
    """The retrieval rows of each query's library neighbours and the CPU seconds each took."""
    rows, cpu = [], []
    for d in decoded:
        begin = time.process_time()
        rows.append(library.neighbours([d.query])[0])
        cpu.append(time.process_time() - begin)
    return rows, cpu


def _formula(smiles: str) -> str | None:
    mol = chem.try_parse_smiles(smiles)
    return None if mol is None else chem.formula(mol)


def library_seed_counts(
    decoded: Sequence[Decoded], neighbours: Sequence[Sequence[dict[str, Any]]], library
) -> dict[str, Any]:
    """A leak check (queries whose truth, any stereoisomer, was among the library seeds: 0
    when the library holds no test molecule) and how many had a seed of their formula."""
    from nmrpeak_cli.spectra import normalize_formula

    truth = formula = 0
    for d, rows in zip(decoded, neighbours, strict=True):
        truth += d.truth.connectivity in {str(r.get("inchikey") or "")[:14] for r in rows}
        wanted = normalize_formula(d.query.formula) if d.query.formula else None
        formula += wanted is not None and any(_formula(r["smiles"]) == wanted for r in rows)
    return {
        "library_k": library.k,
        "library_seeds_per_query": float(np.mean([len(r) for r in neighbours])),
        "library_seeds_truth_queries": truth,
        "library_seeds_formula_queries": formula,
    }


def _search_metrics(
    decoded: Sequence[Decoded],
    reranked: Sequence[Sequence[Candidate]],
    truths: Sequence[Truth],
    generator: Generator,
    predictor: Predictor,
    config: SearchConfig,
    library: LibrarySeeds | None = None,
) -> dict[str, Any]:
    neighbours, retrieval = None, [0.0] * len(decoded)
    if library is not None:
        neighbours, retrieval = library_neighbours(library, decoded)
    results, cpu = run_searches(
        decoded, reranked, generator, predictor, config, library_seeds=neighbours
    )
    cpu = [a + b for a, b in zip(cpu, retrieval, strict=True)]
    out: dict[str, Any] = _metrics([r.candidates for r in results], truths, "search_")
    if neighbours is not None:
        out.update(library_seed_counts(decoded, neighbours, library))
    hits = [
        r.candidates[0]
        for r, t in zip(results, truths, strict=True)
        if r.candidates and r.candidates[0].inchikey == t.inchikey
    ]
    stops: dict[str, int] = {}
    for r in results:
        stops[r.stopped] = stops.get(r.stopped, 0) + 1
    moves: dict[str, int] = {}
    for c in hits:
        moves[c.move] = moves.get(c.move, 0) + 1
    out.update(
        search_config={
            k: getattr(config.for_generator(generator), k) for k in config.__dataclass_fields__
        },
        search_calibration=(generator.card.get(CALIBRATION_KEY) or "fallback weights"),
        search_predictions_per_query=float(np.mean([r.predictions for r in results])),
        search_seconds_per_query=float(np.mean([r.seconds for r in results])),
        search_cpu_seconds_per_query=float(np.mean(cpu)),
        search_cpu_seconds_max=float(np.max(cpu)),
        search_stopped=stops,
        search_top1_by_move=moves,
    )
    return out


def fusion_examples(
    generator: Generator,
    spectra: Sequence[Spectrum],
    predictor: Predictor,
    similarity: SimilarityFn,
    *,
    beam: int = 10,
    configurations: Sequence[str] = ("C+H+formula", "C+H", "C", "H"),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(logprobs, similarities, labels)`` of every candidate decoded for ``spectra``."""
    queries = [s for s in spectra if s.smiles]
    lp, sim, label = [], [], []
    for name in configurations:
        for d in decode_queries(generator, queries, CONFIGURATIONS[name], beam=beam):
            predicted = predict_candidates(
                predictor, [c.smiles for c in d.candidates], d.query.solvent
            )
            for c in d.candidates:
                spectrum = predicted.get(c.smiles)
                lp.append(c.logprob)
                sim.append(0.0 if spectrum is None else similarity(d.query, spectrum))
                label.append(c.inchikey == d.truth.inchikey)
    return np.asarray(lp), np.asarray(sim), np.asarray(label, dtype=float)


def calibrate(
    generator: Generator,
    spectra: Sequence[Spectrum],
    predictor: Predictor,
    similarity: SimilarityFn,
    *,
    beam: int = 10,
    fitted_on: str = "validation",
) -> Generator:
    """The generator with its fusion weights fitted on labelled validation candidates."""
    from dataclasses import replace

    from nmrpeak_cli.generate.rerank import fit_fusion

    lp, sim, label = fusion_examples(generator, spectra, predictor, similarity, beam=beam)
    return replace(generator, fusion=fit_fusion(lp, sim, label, fitted_on=fitted_on))


def _search_cells(row: dict[str, Any], prefix: str) -> list[str]:
    """Top-1, top-10, predictions and CPU s per query of the search whose keys start ``prefix``."""
    return [
        f"{100 * row.get(f'{prefix}_top1_exact', 0):.1f}%",
        f"{100 * row.get(f'{prefix}_top10_exact', 0):.1f}%",
        f"{row.get(f'{prefix}_predictions_per_query', 0):.0f}",
        f"{row.get(f'{prefix}_cpu_seconds_per_query', 0):.2f}",
    ]


def render_markdown(report: dict[str, Any], title: str) -> str:
    """A Markdown table of a :func:`benchmark` report."""
    configs = report["configurations"]
    has_rerank = any("rerank_top1_exact" in r for r in configs.values())
    has_search = any("search_top1_exact" in r for r in configs.values())
    has_peer = any("nolib_search_top1_exact" in r for r in configs.values())
    has_library = any("library_k" in r for r in configs.values())
    header = ["config", "n", "top1", "top5", "top10", "top1 (block1)", "top10 (block1)"]
    if has_rerank:
        header += ["rerank top1", "rerank top10", "rerank top1 (block1)"]
    if has_search:
        header += ["search top1", "search top10", "predictions/query", "search CPU s/query"]
    if has_peer:
        header += ["no-library search top1", "top10", "predictions/query", "CPU s/query"]
    if has_library:
        header += ["truth among library seeds"]
    header += ["validity", "formula match", "s/spectrum (wall)", "CPU s/spectrum"]
    lines = [f"**{title}** (beam {report['beam']}, {report['n_queries']} queries)", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    for name, r in configs.items():
        cells = [
            name,
            str(r["n"]),
            pct(r["beam_top1_exact"]),
            pct(r["beam_top5_exact"]),
            pct(r["beam_top10_exact"]),
            pct(r["beam_top1_block1"]),
            pct(r["beam_top10_block1"]),
        ]
        if has_rerank:
            cells += [
                pct(r.get("rerank_top1_exact", 0)),
                pct(r.get("rerank_top10_exact", 0)),
                pct(r.get("rerank_top1_block1", 0)),
            ]
        if has_search:
            cells += _search_cells(r, "search")
        if has_peer:
            cells += _search_cells(r, "nolib_search")
        if has_library:
            cells.append(str(r.get("library_seeds_truth_queries", "–")))
        cells += [
            pct(r["validity"]),
            pct(r["formula_match_top1"]),
            f"{r['seconds_per_spectrum']:.2f}",
            f"{r['cpu_seconds_per_spectrum']:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


__all__ = ["Truth", "benchmark", "calibrate", "fusion_examples", "render_markdown", "truth_of"]
