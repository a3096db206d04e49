"""Out-of-fold top-1 of elucidate's fusion with extra library evidence (validation pools only).

Reads the pools ``nmrpeak train elucidate`` cached (a pickle in its ``--work-dir``), fits the
conditional logit of :func:`nmrpeak_cli.elucidate_bench.fit_fusion` on four folds of the
queries and ranks the fifth, once per feature set:

* ``shipped``: :data:`~nmrpeak_cli.elucidate_bench.FUSION_FEATURES`;
* ``sse_all``: plus the SSE score of every candidate (its predicted spectrum embedded as a
  library entry's, so search and beam structures get the value a library hit stores);
* ``fused_top``: plus the retrieval's fused score (card weights) of the library's first choice;
* ``fused_all``: plus that fused score for every library hit;
* ``fused_margin``: ``fused_top`` plus its margin over the library's second choice.

Usage::

    python benchmarks/elucidate_fusion_features.py runs/elucidate_gpu/pools-5bb4d70e99196420.pkl
"""

from __future__ import annotations

import pickle
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from nmrpeak_cli.calibration import fit_conditional_logit
from nmrpeak_cli.elucidate import fusion_features, load_model
from nmrpeak_cli.elucidate.values import Scored
from nmrpeak_cli.elucidate_bench import FUSION_FEATURES, QueryPool, measured_pools
from nmrpeak_cli.retrieve.encoders import load_shipped_encoders, read_fusion_card

Extra = Callable[[int, Scored], dict[str, float]]


def sse_scores(pools: Sequence[QueryPool], measured: Sequence[Sequence[Scored]]) -> list[dict]:
    """Per pool, the SSE score of every candidate with a predicted spectrum, by InChIKey."""
    encoder = load_shipped_encoders()["sse"]
    out = []
    for p, cands in zip(pools, measured, strict=True):
        query = encoder.embed_queries([p.query])[0]
        have = [c for c in cands if c.proposal.predicted is not None]
        entries = encoder.embed_entries(
            [c.proposal.smiles for c in have], [c.proposal.predicted for c in have]
        )
        out.append(
            {
                c.proposal.inchikey: float((1 + e @ query) / 2)
                for c, e in zip(have, entries, strict=True)
            }
        )
    return out


def fused(evidence: Mapping[str, float], weights: Mapping[str, float]) -> float | None:
    """The retrieval's fused score of a library hit (``None`` for other candidates)."""
    if "ssr" not in evidence:
        return None
    return sum(w * evidence.get(name, 0.0) for name, w in weights.items())


def out_of_fold_hits(
    pools: Sequence[QueryPool],
    measured: Sequence[Sequence[Scored]],
    names: Sequence[str],
    extra: Extra,
    folds: int = 5,
) -> Counter:
    """Right first answers per set when each fold is ranked by a fusion fitted on the others."""
    feats = [[{**fusion_features(c), **extra(i, c)} for c in m] for i, m in enumerate(measured)]
    truth = [
        [j for j, c in enumerate(m) if c.proposal.inchikey == p.truth]
        for p, m in zip(pools, measured, strict=True)
    ]
    queries = sorted({p.query.id for p in pools})
    order = np.random.default_rng(0).permutation(len(queries))
    fold_of = {queries[i]: rank % folds for rank, i in enumerate(order)}
    hits: Counter = Counter()
    for k in range(folds):
        inside = [
            i
            for i, p in enumerate(pools)
            if fold_of[p.query.id] != k and truth[i] and len(measured[i]) > 1
        ]
        w = fit_conditional_logit([feats[i] for i in inside], [truth[i][0] for i in inside], names)
        for i, p in enumerate(pools):
            if fold_of[p.query.id] == k and measured[i]:
                utility = [sum(w[n] * f.get(n, 0.0) for n in names) for f in feats[i]]
                hits[set_name(p)] += int(np.argmax(utility)) in truth[i]
    return hits


def set_name(p: QueryPool) -> str:
    return f"{p.configuration}, {'in' if p.in_library else 'not in'} library"


def main(path: str) -> None:
    with open(path, "rb") as handle:
        pools = pickle.load(handle)
    measured = measured_pools(pools, load_model().similarity)
    card = read_fusion_card()
    weights = card["weights"] if card else {"ssr": 1.0}
    sse = sse_scores(pools, measured)
    margins = []
    for p in pools:
        scores = sorted(
            (fused(pr.evidence, weights) for g in p.groups if g.source == "library"
             for pr in g.proposals),
            reverse=True,
        )  # fmt: skip
        margins.append(scores[0] - scores[1] if len(scores) > 1 else 0.0)

    def library_top(c: Scored) -> bool:
        return c.proposal.evidence.get("library_rank") == 1

    def score(c: Scored) -> float | None:
        return fused(c.proposal.evidence, weights)

    variants: dict[str, tuple[list[str], Extra]] = {
        "shipped": ([], lambda i, c: {}),
        "sse_all": (
            ["sse_all"],
            lambda i, c: {"sse_all": sse[i].get(c.proposal.inchikey, 0.5) - 0.5},
        ),
        "fused_top": (
            ["fused_top"],
            lambda i, c: {"fused_top": score(c) - 0.5} if library_top(c) else {},
        ),
        "fused_all": (
            ["fused_all"],
            lambda i, c: {"fused_all": score(c) - 0.5} if score(c) is not None else {},
        ),
        "fused_margin": (
            ["fused_top", "fused_margin"],
            lambda i, c: (
                {"fused_top": score(c) - 0.5, "fused_margin": margins[i]} if library_top(c) else {}
            ),
        ),
    }
    retrieve = Counter(set_name(p) for p in pools if p.retrieve_top == p.truth)
    for name, (extra_names, extra) in variants.items():
        hits = out_of_fold_hits(pools, measured, [*FUSION_FEATURES, *extra_names], extra)
        print(name, dict(sorted(hits.items())), "total", sum(hits.values()), flush=True)
    print("retrieve", dict(sorted(retrieve.items())), "total", sum(retrieve.values()))


if __name__ == "__main__":
    main(sys.argv[1])
