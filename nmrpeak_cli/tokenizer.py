"""Adaptive spectrum tokenizer and atom-level SMILES tokenizer (DESIGN.md §5).

A spectrum (+ formula) becomes a sequence of three kinds of tokens:

* special — ``<pad> <bos> <eos> <unk> <c13> <h1> <formula> <sep>``;
* categorical — 1H multiplicity (``M:dd``), integration (``I:3``), element symbols (``E:C``)
  and counts (``N:9``);
* numerical — shift bins per nucleus (``C:417``, ``H:233``);
* optional attached-H labels of 13C peaks (DEPT: ``L:C``, ``L:CH``, ``L:CH2``, ``L:CH3``),
  one after the peak's tokens when the peak carries ``n_h``. They are the last tokens of a
  vocabulary that has them (:meth:`SpectrumTokenizer.with_labels`); a tokenizer without them
  (every card written before them) never emits them, so its ids and encodings are unchanged.
  An unlabelled peak (unknown class) has no label token.

Shift bins are *adaptive*: their edges are quantiles of a mixture of the training shift
distribution and a uniform distribution over the nucleus range, so bins are narrow where
shifts crowd (aromatic 13C, aliphatic 1H) and never wider than ``range / (mix * n_bins)``
where they are sparse. Each bin decodes to the median of the training shifts that fell into
it (its centre when empty), and the worst-case quantization error is reported per nucleus.
The fitted tokenizer is plain JSON and travels with the model that uses it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nmrpeak_cli.paths import write_text_atomic
from nmrpeak_cli.spectra import Nucleus, Peak, PeakList, Spectrum, hill_formula, parse_formula

SPECIAL_TOKENS: tuple[str, ...] = (
    "<pad>",
    "<bos>",
    "<eos>",
    "<unk>",
    "<c13>",
    "<h1>",
    "<formula>",
    "<sep>",
)
PAD, BOS, EOS, UNK = 0, 1, 2, 3

#: Multiplicity codes with their own token; any other code maps to ``M:other``.
MULTIPLICITY_TOKENS: tuple[str, ...] = (
    "s", "d", "t", "q", "p", "h", "hept", "m", "ABq",
    "dd", "dt", "td", "tt", "dq", "qd", "ddd", "ddt", "dtd", "tdd", "br s", "br d", "br t", "br m",
    "other", "none",
)  # fmt: skip
MAX_INTEGRATION = 12
MAX_COUNT = 200
ELEMENTS: tuple[str, ...] = (
    "C",
    "H",
    "N",
    "O",
    "F",
    "P",
    "S",
    "Cl",
    "Br",
    "I",
    "Si",
    "B",
    "Se",
    "other",
)

LABEL_TOKENS: tuple[str, ...] = ("L:C", "L:CH", "L:CH2", "L:CH3")
"""Attached-H label tokens of 13C peaks, by hydrogen count (``Peak.n_h`` 0–3)."""

_DEFAULT_RANGES = {Nucleus.C13: (-10.0, 240.0), Nucleus.H1: (-1.0, 16.0)}


@dataclass(frozen=True, slots=True)
class ShiftBins:
    """Adaptive bins of one nucleus.

    Attributes
    ----------
    nucleus
        The nucleus these bins quantize.
    edges
        ``n_bins + 1`` increasing bin edges, ppm; shifts outside are clipped to the end bins.
    values
        ``n_bins`` decoded shifts, ppm (median of training shifts in the bin, else its centre).
    """

    nucleus: Nucleus
    edges: tuple[float, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.values) != len(self.edges) - 1:
            raise ValueError(
                f"{len(self.edges)} edges need {len(self.edges) - 1} values, got {len(self.values)}"
            )
        if np.any(np.diff(self.edges) <= 0):
            raise ValueError("bin edges must increase strictly")

    @property
    def n_bins(self) -> int:
        """Number of bins (the numerical vocabulary size of this nucleus)."""
        return len(self.values)

    def encode(self, shifts: np.ndarray) -> np.ndarray:
        """Bin index of each shift (clipped to the first/last bin outside the edges)."""
        index = np.searchsorted(np.asarray(self.edges), np.asarray(shifts, float), side="right") - 1
        return np.clip(index, 0, self.n_bins - 1)

    def decode(self, index: np.ndarray) -> np.ndarray:
        """Shift value of each bin index."""
        return np.asarray(self.values)[np.asarray(index, int)]

    def max_error(self) -> float:
        """Worst-case quantization error inside the edges, ppm."""
        edges, values = np.asarray(self.edges), np.asarray(self.values)
        return float(np.max(np.maximum(values - edges[:-1], edges[1:] - values)))


def fit_shift_bins(
    shifts: np.ndarray,
    nucleus: Nucleus,
    n_bins: int,
    *,
    mix: float = 0.25,
    shift_range: tuple[float, float] | None = None,
) -> ShiftBins:
    """Fit adaptive bins to training shifts.

    Parameters
    ----------
    shifts
        Training shifts of ``nucleus``, ppm.
    n_bins
        Vocabulary budget for this nucleus.
    mix
        Weight of the uniform component (0 = pure quantiles, 1 = uniform bins). Bounds the
        widest bin to ``(hi - lo) / (mix * n_bins)``.
    shift_range
        ``(lo, hi)`` covered by the bins; default a generous range per nucleus.
    """
    if not 0 < mix <= 1:
        raise ValueError(f"mix must lie in (0, 1], got {mix}")
    if n_bins < 2:
        raise ValueError(f"n_bins must be at least 2, got {n_bins}")
    lo, hi = shift_range or _DEFAULT_RANGES[nucleus]
    data = np.sort(np.clip(np.asarray(shifts, float), lo, hi))
    grid = np.linspace(lo, hi, 20 * n_bins + 1)
    empirical = np.searchsorted(data, grid, side="right") / max(len(data), 1) if len(data) else 0.0
    cdf = (1 - mix) * empirical + mix * (grid - lo) / (hi - lo)
    cdf[0], cdf[-1] = 0.0, 1.0
    targets = np.linspace(0.0, 1.0, n_bins + 1)
    edges = np.interp(targets, cdf, grid)
    edges = np.unique(np.round(edges, 6))
    bins = ShiftBins(nucleus, tuple(edges), tuple((edges[:-1] + edges[1:]) / 2))
    index = bins.encode(data)
    values = np.asarray(bins.values).copy()
    if len(data):
        order = np.argsort(index, kind="stable")
        sorted_index, sorted_data = index[order], data[order]
        starts = np.searchsorted(sorted_index, np.arange(bins.n_bins))
        ends = np.searchsorted(sorted_index, np.arange(bins.n_bins), side="right")
        for b in np.nonzero(ends > starts)[0]:
            values[b] = float(np.median(sorted_data[starts[b] : ends[b]]))
    return ShiftBins(nucleus, bins.edges, tuple(float(v) for v in values))


@dataclass(frozen=True)
class SpectrumTokenizer:
    """Spectrum (+ formula) ↔ token ids. Build with :meth:`fit`, persist with :meth:`save`.

    Attributes
    ----------
    c13_bins, h1_bins
        Adaptive shift bins per nucleus.
    vocab
        Token strings; a token's id is its position.
    """

    c13_bins: ShiftBins
    h1_bins: ShiftBins
    vocab: tuple[str, ...] = field(default=())
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        vocab = self.vocab or _build_vocab(self.c13_bins.n_bins, self.h1_bins.n_bins)
        object.__setattr__(self, "vocab", tuple(vocab))
        object.__setattr__(self, "_index", {token: i for i, token in enumerate(vocab)})

    @classmethod
    def fit(
        cls,
        spectra: Iterable[Spectrum],
        *,
        c13_bins: int = 800,
        h1_bins: int = 400,
        mix: float = 0.25,
    ) -> SpectrumTokenizer:
        """Fit shift bins on training spectra (only their peak shifts are used)."""
        c13: list[float] = []
        h1: list[float] = []
        for spectrum in spectra:
            if spectrum.c13:
                c13.extend(spectrum.c13.shifts)
            if spectrum.h1:
                h1.extend(spectrum.h1.shifts)
        return cls(
            fit_shift_bins(np.asarray(c13), Nucleus.C13, c13_bins, mix=mix),
            fit_shift_bins(np.asarray(h1), Nucleus.H1, h1_bins, mix=mix),
        )

    def __len__(self) -> int:
        return len(self.vocab)

    @property
    def labels(self) -> bool:
        """Whether the vocabulary has the attached-H label tokens (:data:`LABEL_TOKENS`)."""
        return all(t in self._index for t in LABEL_TOKENS)

    def with_labels(self) -> SpectrumTokenizer:
        """This tokenizer with the label tokens appended to the vocabulary (every existing
        token keeps its id; itself when it has them already)."""
        if self.labels:
            return self
        extra = tuple(t for t in LABEL_TOKENS if t not in self._index)
        return SpectrumTokenizer(self.c13_bins, self.h1_bins, (*self.vocab, *extra))

    def token_id(self, token: str) -> int:
        """Id of a token string (``<unk>`` when absent)."""
        return self._index.get(token, UNK)

    def tokens(self, spectrum: Spectrum, *, formula: bool = True) -> list[str]:
        """Token strings of ``spectrum`` (13C block, 1H block, formula block when present)."""
        out = ["<bos>"]
        if formula and spectrum.formula:
            out.append("<formula>")
            counts = parse_formula(spectrum.formula)
            for element in sorted(counts, key=_element_order):
                symbol = element if element in ELEMENTS else "other"
                out += [f"E:{symbol}", f"N:{min(counts[element], MAX_COUNT)}"]
        if spectrum.c13:
            out.append("<c13>")
            labels = self.labels
            for peak, b in zip(
                spectrum.c13, self.c13_bins.encode(spectrum.c13.shifts), strict=True
            ):
                out.append(f"C:{b}")
                if peak.integration is not None and round(peak.integration) > 1:
                    out.append(f"I:{min(round(peak.integration), MAX_INTEGRATION)}")
                if labels and peak.n_h is not None and peak.n_h < len(LABEL_TOKENS):
                    out.append(LABEL_TOKENS[peak.n_h])
        if spectrum.h1:
            out.append("<h1>")
            for peak, b in zip(spectrum.h1, self.h1_bins.encode(spectrum.h1.shifts), strict=True):
                out += [f"H:{b}", f"M:{_multiplicity_token(peak.multiplicity)}"]
                if peak.integration is not None:
                    out.append(f"I:{min(max(round(peak.integration), 1), MAX_INTEGRATION)}")
        out.append("<eos>")
        return out

    def encode(self, spectrum: Spectrum, *, formula: bool = True) -> list[int]:
        """Token ids of ``spectrum``."""
        return [self.token_id(t) for t in self.tokens(spectrum, formula=formula)]

    def decode(self, ids: Sequence[int], *, id: str = "decoded") -> Spectrum:
        """Rebuild a spectrum (shifts quantized) from token ids."""
        tokens = [self.vocab[i] for i in ids]
        blocks: dict[str, list[Peak]] = {"c13": [], "h1": []}
        counts: dict[str, int] = {}
        section, element = None, None
        for token in tokens:
            if token in {"<c13>", "<h1>", "<formula>"}:
                section = token.strip("<>")
            elif token.startswith("C:"):
                value = float(self.c13_bins.decode([int(token[2:])])[0])
                blocks["c13"].append(Peak(value))
            elif token.startswith("H:"):
                value = float(self.h1_bins.decode([int(token[2:])])[0])
                blocks["h1"].append(Peak(value))
            elif token.startswith("M:") and blocks["h1"]:
                code = token[2:]
                blocks["h1"][-1] = _with(
                    blocks["h1"][-1], multiplicity=None if code in {"none", "other"} else code
                )
            elif token in LABEL_TOKENS and blocks["c13"]:
                blocks["c13"][-1] = _with(blocks["c13"][-1], n_h=LABEL_TOKENS.index(token))
            elif token.startswith("I:") and section in {"c13", "h1"} and blocks[section]:
                blocks[section][-1] = _with(blocks[section][-1], integration=float(token[2:]))
            elif token.startswith("E:"):
                element = token[2:]
            elif token.startswith("N:") and element is not None:
                counts[element] = int(token[2:])
        return Spectrum(
            id,
            c13=PeakList(Nucleus.C13, tuple(blocks["c13"])) if blocks["c13"] else None,
            h1=PeakList(Nucleus.H1, tuple(blocks["h1"])) if blocks["h1"] else None,
            formula=hill_formula(counts) if counts and "other" not in counts else None,
        )

    def quantization_report(self, spectra: Iterable[Spectrum]) -> dict[str, dict[str, float]]:
        """Vocabulary size and mean/max quantization error per nucleus on ``spectra``."""
        report = {}
        for nucleus, bins in ((Nucleus.C13, self.c13_bins), (Nucleus.H1, self.h1_bins)):
            shifts = np.concatenate(
                [s.peaks(nucleus).shifts for s in spectra if s.peaks(nucleus)] or [np.zeros(0)]
            )
            inside = shifts[(shifts >= bins.edges[0]) & (shifts <= bins.edges[-1])]
            error = np.abs(bins.decode(bins.encode(inside)) - inside)
            report[nucleus.value] = {
                "n_bins": bins.n_bins,
                "mean_error_ppm": float(error.mean()) if len(error) else 0.0,
                "max_error_ppm": float(error.max()) if len(error) else 0.0,
                "bound_ppm": bins.max_error(),
                "clipped": int(len(shifts) - len(inside)),
            }
        return report

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return {
            "kind": "nmrpeak.SpectrumTokenizer",
            "version": 1,
            "c13": {"edges": list(self.c13_bins.edges), "values": list(self.c13_bins.values)},
            "h1": {"edges": list(self.h1_bins.edges), "values": list(self.h1_bins.values)},
            "vocab": list(self.vocab),
        }

    @classmethod
    def from_dict(cls, data: dict) -> SpectrumTokenizer:
        """Inverse of :meth:`to_dict`."""
        if data.get("kind") != "nmrpeak.SpectrumTokenizer":
            raise ValueError(f"not a spectrum tokenizer: kind={data.get('kind')!r}")
        return cls(
            ShiftBins(Nucleus.C13, tuple(data["c13"]["edges"]), tuple(data["c13"]["values"])),
            ShiftBins(Nucleus.H1, tuple(data["h1"]["edges"]), tuple(data["h1"]["values"])),
            tuple(data["vocab"]),
        )

    def save(self, path: str | Path) -> None:
        """Write as JSON, atomically."""
        write_text_atomic(path, json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> SpectrumTokenizer:
        """Read a tokenizer written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))


