"""Retrieval benchmark and fusion fitting (protocol and results: benchmarks/RESULTS.md).

(Why one long file: the benchmark and the validation-split fusion fit share the query
configurations, the seeded library order and the scoring loop; splitting them would
duplicate that recipe.)

Queries are experimental spectra with a ``smiles`` truth column (a prepared split or any
query table). The library holds the query molecules plus distractors (other experimental
molecules, then the simulated corpus), in a fixed seeded order, so the library of size
``n`` is the first ``n`` rows (:func:`library_head`) and one build serves every size.

For each input configuration (``C``, ``H``, ``C+H``, each with and without formula) every
query is scored once (all component scores of all candidates, :class:`Scored`); rankings
for each fusion setting of the ablation are then computed from those scores. A query counts
as a hit at ``k`` when an entry with its InChIKey (or first InChIKey block) ranks within the
top ``k``; ties count against the query (rank = 1 + candidates scoring strictly higher than
the best true entry, + ties).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from nmrpeak_cli.paths import write_json_atomic
from nmrpeak_cli.retrieve.library import Library
from nmrpeak_cli.retrieve.models import Encoder
from nmrpeak_cli.retrieve.search import (
    FusionWeights,
    Scored,
    SearchParams,
    fuse,
    propose_candidates,
    retrieve,
    score_candidates,
)
from nmrpeak_cli.similarity import (
    DEFAULT_PARAMS,
    PackedPeakLists,
    SimilarityParams,
    similarity_to_dict,
)
from nmrpeak_cli.spectra import Spectrum

CONFIGURATIONS: tuple[tuple[str, bool], ...] = tuple(
    (nuclei, formula) for formula in (True, False) for nuclei in ("C", "H", "C+H")
)
"""Input configurations: nuclei used and whether the formula is given."""

TOP_K: tuple[int, ...] = (1, 5, 10)


def configuration_name(nuclei: str, formula: bool) -> str:
    """``C+H+formula``, ``H`` ..."""
    return f"{nuclei}+formula" if formula else nuclei


def configure(spectrum: Spectrum, nuclei: str, formula: bool) -> Spectrum | None:
    """The query as seen in a configuration, ``None`` when it lacks the nuclei needed."""
    need_c, need_h = "C" in nuclei, "H" in nuclei
    if (need_c and not spectrum.c13) or (need_h and not spectrum.h1):
        return None
    return replace(
        spectrum,
        c13=spectrum.c13 if need_c else None,
        h1=spectrum.h1 if need_h else None,
        formula=spectrum.formula if formula else None,
        smiles=None,
    )


def library_head(library: Library, n: int) -> Library:
    """A view of the first ``n`` entries of ``library`` (exact indexes built in memory)."""
    import faiss

    n = min(n, len(library))
    packed = {}
    for nucleus, lists in library.packed.items():
        end = int(lists.offsets[n])
        packed[nucleus] = PackedPeakLists(
            nucleus=nucleus,
            shifts=lists.shifts[:end],
            weights=lists.weights[:end],
            offsets=lists.offsets[: n + 1],
            totals=lists.totals[:n],
            counted=lists.counted[:n],
            n_h=None if lists.n_h is None else lists.n_h[:end],
        )
    embeddings = {name: vectors[:n] for name, vectors in library.embeddings.items()}
    indexes = {}
    for name, vectors in embeddings.items():
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(np.asarray(vectors, np.float32))
        indexes[name] = index
    entries = library.entries.slice(0, n)
    from nmrpeak_cli.retrieve.library import formula_groups

    return Library(
        path=library.path,
        manifest=library.manifest,
        entries=entries,
        packed=packed,
        embeddings=embeddings,
        _formula_rows=formula_groups(entries.column("formula")),
        _indexes=indexes,
    )


@dataclass(frozen=True, slots=True)
class Truth:
    """Library rows holding the true molecule of a query (full InChIKey / first block)."""

    full: np.ndarray
    block: np.ndarray


def truths(library: Library, inchikeys: Sequence[str | None]) -> list[Truth]:
    """True rows per query from the queries' InChIKeys."""
    keys = np.asarray(library.entries.column("inchikey").to_pylist(), dtype=object)
    by_key: dict[str, list[int]] = {}
    by_block: dict[str, list[int]] = {}
    for row, key in enumerate(keys):
        by_key.setdefault(key, []).append(row)
        by_block.setdefault(key[:14], []).append(row)
    empty = np.zeros(0, np.int64)
    return [
        Truth(
            np.asarray(by_key.get(k, []), np.int64) if k else empty,
            np.asarray(by_block.get(k[:14], []), np.int64) if k else empty,
        )
        for k in inchikeys
    ]


