"""Benchmark of the peak-aware similarity: ``score_many`` speed and agreement with the pair versions.

Candidates: N random, realistic peak lists per nucleus (fixed seed). 13C: 3–40 carbons from a
mixture of shift regions (CH3, CH2/CH, C–O/N, aromatic/olefinic, carbonyl), 0.01 ppm, and in
30% of lists 1–3 signals carrying ``n_atoms = 2`` (symmetric molecules). 1H: 2–15 signals
(CH3 3H, CH2 2H, O/N–CH, aromatic 1–2H, rare aldehyde), 0.01 ppm. With ``--source`` the
candidates are the experimental 13C/1H lists of NMRShiftDB2 instead (one entry per atom,
sampled with replacement to N).
Queries: candidates perturbed by Gaussian noise (13C σ 1.5 ppm, 1H σ 0.1 ppm) with one peak
dropped; the rank of the source candidate is reported as a sanity check.
Timing: ``score_many`` of each query against all N candidates, single thread (OMP/MKL/
OpenBLAS threads set to 1 before numpy loads), median of ``--runs`` runs per query (wall and
process CPU time), then the median over queries.
Agreement: on ``--pairs`` candidates per query, the kernel against the greedy pair version
(exact up to distance ties) and against the optimal pair version (``similarity`` default).
Replicates (``--replicates nmrshiftdb2_spectra.parquet``): molecules with two experimental
spectra of a nucleus; the second (when not identical to the first) is the query, the first
spectra of all molecules are the library; top-k retrieval of the molecule by ``score_many``.

Usage: ``python benchmarks/bench_similarity.py [--n 100000] [--queries 10] [--runs 5]
[--pairs 500] [--source ../shared/data/nmrshiftdb2/nmrshiftdb2_molecules.parquet]
[--replicates ../shared/data/nmrshiftdb2/nmrshiftdb2_spectra.parquet] [--json OUT]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from nmrpeak_cli.paths import write_json_atomic  # noqa: E402
from nmrpeak_cli.similarity import (  # noqa: E402
    DEFAULT_PARAMS,
    PackedPeakLists,
    score_many,
    similarity,
)
from nmrpeak_cli.spectra import Nucleus, Peak, PeakList  # noqa: E402

# (low ppm, high ppm, probability, integrations to choose from) per region
C13_REGIONS = [(8, 30, 0.2), (20, 55, 0.25), (50, 90, 0.15), (110, 160, 0.3), (165, 210, 0.1)]
H1_REGIONS = [
    (0.8, 1.5, 0.2, (3,)),
    (1.5, 3.0, 0.3, (1, 2, 3)),
    (3.0, 4.6, 0.2, (1, 2, 3)),
    (6.5, 8.2, 0.28, (1, 2)),
    (9.4, 10.1, 0.02, (1,)),
]
NOISE_PPM = {Nucleus.C13: 1.5, Nucleus.H1: 0.1}


def random_c13(rng: np.random.Generator) -> PeakList:
    n = int(np.clip(round(rng.lognormal(np.log(12), 0.45)), 3, 40))
    region = rng.choice(len(C13_REGIONS), size=n, p=[r[2] for r in C13_REGIONS])
    low = np.array([r[0] for r in C13_REGIONS])[region]
    high = np.array([r[1] for r in C13_REGIONS])[region]
    shifts = np.round(rng.uniform(low, high), 2)
    counts = np.ones(n)
    if rng.random() < 0.3:
        counts[rng.choice(n, size=min(n, int(rng.integers(1, 4))), replace=False)] = 2
    return PeakList.from_shifts(Nucleus.C13, shifts, counts)


def random_h1(rng: np.random.Generator) -> PeakList:
    n = int(rng.integers(2, 16))
    region = rng.choice(len(H1_REGIONS), size=n, p=[r[2] for r in H1_REGIONS])
    peaks = []
    for k in region:
        low, high, _, integrations = H1_REGIONS[k]
        shift = round(float(rng.uniform(low, high)), 2)
        peaks.append(Peak(shift, integration=float(rng.choice(integrations))))
    return PeakList(Nucleus.H1, tuple(peaks))


def nmrshiftdb_lists(path: Path, nucleus: Nucleus, n: int, rng: np.random.Generator) -> list:
    import pyarrow.parquet as pq

    column = pq.read_table(path, columns=[nucleus.column]).column(0).to_pylist()
    lists = []
    for shifts in column:
        if not shifts:
            continue
        low, high = nucleus.shift_range
        kept = [s for s in shifts if s is not None and low <= s <= high]
        if kept:
            lists.append(PeakList.from_shifts(nucleus, kept))
    return [lists[k] for k in rng.integers(0, len(lists), n)]


def perturbed(peaks: PeakList, rng: np.random.Generator) -> PeakList:
    sigma = NOISE_PPM[peaks.nucleus]
    low, high = peaks.nucleus.shift_range
    kept = list(peaks.peaks)
    if len(kept) > 2:
        kept.pop(int(rng.integers(len(kept))))
    moved = [
        replace(p, shift=float(np.clip(p.shift + rng.normal(0, sigma), low, high))) for p in kept
    ]
    return PeakList(peaks.nucleus, tuple(moved))


def median_time(
    query: PeakList, packed: PackedPeakLists, runs: int
) -> tuple[float, float, np.ndarray]:
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        scores = score_many(query, packed)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return float(np.median(walls)), float(np.median(cpus)), scores


def bench_nucleus(nucleus: Nucleus, args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(20261125 + (nucleus is Nucleus.H1))
    if args.source:
        candidates = nmrshiftdb_lists(args.source, nucleus, args.n, rng)
    else:
        make = random_c13 if nucleus is Nucleus.C13 else random_h1
        candidates = [make(rng) for _ in range(args.n)]
    start = time.perf_counter()
    packed = PackedPeakLists.from_peaklists(candidates, nucleus)
    pack_s = time.perf_counter() - start
    greedy = replace(DEFAULT_PARAMS, matching="greedy")
    walls, cpus, ranks, to_greedy, to_optimal, query_sizes = [], [], [], [], [], []
    sources = rng.choice(args.n, size=args.queries, replace=False)
    for source in sources:
        query = perturbed(candidates[source], rng)
        query_sizes.append(len(query))
        wall, cpu, scores = median_time(query, packed, args.runs)
        walls.append(wall)
        cpus.append(cpu)
        ranks.append(int((scores > scores[source]).sum()) + 1)
        sample = rng.choice(args.n, size=min(args.pairs, args.n), replace=False)
        pair_greedy = np.array([similarity(query, candidates[k], params=greedy) for k in sample])
        pair_optimal = np.array([similarity(query, candidates[k]) for k in sample])
        to_greedy.append(np.abs(scores[sample] - pair_greedy))
        to_optimal.append(np.abs(scores[sample] - pair_optimal))
    gaps_greedy, gaps_optimal = np.concatenate(to_greedy), np.concatenate(to_optimal)
    units = packed.sizes
    return {
        "nucleus": nucleus.value,
        "candidates": args.n,
        "source": str(args.source) if args.source else "synthetic",
        "units_per_list_mean": float(units.mean()),
        "query_peaks_mean": float(np.mean(query_sizes)),
        "pack_s": pack_s,
        "score_many_wall_s_median": float(np.median(walls)),
        "score_many_cpu_s_median": float(np.median(cpus)),
        "score_many_wall_s_max": float(np.max(walls)),
        "source_rank_1_rate": float(np.mean(np.array(ranks) == 1)),
        "source_rank_median": float(np.median(ranks)),
        "kernel_vs_greedy_max_abs": float(gaps_greedy.max()),
        "kernel_vs_greedy_share_exact": float(np.mean(gaps_greedy < 1e-9)),
        "kernel_vs_optimal_mean_abs": float(gaps_optimal.mean()),
        "kernel_vs_optimal_p99_abs": float(np.quantile(gaps_optimal, 0.99)),
        "kernel_vs_optimal_max_abs": float(gaps_optimal.max()),
    }


def replicate_retrieval(path: Path, nucleus: Nucleus, n_queries: int) -> dict:
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["id", "nucleus", "spectrum_index", "shifts"])
    rows = table.to_pandas()
    rows = rows[(rows.nucleus == nucleus.value) & rows.id.notna()]
    rows = rows.sort_values(["id", "spectrum_index"])
    low, high = nucleus.shift_range

    def peaks(shifts) -> PeakList:
        return PeakList.from_shifts(nucleus, [x for x in shifts if low <= x <= high])

    first, second = rows.groupby("id").nth(0), rows.groupby("id").nth(1)
    index = {key: k for k, key in enumerate(first.id)}
    library = [peaks(shifts) for shifts in first.shifts]
    queries = [
        (index[row.id], peaks(row.shifts))
        for row in second.itertuples()
        if sorted(row.shifts) != sorted(first.shifts.iloc[index[row.id]])
    ]
    rng = np.random.default_rng(1)
    chosen = rng.choice(len(queries), size=min(n_queries, len(queries)), replace=False)
    packed = PackedPeakLists.from_peaklists(library, nucleus)
    ranks, cpu = [], time.process_time()
    for k in chosen:
        source, query = queries[k]
        scores = score_many(query, packed)
        ranks.append(1 + int((scores > scores[source]).sum()))
    ranks = np.array(ranks)
    return {
        "nucleus": nucleus.value,
        "library": len(library),
        "queries": len(ranks),
        "replicates_not_identical": len(queries),
        "top1": float(np.mean(ranks == 1)),
        "top5": float(np.mean(ranks <= 5)),
        "top10": float(np.mean(ranks <= 10)),
        "cpu_s_per_query": (time.process_time() - cpu) / max(1, len(ranks)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="candidates per nucleus")
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query")
    parser.add_argument("--pairs", type=int, default=500, help="pair-version checks per query")
    parser.add_argument("--source", type=Path, help="nmrshiftdb2_molecules.parquet (optional)")
    parser.add_argument("--replicates", type=Path, help="nmrshiftdb2_spectra.parquet (optional)")
    parser.add_argument("--replicate-queries", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = [bench_nucleus(nucleus, args) for nucleus in Nucleus]
    if args.replicates:
        results += [
            replicate_retrieval(args.replicates, nucleus, args.replicate_queries)
            for nucleus in Nucleus
        ]
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_1min": os.getloadavg()[0],
        "numpy": np.__version__,
    }
    report = {"machine": machine, "results": results}
    print(json.dumps(report, indent=2))
    if args.json:
        write_json_atomic(args.json, report)


if __name__ == "__main__":
    main()
