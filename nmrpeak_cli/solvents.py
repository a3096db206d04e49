"""NMR solvent names: normalization to one canonical spelling per deuterated solvent."""

from __future__ import annotations

import re
from functools import lru_cache

#: Canonical names, in the order models use them as categories. ``other`` covers the rest.
CANONICAL_SOLVENTS: tuple[str, ...] = (
    "CDCl3",
    "DMSO-d6",
    "CD3OD",
    "D2O",
    "acetone-d6",
    "C6D6",
    "CD3CN",
    "CD2Cl2",
    "pyridine-d5",
    "THF-d8",
    "toluene-d8",
    "CCl4",
    "other",
)

_ALIASES: dict[str, str] = {
    "cdcl3": "CDCl3",
    "chloroform": "CDCl3",
    "chloroformd": "CDCl3",
    "chloroformd1": "CDCl3",
    "deuterochloroform": "CDCl3",
    "dmso": "DMSO-d6",
    "dmsod6": "DMSO-d6",
    "d6dmso": "DMSO-d6",
    "cd32so": "DMSO-d6",
    "cd3socd3": "DMSO-d6",
    "dimethylsulphoxide": "DMSO-d6",
    "dimethylsulfoxide": "DMSO-d6",
    "dimethylsulphoxided6": "DMSO-d6",
    "dimethylsulfoxided6": "DMSO-d6",
    "cd3od": "CD3OD",
    "meod": "CD3OD",
    "methanold4": "CD3OD",
    "methanol": "CD3OD",
    "methanold": "CD3OD",
    "cd3oh": "CD3OD",
    "d4methanol": "CD3OD",
    "d2o": "D2O",
    "deuteriumoxide": "D2O",
    "water": "D2O",
    "h2o": "D2O",
    "acetoned6": "acetone-d6",
    "acetone": "acetone-d6",
    "cd32co": "acetone-d6",
    "d6acetone": "acetone-d6",
    "c6d6": "C6D6",
    "benzened6": "C6D6",
    "benzene": "C6D6",
    "d6benzene": "C6D6",
    "cd3cn": "CD3CN",
    "acetonitriled3": "CD3CN",
    "acetonitrile": "CD3CN",
    "cd2cl2": "CD2Cl2",
    "dichloromethaned2": "CD2Cl2",
    "dichloromethane": "CD2Cl2",
    "methylenechloride": "CD2Cl2",
    "pyridined5": "pyridine-d5",
    "pyridine": "pyridine-d5",
    "c5d5n": "pyridine-d5",
    "d5pyridine": "pyridine-d5",
    "thfd8": "THF-d8",
    "thf": "THF-d8",
    "tetrahydrofuran": "THF-d8",
    "tetrahydrofurand8": "THF-d8",
    "toluened8": "toluene-d8",
    "toluene": "toluene-d8",
    "c7d8": "toluene-d8",
    "ccl4": "CCl4",
    "carbontetrachloride": "CCl4",
    "tetrachloromethane": "CCl4",
}


@lru_cache(maxsize=1024)
def normalize_solvent(name: str | None) -> str | None:
    """Return the canonical spelling of a solvent name, ``"other"`` if unknown, ``None`` if empty.

    Case, spaces, hyphens, brackets and subscripts are ignored: ``"DMSO-d6"``, ``"dmso d6"``,
    ``"(CD3)2SO"`` and ``"Dimethylsulphoxide-D6 (DMSO-D6, C2D6SO)"`` all give ``"DMSO-d6"``.
    """
    if name is None:
        return None
    text = str(name).strip()
    if not text or text.lower() in {"unknown", "unreported", "none", "nan", "null", "n/a"}:
        return None
    if text in CANONICAL_SOLVENTS:
        return text
    # NMRShiftDB2 style: "Chloroform-D1 (CDCl3)"; try the whole string, then each bracketed part.
    candidates = [text, *re.findall(r"\(([^()]*)\)", text), re.sub(r"\(.*?\)", "", text)]
    for candidate in candidates:
        for part in re.split(r"[,;/]", candidate):
            key = re.sub(r"[^a-z0-9]", "", part.lower().translate(_SUBSCRIPTS))
            if key in _ALIASES:
                return _ALIASES[key]
    return "other"


_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