def _build_vocab(n_c13: int, n_h1: int) -> list[str]:
    return [
        *SPECIAL_TOKENS,
        *(f"M:{m}" for m in MULTIPLICITY_TOKENS),
        *(f"I:{i}" for i in range(1, MAX_INTEGRATION + 1)),
        *(f"E:{e}" for e in ELEMENTS),
        *(f"N:{n}" for n in range(1, MAX_COUNT + 1)),
        *(f"C:{i}" for i in range(n_c13)),
        *(f"H:{i}" for i in range(n_h1)),
    ]


def _element_order(symbol: str) -> tuple[int, str]:
    return (0 if symbol == "C" else 1 if symbol == "H" else 2, symbol)


def _multiplicity_token(code: str | None) -> str:
    if code is None:
        return "none"
    return code if code in MULTIPLICITY_TOKENS else "other"


def _with(peak: Peak, **changes: object) -> Peak:
    values = {name: getattr(peak, name) for name in Peak.__dataclass_fields__}
    values.update(changes)
    return Peak(**values)


# --------------------------------------------------------------------------------------------
# SMILES
# --------------------------------------------------------------------------------------------

#: Atom-level SMILES regex (Schwaller et al., Molecular Transformer).
SMILES_PATTERN = re.compile(
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|/|:|~|@|\?|>|\*|\$|%[0-9]{2}|[0-9])"
)


