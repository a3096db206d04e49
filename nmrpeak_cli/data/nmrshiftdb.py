"""NMRShiftDB2 records → one clean experimental record per molecule.

The source (``nmrshiftdb2_molecules.parquet`` + ``nmrshiftdb2_spectra.parquet``, see their
PROVENANCE.md) lists one entry per assigned atom; atom indices refer to an SD molblock we do
not have, so they are used only to group entries (same index = same atom) and to carry the
attached-H count of a carbon from 13C to 1H.

Rules (first failing check names the drop reason, see :data:`DROP_REASONS`):

* **Molecule**: parseable SMILES; one fragment (salts and mixtures are dropped, not
  stripped: their spectra list the counter-ion's atoms too); only the elements of
  :data:`ORGANIC_ELEMENTS`; no radicals, isotope labels or net charge; at most
  :data:`MAX_HEAVY_ATOMS` heavy atoms; RDKit's InChIKey equal to the stored one (a mismatch
  means the SMILES is not the structure that was assigned: tautomer, charge, metal complex).
* **13C spectrum**: one entry per carbon; a repeated atom index keeps its first entry;
  S/D/T/Q (any case) give the attached-H count, anything else ``None``; rejected when it lists
  more carbons than the molecule has or a shift outside :data:`C13_RANGE`. Some records list
  symmetry-equivalent carbons once (one entry per class, not per atom): when the entries
  match the molecule's carbon symmetry classes one for one by attached-H count, and all
  classes with the same H count have the same size, each entry is repeated by its class size
  (see :func:`class_sizes`).
* **1H spectrum**: one entry per proton. Entries are grouped by atom index. An index at or
  above the heavy-atom count points at an explicit H atom: one proton (a repeated H index keeps
  its first entry). A lower index points at the heavy atom carrying the protons; NMRShiftDB2
  then lists either one entry per proton (a CH3 three times) or one entry per group (a CH3
  once). When a 13C spectrum of the same record gives that carbon's H count ``n`` and the index
  has ``k < n`` entries, the ``n`` protons are spread over the ``k`` shifts in turn (one entry
  for a CH3 becomes three protons at that shift); otherwise each entry is one proton. The same
  symmetry rule as for 13C then applies to the carbon indices (13C H count known): when they
  match the H-bearing carbon classes one for one, each carbon's protons are repeated by its
  class size (a para-phenylene listed as two CH gives 2H + 2H). Rejected when the protons
  outnumber the molecule's hydrogens or a shift is outside :data:`H1_RANGE`.
* **Choice**: per nucleus, among the valid spectra of a record, the one that is complete
  (entries = atoms), then has the most entries, then a known solvent, then the lowest
  spectrum index.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nmrpeak_cli import chem
from nmrpeak_cli.errors import ChemistryError, NmrpeakError, SpectrumError
from nmrpeak_cli.solvents import normalize_solvent
from nmrpeak_cli.spectra import normalize_multiplicity

if TYPE_CHECKING:
    from rdkit.Chem import Mol

#: Elements a record may contain; anything else (metals, noble gases, As, Te...) is dropped.
ORGANIC_ELEMENTS = frozenset({"H", "B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Se", "Br", "I"})
#: Records with more heavy atoms are dropped.
MAX_HEAVY_ATOMS = 100
#: Accepted 13C shifts, ppm (source 0.1–99.9 percentile: -1.9 to 214.3).
C13_RANGE = (-40.0, 240.0)
#: Accepted 1H shifts, ppm (porphyrin inner NH reach -9).
H1_RANGE = (-10.0, 20.0)

#: Reasons :func:`check_molecule` rejects a molecule for, in the order it checks them.
MOLECULE_REASONS: tuple[str, ...] = (
    "multiple_fragments",
    "unsupported_element",
    "radical",
    "isotope_label",
    "net_charge",
    "too_many_heavy_atoms",
)

#: Record drop reasons, in the order they are checked.
DROP_REASONS: tuple[str, ...] = (
    "missing_id",
    "unparseable_smiles",
    "no_c13_or_h1",
    *MOLECULE_REASONS,
    "inchikey_mismatch",
    "no_usable_spectrum",
    "duplicate_inchikey",
)
#: Spectrum rejection reasons (a record survives if another spectrum is usable).
SPECTRUM_REJECTIONS: tuple[str, ...] = (
    "c13_shift_out_of_range",
    "c13_more_entries_than_carbons",
    "h1_shift_out_of_range",
    "h1_more_protons_than_hydrogens",
)

_C13_H_COUNT = {"S": 0, "D": 1, "T": 2, "Q": 3, "C": 0, "CH": 1, "CH2": 2, "CH3": 3}


class Rejected(NmrpeakError, ValueError):
    """A record or spectrum is unusable.

    Parameters
    ----------
    reason
        Short code from :data:`DROP_REASONS` or :data:`SPECTRUM_REJECTIONS`.
    detail
        What was found, for logs.
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True, slots=True)
class SourceSpectrum:
    """One 13C or 1H spectrum row of ``nmrshiftdb2_spectra.parquet``.

    Attributes
    ----------
    nucleus
        ``"13C"`` or ``"1H"``.
    spectrum_index
        Index of the spectrum within its record.
    shifts
        One shift per assigned atom, ppm.
    multiplicity
        Per entry: S/D/T/Q for 13C, a multiplet code or ``None`` for 1H.
    atoms
        Per entry: atom index in the (unavailable) source molblock.
    solvent
        Solvent as written in the source, or ``None``.
    field_mhz
        Spectrometer frequency, MHz, or ``None``.
    """

    nucleus: str
    spectrum_index: int
    shifts: tuple[float, ...]
    multiplicity: tuple[str | None, ...]
    atoms: tuple[int, ...]
    solvent: str | None = None
    field_mhz: float | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SourceSpectrum:
        """Build from a spectra-table row (missing multiplicity/atoms become ``None``/index)."""
        shifts = tuple(float(s) for s in row.get("shifts") or ())
        mult = tuple(row.get("multiplicity") or (None,) * len(shifts))
        atoms = tuple(row.get("atoms") or range(len(shifts)))
        if not len(mult) == len(atoms) == len(shifts):
            raise SpectrumError(
                f"spectrum {row.get('spectrum_index')} of record {row.get('id')}: "
                f"{len(shifts)} shifts, {len(mult)} multiplicities, {len(atoms)} atoms; "
                "expected equal lengths",
                "shifts",
            )
        field = row.get("field_mhz")
        return cls(
            nucleus=str(row["nucleus"]),
            spectrum_index=int(row.get("spectrum_index") or 0),
            shifts=shifts,
            multiplicity=mult,
            atoms=tuple(int(a) for a in atoms),
            solvent=row.get("solvent"),
            field_mhz=None if field is None or math.isnan(field) else float(field),
        )


