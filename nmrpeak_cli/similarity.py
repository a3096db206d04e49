"""Peak-aware, assignment-free similarity between two peak lists of one nucleus.

(Why one long file: the pair kernels (:func:`match_peaks`) and their vectorized twins
(:func:`score_many`) implement the same scoring rules and must change together; they are
kept side by side, and :mod:`tests.test_similarity` checks that they agree.)

The similarity compares a predicted peak list with an experimental one without knowing which
atom gave which peak (DESIGN.md §5). Peaks are matched one to one in two rounds:

1. **Round 1** pairs peaks closer than the nucleus tolerance (13C 3.0 ppm, 1H 0.2 ppm). A
   pair's credit falls quadratically from 1 at zero distance to ``edge_credit`` (13C 0.8,
   1H 0.5) at the tolerance, so errors well inside the tolerance cost little.
2. **Round 2** pairs what round 1 left within the wide tolerance (4×: 13C 12 ppm, 1H 0.8
   ppm) at reduced credit, falling linearly from ``edge_credit`` to 0 at the wide tolerance.

The 13C defaults were chosen on NMRShiftDB2 replicate spectra (a second experimental 13C
list of a molecule retrieved among the first lists of 32,005 molecules): 3.0/12 ppm with edge
0.8 gave top-1/5/10 of 0.80/0.92/0.94 against 0.78/0.89/0.91 for 2.0/8 ppm with edge 0.5
(1,000 queries). Predicted lists err more than replicates, which argues for these wider
tolerances, not narrower ones. Too few 1H replicates exist (175) to tune 1H; 0.2/0.8 ppm is
about one and four typical 1H prediction errors.

The credit is one continuous, decreasing function of distance (:func:`credit`), so a larger
drift never earns more. Peaks still unmatched earn nothing, and the score is a Dice-style
ratio of credit to the number of units on both sides::

    score = (1 + w) · Σ credit / (n_query + w · n_candidate) × count_factor

where ``w`` (``extra_weight``, default 1) is what an unmatched candidate unit costs relative
to an unmatched query unit. Unmatched peaks, and therefore any difference in peak counts,
lower the score in proportion to their number.

**Units.** For 1H the units are nuclei: a peak integrating to 3H counts three times
(:meth:`~nmrpeak_cli.spectra.PeakList.expanded_shifts`) and can match up to three nuclei.
For 13C the units are *distinct* peaks: experimental lists usually print one signal for
several equivalent carbons while predicted lists carry ``n_atoms``, so comparing distinct
signals keeps symmetric molecules from being penalized. The number of carbons enters only
through a mild ``count_factor = 1 − κ·|N_q − N_c| / max(N_q, N_c)`` (κ = ``count_penalty``,
0.2 for 13C, 0 for 1H whose units already count nuclei), applied only when *both* lists carry
carbon counts: an integration on some peak, or the same shift listed more than once (one
entry per atom, as NMRShiftDB2 does). A list that prints each signal once says nothing
about how many carbons hide under it and is not charged.

**Matching.** :func:`match_peaks` solves each round optimally (``"optimal"``, the default:
:func:`scipy.optimize.linear_sum_assignment` maximizing round-1 credit first, then round-2
credit) or greedily by increasing distance (``"greedy"``). :func:`score_many` is a vectorized
greedy kernel that scores one query against many packed candidates; it equals the
``"greedy"`` pair version (up to exact distance ties) and stays close to the optimal one
(see ``benchmarks/RESULTS.md``).

**Attached-H classes.** With ``SimilarityParams.attached_h`` and 13C peaks labelled with
their attached-H count (``Peak.n_h``: DEPT, ``128.3 (CH)``; predicted peaks always carry it),
matching runs in two stages: each labelled query peak may only match candidate peaks of the
same label (C, CH, CH2, CH3), then the unlabelled query peaks match the candidate peaks left.
A candidate list without any label is matched as without the option; so is every candidate
when the query has no label, which keeps the scores of unlabelled queries unchanged.

**Properties.** Identical lists score 1; scores lie in [0, 1]; input order never matters
(peak lists are sorted when built); against a uniformly drifted copy the score falls as the
drift grows (while each peak's nearest partner stays its twin); removing peaks from a list,
or adding peaks it lacks, lowers its score against the original. The score is symmetric in its two arguments when
``extra_weight == 1`` and matching is ``"optimal"``; greedy matching is symmetric except
under exact distance ties; ``extra_weight < 1`` is deliberately asymmetric (it forgives
candidate peaks the query does not show). Two empty lists score 1, an empty list against a
non-empty one 0. NaN cannot occur: the data model rejects non-finite shifts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from nmrpeak_cli.errors import SpectrumError
from nmrpeak_cli.spectra import Nucleus, PeakList, Spectrum

Matching = Literal["optimal", "greedy"]
MATCHING_METHODS: tuple[str, ...] = ("optimal", "greedy")

#: Weight of round-1 credit over round-2 credit in the single assignment that solves both
#: rounds: any round-1 difference above ~1e-4 × (number of units) outweighs all round-2 credit.
_ROUND1_PRIORITY = 1.0e4

#: Number of candidate rows scored together by :func:`score_many` (bounds its memory use).
_CHUNK_ROWS = 2048


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NucleusParams:
    """Matching tolerances and credits for one nucleus.

    Attributes
    ----------
    tolerance_ppm
        Round-1 tolerance: pairs closer than this earn between 1 and ``edge_credit``.
    wide_tolerance_ppm
        Round-2 tolerance (≥ ``tolerance_ppm``): pairs up to this distance earn between
        ``edge_credit`` and 0.
    edge_credit
        Credit of a pair exactly ``tolerance_ppm`` apart; the most a round-2 pair can earn.
    count_penalty
        κ of the count factor ``1 − κ·|N_q − N_c| / max(N_q, N_c)`` on total nucleus counts,
        applied when both lists carry counts; 0 switches it off.
    """

    tolerance_ppm: float
    wide_tolerance_ppm: float
    edge_credit: float = 0.5
    count_penalty: float = 0.0

    def __post_init__(self) -> None:
        if not self.tolerance_ppm > 0:
            raise SpectrumError(
                f"expected a positive tolerance, got {self.tolerance_ppm!r}", "tolerance_ppm"
            )
        if not self.wide_tolerance_ppm >= self.tolerance_ppm:
            raise SpectrumError(
                f"expected a wide tolerance ≥ tolerance_ppm ({self.tolerance_ppm:g}), "
                f"got {self.wide_tolerance_ppm!r}",
                "wide_tolerance_ppm",
            )
        if not 0 <= self.edge_credit <= 1:
            raise SpectrumError(f"expected 0–1, got {self.edge_credit!r}", "edge_credit")
        if not 0 <= self.count_penalty <= 1:
            raise SpectrumError(f"expected 0–1, got {self.count_penalty!r}", "count_penalty")


C13_DEFAULTS = NucleusParams(
    tolerance_ppm=3.0, wide_tolerance_ppm=12.0, edge_credit=0.8, count_penalty=0.2
)
"""13C: 3 ppm (about twice a typical prediction error) in round 1, 4× in round 2."""

H1_DEFAULTS = NucleusParams(tolerance_ppm=0.2, wide_tolerance_ppm=0.8, count_penalty=0.0)
"""1H: about one typical prediction error (MAE 0.2 ppm) in round 1, 4× in round 2."""


@dataclass(frozen=True, slots=True)
class SimilarityParams:
    """Parameters of the similarity (per-nucleus tolerances, credits and penalties).

    Attributes
    ----------
    c13, h1
        Per-nucleus parameters.
    extra_weight
        Cost of an unmatched *candidate* unit relative to an unmatched query unit, in [0, 1].
        1 (default) is symmetric; 0 scores only how well the candidate explains the query.
    c13_weight, h1_weight
        Weights of the per-nucleus scores in :func:`spectrum_similarity`, renormalized over
        the nuclei the query has. Equal by default: 13C fixes the skeleton, 1H adds
        integrations and the protonation pattern.
    matching
        ``"optimal"`` (assignment problem per round) or ``"greedy"`` (closest pairs first),
        used by :func:`match_peaks` and :func:`similarity`. :func:`score_many` is always greedy.
    attached_h
        Match 13C peaks within their attached-H class where both lists carry ``n_h`` labels
        (see the module docstring). On by default: a query without labels (or a candidate
        without them) scores exactly as with it off.
    """

    c13: NucleusParams = C13_DEFAULTS
    h1: NucleusParams = H1_DEFAULTS
    extra_weight: float = 1.0
    c13_weight: float = 0.5
    h1_weight: float = 0.5
    matching: Matching = "optimal"
    attached_h: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.extra_weight <= 1:
            raise SpectrumError(f"expected 0–1, got {self.extra_weight!r}", "extra_weight")
        for name in ("c13_weight", "h1_weight"):
            if not getattr(self, name) >= 0:
                raise SpectrumError(f"expected ≥ 0, got {getattr(self, name)!r}", name)
        if self.c13_weight + self.h1_weight <= 0:
            raise SpectrumError("c13_weight and h1_weight cannot both be 0", "c13_weight")
        if self.matching not in MATCHING_METHODS:
            raise SpectrumError(
                f"unknown matching {self.matching!r}; expected one of {MATCHING_METHODS}",
                "matching",
            )

    def for_nucleus(self, nucleus: Nucleus | str) -> NucleusParams:
        """Parameters of ``nucleus``."""
        return self.c13 if Nucleus.parse(nucleus) is Nucleus.C13 else self.h1

    def weight(self, nucleus: Nucleus | str) -> float:
        """Weight of ``nucleus`` in the combined C+H score."""
        return self.c13_weight if Nucleus.parse(nucleus) is Nucleus.C13 else self.h1_weight


DEFAULT_PARAMS = SimilarityParams()
"""The documented defaults."""


def similarity_to_dict(params: SimilarityParams) -> dict[str, Any]:
    """The similarity parameters as JSON (absolute values, so a model card does not depend on
    the library defaults of the day)."""
    return asdict(params)


def similarity_from_dict(data: Mapping[str, Any]) -> SimilarityParams:
    """Inverse of :func:`similarity_to_dict`."""
    fields = {k: v for k, v in data.items() if k not in {"c13", "h1"}}
    return SimilarityParams(
        c13=NucleusParams(**data["c13"]), h1=NucleusParams(**data["h1"]), **fields
    )


def credit(distance_ppm: np.ndarray | float, params: NucleusParams) -> np.ndarray:
    """Credit of matched pairs ``distance_ppm`` apart: 1 at 0, decreasing to 0 at the wide tolerance.

    Quadratic from 1 to ``edge_credit`` over round 1, linear from ``edge_credit`` to 0 over
    round 2, 0 beyond.
    """
    d = np.abs(np.asarray(distance_ppm, dtype=float))
    tol, wide, edge = params.tolerance_ppm, params.wide_tolerance_ppm, params.edge_credit
    round1 = 1.0 - (1.0 - edge) * (d / tol) ** 2
    span = wide - tol
    round2 = edge * (wide - d) / span if span > 0 else np.zeros_like(d)
    return np.where(d <= tol, round1, np.clip(round2, 0.0, edge))


# --------------------------------------------------------------------------------------------
# Units: what is matched
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Units:
    shifts: np.ndarray  # distinct shifts, highest first
    weights: np.ndarray  # matching capacity per unit (nuclei for 1H, 1 for 13C)
    peak_index: np.ndarray  # first peak (in PeakList order) at each unit's shift
    total: float  # total count of nuclei: Σ integrations, 1 per peak without one
    counted: bool  # whether the list says how many nuclei it holds
    n_h: np.ndarray  # 13C attached-H label of each unit, -1 when unknown or conflicting

    def take(self, index: np.ndarray, weights: np.ndarray | None = None) -> _Units:
        """The units ``index`` (with ``weights`` as their capacities when given)."""
        chosen = self.weights[index] if weights is None else weights
        return _Units(
            self.shifts[index],
            chosen,
            self.peak_index[index],
            self.total,
            self.counted,
            self.n_h[index],
        )


def _units(peaks: PeakList) -> _Units:
    shifts = peaks.shifts
    distinct, first, inverse = np.unique(-shifts, return_index=True, return_inverse=True)
    has_integration = any(p.integration is not None for p in peaks)
    if peaks.nucleus is Nucleus.H1:
        per_peak = np.array([max(1, round(p.count)) for p in peaks], dtype=float)
        weights = np.bincount(inverse.ravel(), weights=per_peak, minlength=len(distinct))
        counted = has_integration
    else:
        weights = np.ones(len(distinct))
        counted = has_integration or len(distinct) < len(shifts)
    n_h = np.full(len(distinct), -1, np.int8)
    if peaks.nucleus is Nucleus.C13 and len(shifts):
        labels = np.array([-1 if p.n_h is None else p.n_h for p in peaks], np.int8)
        low, high = n_h.copy(), n_h.copy()
        low[:], high[:] = 127, -128
        np.minimum.at(low, inverse.ravel(), labels)
        np.maximum.at(high, inverse.ravel(), labels)
        n_h = np.where(low == high, low, -1).astype(np.int8)
    return _Units(-distinct, weights, first, peaks.total_count, counted, n_h)


def _labelled(query: _Units, candidate: _Units, params: SimilarityParams) -> bool:
    """Whether the two lists are matched within attached-H classes."""
    return params.attached_h and bool((query.n_h >= 0).any() and (candidate.n_h >= 0).any())


def _count_factor(query: _Units, candidate: _Units, params: NucleusParams) -> float:
    if not (params.count_penalty > 0 and query.counted and candidate.counted):
        return 1.0
    most = max(query.total, candidate.total)
    if most <= 0:
        return 1.0
    return 1.0 - params.count_penalty * abs(query.total - candidate.total) / most


def _dice(matched_credit: float, n_query: float, n_candidate: float, extra_weight: float) -> float:
    denominator = n_query + extra_weight * n_candidate
    if denominator <= 0:
        return 1.0 if n_query == n_candidate == 0 else 0.0
    return min(1.0, max(0.0, (1.0 + extra_weight) * matched_credit / denominator))


# --------------------------------------------------------------------------------------------
# Pair version
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Matched peaks of two lists and the resulting score.

    Attributes
    ----------
    nucleus
        Nucleus of both lists.
    pairs
        ``(m, 2)`` int array: index of the query peak and of the candidate peak (positions in
        the :class:`~nmrpeak_cli.spectra.PeakList`, highest shift first) of each match.
    shifts_ppm
        ``(m, 2)`` query and candidate shift of each pair, ppm.
    round
        ``(m,)`` matching round of each pair, 1 or 2.
    errors_ppm
        ``(m,)`` candidate shift minus query shift, ppm.
    credits
        ``(m,)`` credit of each pair in [0, 1] (see :func:`credit`).
    n_nuclei
        ``(m,)`` units each pair matches: 1H nuclei (a 3H peak may match three), 1 for 13C.
    query_units, candidate_units
        Units on each side: 1H nuclei, distinct 13C signals.
    count_factor
        The 13C count factor applied (1 when not applicable).
    score
        The similarity in [0, 1].
    """

    nucleus: Nucleus
    pairs: np.ndarray
    shifts_ppm: np.ndarray
    round: np.ndarray
    errors_ppm: np.ndarray
    credits: np.ndarray
    n_nuclei: np.ndarray
    query_units: float
    candidate_units: float
    count_factor: float
    score: float

    def first_round_errors(self) -> np.ndarray:
        """Signed shift errors (ppm) of round-1 matches, one per matched unit (benchmarks)."""
        first = self.round == 1
        return np.repeat(self.errors_ppm[first], self.n_nuclei[first].astype(int))


