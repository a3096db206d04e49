"""Fit the 13C share of the C+H similarity for retrieval on VALIDATION queries.

Every scaffold-valid query with both nuclei is searched, without and with its formula,
against a 10,000-entry library (their molecules first, then the seeded distractors of
`nmrpeak bench retrieve`) with the shipped encoders and fusion, for several `c13_weight`
values (`h1_weight` = 1 - `c13_weight`). The test split is never read.

    python benchmarks/retrieve_nucleus_weight.py [WORK_DIR]
"""

from __future__ import annotations

import sys
from dataclasses import replace
from itertools import islice
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from nmrpeak_cli.predict.forward import load_forward_model
from nmrpeak_cli.retrieve.bench import (
    accuracy,
    benchmark_molecules,
    configure,
    load_queries,
    prepared_library,
    score_queries,
    truths,
)
from nmrpeak_cli.retrieve.encoders import (
    load_fusion_weights,
    load_shipped_encoders,
    load_similarity_params,
)
from nmrpeak_cli.retrieve.search import SearchParams

C13_WEIGHTS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
LIBRARY_SIZE = 10_000


def main(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    table = pq.read_table("data/queries/scaffold_valid.parquet")
    lengths = [pc.greater(pc.list_value_length(table[n]), 0) for n in ("c13", "h1")]
    pq.write_table(table.filter(pc.fill_null(pc.and_(*lengths), False)), work / "valid_ch.parquet")
    queries, keys = load_queries(work / "valid_ch.parquet", None, 0)
    encoders = load_shipped_encoders()
    predictor = load_forward_model(device="cpu")
    molecules = benchmark_molecules([q.smiles for q in queries], keys, Path("data"), 0)
    library = prepared_library(
        work / f"lib-{predictor.identity.sha256[:8]}",
        islice(molecules, LIBRARY_SIZE),
        predictor,
        encoders,
        "nucleus weight fit",
    )
    truth = truths(library, keys)
    weights, base = load_fusion_weights(encoders), load_similarity_params()
    print(f"{len(queries)} validation queries with 13C and 1H, {len(library)} library entries")
    for formula in (False, True):
        picked = [(configure(q, "C+H", formula), t) for q, t in zip(queries, truth, strict=True)]
        picked = [(q, t) for q, t in picked if q is not None]
        for share in C13_WEIGHTS:
            similarity = replace(base, c13_weight=share, h1_weight=1 - share)
            params = SearchParams(weights=weights, similarity=similarity)
            scored = score_queries(
                [q for q, _ in picked], library, encoders, params, full_scan=True
            )
            result = accuracy(scored, [t for _, t in picked], weights)
            print(
                f"formula={formula} c13_weight={share}: top-1 {result['top1']:.3f}, "
                f"top-10 {result['top10']:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/retriever/nucleus_weight"))