@dataclass(frozen=True, slots=True)
class C13Data:
    """The chosen 13C spectrum, one entry per carbon, highest shift first.

    Attributes
    ----------
    shifts
        One shift per listed carbon, ppm.
    n_h
        Attached-H count per entry (0–3), ``None`` when the source does not say.
    complete
        Every carbon of the molecule is listed.
    solvent
        Normalized solvent, or ``None``.
    spectrum_index
        Index of the source spectrum within its record.
    added
        Entries added by repeating symmetry-equivalent carbons listed once.
    """

    shifts: tuple[float, ...]
    n_h: tuple[int | None, ...]
    complete: bool
    solvent: str | None
    spectrum_index: int
    added: int = 0

    def peaks(self) -> list[dict[str, Any]]:
        """Experimental-style peaks: one per distinct (shift, n_h), with the number of carbons."""
        counts = Counter(zip(self.shifts, self.n_h, strict=True))
        keys = sorted(counts, key=lambda k: (-k[0], -1 if k[1] is None else k[1]))
        return [{"shift": s, "n_atoms": counts[(s, h)], "n_h": h} for s, h in keys]


@dataclass(frozen=True, slots=True)
class H1Data:
    """The chosen 1H spectrum, one entry per proton, highest shift first.

    Attributes
    ----------
    shifts
        One shift per proton, ppm.
    multiplicity
        Normalized multiplicity per proton, ``None`` when not reported.
    complete
        Every hydrogen of the molecule is accounted for.
    solvent
        Normalized solvent, or ``None``.
    field_mhz
        Spectrometer frequency, MHz, or ``None``.
    spectrum_index
        Index of the source spectrum within its record.
    added
        Protons added by expanding group entries (13C attached-H counts, symmetry).
    """

    shifts: tuple[float, ...]
    multiplicity: tuple[str | None, ...]
    complete: bool
    solvent: str | None
    field_mhz: float | None
    spectrum_index: int
    added: int = 0

    def peaks(self) -> list[dict[str, Any]]:
        """Experimental-style peaks: one per distinct shift, integration = number of protons."""
        groups: dict[float, list[str | None]] = {}
        for shift, mult in zip(self.shifts, self.multiplicity, strict=True):
            groups.setdefault(shift, []).append(mult)
        return [
            {
                "shift": shift,
                "integration": float(len(mults)),
                "multiplicity": next((m for m in mults if m is not None), None),
            }
            for shift, mults in sorted(groups.items(), key=lambda item: -item[0])
        ]


