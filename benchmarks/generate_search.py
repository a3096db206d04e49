"""Structure search on VALIDATION queries: the ceiling of local moves, and the score fusion.

``ceiling``: decode C+H+formula queries as `nmrpeak generate` does (beam, rerank), take the
rerank misses whose candidates include one with the truth's generic ring framework, and
enumerate the formula-preserving positional isomers of those candidates (substituent walks
and element swaps, one and two steps). Reports whether the truth is among them and where
the current scorer (peak-aware similarity of the predicted spectrum) ranks it: how much of
the gap the scorer can close once a proposal reaches the truth.

``fit``: run the search (default settings) on validation queries and fit the logistic fusion
of similarity and generator log-probability on the final candidates
(:func:`~nmrpeak_cli.generate.rerank.fit_fusion`); ``--write`` stores the weights in the
generator's card (``search_calibration``), where ``generate --search`` and ``elucidate`` read
them. The weights only order the final candidates (the search itself ranks by similarity), so
the in-sample top-1 under the old and the new weights compare on the same candidates.

``ablation``: decode once, then run the search with one move family added at a time
(top-1/top-10, predictions and CPU seconds per query for each row); ``--crem-db DB`` adds
the row "default + CReM" (``nmrpeak data crem-db``), ``--library-seeds DIR`` the row
"default + library seeds" (the ``--library-k`` nearest entries of a library, default 10,
retrieved ignoring the formula and added after the beam seeds; build the library from
training molecules only: ``nmrpeak data library-input`` + ``nmrpeak library build``;
``--ssr-only`` retrieves without the learned encoders), ``--rows`` keeps only the named rows.

The test split is never read.

    python benchmarks/generate_search.py ceiling random 200
    python benchmarks/generate_search.py fit random 200 [OFFSET] [--weights W] [--predictor P] [--write]
    python benchmarks/generate_search.py ablation random 100 [--crem-db DB] [--rows "A;B"]
        [--library-seeds DIR [--library-k 10] [--ssr-only]]

``--weights``/``--predictor`` default to the split's shipped models
(``models/generator[_random]``, ``models/predictor[_random]``).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold

from nmrpeak_cli.generate.bench import (
    decode_queries,
    library_neighbours,
    library_seed_counts,
    run_searches,
)
from nmrpeak_cli.generate.inputs import CONFIGURATIONS
from nmrpeak_cli.generate.library_seeds import LibrarySeeds
from nmrpeak_cli.generate.model import load_generator
from nmrpeak_cli.generate.moves import formula_of, swap, walk
from nmrpeak_cli.generate.rerank import (
    default_similarity,
    predict_candidates,
    rerank,
)
from nmrpeak_cli.generate.search import SearchConfig
from nmrpeak_cli.io import read_spectra
from nmrpeak_cli.predict.forward import ForwardModel
from nmrpeak_cli.spectra import Spectrum

WEIGHTS: dict[str, Path] = {}
"""``--weights``/``--predictor`` overrides of :func:`models` (keys ``generator``, ``predictor``)."""


def models(split: str) -> tuple[Path, Path]:
    """Generator and predictor weights trained on ``split``'s training set."""
    suffix = "_random" if split == "random" else ""
    return WEIGHTS.get("generator", Path(f"models/generator{suffix}.safetensors")), WEIGHTS.get(
        "predictor", Path(f"models/predictor{suffix}.safetensors")
    )


def generic_scaffold(mol: Chem.Mol) -> str:
    """Canonical SMILES of the generic Murcko framework."""
    return Chem.MolToSmiles(
        MurckoScaffold.MakeScaffoldGeneric(MurckoScaffold.GetScaffoldForMol(mol))
    )


