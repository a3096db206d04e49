"""Plain ``generate`` (beam + rerank, no structure search) with and without DEPT-like labels,
under each beam label policy (:data:`nmrpeak_cli.generate.api.LABEL_POLICIES`).

The first ``LIMIT`` C+H+formula queries of a query table (file order) are labelled as a
spectrometer's DEPT would label them: the per-carbon attached-H count ``c13_n_h`` of each
query's own record in ``data/experimental.parquet``
(:func:`nmrpeak_cli.retrieve.bench.dept_labels`; never predicted shifts). Each is answered by
:func:`nmrpeak_cli.generate.api.propose` + :func:`~nmrpeak_cli.generate.api.score_results`,
what ``nmrpeak generate`` runs without ``--search``. Rows (one run, one decode per policy
that changes the beam; ``--weights`` may be repeated to compare generators on the same
queries, e.g. a generator that reads label tokens against the shipped one):

- ``without labels``: the labels removed from the queries (before decoding when the
  generator reads label tokens);
- ``off``: labels in the similarity only (rerank matches 13C peaks within their class);
- ``demote``: beam candidates the labels rule out lose ``LABEL_PENALTY`` of log-probability;
- ``drop``: the beam drops them as they end and refills from the live hypotheses.

Top-k = isomeric InChIKey of the truth among the ranked candidates; ``truth_ruled_out``
counts queries whose true structure the labels rule out
(:func:`nmrpeak_cli.generate.labels.labels_fit`).

Usage (random split, shipped random-split models; choose on valid, report test)::

    python benchmarks/generate_dept_beam.py data/queries/random_valid.parquet 200 \
        -o runs/gen_labels/beam_policy_valid.json
    python benchmarks/generate_dept_beam.py data/queries/random_test.parquet 100 \
        --settings "without labels;drop" -o benchmarks/generate_dept_beam_random.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

SETTINGS = ("without labels", "off", "demote", "drop")


def _top(results: list, truths: list, k: int) -> float:
    hits = sum(
        t.inchikey in [c.inchikey for c in r.candidates[:k]]
        for r, t in zip(results, truths, strict=True)
    )
    return hits / max(len(truths), 1)


def main() -> None:
    import numpy as np
    import torch

    from nmrpeak_cli import chem
    from nmrpeak_cli.consistency import without_attached_h
    from nmrpeak_cli.generate.api import (
        check_query,
        demote_unfitting,
        propose,
        score_results,
    )
    from nmrpeak_cli.generate.bench import truth_of
    from nmrpeak_cli.generate.inputs import CONFIGURATIONS, apply_configuration, canonical_input
    from nmrpeak_cli.generate.labels import labels_fit, query_label_counts
    from nmrpeak_cli.generate.model import load_generator
    from nmrpeak_cli.generate.rerank import default_similarity
    from nmrpeak_cli.io import read_spectra
    from nmrpeak_cli.predict.forward import ForwardModel
    from nmrpeak_cli.retrieve.bench import dept_labels
    from nmrpeak_cli.spectra import Spectrum

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("queries", type=Path)
    parser.add_argument("limit", type=int)
    parser.add_argument("--data", type=Path, default=Path("data/experimental.parquet"))
    parser.add_argument(
        "--weights",
        type=Path,
        action="append",
        help="generator(s) to compare on the same queries (repeat; default: the shipped "
        "random-split generator)",
    )
    parser.add_argument(
        "--predictor", type=Path, default=Path("models/predictor_random.safetensors")
    )
    parser.add_argument("--beam", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--settings", default=";".join(SETTINGS), help=f"';'-separated, of {'; '.join(SETTINGS)}"
    )
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()
    settings = args.settings.split(";")
    for name in settings:
        if name not in SETTINGS:
            parser.error(f"unknown setting {name!r}; expected some of {list(SETTINGS)}")

    torch.set_num_threads(1)
    weights = args.weights or [Path("models/generator_random.safetensors")]
    generator = load_generator(weights[0])
    predictor = ForwardModel(args.predictor, "cpu")
    similarity = default_similarity()
    spectra = [
        s for b in read_spectra(args.queries) for s in b if isinstance(s, Spectrum) and s.smiles
    ]
    labelled, _ = dept_labels(spectra, args.data)
    config = CONFIGURATIONS["C+H+formula"]
    queries, truths, truth_smiles = [], [], []
    for spectrum in labelled:
        query = apply_configuration(canonical_input(spectrum), config)
        if not (query.c13 and query.h1 and query.formula):
            continue
        truth = truth_of(spectrum)
        if truth is None or check_query(query, generator).errors:
            continue
        queries.append(query)
        truths.append(truth)
        truth_smiles.append(spectrum.smiles)
        if len(queries) >= args.limit:
            break
    wanted = [query_label_counts(q) for q in queries]
    ruled_out = sum(
        bool(w) and (m := chem.try_parse_smiles(s)) is not None and not labels_fit(m, w)
        for w, s in zip(wanted, truth_smiles, strict=True)
    )
    report: dict[str, Any] = {
        "queries": len(queries),
        "queries_with_labels": sum(bool(w) for w in wanted),
        "truth_ruled_out": ruled_out,
        "source": str(args.queries),
        "generators": [str(w) for w in weights],
        "predictor": str(args.predictor),
        "beam": args.beam,
        "k": 10,
    }
    print(f"{len(queries)} queries, {report['queries_with_labels']} labelled", flush=True)

    def evaluate(generator) -> dict[str, Any]:
        out: dict[str, Any] = {}

        def decode(policy: str, batch_queries: list[Spectrum]) -> tuple[list, float]:
            begin = time.process_time()
            found = []
            for start in range(0, len(batch_queries), args.batch_size):
                chunk = batch_queries[start : start + args.batch_size]
                found += propose(chunk, generator, beam=args.beam, label_policy=policy)
            return found, time.process_time() - begin

        reads_labels = generator.spectrum_tokenizer.labels
        decoded: dict[str, tuple[list, float]] = {}
        for name in settings:
            policy = "drop" if name == "drop" else "off"
            key = "unlabelled" if name == "without labels" and reads_labels else policy
            if key not in decoded:
                batch = [without_attached_h(q) for q in queries] if key == "unlabelled" else queries
                decoded[key] = decode(policy, batch)
            proposed, decode_cpu = decoded[key]
            if name == "without labels":
                proposed = [replace(r, query=without_attached_h(r.query)) for r in proposed]
            elif name == "demote":
                proposed = [
                    replace(r, candidates=tuple(demote_unfitting(r.candidates, w)))
                    for r, w in zip(proposed, wanted, strict=True)
                ]
            begin = time.process_time()
            scored, note = score_results(
                proposed, generator, predictor=predictor, similarity=similarity
            )
            if note:
                raise SystemExit(note)
            fitting = [
                np.mean([labels_fit(chem.try_parse_smiles(c.smiles), w) for c in r.candidates[:10]])
                for r, w in zip(scored, wanted, strict=True)
                if w and r.candidates
            ]
            out[name] = {
                "top1": _top(scored, truths, 1),
                "top5": _top(scored, truths, 5),
                "top10": _top(scored, truths, 10),
                "in_beam": _top(scored, truths, 10**6),
                "candidates_per_query": float(np.mean([len(r.candidates) for r in scored])),
                "top10_fitting_labels": float(np.mean(fitting)) if fitting else None,
                "decode_cpu_s_per_query": decode_cpu / max(len(queries), 1),
                "rerank_cpu_s_per_query": (time.process_time() - begin) / max(len(queries), 1),
            }
            print(name, out[name], flush=True)
        return out

    for path in weights:
        generator = load_generator(path)
        labels = "reads labels" if generator.spectrum_tokenizer.labels else "no label tokens"
        print(f"{path} ({labels})", flush=True)
        report[str(path)] = evaluate(generator)

    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.output.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        tmp.replace(args.output)


if __name__ == "__main__":
    main()
