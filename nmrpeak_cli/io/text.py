"""Journal-style NMR text: ``13C NMR (101 MHz, CDCl3) δ 170.2, 77.0`` ↔ :class:`PeakList`.

(Why one long file: the reader and the writer of one text format, tested by round trip;
the grammar below is shared by both.)

Reading policy
--------------
* Peaks are separated by commas, semicolons, ``and``, ``&`` or plain whitespace; ``δ``,
  ``δH``/``δC``, ``ppm`` and a trailing period are skipped.
* A peak is a shift or a range (``2.10–1.95``, ``2.10-1.95``, ``2.10 to 1.95``; the centre
  becomes ``shift``) with an optional bracket. Inside the bracket, in any order: the
  multiplicity (``d``, ``br s``, ``dd``...), coupling constants (``J = 8.0, 2.0 Hz``,
  ``J = 8.0 Hz, J = 2.0 Hz``, ``J1 = …``, ``JHF = 47.6``, ``J 16 Hz``), the integration
  (``2H``; for 13C ``2C`` or ``2 × C``), for 13C DEPT labels (``CH2`` → ``n_h = 2``; the
  letters ``s d t q`` too when a list mixes them without ``J`` values), and
  a range around a reported centre (``2.03 (2.10–1.95, m, 2H)``). Anything else in the
  bracket is an assignment and is ignored.
* Unicode look-alikes are folded first (NFKC: non-breaking and thin spaces, full-width
  digits, superscripts; every dash and the minus sign become ``-``).
* A fragment that is not a peak raises :class:`~nmrpeak_cli.errors.ParseError` quoting it.

Writing (:func:`format_peaks`) prints each shift with the shortest decimal that reads back
to the same float; a range prints as ``2.10–1.95`` when its centre is the midpoint and as
``2.03 (2.10–1.95, …)`` otherwise, so ``parse_peaks(format_peaks(p), p.nucleus) == p`` for
every list without ``atoms`` (journal text has no atom indices).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from nmrpeak_cli.errors import ParseError, SpectrumError
from nmrpeak_cli.solvents import normalize_solvent
from nmrpeak_cli.spectra import (
    C13_MULTIPLICITY_N_H,
    Nucleus,
    Peak,
    PeakList,
    Spectrum,
    normalize_multiplicity,
)

__all__ = [
    "NmrText",
    "carbon_frequency",
    "format_nmr_text",
    "format_number",
    "format_peaks",
    "normalize_text",
    "parse_nmr_text",
    "parse_peaks",
    "parse_spectrum_text",
    "proton_frequency",
    "split_nmr_sentences",
]

# --------------------------------------------------------------------------------------------
# Normalization
# --------------------------------------------------------------------------------------------

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe58\ufe63\uff0d"
_FOLD = str.maketrans(
    {
        **dict.fromkeys(_DASHES, "-"),
        "\u200b": "",
        "\u200c": "",
        "\u200d": "",
        "\ufeff": "",
        "\u00ad": "",
        "\u00b7": ".",  # middle dot used as a decimal point in older papers
        "\u2032": "'",
        "\u2019": "'",
        "\u2018": "'",
        "\u1e9f": "δ",  # latin small delta
    }
)


def normalize_text(text: str) -> str:
    """Fold unicode look-alikes to plain ASCII-like text and collapse whitespace.

    NFKC maps non-breaking/thin spaces, full-width characters and superscripts (``¹³C``);
    every dash and the minus sign become ``-``; zero-width characters are dropped.
    """
    folded = unicodedata.normalize("NFKC", text).translate(_FOLD)
    return re.sub(r"\s+", " ", folded).strip()


# --------------------------------------------------------------------------------------------
# Peak lists
# --------------------------------------------------------------------------------------------

_NUMBER = r"-?\d+(?:\.\d+)?|-?\.\d+"
_PEAK = re.compile(rf"(?P<a>{_NUMBER})(?:\s*(?:-|to)\s*(?P<b>{_NUMBER}))?(?![\d_]|\.\d)")
_SEPARATOR = re.compile(
    r"(?:\s+|[,;:&/\])=*]|\band\b|δ\s*(?:[HC](?![a-z]))?|\(\s*ppm\s*\)|\bppm\b|\.(?!\d))+",
    re.IGNORECASE,
)
_BARE_MULTIPLICITY = re.compile(r"\s?((?:br\s?)?[a-z]{1,4})(?=[\s,;]|$)")
_BRACKET_AFTER_PEAK = re.compile(r"\s*(?:ppm\s*)?[(\[]", re.IGNORECASE)
_J_LABEL = re.compile(
    r"(?<![A-Za-z])\d?J(?:\s*\([^()]{0,12}\)|[A-Za-z0-9,'\-]{0,8}?)\s*(?:=|:|\s)\s*(?=\d|\.\d)"
)
_J_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_J_NEXT = re.compile(r"\s*(?:,|\band\b|&|/)\s*(?=\d)")
_NOT_A_J = re.compile(r"\s*(?:H(?!z)|C(?![a-z]))")
_HZ = re.compile(r"\s*Hz\b", re.IGNORECASE)
_H_COUNT = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)\s*H(?![a-z])")
_C_LABEL = re.compile(r"^(?:(\d+(?:\.\d+)?)\s*(?:[×xX*]\s*)?)?(C|CH|CH2|CH3|CH4|Cq|qC|Cquat)$")
_C_COUNT = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:[×xX*]\s*)?(?:C|$)")
_BOUNDS = re.compile(rf"^({_NUMBER})\s*(?:-|to)\s*({_NUMBER})$")
_MULTIPLICITY_LIKE = re.compile(r"^[A-Za-z][A-Za-z .]{0,15}$")
_N_H = {"C": 0, "Cq": 0, "qC": 0, "Cquat": 0, "CH": 1, "CH2": 2, "CH3": 3, "CH4": 4}


def _closing_bracket(text: str, start: int, field: str | None = None) -> int:
    """Index just after the bracket that opens at ``start`` (nested brackets allowed)."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] in "([":
            depth += 1
        elif text[i] in ")]":
            depth -= 1
            if depth == 0:
                return i + 1
    raise ParseError(f"unclosed bracket in {_quote(text[start:])}", field)


def _quote(fragment: str, limit: int = 60) -> str:
    fragment = fragment.strip()
    return repr(fragment if len(fragment) <= limit else fragment[: limit - 1] + "…")


def _extract_couplings(content: str) -> tuple[list[float], str]:
    """Coupling constants found in a bracket, and the bracket text with them removed."""
    values: list[float] = []
    kept: list[str] = []
    pos = 0
    for label in _J_LABEL.finditer(content):
        if label.start() < pos:
            continue
        end = label.end()
        found: list[float] = []
        while True:
            number = _J_NUMBER.match(content, end)
            if number is None or _NOT_A_J.match(content, number.end()):
                break
            found.append(float(number.group()))
            end = number.end()
            joiner = _J_NEXT.match(content, end)
            if joiner is None:
                break
            lookahead = _J_NUMBER.match(content, joiner.end())
            if lookahead is None or _NOT_A_J.match(content, lookahead.end()):
                break
            end = joiner.end()
        if not found:
            continue
        hz = _HZ.match(content, end)
        end = hz.end() if hz else end
        values.extend(found)
        kept.append(content[pos : label.start()])
        kept.append(",")
        pos = end
    kept.append(content[pos:])
    return values, "".join(kept)


def _split_top_level(content: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in content:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        if char in ",;" and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


@dataclass(frozen=True, slots=True)
class _Annotation:
    integration: float | None = None
    multiplicity: str | None = None
    j_hz: tuple[float, ...] = ()
    n_h: int | None = None
    bounds: tuple[float, float] | None = None


def _multiplicity_or_none(text: str) -> str | None:
    """Normalized multiplicity, or ``None`` when ``text`` is not one (an assignment: "ArH")."""
    try:
        return normalize_multiplicity(text)
    except SpectrumError:
        return None


def _parse_annotation(content: str, nucleus: Nucleus) -> _Annotation:
    """Read multiplicity, couplings, integration and DEPT label from a bracket's content."""
    j_values, rest = _extract_couplings(content)
    integration: float | None = None
    multiplicity: str | None = None
    n_h: int | None = None
    bounds: tuple[float, float] | None = None
    for part in _split_top_level(rest):
        if bounds is None and (m := _BOUNDS.match(part)):
            low, high = sorted((float(m.group(1)), float(m.group(2))))
            bounds = (low, high)
            continue
        if nucleus is Nucleus.H1 and integration is None and (m := _H_COUNT.match(part)):
            integration = float(m.group(1))
            continue
        if nucleus is Nucleus.C13:
            label = _C_LABEL.match(part)
            if label is not None:
                if label.group(1) is not None and integration is None:
                    integration = float(label.group(1))
                if n_h is None and not (label.group(1) and label.group(2) == "C"):
                    n_h = _N_H[label.group(2)]  # "2C" counts carbons, "C" alone is DEPT
                continue
            count = _C_COUNT.match(part)
            if count is not None and integration is None:
                integration = float(count.group(1))
                continue
        if multiplicity is None and _MULTIPLICITY_LIKE.match(part):
            multiplicity = _multiplicity_or_none(part)
    return _Annotation(integration, multiplicity, tuple(j_values), n_h, bounds)


def _strip_header(text: str, nucleus: Nucleus) -> str:
    """Remove a leading ``1H NMR (…) δ`` header when present, checking its nucleus."""
    header = _HEADER.match(text)
    if header is None:
        return text
    found = _header_nucleus(header)
    if found is not nucleus:
        raise ParseError(
            f"text is a {found.value} NMR description but {nucleus.value} peaks were expected",
            nucleus.column,
        )
    _, body_start = _read_conditions(text, header.end())
    return text[body_start:]


def parse_peaks(text: str, nucleus: Nucleus | str) -> PeakList:
    """Parse a journal-style peak list (with or without its ``1H NMR (…) δ`` header).

    Parameters
    ----------
    text
        For example ``"7.26 (d, J = 8.4 Hz, 2H), 3.81 (s, 3H), 2.10–1.95 (m, 2H)"`` or
        ``"170.1, 128.3 (2C) and 77.0."``.
    nucleus
        ``"13C"`` or ``"1H"``; decides whether ``2H`` or ``2C`` is an integration.

    Returns
    -------
    PeakList
        The peaks, sorted by decreasing shift.

    Raises
    ------
    ParseError
        A fragment is not a peak (the message quotes it); the field is ``c13``/``h1``.
    SpectrumError
        A value is out of range (shift outside the nucleus range, negative integration...).
    """
    nucleus = Nucleus.parse(nucleus)
    if not isinstance(text, str):
        raise ParseError(f"expected text, got {type(text).__name__}", nucleus.column)
    body = _strip_header(normalize_text(text), nucleus)
    peaks: list[Peak] = []
    pos = 0
    while True:
        skip = _SEPARATOR.match(body, pos)
        if skip is not None:
            pos = skip.end()
        if pos >= len(body):
            break
        if body[pos] in "([":
            # A bracket that does not follow a peak: a group of peaks "[23.0, 26.2 (CH2)]"
            # is read through; a remark such as "(Supplementary Figure S1)" is skipped.
            pos = (
                pos + 1
                if _PEAK.match(body, pos + 1)
                else _closing_bracket(body, pos, nucleus.column)
            )
            continue
        match = _PEAK.match(body, pos)
        if match is None:
            end = body.find(",", pos)
            fragment = body[pos : end if end > 0 else len(body)]
            raise ParseError(f"cannot read {_quote(fragment)} as a peak", nucleus.column)
        pos = match.end()
        annotation = _Annotation()
        bracket = _BRACKET_AFTER_PEAK.match(body, pos)
        bare = _BARE_MULTIPLICITY.match(body, pos)
        if bracket is not None:
            start = bracket.end() - 1
            end = _closing_bracket(body, start, nucleus.column)
            annotation = _parse_annotation(body[start + 1 : end - 1], nucleus)
            pos = end
        elif bare is not None and (code := _multiplicity_or_none(bare.group(1))) is not None:
            annotation = _Annotation(multiplicity=code)  # "1.54m, 1.71m"
            pos = bare.end()
        peaks.append(_make_peak(match, annotation, nucleus))
    if not peaks:
        raise ParseError(f"no peaks in {_quote(text)}", nucleus.column)
    if nucleus is Nucleus.C13:
        peaks = _letters_as_attached_h(peaks)
    return PeakList(nucleus, tuple(peaks))


def _letters_as_attached_h(peaks: list[Peak]) -> list[Peak]:
    """13C ``(s)``/``(d)``/``(t)``/``(q)`` as C/CH/CH2/CH3 (off-resonance/DEPT convention)
    when the list uses at least two of these letters and no coupling constant; a list of
    ``(s)`` only (software singlets) or with ``J`` values (C–F/C–P multiplets) keeps them as
    multiplicities."""
    letters = {p.multiplicity for p in peaks if p.multiplicity in C13_MULTIPLICITY_N_H}
    if len(letters) < 2 or any(p.j_hz for p in peaks):
        return peaks
    return [
        replace(p, multiplicity=None, n_h=C13_MULTIPLICITY_N_H[p.multiplicity])
        if p.multiplicity in C13_MULTIPLICITY_N_H and p.n_h is None
        else p
        for p in peaks
    ]


def _make_peak(match: re.Match[str], annotation: _Annotation, nucleus: Nucleus) -> Peak:
    a = float(match.group("a"))
    b = match.group("b")
    bounds = annotation.bounds
    try:
        if b is None and bounds is not None and bounds[0] <= a <= bounds[1]:
            return Peak(  # centre with its range: "2.03 (2.10–1.95, m, 2H)"
                a,
                shift_lo=bounds[0],
                shift_hi=bounds[1],
                integration=annotation.integration,
                multiplicity=annotation.multiplicity,
                j_hz=annotation.j_hz,
                n_h=annotation.n_h,
            )
        if b is None:
            return Peak(
                a,
                integration=annotation.integration,
                multiplicity=annotation.multiplicity,
                j_hz=annotation.j_hz,
                n_h=annotation.n_h,
            )
        lo, hi = sorted((a, float(b)))
        return Peak(
            (lo + hi) / 2,
            shift_lo=lo,
            shift_hi=hi,
            integration=annotation.integration,
            multiplicity=annotation.multiplicity,
            j_hz=annotation.j_hz,
            n_h=annotation.n_h,
        )
    except SpectrumError as exc:
        raise ParseError(f"peak {_quote(match.group())}: {exc}", nucleus.column) from None


def format_number(value: float, *, keep_decimal: bool = True) -> str:
    """Shortest positional decimal that reads back to exactly ``value``.

    ``keep_decimal`` keeps one decimal on whole numbers (shifts: ``77.0``); without it whole
    numbers print bare (integrations, couplings, frequencies: ``2H``, ``400 MHz``).
    """
    text = np.format_float_positional(float(value), trim="0" if keep_decimal else "-")
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text


#: Decimals of shifts in journal style (:func:`format_peaks` with ``journal=True``).
JOURNAL_DECIMALS: dict[Nucleus, int] = {Nucleus.H1: 2, Nucleus.C13: 1}


def _format_peak(peak: Peak, nucleus: Nucleus, journal: bool) -> str:
    if journal:
        digits = JOURNAL_DECIMALS[nucleus]

        def shift_text(value: float) -> str:
            return f"{value:.{digits}f}"

        def count_text(value: float) -> str:
            return str(max(1, round(value)))

        def j_text(value: float) -> str:
            return f"{value:.1f}"
    else:
        shift_text = format_number

        def count_text(value: float) -> str:
            return format_number(value, keep_decimal=False)

        j_text = count_text
    text = shift_text(peak.shift)
    parts: list[str] = []
    if peak.shift_lo is not None and peak.shift_hi is not None:
        bounds = f"{shift_text(peak.shift_hi)}–{shift_text(peak.shift_lo)}"
        if peak.shift == (peak.shift_lo + peak.shift_hi) / 2:
            text = bounds
        else:
            parts.append(bounds)  # a centre that is not the midpoint keeps its own value
    if peak.multiplicity is not None:
        parts.append(peak.multiplicity)
    if peak.j_hz:
        parts.append("J = " + ", ".join(j_text(j) for j in peak.j_hz) + " Hz")
    if peak.integration is not None:
        unit = "H" if nucleus is Nucleus.H1 else "C"
        parts.append(f"{count_text(peak.integration)}{unit}")
    if nucleus is Nucleus.C13 and peak.n_h is not None:
        parts.append("C" if peak.n_h == 0 else "CH" if peak.n_h == 1 else f"CH{peak.n_h}")
    return f"{text} ({', '.join(parts)})" if parts else text


def format_peaks(peaklist: PeakList, *, journal: bool = False) -> str:
    """Journal-style text of a peak list: ``"7.26 (d, J = 8.4 Hz, 2H), 3.81 (s, 3H)"``.

    13C peaks print integration as ``(2C)`` and the attached-H count as a DEPT label
    (``CH2``); ranges print high–low with an en dash. Atom indices are not printed.

    Parameters
    ----------
    peaklist
        The peaks.
    journal
        Round as journals print: 1H shifts to 2 decimals, 13C to 1, J to 0.1 Hz, counts to
        whole nuclei (at least 1). Without it every number keeps the shortest text that
        reads back to the same float (exact round trip).
    """
    return ", ".join(_format_peak(p, peaklist.nucleus, journal) for p in peaklist)


# --------------------------------------------------------------------------------------------
# Whole sentences
# --------------------------------------------------------------------------------------------

_HEADER = re.compile(
    r"\s*(?P<nuc>13\s*C|1\s*H|C\s*-?\s*13|H\s*-?\s*1|carbon|proton)\s*-?\s*(?:\{\s*1\s*H\s*\}\s*)?"
    r"(?:NMR|n\.m\.r\.)\s*(?:spectrum|data)?\s*:?",
    re.IGNORECASE,
)
_ANY_HEADER = re.compile(
    r"(?<![\w{])(?:13\s*C|1\s*H)\s*-?\s*(?:\{\s*1\s*H\s*\}\s*)?NMR\b", re.IGNORECASE
)
_CONDITION_SKIP = re.compile(
    r"(?:\s+|[,;:=]|δ\s*(?:[HC](?![a-z]))?|\bppm\b|\.(?!\d))+", re.IGNORECASE
)
_CONDITION_WORD = re.compile(r"[^\s,;:()\[\]]+")
_PEAK_START = re.compile(rf"(?:{_NUMBER})(?![\w])(?!\s*MHz)", re.IGNORECASE)
_MHZ = re.compile(r"(\d+(?:\.\d+)?)\s*MHz", re.IGNORECASE)
_NOT_SOLVENT = re.compile(
    r"MHz|ppm|δ|\bTMS\b|\bK\b|°|\binternal\b|\bstandard\b|\breference\b|\btemp", re.IGNORECASE
)


def _header_nucleus(header: re.Match[str]) -> Nucleus:
    key = re.sub(r"[\s-]", "", header.group("nuc")).lower()
    return Nucleus.C13 if key in {"13c", "c13", "carbon"} else Nucleus.H1


def _read_conditions(text: str, pos: int) -> tuple[list[str], int]:
    """Condition pieces after a header and the index where the peak list starts."""
    pieces: list[str] = []
    while pos < len(text):
        if (s := _CONDITION_SKIP.match(text, pos)) is not None:
            pos = s.end()
            continue
        if text[pos] in "([":
            end = _closing_bracket(text, pos)
            pieces.append(text[pos + 1 : end - 1])
            pos = end
            continue
        if _PEAK_START.match(text, pos):
            break
        word = _CONDITION_WORD.match(text, pos)
        if word is None:
            break
        if (mhz := _MHZ.match(text, pos)) is not None:
            pieces.append(mhz.group())
            pos = mhz.end()
            continue
        pieces.append(word.group())
        pos = word.end()
    return pieces, pos


@dataclass(frozen=True, slots=True)
class NmrText:
    """One parsed ``1H NMR (…) δ …`` sentence.

    Attributes
    ----------
    nucleus
        Nucleus named by the header.
    field_mhz
        Spectrometer frequency from the conditions (``400 MHz``), or ``None``.
    solvent
        Normalized solvent from the conditions, or ``None``.
    peaks
        The peak list.
    """

    nucleus: Nucleus
    field_mhz: float | None
    solvent: str | None
    peaks: PeakList

    def to_dict(self) -> dict[str, Any]:
        """Plain dict with keys ``nucleus``, ``field_mhz``, ``solvent``, ``peaks``."""
        return {
            "nucleus": self.nucleus,
            "field_mhz": self.field_mhz,
            "solvent": self.solvent,
            "peaks": self.peaks,
        }


def _solvent_from(pieces: list[str]) -> str | None:
    candidates = [
        part.strip()
        for piece in pieces
        for part in re.split(r"[,;]", piece)
        if part.strip() and not _NOT_SOLVENT.search(part)
    ]
    for candidate in candidates:
        solvent = normalize_solvent(candidate)
        if solvent not in {None, "other"}:
            return solvent
    return None


def parse_nmr_text(text: str, nucleus: Nucleus | str | None = None) -> NmrText:
    """Parse a full sentence such as ``13C NMR (101 MHz, CDCl3) δ 170.2, 77.0``.

    Parameters
    ----------
    text
        The sentence. Without a ``1H NMR``/``13C NMR`` header, ``nucleus`` must be given.
    nucleus
        Expected nucleus; a header naming another nucleus raises :class:`ParseError`.

    Returns
    -------
    NmrText
        Nucleus, field (MHz, the frequency in the conditions), solvent and peaks.
    """
    clean = normalize_text(text)
    header = _HEADER.match(clean)
    expected = None if nucleus is None else Nucleus.parse(nucleus)
    if header is None:
        if expected is None:
            raise ParseError(f"no '1H NMR' or '13C NMR' header in {_quote(clean)}", "nucleus")
        pieces, start = _read_conditions(clean, 0)
        found = expected
    else:
        found = _header_nucleus(header)
        if expected is not None and found is not expected:
            raise ParseError(
                f"text is a {found.value} NMR description, expected {expected.value}",
                expected.column,
            )
        pieces, start = _read_conditions(clean, header.end())
    mhz = next((_MHZ.search(p) for p in pieces if _MHZ.search(p)), None)
    field_mhz = None if mhz is None else proton_frequency(float(mhz.group(1)), found)
    return NmrText(found, field_mhz, _solvent_from(pieces), parse_peaks(clean[start:], found))


#: 1H/13C Larmor frequency ratio (gamma_H / gamma_C).
_H_OVER_C = 3.9772


def proton_frequency(mhz: float, nucleus: Nucleus) -> float:
    """1H spectrometer frequency from the frequency printed in a ``nucleus`` sentence.

    A 13C sentence usually prints the 13C frequency (``101 MHz`` on a 400 MHz magnet); values
    below 200 MHz are converted and rounded to the nearest 50 MHz (nearest 10 below 150),
    larger ones are taken as the 1H frequency already (``13C NMR (400 MHz)`` is common).
    """
    if nucleus is Nucleus.H1 or mhz >= 200:
        return mhz
    proton = mhz * _H_OVER_C
    step = 50 if proton >= 150 else 10
    return float(round(proton / step) * step)


def carbon_frequency(field_mhz: float) -> float:
    """13C frequency printed in a 13C sentence for a ``field_mhz`` (1H) spectrometer."""
    return float(round(field_mhz / _H_OVER_C))


def split_nmr_sentences(text: str) -> list[str]:
    """Split text at each ``1H NMR``/``13C NMR`` header; text before the first is dropped."""
    clean = normalize_text(text)
    starts = [m.start() for m in _ANY_HEADER.finditer(clean)]
    ends = [*starts[1:], len(clean)]
    return [clean[a:b].strip(" ;,") for a, b in zip(starts, ends, strict=False)]


def parse_spectrum_text(
    c13_text: str | None = None,
    h1_text: str | None = None,
    *,
    id: str,
    formula: str | None = None,
    solvent: str | None = None,
    field_mhz: float | None = None,
    smiles: str | None = None,
) -> Spectrum:
    """Build a :class:`Spectrum` from 13C and/or 1H text (bare lists or full sentences).

    Solvent and field default to what the sentences state (the 1H sentence first).
    """
    c13 = h1 = None
    found_solvent = found_field = None
    for text, nucleus in ((h1_text, Nucleus.H1), (c13_text, Nucleus.C13)):
        if text is None or not str(text).strip():
            continue
        parsed = parse_nmr_text(text, nucleus)
        found_solvent = found_solvent or parsed.solvent
        if nucleus is Nucleus.H1:
            found_field = parsed.field_mhz
            h1 = parsed.peaks
        else:
            found_field = found_field or parsed.field_mhz
            c13 = parsed.peaks
    return Spectrum(
        id=id,
        c13=c13,
        h1=h1,
        formula=formula,
        solvent=solvent or found_solvent,
        field_mhz=field_mhz if field_mhz is not None else found_field,
        smiles=smiles,
    )


def format_nmr_text(
    peaklist: PeakList, *, solvent: str | None = None, field_mhz: float | None = None
) -> str:
    """A full sentence: ``1H NMR (400 MHz, CDCl3) δ 7.26 (d, J = 8.4 Hz, 2H)``.

    ``field_mhz`` is the 1H spectrometer frequency; a 13C sentence prints the matching 13C
    frequency (``101 MHz`` for 400), which :func:`parse_nmr_text` converts back.
    """
    mhz = None
    if field_mhz:
        nucleus = peaklist.nucleus
        mhz = field_mhz if nucleus is Nucleus.H1 else carbon_frequency(field_mhz)
    conditions = [
        c for c in (f"{format_number(mhz, keep_decimal=False)} MHz" if mhz else None, solvent) if c
    ]
    bracket = f" ({', '.join(conditions)})" if conditions else ""
    return f"{peaklist.nucleus.value} NMR{bracket} δ {format_peaks(peaklist)}"