def decoded_and_reranked(split: str, limit: int, offset: int = 0):
    """Decoded validation queries, their reranked candidates, the generator and predictor."""
    import torch

    torch.set_num_threads(1)
    weights, forward = models(split)
    generator = load_generator(weights)
    predictor = ForwardModel(forward, "cpu")
    spectra = [
        s
        for b in read_spectra(f"data/queries/{split}_valid.parquet")
        for s in b
        if isinstance(s, Spectrum) and s.smiles
    ][offset:]
    decoded = decode_queries(
        generator, spectra, CONFIGURATIONS["C+H+formula"], beam=20, limit=limit
    )
    similarity = default_similarity()
    reranked = []
    for d in decoded:
        predicted = predict_candidates(predictor, [c.smiles for c in d.candidates], d.query.solvent)
        reranked.append(rerank(d.query, d.candidates, predicted, generator.fusion, similarity))
    return decoded, reranked, generator, predictor


def _isomers(smiles: str, steps: int) -> set[str]:
    """Walk and swap children of ``smiles`` within ``steps`` moves, of its formula."""
    target = formula_of(smiles)
    frontier, found = {smiles}, set()
    for _ in range(steps):
        nxt = set()
        for parent in frontier:
            mol = Chem.MolFromSmiles(parent)
            for child in (*walk(mol), *swap(mol)):
                if child not in found and formula_of(child) == target:
                    nxt.add(child)
        found |= nxt
        frontier = nxt
    return found


def ceiling(split: str, limit: int) -> dict:
    """The ceiling table (see the module docstring)."""
    decoded, reranked, _, predictor = decoded_and_reranked(split, limit)
    truth_mols = {}  # the queries the models read carry no smiles: the truth by InChIKey
    for batch in read_spectra(f"data/queries/{split}_valid.parquet"):
        for spectrum in batch:
            mol = Chem.MolFromSmiles(getattr(spectrum, "smiles", None) or "")
            if mol is not None:
                truth_mols[Chem.MolToInchiKey(mol)] = mol
    similarity = default_similarity()
    counts: Counter[str] = Counter()
    ranks = {1: [], 2: []}
    sizes = {1: [], 2: []}
    for d, ranked in zip(decoded, reranked, strict=True):
        counts["queries"] += 1
        if ranked and ranked[0].inchikey == d.truth.inchikey:
            counts["rerank hit"] += 1
            continue
        counts["rerank miss"] += 1
        truth = truth_mols[d.truth.inchikey]
        frame = generic_scaffold(truth)
        same = [c.smiles for c in ranked if generic_scaffold(Chem.MolFromSmiles(c.smiles)) == frame]
        if not same:
            continue
        counts["miss with a same-framework candidate"] += 1
        for steps in (1, 2):
            pool = set(same)
            for smiles in same:
                pool |= _isomers(smiles, steps)
            sizes[steps].append(len(pool))
            keys = {Chem.MolToInchiKey(Chem.MolFromSmiles(s)): s for s in pool}
            first_block = {k[:14] for k in keys}
            if d.truth.connectivity not in first_block:
                continue
            counts[f"truth (stereo-free) within {steps} move(s)"] += 1
            counts[f"truth (exact) within {steps} move(s)"] += d.truth.inchikey in keys
            predicted = predict_candidates(predictor, sorted(pool), d.query.solvent)
            scores = {
                s: (0.0 if p is None else similarity(d.query, p)) for s, p in predicted.items()
            }
            truth_score = max(scores[s] for k, s in keys.items() if k[:14] == d.truth.connectivity)
            ranks[steps].append(1 + sum(v > truth_score for v in scores.values()))
    table = dict(counts)
    for steps in (1, 2):
        r = np.asarray(ranks[steps])
        table[f"{steps} move(s): pool size (median)"] = float(np.median(sizes[steps] or [0]))
        for k in (1, 5, 10):
            table[f"{steps} move(s): truth ranked <= {k} by similarity"] = int((r <= k).sum())
    return table


