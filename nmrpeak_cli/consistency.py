"""Consistency checks of a query: does its formula agree with its peaks?

Used by retrieval, generation and elucidation alike, before any model runs. A query whose
formula contradicts its peaks gets an *error* (the record fails, exit code 1): an impossible
formula (odd electron count, more hydrogens than the atoms can bind, elements outside what
the models know), more distinct 13C signals than the formula has carbons, 1H integrals
summing above the formula's hydrogens. A problem that coupling could explain is a *warning*
instead: literature 13C lists of fluorinated or phosphorus compounds often print every line
of a C–F or C–P doublet or quartet (J of tens to hundreds of Hz), so lines spaced like such
a multiplet may account for the excess signals.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from nmrpeak_cli.spectra import PeakList, Spectrum, parse_formula

_VALENCE = {"C": 4, "Si": 4, "N": 3, "P": 3, "B": 3, "O": 2, "S": 2, "Se": 2}
_MONOVALENT = {"H", "D", "F", "Cl", "Br", "I"}

C13_FREQUENCY_MHZ = 100.0
"""13C frequency assumed when the query gives no field (a 400 MHz spectrometer)."""
COUPLING_HZ = (5.0, 400.0)
"""Spacing of adjacent lines, in Hz, that a C–F or C–P coupling can produce (²J ≈ 20 Hz up
to ¹J ≈ 250–350 Hz)."""
H1_TOLERANCE = 0.5
"""1H integrals may exceed the formula's hydrogens by this much (rounding) before it is an error."""


@dataclass(frozen=True, slots=True)
class QueryCheck:
    """Outcome of :func:`check_consistency`.

    Attributes
    ----------
    errors
        Contradictions: the record cannot be answered.
    warnings
        Problems that make the answer less reliable.
    """

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def formula_problem(formula: str) -> str | None:
    """Why a (Hill) formula cannot be a neutral closed-shell molecule, ``None`` if it can."""
    counts = parse_formula(formula)
    unknown = [e for e in counts if e not in _VALENCE and e not in _MONOVALENT]
    if unknown:
        return f"formula {formula}: elements {unknown} are outside what the models know"
    heavy = sum(n for e, n in counts.items() if e not in _MONOVALENT)
    if heavy == 0:
        return f"formula {formula} has no carbon or other backbone atom"
    # Degree of unsaturation: (2 + sum n_i (v_i - 2)) / 2 must be a non-negative integer.
    doubled = 2 + sum(n * (_VALENCE.get(e, 1) - 2) for e, n in counts.items())
    if doubled < 0:
        return f"formula {formula} has more hydrogens/halogens than its atoms can bind"
    if doubled % 2:
        return f"formula {formula} has an odd electron count (a radical or a typo)"
    return None


def coupling_lines(c13: PeakList, field_mhz: float | None = None) -> int:
    """How many 13C lines could be extra lines of C–F/C–P multiplets.

    Each adjacent pair of lines (sorted by shift) whose spacing, in Hz at the 13C frequency,
    lies in :data:`COUPLING_HZ` may be two lines of one multiplet; every such pair accounts
    for one excess line. ``field_mhz`` is the spectrometer's 1H frequency (13C runs at about
    a quarter of it); default :data:`C13_FREQUENCY_MHZ` for 13C.
    """
    frequency = field_mhz / 3.977 if field_mhz else C13_FREQUENCY_MHZ
    gaps_hz = np.abs(np.diff(np.sort(c13.shifts))) * frequency
    low, high = COUPLING_HZ
    return int(((gaps_hz >= low) & (gaps_hz <= high)).sum())


def check_consistency(spectrum: Spectrum) -> QueryCheck:
    """Errors and warnings of one query: its peaks against its formula (see the module docstring)."""
    errors: list[str] = []
    warnings: list[str] = []
    if not spectrum.nuclei:
        errors.append("no 13C or 1H peaks; expected at least one peak list (c13 or h1)")
    if not spectrum.formula:
        return QueryCheck(tuple(errors), tuple(warnings))
    problem = formula_problem(spectrum.formula)
    if problem:
        return QueryCheck((*errors, problem), tuple(warnings))
    counts = parse_formula(spectrum.formula)
    n_c, n_h = counts.get("C", 0), counts.get("H", 0) + counts.get("D", 0)
    if spectrum.c13 and len(spectrum.c13) > n_c:
        excess = len(spectrum.c13) - n_c
        message = (
            f"{len(spectrum.c13)} distinct 13C signals but the formula {spectrum.formula} "
            f"has {n_c} carbons"
        )
        coupled = {"F", "P"} & set(counts)
        if coupled and coupling_lines(spectrum.c13, spectrum.field_mhz) >= excess:
            element = "/".join(sorted(coupled))
            warnings.append(
                f"{message}; lines spaced like C–{element} couplings may be counted as "
                "separate signals (give one shift per multiplet)"
            )
        else:
            errors.append(message)
    if spectrum.h1 and spectrum.h1.total_count > n_h + H1_TOLERANCE:
        errors.append(
            f"1H integrals sum to {spectrum.h1.total_count:g} but the formula "
            f"{spectrum.formula} has {n_h} hydrogens"
        )
    return QueryCheck(tuple(errors), tuple(warnings))


def attached_h_problem(spectrum: Spectrum) -> str | None:
    """Why the query's 13C attached-H labels (DEPT, ``128.3 (CH)``) contradict its formula,
    ``None`` when they do not (or there is no formula or no label).

    A labelled peak counts its integration (equivalent carbons; 1 when not reported). The
    labels contradict the formula when the labelled carbons outnumber its carbons, when
    their methyls alone need more hydrogens than it has, or when their attached hydrogens
    sum above its hydrogens (H + D).
    """
    if not spectrum.formula or not spectrum.c13:
        return None
    labelled = [p for p in spectrum.c13 if p.n_h is not None]
    if not labelled or formula_problem(spectrum.formula):
        return None
    counts = parse_formula(spectrum.formula)
    n_c, n_h = counts.get("C", 0), counts.get("H", 0) + counts.get("D", 0)
    carbons = sum(p.count for p in labelled)
    methyls = sum(p.count for p in labelled if p.n_h == 3)
    hydrogens = sum(p.count * p.n_h for p in labelled)
    if carbons > n_c:
        reason = f"{carbons:g} labelled carbons but the formula has {n_c}"
    elif 3 * methyls > n_h:
        reason = f"{methyls:g} CH3 need {3 * methyls:g} hydrogens but the formula has {n_h}"
    elif hydrogens > n_h:
        reason = f"the labelled carbons carry {hydrogens:g} hydrogens but the formula has {n_h}"
    else:
        return None
    return f"attached-H labels contradict the formula {spectrum.formula}: {reason}"


def without_attached_h(spectrum: Spectrum) -> Spectrum:
    """The query with its 13C attached-H labels removed (for labels that contradict its
    formula, :func:`attached_h_problem`)."""
    if not spectrum.c13 or all(p.n_h is None for p in spectrum.c13):
        return spectrum
    c13 = PeakList(spectrum.c13.nucleus, tuple(replace(p, n_h=None) for p in spectrum.c13))
    return replace(spectrum, c13=c13)


__all__ = [
    "QueryCheck",
    "attached_h_problem",
    "check_consistency",
    "coupling_lines",
    "formula_problem",
    "without_attached_h",
]