def _optimal_unit_pairs(
    query: np.ndarray, candidate: np.ndarray, params: NucleusParams
) -> tuple[np.ndarray, np.ndarray]:
    """Both rounds as one assignment: round-1 credit first, then round-2 credit (expanded units)."""
    from scipy.optimize import linear_sum_assignment

    distance = np.abs(query[:, None] - candidate[None, :])
    gain = credit(distance, params)
    gain = np.where(distance <= params.tolerance_ppm, _ROUND1_PRIORITY * gain, gain)
    gain = np.where(distance <= params.wide_tolerance_ppm, gain, 0.0)
    rows, cols = linear_sum_assignment(gain, maximize=True)
    keep = distance[rows, cols] <= params.wide_tolerance_ppm
    return rows[keep], cols[keep]


def _greedy_pairs(
    query: _Units, candidate: _Units, params: NucleusParams
) -> list[tuple[int, int, float]]:
    """Closest pairs first, with capacities: ``(query unit, candidate unit, amount)``."""
    distance = np.abs(query.shifts[:, None] - candidate.shifts[None, :])
    rows, cols = np.nonzero(distance <= params.wide_tolerance_ppm)
    order = np.lexsort((cols, rows, distance[rows, cols]))
    left_q, left_c = query.weights.copy(), candidate.weights.copy()
    pairs = []
    for i, j in zip(rows[order], cols[order], strict=True):
        amount = min(left_q[i], left_c[j])
        if amount > 0:
            pairs.append((int(i), int(j), float(amount)))
            left_q[i] -= amount
            left_c[j] -= amount
    return pairs