def fit(split: str, limit: int, offset: int) -> dict:
    """Search the validation queries and fit the fused score on the final candidates."""
    from nmrpeak_cli.generate.rerank import fit_fusion

    decoded, reranked, generator, predictor = decoded_and_reranked(split, limit, offset)
    start = time.process_time()
    config = SearchConfig()
    before = config.for_generator(generator)
    results, _ = run_searches(decoded, reranked, generator, predictor, config)
    lp, sim, label = [], [], []
    for d, r in zip(decoded, results, strict=True):
        for c in r.candidates:
            lp.append(-3.0 if c.logprob is None else c.logprob)
            sim.append(c.similarity)
            label.append(c.inchikey == d.truth.inchikey)
    weights = fit_fusion(np.asarray(lp), np.asarray(sim), np.asarray(label, float))
    by_similarity = sum(
        bool(r.candidates)
        and max(r.candidates, key=lambda c: c.similarity).inchikey == d.truth.inchikey
        for d, r in zip(decoded, results, strict=True)
    )
    fused = 0
    for d, r in zip(decoded, results, strict=True):
        if not r.candidates:
            continue
        best = max(
            r.candidates,
            key=lambda c: (
                weights.bias
                + weights.w_similarity * c.similarity
                + weights.w_logprob * (-3.0 if c.logprob is None else c.logprob)
            ),
        )
        fused += best.inchikey == d.truth.inchikey
    return {
        "queries": len(decoded),
        "offset": offset,
        "generator": str(models(split)[0]),
        "predictor": str(models(split)[1]),
        "fit": {
            "w_similarity": weights.w_similarity,
            "w_logprob": weights.w_logprob,
            "bias": weights.bias,
        },
        "weights before": {k: getattr(before, k) for k in ("w_similarity", "w_logprob", "bias")},
        "top1 by similarity": by_similarity / len(decoded),
        "top1 fused (in-sample)": fused / len(decoded),
        "top1 with the weights before": sum(
            bool(r.candidates) and r.candidates[0].inchikey == d.truth.inchikey
            for d, r in zip(decoded, results, strict=True)
        )
        / len(decoded),
        "in pool": sum(
            any(c.inchikey == d.truth.inchikey for c in r.candidates)
            for d, r in zip(decoded, results, strict=True)
        )
        / len(decoded),
        "search CPU s/query": (time.process_time() - start) / len(decoded),
    }


ABLATION = {
    "walk": {"moves": ("walk",), "recombine": False, "repair": False, "reseed_beam": 0},
    "+ swap": {"moves": ("walk", "swap"), "recombine": False, "repair": False, "reseed_beam": 0},
    "+ bond": {"recombine": False, "repair": False, "reseed_beam": 0},
    "+ recombine": {"repair": False, "reseed_beam": 0},
    "+ repair + reseed (default)": {},
    "default, similarity only (no log-probability)": {"w_logprob": 0.0},
    "default, budget 3000": {"budget": 3000, "patience": 3},
}
"""Search settings of each ablation row (changes from :class:`SearchConfig`; no time limit)."""
CREM_ROW = "default + CReM"
"""Row added by ``--crem-db PATH``: the default search with the ``crem`` move."""
LIBRARY_ROW = "default + library seeds"
"""Row added by ``--library-seeds DIR``: the default search, library neighbours as seeds."""
OPTIONS: dict[str, object] = {}
"""``--crem-db`` (a Path), ``--library-seeds`` (a Path), ``--library-k`` (an int),
``--ssr-only`` and ``--rows`` (row names) of ``ablation``."""