@dataclass(frozen=True, slots=True)
class ExperimentalRecord:
    """One usable molecule with its chosen 13C and/or 1H spectrum.

    Attributes
    ----------
    id
        ``nmrshiftdb2:<id>``.
    source_id
        NMRShiftDB2 numeric ID (joins CASCADE ``mol_id``).
    smiles
        RDKit canonical isomeric SMILES.
    inchikey
        Standard InChIKey.
    formula
        Hill formula.
    n_heavy
        Heavy-atom count.
    scaffold
        Bemis–Murcko scaffold SMILES, ``""`` when acyclic.
    c13, h1
        Chosen spectra, ``None`` when absent.
    """

    id: str
    source_id: int
    smiles: str
    inchikey: str
    formula: str
    n_heavy: int
    scaffold: str
    c13: C13Data | None
    h1: H1Data | None

    @property
    def connectivity(self) -> str:
        """First InChIKey block: stereoisomers share it."""
        return self.inchikey[:14]

    def quality(self) -> tuple:
        """Sort key for choosing among duplicates: more and more complete data is better."""
        return (
            self.c13 is not None and self.c13.complete,
            self.h1 is not None and self.h1.complete,
            self.c13 is not None,
            self.h1 is not None,
            0 if self.c13 is None else len(self.c13.shifts),
            0 if self.h1 is None else len(self.h1.shifts),
            -self.source_id,
        )


def _c13_h_count(code: str | None) -> int | None:
    return None if code is None else _C13_H_COUNT.get(str(code).strip().upper())


def _h1_multiplicity(code: str | None) -> str | None:
    try:
        return normalize_multiplicity(code)
    except SpectrumError:
        return None


def _check_range(shifts: Sequence[float], bounds: tuple[float, float], reason: str) -> None:
    low, high = bounds
    bad = [s for s in shifts if not low <= s <= high]
    if bad:
        raise Rejected(reason, f"shift {bad[0]:g} ppm outside [{low:g}, {high:g}]")


def carbon_classes(mol: Mol) -> tuple[tuple[int, int], ...]:
    """``(attached H, number of atoms)`` per topological symmetry class of the carbons."""
    classes: dict[int, list[int]] = {}
    for atom, rank in zip(mol.GetAtoms(), chem.symmetry_classes(mol), strict=True):
        if atom.GetAtomicNum() == 6:
            classes.setdefault(rank, [atom.GetTotalNumHs(), 0])[1] += 1
    return tuple(sorted((n_h, size) for n_h, size in classes.values()))


def class_sizes(
    n_hs: Sequence[int | None], classes: Sequence[tuple[int, int]]
) -> dict[int, int] | None:
    """Atoms per entry when a list names each carbon symmetry class once, else ``None``.

    Parameters
    ----------
    n_hs
        Attached-H count per listed entry.
    classes
        ``(attached H, size)`` per symmetry class (:func:`carbon_classes`).

    Returns
    -------
    dict or None
        Class size per attached-H count, when the entries match the classes one for one by
        H count and the classes sharing an H count share a size, and some size exceeds 1;
        ``None`` otherwise (nothing to expand, or ambiguous).
    """
    if any(n_h is None for n_h in n_hs):
        return None
    sizes: dict[int, set[int]] = {}
    for n_h, size in classes:
        sizes.setdefault(n_h, set()).add(size)
    if Counter(n_hs) != Counter(n_h for n_h, _ in classes):
        return None
    if any(len(found) != 1 for found in sizes.values()):
        return None
    per_h = {n_h: next(iter(found)) for n_h, found in sizes.items()}
    return per_h if any(size > 1 for size in per_h.values()) else None


