"""Spectrum-guided structure search: seeds → formula-preserving moves → forward prediction.

The forward model is fast and discriminative, so it serves as the oracle of a population
search (:func:`structure_search`):

1. **Seeds** (generator beam, library neighbours, any SMILES) of the query formula are
   predicted and scored; every seed, whatever its formula, lends its fragments to
   recombination (:mod:`~nmrpeak_cli.generate.fragments`), whose children have the formula
   by construction.
2. **Iterations**: the best structures not yet expanded are mutated by local moves
   (:mod:`~nmrpeak_cli.generate.moves`); children of another formula, and any proposal
   whose carbons cannot carry the query's attached-H labels (DEPT;
   :mod:`~nmrpeak_cli.generate.labels`), are dropped before any prediction; the rest are
   predicted in one batch and scored by the peak-aware similarity to the query (matching
   13C peaks within their attached-H class). Stops when the prediction budget or the time limit is spent, or
   when the top of the population has not changed for ``patience`` iterations.
3. **Final ranking**: stereoisomers of the best structures join them, and the ``rescore``
   best by similarity are scored by the generator (teacher-forced log-probability per
   token, when a generator is given) and ranked by the fused score
   ``sigmoid(bias + w_similarity · similarity + w_logprob · logprob)``. The weights belong
   to the generator (its card's ``search_calibration``, fitted on validation by
   ``benchmarks/generate_search.py fit``), with :data:`FALLBACK_FUSION` for a card
   without them; a :class:`SearchConfig` may override them.

Everything is deterministic under ``SearchConfig.seed`` except where the time limit cuts a
search short. Predictions are cached by canonical SMILES (and solvent) in a
:class:`PredictionCache` that a batch shares across queries.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nmrpeak_cli.generate.moves import MOVES, Move, formula_of, stereoisomers
from nmrpeak_cli.generate.search_generator import (
    CALIBRATION_KEY,
    FALLBACK_FUSION,
    MISSING_LOGPROB,
    calibration_of,
    reseed,
    sequence_logprobs,
    write_calibration,
)
from nmrpeak_cli.spectra import Nucleus, Spectrum, normalize_formula

if TYPE_CHECKING:
    from rdkit import Chem

    from nmrpeak_cli.generate.model import Generator
    from nmrpeak_cli.predict.forward import Predictor
    from nmrpeak_cli.similarity import SimilarityParams

SOURCES = ("beam", "library", "search")
"""Where a candidate came from: a generator hypothesis, a library neighbour, or a move."""


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """Settings of :func:`structure_search`.

    The fused-score weights (``w_similarity``, ``w_logprob``, ``bias``) default to ``None``:
    the generator's own (:meth:`for_generator`), fitted on the final candidates of
    validation queries (C+H+formula, logistic fit of
    :func:`~nmrpeak_cli.generate.rerank.fit_fusion`; see benchmarks/RESULTS.md#generate).
    """

    budget: int = 1000
    """Forward predictions per query (cache hits are free)."""
    time_limit: float | None = 10.0
    """Wall seconds per query (``None``: no limit)."""
    moves: tuple[str, ...] = ("walk", "swap", "bond")
    """Local moves (keys of :data:`~nmrpeak_cli.generate.moves.MOVES`)."""
    recombine: bool = True
    """Join fragment pairs of the seeds that fit the formula (needs a formula)."""
    repair: bool = True
    """Turn seeds of the right heavy atoms but two hydrogens off into structures of the
    formula (:func:`~nmrpeak_cli.generate.moves.hydrogen_fix`; needs a formula)."""
    per_iteration: int = 200
    """Children predicted per iteration (at most)."""
    parents: int = 4
    """Best not-yet-expanded structures mutated per iteration."""
    patience: int = 2
    """Iterations without a change of the top ``top`` before stopping."""
    top: int = 10
    """Size of the top watched for convergence."""
    stereo: int = 3
    """Best structures whose stereoisomers are added at the end."""
    stereo_limit: int = 8
    """Stereoisomers per structure."""
    reseed_beam: int = 20
    """Beam width of a second decode, keeping hypotheses of any hydrogen count, for queries
    whose formula-filtered beam found no structure (0: none); see :func:`reseed`."""
    rescore: int = 30
    """Best structures (by similarity) ranked by the fused score; the rest are dropped."""
    w_similarity: float | None = None
    """Weight of the similarity in the fused score (``None``: the generator's)."""
    w_logprob: float | None = None
    """Weight of the generator's log-probability per token in the fused score (``None``: the
    generator's)."""
    bias: float | None = None
    """Intercept of the fused score (``None``: the generator's)."""
    seed: int = 0
    """Seed of the random choice among children when there are more than fit an iteration."""
    crem_db: Path | None = None
    """CReM fragment database (``nmrpeak data crem-db``): adds the ``crem`` move
    (:func:`~nmrpeak_cli.generate.crem_moves.crem_move`) to ``moves`` (``None``: off)."""
    label_filter: bool = True
    """Drop proposals whose carbons cannot carry the query's attached-H labels before
    predicting them (:mod:`~nmrpeak_cli.generate.labels`); the similarity uses the labels
    either way (``SimilarityParams.attached_h``)."""

    def __post_init__(self) -> None:
        unknown = [m for m in self.moves if m not in MOVES]
        if unknown:
            raise ValueError(f"unknown moves {unknown}; expected some of {sorted(MOVES)}")
        if self.budget < 0:
            raise ValueError(f"budget must be ≥ 0 predictions, got {self.budget}")
        if self.time_limit is not None and self.time_limit <= 0:
            raise ValueError(f"time_limit must be > 0 seconds, got {self.time_limit}")
        if self.reseed_beam < 0:
            raise ValueError(f"reseed_beam must be ≥ 0, got {self.reseed_beam}")
        for name in ("per_iteration", "parents", "patience", "top", "rescore"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    def with_fusion(self, weights: Mapping[str, float]) -> SearchConfig:
        """This config with every unset fused-score weight (``w_similarity``, ``w_logprob``,
        ``bias``) taken from ``weights``; weights already set are kept."""
        unset = {k: weights[k] for k in FALLBACK_FUSION if getattr(self, k) is None}
        return replace(self, **unset) if unset else self

    def for_generator(self, generator: Generator | None) -> SearchConfig:
        """This config with every unset fused-score weight taken from ``generator``'s card
        (:func:`calibration_of`)."""
        return self.with_fusion(calibration_of(generator))


@dataclass(frozen=True, slots=True)
class Seed:
    """A starting structure."""

    smiles: str
    """Any SMILES (canonicalized by the search)."""
    source: str = "beam"
    """``beam`` or ``library``."""


@dataclass(frozen=True, slots=True)
class SearchCandidate:
    """One structure found by the search, best first in :attr:`SearchResult.candidates`."""

    smiles: str
    """Canonical isomeric SMILES."""
    inchikey: str
    """Standard InChIKey."""
    similarity: float
    """Combined predicted-vs-query similarity in [0, 1]."""
    similarity_c13: float | None
    """13C similarity (``None``: the query has no 13C peaks)."""
    similarity_h1: float | None
    """1H similarity (``None``: the query has no 1H peaks)."""
    logprob: float | None
    """Generator log-probability per token (``None`` without a generator)."""
    score: float
    """Fused score in [0, 1] (the similarity when there is no generator)."""
    source: str
    """``beam``, ``library`` or ``search`` (made by a move)."""
    move: str
    """What made it: ``seed``, ``repair``, ``recombine``, a move name, or ``stereo``."""


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Outcome of one query's search."""

    candidates: tuple[SearchCandidate, ...]
    """Best first (empty when nothing could be scored, see ``stopped``)."""
    predictions: int
    """Forward predictions spent (cache misses)."""
    iterations: int
    """Move iterations run."""
    stopped: str
    """Why the search ended: ``budget``, ``time limit``, ``converged``, ``exhausted`` or
    a reason no search was possible."""
    seconds: float = 0.0
    """Wall time of the search."""
    rejected: int = 0
    """Proposals ruled out by the query's attached-H labels before any prediction
    (:mod:`~nmrpeak_cli.generate.labels`)."""


class PredictionCache:
    """Predicted spectra by ``(solvent, canonical SMILES)``, least recently used dropped first.

    Shared by the queries of a batch so a structure proposed twice is predicted once.
    """

    def __init__(self, predictor: Predictor, max_entries: int = 200_000) -> None:
        self.predictor = predictor
        self.max_entries = max_entries
        self._spectra: OrderedDict[tuple[str | None, str], Spectrum | None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._spectra)

    def put(self, smiles: str, solvent: str | None, spectrum: Spectrum | None) -> None:
        """Store a spectrum predicted elsewhere (e.g. stored in a library): later lookups of
        ``smiles`` (canonical) are free, and count against no budget."""
        self._spectra[(solvent, smiles)] = spectrum
        self._spectra.move_to_end((solvent, smiles))

    def __contains__(self, key: tuple[str | None, str]) -> bool:
        return key in self._spectra

    def get(self, smiles: Sequence[str], solvent: str | None) -> tuple[list, int]:
        """Spectra of ``smiles`` (``None`` where prediction failed) and how many were predicted."""
        from nmrpeak_cli.errors import NmrpeakError

        missing = list(dict.fromkeys(s for s in smiles if (solvent, s) not in self._spectra))
        if missing:
            predicted = list(self.predictor(missing, solvent))
            if len(predicted) != len(missing):
                raise NmrpeakError(
                    f"predictor returned {len(predicted)} spectra for {len(missing)} SMILES"
                )
            for key, spectrum in zip(missing, predicted, strict=True):
                self._spectra[(solvent, key)] = spectrum
        out = []
        for key in smiles:
            self._spectra.move_to_end((solvent, key))
            out.append(self._spectra[(solvent, key)])
        while len(self._spectra) > self.max_entries:
            self._spectra.popitem(last=False)
        return out, len(missing)


@dataclass(slots=True)
class _Entry:
    smiles: str
    similarity: float
    c13: float | None
    h1: float | None
    source: str
    move: str
    logprob: float | None = None


@dataclass(slots=True)
class _Pool:
    """The scored population of one query (mutable working state of one search)."""

    query: Spectrum
    params: SimilarityParams
    cache: PredictionCache
    budget: int
    deadline: float | None
    fits: Callable[..., bool] | None = None
    """The query's attached-H label filter (``None``: no labels)."""
    entries: dict[str, _Entry] = field(default_factory=dict)
    predictions: int = 0
    rejected: set[str] = field(default_factory=set)
    """Proposals the label filter ruled out (never predicted)."""

    def out_of_budget(self) -> bool:
        return self.predictions >= self.budget

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def add(self, proposals: Sequence[tuple[str, str, str]]) -> None:
        """Predict and score ``(smiles, source, move)`` proposals not in the pool yet, within
        the budget (in order); those the query's attached-H labels rule out are not predicted."""
        from nmrpeak_cli.similarity import match_spectra

        fresh, seen = [], set()
        for smiles, source, move in proposals:
            if smiles not in self.entries and smiles not in seen and self.allows(smiles):
                seen.add(smiles)
                fresh.append((smiles, source, move))
        fresh = fresh[: max(self.budget - self.predictions, 0)]
        if not fresh:
            return
        spectra, spent = self.cache.get([s for s, _, _ in fresh], self.query.solvent)
        self.predictions += spent
        for (smiles, source, move), spectrum in zip(fresh, spectra, strict=True):
            if spectrum is None:
                continue
            match = match_spectra(self.query, spectrum, params=self.params)
            per = {n: m.score for n, m in match.matches.items()}
            self.entries[smiles] = _Entry(
                smiles, match.score, per.get(Nucleus.C13), per.get(Nucleus.H1), source, move
            )

    def allows(self, smiles: str, mol: Chem.Mol | None = None) -> bool:
        """Whether the label filter lets ``smiles`` (parsed: ``mol``) through (remembered
        when it does not)."""
        if smiles in self.rejected:
            return False
        if self.fits is None or self.fits(smiles, mol):
            return True
        self.rejected.add(smiles)
        return False

    def ranked(self) -> list[_Entry]:
        return sorted(self.entries.values(), key=lambda e: (-e.similarity, e.smiles))


def _label_filter(query: Spectrum) -> Callable[..., bool] | None:
    """The query's attached-H label filter (:func:`~nmrpeak_cli.generate.labels.label_filter`),
    ``None`` when it has no labels or when they contradict its formula (then they are
    ignored, as retrieval does)."""
    from nmrpeak_cli.consistency import attached_h_problem
    from nmrpeak_cli.generate.labels import label_filter

    return None if attached_h_problem(query) else label_filter(query)


def _canonical(smiles: str) -> str | None:
    from nmrpeak_cli import chem

    mol = chem.try_parse_smiles(smiles)
    return None if mol is None else chem.canonical_smiles(mol)


def _children(
    parent: str, moves: Mapping[str, Move], formula: str | None, taken: set[str], pool: _Pool
) -> list[tuple[str, str]]:
    """``(child, move)`` of ``parent`` with its formula (or the query's), not in ``taken``,
    that the query's attached-H labels allow."""
    from nmrpeak_cli import chem

    mol = chem.try_parse_smiles(parent)
    if mol is None:
        return []
    target = formula or chem.formula(mol)
    out, seen = [], set(taken)
    for name, move in moves.items():
        for child in move(mol):
            if child in seen:
                continue
            seen.add(child)
            made = chem.try_parse_smiles(child)
            if made is not None and chem.formula(made) == target and pool.allows(child, made):
                out.append((child, name))
    return out


def _repaired(
    seeds: Sequence[str], formula: str, config: SearchConfig
) -> list[tuple[str, str, str]]:
    """Children of the formula made from seeds whose formula has the same heavy atoms and
    two hydrogens more or fewer (at most a quarter of the budget, seeds taken in turn)."""
    from nmrpeak_cli import chem
    from nmrpeak_cli.generate.moves import hydrogen_fix
    from nmrpeak_cli.spectra import parse_formula

    target = parse_formula(formula)
    heavy = {e: n for e, n in target.items() if e != "H"}
    groups = []
    for smiles in seeds:
        mol = chem.try_parse_smiles(smiles)
        if mol is None:
            continue
        counts = chem.element_counts(mol)
        delta = target.get("H", 0) - counts.pop("H", 0)
        if counts != heavy or delta not in (2, -2):
            continue
        children = dict.fromkeys(c for c in hydrogen_fix(mol, delta) if formula_of(c) == formula)
        groups.append([(c, "repair") for c in children])
    return [(c, "search", m) for c, m in _round_robin(groups, max(config.budget // 4, 1))]


def _round_robin(groups: list[list[tuple[str, str]]], limit: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    depth = 0
    while len(out) < limit and any(depth < len(g) for g in groups):
        out.extend(g[depth] for g in groups if depth < len(g))
        depth += 1
    return out[:limit]


def structure_search(
    query: Spectrum,
    seeds: Sequence[str | Seed],
    *,
    predictor: Predictor | PredictionCache,
    config: SearchConfig = SearchConfig(),
    generator: Generator | None = None,
    similarity_params: SimilarityParams | None = None,
) -> SearchResult:
    """Search structures for one (canonical) query from ``seeds``; see the module docstring.

    Parameters
    ----------
    query
        The query spectrum (its ``formula``, when given, is kept by every candidate).
    seeds
        Starting structures, best first (SMILES or :class:`Seed`; unreadable ones are skipped).
    predictor
        Forward model (a :data:`~nmrpeak_cli.generate.rerank.Predictor`), or a
        :class:`PredictionCache` wrapping one to share predictions across queries.
    config
        Budget, moves and fusion weights.
    generator
        Scores the final candidates by log-probability (``None``: similarity only).
    similarity_params
        Peak-aware similarity parameters (default: the library defaults, as the rerank).

    Returns
    -------
    SearchResult
        Candidates best first, with what was spent and why the search stopped.
    """
    from nmrpeak_cli.similarity import DEFAULT_PARAMS

    start = time.perf_counter()
    cache = predictor if isinstance(predictor, PredictionCache) else PredictionCache(predictor)
    formula = normalize_formula(query.formula) if query.formula else None
    params = similarity_params or DEFAULT_PARAMS
    pool = _Pool(
        query, params, cache, config.budget,
        None if config.time_limit is None else start + config.time_limit,
        _label_filter(query) if params.attached_h and config.label_filter else None,
    )  # fmt: skip

    def done(stopped: str, iterations: int) -> SearchResult:
        return SearchResult(
            _final(pool, config, generator, formula), pool.predictions, iterations, stopped,
            time.perf_counter() - start, len(pool.rejected),
        )  # fmt: skip

    if not query.nuclei:
        return SearchResult((), 0, 0, "the query has no 13C or 1H peaks to score against")
    ordered: list[tuple[str, str]] = []
    for seed in seeds:
        seed = seed if isinstance(seed, Seed) else Seed(seed)
        smiles = _canonical(seed.smiles)
        if smiles is not None and smiles not in {s for s, _ in ordered}:
            ordered.append((smiles, seed.source))
    if not ordered:
        return SearchResult((), 0, 0, "no readable seed structure")
    pool.add([(s, source, "seed") for s, source in ordered if formula in (None, formula_of(s))])
    # seeds of the formula that the labels rule out are still mutated when parents run short
    spare = [s for s, _ in ordered if s in pool.rejected]
    if config.repair and formula is not None:
        pool.add(_repaired([s for s, _ in ordered if s not in pool.entries], formula, config))
    if config.recombine and formula is not None and not pool.out_of_budget():
        from nmrpeak_cli import chem
        from nmrpeak_cli.generate.fragments import recombine

        scored = [e.smiles for e in pool.ranked()]
        others = [s for s, _ in ordered if s not in pool.entries]
        mols = [chem.try_parse_smiles(s) for s in (*scored, *others)]
        share = max(config.budget // 4, 1)
        children = []
        for child in recombine([m for m in mols if m is not None], formula):
            if child not in pool.entries and pool.allows(child):
                children.append((child, "search", "recombine"))
            if len(children) >= share:
                break
        pool.add(children)
    if not pool.entries and not spare:
        return done("no seed of the formula and no recombination that fits it", 0)
    moves = {name: MOVES[name] for name in config.moves}
    if config.crem_db is not None:
        from nmrpeak_cli.generate.crem_moves import crem_move

        moves["crem"] = crem_move(Path(config.crem_db))
    rng = np.random.default_rng(config.seed)
    expanded: set[str] = set()
    iterations, stale, top = 0, 0, [e.smiles for e in pool.ranked()[: config.top]]
    while True:
        if pool.out_of_budget():
            return done("budget", iterations)
        if pool.out_of_time():
            return done("time limit", iterations)
        parents = [e.smiles for e in pool.ranked() if e.smiles not in expanded]
        parents = [*parents, *(s for s in spare if s not in expanded)][: config.parents]
        if not parents:
            return done("exhausted", iterations)
        groups = []
        taken = set(pool.entries)
        for parent in parents:
            expanded.add(parent)
            children = _children(parent, moves, formula, taken, pool)
            order = rng.permutation(len(children))
            groups.append([children[i] for i in order])
            taken.update(c for c, _ in children)
        chosen = _round_robin(groups, config.per_iteration)
        pool.add([(child, "search", move) for child, move in chosen])
        iterations += 1
        now = [e.smiles for e in pool.ranked()[: config.top]]
        stale = stale + 1 if now == top else 0
        top = now
        if stale >= config.patience:
            return done("converged", iterations)


def _final(
    pool: _Pool, config: SearchConfig, generator: Generator | None, formula: str | None
) -> tuple[SearchCandidate, ...]:
    """Stereoisomers of the best, then the ``rescore`` best ranked by the fused score."""
    from nmrpeak_cli import chem

    best = pool.ranked()
    extra = []
    for entry in best[: config.stereo]:
        mol = chem.try_parse_smiles(entry.smiles)
        if mol is None:
            continue
        for smiles in stereoisomers(mol, config.stereo_limit):
            if smiles not in pool.entries and formula in (None, formula_of(smiles)):
                extra.append((smiles, entry.source, "stereo"))
    if extra:  # stereoisomers are few: they may exceed the budget slightly
        pool.budget = max(pool.budget, pool.predictions + len(extra))
        pool.add(extra)
    chosen = pool.ranked()[: config.rescore]
    if generator is not None and chosen:
        logprobs = sequence_logprobs(generator, pool.query, [e.smiles for e in chosen])
        for entry, logprob in zip(chosen, logprobs, strict=True):
            entry.logprob = logprob
    fused = config.for_generator(generator)
    out = []
    for entry in chosen:
        if entry.logprob is None and generator is None:
            score = entry.similarity
        else:
            lp = MISSING_LOGPROB if entry.logprob is None else entry.logprob
            z = fused.bias + fused.w_similarity * entry.similarity + fused.w_logprob * lp
            score = 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))
        mol = chem.try_parse_smiles(entry.smiles)
        if mol is None:
            continue
        out.append(
            SearchCandidate(
                entry.smiles,
                chem.inchikey(mol),
                entry.similarity,
                entry.c13,
                entry.h1,
                entry.logprob,
                score,
                entry.source,
                entry.move,
            )
        )
    out.sort(key=lambda c: (-c.score, -c.similarity, c.smiles))
    return tuple(out)


__all__ = [
    "CALIBRATION_KEY",
    "FALLBACK_FUSION",
    "MISSING_LOGPROB",
    "SOURCES",
    "PredictionCache",
    "SearchCandidate",
    "SearchConfig",
    "SearchResult",
    "Seed",
    "calibration_of",
    "reseed",
    "sequence_logprobs",
    "structure_search",
    "write_calibration",
]
