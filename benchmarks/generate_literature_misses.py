"""What limits the structure search on literature queries? One row per query, and a summary.

Runs what ``nmrpeak bench generate --search -l LIB`` runs on the first ``N`` C+H+formula
queries of a table (beam 20, shipped scaffold models unless told, library seeds retrieved
ignoring the formula, no time limit) and records per query: heavy atoms, how many beam
candidates have the formula, the best Morgan (radius 2) Tanimoto of the beam and of the
library seeds to the truth, whether a library seed has the formula, the rank of the truth
after the search, and the similarity of the truth's predicted spectrum next to that of the
search's top-1. A miss whose truth scores **higher** than the top-1 is limited by proposals
(the search never reached it); one whose truth scores lower is limited by the scorer
(forward model + similarity): reaching it would not have helped.

For analysis only (no parameter is chosen on these queries):

    python benchmarks/generate_literature_misses.py data/literature.parquet 50 \
        runs/seedlib_scaffold -o benchmarks/generate_literature_misses.json
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem, DataStructs, RDLogger
from rdkit.Chem import rdFingerprintGenerator

from nmrpeak_cli.generate.bench import (
    decode_queries,
    library_neighbours,
    run_searches,
)
from nmrpeak_cli.generate.inputs import CONFIGURATIONS
from nmrpeak_cli.generate.library_seeds import LibrarySeeds
from nmrpeak_cli.generate.model import load_generator
from nmrpeak_cli.generate.rerank import default_similarity, predict_candidates, rerank
from nmrpeak_cli.generate.search import PredictionCache, SearchConfig
from nmrpeak_cli.io import read_spectra
from nmrpeak_cli.spectra import Spectrum

RDLogger.DisableLog("rdApp.*")
MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
BINS = ((0, 15), (16, 20), (21, 25), (26, 30), (31, 999))


def _fp(smiles: str):
    mol = Chem.MolFromSmiles(smiles)
    return None if mol is None else MORGAN.GetFingerprint(mol)


def _best_tanimoto(truth_fp, smiles: list[str]) -> float | None:
    fps = [f for f in (_fp(s) for s in smiles) if f is not None]
    if truth_fp is None or not fps:
        return None
    return float(max(DataStructs.BulkTanimotoSimilarity(truth_fp, fps)))


def _formula(smiles: str) -> str | None:
    from nmrpeak_cli import chem

    mol = chem.try_parse_smiles(smiles)
    return None if mol is None else chem.formula(mol)


def analyse(
    queries: Path, limit: int, library: Path, k: int, weights: Path, predictor_weights: Path
) -> dict[str, Any]:
    """Per-query rows and the summary (see the module docstring)."""
    import torch

    from nmrpeak_cli.predict.forward import ForwardModel
    from nmrpeak_cli.similarity import DEFAULT_PARAMS, match_spectra
    from nmrpeak_cli.spectra import normalize_formula

    torch.set_num_threads(1)
    generator = load_generator(weights, device="cpu")
    predictor = ForwardModel(predictor_weights, "cpu")
    similarity = default_similarity()
    spectra = [s for b in read_spectra(queries) for s in b if isinstance(s, Spectrum) and s.smiles]
    decoded = decode_queries(
        generator, spectra, CONFIGURATIONS["C+H+formula"], beam=20, limit=limit
    )
    reranked = []
    for d in decoded:
        predicted = predict_candidates(predictor, [c.smiles for c in d.candidates], d.query.solvent)
        reranked.append(rerank(d.query, d.candidates, predicted, generator.fusion, similarity))
    seeds = LibrarySeeds(library, k, encoders=True)
    neighbours, _ = library_neighbours(seeds, decoded)
    config = SearchConfig(time_limit=None)
    results, cpu = run_searches(
        decoded, reranked, generator, predictor, config, library_seeds=neighbours
    )
    cache = PredictionCache(predictor)
    truth_by_key = {}
    for s in spectra:
        mol = Chem.MolFromSmiles(s.smiles)
        if mol is not None:
            truth_by_key.setdefault(Chem.MolToInchiKey(mol), s.smiles)
    rows = []
    for d, result, rows_lib, seconds in zip(decoded, results, neighbours, cpu, strict=True):
        truth = truth_by_key[d.truth.inchikey]
        mol = Chem.MolFromSmiles(truth)
        truth_fp = None if mol is None else MORGAN.GetFingerprint(mol)
        wanted = normalize_formula(d.query.formula)
        rank = next(
            (i + 1 for i, c in enumerate(result.candidates) if c.inchikey == d.truth.inchikey),
            None,
        )
        spectrum = cache.get([truth], d.query.solvent)[0][0]
        truth_sim = (
            None
            if spectrum is None
            else float(match_spectra(d.query, spectrum, params=DEFAULT_PARAMS).score)
        )
        top = result.candidates[0] if result.candidates else None
        lib_smiles = [r["smiles"] for r in rows_lib]
        rows.append(
            {
                "id": d.query.id,
                "heavy_atoms": None if mol is None else mol.GetNumHeavyAtoms(),
                "formula": wanted,
                "beam_formula_candidates": len(d.candidates),
                "beam_best_tanimoto": _best_tanimoto(truth_fp, list(d.seeds)),
                "library_formula_seeds": sum(_formula(s) == wanted for s in lib_smiles),
                "library_best_tanimoto": _best_tanimoto(truth_fp, lib_smiles),
                "library_truth": d.truth.connectivity
                in {str(r.get("inchikey") or "")[:14] for r in rows_lib},
                "search_rank": rank,
                "search_candidates": len(result.candidates),
                "top1_similarity": None if top is None else top.similarity,
                "top1_tanimoto": None if top is None else _best_tanimoto(truth_fp, [top.smiles]),
                "truth_similarity": truth_sim,
                "predictions": result.predictions,
                "cpu_seconds": seconds,
            }
        )
    return {"queries": str(queries), "limit": limit, "library": str(library), "k": k,
            "weights": str(weights), "predictor_weights": str(predictor_weights),
            "summary": summarise(rows), "rows": rows}  # fmt: skip


def _kind(row: dict[str, Any]) -> str:
    if row["search_rank"] == 1:
        return "hit"
    if row["search_rank"] is not None:
        return "truth found, not first"
    if row["truth_similarity"] is None or row["top1_similarity"] is None:
        return "no candidate or no truth prediction"
    if row["truth_similarity"] > row["top1_similarity"]:
        return "proposal-limited (truth scores higher, never reached)"
    return "scorer-limited (truth scores lower than the top-1)"


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts per miss kind and per heavy-atom bin; medians of the closeness measures."""
    kinds = Counter(_kind(r) for r in rows)
    by_size = {}
    for lo, hi in BINS:
        part = [r for r in rows if r["heavy_atoms"] is not None and lo <= r["heavy_atoms"] <= hi]
        by_size[f"{lo}-{hi}"] = {
            "n": len(part),
            "hits": sum(r["search_rank"] == 1 for r in part),
            "top10": sum(r["search_rank"] is not None and r["search_rank"] <= 10 for r in part),
        }

    def median(key: str) -> float | None:
        values = [r[key] for r in rows if r[key] is not None]
        return float(np.median(values)) if values else None

    misses = [r for r in rows if r["search_rank"] != 1]
    return {
        "n": len(rows),
        "kinds": dict(kinds),
        "by_heavy_atoms": by_size,
        "median_heavy_atoms": median("heavy_atoms"),
        "no_beam_candidate_of_formula": sum(r["beam_formula_candidates"] == 0 for r in rows),
        "library_seed_of_formula": sum(r["library_formula_seeds"] > 0 for r in rows),
        "library_truth_leaks": sum(r["library_truth"] for r in rows),
        "median_library_best_tanimoto": median("library_best_tanimoto"),
        "median_beam_best_tanimoto": median("beam_best_tanimoto"),
        "misses_top1_tanimoto_median": (
            float(np.median([r["top1_tanimoto"] for r in misses if r["top1_tanimoto"] is not None]))
            if misses
            else None
        ),
        "misses_library_tanimoto_ge_0.5": sum(
            (r["library_best_tanimoto"] or 0) >= 0.5 for r in misses
        ),
        "misses_budget_exhausted": sum(r["predictions"] >= 1000 for r in misses),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("queries", type=Path)
    parser.add_argument("limit", type=int)
    parser.add_argument("library", type=Path)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--weights", type=Path, default=Path("models/generator.safetensors"))
    parser.add_argument(
        "--predictor-weights", type=Path, default=Path("models/predictor.safetensors")
    )
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    report = analyse(
        args.queries, args.limit, args.library, args.k, args.weights, args.predictor_weights
    )
    from nmrpeak_cli.paths import write_json_atomic

    write_json_atomic(args.output, report)
    print(json.dumps(report["summary"], indent=1))


if __name__ == "__main__":
    main()
