"""Why does the generator miss? Sort VALIDATION queries by what its beam returned.

Each C+H+formula query of a validation table is decoded as `nmrpeak generate` does
(grammar- and formula-constrained beam, in-beam filter) and put in one class:

- ``hit``: the true molecule is among the candidates;
- ``none``: no hypothesis of the formula survived (nothing to rerank);
- ``miss``: candidates of the formula, none the truth; of those, how many share the truth's
  generic Murcko scaffold (same ring framework, any atoms and substituents) and the best
  Morgan (radius 2) Tanimoto similarity to the truth.

The test split is never read.

    python benchmarks/generate_misses.py data/queries/random_valid.parquet \
        models/generator_random.safetensors [N_QUERIES] [BEAM]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator
from rdkit.Chem.Scaffolds import MurckoScaffold

from nmrpeak_cli.generate.bench import decode_queries
from nmrpeak_cli.generate.inputs import CONFIGURATIONS
from nmrpeak_cli.generate.model import load_generator
from nmrpeak_cli.io import read_spectra
from nmrpeak_cli.spectra import Spectrum

MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)


def generic_scaffold(mol: Chem.Mol) -> str:
    """Canonical SMILES of the generic Murcko framework (all atoms C, all bonds single)."""
    return Chem.MolToSmiles(
        MurckoScaffold.MakeScaffoldGeneric(MurckoScaffold.GetScaffoldForMol(mol))
    )


def classify(queries: Path, weights: Path, limit: int, beam: int) -> dict[str, int]:
    """Counts of each class (see the module docstring) over the first ``limit`` queries."""
    import torch

    torch.set_num_threads(1)
    generator = load_generator(weights, device="cpu")
    spectra = [s for b in read_spectra(queries) for s in b if isinstance(s, Spectrum) and s.smiles]
    truth_smiles = {}
    for spectrum in spectra:
        mol = Chem.MolFromSmiles(spectrum.smiles)
        if mol is not None:
            truth_smiles[Chem.MolToInchiKey(mol)] = mol
    decoded = decode_queries(
        generator, spectra, CONFIGURATIONS["C+H+formula"], beam=beam, limit=limit
    )
    counts: Counter[str] = Counter()
    for d in decoded:
        if any(c.inchikey == d.truth.inchikey for c in d.candidates):
            counts["hit"] += 1
            continue
        if not d.candidates:
            counts["none"] += 1
            continue
        counts["miss"] += 1
        truth = truth_smiles[d.truth.inchikey]
        mols = [Chem.MolFromSmiles(c.smiles) for c in d.candidates]
        best = max(
            DataStructs.TanimotoSimilarity(MORGAN.GetFingerprint(truth), MORGAN.GetFingerprint(m))
            for m in mols
        )
        counts["miss, best Tanimoto >= 0.5"] += best >= 0.5
        counts["miss, best Tanimoto >= 0.7"] += best >= 0.7
        scaffold = generic_scaffold(truth)
        counts["miss, same generic scaffold"] += any(generic_scaffold(m) == scaffold for m in mols)
    return {"queries": len(decoded), "beam": beam, **counts}


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    limit = int(args[2]) if len(args) > 2 else 100
    beam = int(args[3]) if len(args) > 3 else 20
    print(json.dumps(classify(Path(args[0]), Path(args[1]), limit, beam), indent=2))
