"""Generation with and without DEPT-like attached-H labels on the query's 13C peaks.

The labels a DEPT would give are taken from the experimental table's per-carbon ``c13_n_h``
of each test record (:func:`nmrpeak_cli.retrieve.bench.dept_labels`; never from predicted
shifts). Both runs decode the same beam with the shipped generator; with labels, the rerank's
similarity matches 13C peaks within their attached-H class (``SimilarityParams.attached_h``,
on by default), so any gain comes from the rerank. Top-1/top-10 = isomeric InChIKey of the
query's ``smiles`` among the ranked candidates.

Usage (scaffold test, C+H+formula queries in file order)::

    python benchmarks/generate_attached_h.py data/queries/scaffold_test.parquet 469 \
        -o benchmarks/generate_attached_h.json
    python benchmarks/generate_attached_h.py data/queries/scaffold_test.parquet 100 --beam 20 \
        --search -o benchmarks/generate_attached_h_search.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    from nmrpeak_cli.chem import inchikey, parse_smiles
    from nmrpeak_cli.generate.api import generate
    from nmrpeak_cli.generate.search import SearchConfig
    from nmrpeak_cli.io import read_spectra
    from nmrpeak_cli.retrieve.bench import dept_labels

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("queries", type=Path)
    parser.add_argument("limit", type=int)
    parser.add_argument("--data", type=Path, default=Path("data/experimental.parquet"))
    parser.add_argument("--beam", type=int, default=10)
    parser.add_argument("--search", action="store_true", help="run the structure search too")
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()

    queries = [
        q
        for chunk in read_spectra(args.queries)
        for q in chunk
        if getattr(q, "c13", None) and getattr(q, "h1", None) and q.formula and q.smiles
    ][: args.limit]
    labelled, n_labelled = dept_labels(queries, args.data)
    report: dict[str, object] = {
        "queries": len(queries),
        "labelled": n_labelled,
        "source": str(args.queries),
        "beam": args.beam,
        "search": args.search,
    }
    for name, batch in (("without labels", queries), ("with labels", labelled)):
        truth = {q.id: inchikey(parse_smiles(q.smiles)) for q in batch}
        started = time.process_time()
        ranked: dict[str, list[str]] = {}
        search = SearchConfig(time_limit=None) if args.search else None
        rows = generate([q.without_truth() for q in batch], k=10, beam=args.beam, search=search)
        for row in rows:
            if row.get("inchikey"):
                ranked.setdefault(row["query_id"], []).append(row["inchikey"])
        hits = [ranked.get(q.id, []) for q in batch]
        report[name] = {
            "top1": sum(h[:1] == [truth[q.id]] for h, q in zip(hits, batch, strict=True))
            / len(batch),
            "top10": sum(truth[q.id] in h[:10] for h, q in zip(hits, batch, strict=True))
            / len(batch),
            "cpu_s_per_query": (time.process_time() - started) / len(batch),
        }
        print(name, report[name], flush=True)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
