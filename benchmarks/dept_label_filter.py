"""How often a DEPT label filter would rule out the TRUE structure (validation only).

Each query of a split with 13C peaks and a ``smiles`` gets DEPT-like attached-H labels from
its own record (:func:`nmrpeak_cli.retrieve.bench.dept_labels`), merged as the generator reads
it (:func:`~nmrpeak_cli.generate.inputs.canonical_input`). For each counting rule, the share
of labelled queries whose true structure fails "labelled peaks per C/CH/CH2/CH3 ≤ the
structure's capacity" is reported. Rules: ``class`` every symmetry class once; ``shipped``
:func:`nmrpeak_cli.generate.labels.labels_fit` (aromatic classes once, other carbons each);
``carbon`` one peak per carbon.

    python benchmarks/dept_label_filter.py random_valid
"""

from __future__ import annotations

import sys
from collections import Counter


def main() -> None:
    from rdkit import Chem

    from nmrpeak_cli.generate.inputs import canonical_input
    from nmrpeak_cli.generate.labels import labels_fit, query_label_counts
    from nmrpeak_cli.io import read_spectra
    from nmrpeak_cli.retrieve.bench import dept_labels

    split = sys.argv[1] if len(sys.argv) > 1 else "random_valid"
    if "test" in split:
        raise SystemExit("validation splits only: the filter's rule is chosen here")
    queries = [
        q
        for b in read_spectra(f"data/queries/{split}.parquet")
        for q in b
        if getattr(q, "c13", None) and q.smiles
    ]
    labelled, _ = dept_labels(queries, "data/experimental.parquet")

    def capacity(mol: Chem.Mol, per_class: bool) -> Counter[int]:
        ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
        seen, out = set(), Counter()
        for atom in mol.GetAtoms():
            if atom.GetAtomicNum() == 6:
                key = (atom.GetTotalNumHs(includeNeighbors=True), ranks[atom.GetIdx()])
                if per_class and key in seen:
                    continue
                seen.add(key)
                out[key[0]] += 1
        return out

    total, failed = 0, Counter()
    for query in labelled:
        wanted = query_label_counts(canonical_input(query))
        if not wanted:
            continue
        total += 1
        mol = Chem.MolFromSmiles(query.smiles)
        for rule, cap in (("class", capacity(mol, True)), ("carbon", capacity(mol, False))):
            failed[rule] += any(cap[k] < n for k, n in wanted.items())
        failed["shipped"] += not labels_fit(mol, wanted)
    print(f"{split}: {total} labelled queries")
    for rule in ("class", "shipped", "carbon"):
        print(f"{rule}: truth ruled out for {failed[rule]} ({100 * failed[rule] / total:.2f} %)")


if __name__ == "__main__":
    main()