def true_rank(scored: Scored, fused: np.ndarray, true_rows: np.ndarray) -> int | None:
    """1-based rank of the best-scoring true row among the candidates, ``None`` if absent."""
    hit = np.isin(scored.rows, true_rows)
    if not hit.any():
        return None
    best = fused[hit].max()
    return int((fused > best).sum() + (fused == best).sum() - hit[fused == best].sum() + 1)


def ablation_settings(weights: FusionWeights, encoders: Iterable[str]) -> dict[str, FusionWeights]:
    """Named fusion settings: each component alone, pairs with SSR, and the fitted fusion."""
    names = set(encoders)
    settings = {"ssr": FusionWeights(1, 0, 0)}
    if "sme" in names:
        settings["sme"] = FusionWeights(0, 1, 0)
        settings["ssr+sme"] = FusionWeights(weights.ssr or 1, weights.sme or 1, 0)
    if "sse" in names:
        settings["sse"] = FusionWeights(0, 0, 1)
        settings["ssr+sse"] = FusionWeights(weights.ssr or 1, 0, weights.sse or 1)
    if {"sme", "sse"} <= names:
        settings["sme+sse"] = FusionWeights(0, weights.sme or 1, weights.sse or 1)
        settings["fused"] = weights
    return settings


def score_queries(
    queries: Sequence[Spectrum],
    library: Library,
    encoders: Mapping[str, Encoder],
    params: SearchParams,
    *,
    full_scan: bool,
) -> list[Scored]:
    """Component scores of every candidate of every query.

    ``full_scan`` scores the whole library when the query has no formula; otherwise
    candidates come from :func:`~nmrpeak_cli.retrieve.search.propose_candidates` as in
    :func:`retrieve`.
    """
    vectors = {
        name: np.asarray(e.embed_queries(list(queries)), np.float32) for name, e in encoders.items()
    }
    proposals: list[np.ndarray | None] = (
        [None] * len(queries)
        if full_scan
        else propose_candidates(library, list(queries), vectors, params)
    )
    return [
        score_candidates(q, library, {n: v[i] for n, v in vectors.items()}, params, proposals[i])
        for i, q in enumerate(queries)
    ]


def accuracy(
    scored: Sequence[Scored], truth: Sequence[Truth], weights: FusionWeights
) -> dict[str, float]:
    """Top-1/5/10 (InChIKey and first block) of one fusion setting."""
    counts = {f"top{k}": 0 for k in TOP_K} | {f"top{k}_block": 0 for k in TOP_K}
    for item, true in zip(scored, truth, strict=True):
        fused = fuse(item.scores, weights)
        for suffix, rows in (("", true.full), ("_block", true.block)):
            rank = true_rank(item, fused, rows)
            for k in TOP_K:
                counts[f"top{k}{suffix}"] += rank is not None and rank <= k
    n = max(1, len(scored))
    return {name: value / n for name, value in counts.items()}


TOLERANCE_SCALES: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0)
"""Multipliers of the similarity's default tolerances tried on the validation split."""


def scaled_similarity(scale: float, base: SimilarityParams = DEFAULT_PARAMS) -> SimilarityParams:
    """``base`` with both tolerances of both nuclei multiplied by ``scale``."""

    def scaled(params):
        return replace(
            params,
            tolerance_ppm=params.tolerance_ppm * scale,
            wide_tolerance_ppm=params.wide_tolerance_ppm * scale,
        )

    return replace(base, c13=scaled(base.c13), h1=scaled(base.h1))


def fit_fusion(
    scored_sets: Sequence[tuple[Sequence[Scored], Sequence[Truth]]],
    encoders: Iterable[str],
    step: float = 0.1,
) -> tuple[FusionWeights, float]:
    """Grid search over the simplex of fusion weights maximizing mean top-1 (validation only)."""
    names = [n for n in ("sme", "sse") if n in set(encoders)]
    grid = np.round(np.arange(0, 1 + 1e-9, step), 6)
    best, best_score = FusionWeights(), -1.0
    for values in product(grid, repeat=len(names)):
        if sum(values) > 1 + 1e-9:
            continue
        others = dict(zip(names, values, strict=True))
        ssr = round(1 - sum(values), 6)
        if ssr <= 0 and not any(values):
            continue
        weights = FusionWeights(ssr=float(ssr), **{k: float(v) for k, v in others.items()})
        score = float(np.mean([accuracy(s, t, weights)["top1"] for s, t in scored_sets]))
        if score > best_score:
            best, best_score = weights, score
    return best, best_score


