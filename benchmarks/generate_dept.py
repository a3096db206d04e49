"""C+H+formula generation with the structure search, with and without DEPT-like labels.

The first ``LIMIT`` C+H+formula queries of a query table (file order) are decoded once
(beam ``--beam``; the generator's tokenizer ignores attached-H labels, so both settings start
from the same beam). Each query's 13C peaks are then labelled as a spectrometer's DEPT would
label them: the per-carbon attached-H count ``c13_n_h`` of its own record in
``data/experimental.parquet`` (:func:`nmrpeak_cli.retrieve.bench.dept_labels`; never predicted
shifts). Both settings rerank the beam and run the default structure search
(:func:`nmrpeak_cli.generate.bench.run_searches`, no time limit, one prediction cache per
setting); with labels the similarity matches 13C peaks within their attached-H class and the
search drops proposals the labels rule out before predicting them
(:mod:`nmrpeak_cli.generate.labels`). Top-k = isomeric InChIKey of the truth among the
ranked candidates; CPU seconds per query count the rerank and the search. ``--settings``
picks the rows (:data:`SETTINGS`; ``labels, no filter`` separates the filter's share).

Usage (random test split, shipped random-split models)::

    python benchmarks/generate_dept.py data/queries/random_test.parquet 100 \
        -o benchmarks/generate_dept_random.json
    python benchmarks/generate_dept.py data/queries/random_test.parquet 100 \
        --settings "labels, no filter" -o benchmarks/generate_dept_random_nofilter.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

SETTINGS = {
    "without labels": "labels removed from the queries",
    "with labels": "labels in the similarity and the search's filter (default)",
    "labels, no filter": "labels in the similarity only (SearchConfig(label_filter=False))",
}


def _top(ranked: list, truths: list, k: int) -> float:
    hits = sum(
        t.inchikey in [c.inchikey for c in r[:k]] for r, t in zip(ranked, truths, strict=True)
    )
    return hits / max(len(truths), 1)


def main() -> None:
    import numpy as np
    import torch

    from nmrpeak_cli.consistency import without_attached_h
    from nmrpeak_cli.generate.bench import decode_queries, run_searches, truth_of
    from nmrpeak_cli.generate.inputs import CONFIGURATIONS
    from nmrpeak_cli.generate.labels import label_filter
    from nmrpeak_cli.generate.model import load_generator
    from nmrpeak_cli.generate.rerank import default_similarity, predict_candidates, rerank
    from nmrpeak_cli.generate.search import SearchConfig
    from nmrpeak_cli.io import read_spectra
    from nmrpeak_cli.predict.forward import ForwardModel
    from nmrpeak_cli.retrieve.bench import dept_labels
    from nmrpeak_cli.spectra import Spectrum

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("queries", type=Path)
    parser.add_argument("limit", type=int)
    parser.add_argument("--data", type=Path, default=Path("data/experimental.parquet"))
    parser.add_argument("--weights", type=Path, default=Path("models/generator_random.safetensors"))
    parser.add_argument(
        "--predictor", type=Path, default=Path("models/predictor_random.safetensors")
    )
    parser.add_argument("--beam", type=int, default=20)
    parser.add_argument(
        "--settings",
        default="without labels;with labels",
        help=f"';'-separated, of {'; '.join(SETTINGS)}",
    )
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()

    torch.set_num_threads(1)
    generator = load_generator(args.weights)
    predictor = ForwardModel(args.predictor, "cpu")
    spectra = [
        s for b in read_spectra(args.queries) for s in b if isinstance(s, Spectrum) and s.smiles
    ]
    labelled_spectra, _ = dept_labels(spectra, args.data)
    begin = time.process_time()
    decoded = decode_queries(
        generator, labelled_spectra, CONFIGURATIONS["C+H+formula"], beam=args.beam,
        limit=args.limit,
    )  # fmt: skip
    truths = [d.truth for d in decoded]
    smiles = {t.inchikey: s.smiles for s in spectra if (t := truth_of(s)) is not None}
    n_labelled = sum(any(p.n_h is not None for p in d.query.c13) for d in decoded)
    report: dict[str, Any] = {
        "queries": len(decoded),
        "queries_with_labels": n_labelled,
        "source": str(args.queries),
        "generator": str(args.weights),
        "predictor": str(args.predictor),
        "beam": args.beam,
        "search": "SearchConfig(time_limit=None), defaults otherwise",
        "decode_cpu_s_per_query": (time.process_time() - begin) / max(len(decoded), 1),
    }
    print(f"{len(decoded)} queries, {n_labelled} with labels", flush=True)
    similarity = default_similarity()
    for name in args.settings.split(";"):
        if name not in SETTINGS:
            parser.error(f"unknown setting {name!r}; expected some of {list(SETTINGS)}")
        batch = (
            decoded
            if name != "without labels"
            else [replace(d, query=without_attached_h(d.query)) for d in decoded]
        )
        begin = time.process_time()
        reranked = []
        for d in batch:
            predicted = predict_candidates(
                predictor, [c.smiles for c in d.candidates], d.query.solvent
            )
            reranked.append(rerank(d.query, d.candidates, predicted, generator.fusion, similarity))
        rerank_cpu = time.process_time() - begin
        config = SearchConfig(time_limit=None, label_filter=name != "labels, no filter")
        results, cpu = run_searches(batch, reranked, generator, predictor, config)
        ranked = [list(r.candidates) for r in results]
        beam_fits = []
        for d in batch:
            fits = label_filter(d.query)
            if fits is not None and d.candidates:
                beam_fits.append(np.mean([fits(c.smiles) for c in d.candidates]))
        report[name] = {
            "rerank_top1": _top(reranked, truths, 1),
            "rerank_top10": _top(reranked, truths, 10),
            "search_top1": _top(ranked, truths, 1),
            "search_top10": _top(ranked, truths, 10),
            "predictions_per_query": float(np.mean([r.predictions for r in results])),
            "rejected_per_query": float(np.mean([r.rejected for r in results])),
            "beam_candidates_fitting_labels": float(np.mean(beam_fits)) if beam_fits else None,
            "truth_ruled_out": sum(
                not fits(smiles[t.inchikey])
                for d, t in zip(batch, truths, strict=True)
                if (fits := label_filter(d.query)) is not None
            ),
            "cpu_s_per_query": (rerank_cpu + sum(cpu)) / max(len(batch), 1),
            "search_cpu_s_per_query": float(np.mean(cpu)),
        }
        print(name, report[name], flush=True)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.output.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        tmp.replace(args.output)


if __name__ == "__main__":
    main()