def ablation(split: str, limit: int) -> dict:
    """Search metrics for each row of :data:`ABLATION` on the same decoded queries."""
    from dataclasses import replace

    decoded, reranked, generator, predictor = decoded_and_reranked(split, limit)
    n = len(decoded)
    table = {
        "queries": n,
        "rerank": {
            "top1": sum(bool(r) and r[0].inchikey == d.truth.inchikey
                        for d, r in zip(decoded, reranked, strict=True)) / n,
            "top10": sum(any(c.inchikey == d.truth.inchikey for c in r[:10])
                         for d, r in zip(decoded, reranked, strict=True)) / n,
        },
    }  # fmt: skip
    rows = dict(ABLATION)
    if OPTIONS.get("crem_db") is not None:
        rows[CREM_ROW] = {"crem_db": OPTIONS["crem_db"]}
    if OPTIONS.get("library_seeds") is not None:
        rows[LIBRARY_ROW] = {}
    if OPTIONS.get("rows"):
        rows = {k: v for k, v in rows.items() if k in OPTIONS["rows"]}
    for name, change in rows.items():
        config = replace(SearchConfig(time_limit=None), **change)
        if change.get("w_logprob") == 0.0:
            config = replace(config, w_similarity=1.0, bias=0.0)
        if name == LIBRARY_ROW:
            seeds = LibrarySeeds(
                Path(OPTIONS["library_seeds"]), k=int(OPTIONS.get("library_k", 10)),
                encoders=not OPTIONS.get("ssr_only"),
            )  # fmt: skip
            neighbours, retrieval = library_neighbours(seeds, decoded)
            results, cpu = run_searches(
                decoded, reranked, generator, predictor, config, library_seeds=neighbours
            )
            cpu = [a + b for a, b in zip(cpu, retrieval, strict=True)]
        else:
            results, cpu = run_searches(decoded, reranked, generator, predictor, config)
        hits = [
            [c.inchikey == d.truth.inchikey for c in r.candidates]
            for d, r in zip(decoded, results, strict=True)
        ]
        if name == LIBRARY_ROW:  # a leak check (0 when the library holds no query molecule)
            counts = library_seed_counts(decoded, neighbours, seeds)
            table["library seeds: queries with the truth among them"] = counts[
                "library_seeds_truth_queries"
            ]
            table["library seeds: queries with one of the formula"] = counts[
                "library_seeds_formula_queries"
            ]
        table[name] = {
            "top1": sum(bool(h) and h[0] for h in hits) / n,
            "top10": sum(any(h[:10]) for h in hits) / n,
            "in pool": sum(any(h) for h in hits) / n,
            "predictions/query": float(np.mean([r.predictions for r in results])),
            "CPU s/query": float(np.mean(cpu)),
        }
        print(name, json.dumps(table[name]), file=sys.stderr, flush=True)
    return table


def _options(args: list[str]) -> tuple[list[str], bool]:
    """Take ``--weights``/``--predictor`` (into :data:`WEIGHTS`) and ``--write`` out of ``args``."""
    rest, write = [], False
    items = iter(args)
    for arg in items:
        if arg in ("--weights", "--predictor"):
            value = next(items, None)
            if value is None:
                sys.exit(f"{arg} needs a path\n{__doc__}")
            WEIGHTS["generator" if arg == "--weights" else "predictor"] = Path(value)
        elif arg == "--write":
            write = True
        elif arg == "--crem-db":
            OPTIONS["crem_db"] = Path(next(items))
        elif arg == "--library-seeds":
            OPTIONS["library_seeds"] = Path(next(items))
        elif arg == "--library-k":
            OPTIONS["library_k"] = int(next(items))
        elif arg == "--ssr-only":
            OPTIONS["ssr_only"] = True
        elif arg == "--rows":  # row names of ablation, separated by ";"
            OPTIONS["rows"] = next(items).split(";")
        else:
            rest.append(arg)
    return rest, write


if __name__ == "__main__":
    args, write = _options(sys.argv[1:])
    if len(args) < 2 or args[0] not in {"ceiling", "fit", "ablation"}:
        sys.exit(__doc__)
    n = int(args[2]) if len(args) > 2 else 200
    if args[0] == "ceiling":
        print(json.dumps(ceiling(args[1], n), indent=2))
    elif args[0] == "ablation":
        print(json.dumps(ablation(args[1], n), indent=2))
    else:
        offset = int(args[3]) if len(args) > 3 else 0
        report = fit(args[1], n, offset)
        if write:
            from nmrpeak_cli.generate.search import write_calibration

            path = write_calibration(
                models(args[1])[0],
                report["fit"],
                fitted_on=f"data/queries/{args[1]}_valid.parquet (C+H+formula, {n} queries "
                f"from {offset}; predictor {models(args[1])[1]})",
                command="python " + " ".join(sys.argv),
            )
            report["written to"] = str(path)
        print(json.dumps(report, indent=2))