def smiles_tokens(smiles: str) -> list[str]:
    """Split a SMILES into atom-level tokens; raises ``ValueError`` if characters are left over."""
    tokens = SMILES_PATTERN.findall(smiles)
    if "".join(tokens) != smiles:
        raise ValueError(f"SMILES {smiles!r} has characters the tokenizer does not know")
    return tokens


@dataclass(frozen=True)
class SmilesTokenizer:
    """Atom-level SMILES vocabulary (special tokens first)."""

    vocab: tuple[str, ...]
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {token: i for i, token in enumerate(self.vocab)})

    @classmethod
    def fit(cls, smiles: Iterable[str]) -> SmilesTokenizer:
        """Vocabulary of every token in ``smiles`` (sorted, after the special tokens)."""
        seen: set[str] = set()
        for s in smiles:
            seen.update(smiles_tokens(s))
        return cls((*SPECIAL_TOKENS[:4], *sorted(seen)))

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, smiles: str) -> list[int]:
        """``<bos>`` + token ids + ``<eos>`` (unknown tokens → ``<unk>``)."""
        return [BOS, *(self._index.get(t, UNK) for t in smiles_tokens(smiles)), EOS]

    def decode(self, ids: Sequence[int]) -> str:
        """SMILES text of ids, stopping at ``<eos>`` and skipping special tokens."""
        out = []
        for i in ids:
            if i == EOS:
                break
            if i >= 4:
                out.append(self.vocab[i])
        return "".join(out)