def _unit_pairs(
    query: _Units, candidate: _Units, params: NucleusParams, matching: Matching
) -> list[tuple[int, int, float]]:
    if matching == "greedy":
        return _greedy_pairs(query, candidate, params)
    q_of = np.repeat(np.arange(len(query.shifts)), query.weights.astype(int))
    c_of = np.repeat(np.arange(len(candidate.shifts)), candidate.weights.astype(int))
    rows, cols = _optimal_unit_pairs(query.shifts[q_of], candidate.shifts[c_of], params)
    amounts: dict[tuple[int, int], float] = {}
    for i, j in zip(q_of[rows], c_of[cols], strict=True):
        amounts[(int(i), int(j))] = amounts.get((int(i), int(j)), 0.0) + 1.0
    return [(i, j, n) for (i, j), n in sorted(amounts.items())]


def _class_unit_pairs(
    query: _Units, candidate: _Units, params: NucleusParams, matching: Matching
) -> list[tuple[int, int, float]]:
    """Labelled query units within their attached-H class, then unlabelled query units
    against the candidate capacity left (module docstring)."""
    pairs: list[tuple[int, int, float]] = []
    left = candidate.weights.copy()
    for label in np.unique(query.n_h[query.n_h >= 0]):
        q_index = np.flatnonzero(query.n_h == label)
        c_index = np.flatnonzero(candidate.n_h == label)
        for i, j, amount in _unit_pairs(
            query.take(q_index), candidate.take(c_index), params, matching
        ):
            pairs.append((int(q_index[i]), int(c_index[j]), amount))
            left[c_index[j]] -= amount
    q_index, c_index = np.flatnonzero(query.n_h < 0), np.flatnonzero(left > 0)
    rest = _unit_pairs(
        query.take(q_index), candidate.take(c_index, left[c_index]), params, matching
    )
    pairs += [(int(q_index[i]), int(c_index[j]), amount) for i, j, amount in rest]
    return sorted(pairs)