def c13_data(
    spectrum: SourceSpectrum, n_carbons: int, classes: Sequence[tuple[int, int]] = ()
) -> C13Data:
    """One entry per carbon from a 13C source spectrum (see the module rules).

    Parameters
    ----------
    spectrum
        The 13C source spectrum.
    n_carbons
        Carbons of the molecule.
    classes
        Carbon symmetry classes (:func:`carbon_classes`); empty to skip symmetry expansion.

    Raises :class:`Rejected` when the spectrum lists more carbons than ``n_carbons`` or has a
    shift outside :data:`C13_RANGE`.
    """
    seen: set[int] = set()
    entries: list[tuple[float, int | None]] = []
    for shift, mult, atom in zip(
        spectrum.shifts, spectrum.multiplicity, spectrum.atoms, strict=True
    ):
        if atom not in seen:
            seen.add(atom)
            entries.append((shift, _c13_h_count(mult)))
    _check_range([s for s, _ in entries], C13_RANGE, "c13_shift_out_of_range")
    if len(entries) > n_carbons:
        raise Rejected(
            "c13_more_entries_than_carbons", f"{len(entries)} entries for {n_carbons} carbons"
        )
    listed = len(entries)
    sizes = class_sizes([h for _, h in entries], classes) if listed < n_carbons else None
    if sizes is not None:
        entries = [entry for entry in entries for _ in range(sizes[entry[1]])]  # type: ignore[index]
    entries.sort(key=lambda e: (-e[0], -1 if e[1] is None else e[1]))
    return C13Data(
        shifts=tuple(s for s, _ in entries),
        n_h=tuple(h for _, h in entries),
        complete=len(entries) == n_carbons,
        solvent=normalize_solvent(spectrum.solvent),
        spectrum_index=spectrum.spectrum_index,
        added=len(entries) - listed,
    )


def carbon_h_counts(spectra: Sequence[SourceSpectrum]) -> dict[int, int]:
    """Attached-H count per molblock atom index, by majority over a record's 13C spectra."""
    votes: dict[int, Counter] = {}
    for spectrum in spectra:
        if spectrum.nucleus != "13C":
            continue
        for mult, atom in zip(spectrum.multiplicity, spectrum.atoms, strict=True):
            count = _c13_h_count(mult)
            if count is not None:
                votes.setdefault(atom, Counter())[count] += 1
    return {atom: counter.most_common(1)[0][0] for atom, counter in votes.items()}


def h1_data(
    spectrum: SourceSpectrum,
    n_heavy: int,
    n_hydrogens: int,
    h_counts: Mapping[int, int],
    classes: Sequence[tuple[int, int]] = (),
) -> H1Data:
    """One entry per proton from a 1H source spectrum (see the module rules).

    Parameters
    ----------
    spectrum
        The 1H source spectrum.
    n_heavy
        Heavy atoms of the molecule: indices from here on point at explicit H atoms.
    n_hydrogens
        Hydrogens of the molecule.
    h_counts
        Attached-H count per heavy-atom index, from the record's 13C spectra.
    classes
        Carbon symmetry classes (:func:`carbon_classes`); empty to skip symmetry expansion.
    """
    groups: dict[int, list[tuple[float, str | None]]] = {}
    for shift, mult, atom in zip(
        spectrum.shifts, spectrum.multiplicity, spectrum.atoms, strict=True
    ):
        groups.setdefault(atom, []).append((shift, _h1_multiplicity(mult)))
    listed = sum(1 if atom >= n_heavy else len(e) for atom, e in groups.items())
    per_atom: dict[int, list[tuple[float, str | None]]] = {}
    for atom, entries in groups.items():
        wanted = h_counts.get(atom, 0)
        if atom >= n_heavy:  # an explicit H atom
            per_atom[atom] = entries[:1]
        elif len(entries) < wanted:  # fewer entries than the carbon's protons
            per_atom[atom] = [entries[i % len(entries)] for i in range(wanted)]
        else:
            per_atom[atom] = entries
    carbons = [atom for atom in per_atom if atom < n_heavy and h_counts.get(atom, 0) > 0]
    sizes = class_sizes([h_counts[atom] for atom in carbons], [c for c in classes if c[0] > 0])
    protons = [proton for entries in per_atom.values() for proton in entries]
    if sizes is not None:
        extra = [p for a in carbons for p in per_atom[a] * (sizes[h_counts[a]] - 1)]
        if len(protons) + len(extra) <= n_hydrogens:  # else the classes did not match after all
            protons += extra
    _check_range([s for s, _ in protons], H1_RANGE, "h1_shift_out_of_range")
    if len(protons) > n_hydrogens:
        raise Rejected(
            "h1_more_protons_than_hydrogens", f"{len(protons)} protons for {n_hydrogens} H"
        )
    protons.sort(key=lambda p: (-p[0], p[1] or ""))
    return H1Data(
        shifts=tuple(s for s, _ in protons),
        multiplicity=tuple(m for _, m in protons),
        complete=len(protons) == n_hydrogens,
        solvent=normalize_solvent(spectrum.solvent),
        field_mhz=spectrum.field_mhz,
        spectrum_index=spectrum.spectrum_index,
        added=len(protons) - listed,
    )


