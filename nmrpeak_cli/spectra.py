"""The data model: :class:`Peak`, :class:`PeakList` (one nucleus) and :class:`Spectrum`.

Values are frozen dataclasses that coerce, validate and sort once, when built. Shifts are in
ppm, couplings in Hz. Peak lists are sorted by decreasing shift, as journals print them.
Invalid values raise :class:`~nmrpeak_cli.errors.SpectrumError` naming the field, the value
received and what was expected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache

import numpy as np

from nmrpeak_cli.errors import SpectrumError
from nmrpeak_cli.solvents import normalize_solvent


class Nucleus(StrEnum):
    """An observed nucleus. The value is the conventional label and the column name prefix."""

    C13 = "13C"
    H1 = "1H"

    @property
    def column(self) -> str:
        """Column name of this nucleus in tables (``c13`` or ``h1``)."""
        return "c13" if self is Nucleus.C13 else "h1"

    @property
    def shift_range(self) -> tuple[float, float]:
        """Plausible shift range in ppm; values outside are rejected as input errors."""
        return (-60.0, 320.0) if self is Nucleus.C13 else (-12.0, 25.0)

    @classmethod
    def parse(cls, value: str | Nucleus) -> Nucleus:
        """Accept ``"13C"``, ``"C13"``, ``"c13"``, ``"1H"``, ``"H1"``, ``"h1"`` (any case)."""
        if isinstance(value, Nucleus):
            return value
        key = str(value).strip().upper().replace("-", "")
        if key in {"13C", "C13", "C"}:
            return cls.C13
        if key in {"1H", "H1", "H"}:
            return cls.H1
        raise SpectrumError(f"unknown nucleus {value!r}; expected one of '13C', '1H'", "nucleus")


# --------------------------------------------------------------------------------------------
# Multiplicity codes
# --------------------------------------------------------------------------------------------

#: Simple multiplet letters (MestReNova convention): p = quintet, h = sextet, hept = septet.
_SIMPLE_WORDS: dict[str, str] = {
    "singlet": "s",
    "doublet": "d",
    "triplet": "t",
    "quartet": "q",
    "quintet": "p",
    "quint": "p",
    "pentet": "p",
    "pent": "p",
    "sextet": "h",
    "sext": "h",
    "sx": "h",
    "septet": "hept",
    "sept": "hept",
    "heptet": "hept",
    "hept": "hept",
    "multiplet": "m",
    "mult": "m",
    "m": "m",
    "s": "s",
    "bs": "br s",
    "brs": "br s",
    "bd": "br d",
    "brd": "br d",
    "bt": "br t",
    "brt": "br t",
    "abq": "ABq",
    "ab": "ABq",
    "abx": "m",
    "ax": "m",
}
_COMPOUND = re.compile(r"^(?:d|t|q|p|h|hept)+$")


@lru_cache(maxsize=4096)
def normalize_multiplicity(text: str | None) -> str | None:
    """Normalize a 1H multiplicity to a short code, ``None`` for empty input.

    Accepted forms: ``s d t q p h hept m`` and their combinations (``dd``, ``dt``, ``td``,
    ``ddd``...), full words (``doublet``, ``septet``), ``br``/``br.``/``broad`` prefixes
    (``br s``, ``brs``, ``bs``), apparent/pseudo prefixes (``app t``, ``pt`` → ``t``), AB
    quartets (``ABq``). Anything else raises :class:`SpectrumError` listing the accepted forms.
    """
    if text is None:
        return None
    raw = str(text).strip()
    if not raw:
        return None
    key = raw.lower().replace(".", " ").replace("-", " ")
    key = re.sub(r"\s+", " ", key).strip()
    broad = False
    for prefix in ("broad ", "br ", "b "):
        if key.startswith(prefix):
            broad, key = True, key[len(prefix) :].strip()
    for prefix in ("apparent ", "app ", "pseudo ", "ps "):
        if key.startswith(prefix):
            key = key[len(prefix) :].strip()
    if key == "br" or key == "broad":
        key, broad = "s", True
    compact = key.replace(" ", "")
    if compact.startswith("p") and len(compact) > 1 and _COMPOUND.match(compact[1:]) is not None:
        compact = compact[1:]  # "pt" = pseudo-triplet
    code = _SIMPLE_WORDS.get(compact) or _SIMPLE_WORDS.get(key)
    if code is None and _COMPOUND.match(compact):
        code = compact
    if code is None:
        raise SpectrumError(
            f"unknown multiplicity {raw!r}; expected s, d, t, q, p, h, hept, m, a combination "
            "such as dd/dt/td/ddd, optionally prefixed by 'br'",
            "multiplicity",
        )
    if broad and not code.startswith("br "):
        code = f"br {code}"
    return code


def multiplicity_lines(code: str | None) -> int | None:
    """Number of lines a first-order multiplicity code implies (``dd`` → 4), ``None`` if unknown."""
    if code is None:
        return None
    base = code.removeprefix("br ")
    if base in {"m", "ABq"}:
        return None
    if base == "s":
        return 1
    per = {"d": 2, "t": 3, "q": 4, "p": 5, "h": 6, "hept": 7}
    lines, rest = 1, base
    while rest:
        token = "hept" if rest.startswith("hept") else rest[0]
        lines *= per[token]
        rest = rest[len(token) :]
    return lines


# --------------------------------------------------------------------------------------------
# Value types
# --------------------------------------------------------------------------------------------


def _finite(value: object, name: str) -> float:
    if type(value) is float and math.isfinite(value):
        return value
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SpectrumError(f"expected a number, got {value!r}", name) from None
    if not math.isfinite(number):
        raise SpectrumError(f"expected a finite number, got {value!r}", name)
    return number


def _optional_finite(value: object, name: str) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return _finite(value, name)


@dataclass(frozen=True, slots=True)
class Peak:
    """One signal of a 1D spectrum.

    Attributes
    ----------
    shift
        Chemical shift of the signal centre, ppm.
    shift_lo, shift_hi
        Bounds of a reported range (``2.10–1.95 (m, 2H)``), ppm; ``None`` for a single value.
    integration
        1H: number of protons; 13C: number of equivalent carbons. ``None`` when not reported.
    multiplicity
        Normalized 1H multiplicity code (see :func:`normalize_multiplicity`), or ``None``.
    j_hz
        Coupling constants in Hz, largest first.
    atoms
        Indices of the atoms that give this signal (in the molecule it was predicted for, or
        grouping labels from the source), empty when unknown.
    n_h
        13C only: number of attached hydrogens (0–3, from DEPT or S/D/T/Q labels), or ``None``.
    """

    shift: float
    shift_lo: float | None = None
    shift_hi: float | None = None
    integration: float | None = None
    multiplicity: str | None = None
    j_hz: tuple[float, ...] = ()
    atoms: tuple[int, ...] = ()
    n_h: int | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "shift", _finite(self.shift, "shift"))
        lo = _optional_finite(self.shift_lo, "shift_lo")
        hi = _optional_finite(self.shift_hi, "shift_hi")
        if lo is None or hi is None:
            lo = hi = None
        elif lo > hi:
            lo, hi = hi, lo
        set_(self, "shift_lo", lo)
        set_(self, "shift_hi", hi)
        integration = _optional_finite(self.integration, "integration")
        if integration is not None and integration < 0:
            raise SpectrumError(f"expected a non-negative number, got {integration}", "integration")
        set_(self, "integration", integration)
        set_(self, "multiplicity", normalize_multiplicity(self.multiplicity))
        if self.j_hz:
            j_values = tuple(_finite(j, "j_hz") for j in self.j_hz)
            if any(j < 0 or j > 500 for j in j_values):
                raise SpectrumError(
                    f"coupling constants must lie in [0, 500] Hz, got {j_values}", "j_hz"
                )
            set_(self, "j_hz", tuple(sorted(j_values, reverse=True)))
        else:
            set_(self, "j_hz", ())
        set_(self, "atoms", tuple(int(a) for a in self.atoms) if self.atoms else ())
        if self.n_h is not None:
            n_h = int(self.n_h)
            if not 0 <= n_h <= 4:
                raise SpectrumError(f"attached-H count must be 0–4, got {self.n_h!r}", "n_h")
            set_(self, "n_h", n_h)

    @property
    def count(self) -> float:
        """Integration when reported, otherwise 1 (one signal)."""
        return 1.0 if self.integration is None else self.integration


@dataclass(frozen=True, slots=True)
class PeakList:
    """The peaks of one nucleus, validated and sorted by decreasing shift.

    Attributes
    ----------
    nucleus
        Observed nucleus.
    peaks
        Peaks, highest shift first. Peaks may be given as :class:`Peak`, numbers or dicts.
    """

    nucleus: Nucleus
    peaks: tuple[Peak, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        nucleus = Nucleus.parse(self.nucleus)
        object.__setattr__(self, "nucleus", nucleus)
        peaks = tuple(_coerce_peak(p, nucleus) for p in self.peaks)
        low, high = nucleus.shift_range
        for i, peak in enumerate(peaks):
            if not low <= peak.shift <= high:
                raise SpectrumError(
                    f"peak {i + 1}: shift {peak.shift:g} ppm is outside the plausible {nucleus.value} "
                    f"range [{low:g}, {high:g}] ppm",
                    nucleus.column,
                )
        object.__setattr__(self, "peaks", tuple(sorted(peaks, key=lambda p: -p.shift)))

    @classmethod
    def from_shifts(
        cls,
        nucleus: Nucleus | str,
        shifts: Iterable[float],
        integrations: Iterable[float] | None = None,
    ) -> PeakList:
        """Build a list from bare shifts (and optional integrations)."""
        shifts = list(shifts)
        values = list(integrations) if integrations is not None else [None] * len(shifts)
        if len(values) != len(shifts):
            raise SpectrumError(
                f"{len(shifts)} shifts but {len(values)} integrations",
                Nucleus.parse(nucleus).column,
            )
        return cls(
            Nucleus.parse(nucleus),
            tuple(Peak(s, integration=n) for s, n in zip(shifts, values, strict=True)),
        )

    def __len__(self) -> int:
        return len(self.peaks)

    def __iter__(self):
        return iter(self.peaks)

    def __getitem__(self, index: int) -> Peak:
        return self.peaks[index]

    @property
    def shifts(self) -> np.ndarray:
        """Peak centres in ppm, highest first (read-only float64 array)."""
        return _readonly(np.fromiter((p.shift for p in self.peaks), float, len(self.peaks)))

    @property
    def counts(self) -> np.ndarray:
        """Integration per peak, 1 where not reported (read-only float64 array)."""
        return _readonly(np.fromiter((p.count for p in self.peaks), float, len(self.peaks)))

    @property
    def total_count(self) -> float:
        """Sum of :attr:`counts`: number of nuclei the list accounts for."""
        return float(sum(p.count for p in self.peaks))

    def expanded_shifts(self) -> np.ndarray:
        """One shift per nucleus: each peak repeated by its rounded integration (at least once)."""
        reps = [max(1, round(p.count)) for p in self.peaks]
        return _readonly(np.repeat(self.shifts, reps))


#: 13C multiplicity letters (off-resonance / DEPT convention) → number of attached hydrogens.
C13_MULTIPLICITY_N_H: dict[str, int] = {"s": 0, "d": 1, "t": 2, "q": 3}


def _coerce_peak(value: Peak | float | dict, nucleus: Nucleus) -> Peak:
    if isinstance(value, Peak):
        return value
    if isinstance(value, dict):
        known = {k: v for k, v in value.items() if k in Peak.__dataclass_fields__ and v is not None}
        if "shift" not in known:
            raise SpectrumError(f"peak {value!r} has no 'shift'", nucleus.column)
        if nucleus is Nucleus.C13 and not known.get("j_hz"):
            # 13C struct multiplicity s/d/t/q is the attached-H count (DEPT, off-resonance)
            label = str(known.get("multiplicity", "")).strip().lower()
            if label in C13_MULTIPLICITY_N_H:
                known.pop("multiplicity")
                known.setdefault("n_h", C13_MULTIPLICITY_N_H[label])
        return Peak(**known)
    if isinstance(value, (int, float, np.floating, np.integer, str)):
        return Peak(value)  # type: ignore[arg-type]
    raise SpectrumError(f"cannot make a peak from {value!r}", nucleus.column)


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


_FORMULA = re.compile(r"^(?P<body>(?:[A-Z][a-z]?\d*)+)(?P<charge>(?:[+-]\d*)+)?$")
_CHARGE = re.compile(r"([+-])(\d*)")


@lru_cache(maxsize=4096)
def normalize_formula(formula: str | None) -> str | None:
    """Return a Hill-ordered molecular formula (``C9H10O2``), ``None`` if empty.

    Accepts spaces, subscripts and any element order. A net charge follows the elements as
    RDKit and NMRShiftDB2 write it (``C9H12N+``, ``C10H7O4S-``, ``C10H15N2O7-3``; ``++`` and
    ``+2`` alike) and is kept in that form, so a query formula compares equal to
    :func:`~nmrpeak_cli.chem.formula` of the ion. Raises :class:`SpectrumError` for text that
    is not a formula or contains unknown elements.
    """
    if formula is None:
        return None
    text = str(formula).strip().translate(str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789"))
    text = re.sub(r"\s+", "", text)
    if not text or text.lower() in {"nan", "none", "null"}:
        return None
    match = _FORMULA.match(text)
    if not match:
        raise SpectrumError(f"{formula!r} is not a molecular formula like 'C9H10O2'", "formula")
    counts = parse_formula(match["body"])
    charge = formula_charge(text)
    suffix = (
        ""
        if charge == 0
        else ("+" if charge > 0 else "-") + (str(abs(charge)) if abs(charge) > 1 else "")
    )
    return hill_formula(counts) + suffix


def formula_charge(formula: str) -> int:
    """Net charge written after a formula's elements (``"C9H12N+"`` → 1, ``"C2H3O2-"`` → -1,
    ``"C10H15N2O7-3"`` → -3); 0 when none is written."""
    match = _FORMULA.match(re.sub(r"\s+", "", str(formula)))
    if not match or not match["charge"]:
        return 0
    return sum(
        (1 if sign == "+" else -1) * (int(number) if number else 1)
        for sign, number in _CHARGE.findall(match["charge"])
    )


_ELEMENTS = frozenset(
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se "
    "Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb "
    "Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu D".split()
)


def parse_formula(formula: str) -> dict[str, int]:
    """Element counts of a formula string (``"C9H10O2"`` → ``{"C": 9, "H": 10, "O": 2}``);
    a written net charge (``C9H12N+``) is not an element and is left out (see
    :func:`formula_charge`)."""
    counts: dict[str, int] = {}
    body = re.sub(r"(?:[+-]\d*)+$", "", re.sub(r"\s+", "", formula))
    for symbol, number in re.findall(r"([A-Z][a-z]?)(\d*)", body):
        if symbol not in _ELEMENTS:
            raise SpectrumError(f"unknown element {symbol!r} in {formula!r}", "formula")
        counts[symbol] = counts.get(symbol, 0) + (int(number) if number else 1)
    return {k: v for k, v in counts.items() if v > 0}


def hill_formula(counts: dict[str, int]) -> str:
    """Hill-system formula string from element counts (C, H first, then alphabetical)."""
    order = sorted(counts, key=lambda s: (0 if s == "C" else 1 if s == "H" else 2, s))
    if "C" not in counts:
        order = sorted(counts)
    return "".join(f"{s}{counts[s] if counts[s] != 1 else ''}" for s in order if counts[s] > 0)


@dataclass(frozen=True, slots=True)
class Spectrum:
    """One sample: its 13C and/or 1H peak lists and conditions.

    Attributes
    ----------
    id
        Record identifier (unique within a file).
    c13, h1
        Peak lists per nucleus; ``None`` when that nucleus was not measured.
    formula
        Molecular formula, Hill order, or ``None``.
    solvent
        Normalized solvent name (see :func:`~nmrpeak_cli.solvents.normalize_solvent`).
    field_mhz
        1H spectrometer frequency in MHz, or ``None``.
    smiles
        True structure, for benchmarks only; models never read it.
    """

    id: str
    c13: PeakList | None = None
    h1: PeakList | None = None
    formula: str | None = None
    solvent: str | None = None
    field_mhz: float | None = None
    smiles: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.id is None or str(self.id).strip() == "":
            raise SpectrumError("every spectrum needs a non-empty id", "id")
        set_(self, "id", str(self.id))
        set_(self, "c13", _coerce_list(self.c13, Nucleus.C13))
        set_(self, "h1", _coerce_list(self.h1, Nucleus.H1))
        set_(self, "formula", normalize_formula(self.formula))
        set_(self, "solvent", normalize_solvent(self.solvent))
        field_mhz = _optional_finite(self.field_mhz, "field_mhz")
        if field_mhz is not None and not 10 <= field_mhz <= 2000:
            raise SpectrumError(f"expected 10–2000 MHz, got {field_mhz:g}", "field_mhz")
        set_(self, "field_mhz", field_mhz)
        smiles = None if self.smiles is None else str(self.smiles).strip() or None
        set_(self, "smiles", smiles)

    def peaks(self, nucleus: Nucleus | str) -> PeakList | None:
        """Peak list of ``nucleus`` (``"13C"``/``"1H"``)."""
        return self.c13 if Nucleus.parse(nucleus) is Nucleus.C13 else self.h1

    @property
    def nuclei(self) -> tuple[Nucleus, ...]:
        """Nuclei with at least one peak."""
        return tuple(n for n, pl in ((Nucleus.C13, self.c13), (Nucleus.H1, self.h1)) if pl)

    def without_truth(self) -> Spectrum:
        """Copy with ``smiles`` removed (what inference code receives)."""
        return replace(self, smiles=None)


def _coerce_list(value: PeakList | Sequence | None, nucleus: Nucleus) -> PeakList | None:
    if value is None:
        return None
    if isinstance(value, PeakList):
        if value.nucleus is not nucleus:
            raise SpectrumError(f"got a {value.nucleus.value} peak list", nucleus.column)
        return value
    return PeakList(nucleus, tuple(value))