def _check_same_nucleus(a: PeakList, b: PeakList) -> None:
    if a.nucleus is not b.nucleus:
        raise SpectrumError(
            f"cannot compare a {a.nucleus.value} list with a {b.nucleus.value} list; "
            "expected two lists of the same nucleus",
            "nucleus",
        )


def match_peaks(
    a: PeakList, b: PeakList, *, params: SimilarityParams = DEFAULT_PARAMS
) -> MatchResult:
    """Match the peaks of query ``a`` and candidate ``b`` in two rounds and score them.

    Parameters
    ----------
    a, b
        Query and candidate peak lists of the same nucleus.
    params
        Tolerances, credits, penalties and matching method.

    Returns
    -------
    MatchResult
        The pairs (peak indices in ``a`` and ``b``), their round, shift error and credit, and
        the score.

    Raises
    ------
    SpectrumError
        If the lists are of different nuclei.
    """
    _check_same_nucleus(a, b)
    nucleus_params = params.for_nucleus(a.nucleus)
    query, candidate = _units(a), _units(b)
    pair_units = _class_unit_pairs if _labelled(query, candidate, params) else _unit_pairs
    unit_pairs = pair_units(query, candidate, nucleus_params, params.matching)
    i = np.array([p[0] for p in unit_pairs], dtype=int)
    j = np.array([p[1] for p in unit_pairs], dtype=int)
    amount = np.array([p[2] for p in unit_pairs], dtype=float)
    errors = candidate.shifts[j] - query.shifts[i]
    credits = credit(errors, nucleus_params)
    rounds = np.where(np.abs(errors) <= nucleus_params.tolerance_ppm, 1, 2).astype(np.int8)
    n_query, n_candidate = float(query.weights.sum()), float(candidate.weights.sum())
    factor = _count_factor(query, candidate, nucleus_params)
    dice = _dice(float(amount @ credits), n_query, n_candidate, params.extra_weight)
    pairs = np.stack([query.peak_index[i], candidate.peak_index[j]], axis=1).reshape(-1, 2)
    return MatchResult(
        nucleus=a.nucleus,
        pairs=_readonly(pairs),
        shifts_ppm=_readonly(
            np.stack([query.shifts[i], candidate.shifts[j]], axis=1).reshape(-1, 2)
        ),
        round=_readonly(rounds),
        errors_ppm=_readonly(errors),
        credits=_readonly(credits),
        n_nuclei=_readonly(amount),
        query_units=n_query,
        candidate_units=n_candidate,
        count_factor=factor,
        score=dice * factor,
    )