def latency(
    queries: Sequence[Spectrum],
    library: Library,
    encoders: Mapping[str, Encoder],
    params: SearchParams,
) -> dict[str, float]:
    """Per-query latency (one query at a time: p50, p95, ms) and batched throughput (ms/query)."""
    single = replace(params, batch_size=1)
    list(retrieve(queries[:1], library, encoders=encoders, params=single))  # warm-up
    times = []
    for query in queries:
        start = time.perf_counter()
        list(retrieve([query], library, encoders=encoders, params=single))
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    list(retrieve(queries, library, encoders=encoders, params=params))
    batched = (time.perf_counter() - start) / max(1, len(queries))
    return {
        "p50_ms": 1000 * float(np.percentile(times, 50)) if times else float("nan"),
        "p95_ms": 1000 * float(np.percentile(times, 95)) if times else float("nan"),
        "batched_ms": 1000 * batched,
    }


def load_queries(path: Path, limit: int | None, seed: int) -> tuple[list[Spectrum], list[str]]:
    """Query spectra with their true InChIKeys (rows without ``smiles`` are skipped)."""
    from nmrpeak_cli import chem
    from nmrpeak_cli.errors import NmrpeakError
    from nmrpeak_cli.schema import row_to_spectrum

    rows = [r for r in pq.read_table(path).to_pylist() if r.get("smiles") and not r.get("error")]
    if limit is not None and len(rows) > limit:
        keep = np.sort(np.random.default_rng(seed).choice(len(rows), limit, replace=False))
        rows = [rows[i] for i in keep]
    spectra, keys = [], []
    for row in rows:
        try:
            spectrum = row_to_spectrum(row)
            key = chem.inchikey(chem.parse_smiles(row["smiles"]))
        except (NmrpeakError, ValueError):
            continue
        spectra.append(spectrum)
        keys.append(key)
    return spectra, keys


def dept_labels(
    queries: Sequence[Spectrum], experimental: Path, tolerance_ppm: float = 0.05
) -> tuple[list[Spectrum], int]:
    """Queries with the attached-H labels a DEPT would give their 13C peaks: the
    experimental table's per-carbon ``c13_n_h`` of the record with the query's id, for the
    carbons within ``tolerance_ppm`` of each peak (unlabelled when they disagree, as
    overlapping CH and CH3 lines would). Never the predicted shifts.

    Returns
    -------
    queries, labelled
        The queries (unchanged when their record is not in the table) and how many got at
        least one label.
    """
    table = pq.read_table(experimental, columns=["id", "c13_shifts", "c13_n_h"]).to_pylist()
    carbons = {r["id"]: r for r in table if r["c13_shifts"] and r["c13_n_h"]}
    out, labelled = [], 0
    for query in queries:
        record = carbons.get(query.id)
        if record is None or not query.c13:
            out.append(query)
            continue
        shifts = np.asarray(record["c13_shifts"], float)
        n_h = np.asarray([-1 if h is None else h for h in record["c13_n_h"]])
        peaks = []
        for peak in query.c13:
            found = set(n_h[np.abs(shifts - peak.shift) <= tolerance_ppm].tolist())
            peaks.append(
                replace(peak, n_h=found.pop() if len(found) == 1 and -1 not in found else None)
            )
        out.append(replace(query, c13=replace(query.c13, peaks=tuple(peaks))))
        labelled += any(p.n_h is not None for p in peaks)
    return out, labelled