def check_molecule(mol: Mol, max_heavy_atoms: int = MAX_HEAVY_ATOMS) -> None:
    """Raise :class:`Rejected` when ``mol`` is outside the domain (module rules, in order)."""
    from rdkit import Chem

    fragments = Chem.GetMolFrags(mol)
    if len(fragments) > 1:
        raise Rejected("multiple_fragments", f"{len(fragments)} fragments")
    elements = {atom.GetSymbol() for atom in mol.GetAtoms()}
    if not elements <= ORGANIC_ELEMENTS:
        raise Rejected("unsupported_element", ", ".join(sorted(elements - ORGANIC_ELEMENTS)))
    if any(atom.GetNumRadicalElectrons() for atom in mol.GetAtoms()):
        raise Rejected("radical", "unpaired electrons")
    if any(atom.GetIsotope() for atom in mol.GetAtoms()):
        raise Rejected("isotope_label", "isotope-labelled atoms")
    charge = Chem.GetFormalCharge(mol)
    if charge:
        raise Rejected("net_charge", f"net charge {charge:+d}")
    heavy = chem.heavy_atom_count(mol)
    if heavy > max_heavy_atoms:
        raise Rejected("too_many_heavy_atoms", f"{heavy} > {max_heavy_atoms}")


def _best(candidates: Sequence[C13Data | H1Data]) -> C13Data | H1Data | None:
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda d: (d.complete, len(d.shifts), d.solvent is not None, -d.spectrum_index),
    )


def build_record(
    molecule: Mapping[str, Any],
    spectra: Sequence[SourceSpectrum],
    rejections: Counter | None = None,
) -> ExperimentalRecord:
    """Build the clean record of one molecules-table row and its 13C/1H spectra.

    Parameters
    ----------
    molecule
        A row of ``nmrshiftdb2_molecules.parquet`` (``id``, ``smiles``, ``inchikey`` used).
    spectra
        All spectra of that record (other nuclei are ignored).
    rejections
        When given, counts the rejected spectra by reason.

    Raises
    ------
    Rejected
        With one of :data:`DROP_REASONS`.
    """
    if molecule.get("id") is None:
        raise Rejected("missing_id", f"row with SMILES {molecule.get('smiles')!r}")
    source_id = int(molecule["id"])
    try:
        mol = chem.parse_smiles(str(molecule.get("smiles") or ""))
    except ChemistryError as exc:
        raise Rejected("unparseable_smiles", str(exc)) from None
    nmr = [s for s in spectra if s.nucleus in {"13C", "1H"} and s.shifts]
    if not nmr:
        raise Rejected("no_c13_or_h1", f"record {source_id}")
    check_molecule(mol)
    try:
        key = chem.inchikey(mol)
    except ChemistryError as exc:
        raise Rejected("inchikey_mismatch", str(exc)) from None
    if key != molecule.get("inchikey"):
        raise Rejected("inchikey_mismatch", f"RDKit {key} vs stored {molecule.get('inchikey')}")
    counts = chem.element_counts(mol)
    n_heavy = chem.heavy_atom_count(mol)
    h_counts = carbon_h_counts(nmr)
    classes = carbon_classes(mol)
    c13s: list[C13Data] = []
    h1s: list[H1Data] = []
    for spectrum in sorted(nmr, key=lambda s: (s.nucleus, s.spectrum_index)):
        try:
            if spectrum.nucleus == "13C":
                c13s.append(c13_data(spectrum, counts.get("C", 0), classes))
            else:
                h1s.append(h1_data(spectrum, n_heavy, counts.get("H", 0), h_counts, classes))
        except Rejected as exc:
            if rejections is not None:
                rejections[exc.reason] += 1
    if not c13s and not h1s:
        raise Rejected("no_usable_spectrum", f"record {source_id}")
    return ExperimentalRecord(
        id=f"nmrshiftdb2:{source_id}",
        source_id=source_id,
        smiles=chem.canonical_smiles(mol),
        inchikey=key,
        formula=chem.formula(mol),
        n_heavy=n_heavy,
        scaffold=chem.murcko_scaffold(mol),
        c13=_best(c13s),
        h1=_best(h1s),
    )