def similarity(a: PeakList, b: PeakList, *, params: SimilarityParams = DEFAULT_PARAMS) -> float:
    """Peak-aware similarity of query ``a`` and candidate ``b`` (same nucleus), in [0, 1].

    See the module docstring for the definition and its properties.
    """
    return match_peaks(a, b, params=params).score


def _combine(scores: Mapping[Nucleus, np.ndarray], params: SimilarityParams) -> np.ndarray:
    total = sum(params.weight(n) for n in scores)
    if total <= 0:  # only nuclei weighted 0 were measured: average them
        return sum(scores.values()) / len(scores)
    return sum(params.weight(n) * s for n, s in scores.items()) / total


@dataclass(frozen=True, slots=True)
class SpectrumMatch:
    """Per-nucleus matches of two spectra and their combined score.

    Attributes
    ----------
    score
        Combined similarity in [0, 1] (see :func:`match_spectra`).
    matches
        :class:`MatchResult` of each compared nucleus, 13C first.
    """

    score: float
    matches: Mapping[Nucleus, MatchResult]


def match_spectra(
    query: Spectrum,
    candidate: Spectrum,
    *,
    params: SimilarityParams = DEFAULT_PARAMS,
    nuclei: Iterable[Nucleus | str] | None = None,
) -> SpectrumMatch:
    """Match two spectra nucleus by nucleus and combine the scores.

    Parameters
    ----------
    query, candidate
        The spectra; the query decides which nuclei are compared.
    params
        Similarity parameters, including the per-nucleus weights.
    nuclei
        Nuclei to compare; default: those with peaks in the query.

    Returns
    -------
    SpectrumMatch
        Each compared nucleus is scored with :func:`match_peaks` (a side without peaks of it
        counts as an empty list) and the scores are averaged with ``c13_weight`` and
        ``h1_weight``, renormalized over the compared nuclei (plain mean if all weigh 0).
        With no nucleus to compare (a query without peaks), the score is 1 against a
        candidate without peaks, else 0.
    """
    chosen = query.nuclei if nuclei is None else tuple(Nucleus.parse(n) for n in nuclei)
    chosen = tuple(n for n in Nucleus if n in chosen)
    if not chosen:
        return SpectrumMatch(0.0 if candidate.nuclei else 1.0, {})
    matches = {
        n: match_peaks(
            query.peaks(n) or PeakList(n), candidate.peaks(n) or PeakList(n), params=params
        )
        for n in chosen
    }
    scores = {n: np.asarray(m.score) for n, m in matches.items()}
    return SpectrumMatch(float(_combine(scores, params)), matches)


def spectrum_similarity(
    query: Spectrum, candidate: Spectrum, *, params: SimilarityParams = DEFAULT_PARAMS
) -> float:
    """Combined 13C + 1H similarity over the nuclei the query has, in [0, 1].

    The score of :func:`match_spectra`: a candidate without one of the query's nuclei scores
    0 on it; nuclei the query lacks are ignored.
    """
    return match_spectra(query, candidate, params=params).score