def evaluate(
    queries: Sequence[Spectrum],
    keys: Sequence[str],
    library: Library,
    encoders: Mapping[str, Encoder],
    weights: FusionWeights,
    *,
    params: SearchParams | None = None,
    full_scan_max: int = 10_000,
    configurations: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Accuracy of every configuration (or those named in ``configurations``) × ablation
    setting on one library size.

    Without formula, libraries up to ``full_scan_max`` entries are scored in full; larger
    ones score the candidates of the peak-density and embedding indexes, as a search does.
    """
    params = params or SearchParams()
    truth = truths(library, keys)
    settings = ablation_settings(weights, encoders)
    results: dict[str, Any] = {}
    for nuclei, formula in CONFIGURATIONS:
        if configurations is not None and configuration_name(nuclei, formula) not in configurations:
            continue
        picked = [(configure(q, nuclei, formula), t) for q, t in zip(queries, truth, strict=True)]
        picked = [(q, t) for q, t in picked if q is not None]
        name = configuration_name(nuclei, formula)
        if not picked:
            continue
        full = formula or len(library) <= full_scan_max
        start = time.perf_counter()
        scored = score_queries([q for q, _ in picked], library, encoders, params, full_scan=full)
        seconds = time.perf_counter() - start
        true = [t for _, t in picked]
        results[name] = {
            "queries": len(picked),
            "in_library": float(np.mean([len(t.full) > 0 for t in true])),
            "candidates": "all" if full else f"indexes top-{params.candidates}",
            "scoring_ms_per_query": 1000 * seconds / len(picked),
            "settings": {label: accuracy(scored, true, w) for label, w in settings.items()},
        }
        best = results[name]["settings"].get("fused", results[name]["settings"]["ssr"])
        log(
            f"  {name}: {len(picked)} queries, top-1 {best['top1']:.3f}, top-10 {best['top10']:.3f}"
        )
    return results


def benchmark_molecules(
    query_smiles: Sequence[str],
    query_keys: Sequence[str],
    data_dir: Path,
    seed: int,
    moses: bool = True,
    simulated: bool = True,
) -> Iterable[tuple[str, str]]:
    """Library molecules: the queries' molecules first, then distractors in a seeded order —
    other experimental molecules, then the simulated corpus (``simulated_molecules.parquet``
    when prepared and ``simulated``, else the MOSES wheel when ``moses``)."""
    seen = set()
    for n, (smiles, key) in enumerate(zip(query_smiles, query_keys, strict=True)):
        if key not in seen:
            seen.add(key)
            yield f"query:{n}", smiles
    experimental = data_dir / "experimental.parquet"
    if experimental.is_file():
        table = pq.read_table(experimental, columns=["id", "smiles", "inchikey"]).to_pylist()
        order = np.random.default_rng(seed).permutation(len(table))
        for i in order:
            row = table[i]
            if row["inchikey"] not in seen:
                seen.add(row["inchikey"])
                yield f"exp:{row['id']}", row["smiles"]
    corpus = data_dir / "simulated_molecules.parquet"
    if simulated and corpus.is_file():
        table = pq.read_table(corpus, columns=["id", "smiles", "inchikey"])
        for mol_id, smiles, key in zip(
            *(table.column(c).to_pylist() for c in ("id", "smiles", "inchikey")), strict=True
        ):
            if key not in seen:
                seen.add(key)
                yield str(mol_id), smiles
    elif moses:
        # Not prepared: raw MOSES SMILES from the registry wheel. A duplicate of a query
        # molecule gets the query's InChIKey in the library and counts as that molecule.
        from nmrpeak_cli.data.moses import iter_moses_smiles, moses_wheel

        for n, (split, smiles) in enumerate(iter_moses_smiles(moses_wheel())):
            yield f"moses:{split}:{n}", smiles


def prepared_library(
    lib_dir: Path,
    molecules: Iterable[tuple[str, str]],
    predictor,
    encoders: Mapping[str, Encoder],
    source: str,
) -> Library:
    """Build the benchmark library once per predictor (resuming an interrupted build), then
    (re)embed it with whichever ``encoders`` it does not hold yet."""
    from nmrpeak_cli.retrieve.build import build_library, embed_library
    from nmrpeak_cli.retrieve.library import open_library, read_manifest

    done = (lib_dir / "manifest.json").is_file() and read_manifest(lib_dir)["status"] == "complete"
    if not done:
        build_library(
            molecules,
            lib_dir,
            predictor,
            resume=(lib_dir / "manifest.json").is_file(),
            source=source,
        )
    held = read_manifest(lib_dir).get("encoders", {})
    stale = [e for n, e in encoders.items() if held.get(n, {}).get("sha256") != e.identity.sha256]
    if stale:
        embed_library(lib_dir, stale)
    return open_library(lib_dir, encoders=[e.identity for e in encoders.values()])


def markdown_report(report: Mapping[str, Any]) -> str:
    """The benchmark as Markdown tables (accuracy per size × configuration, ablation, latency)."""
    lines = [f"**Warning:** {w}\n" for w in report.get("split_warnings", [])]
    for size, by_config in report["sizes"].items():
        lines += [
            f"**Library size {size}** ({report['library_entries'][size]} entries)",
            "",
            "| configuration | queries | setting | top-1 | top-5 | top-10 | top-1 block | top-10 block | candidates |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, result in by_config.items():
            for label, acc in result["settings"].items():
                lines.append(
                    f"| {name} | {result['queries']} | {label} | {acc['top1']:.3f} | {acc['top5']:.3f} "
                    f"| {acc['top10']:.3f} | {acc['top1_block']:.3f} | {acc['top10_block']:.3f} "
                    f"| {result['candidates']} |"
                )
        lines.append("")
    if report.get("latency"):
        lines += [
            "| library size | configuration | p50 ms | p95 ms | batched ms/query |",
            "|---|---|---|---|---|",
        ]
        for size, by_config in report["latency"].items():
            for name, values in by_config.items():
                lines.append(
                    f"| {size} | {name} | {values['p50_ms']:.1f} | {values['p95_ms']:.1f} | {values['batched_ms']:.1f} |"
                )
        lines.append("")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """Settings of :func:`run_benchmark`.

    Attributes
    ----------
    queries
        Query table with a ``smiles`` column (a prepared split file or any table).
    data_dir
        Prepared data folder (distractors: ``experimental.parquet``, ``simulated_molecules.parquet``).
    sizes
        Library sizes (entries) to evaluate.
    max_queries
        Queries sampled (seeded) from the table.
    latency_queries
        Queries timed one at a time per size and configuration.
    work_dir
        Where the benchmark library is built (reused across runs with the same models).
    seed
        Sampling seed.
    moses
        Fall back on the MOSES wheel for distractors when the data folder has no
        ``simulated_molecules.parquet``.
    attached_h
        Label the queries' 13C peaks with DEPT-like attached-H counts (:func:`dept_labels`)
        and match within attached-H classes.
    configurations
        Configurations evaluated (names as :func:`configuration_name`), default all.
    """

    queries: Path
    data_dir: Path = Path("data")
    sizes: tuple[int, ...] = (1000, 10_000, 100_000)
    max_queries: int = 500
    latency_queries: int = 100
    work_dir: Path = Path("runs/retriever/bench")
    seed: int = 0
    moses: bool = True
    attached_h: bool = False
    configurations: tuple[str, ...] | None = None


def run_benchmark(
    options: BenchOptions,
    predictor,
    encoders: Mapping[str, Encoder],
    params: SearchParams,
    *,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build (or reuse) the benchmark library and evaluate every size; return the report.

    ``params`` carries the fusion weights and similarity parameters (ranking depth is fixed
    at 10 for the metrics)."""
    from itertools import islice

    queries, keys = load_queries(options.queries, options.max_queries, options.seed)
    if not queries:
        from nmrpeak_cli.errors import InputFileError

        raise InputFileError(f"{options.queries}: no query rows with a usable smiles column")
    largest = max(options.sizes)
    tag = f"{options.queries.stem}-{options.max_queries}-{largest}-s{options.seed}"
    lib_dir = options.work_dir / f"{tag}-{predictor.identity.sha256[:8]}"
    smiles = [q.smiles for q in queries]
    molecules = islice(
        benchmark_molecules(smiles, keys, options.data_dir, options.seed, options.moses), largest
    )
    log(f"benchmark library {lib_dir} (up to {largest} molecules)")
    full = prepared_library(lib_dir, molecules, predictor, encoders, f"bench {tag}")
    labelled = 0
    if options.attached_h:
        queries, labelled = dept_labels(queries, options.data_dir / "experimental.parquet")
        log(f"attached-H labels on {labelled} of {len(queries)} queries")
        full = full.with_attached_h()
        params = replace(params, similarity=replace(params.similarity, attached_h=True))
    report: dict[str, Any] = {
        "queries_file": str(options.queries),
        "queries": len(queries),
        "predictor": predictor.identity.to_dict(),
        "encoders": {n: e.identity.to_dict() for n, e in encoders.items()},
        "fusion": params.weights.to_dict(),
        "similarity": {
            "c13_tolerance_ppm": params.similarity.c13.tolerance_ppm,
            "h1_tolerance_ppm": params.similarity.h1.tolerance_ppm,
            "attached_h": params.similarity.attached_h,
        },
        "queries_with_attached_h": labelled,
        "sizes": {},
        "library_entries": {},
        "latency": {},
    }
    for size in options.sizes:
        library = library_head(full, size)
        log(f"library size {size}: {len(library)} entries")
        report["library_entries"][size] = len(library)
        report["sizes"][size] = evaluate(
            queries,
            keys,
            library,
            encoders,
            params.weights,
            params=params,
            configurations=options.configurations,
            log=log,
        )
        timed = {}
        for nuclei, formula in (("C+H", True), ("C+H", False), ("C", True), ("C", False)):
            if (
                options.configurations
                and configuration_name(nuclei, formula) not in options.configurations
            ):
                continue
            picked = [c for q in queries if (c := configure(q, nuclei, formula)) is not None]
            picked = picked[: options.latency_queries]
            if picked:
                timed[configuration_name(nuclei, formula)] = latency(
                    picked, library, encoders, params
                )
        report["latency"][size] = timed
    return report


def fit_fusion_on_split(
    options: BenchOptions,
    predictor,
    encoders: Mapping[str, Encoder],
    out: Path,
    *,
    scale_queries: int = 200,
    command: str = "",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Fit the similarity tolerance scale and the fusion weights on validation queries (never
    the test split) and write the card (``command``: how it was run, recorded in it).

    The library is the validation molecules plus distractors, of size ``max(options.sizes)``;
    every configuration is scored over the whole library (formula-filtered when given). The
    tolerance scale (:data:`TOLERANCE_SCALES`) maximizing SSR-alone mean top-1 on the first
    ``scale_queries`` queries of each configuration is kept, then the fusion weights
    maximizing mean top-1 over the six configurations.
    """
    from itertools import islice

    queries, keys = load_queries(options.queries, options.max_queries, options.seed)
    size = max(options.sizes)
    tag = f"fusion-{options.queries.stem}-{options.max_queries}-{size}-s{options.seed}"
    lib_dir = options.work_dir / f"{tag}-{predictor.identity.sha256[:8]}"
    molecules = islice(
        benchmark_molecules(
            [q.smiles for q in queries], keys, options.data_dir, options.seed, options.moses
        ),
        size,
    )
    library = prepared_library(lib_dir, molecules, predictor, encoders, tag)
    truth = truths(library, keys)

    def scored_sets(params: SearchParams, models: Mapping[str, Encoder], limit: int | None):
        sets = []
        for nuclei, formula in CONFIGURATIONS:
            picked = [
                (configure(q, nuclei, formula), t) for q, t in zip(queries, truth, strict=True)
            ]
            picked = [(q, t) for q, t in picked if q is not None][:limit]
            if picked:
                scored = score_queries(
                    [q for q, _ in picked], library, models, params, full_scan=True
                )
                sets.append((scored, [t for _, t in picked]))
        return sets

    ssr_only = FusionWeights()
    by_scale = {}
    for scale in TOLERANCE_SCALES:
        sets = scored_sets(SearchParams(similarity=scaled_similarity(scale)), {}, scale_queries)
        by_scale[scale] = float(np.mean([accuracy(sc, t, ssr_only)["top1"] for sc, t in sets]))
        log(f"similarity tolerance ×{scale}: SSR valid mean top-1 {by_scale[scale]:.3f}")
    scale = max(by_scale, key=lambda k: (by_scale[k], -abs(k - 1.0)))
    params = SearchParams(similarity=scaled_similarity(scale))
    weights, top1 = fit_fusion(scored_sets(params, encoders, None), encoders)
    card = {
        "model": "nmrpeak.retriever.fusion",
        "weights": weights.to_dict(),
        "similarity_tolerance_scale": scale,
        "similarity": similarity_to_dict(params.similarity),
        "valid_mean_top1": top1,
        "valid_ssr_top1_by_tolerance_scale": by_scale,
        "fitted_on": {
            "queries": str(options.queries),
            "n_queries": len(queries),
            "library_size": len(library),
        },
        "encoders": {n: e.identity.to_dict() for n, e in encoders.items()},
        "predictor": predictor.identity.to_dict(),
        "seed": options.seed,
        "command": command,
    }
    write_json_atomic(out, card)
    log(f"fusion weights {weights.to_dict()} (valid mean top-1 {top1:.3f}) → {out}")
    return card