# --------------------------------------------------------------------------------------------
# Packed candidates and the vectorized kernel
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackedPeakLists:
    """Many peak lists of one nucleus packed into flat arrays (the candidates of :func:`score_many`).

    Attributes
    ----------
    nucleus
        Nucleus of every list.
    shifts
        ``(U,)`` float64 distinct unit shifts of all lists, each list highest first, ppm.
    weights
        ``(U,)`` float64 matching capacity of each unit (1H nuclei; 1 per 13C signal).
    offsets
        ``(n + 1,)`` int64: list ``k`` owns ``shifts[offsets[k]:offsets[k + 1]]``.
    totals
        ``(n,)`` float64 total nucleus count of each list (Σ integrations, 1 per bare peak).
    counted
        ``(n,)`` bool: whether each list says how many nuclei it holds (see module docstring).
    n_h
        ``(U,)`` int8 attached-H label of each 13C unit (-1 unknown), or ``None`` (no labels).
    """

    nucleus: Nucleus
    shifts: np.ndarray
    weights: np.ndarray
    offsets: np.ndarray
    totals: np.ndarray
    counted: np.ndarray
    n_h: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "nucleus", Nucleus.parse(self.nucleus))
        n = len(self.offsets) - 1
        if n < 0 or self.offsets[0] != 0 or self.offsets[-1] != len(self.shifts):
            raise SpectrumError(
                f"offsets must start at 0 and end at len(shifts) = {len(self.shifts)}, "
                f"got {len(self.offsets)} offsets",
                "offsets",
            )
        sized = [("weights", len(self.shifts)), ("totals", n), ("counted", n)]
        if self.n_h is not None:
            sized.append(("n_h", len(self.shifts)))
        for name, size in sized:
            if len(getattr(self, name)) != size:
                raise SpectrumError(f"expected {size} values, got {len(getattr(self, name))}", name)

    @classmethod
    def from_peaklists(
        cls, lists: Iterable[PeakList | None], nucleus: Nucleus | str
    ) -> PackedPeakLists:
        """Pack ``lists`` (``None`` = no peaks of this nucleus) for :func:`score_many`."""
        nucleus = Nucleus.parse(nucleus)
        units = []
        for k, peaks in enumerate(lists):
            peaks = peaks if peaks is not None else PeakList(nucleus)
            if peaks.nucleus is not nucleus:
                raise SpectrumError(
                    f"list {k}: got a {peaks.nucleus.value} list, expected {nucleus.value}",
                    nucleus.column,
                )
            units.append(_units(peaks))
        sizes = np.array([len(u.shifts) for u in units], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

        def flat(name: str) -> np.ndarray:
            parts = [getattr(u, name) for u in units]
            return np.concatenate(parts).astype(float) if parts else np.zeros(0)

        return cls(
            nucleus=nucleus,
            shifts=_readonly(flat("shifts")),
            weights=_readonly(flat("weights")),
            offsets=_readonly(offsets),
            totals=_readonly(np.array([u.total for u in units], dtype=float)),
            counted=_readonly(np.array([u.counted for u in units], dtype=bool)),
            n_h=_readonly(flat("n_h").astype(np.int8)) if nucleus is Nucleus.C13 else None,
        )

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def sizes(self) -> np.ndarray:
        """Number of units of each list."""
        return np.diff(self.offsets)


def score_many(
    query: PeakList, candidates: PackedPeakLists, *, params: SimilarityParams = DEFAULT_PARAMS
) -> np.ndarray:
    """Score one query against many packed candidates with vectorized greedy matching.

    Gives the same scores as :func:`similarity` with ``matching="greedy"`` (up to exact
    distance ties, which may be broken differently). Candidates are processed in chunks of
    consecutive lists; within a chunk, all mutual nearest query/candidate units are matched
    at once (every such pair is one the sequential greedy picks too), in a few passes.

    Parameters
    ----------
    query
        The query peak list.
    candidates
        Candidate lists of the query's nucleus.
    params
        Tolerances, credits and penalties (``params.matching`` is ignored: always greedy).

    Returns
    -------
    numpy.ndarray
        ``(len(candidates),)`` float64 scores in [0, 1].
    """
    if candidates.nucleus is not query.nucleus:
        raise SpectrumError(
            f"query is {query.nucleus.value} but candidates are {candidates.nucleus.value}",
            "nucleus",
        )
    nucleus_params = params.for_nucleus(query.nucleus)
    units = _units(query)
    sizes, offsets = candidates.sizes, candidates.offsets
    labelled = params.attached_h and candidates.n_h is not None and bool((units.n_h >= 0).any())
    matched = np.zeros(len(candidates))
    for start in range(0, len(candidates), _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, len(candidates))
        flat = slice(offsets[start], offsets[stop])
        chunk = (candidates.shifts[flat], candidates.weights[flat], sizes[start:stop])
        matched[start:stop] = _greedy_credit_chunk(units, *chunk, nucleus_params)[0]
        if labelled:
            n_h = np.asarray(candidates.n_h[flat])
            row = np.repeat(np.arange(stop - start), sizes[start:stop])
            has_labels = np.bincount(row[n_h >= 0], minlength=stop - start) > 0
            by_class = _class_credit_chunk(units, *chunk, n_h, nucleus_params)
            matched[start:stop] = np.where(has_labels, by_class, matched[start:stop])
    n_query = float(units.weights.sum())
    owner = np.repeat(np.arange(len(candidates)), sizes)
    n_candidate = np.bincount(owner, weights=candidates.weights, minlength=len(candidates))
    scores = _dice_many(matched, n_query, n_candidate, params.extra_weight)
    return scores * _count_factor_many(units, candidates, nucleus_params)


def _dice_many(
    matched: np.ndarray, n_query: float, n_candidate: np.ndarray, extra_weight: float
) -> np.ndarray:
    denominator = n_query + extra_weight * n_candidate
    both_empty = (n_query == 0) & (n_candidate == 0)
    safe = np.where(denominator > 0, denominator, 1.0)
    scores = np.where(denominator > 0, (1.0 + extra_weight) * matched / safe, 0.0)
    return np.clip(np.where(both_empty, 1.0, scores), 0.0, 1.0)


def _count_factor_many(
    query: _Units, candidates: PackedPeakLists, params: NucleusParams
) -> np.ndarray:
    if not (params.count_penalty > 0 and query.counted):
        return np.ones(len(candidates))
    most = np.maximum(query.total, candidates.totals)
    safe = np.where(most > 0, most, 1.0)
    factor = 1.0 - params.count_penalty * np.abs(query.total - candidates.totals) / safe
    return np.where(candidates.counted & (most > 0), factor, 1.0)


_BAND_PPM = 1000.0
"""Offset per attached-H class that puts each class in its own shift band (wider than any
shift range plus tolerance), so that greedy matching never pairs two classes."""


def _class_credit_chunk(
    query: _Units,
    c_shift: np.ndarray,
    weights: np.ndarray,
    sizes: np.ndarray,
    n_h: np.ndarray,
    params: NucleusParams,
) -> np.ndarray:
    """:func:`_greedy_credit_chunk` within attached-H classes: labelled query units against
    candidate units of their label (one band per class), then unlabelled query units against
    the candidate capacity left."""
    row = np.repeat(np.arange(len(sizes)), sizes)
    labelled = query.n_h >= 0
    q_band = query.shifts[labelled] + _BAND_PPM * query.n_h[labelled]
    q_order = np.argsort(-q_band, kind="stable")
    banded_query = query.take(np.flatnonzero(labelled)[q_order])
    banded_query = _Units(
        q_band[q_order],
        banded_query.weights,
        banded_query.peak_index,
        query.total,
        query.counted,
        banded_query.n_h,
    )
    # unlabelled candidate units go to a band no query unit is in
    c_band = np.asarray(c_shift, float) + _BAND_PPM * np.where(n_h >= 0, n_h, 6)
    order = np.lexsort((-c_band, row))
    total, left_sorted = _greedy_credit_chunk(
        banded_query, c_band[order], np.asarray(weights, float)[order], sizes, params
    )
    if labelled.all():
        return total
    left = np.empty_like(left_sorted)
    left[order] = left_sorted
    keep = left > 0
    rest, _ = _greedy_credit_chunk(
        query.take(np.flatnonzero(~labelled)),
        np.asarray(c_shift, float)[keep],
        left[keep],
        np.bincount(row[keep], minlength=len(sizes)),
        params,
    )
    return total + rest


def _padded(
    row: np.ndarray, n_rows: int, pad: float, *columns: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Scatter row-sorted flat values into ``(n_rows, width)`` arrays (``pad`` and 0 beyond)."""
    counts = np.bincount(row, minlength=n_rows)
    position = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
    width = int(counts.max()) if len(row) else 0
    shifts = np.full((n_rows, width), pad)
    shifts[row, position] = columns[0]
    rest = []
    for values in columns[1:]:
        out = np.zeros((n_rows, width))
        out[row, position] = values
        rest.append(out)
    return shifts, *rest


def _greedy_credit_chunk(
    query: _Units,
    c_shift: np.ndarray,
    weights: np.ndarray,
    sizes: np.ndarray,
    params: NucleusParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matched credit Σ amount·credit of consecutive candidate lists, and the
    capacity each candidate unit has left.

    ``c_shift`` and ``weights`` are the lists' units back to back, ``sizes`` their lengths.

    Greedy matching by increasing distance takes every *mutual* nearest pair (each the
    other's nearest unit) as soon as it is in reach, so it can proceed in passes that each
    match all mutual nearest pairs within the wide tolerance. The first pass finds them from
    the sorted order alone (:func:`numpy.searchsorted` and counts, O(units)); later passes,
    over the few rows and units still unmatched, use padded ``(row, query, candidate)``
    distance arrays compared in float32 (near-ties within ~1e-5 ppm may be broken
    differently from the pair version). Credits always use float64 shifts.
    """
    n_rows, n_q = len(sizes), len(query.shifts)
    total = np.zeros(n_rows)
    c_left = np.array(weights, dtype=float)
    if n_q == 0 or n_rows == 0 or sizes.max() == 0:
        return total, c_left
    wide = params.wide_tolerance_ppm
    starts = np.cumsum(sizes) - sizes
    c_row = np.repeat(np.arange(n_rows), sizes)
    q, q_left = query.shifts, np.tile(query.weights, (n_rows, 1))

    # Pass 1. Both sides are sorted by decreasing shift; `above` counts query units above
    # each candidate unit. On a tie the higher shift (lower index) wins, as in the pair version.
    above = n_q - np.searchsorted(q[::-1], c_shift, side="right")
    up, down = np.maximum(above - 1, 0), np.minimum(above, n_q - 1)
    d_up = np.where(above > 0, q[up] - c_shift, np.inf)
    d_down = np.where(above < n_q, c_shift - q[down], np.inf)
    nearest_q = np.where(d_up <= d_down, up, down)
    # Candidate units of each row at or above each query unit: the neighbours of q[i] are
    # the last of them and the next one.
    counts = np.bincount(c_row * (n_q + 1) + above, minlength=n_rows * (n_q + 1))
    at_or_above = np.cumsum(counts.reshape(n_rows, n_q + 1), axis=1)[:, :n_q]
    last = starts[:, None] + at_or_above - 1
    n_units = len(c_shift)
    d_last = np.where(at_or_above > 0, c_shift[np.clip(last, 0, n_units - 1)] - q, np.inf)
    d_next = np.where(
        at_or_above < sizes[:, None], q - c_shift[np.clip(last + 1, 0, n_units - 1)], np.inf
    )
    nearest_c = np.where(d_last <= d_next, last, last + 1)
    distance = np.minimum(d_last, d_next)
    mutual = distance <= wide
    mutual[mutual] = nearest_q[nearest_c[mutual]] == np.nonzero(mutual)[1]
    r, i = np.nonzero(mutual)
    if r.size == 0:
        return total, c_left
    u = nearest_c[r, i]
    amount = np.minimum(q_left[r, i], c_left[u])
    total += np.bincount(r, weights=amount * credit(distance[r, i], params), minlength=n_rows)
    q_left[r, i] -= amount
    c_left[u] -= amount

    # Later passes: units not exhausted that had a partner within reach (distances only
    # grow as partners are taken), in rows that keep units on both sides.
    q_alive = (q_left > 0) & (distance <= wide)
    c_alive = (c_left > 0) & (np.minimum(d_up, d_down) <= wide)
    live = np.flatnonzero(q_alive.any(axis=1) & (np.bincount(c_row[c_alive], minlength=n_rows) > 0))
    if live.size == 0:
        return total, c_left
    in_live = np.zeros(n_rows, dtype=bool)
    in_live[live] = True
    q_mask = q_alive[live]
    c_mask = in_live[c_row] & c_alive
    qs, ql = _padded(
        np.nonzero(q_mask)[0],
        live.size,
        np.inf,
        np.broadcast_to(q, q_mask.shape)[q_mask],
        q_left[live][q_mask],
    )
    rank = np.cumsum(in_live) - 1
    cs, cl, ci = _padded(
        rank[c_row[c_mask]],
        live.size,
        -np.inf,
        c_shift[c_mask],
        c_left[c_mask],
        np.flatnonzero(c_mask).astype(float),
    )
    wide32 = np.float32(wide)
    while True:
        pair_distance = qs.astype(np.float32)[:, :, None] - cs.astype(np.float32)[:, None, :]
        np.abs(pair_distance, out=pair_distance)
        best_c = pair_distance.argmin(axis=2)  # nearest candidate unit of each query unit
        nearest = np.take_along_axis(pair_distance, best_c[:, :, None], axis=2)[:, :, 0]
        column_min = pair_distance.min(axis=1)  # distance of each candidate unit to the query
        # A mutual pair beyond the wide tolerance means nothing in reach: thresholding the
        # pairs first would change no argmin that matters.
        mutual = (nearest <= wide32) & (nearest == np.take_along_axis(column_min, best_c, 1))
        r, i = np.nonzero(mutual)
        if r.size == 0:
            break
        j = best_c[r, i]
        key = r * cs.shape[1] + j
        if np.bincount(key).max() > 1:  # query units tied for one candidate unit
            _, first = np.unique(key, return_index=True)  # keep the first, as argmin would
            r, i, j = r[first], i[first], j[first]
        amount = np.minimum(ql[r, i], cl[r, j])
        gained = amount * credit(cs[r, j] - qs[r, i], params)
        total += np.bincount(live[r], weights=gained, minlength=n_rows)
        ql[r, i] -= amount
        cl[r, j] -= amount
        c_left[ci[r, j].astype(np.int64)] -= amount
        # Exhausted units and units with nothing in reach leave, then rows left one-sided.
        q_mask = (ql > 0) & (nearest <= wide32)
        c_mask = (cl > 0) & (column_min <= wide32)
        keep = np.flatnonzero(q_mask.any(axis=1) & c_mask.any(axis=1))
        if keep.size == 0:
            break
        live = live[keep]
        q_mask, c_mask = q_mask[keep], c_mask[keep]
        qs, ql = _padded(
            np.nonzero(q_mask)[0], keep.size, np.inf, qs[keep][q_mask], ql[keep][q_mask]
        )
        cs, cl, ci = _padded(
            np.nonzero(c_mask)[0],
            keep.size,
            -np.inf,
            cs[keep][c_mask],
            cl[keep][c_mask],
            ci[keep][c_mask],
        )
    return total, c_left


def spectrum_score_many(
    query: Spectrum,
    candidates: Mapping[Nucleus, PackedPeakLists],
    *,
    params: SimilarityParams = DEFAULT_PARAMS,
) -> np.ndarray:
    """Combined C+H scores of one query against packed candidates (vectorized).

    ``candidates`` maps each nucleus to the packed lists of that nucleus (all of the same
    length, ``None``-free: absent lists are packed as empty). Weighting follows
    :func:`spectrum_similarity`; a query nucleus missing from ``candidates`` is an error.
    """
    lengths = {len(p) for p in candidates.values()}
    if len(lengths) > 1:
        raise SpectrumError(
            f"packed candidates differ in length per nucleus: {sorted(lengths)}", "candidates"
        )
    n_candidates = lengths.pop() if lengths else 0
    if not query.nuclei:
        has_peaks = np.zeros(n_candidates, dtype=bool)
        for packed in candidates.values():
            has_peaks |= packed.sizes > 0
        return np.where(has_peaks, 0.0, 1.0)
    missing = [n.value for n in query.nuclei if n not in candidates]
    if missing:
        raise SpectrumError(
            f"query has {', '.join(missing)} peaks but no packed candidates of that nucleus",
            "candidates",
        )
    scores = {n: score_many(query.peaks(n), candidates[n], params=params) for n in query.nuclei}
    return np.asarray(_combine(scores, params), dtype=float)


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


__all__: Sequence[str] = (
    "C13_DEFAULTS",
    "DEFAULT_PARAMS",
    "H1_DEFAULTS",
    "MATCHING_METHODS",
    "MatchResult",
    "NucleusParams",
    "PackedPeakLists",
    "SimilarityParams",
    "SpectrumMatch",
    "credit",
    "match_peaks",
    "match_spectra",
    "score_many",
    "similarity",
    "spectrum_score_many",
    "spectrum_similarity",
)
